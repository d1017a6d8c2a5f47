// The charts of a session: bar velocity, bar height, power, force and joint angles over time with
// phase bands, and the bar path with its classification. Values are converted from the
// document's unit system to the one the user chose.

import { barPathChart, phaseColor, SERIES_COLORS, timeChart } from './charts.js';
import { h, title, words } from './dom.js';
import { phaseAt } from './timeline.js';
import { format, fromSI, quantityOf, seriesToSI, toSI, unitLabel } from './units.js';

// [id, heading, document group, series names (null = every series of the group)]
const TIME_CHARTS = [
  ['velocity', 'Bar velocity', 'key_metrics', ['barbell_velocity']],
  ['height', 'Bar height', 'barbell_positioning', ['bar_height']],
  ['power', 'Power', 'key_metrics', ['power_output']],
  ['force', 'Ground reaction force', 'key_metrics', ['ground_reaction_force']],
  ['angles', 'Joint angles', 'joint_angles', null],
  ['body', 'Torso and shin angles', 'body_positioning', ['torso_angle', 'shin_angle']],
];

function seriesOf(doc, group, names) {
  const block = doc[group] && typeof doc[group] === 'object' ? doc[group] : {};
  const wanted = names || Object.keys(block);
  return wanted.filter((n) => Array.isArray(block[n]) && block[n].length).map((n) => [n, block[n]]);
}

/** Peak of a display-unit series as "1.85 m/s at 1.23 s" (for the canvas's text alternative). */
function describe(t, v, quantity, system) {
  let best = -1;
  for (let i = 0; i < v.length; i += 1) if (Number.isFinite(v[i]) && (best < 0 || v[i] > v[best])) best = i;
  if (best < 0) return 'no data';
  return `highest ${format(quantity, toSI(quantity, v[best], system), system)} at ${t[best].toFixed(2)} s`;
}

/** The median interval between timestamps (s): one frame; 1/30 s when there are too few. */
function medianStep(times) {
  const gaps = [];
  for (let i = 1; i < times.length; i += 1) if (times[i] > times[i - 1]) gaps.push(times[i] - times[i - 1]);
  if (!gaps.length) return 1 / 30;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)];
}

// Seconds of video shown either side of the lift when the charts are zoomed on it.
const LIFT_MARGIN_S = 0.6;

/** [start, end] (s) of the lift itself: lift-off (the end of setup) to the end of the last phase. */
function liftWindow(phases) {
  const moving = phases.filter((p) => p.name !== 'setup');
  if (!moving.length) return null;
  return [moving[0].start, moving[moving.length - 1].end];
}

/**
 * Build the charts. ctx: {doc, docSystem, system, phases, duration, onSeek}. Returns
 * {el, charts: [{draw, setCursor}], setTime(t)}. The time charts show the lift (with a margin);
 * a checkbox widens them to the whole video.
 */
export function sessionCharts({ doc, docSystem, system, phases, duration, onSeek }) {
  const times = Array.isArray(doc.timestamps) ? doc.timestamps.map(Number) : [];
  const end = Math.max(duration || 0, times.length ? times[times.length - 1] : 0, ...phases.map((p) => p.end), 0.1);
  const lift = liftWindow(phases);
  const whole = [0, end];
  const zoomed = lift ? [Math.max(0, lift[0] - LIFT_MARGIN_S), Math.min(end, lift[1] + LIFT_MARGIN_S)] : whole;
  const xRange = [...zoomed];
  const charts = [];
  const figures = [];
  for (const [id, heading, group, names] of TIME_CHARTS) {
    const found = seriesOf(doc, group, names);
    if (!found.length) continue;
    const quantity = quantityOf(found[0][0]);
    const series = found.map(([name, raw], i) => ({
      label: words(name),
      t: times,
      v: seriesToSI(doc, name, raw, docSystem).map((si) => fromSI(quantity, si, system) ?? NaN),
      color: SERIES_COLORS[i % SERIES_COLORS.length],
    }));
    const unit = unitLabel(quantity, system);
    // A slider over the video's time: focus it and the arrow keys step a frame, Page Up/Down a
    // second, Home/End to the ends of the range shown (as a click on the chart seeks).
    const canvas = h('canvas', {
      id: `chart-${id}`, class: 'chart', role: 'slider', tabindex: '0',
      'aria-label': `${heading} over time, ${unit}: ${series.map((s) => `${s.label} ${describe(times, s.v, quantity, system)}`).join('; ')}. Arrow keys move the video`,
    });
    const legend = series.length > 1
      ? h('ul', { class: 'legend' }, series.map((s) => h('li', {}, h('span', { class: 'swatch', style: { background: s.color } }), s.label)))
      : null;
    figures.push(h('figure', { class: 'chart-box' }, h('figcaption', { text: `${heading} (${unit})` }), legend, canvas));
    charts.push({ canvas, spec: { series, unit, bands: phases, xRange }, kind: 'time' });
  }

  const x = seriesOf(doc, 'barbell_positioning', ['barbell_trajectory'])[0];
  const y = seriesOf(doc, 'barbell_positioning', ['bar_height'])[0];
  let pathFigure = null;
  if (x && y) {
    // Only the lift's own path: before lift-off and after the recovery the bar is carried around.
    const inLift = (i) => !lift || (times[i] >= lift[0] - 0.05 && times[i] <= lift[1]);
    const toDisplay = ([name, raw]) => seriesToSI(doc, name, raw, docSystem)
      .map((si, i) => (inLift(i) ? fromSI('length', si, system) ?? NaN : NaN));
    const liftBlock = doc.lift && typeof doc.lift === 'object' ? doc.lift : {};
    const kind = liftBlock.bar_path?.type ?? liftBlock.bar_path_type ?? (typeof liftBlock.bar_path === 'string' ? liftBlock.bar_path : null);
    const classification = kind === null || kind === undefined ? 'not classified' : `type ${String(kind).replace(/^type[_ ]?/i, '')}`;
    const canvas = h('canvas', { id: 'chart-bar-path', class: 'chart path', role: 'img', 'aria-label': `Bar path, ${classification}` });
    const lengths = liftBlock.bar_path && typeof liftBlock.bar_path === 'object'
      ? Object.entries(liftBlock.bar_path).filter(([k, v]) => k !== 'type' && typeof v === 'number')
      : [];
    pathFigure = h('figure', { class: 'chart-box path-box' },
      h('figcaption', {}, 'Bar path: ', h('strong', { id: 'bar-path-type', text: classification })),
      canvas,
      lengths.length ? h('dl', { class: 'facts' }, lengths.map(([k, v]) => [h('dt', { text: title(k) }), h('dd', { text: format('length', v, system) })])) : null,
      h('ul', { class: 'legend' }, phases.map((p) => h('li', {}, h('span', { class: 'swatch', style: { background: phaseColor(p.name) } }), words(p.name)))));
    const phaseIndex = times.map((t) => phaseAt(phases, t));
    charts.push({ canvas, spec: { x: toDisplay(x), y: toDisplay(y), unit: unitLabel('length', system), minHalfWidth: fromSI('length', 0.1, system), phaseAt: (i) => phaseIndex[i] }, kind: 'path' });
  }

  const wholeBox = h('input', { type: 'checkbox', id: 'charts-whole-video' });
  const el = h('section', { class: 'charts', 'aria-labelledby': 'charts-heading' },
    h('div', { class: 'charts-head' },
      h('h2', { id: 'charts-heading', text: 'Charts' }),
      lift ? h('label', { class: 'check', for: 'charts-whole-video' }, wholeBox, 'Whole video (not just the lift)') : null),
    figures.length || pathFigure
      ? h('div', { class: 'chart-grid' }, pathFigure, figures)
      : h('p', { class: 'muted', text: 'This session has no measurements to chart.' }));

  const built = [];
  // The video time the charts' cursor shows, and one step of the keyboard (a sample interval).
  let now = xRange[0];
  const step = medianStep(times);
  const sliders = charts.filter((c) => c.kind === 'time').map((c) => c.canvas);
  const describeTime = () => {
    for (const canvas of sliders) {
      canvas.setAttribute('aria-valuemin', xRange[0].toFixed(2));
      canvas.setAttribute('aria-valuemax', xRange[1].toFixed(2));
      canvas.setAttribute('aria-valuenow', now.toFixed(2));
      canvas.setAttribute('aria-valuetext', `${now.toFixed(2)} s`);
    }
  };
  describeTime();
  wholeBox.addEventListener('change', () => {
    const range = wholeBox.checked ? whole : zoomed;
    xRange.splice(0, 2, ...range);
    describeTime();
    for (const c of built) c.draw();
  });
  const onKey = (e) => {
    const moves = {
      ArrowRight: now + step, ArrowUp: now + step, ArrowLeft: now - step, ArrowDown: now - step,
      PageUp: now + 1, PageDown: now - 1, Home: xRange[0], End: xRange[1],
    };
    if (!(e.key in moves)) return;
    e.preventDefault();
    onSeek(Math.min(xRange[1], Math.max(xRange[0], moves[e.key])));
  };
  const api = {
    el,
    charts: built,
    /** Draw once the section is in the document (canvases need their laid-out size). */
    mount() {
      for (const c of charts) {
        const chart = c.kind === 'time' ? timeChart(c.canvas, c.spec) : barPathChart(c.canvas, c.spec);
        chart.canvas = c.canvas;
        chart.kind = c.kind;
        built.push(chart);
        if (c.kind === 'time') {
          c.canvas.addEventListener('click', (e) => {
            const t = chart.timeAt(e.clientX);
            if (t !== null) onSeek(t);
          });
          c.canvas.addEventListener('keydown', onKey);
        }
      }
    },
    redraw() {
      for (const c of built) c.draw();
    },
    setTime(t) {
      now = t;
      describeTime();
      let nearest = -1;
      if (times.length) {
        let best = Infinity;
        times.forEach((ti, i) => {
          if (Math.abs(ti - t) < best) { best = Math.abs(ti - t); nearest = i; }
        });
      }
      for (const c of built) c.setCursor(c.kind === 'time' ? t : nearest);
    },
  };
  return api;
}

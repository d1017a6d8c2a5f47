// Phases of a session (chart_data, in ms from the start of the video) as seconds, and the phase
// timeline under the video: one button per phase, sized by its duration; pressing one seeks.

import { phaseColor } from './charts.js';
import { h, title } from './dom.js';

// Phase order (server/phases/types.py) and the boundary event ending each (phase_data keys).
export const PHASE_ORDER = [
  'setup', 'first_pull', 'transition', 'second_pull', 'turnover', 'catch', 'recovery',
  'jerk_dip', 'jerk_drive', 'jerk_catch', 'jerk_recovery',
];
export const BOUNDARY_EVENTS = {
  setup: 'start_of_lifting',
  first_pull: 'first_pull_end',
  transition: 'transition_end',
  second_pull: 'second_pull_end',
  turnover: 'turnover_end',
  catch: 'catch_end',
  recovery: 'recovery_end',
  jerk_dip: 'jerk_dip_end',
  jerk_drive: 'jerk_drive_end',
  jerk_catch: 'jerk_catch_end',
  jerk_recovery: 'jerk_recovery_end',
};

/** chart_data -> [{name, start, end}] in seconds, in time order; malformed entries skipped. */
export function phasesOf(chartData) {
  const out = [];
  for (const [name, span] of Object.entries(chartData || {})) {
    const start = Number(span?.start);
    const end = Number(span?.end);
    if (Number.isFinite(start) && Number.isFinite(end) && end > start) {
      out.push({ name, start: start / 1000, end: end / 1000 });
    }
  }
  const rank = (n) => (PHASE_ORDER.includes(n) ? PHASE_ORDER.indexOf(n) : PHASE_ORDER.length);
  return out.sort((a, b) => a.start - b.start || rank(a.name) - rank(b.name));
}

/** The time (s) of a boundary event: the end of the phase it closes. */
export function eventTime(phases, event) {
  const phase = Object.keys(BOUNDARY_EVENTS).find((p) => BOUNDARY_EVENTS[p] === event);
  const found = phases.find((p) => p.name === phase);
  return found ? found.end : null;
}

/** The phase at time t (s), or null. */
export function phaseAt(phases, t) {
  for (const p of phases) if (t >= p.start && t < p.end) return p.name;
  return null;
}

/**
 * The timeline element: the phases in order, each as wide as it lasts (the video before and after
 * the lift is left out, so short phases stay big enough to press). onSeek(t) is called with a
 * phase's start. Returns {el, setTime(t)} (setTime marks the phase playing now).
 */
export function phaseTimeline(phases, onSeek) {
  const buttons = [];
  const el = h('div', { class: 'timeline', role: 'group', 'aria-label': 'Lift phases: press one to jump to it' });
  let cursor = phases.length ? phases[0].start : 0;
  for (const p of phases) {
    // A pause between two phases keeps its share of the bar.
    if (p.start > cursor + 1e-3) el.append(h('span', { class: 'gap', style: { flexGrow: String(p.start - cursor) } }));
    const button = h('button', {
      type: 'button',
      class: 'phase-button',
      dataset: { phase: p.name, start: String(p.start) },
      style: { flexGrow: String(p.end - p.start), '--phase-color': phaseColor(p.name) },
      title: `${title(p.name)}: ${p.start.toFixed(2)}–${p.end.toFixed(2)} s`,
      'aria-label': `${title(p.name)}, ${p.start.toFixed(2)} to ${p.end.toFixed(2)} seconds`,
      on: { click: () => onSeek(p.start) },
    }, h('span', { text: title(p.name) }));
    buttons.push(button);
    el.append(button);
    cursor = p.end;
  }
  if (!phases.length) el.append(h('p', { class: 'muted', text: 'No lift phases were found in this session.' }));
  return {
    el,
    setTime(t) {
      const now = phaseAt(phases, t);
      for (const b of buttons) b.classList.toggle('current', b.dataset.phase === now);
    },
  };
}

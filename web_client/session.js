// The session view: the annotated video with its phase timeline, charts, bar path, key frames,
// report, summary and comment threads. While the session is still being analysed it shows the
// progress and fills in when it is ready.

import { api, explain } from './api.js';
import { h, replace, title, words } from './dom.js';
import { sessionCharts } from './session_charts.js';
import { reportSections } from './session_report.js';
import { threadsSection } from './threads.js';
import { BOUNDARY_EVENTS, eventTime, phasesOf, phaseTimeline } from './timeline.js';
import { documentSystem, format, KG_PER_LB, preferredSystem } from './units.js';

const POLL_MS = 1000;

function keyFrames(doc, phases, onSeek) {
  const data = doc.phase_data && typeof doc.phase_data === 'object' ? doc.phase_data : {};
  const order = Object.values(BOUNDARY_EVENTS);
  const events = Object.entries(data)
    .filter(([, v]) => v && typeof v.image_url === 'string' && v.image_url)
    .sort(([a], [b]) => order.indexOf(a) - order.indexOf(b));
  if (!events.length) return null;
  return h('section', { class: 'keyframes', 'aria-labelledby': 'keyframes-heading' },
    h('h2', { id: 'keyframes-heading', text: 'Key positions' }),
    h('ul', { class: 'frames' }, events.map(([event, v]) => {
      const t = Number.isFinite(v.t) ? v.t : eventTime(phases, event);
      const caption = `${title(event)}${t === null ? '' : ` · ${t.toFixed(2)} s`}`;
      const img = h('img', { src: v.image_url, alt: `The lifter at ${words(event)}`, loading: 'lazy', width: '320', height: '240' });
      const inner = t === null ? img : h('button', { type: 'button', class: 'frame-button', 'aria-label': `Jump to ${words(event)}`, on: { click: () => onSeek(t) } }, img);
      return h('li', {}, h('figure', {}, inner, h('figcaption', { text: caption })));
    })));
}

function header(details, doc) {
  const who = doc?.user_information?.display_name || details.user_name;
  // The stored mass is in the session's own system; show it in the chosen one.
  const massKg = details.barbell_mass ? details.barbell_mass * (details.measurement_system === 'imperial' ? KG_PER_LB : 1) : null;
  const mass = massKg ? format('mass', massKg, preferredSystem()).replace(/\.0 /, ' ') : null;
  return h('header', { class: 'session-head' },
    h('h1', { id: 'session-title', text: details.title }),
    h('p', { class: 'muted' }, [title(details.exercise), details.session_date, who, mass].filter(Boolean).join(' · ')));
}

/** Wait for a queued/processing session, showing its progress. Resolves with ready details. */
async function waitReady(root, sessionId, query, details, isCurrent) {
  const bar = h('progress', { id: 'processing-progress', max: '1', value: String(details.progress || 0), 'aria-label': 'Analysis progress' });
  const text = h('p', { role: 'status', 'aria-live': 'polite' });
  replace(root, header(details, null), h('section', { class: 'processing' }, text, bar));
  let d = details;
  while (d.status === 'queued' || d.status === 'processing') {
    text.textContent = d.status === 'queued' ? 'Waiting for its turn to be analysed…' : `Analysing: ${Math.round((d.progress || 0) * 100)} %`;
    bar.value = d.progress || 0;
    await new Promise((r) => setTimeout(r, POLL_MS));
    if (!isCurrent()) return null;
    d = await api(`/sessions/${encodeURIComponent(sessionId)}`, { query });
  }
  return d;
}

/** Render the session view for `sessionId` into `root`. Returns a cleanup function. */
export function sessionView(root, sessionId) {
  let alive = true;
  const cleanups = [];
  const demo = sessionId === 'demo';
  const query = demo ? { demo: 'true' } : undefined;
  replace(root, h('p', { class: 'muted', role: 'status', text: 'Loading the session…' }));

  (async () => {
    let details = await api(`/sessions/${encodeURIComponent(sessionId)}`, { query });
    if (details.status !== 'ready') details = await waitReady(root, sessionId, query, details, () => alive);
    if (!alive || !details) return;
    if (details.status === 'failed') {
      replace(root, header(details, null), h('p', { class: 'error-text', role: 'alert', text: `The analysis failed: ${details.failure_reason || 'no reason given'}` }));
      return;
    }
    const doc = await api(`/sessions/${encodeURIComponent(sessionId)}/data`, { query });
    if (!alive) return;
    render(details, doc);
  })().catch((error) => {
    if (alive) replace(root, h('p', { class: 'error-text', role: 'alert', text: `Cannot show this session: ${explain(error)}` }));
  });

  function render(details, doc) {
    const system = preferredSystem();
    const docSystem = documentSystem(doc, details.measurement_system);
    const phases = phasesOf(doc.chart_data);
    const src = doc.analyzed_video_url || details.analyzed_video_url || doc.original_video_url || details.original_video_url;
    const video = h('video', { id: 'session-video', controls: true, playsinline: true, muted: true, preload: 'auto', src, 'aria-label': 'Annotated lift video' });
    const times = Array.isArray(doc.timestamps) ? doc.timestamps : [];
    const duration = Math.max(times.length ? Number(times[times.length - 1]) : 0, ...phases.map((p) => p.end), 0);
    const seek = (t) => {
      video.currentTime = Math.max(0, t + 1e-3);
      sync();
    };
    const timeline = phaseTimeline(phases, seek);
    const charts = sessionCharts({ doc, docSystem, system, phases, duration, onSeek: seek });
    const sync = () => {
      timeline.setTime(video.currentTime);
      charts.setTime(video.currentTime);
    };
    const remarks = Array.isArray(doc.warnings) ? doc.warnings : [];
    const warnings = remarks.length
      ? h('details', { class: 'warnings-box' },
        h('summary', { text: `${remarks.length} ${remarks.length === 1 ? 'note' : 'notes'} on the recording and the analysis` }),
        h('ul', { class: 'warnings' }, remarks.map((w) => h('li', { text: String(w) }))))
      : null;
    const { summary, notes, report } = reportSections({ sessionId, system, demo, onSeek: seek });
    replace(root,
      header(details, doc),
      h('div', { class: 'session-top' },
        h('section', { class: 'player', 'aria-label': 'Video' }, video, timeline.el, warnings),
        summary),
      notes,
      charts.el,
      keyFrames(doc, phases, seek),
      report,
      threadsSection({ sessionId, comments: doc.comments, system, demo }));
    charts.mount();

    let frame = 0;
    const loop = () => {
      sync();
      frame = video.paused ? 0 : requestAnimationFrame(loop);
    };
    video.addEventListener('play', () => { if (!frame) frame = requestAnimationFrame(loop); });
    video.addEventListener('seeked', sync);
    video.addEventListener('timeupdate', () => { if (!frame) sync(); });
    const onResize = () => charts.redraw();
    window.addEventListener('resize', onResize);
    cleanups.push(() => {
      cancelAnimationFrame(frame);
      window.removeEventListener('resize', onResize);
      video.pause();
    });
  }

  return () => {
    alive = false;
    for (const c of cleanups) c();
  };
}

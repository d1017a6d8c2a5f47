// The lift analysis report and the session summary (from the rules coach). Their texts are
// written by the server in the session's unit system; the key numbers are converted to the
// system chosen here, using the unit each number names.

import { api, ApiError, explain } from './api.js';
import { h, replace, title } from './dom.js';
import { format } from './units.js';

// Unit labels the server writes -> [quantity, SI per unit].
const UNIT_QUANTITY = {
  mm: ['length', 0.001], in: ['length', 0.0254], m: ['length', 1],
  'm/s': ['velocity', 1], 'ft/s': ['velocity', 0.3048],
  N: ['force', 1], lbf: ['force', 0.45359237 * 9.80665],
  W: ['power', 1], s: ['time', 1], kg: ['mass', 1], lb: ['mass', 0.45359237],
};

/** A report number {value, unit} in the chosen system ("1.85 m/s"). */
export function numberText(n, system) {
  if (n.value === null || n.value === undefined) return '—';
  const known = UNIT_QUANTITY[n.unit];
  if (!known) return `${n.value}${['deg', 'degrees', '°'].includes(n.unit) ? '°' : ` ${n.unit || ''}`}`.trim();
  return format(known[0], n.value * known[1], system);
}

const RATING = {
  good: 'Good',
  fair: 'Fair',
  needs_work: 'Needs work',
  insufficient_data: 'Not enough data',
};

function keyNumbers(numbers, system) {
  if (!numbers?.length) return null;
  return h('dl', { class: 'facts key-numbers' }, numbers.map((n) => [
    h('dt', { text: title(n.label || n.name) }),
    h('dd', { text: numberText(n, system) + (n.t_s !== null && n.t_s !== undefined ? ` at ${n.t_s.toFixed(2)} s` : '') }),
  ]));
}

const SEVERITY = { ok: 'OK', info: 'Note', warning: 'Warning', not_judged: 'Not judged' };

/** Advice the server has not already written into the text (warnings end with it). */
function extraAdvice(text, advice) {
  return advice && !String(text || '').includes(advice) ? advice : '';
}

function findingItem(f, onSeek) {
  const seek = f.t_s !== null && f.t_s !== undefined
    ? h('button', { type: 'button', class: 'link', text: `${f.t_s.toFixed(2)} s`, 'aria-label': `Show ${f.title} in the video at ${f.t_s.toFixed(2)} seconds`, on: { click: () => onSeek(f.t_s) } })
    : null;
  return h('li', { class: `finding ${f.severity}` },
    h('p', {}, h('span', { class: `badge ${f.severity}`, text: SEVERITY[f.severity] || f.severity }), ' ', h('strong', { text: f.title }), seek ? ' · ' : null, seek),
    h('p', { text: f.text }),
    extraAdvice(f.text, f.advice) ? h('p', { class: 'advice', text: `Advice: ${f.advice}` }) : null);
}

function renderReport(report, onSeek) {
  const findings = report.findings || [];
  const judged = findings.filter((f) => f.severity !== 'not_judged');
  const skipped = findings.filter((f) => f.severity === 'not_judged');
  // The key numbers are shown with the summary, the analysis warnings under the video.
  return [
    h('p', { class: `verdict ${report.verdict?.rating || ''}` },
      h('span', { class: 'badge', text: RATING[report.verdict?.rating] || report.verdict?.rating || '' }), ' ',
      report.verdict?.text || ''),
    judged.length ? h('ul', { class: 'findings' }, judged.map((f) => findingItem(f, onSeek))) : null,
    skipped.length
      ? h('details', {}, h('summary', { text: `${skipped.length} ${skipped.length === 1 ? 'check' : 'checks'} not judged` }), h('ul', { class: 'findings' }, skipped.map((f) => findingItem(f, onSeek))))
      : null,
  ];
}

function noteList(heading, items) {
  if (!items?.length) return null;
  return h('div', { class: 'note-list' }, h('h3', { text: heading }),
    h('ul', {}, items.map((i) => h('li', {}, h('strong', { text: `${i.title}: ` }), i.text, extraAdvice(i.text, i.advice) ? ` ${i.advice}` : ''))));
}

function gated(error) {
  // The seed's "no valid plan" answers: 404 for the report, 403 for the summary.
  return error instanceof ApiError && (error.status === 403 || error.status === 404);
}

function unavailable(what, error) {
  return h('p', { class: 'muted', text: gated(error) ? `The ${what} is not included in your plan.` : explain(error) });
}

/**
 * The summary (text and key numbers, beside the video), the coach's notes (strengths, things to
 * work on) and the report (verdict and every check); they fill in when their requests answer.
 * Returns {summary, notes, report} elements.
 */
export function reportSections({ sessionId, system, demo, onSeek }) {
  // The coach writes its texts in the unit system asked for, so they match the numbers here.
  const query = { measurement_system: system, ...(demo ? { demo: 'true' } : {}) };
  const loading = () => h('p', { class: 'muted', text: 'Loading…' });
  const summaryHead = h('h2', { id: 'summary-heading', text: 'Summary' });
  const reportHead = h('h2', { id: 'report-heading', text: 'Report' });
  const summary = h('section', { class: 'summary', 'aria-labelledby': 'summary-heading' }, summaryHead, loading());
  const notes = h('section', { class: 'notes', 'aria-label': 'Strengths and things to work on', hidden: true });
  const report = h('section', { class: 'report', 'aria-labelledby': 'report-heading' }, reportHead, loading());
  const id = encodeURIComponent(sessionId);
  Promise.allSettled([
    api(`/sessions/${id}/summary`, { query }),
    api(`/sessions/${id}/report`, { query }),
  ]).then(([s, r]) => {
    if (r.status === 'fulfilled') replace(report, reportHead, renderReport(r.value, onSeek));
    else replace(report, reportHead, unavailable('report', r.reason));
    if (s.status === 'fulfilled') {
      replace(summary, summaryHead, h('p', { class: 'summary-text', text: s.value.text || '' }), keyNumbers(s.value.key_numbers, system));
      const lists = [noteList('Strengths', s.value.strengths), noteList('Things to work on', s.value.things_to_work_on)].filter(Boolean);
      replace(notes, lists);
      notes.hidden = !lists.length;
    } else {
      // Without the summary, the report's key numbers stand in for it.
      replace(summary, summaryHead, unavailable('summary', s.reason),
        r.status === 'fulfilled' ? keyNumbers(r.value.key_numbers, system) : null);
    }
  });
  return { summary, notes, report };
}

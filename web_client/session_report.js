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
  if (!known) return `${n.value}${n.unit === 'deg' ? '°' : ` ${n.unit || ''}`}`.trim();
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

function findingItem(f, onSeek) {
  const seek = f.t_s !== null && f.t_s !== undefined
    ? h('button', { type: 'button', class: 'link', text: `${f.t_s.toFixed(2)} s`, 'aria-label': `Show ${f.title} in the video at ${f.t_s.toFixed(2)} seconds`, on: { click: () => onSeek(f.t_s) } })
    : null;
  return h('li', { class: `finding ${f.severity}` },
    h('p', {}, h('span', { class: `badge ${f.severity}`, text: f.severity.replace('_', ' ') }), ' ', h('strong', { text: f.title }), seek ? ' · ' : null, seek),
    h('p', { text: f.text }),
    f.advice ? h('p', { class: 'advice', text: `Advice: ${f.advice}` }) : null);
}

function renderReport(report, system, onSeek) {
  const findings = report.findings || [];
  const judged = findings.filter((f) => f.severity !== 'not_judged');
  const skipped = findings.filter((f) => f.severity === 'not_judged');
  return [
    h('p', { class: `verdict ${report.verdict?.rating || ''}` },
      h('span', { class: 'badge', text: RATING[report.verdict?.rating] || report.verdict?.rating || '' }), ' ',
      report.verdict?.text || ''),
    keyNumbers(report.key_numbers, system),
    judged.length ? h('ul', { class: 'findings' }, judged.map((f) => findingItem(f, onSeek))) : null,
    skipped.length
      ? h('details', {}, h('summary', { text: `${skipped.length} checks not judged` }), h('ul', { class: 'findings' }, skipped.map((f) => findingItem(f, onSeek))))
      : null,
    report.warnings?.length ? h('ul', { class: 'warnings' }, report.warnings.map((w) => h('li', { text: w }))) : null,
  ];
}

function renderSummary(summary, system) {
  const list = (heading, items) => (items?.length
    ? [h('h3', { text: heading }), h('ul', {}, items.map((i) => h('li', {}, h('strong', { text: `${i.title}: ` }), i.text, i.advice ? ` ${i.advice}` : '')))]
    : null);
  return [
    h('p', { class: 'summary-text', text: summary.text || '' }),
    keyNumbers(summary.key_numbers, system),
    list('Strengths', summary.strengths),
    list('Things to work on', summary.things_to_work_on),
  ];
}

function gated(error) {
  // The seed's "no valid plan" answers: 404 for the report, 403 for the summary.
  return error instanceof ApiError && (error.status === 403 || error.status === 404);
}

/** The report and summary sections; they fill in when their requests answer. */
export function reportSections({ sessionId, system, demo, onSeek }) {
  const query = demo ? { demo: 'true' } : undefined;
  const report = h('section', { class: 'report', 'aria-labelledby': 'report-heading' },
    h('h2', { id: 'report-heading', text: 'Report' }), h('p', { class: 'muted', text: 'Loading…' }));
  const summary = h('section', { class: 'summary', 'aria-labelledby': 'summary-heading' },
    h('h2', { id: 'summary-heading', text: 'Summary' }), h('p', { class: 'muted', text: 'Loading…' }));
  const id = encodeURIComponent(sessionId);
  api(`/sessions/${id}/report`, { query })
    .then((r) => replace(report, report.firstChild, renderReport(r, system, onSeek)))
    .catch((e) => replace(report, report.firstChild, h('p', { class: 'muted', text: gated(e) ? 'The report is not included in your plan.' : explain(e) })));
  api(`/sessions/${id}/summary`, { query })
    .then((s) => replace(summary, summary.firstChild, renderSummary(s, system)))
    .catch((e) => replace(summary, summary.firstChild, h('p', { class: 'muted', text: gated(e) ? 'The summary is not included in your plan.' : explain(e) })));
  return [summary, report];
}

// The summary cards of the live view: one per lift, newest first, filled in by the server's
// lift_summary (the live numbers) and then its session message (the link to the finalised
// report) or an error saying why the lift was not saved.

import { h, replace, title, words } from './dom.js';
import { format } from './units.js';

export class LiftCards {
  /** container: the element the cards go into. */
  constructor(container) {
    this.container = container;
    this.cards = new Map();
    this.count = 0;
  }

  /** The card for a lift key (connection generation + lift index), created on first use. */
  card(key) {
    let c = this.cards.get(key);
    if (!c) {
      this.count += 1;
      const n = this.count;
      c = {
        n,
        el: h('article', { class: 'card', id: `lift-${n}`, 'aria-labelledby': `lift-${n}-heading` }),
        body: h('div', { class: 'card-body' }),
        link: h('p', { class: 'session-link', role: 'status', text: 'Saving the session…' }),
      };
      c.el.append(h('h3', { id: `lift-${n}-heading`, text: `Lift ${n}` }), c.body, c.link);
      this.cards.set(key, c);
      this.container.prepend(c.el);
    }
    return c;
  }

  /** Fill a card from a lift_summary message (SI numbers) in the display system. */
  summary(key, m, system) {
    const c = this.card(key);
    const durations = Object.entries(m.phase_durations_s || {});
    replace(c.body,
      h('dl', { class: 'facts' },
        h('dt', { text: 'Peak velocity' }), h('dd', { class: 'peak-value', text: format('velocity', m.peak_velocity_mps, system) }),
        h('dt', { text: 'Max height' }), h('dd', { text: format('length', m.max_height_m, system) }),
        h('dt', { text: 'Bar path' }), h('dd', { text: m.bar_path_type ? words(m.bar_path_type) : 'in the report' })),
      durations.length
        ? h('table', { class: 'durations' },
          h('caption', { text: 'Phase durations' }),
          h('tbody', {}, durations.map(([name, s]) => h('tr', {},
            h('th', { scope: 'row', text: title(name) }), h('td', { text: `${s.toFixed(2)} s` })))))
        : h('p', { class: 'muted', text: 'No phases were recognised in this lift.' }));
  }

  /** The lift was finalised into session `sessionId`. */
  session(key, sessionId) {
    const c = this.card(key);
    replace(c.link, h('a', { href: `#/session/${encodeURIComponent(sessionId)}`, class: 'open-session', text: 'Open the session report' }));
  }

  /** The lift was not saved: say why on its card. */
  failed(key, code, detail) {
    const c = this.card(key);
    const text = code === 'no_lift' ? `No lift was found in the recording: ${detail}` : `Not saved: ${detail}`;
    replace(c.link, h('span', { class: 'error-text', text }));
  }
}

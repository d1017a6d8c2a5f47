// Comment threads of a session: the coach's first message per metric (or summary topic) and the
// replies; the owner (or an admin) can reply. Analysis threads are listed in the session data's
// `comments`; summary threads are not, so their ids are remembered in this browser.

import { api, explain } from './api.js';
import { h, replace, title } from './dom.js';

const SUMMARY_KEY = (sessionId) => `liftstream.summaryThreads.${sessionId}`;

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}

/** One thread as a collapsible block with its messages and a reply form. */
function threadBlock(threadId, topic) {
  const messages = h('ol', { class: 'messages' }, h('li', { class: 'muted', text: 'Loading…' }));
  const replyId = `reply-${threadId}`;
  const text = h('textarea', { id: replyId, name: 'text', rows: '2', maxlength: '4000', required: true });
  const note = h('p', { class: 'form-note', role: 'status' });
  const send = h('button', { type: 'submit', text: 'Reply' });
  const form = h('form', { class: 'reply', dataset: { thread: threadId } },
    h('label', { for: replyId, text: `Reply about ${title(topic).toLowerCase()}` }), text, send, note);
  const block = h('details', { class: 'thread', dataset: { thread: threadId, topic } },
    h('summary', {}, h('span', { text: title(topic) }), h('span', { class: 'count', text: '' })),
    messages, form);

  function render(thread) {
    replace(messages, thread.messages.map((m) => h('li', { class: `message ${m.role}` },
      h('p', { class: 'meta' }, h('strong', { text: m.role === 'user' ? m.author : 'Coach' }), ` · ${when(m.created_at)}`),
      h('p', { class: 'text', text: m.text }))));
    block.querySelector('.count').textContent = `${thread.messages.length} message${thread.messages.length === 1 ? '' : 's'}`;
  }

  async function load() {
    try {
      render(await api(`/threads/${encodeURIComponent(threadId)}`));
    } catch (error) {
      replace(messages, h('li', { class: 'error-text', text: explain(error) }));
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = text.value.trim();
    if (!body) return;
    send.disabled = true;
    note.textContent = 'Sending…';
    try {
      render(await api(`/threads/${encodeURIComponent(threadId)}/messages`, { method: 'POST', json: { text: body } }));
      text.value = '';
      note.textContent = 'Sent.';
    } catch (error) {
      note.textContent = explain(error);
    } finally {
      send.disabled = false;
    }
  });
  load();
  return block;
}

function threadList(ids) {
  return h('div', { class: 'thread-list' }, Object.entries(ids).map(([topic, id]) => threadBlock(id, topic)));
}

/**
 * The threads section. ctx: {sessionId, comments ({metric: thread id}), system, demo}.
 */
export function threadsSection({ sessionId, comments, system, demo }) {
  const analysis = h('div', { class: 'analysis-threads' });
  const summary = h('div', { class: 'summary-threads' });
  const note = h('p', { class: 'form-note', role: 'status' });
  const el = h('section', { class: 'threads', 'aria-labelledby': 'threads-heading' },
    h('h2', { id: 'threads-heading', text: 'Comments' }), analysis, summary, note);

  async function generate(kind, button) {
    button.disabled = true;
    note.textContent = 'Writing the comments…';
    try {
      const ids = await api(`/sessions/${encodeURIComponent(sessionId)}/${kind}-threads`, { method: 'POST', json: { measurement_system: system } });
      note.textContent = '';
      if (kind === 'comment') replace(analysis, h('h3', { text: 'Per metric' }), threadList(ids));
      else {
        localStorage.setItem(SUMMARY_KEY(sessionId), JSON.stringify(ids));
        replace(summary, h('h3', { text: 'Summary' }), threadList(ids));
      }
    } catch (error) {
      note.textContent = explain(error);
      button.disabled = false;
    }
  }

  if (comments && Object.keys(comments).length) {
    replace(analysis, h('h3', { text: 'Per metric' }), threadList(comments));
  } else if (!demo) {
    const button = h('button', { type: 'button', id: 'make-comment-threads', text: 'Write comments on each metric' });
    button.addEventListener('click', () => generate('comment', button));
    replace(analysis, h('p', { class: 'muted', text: 'No comments yet: the coach writes one per metric, and you can reply.' }), button);
  }
  let stored = null;
  try {
    stored = JSON.parse(localStorage.getItem(SUMMARY_KEY(sessionId)) || 'null');
  } catch {
    stored = null;
  }
  if (stored && typeof stored === 'object') {
    replace(summary, h('h3', { text: 'Summary' }), threadList(stored));
  } else if (!demo) {
    const button = h('button', { type: 'button', id: 'make-summary-threads', text: 'Write summary comments' });
    button.addEventListener('click', () => generate('summary', button));
    replace(summary, button);
  }
  return el;
}

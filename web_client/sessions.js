// The user's sessions, newest first, and the upload form (upload progress, then analysis
// progress, then a link to the session).

import { api, explain, uploadSession } from './api.js';
import { currentUser } from './auth.js';
import { field, h, replace, title } from './dom.js';
import { KG_PER_LB, preferredSystem, unitLabel } from './units.js';

const POLL_MS = 1500;
const JOINTS = ['hip', 'knee', 'ankle', 'elbow', 'shoulder'];
const STATUS = { queued: 'Queued', processing: 'Analysing', ready: 'Ready', failed: 'Failed' };

/** " · 14:05" from an ISO time (sessions of one day are told apart by it), or ''. */
function clock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : ` · ${d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
}

function row(s) {
  const progress = s.status === 'processing' || s.status === 'queued'
    ? h('progress', { max: '1', value: String(s.progress || 0), 'aria-label': `Progress of ${s.title}` })
    : null;
  return h('li', { class: `session-row ${s.status}`, dataset: { session: s.session_id } },
    h('a', { href: `#/session/${encodeURIComponent(s.session_id)}`, text: s.title }),
    h('span', { class: 'muted', text: `${title(s.exercise)} · ${s.session_date}${clock(s.created_at)}` }),
    h('span', { class: `status ${s.status}`, text: STATUS[s.status] || s.status }),
    progress);
}

/** The list; polls while any session is still being analysed. Returns {el, refresh, stop}. */
function sessionList() {
  const list = h('ol', { id: 'session-list', class: 'session-list', 'aria-live': 'polite' });
  const note = h('p', { class: 'muted', text: 'Loading…' });
  const el = h('section', { 'aria-labelledby': 'sessions-heading' },
    h('h2', { id: 'sessions-heading', text: 'Your sessions' }), note, list,
    h('p', {}, h('a', { href: '#/session/demo', text: 'See a demo session' })));
  let timer = null;
  let stopped = false;

  async function refresh() {
    clearTimeout(timer);
    try {
      const body = await api('/sessions', { query: { limit: 100 } });
      if (stopped) return;
      const sessions = [...body.sessions].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
      note.textContent = sessions.length ? '' : 'No sessions yet: start the live view or upload a video.';
      replace(list, sessions.map(row));
      if (sessions.some((s) => s.status === 'queued' || s.status === 'processing')) timer = setTimeout(refresh, POLL_MS);
    } catch (error) {
      note.textContent = explain(error);
    }
  }
  refresh();
  return { el, refresh, stop: () => { stopped = true; clearTimeout(timer); } };
}

/** The owner's profile unit system (the server reads barbell_mass in it). */
async function profileSystem(userId) {
  try {
    const profile = await api(`/users/${encodeURIComponent(userId)}/profile`);
    return profile.measurement_system === 'imperial' ? 'imperial' : 'metric';
  } catch {
    return 'metric';
  }
}

function uploadForm(onCreated) {
  const system = preferredSystem();
  const file = field('Video file', 'file', { name: 'video', accept: 'video/*', required: true });
  const exercise = field('Exercise', 'select', { name: 'exercise' }, [['snatch', 'Snatch'], ['clean', 'Clean'], ['clean_and_jerk', 'Clean and jerk']]);
  const mass = field(`Barbell mass (${unitLabel('mass', system)})`, 'number', { name: 'barbell_mass', min: '1', step: '0.5', inputmode: 'decimal', placeholder: system === 'imperial' ? '220' : '100' });
  const name = field('Title (optional)', 'text', { name: 'title', maxlength: '200' });
  const plate = field('Plate diameter (mm, optional)', 'number', { name: 'plate_diameter_mm', min: '100', max: '1000', placeholder: '450' });
  const joints = JOINTS.map((j) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'joints', value: j, checked: j === 'hip' || j === 'knee' }), ` ${j}`));
  const uploadBar = h('progress', { id: 'upload-progress', max: '1', value: '0' });
  const processBar = h('progress', { id: 'analysis-progress', max: '1', value: '0' });
  const uploadLine = h('label', { class: 'progress-line', hidden: true }, h('span', { text: 'Upload' }), uploadBar);
  const processLine = h('label', { class: 'progress-line', hidden: true }, h('span', { text: 'Analysis' }), processBar);
  const note = h('p', { id: 'upload-status', class: 'form-note', role: 'status', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Upload and analyse' });
  const form = h('form', { id: 'upload-form', class: 'upload', 'aria-labelledby': 'upload-heading' },
    h('h2', { id: 'upload-heading', text: 'Upload a video' }),
    file.wrap, h('div', { class: 'row' }, exercise.wrap, mass.wrap), name.wrap,
    h('details', { class: 'more' }, h('summary', { text: 'More options' }), plate.wrap,
      h('fieldset', {}, h('legend', { text: 'Joint angles' }), joints)),
    submit, uploadLine, processLine, note);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const user = currentUser();
    const video = file.input.files[0];
    if (!user || !video) return;
    const data = new FormData();
    data.set('user_id', user.userId);
    data.set('video', video, video.name);
    data.set('exercise', exercise.input.value);
    if (name.input.value.trim()) data.set('title', name.input.value.trim());
    if (plate.input.value) data.set('plate_diameter_mm', plate.input.value);
    const chosen = [...form.querySelectorAll('input[name=joints]:checked')].map((i) => i.value);
    if (chosen.length) data.set('joints', chosen.join(','));
    submit.disabled = true;
    try {
      if (mass.input.value) {
        // The server reads the mass in the profile's units: convert from the ones shown here.
        const serverSystem = await profileSystem(user.userId);
        let value = Number(mass.input.value);
        if (serverSystem !== system) value = serverSystem === 'imperial' ? value / KG_PER_LB : value * KG_PER_LB;
        data.set('barbell_mass', String(Math.round(value * 10) / 10));
      }
      uploadLine.hidden = false;
      note.textContent = 'Uploading…';
      const created = await uploadSession(data, (f) => {
        uploadBar.value = f;
        note.textContent = `Uploading: ${Math.round(f * 100)} %`;
      });
      uploadBar.value = 1;
      onCreated();
      await followProgress(created.session_id);
    } catch (error) {
      note.textContent = `The upload failed: ${explain(error)}`;
    } finally {
      submit.disabled = false;
    }
  });

  async function followProgress(sessionId) {
    processLine.hidden = false;
    for (;;) {
      const d = await api(`/sessions/${encodeURIComponent(sessionId)}`);
      processBar.value = d.progress || 0;
      if (d.status === 'ready') {
        replace(note, 'Analysed. ', h('a', { href: `#/session/${encodeURIComponent(sessionId)}`, text: `Open ${d.title}` }));
        processBar.value = 1;
        onCreated();
        return;
      }
      if (d.status === 'failed') {
        note.textContent = `The analysis failed: ${d.failure_reason || 'no reason given'}`;
        onCreated();
        return;
      }
      note.textContent = d.status === 'queued' ? 'Uploaded; waiting for the analysis to start…' : `Analysing: ${Math.round((d.progress || 0) * 100)} %`;
      await new Promise((r) => setTimeout(r, POLL_MS));
      if (!form.isConnected) return;
    }
  }
  return form;
}

/** The sessions page: list and upload form. Returns a cleanup function. */
export function sessionsView(root) {
  const list = sessionList();
  replace(root, h('h1', { text: 'Sessions' }), h('div', { class: 'sessions-page' }, list.el, uploadForm(() => list.refresh())));
  return () => list.stop();
}

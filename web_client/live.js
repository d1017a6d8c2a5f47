// The live view: a phone on a tripod beside the platform. Choose the lift, start the rear camera,
// stream it to the server, and read back the bar path, bar velocity, the phase and, after each
// lift, a summary card with a link to the finalised session.

import { field, h, replace, title, words } from './dom.js';
import { drawOverlay, LiftTrace } from './overlay.js';
import { LiveConnection } from './rtc.js';
import { format, preferredSystem, unitLabel } from './units.js';

const NO_PLATE_AFTER_MS = 2000;
const JOINTS = ['hip', 'knee', 'ankle', 'elbow', 'shoulder'];

const CAMERA_ERRORS = {
  NotAllowedError: 'Camera access was denied. Allow the camera for this site (the camera icon in the address bar or the browser settings), then press Start again.',
  SecurityError: 'Camera access was denied. Allow the camera for this site, then press Start again.',
  NotFoundError: 'No camera was found on this device.',
  OverconstrainedError: 'No camera on this device can film this way.',
  NotReadableError: 'The camera is busy: close other apps or tabs using it, then press Start again.',
};

/** Render the live view into `root`. Returns a cleanup function (stops camera and connection). */
export function liveView(root) {
  const system = preferredSystem();
  const state = {
    connection: null,
    stream: null,
    trace: new LiftTrace(),
    lastSampleAt: 0,
    frameTimer: null,
    peak: null,
    lift: 0,
    cards: new Map(),
    wakeLock: null,
  };

  const video = h('video', { class: 'live-video', playsinline: true, muted: true, autoplay: true, 'aria-label': 'Camera picture' });
  const overlay = h('canvas', { class: 'live-overlay', 'aria-hidden': 'true' });
  const status = h('p', { id: 'live-status', class: 'live-status', role: 'status', 'aria-live': 'polite', text: 'Camera off' });
  const alert = h('p', { id: 'live-alert', class: 'live-alert', role: 'alert', hidden: true });
  const velocity = h('output', { id: 'velocity', class: 'velocity', 'aria-live': 'off', text: '—' });
  const velocityUnit = h('span', { class: 'velocity-unit', text: unitLabel('velocity', system) });
  const peak = h('output', { id: 'peak-velocity', class: 'peak', text: '—' });
  const phase = h('output', { id: 'phase', class: 'phase', 'aria-live': 'polite', text: '' });
  const hud = h('div', { class: 'hud' },
    h('div', { class: 'readout' },
      h('span', { class: 'readout-label', text: 'Bar velocity' }),
      h('span', { class: 'velocity-line' }, velocity, velocityUnit)),
    h('div', { class: 'readout small' }, h('span', { class: 'readout-label', text: 'Peak' }), peak),
    h('div', { class: 'readout small' }, h('span', { class: 'readout-label', text: 'Phase' }), phase));
  const stage = h('div', { class: 'stage' }, video, overlay, hud, status, alert);

  const exercise = field('Exercise', 'select', { name: 'exercise' }, [
    ['snatch', 'Snatch'], ['clean', 'Clean'], ['clean_and_jerk', 'Clean and jerk'],
  ]);
  const massUnit = unitLabel('mass', system);
  const mass = field(`Barbell mass (${massUnit})`, 'number', {
    name: 'barbell_mass', min: '1', max: system === 'imperial' ? '1100' : '500', step: '0.5',
    value: system === 'imperial' ? '135' : '60', inputmode: 'decimal',
  });
  const units = field('Units', 'select', { name: 'units' }, [['metric', 'Metric (kg, m/s)'], ['imperial', 'Imperial (lb, ft/s)']]);
  units.input.value = system;
  units.input.addEventListener('change', () => {
    // Keep the mass the same weight when the unit changes.
    const v = Number(mass.input.value);
    const to = units.input.value;
    if (Number.isFinite(v) && v > 0) {
      const kg = to === 'imperial' ? v : v * 0.45359237;
      mass.input.value = (to === 'imperial' ? kg / 0.45359237 : kg).toFixed(1).replace(/\.0$/, '');
    }
    mass.wrap.querySelector('label').textContent = `Barbell mass (${unitLabel('mass', to)})`;
    velocityUnit.textContent = unitLabel('velocity', to);
  });
  const titleField = field('Session title (optional)', 'text', { name: 'title', maxlength: '200' });
  const jointBoxes = JOINTS.map((j) => {
    const id = `joint-${j}`;
    return h('label', { class: 'check', for: id },
      h('input', { type: 'checkbox', id, value: j, checked: j === 'hip' || j === 'knee' }), ` ${j}`);
  });
  const more = h('details', { class: 'more' }, h('summary', { text: 'More options' }),
    titleField.wrap, h('fieldset', {}, h('legend', { text: 'Joint angles in the report' }), jointBoxes));

  const startButton = h('button', { type: 'submit', id: 'start-live', class: 'primary', text: 'Start camera' });
  const endButton = h('button', { type: 'button', id: 'end-lift', text: 'End lift', hidden: true });
  const stopButton = h('button', { type: 'button', id: 'stop-live', text: 'Stop', hidden: true });
  const form = h('form', { class: 'live-form', 'aria-label': 'Live analysis settings' },
    h('div', { class: 'row' }, exercise.wrap, mass.wrap, units.wrap), more,
    h('div', { class: 'row buttons' }, startButton, endButton, stopButton));
  const cards = h('section', { class: 'cards', 'aria-label': 'Lift summaries' });
  const panel = h('div', { class: 'panel' }, form, cards);
  replace(root, h('div', { class: 'live' }, stage, panel));

  function showAlert(text) {
    alert.hidden = !text;
    alert.textContent = text || '';
  }

  function currentSystem() {
    return units.input.value === 'imperial' ? 'imperial' : 'metric';
  }

  function redraw() {
    drawOverlay(overlay, video, state.trace);
  }
  const resize = () => redraw();
  window.addEventListener('resize', resize);

  function onSample(m) {
    state.lastSampleAt = performance.now();
    if (alert.dataset.kind === 'noplate') showAlert('');
    state.trace.add(m.x_px, m.y_px, state.lift);
    const sys = currentSystem();
    if (typeof m.vy_mps === 'number') {
      velocity.textContent = format('velocity', m.vy_mps, sys, { unit: false });
      if (state.peak === null || m.vy_mps > state.peak) {
        state.peak = m.vy_mps;
        peak.textContent = format('velocity', state.peak, sys);
      }
    } else {
      velocity.textContent = '—';
    }
    redraw();
  }

  function onPhase(m) {
    if (m.lift !== state.lift) {
      state.lift = m.lift;
      state.peak = null;
      peak.textContent = '—';
      state.trace.startLift(m.lift);
    }
    phase.textContent = title(m.name);
    phase.dataset.phase = m.name;
  }

  function card(lift) {
    let c = state.cards.get(lift);
    if (!c) {
      c = {
        el: h('article', { class: 'card', id: `lift-${lift}`, 'aria-label': `Lift ${lift}` }),
        body: h('div'),
        link: h('p', { class: 'session-link', text: 'Saving the session…' }),
      };
      c.el.append(h('h3', { text: `Lift ${lift}` }), c.body, c.link);
      state.cards.set(lift, c);
      cards.prepend(c.el);
    }
    return c;
  }

  function onSummary(m) {
    const sys = currentSystem();
    const c = card(m.lift);
    const durations = Object.entries(m.phase_durations_s || {});
    replace(c.body,
      h('dl', { class: 'facts' },
        h('dt', { text: 'Peak velocity' }), h('dd', { class: 'peak-value', text: format('velocity', m.peak_velocity_mps, sys) }),
        h('dt', { text: 'Max height' }), h('dd', { text: format('length', m.max_height_m, sys) }),
        h('dt', { text: 'Bar path' }), h('dd', { text: m.bar_path_type ? words(m.bar_path_type) : 'not classified' })),
      durations.length
        ? h('table', { class: 'durations' },
          h('caption', { text: 'Phase durations' }),
          h('tbody', {}, durations.map(([name, s]) => h('tr', {},
            h('th', { scope: 'row', text: title(name) }), h('td', { text: `${s.toFixed(2)} s` })))))
        : h('p', { text: 'No phases were recognised in this lift.' }));
    phase.textContent = 'Lift done';
    phase.dataset.phase = '';
    state.trace.endLift();
    redraw();
  }

  function onSession(m) {
    const c = card(m.lift);
    replace(c.link, h('a', { href: `#/session/${encodeURIComponent(m.session_id)}`, class: 'open-session', text: 'Open the session report' }));
  }

  function onError(m) {
    const lift = /^lift (\d+):/.exec(m.detail || '');
    if (lift) {
      const c = card(Number(lift[1]));
      replace(c.link, h('span', { class: 'error-text', text: m.code === 'no_lift' ? `No lift found: ${m.detail}` : `Not saved: ${m.detail}` }));
      return;
    }
    showAlert(`Server: ${m.detail}`);
  }

  function onMessage(e) {
    const m = e.detail.message;
    if (m.type === 'sample') onSample(m);
    else if (m.type === 'phase') onPhase(m);
    else if (m.type === 'lift_summary') onSummary(m);
    else if (m.type === 'session') onSession(m);
    else if (m.type === 'error') onError(m);
  }

  const STATE_TEXT = {
    connecting: 'Connecting…',
    connected: 'Live: waiting for a lift',
    reconnecting: 'Connection lost, reconnecting…',
    failed: 'Not connected',
    closed: 'Stopped',
  };

  function onState(e) {
    const { state: s, detail } = e.detail;
    status.textContent = STATE_TEXT[s] + (detail && s === 'reconnecting' ? ` (${detail})` : '');
    status.dataset.state = s;
    if (s === 'failed') showAlert(`The connection failed. ${detail} Press Start to try again.`);
    else if (s === 'connected' && alert.dataset.kind !== 'camera') showAlert('');
    if (s === 'failed' || s === 'closed') setRunning(false);
  }

  function watchPlate() {
    clearInterval(state.frameTimer);
    state.frameTimer = setInterval(() => {
      const live = state.connection && state.connection.state === 'connected';
      const quiet = performance.now() - state.lastSampleAt > NO_PLATE_AFTER_MS;
      if (live && quiet && (!alert.textContent || alert.dataset.kind === 'noplate')) {
        alert.dataset.kind = 'noplate';
        showAlert('No plate visible: film from the side so a plate faces the camera, with the whole barbell in view.');
      } else if (!quiet && alert.dataset.kind === 'noplate') {
        alert.dataset.kind = '';
        showAlert('');
      }
    }, 500);
  }

  function setRunning(running) {
    startButton.hidden = running;
    endButton.hidden = !running;
    stopButton.hidden = !running;
    for (const el of form.querySelectorAll('select, input')) el.disabled = running;
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw Object.assign(new Error('The camera needs a secure page (https). Start the server with `liftstream serve --https` and open the https address it prints.'), { known: true });
    }
    return navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: 'environment' }, width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
    });
  }

  async function start(ev) {
    ev.preventDefault();
    showAlert('');
    alert.dataset.kind = '';
    const sys = currentSystem();
    const massValue = Number(mass.input.value);
    const joints = jointBoxes.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    const start = {
      exercise: exercise.input.value,
      units: sys,
      joints: joints.length ? joints : ['hip', 'knee'],
    };
    if (Number.isFinite(massValue) && massValue > 0) start.barbell_mass = massValue;
    if (titleField.input.value.trim()) start.title = titleField.input.value.trim();
    status.textContent = 'Starting the camera…';
    try {
      state.stream = state.stream || await startCamera();
    } catch (error) {
      alert.dataset.kind = 'camera';
      showAlert(error.known ? error.message : (CAMERA_ERRORS[error.name] || `The camera could not start: ${error.message}`));
      status.textContent = 'Camera off';
      return;
    }
    video.srcObject = state.stream;
    video.addEventListener('loadedmetadata', redraw, { once: true });
    await video.play().catch(() => {});
    setRunning(true);
    state.connection = new LiveConnection(state.stream, start);
    state.connection.addEventListener('message', onMessage);
    state.connection.addEventListener('state', onState);
    state.lastSampleAt = performance.now();
    watchPlate();
    keepAwake();
    state.connection.open();
  }

  async function keepAwake() {
    try {
      state.wakeLock = await navigator.wakeLock?.request('screen');
    } catch {
      state.wakeLock = null; // not allowed (battery saver, no permission): the phone may dim
    }
  }

  function stop() {
    clearInterval(state.frameTimer);
    if (state.connection) state.connection.close();
    state.connection = null;
    if (state.stream) for (const t of state.stream.getTracks()) t.stop();
    state.stream = null;
    video.srcObject = null;
    state.wakeLock?.release?.().catch(() => {});
    state.wakeLock = null;
    setRunning(false);
    status.textContent = 'Camera off';
  }

  form.addEventListener('submit', start);
  stopButton.addEventListener('click', stop);
  endButton.addEventListener('click', () => {
    if (!state.connection || !state.connection.endLift()) showAlert('Not connected: the lift cannot be ended now.');
  });

  return () => {
    window.removeEventListener('resize', resize);
    stop();
  };
}

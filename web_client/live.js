// The live view: a phone on a tripod beside the platform. Choose the lift, start the rear camera,
// stream it to the server, and read back the bar path, bar velocity, the phase and, after each
// lift, a summary card with a link to the finalised session.

import { field, h, replace, title } from './dom.js';
import { LiftCards } from './live_cards.js';
import { drawOverlay, LiftTrace } from './overlay.js';
import { LiveConnection } from './rtc.js';
import { format, KG_PER_LB, preferredSystem, setPreferredSystem, unitLabel } from './units.js';

const NO_PLATE_AFTER_MS = 2500;
const JOINTS = ['hip', 'knee', 'ankle', 'elbow', 'shoulder'];

const CAMERA_ERRORS = {
  NotAllowedError: 'Camera access was denied. Allow the camera for this site (the camera icon in the address bar, or the browser settings), then press Start camera again.',
  SecurityError: 'Camera access was denied. Allow the camera for this site, then press Start camera again.',
  NotFoundError: 'No camera was found on this device.',
  OverconstrainedError: 'No camera on this device can film this way.',
  NotReadableError: 'The camera is busy: close other apps or tabs using it, then press Start camera again.',
};

const STATE_TEXT = {
  connecting: 'Connecting…',
  connected: 'Live: waiting for a lift',
  reconnecting: 'Connection lost, reconnecting…',
  failed: 'Not connected',
  closed: 'Camera off',
};

function settingsForm(system) {
  const exercise = field('Exercise', 'select', { name: 'exercise' }, [
    ['snatch', 'Snatch'], ['clean', 'Clean'], ['clean_and_jerk', 'Clean and jerk'],
  ]);
  const mass = field(`Barbell mass (${unitLabel('mass', system)})`, 'number', {
    name: 'barbell_mass', min: '1', max: system === 'imperial' ? '1100' : '500', step: '0.5',
    value: system === 'imperial' ? '135' : '60', inputmode: 'decimal',
  });
  const units = field('Units', 'select', { name: 'units' }, [['metric', 'Metric (kg, m/s)'], ['imperial', 'Imperial (lb, ft/s)']]);
  units.input.value = system;
  const name = field('Session title (optional)', 'text', { name: 'title', maxlength: '200' });
  const joints = JOINTS.map((j) => h('label', { class: 'check', for: `joint-${j}` },
    h('input', { type: 'checkbox', id: `joint-${j}`, value: j, checked: j === 'hip' || j === 'knee' }), j));
  const more = h('details', { class: 'more' }, h('summary', { text: 'More options' }),
    name.wrap, h('fieldset', {}, h('legend', { text: 'Joint angles in the report' }), joints));
  return { exercise, mass, units, name, joints, more };
}

/** Render the live view into `root`. Returns a cleanup function (stops camera and connection). */
export function liveView(root) {
  const state = {
    connection: null,
    stream: null,
    trace: new LiftTrace(),
    lastSampleAt: 0,
    plateTimer: null,
    peak: null,
    generation: 0, // counts connections: lift numbers restart on each one
    lift: 0,
    wakeLock: null,
    system: preferredSystem(),
  };

  const video = h('video', { class: 'live-video', playsinline: true, muted: true, autoplay: true, 'aria-label': 'Camera picture' });
  const overlay = h('canvas', { class: 'live-overlay', 'aria-hidden': 'true' });
  const empty = h('p', { class: 'stage-empty', text: 'Put the phone on a tripod side-on to the platform, with the whole barbell and a plate in view, then press Start camera.' });
  const status = h('p', { id: 'live-status', class: 'live-status', role: 'status', 'aria-live': 'polite', text: 'Camera off' });
  const alert = h('p', { id: 'live-alert', class: 'live-alert', role: 'alert', hidden: true });
  const velocity = h('output', { id: 'velocity', class: 'velocity', 'aria-live': 'off', text: '—' });
  const velocityUnit = h('span', { class: 'velocity-unit' });
  const peak = h('output', { id: 'peak-velocity', class: 'peak', text: '—' });
  const phase = h('output', { id: 'phase', class: 'phase', 'aria-live': 'polite', text: '—' });
  const hud = h('div', { class: 'hud' },
    h('div', { class: 'readout' },
      h('span', { class: 'readout-label', text: 'Bar velocity' }),
      h('span', { class: 'velocity-line' }, velocity, velocityUnit)),
    h('div', { class: 'readout small' }, h('span', { class: 'readout-label', text: 'Peak' }), peak),
    h('div', { class: 'readout small' }, h('span', { class: 'readout-label', text: 'Phase' }), phase));
  const stage = h('div', { class: 'stage' }, video, overlay, empty, hud, status, alert);

  const f = settingsForm(state.system);
  const startButton = h('button', { type: 'submit', id: 'start-live', class: 'primary', text: 'Start camera' });
  const endButton = h('button', { type: 'button', id: 'end-lift', text: 'End lift', hidden: true });
  const stopButton = h('button', { type: 'button', id: 'stop-live', text: 'Stop', hidden: true });
  // While streaming the settings are fixed: one line says what they are, and the buttons that
  // matter then (End lift, Stop) move up where a phone in landscape can still show them.
  const settingsLine = h('p', { id: 'live-settings', class: 'settings-line', hidden: true });
  const form = h('form', { class: 'live-form', 'aria-label': 'Live analysis settings' },
    h('div', { class: 'settings' }, h('div', { class: 'row' }, f.exercise.wrap, f.mass.wrap, f.units.wrap), f.more),
    settingsLine,
    h('div', { class: 'row buttons' }, startButton, endButton, stopButton));
  const cardList = h('section', { class: 'cards', 'aria-label': 'Lift summaries' });
  const cards = new LiftCards(cardList);
  replace(root, h('div', { class: 'live' }, stage, h('div', { class: 'panel' }, form, cardList)));

  const currentSystem = () => state.system;
  velocityUnit.textContent = unitLabel('velocity', currentSystem());

  function showAlert(text, kind = '') {
    alert.hidden = !text;
    alert.textContent = text || '';
    alert.dataset.kind = text ? kind : '';
  }

  const redraw = () => drawOverlay(overlay, video, state.trace, state.connection?.sentSize);
  const resized = new ResizeObserver(redraw);
  resized.observe(stage);

  function applySystem(system) {
    // Keep the mass the same weight when the unit changes; a running stream keeps its units.
    if (state.connection) {
      f.units.input.value = state.system;
      return;
    }
    const from = state.system;
    state.system = system === 'imperial' ? 'imperial' : 'metric';
    f.units.input.value = state.system;
    const v = Number(f.mass.input.value);
    if (from !== system && Number.isFinite(v) && v > 0) {
      const kg = from === 'imperial' ? v * KG_PER_LB : v;
      f.mass.input.value = (system === 'imperial' ? kg / KG_PER_LB : kg).toFixed(1).replace(/\.0$/, '');
    }
    f.mass.input.max = system === 'imperial' ? '1100' : '500';
    f.mass.wrap.querySelector('label').textContent = `Barbell mass (${unitLabel('mass', system)})`;
    velocityUnit.textContent = unitLabel('velocity', system);
    if (state.peak !== null) peak.textContent = format('velocity', state.peak, system);
  }
  // The app tells every view (this one included) of the change through the liftstream:units event.
  f.units.input.addEventListener('change', () => setPreferredSystem(f.units.input.value));
  const onUnits = (e) => applySystem(e.detail);
  window.addEventListener('liftstream:units', onUnits);

  function onSample(m) {
    state.lastSampleAt = performance.now();
    if (alert.dataset.kind === 'noplate') showAlert('');
    state.trace.add(m.x_px, m.y_px, m.confidence);
    const sys = currentSystem();
    if (typeof m.vy_mps === 'number') {
      velocity.textContent = format('velocity', m.vy_mps, sys, { unit: false });
      if (state.trace.inLift && (state.peak === null || m.vy_mps > state.peak)) {
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
      state.trace.startLift();
    }
    phase.textContent = title(m.name);
    phase.dataset.phase = m.name;
    status.textContent = 'Live: lift in progress';
  }

  const liftKey = (lift) => `${state.generation}:${lift}`;
  const liftDetail = (detail) => String(detail || '').replace(/^lift \d+:\s*/, '');

  function onMessage(e) {
    const m = e.detail.message;
    if (m.type === 'sample') onSample(m);
    else if (m.type === 'phase') onPhase(m);
    else if (m.type === 'lift_summary') {
      cards.summary(liftKey(m.lift), m, currentSystem());
      phase.textContent = 'Lift done';
      phase.dataset.phase = 'done';
      status.textContent = STATE_TEXT.connected;
      state.trace.endLift();
      redraw();
    } else if (m.type === 'lift_cancelled') {
      // Not a lift (the bar came back down without a pull): the next lift takes its number.
      state.lift = null;
      state.peak = null;
      peak.textContent = '—';
      phase.textContent = '—';
      phase.dataset.phase = '';
      status.textContent = STATE_TEXT.connected;
      state.trace.cancelLift();
      redraw();
    } else if (m.type === 'session') cards.session(liftKey(m.lift), m.session_id);
    else if (m.type === 'ended' && m.lift === null) showAlert('There was no lift to end: nothing was recorded since the last one.', 'info');
    else if (m.type === 'error') {
      if (typeof m.lift === 'number') cards.failed(liftKey(m.lift), m.code, liftDetail(m.detail));
      else showAlert(m.fatal ? `The server closed the stream: ${m.detail}` : `Server: ${m.detail}`, 'server');
    }
  }

  function onState(e) {
    const { state: s, detail } = e.detail;
    status.textContent = STATE_TEXT[s] + (detail && s === 'reconnecting' ? ` (${detail})` : '');
    status.dataset.state = s;
    if (s === 'connected') {
      state.generation += 1;
      state.lift = 0;
      state.lastSampleAt = performance.now();
      if (alert.dataset.kind === 'connection') showAlert('');
    } else if (s === 'reconnecting') {
      showAlert(`The connection dropped; reconnecting by itself${detail ? ` (${detail})` : ''}.`, 'connection');
    } else if (s === 'failed') {
      showAlert(`The connection to the server failed: ${detail} Press Start camera to try again.`, 'connection');
      stop({ keepAlert: true });
    }
  }

  function watchPlate() {
    clearInterval(state.plateTimer);
    state.plateTimer = setInterval(() => {
      const live = state.connection?.state === 'connected';
      const quiet = performance.now() - state.lastSampleAt > NO_PLATE_AFTER_MS;
      if (live && quiet && alert.hidden) {
        showAlert('No plate visible: film from the side so a plate faces the camera, with the whole barbell in view.', 'noplate');
      }
    }, 500);
  }

  function setRunning(running) {
    form.classList.toggle('running', running);
    settingsLine.hidden = !running;
    if (running) {
      const m = startMessage();
      const mass = m.barbell_mass ? `${m.barbell_mass} ${unitLabel('mass', m.units)}` : 'default mass';
      settingsLine.textContent = `${f.exercise.input.selectedOptions[0].textContent} · ${mass} · ${m.units}`;
    }
    startButton.hidden = running;
    endButton.hidden = !running;
    stopButton.hidden = !running;
    empty.hidden = running;
    for (const el of form.querySelectorAll('select, input')) el.disabled = running;
  }

  function startMessage() {
    const joints = f.joints.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    const message = { exercise: f.exercise.input.value, units: currentSystem(), joints: joints.length ? joints : ['hip', 'knee'] };
    const mass = Number(f.mass.input.value);
    if (Number.isFinite(mass) && mass > 0) message.barbell_mass = mass;
    if (f.name.input.value.trim()) message.title = f.name.input.value.trim();
    return message;
  }

  async function openCamera() {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw Object.assign(new Error('The camera needs a secure page (https). Start the server with `liftstream serve --https` and open the https address it prints.'), { known: true });
    }
    return navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: 'environment' }, width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
    });
  }

  async function start(ev) {
    ev.preventDefault();
    if (state.connection) return;
    showAlert('');
    status.textContent = 'Starting the camera…';
    try {
      state.stream = state.stream || await openCamera();
    } catch (error) {
      showAlert(error.known ? error.message : (CAMERA_ERRORS[error.name] || `The camera could not start: ${error.message}`), 'camera');
      status.textContent = 'Camera off';
      return;
    }
    video.srcObject = state.stream;
    video.addEventListener('loadedmetadata', redraw, { once: true });
    video.play().catch(() => {}); // autoplay (muted) normally starts it; play() covers the rest
    setRunning(true);
    state.connection = new LiveConnection(state.stream, startMessage());
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

  function stop({ keepAlert = false } = {}) {
    clearInterval(state.plateTimer);
    const connection = state.connection;
    state.connection = null;
    if (connection) {
      connection.removeEventListener('state', onState);
      connection.close();
    }
    if (state.stream) for (const t of state.stream.getTracks()) t.stop();
    state.stream = null;
    video.srcObject = null;
    state.wakeLock?.release?.().catch(() => {});
    state.wakeLock = null;
    setRunning(false);
    if (!keepAlert) showAlert('');
    status.textContent = 'Camera off';
    status.dataset.state = 'closed';
    velocity.textContent = '—';
    redraw();
  }

  form.addEventListener('submit', start);
  stopButton.addEventListener('click', () => stop());
  endButton.addEventListener('click', () => {
    if (!state.connection?.endLift()) showAlert('Not connected: the lift cannot be ended now.', 'connection');
  });

  return () => {
    resized.disconnect();
    window.removeEventListener('liftstream:units', onUnits);
    stop();
  };
}

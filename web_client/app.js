// The app shell: sign-in state, the header, and a hash router over the views
// (#/live, #/sessions, #/session/<id>). Each view returns a cleanup function that the router
// calls before showing the next one (it stops the camera, timers and polling).

import { api } from './api.js';
import { authConfig, captureTokenFromUrl, currentUser, signOut } from './auth.js';
import { h, replace } from './dom.js';
import { liveView } from './live.js';
import { sessionView } from './session.js';
import { sessionsView } from './sessions.js';
import { signinView } from './signin.js';
import { preferredSystem, setPreferredSystem } from './units.js';

const main = document.getElementById('view');
const nav = document.getElementById('nav');
let cleanup = null;
let config = { mode: 'local' };

function route() {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [page, ...rest] = hash.split('/');
  return { page: page || 'live', arg: rest.length ? decodeURIComponent(rest.join('/')) : null };
}

function renderNav(user) {
  const current = route().page;
  const link = (page, text) => h('a', { href: `#/${page}`, 'aria-current': current === page ? 'page' : null, text });
  if (!user) {
    replace(nav);
    return;
  }
  const units = h('select', { id: 'units', 'aria-label': 'Units' },
    h('option', { value: 'metric', text: 'Metric' }), h('option', { value: 'imperial', text: 'Imperial' }));
  units.value = preferredSystem();
  units.addEventListener('change', () => {
    setPreferredSystem(units.value);
    // The profile's system decides how new uploads and live sessions are stored: keep it in step.
    api(`/users/${encodeURIComponent(user.userId)}/profile`, { method: 'PUT', json: { measurement_system: units.value } }).catch(() => {});
    show();
  });
  const out = h('button', { type: 'button', id: 'sign-out', class: 'link', text: 'Sign out' });
  out.addEventListener('click', () => {
    signOut();
    show('You are signed out.');
  });
  replace(nav,
    h('ul', {}, h('li', {}, link('live', 'Live')), h('li', {}, link('sessions', 'Sessions'))),
    units,
    h('span', { class: 'user', title: user.userId, text: user.userId }),
    out);
}

/** Render the current route (or the signed-out page). */
function show(reason = null, { initial = false } = {}) {
  if (cleanup) cleanup();
  cleanup = null;
  const user = currentUser();
  if (!user || user.expired) {
    renderNav(null);
    const why = reason || (user?.expired ? 'Your sign-in has expired: get a new sign-in link.' : null);
    signinView(main, config, why, () => show());
    return;
  }
  renderNav(user);
  const { page, arg } = route();
  if (page === 'session' && arg) cleanup = sessionView(main, arg);
  else if (page === 'sessions') cleanup = sessionsView(main);
  else cleanup = liveView(main);
  document.title = `LiftStream · ${page === 'session' ? 'Session' : page === 'sessions' ? 'Sessions' : 'Live'}`;
  // Move focus to the new content for keyboard and screen-reader users (not on first load).
  if (!initial) main.focus({ preventScroll: false });
}

async function boot() {
  captureTokenFromUrl();
  config = await authConfig();
  window.addEventListener('hashchange', () => show());
  window.addEventListener('liftstream:signedout', (e) => show(`The server did not accept your sign-in: ${e.detail}`));
  show(null, { initial: true });
}

boot();

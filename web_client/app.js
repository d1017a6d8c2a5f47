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
  units.addEventListener('change', () => setPreferredSystem(units.value));
  const out = h('button', { type: 'button', id: 'sign-out', class: 'link', text: 'Sign out' });
  out.addEventListener('click', () => {
    signOut();
    show('You are signed out.');
  });
  replace(nav,
    h('ul', {}, h('li', {}, link('live', 'Live')), h('li', {}, link('sessions', 'Sessions'))),
    units,
    h('span', { class: 'user', title: user.userId, text: user.email || user.userId }),
    out);
}

/** Render the current route (or the signed-out page). */
function show(reason = null, { initial = false } = {}) {
  if (cleanup) cleanup();
  cleanup = null;
  const user = currentUser();
  if (!user || user.expired) {
    renderNav(null);
    main.classList.remove('live-main');
    const why = reason || (user?.expired ? 'Your sign-in has expired: get a new sign-in link.' : null);
    signinView(main, config, why, () => show());
    return;
  }
  renderNav(user);
  const { page, arg } = route();
  main.classList.toggle('live-main', page !== 'session' && page !== 'sessions');
  if (page === 'session' && arg) cleanup = sessionView(main, arg);
  else if (page === 'sessions') cleanup = sessionsView(main);
  else cleanup = liveView(main);
  document.title = `LiftStream · ${page === 'session' ? 'Session' : page === 'sessions' ? 'Sessions' : 'Live'}`;
  // Move focus to the new content for keyboard and screen-reader users (not on first load).
  if (!initial) main.focus({ preventScroll: false });
}

/** A new unit system: keep the profile in step (it decides how new sessions are stored) and
 * redraw the views that show stored numbers; the live view converts in place. */
function unitsChanged(system) {
  const user = currentUser();
  const select = document.getElementById('units');
  if (select) select.value = system;
  if (!user || user.expired) return;
  api(`/users/${encodeURIComponent(user.userId)}/profile`, { method: 'PUT', json: { measurement_system: system } })
    .catch((error) => console.warn('liftstream: the profile unit system was not saved', error));
  if (route().page === 'session' || route().page === 'sessions') show();
}

async function boot() {
  captureTokenFromUrl();
  config = await authConfig();
  // The skip link must not change the #route: move focus to the content instead.
  document.getElementById('skip-link')?.addEventListener('click', (e) => {
    e.preventDefault();
    main.focus();
  });
  window.addEventListener('liftstream:units', (e) => unitsChanged(e.detail));
  window.addEventListener('hashchange', () => show());
  window.addEventListener('liftstream:signedout', (e) => show(`The server did not accept your sign-in: ${e.detail}`));
  show(null, { initial: true });
}

boot();

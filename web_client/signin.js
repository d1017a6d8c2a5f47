// The signed-out page: in local mode, how to get a sign-in link (or paste a token); in firebase
// mode, an email + password form.

import { captureTokenFromUrl, firebaseSignIn, jwtClaims, SignInError } from './auth.js';
import { field, h, replace } from './dom.js';

/** Render the page. config: authConfig(). reason: why we are here (shown first). onSignedIn(). */
export function signinView(root, config, reason, onSignedIn) {
  const note = h('p', { id: 'signin-status', class: 'form-note', role: 'alert' });
  const intro = h('p', { class: 'lead', text: 'LiftStream measures your snatch, clean and jerk from a phone camera: bar path, bar speed and lift phases, live, with a full report afterwards.' });
  const why = reason ? h('p', { class: 'error-text', role: 'alert', text: reason }) : null;
  let body;
  if (config.mode === 'firebase') {
    const email = field('Email', 'email', { name: 'email', autocomplete: 'username', required: true });
    const password = field('Password', 'password', { name: 'password', autocomplete: 'current-password', required: true });
    const submit = h('button', { type: 'submit', class: 'primary', text: 'Sign in' });
    body = h('form', { id: 'signin-form', class: 'signin', 'aria-label': 'Sign in' }, email.wrap, password.wrap, submit, note);
    body.addEventListener('submit', async (e) => {
      e.preventDefault();
      submit.disabled = true;
      note.textContent = 'Signing in…';
      try {
        await firebaseSignIn(config, email.input.value.trim(), password.input.value);
        onSignedIn();
      } catch (error) {
        note.textContent = error instanceof SignInError ? error.message : `Sign-in failed: ${error.message}`;
      } finally {
        submit.disabled = false;
      }
    });
  } else {
    const token = field('Or paste a token', 'text', { name: 'token', autocomplete: 'off', spellcheck: 'false' });
    const submit = h('button', { type: 'submit', text: 'Use this token' });
    const form = h('form', { id: 'token-form', class: 'signin', 'aria-label': 'Sign in with a token' }, token.wrap, submit, note);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const value = token.input.value.trim();
      if (!jwtClaims(value)?.sub) {
        note.textContent = 'That is not a LiftStream token (it should look like three dot-separated parts, eyJ…).';
        return;
      }
      const url = new URL(window.location.href);
      url.searchParams.set('token', value);
      window.history.replaceState(null, '', url.pathname + url.search + url.hash);
      captureTokenFromUrl();
      onSignedIn();
    });
    body = h('div', {},
      h('p', {}, 'Open the sign-in link that ', h('code', { text: 'liftstream serve' }),
        ' printed when it started (it ends in ', h('code', { text: '/?token=…' }), '). To make a link for someone else, run ',
        h('code', { text: 'liftstream token create --user NAME' }), ' and open ', h('code', { text: `${window.location.origin}/?token=` }), ' followed by the token.'),
      form);
  }
  replace(root, h('section', { class: 'signed-out', 'aria-labelledby': 'signin-heading' },
    h('h1', { id: 'signin-heading', text: 'Sign in to LiftStream' }), why, intro, body));
}

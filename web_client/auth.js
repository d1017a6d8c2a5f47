// Who is signed in, and the bearer token to send.
//
// Local mode: `liftstream serve` prints a URL carrying a token (/?token=...). The page keeps the
// token in localStorage and takes it out of the address bar (so it is not bookmarked, shared in
// a screenshot or sent as a Referer).
// Firebase mode: email + password against the Firebase Auth REST API of the configured auth host
// (Google's, or the emulator's in tests); the ID token is refreshed with the refresh token before
// it expires. No Firebase SDK is loaded: the page talks only to the server and the auth host.

const KEY = 'liftstream.auth';
const REFRESH_MARGIN_S = 120;

/** Decode a JWT's payload without verifying it (the server verifies); null if malformed. */
export function jwtClaims(token) {
  try {
    const part = token.split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const text = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    const claims = JSON.parse(text);
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

function load() {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) || 'null');
    return stored && typeof stored.token === 'string' ? stored : null;
  } catch {
    return null;
  }
}

function save(state) {
  if (state) localStorage.setItem(KEY, JSON.stringify(state));
  else localStorage.removeItem(KEY);
}

/**
 * Take `?token=` out of the address bar into storage. Returns true when a token was found.
 * The rest of the URL (path, other parameters, the #route) is kept.
 */
export function captureTokenFromUrl() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get('token');
  if (!token) return false;
  url.searchParams.delete('token');
  window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  save({ mode: 'local', token });
  return true;
}

/** The current sign-in: {mode, userId, admin, email, expired} or null when signed out. */
export function currentUser() {
  const state = load();
  if (!state) return null;
  const claims = jwtClaims(state.token);
  if (!claims) return null;
  const userId = String(claims.sub || claims.user_id || '');
  if (!userId) return null;
  const exp = Number(claims.exp || 0);
  // A firebase token past its expiry is still fine while a refresh token can renew it.
  const expired = exp > 0 && exp * 1000 < Date.now() && !state.refreshToken;
  return {
    mode: state.mode,
    userId,
    admin: claims.admin === true,
    plan: typeof claims.plan === 'string' ? claims.plan : null,
    email: state.email || claims.email || null,
    expired,
  };
}

export function signOut() {
  save(null);
}

/** Forget a token the server refused (so the signed-out page shows); keeps nothing stale. */
export function forgetToken() {
  save(null);
}

/** The bearer token to send, refreshed first when a firebase token is about to expire. */
export async function bearerToken() {
  const state = load();
  if (!state) return null;
  if (state.mode === 'firebase' && state.refreshToken) {
    const exp = Number((jwtClaims(state.token) || {}).exp || 0);
    if (exp * 1000 - Date.now() < REFRESH_MARGIN_S * 1000) {
      await refreshFirebase(state);
      return load()?.token ?? null;
    }
  }
  return state.token;
}

/**
 * Firebase settings from the server's /healthz (auth_mode and, in firebase mode, a `firebase`
 * object with api_key and auth_host). Returns {mode, apiKey, authHost, tokenHost}.
 */
export async function authConfig() {
  let health = {};
  try {
    const response = await fetch('/healthz', { headers: { Accept: 'application/json' } });
    health = await response.json();
  } catch {
    health = {};
  }
  const fb = health.firebase && typeof health.firebase === 'object' ? health.firebase : {};
  const emulator = fb.emulator_host ? `http://${fb.emulator_host}` : null;
  return {
    mode: health.auth_mode === 'firebase' ? 'firebase' : 'local',
    apiKey: fb.api_key || null,
    authHost: fb.auth_host || (emulator ? `${emulator}/identitytoolkit.googleapis.com` : 'https://identitytoolkit.googleapis.com'),
    tokenHost: fb.token_host || (emulator ? `${emulator}/securetoken.googleapis.com` : 'https://securetoken.googleapis.com'),
  };
}

export class SignInError extends Error {}

const FIREBASE_MESSAGES = {
  EMAIL_NOT_FOUND: 'No account has this email address.',
  INVALID_PASSWORD: 'The password is wrong.',
  INVALID_LOGIN_CREDENTIALS: 'The email address or password is wrong.',
  USER_DISABLED: 'This account has been disabled.',
  INVALID_EMAIL: 'That is not a valid email address.',
  TOO_MANY_ATTEMPTS_TRY_LATER: 'Too many attempts: wait a little and try again.',
};

/** Sign in with email + password (Firebase Auth REST); stores the ID and refresh tokens. */
export async function firebaseSignIn(config, email, password) {
  if (!config.apiKey) {
    throw new SignInError('The server has no Firebase web API key configured; ask its operator.');
  }
  let response;
  try {
    response = await fetch(`${config.authHost}/v1/accounts:signInWithPassword?key=${encodeURIComponent(config.apiKey)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password, returnSecureToken: true }),
    });
  } catch {
    throw new SignInError('Cannot reach the sign-in service. Check the network and try again.');
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const code = String(body?.error?.message || '').split(' ')[0];
    throw new SignInError(FIREBASE_MESSAGES[code] || `Sign-in failed (${code || response.status}).`);
  }
  save({
    mode: 'firebase',
    token: body.idToken,
    refreshToken: body.refreshToken,
    email: body.email || email,
    tokenHost: config.tokenHost,
    apiKey: config.apiKey,
  });
}

async function refreshFirebase(state) {
  const response = await fetch(`${state.tokenHost}/v1/token?key=${encodeURIComponent(state.apiKey)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: state.refreshToken }),
  }).catch(() => null);
  if (!response || !response.ok) return; // keep the old token; the server will say if it is stale
  const body = await response.json();
  save({ ...state, token: body.id_token, refreshToken: body.refresh_token });
}

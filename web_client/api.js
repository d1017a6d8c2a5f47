// The REST API (/api/v1) with the bearer token. Errors come back as ApiError carrying the
// server's {"error": code, "detail": text}; a 401 also tells the app to show the signed-out page.

import { bearerToken, forgetToken } from './auth.js';

export const API = '/api/v1';

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

function signedOut(error) {
  forgetToken();
  window.dispatchEvent(new CustomEvent('liftstream:signedout', { detail: error.message }));
}

async function headers(extra = {}) {
  const token = await bearerToken();
  return token ? { Authorization: `Bearer ${token}`, ...extra } : { ...extra };
}

async function errorFrom(response) {
  const body = await response.json().catch(() => null);
  const code = body && typeof body.error === 'string' ? body.error : `http_${response.status}`;
  const detail = body && typeof body.detail === 'string' ? body.detail : response.statusText;
  return new ApiError(response.status, code, detail);
}

/** Call the API. options: {method, json (body), query ({name: value})}. Resolves to JSON. */
export async function api(path, { method = 'GET', json, query } = {}) {
  const url = new URL(API + path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, String(v));
  const init = { method, headers: await headers({ Accept: 'application/json' }) };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check the connection and retry.');
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401) signedOut(error);
    throw error;
  }
  return response.json();
}

/**
 * Upload a multipart form to POST /sessions with progress. onProgress(fraction 0..1) is called
 * while the bytes go up. Resolves to the created session's JSON.
 */
export async function uploadSession(formData, onProgress) {
  const auth = await headers();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${API}/sessions`);
    for (const [k, v] of Object.entries(auth)) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body) {
        resolve(body);
        return;
      }
      const error = new ApiError(xhr.status, body?.error || `http_${xhr.status}`, body?.detail || xhr.statusText);
      if (xhr.status === 401) signedOut(error);
      reject(error);
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'The upload failed: the connection dropped.')));
    xhr.send(formData);
  });
}

/** A user-facing sentence for an API error (plan gates get a plain explanation). */
export function explain(error) {
  if (!(error instanceof ApiError)) return String(error?.message || error);
  if (error.status === 0) return error.message;
  if (error.code === 'no_valid_plan' || /plan/i.test(error.detail || '')) {
    return `${error.detail} (your plan does not include this).`;
  }
  return error.detail || error.code;
}

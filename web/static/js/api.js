// The UI's only way to the server: JSON over /ui/api (see web/API.md).
// Keeps the CSRF token from login/me and sends it on every write; a 401
// sends the user to the login page (unless the caller handles it).

let csrfToken = '';
let onUnauthorized = () => {};

export function setCsrf(token) { csrfToken = token || ''; }
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// ApiError carries the server's own words ({"error": "..."}), the status
// and, for a refused field, its path ({"field": "steps[1].event"}; null
// when the answer names none): the builder flags that field's control.
export class ApiError extends Error {
  constructor(status, message, field = null) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

const WRITES = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);

// api('GET', '/projects/1/events') → parsed JSON (null for 204).
// opts: signal (AbortSignal), allow401 (do not redirect), csrf (false for
// the shared-dashboard endpoints, which need none).
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (WRITES.has(method) && opts.csrf !== false && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(`/ui/api${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal: opts.signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Cannot reach the server. Check your connection and try again.');
  }
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const msg = (data && data.error) || `${res.status} ${res.statusText || 'error'}`;
    const err = new ApiError(res.status, msg, data && typeof data.field === 'string' ? data.field : null);
    if (res.status === 401 && !opts.allow401) onUnauthorized();
    throw err;
  }
  return data;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body ?? {}, opts);
export const put = (path, body, opts) => api('PUT', path, body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

// Project-scoped paths.
export const P = (pid, rest = '') => `/projects/${encodeURIComponent(pid)}${rest}`;

// qs builds a query string, skipping empty values.
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v != null && v !== '') u.set(k, v);
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

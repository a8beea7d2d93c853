// The REST client of the page: one fetch wrapper that adds the token, counts
// requests in flight (for the loading indicator) and tells the page when the
// daemon is unreachable or asks for a token.

const TOKEN_KEY = 'hpod.token';
const PREFIX = '/api/v1';

export const status = new EventTarget();
let inflight = 0;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(t) {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the token lives for this page only */
  }
}

function emit(type, detail) {
  status.dispatchEvent(new CustomEvent(type, { detail }));
}

function busy(delta) {
  inflight += delta;
  emit('busy', inflight);
}

// GET (or another method with a JSON body) PREFIX + path; resolves to the
// parsed JSON. Rejects with ApiError for an HTTP error (401 also raises the
// 'auth' event) and with ApiError status 0 when the daemon cannot be reached
// ('unreachable' event). With full, resolves to {status, data, headers}
// instead (for answers such as 202 with Retry-After).
export async function api(path, { method = 'GET', body, signal, full = false } = {}) {
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  busy(1);
  let res;
  try {
    res = await fetch(PREFIX + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
  } catch (e) {
    busy(-1);
    if (e.name === 'AbortError') throw e;
    emit('unreachable', e.message);
    throw new ApiError(0, 'unreachable', 'hpod cannot be reached');
  }
  let data = null;
  try {
    const text = await res.text();
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  } finally {
    busy(-1);
  }
  emit('reachable');
  if (res.status === 401) {
    emit('auth', token ? 'The token was refused' : 'This hpod needs a token');
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(res.status, err.code || 'http', err.message || `HTTP ${res.status}`);
  }
  return full ? { status: res.status, data, headers: res.headers } : data;
}

// Encode one path segment (a study name).
export function seg(s) {
  return encodeURIComponent(s);
}

// Build a query string from an object, skipping null and ''.
export function query(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && v !== undefined && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

// The headers a download made outside api() needs (the bearer token).
export function authHeaders() {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export { PREFIX };

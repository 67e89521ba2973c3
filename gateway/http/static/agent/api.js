// The page's only way to the API: same origin, the bearer token in the Authorization
// header (never in a URL), JSON in and out, problems (RFC 9457) returned as data.

export class Api {
  constructor(token) {
    this.token = token;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, Accept: 'application/json', ...extra };
  }

  /** → {ok, status, data}; a network failure is status 0 with code "network". */
  async request(method, path, { body, headers, signal } = {}) {
    const init = { method, headers: this.headers(headers), cache: 'no-store', signal };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (error && error.name === 'AbortError') throw error;
      return { ok: false, status: 0, data: { code: 'network' } };
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok && (data === null || typeof data !== 'object' || !data.code)) {
      data = { code: response.status >= 500 ? 'internal_error' : 'invalid_request', ...(data || {}) };
    }
    return { ok: response.ok, status: response.status, data };
  }

  get(path, options) {
    return this.request('GET', path, options);
  }

  post(path, body, options = {}) {
    return this.request('POST', path, { ...options, body });
  }
}

/** `18612345678` → `186****5678`, as the server masks numbers. */
export function mask(number) {
  if (!number) return '';
  const n = String(number);
  if (n.length >= 11) return `${n.slice(0, 3)}****${n.slice(-4)}`;
  if (n.length >= 7) return `${n.slice(0, 2)}***${n.slice(-2)}`;
  return '***';
}

/**
 * A fresh Idempotency-Key: 128 random bits. crypto.getRandomValues works on plain http
 * inside the call centre's network too (crypto.randomUUID needs a secure context).
 */
export function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return 'agent-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** `/v1/...` path segments, escaped. */
export function path(strings, ...values) {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ''), '');
}

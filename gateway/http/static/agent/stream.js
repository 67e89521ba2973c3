// The screen-pop stream: Server-Sent Events read with fetch() so the request carries the
// bearer token in its Authorization header. (EventSource cannot send headers, and the
// long-lived token must never go into a URL, where proxies and logs would keep it.)
// Reconnects with back-off; a silent connection (no keepalive within WATCHDOG_MS) is
// treated as dead; after a reconnect the caller re-reads the call history, so a pop
// that happened while the stream was down is still found there.

const WATCHDOG_MS = 40_000; // the server sends a keepalive every 15 s
const MAX_BACKOFF_MS = 15_000;

/** Split complete SSE frames off `buffer`: → {events: [{event, data, id}], rest, retry}. */
export function parseSse(buffer) {
  const events = [];
  let retry = null;
  const normalised = buffer.replace(/\r\n?/g, '\n');
  const frames = normalised.split('\n\n');
  const rest = frames.pop();
  for (const frame of frames) {
    let event = 'message';
    let id = null;
    const data = [];
    for (const line of frame.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
    }
    if (data.length) events.push({ event, data: data.join('\n'), id });
  }
  return { events, rest, retry };
}

export class CallStream {
  /**
   * onCall(call) for every `call` event; onState(state) with
   * connecting | live | retrying | denied | stopped; onResync() after a reconnect.
   */
  constructor({ api, agentId, onCall, onState, onResync }) {
    Object.assign(this, { api, agentId, onCall, onState, onResync });
    this.controller = null;
    this.stopped = true;
    this.backoff = 1000;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
    this.onState('stopped');
  }

  async loop() {
    let connectedBefore = false;
    while (!this.stopped) {
      this.onState(connectedBefore ? 'retrying' : 'connecting');
      const outcome = await this.once(connectedBefore);
      if (this.stopped) return;
      if (outcome === 'denied') {
        this.stopped = true;
        this.onState('denied');
        return;
      }
      if (outcome === 'opened') {
        connectedBefore = true;
        this.backoff = this.retryMs || 1000;
      }
      this.onState('retrying');
      await new Promise((resolve) => setTimeout(resolve, this.backoff));
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    }
  }

  /** One connection: → 'denied' | 'opened' (and later closed) | 'failed'. */
  async once(isReconnect) {
    const controller = new AbortController();
    this.controller = controller;
    let watchdog = null;
    let opened = false;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => controller.abort(), WATCHDOG_MS);
    };
    try {
      arm();
      const url = `/v1/agents/${encodeURIComponent(this.agentId)}/events`;
      const response = await fetch(url, {
        headers: this.api.headers({ Accept: 'text/event-stream' }),
        cache: 'no-store',
        signal: controller.signal,
      });
      if ([400, 401, 403].includes(response.status)) return 'denied';
      if (!response.ok || !response.body) return 'failed';
      opened = true;
      this.onState('live');
      if (isReconnect && this.onResync) this.onResync();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        buffer += value;
        const parsed = parseSse(buffer);
        buffer = parsed.rest;
        if (parsed.retry) this.retryMs = parsed.retry;
        for (const item of parsed.events) {
          if (item.event !== 'call') continue;
          try {
            this.onCall(JSON.parse(item.data));
          } catch (error) {
            console.error('callgate: unreadable call event', error);
          }
        }
      }
      return 'opened';
    } catch {
      return opened ? 'opened' : 'failed'; // aborted by the watchdog or stop(), or the network broke
    } finally {
      clearTimeout(watchdog);
    }
  }
}

// The chat's WebSocket: connects with the ID token as a subprotocol (never in the URL),
// reports its state, and reconnects after a drop with exponential backoff and jitter, into
// the current room (the connect URL's `room` parameter) and with a valid token.
//
// Events: "state" (detail {state, delayMs}), "open" (detail {room}), "frame" (detail: object).
// States: idle, connecting, open, reconnecting, closed.

const SUBPROTOCOL = 'chatdeploy';
const CONNECT_TIMEOUT_MS = 15_000;
const STABLE_AFTER_MS = 5_000; // a connection that lasted this long resets the backoff
const FORCE_REFRESH_EVERY_MS = 60_000;

/** Delay before reconnect attempt `attempt` (1, 2, …): "equal jitter" around 2^n growth. */
export function backoffDelay(attempt, { baseMs = 500, capMs = 30_000, random = Math.random } = {}) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export class ChatSocket extends EventTarget {
  #url;
  #getToken;
  #ws = null;
  #room = 'general';
  #wanted = false;
  #state = 'idle';
  #attempt = 0;
  #retryTimer = null; // set while waiting to reconnect
  #stableTimer = null;
  #connectTimer = null;
  #forceFreshToken = false;
  #lastForcedAt = -Infinity;
  #generation = 0; // bumped by stop(), so a connect still waiting for its token gives up

  /** @param {{url: string, getToken: (opts: {force: boolean}) => Promise<string>}} options */
  constructor({ url, getToken }) {
    super();
    this.#url = url;
    this.#getToken = getToken;
    window.addEventListener('online', () => {
      this.retryNow();
    });
  }

  get state() {
    return this.#state;
  }

  get isOpen() {
    return this.#state === 'open' && this.#ws !== null && this.#ws.readyState === WebSocket.OPEN;
  }

  /** The room the next connection starts in. */
  setRoom(room) {
    this.#room = room;
  }

  start(room) {
    if (room) this.#room = room;
    this.#wanted = true;
    if (this.#state === 'idle' || this.#state === 'closed') {
      this.#attempt = 0;
      this.#connect();
    }
  }

  /** Skip the remaining backoff wait. */
  retryNow() {
    if (!this.#wanted || this.#retryTimer === null) return;
    this.#connect();
  }

  /** Closes for good (sign-out): no reconnect. */
  stop() {
    this.#wanted = false;
    this.#generation += 1;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    clearTimeout(this.#stableTimer);
    clearTimeout(this.#connectTimer);
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.close(1000, 'signed out');
    this.#setState('closed');
  }

  /** Sends one frame; false when not connected (the caller keeps the user's input). */
  send(frame) {
    if (!this.isOpen) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  // -- internals ---------------------------------------------------------------------------

  #setState(state, delayMs = 0) {
    this.#state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, delayMs } }));
  }

  async #connect() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const generation = this.#generation;
    this.#setState(this.#attempt === 0 ? 'connecting' : 'reconnecting');
    let token;
    try {
      const force = this.#forceFreshToken;
      token = await this.#getToken({ force });
      if (force) {
        this.#forceFreshToken = false;
        this.#lastForcedAt = Date.now();
      }
    } catch (error) {
      if (generation !== this.#generation) return;
      if (error && error.isAuthFailure) {
        this.stop(); // the session has ended; the app shows the sign-in form
        return;
      }
      this.#scheduleReconnect(); // e.g. offline: Cognito unreachable
      return;
    }
    if (generation !== this.#generation || !this.#wanted) return;
    if (!token) {
      this.stop();
      return;
    }
    const room = this.#room;
    const url = new URL(this.#url);
    url.searchParams.set('room', room);
    let ws;
    try {
      ws = new WebSocket(url.href, [SUBPROTOCOL, token]);
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    let opened = false;
    this.#connectTimer = setTimeout(() => ws.close(), CONNECT_TIMEOUT_MS);

    ws.addEventListener('open', () => {
      if (this.#ws !== ws) return;
      opened = true;
      clearTimeout(this.#connectTimer);
      this.#stableTimer = setTimeout(() => {
        this.#attempt = 0;
      }, STABLE_AFTER_MS);
      this.#setState('open');
      this.dispatchEvent(new CustomEvent('open', { detail: { room } }));
    });
    ws.addEventListener('message', (event) => {
      if (this.#ws !== ws || typeof event.data !== 'string') return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame === 'object') this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
    });
    ws.addEventListener('close', () => {
      clearTimeout(this.#connectTimer);
      clearTimeout(this.#stableTimer);
      if (this.#ws !== ws) return;
      this.#ws = null;
      // A refused handshake looks the same as a network failure from here (the browser hides
      // the status). It may have been a token the server no longer accepts: fetch a fresh one
      // for the next try, at most once a minute so an outage does not hammer Cognito.
      if (!opened && Date.now() - this.#lastForcedAt > FORCE_REFRESH_EVERY_MS) this.#forceFreshToken = true;
      if (this.#wanted) this.#scheduleReconnect();
      else this.#setState('closed');
    });
  }

  #scheduleReconnect() {
    if (!this.#wanted) return;
    this.#attempt += 1;
    const delay = backoffDelay(this.#attempt);
    this.#setState('reconnecting', delay);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }
}

// "X is typing…": a throttle for the frames we send and a tracker for the ones we receive.

export const TYPING_SEND_INTERVAL_MS = 2_500;
export const TYPING_SHOW_MS = 4_000;

/** Returns a function that calls `send` at most once per `intervalMs`. */
export function throttle(send, intervalMs = TYPING_SEND_INTERVAL_MS, now = () => Date.now()) {
  let last = -Infinity;
  const throttled = () => {
    const t = now();
    if (t - last < intervalMs) return;
    last = t;
    send();
  };
  throttled.reset = () => {
    last = -Infinity;
  };
  return throttled;
}

/** Who is typing, each entry forgotten `showMs` after their last typing frame. */
export class TypingTracker {
  #timers = new Map(); // userId -> timeout
  #names = new Map(); // userId -> displayName
  #onChange;
  #showMs;

  constructor(onChange, showMs = TYPING_SHOW_MS) {
    this.#onChange = onChange;
    this.#showMs = showMs;
  }

  saw(userId, displayName) {
    clearTimeout(this.#timers.get(userId));
    this.#names.set(userId, displayName);
    this.#timers.set(userId, setTimeout(() => this.stopped(userId), this.#showMs));
    this.#onChange(this.text());
  }

  stopped(userId) {
    if (!this.#names.has(userId)) return;
    clearTimeout(this.#timers.get(userId));
    this.#timers.delete(userId);
    this.#names.delete(userId);
    this.#onChange(this.text());
  }

  clear() {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#names.clear();
    this.#onChange('');
  }

  text() {
    const names = [...this.#names.values()];
    if (names.length === 0) return '';
    if (names.length === 1) return `${names[0]} is typing…`;
    if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
    return 'Several people are typing…';
  }
}

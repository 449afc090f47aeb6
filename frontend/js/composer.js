// The message box: Enter sends (Shift+Enter adds a line), a UTF-8 byte counter against
// config.maxMessageBytes, and typing notifications (throttled by the caller's onTyping).

import { byId } from './dom.js';

const encoder = new TextEncoder();

export function utf8Length(text) {
  return encoder.encode(text).length;
}

export class Composer {
  #maxBytes;
  #onSend;
  #onTyping;
  #onBlocked;
  #connected = false;
  #lastSent = '';

  /**
   * @param {{maxBytes: number, onSend: (text: string) => boolean, onTyping: () => void,
   *          onBlocked: (reason: string) => void}} options
   */
  constructor({ maxBytes, onSend, onTyping, onBlocked }) {
    this.#maxBytes = maxBytes;
    this.#onSend = onSend;
    this.#onTyping = onTyping;
    this.#onBlocked = onBlocked;
    this.form = byId('composer');
    this.input = byId('composer-input');
    this.counter = byId('composer-counter');
    this.button = byId('send-button');

    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#submit();
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        this.#submit();
      }
    });
    this.input.addEventListener('input', () => {
      this.#update();
      if (this.input.value.trim()) this.#onTyping();
    });
    this.#update();
  }

  setConnected(connected) {
    this.#connected = connected;
    this.#update();
  }

  setPlaceholder(text) {
    this.input.placeholder = text;
  }

  focus() {
    this.input.focus();
  }

  /** The text that would be sent: surrounding whitespace trimmed. */
  get text() {
    return this.input.value.trim();
  }

  #update() {
    const bytes = utf8Length(this.text);
    const over = bytes > this.#maxBytes;
    this.counter.textContent = `${bytes} / ${this.#maxBytes} bytes`;
    this.counter.dataset.level = over ? 'over' : bytes > this.#maxBytes * 0.9 ? 'near' : 'ok';
    this.input.setAttribute('aria-invalid', over ? 'true' : 'false');
    const blocked = over || !this.#connected || bytes === 0;
    this.button.setAttribute('aria-disabled', blocked ? 'true' : 'false');
  }

  #submit() {
    const text = this.text;
    if (!text) return;
    const bytes = utf8Length(text);
    if (bytes > this.#maxBytes) {
      this.#onBlocked(`Your message is ${bytes} bytes; the limit is ${this.#maxBytes}. Please shorten it.`);
      return;
    }
    if (!this.#connected) {
      this.#onBlocked('Not connected right now. Your message is kept here; send it again once we are back.');
      return;
    }
    if (this.#onSend(text)) {
      this.#lastSent = text;
      this.input.value = '';
      this.#update();
    }
  }

  /** Puts the last sent text back (the server refused it), unless the user typed since. */
  restoreLastSent() {
    if (!this.#lastSent || this.input.value) return;
    this.input.value = this.#lastSent;
    this.#lastSent = '';
    this.#update();
  }
}

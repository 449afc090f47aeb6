// Everything the chat shows: the room list, the messages, presence and typing.
// Every user-supplied string (names, messages, room ids) goes in through textContent or
// text nodes (dom.js `el`), never as HTML.

import { byId, el, setMessage } from './dom.js';
import { hashFor } from './rooms.js';

const NEAR_EDGE_PX = 80;
const NOTICE_MS = 6_000;

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayTimeFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Orders messages by time, then id, so equal timestamps still sort the same everywhere. */
function before(a, b) {
  return a.timestamp < b.timestamp || (a.timestamp === b.timestamp && a.messageId < b.messageId);
}

export class ChatView {
  #selfId = null;
  #entries = []; // [{messageId, timestamp, node}] sorted oldest first
  #ids = new Set();
  #noticeTimer = null;
  #historyState = { loading: false, more: false };

  constructor() {
    this.scroller = byId('messages');
    this.list = byId('message-list');
    this.loadOlderButton = byId('load-older');
    this.historyStatus = byId('history-status');
    this.presenceList = byId('presence-list');
    this.peopleCount = byId('people-count');
    this.typing = byId('typing');
    this.roomTitle = byId('room-title');
    this.roomList = byId('room-list');
    this.notice = byId('chat-notice');
  }

  setSelf(userId) {
    this.#selfId = userId;
  }

  /** Empties the conversation and shows `room` as the current one. */
  enterRoom(room) {
    this.roomTitle.textContent = `# ${room}`;
    this.list.replaceChildren();
    this.#entries = [];
    this.#ids.clear();
    this.presenceList.replaceChildren();
    this.peopleCount.textContent = '';
    this.setTyping('');
    this.setHistory({ loading: true, more: false });
  }

  renderRooms(rooms, current) {
    this.roomList.replaceChildren(...rooms.map((room) => {
      const link = el('a', { className: 'room-link', attrs: { href: hashFor(room) } }, el('span', { className: 'room-hash', attrs: { 'aria-hidden': 'true' }, text: '#' }), room);
      if (room === current) link.setAttribute('aria-current', 'page');
      return el('li', {}, link);
    }));
  }

  get oldestTimestamp() {
    return this.#entries.length ? this.#entries[0].timestamp : null;
  }

  get messageCount() {
    return this.#entries.length;
  }

  isNearTop() {
    return this.scroller.scrollTop < NEAR_EDGE_PX;
  }

  isNearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_EDGE_PX;
  }

  /** Whether the list is too short to scroll (so "scroll up for more" cannot happen). */
  get canScroll() {
    return this.scroller.scrollHeight > this.scroller.clientHeight + 1;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /**
   * Adds messages (any order, duplicates ignored). `mode`: "live" (a new message),
   * "latest" (the newest page of history) or "older" (a page above what is shown).
   */
  addMessages(messages, mode) {
    const wasEmpty = this.#entries.length === 0;
    const wasNearBottom = this.isNearBottom();
    const oldHeight = this.scroller.scrollHeight;
    const oldTop = this.scroller.scrollTop;
    let ownAdded = false;
    for (const message of messages) {
      if (!this.#valid(message) || this.#ids.has(message.messageId)) continue;
      this.#insert(message);
      if (message.userId === this.#selfId) ownAdded = true;
    }
    if (wasEmpty && this.#entries.length) this.setHistory(this.#historyState); // "No messages yet" goes
    if (mode === 'older') {
      this.scroller.scrollTop = oldTop + (this.scroller.scrollHeight - oldHeight);
    } else if (wasEmpty || wasNearBottom || (mode === 'live' && ownAdded)) {
      this.scrollToBottom();
    }
  }

  setHistory({ loading, more }) {
    this.#historyState = { loading, more };
    this.loadOlderButton.hidden = loading || !more;
    if (loading) this.historyStatus.textContent = 'Loading messages…';
    else if (more) this.historyStatus.textContent = '';
    else this.historyStatus.textContent = this.#entries.length ? 'This is the start of the room.' : 'No messages yet. Say hello!';
  }

  setPresence(users) {
    const unique = new Map();
    for (const user of users) {
      if (user && typeof user.userId === 'string') unique.set(user.userId, String(user.displayName ?? user.userId));
    }
    const items = [...unique].map(([userId, name]) => {
      const self = userId === this.#selfId;
      return el('li', { className: self ? 'person person-self' : 'person' },
        el('span', { className: 'presence-dot', attrs: { 'aria-hidden': 'true' } }),
        el('span', { className: 'person-name', text: name }),
        self ? el('span', { className: 'person-you', text: ' (you)' }) : null);
    });
    this.presenceList.replaceChildren(...items);
    this.peopleCount.textContent = `(${items.length})`;
  }

  setTyping(text) {
    this.typing.textContent = text;
  }

  showNotice(text) {
    clearTimeout(this.#noticeTimer);
    setMessage(this.notice, text);
    if (text) this.#noticeTimer = setTimeout(() => setMessage(this.notice, ''), NOTICE_MS);
  }

  // -- internals ---------------------------------------------------------------------------

  #valid(m) {
    return m && typeof m.messageId === 'string' && typeof m.message === 'string' && Number.isFinite(m.timestamp);
  }

  #insert(message) {
    const node = this.#render(message);
    const entry = { messageId: message.messageId, timestamp: message.timestamp, node };
    // Binary search for the first entry that sorts after this one.
    let lo = 0;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(entry, this.#entries[mid])) hi = mid;
      else lo = mid + 1;
    }
    const next = this.#entries[lo];
    this.list.insertBefore(node, next ? next.node : null);
    this.#entries.splice(lo, 0, entry);
    this.#ids.add(message.messageId);
  }

  #render(message) {
    const own = message.userId === this.#selfId;
    const when = new Date(message.timestamp);
    const time = el('time', {
      className: 'msg-time',
      attrs: { datetime: when.toISOString(), title: fullFormat.format(when) },
      text: sameDay(when, new Date()) ? timeFormat.format(when) : dayTimeFormat.format(when),
    });
    return el('li', {
      className: own ? 'msg msg-own' : 'msg',
      attrs: { 'data-message-id': message.messageId },
    },
    el('div', { className: 'msg-meta' },
      el('span', { className: 'msg-author', text: String(message.displayName ?? message.userId ?? 'unknown') }),
      own ? el('span', { className: 'visually-hidden', text: ' (you)' }) : null,
      ' ',
      time),
    el('p', { className: 'msg-text', text: message.message }));
  }
}

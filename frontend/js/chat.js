// The chat screen: wires the socket, the view, the composer, rooms and typing together and
// speaks the protocol (docs/protocol.md).

import { ChatView } from './chat-view.js';
import { Composer } from './composer.js';
import { byId } from './dom.js';
import { DEFAULT_ROOM, RoomList, hashFor, isValidRoom, roomFromHash } from './rooms.js';
import { ChatSocket } from './socket.js';
import { TypingTracker, throttle } from './typing.js';

const HISTORY_PAGE = 50;

const STATE_TEXT = {
  idle: 'Offline',
  connecting: 'Connecting…',
  open: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Offline',
};

const ERROR_TEXT = {
  too_long: (f) => f.message || 'That message is too long.',
  empty_message: () => 'Empty messages are not sent.',
  bad_room: () => 'That room name is not allowed. Use letters, numbers, - and _ (up to 64).',
  server_error: () => 'Something went wrong on the server. Please try again.',
};

export class ChatController {
  #config;
  #session;
  #socket;
  #view;
  #composer;
  #rooms = new RoomList();
  #typing;
  #sendTyping;
  #room = DEFAULT_ROOM;
  #self = null;
  #history = { loading: false, more: false, pending: [] };
  #unread = 0;

  constructor({ config, session }) {
    this.#config = config;
    this.#session = session;
    this.section = byId('chat');
    this.connBox = byId('conn');
    this.connState = byId('conn-state');
    this.reconnectNow = byId('reconnect-now');
    this.sidebar = byId('sidebar');
    this.sidebarToggle = byId('toggle-sidebar');

    this.#view = new ChatView();
    this.#typing = new TypingTracker((text) => this.#view.setTyping(text));
    this.#sendTyping = throttle(() => this.#socket.send({ action: 'typing', roomId: this.#room }));
    this.#composer = new Composer({
      maxBytes: config.maxMessageBytes,
      onSend: (text) => {
        const sent = this.#socket.send({ action: 'sendMessage', roomId: this.#room, message: text });
        // The others stop showing "typing" when the message arrives; say so again on the next key.
        if (sent) this.#sendTyping.reset();
        return sent;
      },
      onTyping: () => this.#sendTyping(),
      onBlocked: (reason) => this.#view.showNotice(reason),
    });

    this.#socket = new ChatSocket({
      url: config.websocketUrl,
      getToken: ({ force }) => this.#session.getIdToken({ force }),
    });
    this.#socket.addEventListener('state', (e) => this.#showState(e.detail.state));
    this.#socket.addEventListener('open', () => this.#opened());
    this.#socket.addEventListener('frame', (e) => this.#frame(e.detail));

    this.#bindUi();
  }

  /** Shows the chat for the signed-in `user` and connects. */
  start(user) {
    this.#self = user;
    this.#view.setSelf(user.userId);
    this.section.hidden = false;
    this.connBox.hidden = false;
    byId('skip-to-composer').hidden = false;
    const room = roomFromHash() || DEFAULT_ROOM;
    if (window.location.hash !== hashFor(room)) window.history.replaceState(null, '', hashFor(room));
    this.#enter(room);
    this.#socket.start(room);
    this.#composer.focus();
  }

  /** Sign-out: disconnect for good and hide the chat. */
  stop() {
    this.#socket.stop();
    this.#typing.clear();
    this.section.hidden = true;
    this.connBox.hidden = true;
    byId('skip-to-composer').hidden = true;
    this.#view.enterRoom(this.#room);
    document.title = 'Chat';
  }

  // -- rooms -------------------------------------------------------------------------------

  #enter(room) {
    this.#room = room;
    this.#rooms.add(room);
    this.#view.renderRooms(this.#rooms.rooms, room);
    this.#view.enterRoom(room);
    this.#typing.clear();
    this.#sendTyping.reset();
    this.#history = { loading: true, more: false, pending: [] };
    this.#socket.setRoom(room);
    this.#composer.setPlaceholder(`Message #${room}`);
    this.#unread = 0;
    this.#updateTitle();
  }

  #switchTo(room) {
    if (room === this.#room) return;
    this.#enter(room);
    if (this.#socket.isOpen) {
      this.#socket.send({ action: 'joinRoom', roomId: room });
      this.#requestHistory('latest');
    }
    this.#setSidebar(false);
  }

  // -- socket ------------------------------------------------------------------------------

  #showState(state) {
    this.connState.dataset.state = state;
    this.connState.textContent = STATE_TEXT[state] || state;
    this.reconnectNow.hidden = state !== 'reconnecting';
    this.#composer.setConnected(state === 'open');
    if (state !== 'open') this.#typing.clear();
  }

  #opened() {
    // Always (re)join: $connect cannot post to a connection that is still opening, so this is
    // how we get the room's presence list; it also moves us over if the user switched rooms
    // while connecting.
    this.#socket.send({ action: 'joinRoom', roomId: this.#room });
    this.#history.pending = [];
    this.#requestHistory('latest');
  }

  #requestHistory(mode) {
    const frame = { action: 'getHistory', roomId: this.#room, limit: HISTORY_PAGE };
    if (mode === 'older') {
      const oldest = this.#view.oldestTimestamp;
      if (oldest === null) return;
      frame.before = oldest;
    }
    if (!this.#socket.send(frame)) return;
    this.#history.loading = true;
    this.#history.pending.push(mode);
    this.#view.setHistory(this.#history);
  }

  #loadOlder() {
    if (this.#history.loading || !this.#history.more) return;
    this.#requestHistory('older');
  }

  #frame(frame) {
    switch (frame.type) {
      case 'message':
        if (frame.roomId !== this.#room) return;
        this.#view.addMessages([frame], 'live');
        this.#typing.stopped(frame.userId);
        if (document.hidden && frame.userId !== this.#self?.userId) {
          this.#unread += 1;
          this.#updateTitle();
        }
        return;
      case 'history': {
        if (frame.roomId !== this.#room) return;
        const mode = this.#history.pending.shift() || 'latest';
        this.#view.addMessages(Array.isArray(frame.messages) ? frame.messages : [], mode);
        this.#history.loading = this.#history.pending.length > 0;
        this.#history.more = frame.more === true;
        this.#view.setHistory(this.#history);
        // Nothing to scroll yet but more exists: fetch another page so scrolling up works.
        if (!this.#history.loading && this.#history.more && !this.#view.canScroll) this.#loadOlder();
        return;
      }
      case 'presence':
        if (frame.roomId !== this.#room || !Array.isArray(frame.users)) return;
        this.#view.setPresence(frame.users);
        return;
      case 'typing':
        if (frame.roomId !== this.#room || frame.userId === this.#self?.userId) return;
        this.#typing.saw(String(frame.userId), String(frame.displayName ?? 'Someone'));
        return;
      case 'error':
        if (frame.action === 'getHistory') {
          this.#history.pending.shift();
          this.#history.loading = this.#history.pending.length > 0;
          this.#view.setHistory(this.#history);
        }
        if (frame.action === 'sendMessage') this.#composer.restoreLastSent();
        this.#view.showNotice((ERROR_TEXT[frame.code] || ((f) => `The server said: ${f.message || f.code}`))(frame));
        return;
      default:
        // Not ours (e.g. API Gateway's {"message":"Forbidden"}); nothing to show.
    }
  }

  // -- page --------------------------------------------------------------------------------

  #bindUi() {
    window.addEventListener('hashchange', () => {
      if (this.section.hidden) return;
      const room = roomFromHash();
      if (room) this.#switchTo(room);
      else window.history.replaceState(null, '', hashFor(this.#room));
    });

    const joinForm = byId('join-form');
    const joinInput = byId('join-room');
    joinForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const room = joinInput.value.trim().replace(/^#/, '');
      if (!isValidRoom(room)) {
        joinInput.setAttribute('aria-invalid', 'true');
        this.#view.showNotice('Room names use letters, numbers, - and _ (up to 64 characters).');
        joinInput.focus();
        return;
      }
      joinInput.removeAttribute('aria-invalid');
      joinInput.value = '';
      window.location.hash = hashFor(room); // hashchange switches the room
      this.#composer.focus();
    });

    this.#view.scroller.addEventListener('scroll', () => {
      if (this.#view.isNearTop()) this.#loadOlder();
    }, { passive: true });
    this.#view.loadOlderButton.addEventListener('click', () => this.#loadOlder());

    this.reconnectNow.addEventListener('click', () => this.#socket.retryNow());
    this.sidebarToggle.addEventListener('click', () => this.#setSidebar(this.sidebarToggle.getAttribute('aria-expanded') !== 'true'));
    byId('skip-to-composer').addEventListener('click', () => this.#composer.focus());
    this.sidebar.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.section.classList.contains('sidebar-open')) {
        this.#setSidebar(false);
        this.sidebarToggle.focus();
      }
    });

    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) {
        this.#unread = 0;
        this.#updateTitle();
      }
    });
  }

  #setSidebar(open) {
    this.sidebarToggle.setAttribute('aria-expanded', String(open));
    this.section.classList.toggle('sidebar-open', open);
    if (open) byId('room-list').querySelector('a')?.focus();
  }

  #updateTitle() {
    document.title = `${this.#unread ? `(${this.#unread}) ` : ''}#${this.#room} · Chat`;
  }
}

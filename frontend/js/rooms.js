// Room ids, the room in the URL hash (#room), and the list of rooms this browser has joined.

export const DEFAULT_ROOM = 'general';
const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;
const LIST_KEY = 'chatdeploy:rooms';
const MAX_ROOMS = 12;

export function isValidRoom(name) {
  return typeof name === 'string' && ROOM_RE.test(name);
}

/** The room named in location.hash, or null when there is none or it is not a valid id. */
export function roomFromHash(hash = window.location.hash) {
  let name = hash.replace(/^#\/?/, '');
  try {
    name = decodeURIComponent(name);
  } catch {
    return null;
  }
  return isValidRoom(name) ? name : null;
}

export function hashFor(room) {
  return `#${room}`;
}

/**
 * Rooms this browser has joined, in the order they were joined (general first), so the list
 * does not jump around. Kept in localStorage: room names are not secret.
 */
export class RoomList {
  #rooms;

  constructor(storage = safeLocalStorage()) {
    this.storage = storage;
    this.#rooms = this.#load();
  }

  get rooms() {
    return [...this.#rooms];
  }

  /** Adds `room` at the end when new; the oldest other room goes when the list is full. */
  add(room) {
    if (this.#rooms.includes(room)) return;
    this.#rooms.push(room);
    while (this.#rooms.length > MAX_ROOMS) this.#rooms.splice(1, 1);
    this.#save();
  }

  #load() {
    try {
      const raw = JSON.parse(this.storage?.getItem(LIST_KEY) || '[]');
      const rooms = Array.isArray(raw) ? raw.filter((r) => isValidRoom(r) && r !== DEFAULT_ROOM) : [];
      return [DEFAULT_ROOM, ...new Set(rooms)].slice(0, MAX_ROOMS);
    } catch {
      return [DEFAULT_ROOM];
    }
  }

  #save() {
    try {
      this.storage?.setItem(LIST_KEY, JSON.stringify(this.#rooms));
    } catch {
      // not persisted; the list still works for this page
    }
  }
}

function safeLocalStorage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

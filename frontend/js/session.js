// The signed-in user's tokens and their refresh.
//
// Where tokens live (see frontend/README.md for the reasoning):
//   ID and access token: in memory only (this object), gone on reload;
//   refresh token: in memory and in sessionStorage (this tab only, cleared when the tab
//   closes), so a reload does not sign the user out.
// The ID token is refreshed shortly before its `exp`, measured against the token's own `iat`
// so a wrong clock on this machine does not matter.

import { CognitoError, plainMessage } from './cognito.js';
import { decodeJwtPayload } from './jwt.js';

const MIN_DELAY_MS = 5_000;
const MAX_MARGIN_MS = 5 * 60_000;
const RETRY_MS = 30_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

function tabStorage() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: the session then lasts until the page is reloaded
  }
}

export class Session extends EventTarget {
  #cognito;
  #storage;
  #key;
  #idToken = null;
  #refreshToken = null;
  #claims = null;
  #expiresAt = 0; // local clock, ms
  #lifetimeMs = 0;
  #timer = null;
  #inflight = null;
  #generation = 0; // bumped on sign-out so a late refresh answer cannot sign back in

  constructor(cognito, clientId, storage = tabStorage()) {
    super();
    this.#cognito = cognito;
    this.#storage = storage;
    this.#key = `chatdeploy:${clientId}:refreshToken`;
  }

  get signedIn() {
    return this.#idToken !== null;
  }

  /** { userId, email, displayName } from the ID token, or null. */
  get user() {
    if (!this.#claims) return null;
    const c = this.#claims;
    return {
      userId: String(c.sub),
      email: c.email ? String(c.email) : '',
      displayName: String(c.name || c.email || c.sub),
    };
  }

  /** When the current ID token's refresh is due (local ms), for tests and display. */
  get refreshDueAt() {
    return this.#expiresAt - this.#margin();
  }

  async signIn(email, password) {
    const generation = ++this.#generation;
    const result = await this.#cognito.signIn(email, password);
    if (generation !== this.#generation) return;
    this.#accept(result);
  }

  /** Signs in again from the tab's stored refresh token. True when it worked. */
  async resume() {
    const stored = this.#read();
    if (!stored) return false;
    this.#refreshToken = stored;
    try {
      await this.#refresh();
      return true;
    } catch (error) {
      if (error instanceof CognitoError && error.isAuthFailure) return false; // already cleared
      this.#refreshToken = null; // keep the stored copy: a reload can try again
      throw error;
    }
  }

  /**
   * A currently valid ID token; refreshes first when it expires within `minValidityMs`
   * or when `force` is set (e.g. the server just refused the last one).
   */
  async getIdToken({ minValidityMs = 60_000, force = false } = {}) {
    if (!this.#refreshToken && !this.#idToken) throw new CognitoError('NotAuthorizedException', 'signed out');
    if (force || !this.#idToken || Date.now() > this.#expiresAt - minValidityMs) await this.#refresh();
    return this.#idToken;
  }

  signOut() {
    this.#generation += 1;
    const refreshToken = this.#refreshToken;
    this.#clear();
    // Revoke on the server too, so a copy of the refresh token is useless. Best effort:
    // the local sign-out has happened whatever the answer.
    if (refreshToken) this.#cognito.revoke(refreshToken).catch(() => {});
  }

  // -- internals ---------------------------------------------------------------------------

  #refresh() {
    if (!this.#inflight) {
      const generation = this.#generation;
      const refreshToken = this.#refreshToken;
      if (!refreshToken) return Promise.reject(new CognitoError('NotAuthorizedException', 'no refresh token'));
      this.#inflight = this.#cognito.refresh(refreshToken)
        .then((result) => {
          if (generation === this.#generation) this.#accept(result);
        })
        .catch((error) => {
          if (generation === this.#generation && error instanceof CognitoError && error.isAuthFailure) {
            this.#clear();
            this.dispatchEvent(new CustomEvent('expired', { detail: plainMessage(error, 'refresh') }));
          }
          throw error;
        })
        .finally(() => {
          this.#inflight = null;
        });
    }
    return this.#inflight;
  }

  #accept(result) {
    const claims = decodeJwtPayload(result.IdToken);
    const now = Date.now();
    const issuedAt = Number.isFinite(claims.iat) ? claims.iat * 1000 : now;
    const expiresAt = Number.isFinite(claims.exp) ? claims.exp * 1000 : issuedAt + (result.ExpiresIn || 3600) * 1000;
    this.#idToken = result.IdToken;
    this.#claims = claims;
    // The token was issued moments ago, so its lifetime counted from now on this machine's
    // clock is a safe expiry even when this clock and Cognito's disagree.
    this.#lifetimeMs = Math.max(0, expiresAt - issuedAt);
    this.#expiresAt = now + this.#lifetimeMs;
    if (result.RefreshToken) this.#refreshToken = result.RefreshToken; // sign-in, or rotation
    this.#write(this.#refreshToken);
    this.#schedule(this.#expiresAt - this.#margin() - now);
    this.dispatchEvent(new Event('change'));
  }

  #margin() {
    return Math.min(MAX_MARGIN_MS, this.#lifetimeMs / 5);
  }

  #schedule(delayMs) {
    clearTimeout(this.#timer);
    const delay = Math.min(MAX_TIMER_MS, Math.max(MIN_DELAY_MS, delayMs));
    this.#timer = setTimeout(() => {
      this.#refresh().catch((error) => {
        // Auth failures have already ended the session; anything else (offline, throttled)
        // is tried again while there is still a refresh token.
        if (this.#refreshToken && !(error instanceof CognitoError && error.isAuthFailure)) this.#schedule(RETRY_MS);
      });
    }, delay);
  }

  #clear() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#idToken = null;
    this.#refreshToken = null;
    this.#claims = null;
    this.#expiresAt = 0;
    this.#write(null);
  }

  #read() {
    try {
      return this.#storage ? this.#storage.getItem(this.#key) : null;
    } catch {
      return null;
    }
  }

  #write(value) {
    try {
      if (!this.#storage) return;
      if (value) this.#storage.setItem(this.#key, value);
      else this.#storage.removeItem(this.#key);
    } catch {
      // storage full or disabled: the session simply will not survive a reload
    }
  }
}

// Sign in, sign up (with the pool's password rules shown as you type) and confirmation.
// Cognito's errors are shown in plain words (cognito.js plainMessage).

import { plainMessage } from './cognito.js';
import { byId, setMessage } from './dom.js';

const TITLES = { signin: 'Sign in', signup: 'Create an account', confirm: 'Confirm your account' };

// The guide's password policy, as the user pool enforces it. Shown as hints only: the pool
// has the final word, and its refusal is shown in plain words.
const RULES = {
  length: (p) => p.length >= 8,
  upper: (p) => /[A-Z]/.test(p),
  lower: (p) => /[a-z]/.test(p),
  number: (p) => /[0-9]/.test(p),
};

function looksLikeEmail(value) {
  return /^[^\s@]+@[^\s@]+$/.test(value);
}

export class AuthView {
  #cognito;
  #session;
  #onSignedIn;
  #mode = 'signin';
  // Kept only between sign-up and confirmation, to sign in right after confirming.
  #pending = null; // {email, password}

  constructor({ cognito, session, onSignedIn }) {
    this.#cognito = cognito;
    this.#session = session;
    this.#onSignedIn = onSignedIn;
    this.section = byId('auth');
    this.title = byId('auth-title');
    this.info = byId('auth-info');
    this.error = byId('auth-error');
    this.forms = { signin: byId('signin-form'), signup: byId('signup-form'), confirm: byId('confirm-form') };

    for (const button of this.section.querySelectorAll('[data-go]')) {
      button.addEventListener('click', () => this.show(button.dataset.go, { email: this.#currentEmail() }));
    }
    this.forms.signin.addEventListener('submit', (e) => this.#guard(e, () => this.#signIn()));
    this.forms.signup.addEventListener('submit', (e) => this.#guard(e, () => this.#signUp()));
    this.forms.confirm.addEventListener('submit', (e) => this.#guard(e, () => this.#confirm()));
    byId('resend-code').addEventListener('click', () => this.#resend());
    byId('signup-password').addEventListener('input', () => this.#checkRules());
    this.#checkRules();
  }

  /** Shows one of the forms. Options: info, error, email (prefilled). */
  show(mode = 'signin', { info = '', error = '', email = '' } = {}) {
    this.#mode = mode;
    this.section.hidden = false;
    this.title.textContent = TITLES[mode];
    for (const [name, form] of Object.entries(this.forms)) form.hidden = name !== mode;
    setMessage(this.info, info);
    setMessage(this.error, error);
    const form = this.forms[mode];
    const emailInput = form.querySelector('input[type="email"]');
    if (email && emailInput) emailInput.value = email;
    const firstEmpty = [...form.querySelectorAll('input')].find((input) => !input.value) || form.querySelector('input');
    firstEmpty?.focus();
  }

  hide() {
    this.section.hidden = true;
    for (const form of Object.values(this.forms)) {
      for (const input of form.querySelectorAll('input[type="password"], #confirm-code')) input.value = '';
    }
    setMessage(this.info, '');
    setMessage(this.error, '');
  }

  // -- flows -------------------------------------------------------------------------------

  async #signIn() {
    const email = byId('signin-email').value.trim();
    const password = byId('signin-password').value;
    if (!email || !password) return this.#fail('Enter your email and password.');
    try {
      await this.#session.signIn(email, password);
    } catch (error) {
      if (error.type === 'UserNotConfirmedException') {
        this.#pending = { email, password };
        this.show('confirm', { email, error: plainMessage(error, 'signin') });
        return undefined;
      }
      return this.#fail(plainMessage(error, 'signin'));
    }
    this.#pending = null;
    this.#onSignedIn();
    return undefined;
  }

  async #signUp() {
    const email = byId('signup-email').value.trim();
    const name = byId('signup-name').value.trim();
    const password = byId('signup-password').value;
    if (!looksLikeEmail(email)) return this.#fail('Enter a valid email address.');
    if (!password) return this.#fail('Choose a password.');
    let answer;
    try {
      answer = await this.#cognito.signUp(email, password, name);
    } catch (error) {
      return this.#fail(plainMessage(error, 'signup'));
    }
    this.#pending = { email, password };
    if (answer.UserConfirmed) return this.#signInPending('Account created.');
    const delivery = answer.CodeDeliveryDetails;
    const where = delivery && delivery.DeliveryMedium === 'EMAIL' && delivery.Destination
      ? `We emailed a confirmation code to ${delivery.Destination}.`
      : 'We emailed you a confirmation code.';
    this.show('confirm', { email, info: `${where} Enter it below to finish.` });
    return undefined;
  }

  async #confirm() {
    const email = byId('confirm-email').value.trim();
    const code = byId('confirm-code').value.trim();
    if (!email || !code) return this.#fail('Enter your email and the code from the email.');
    try {
      await this.#cognito.confirmSignUp(email, code);
    } catch (error) {
      return this.#fail(plainMessage(error, 'confirm'));
    }
    if (this.#pending && this.#pending.email === email) return this.#signInPending('Account confirmed.');
    this.show('signin', { email, info: 'Account confirmed. You can sign in now.' });
    return undefined;
  }

  async #signInPending(what) {
    const { email, password } = this.#pending;
    this.#pending = null;
    try {
      await this.#session.signIn(email, password);
    } catch (error) {
      this.show('signin', { email, info: `${what} Please sign in.`, error: plainMessage(error, 'signin') });
      return;
    }
    this.#onSignedIn();
  }

  async #resend() {
    const email = byId('confirm-email').value.trim();
    if (!looksLikeEmail(email)) {
      this.#fail('Enter your email address first.');
      return;
    }
    try {
      await this.#cognito.resendConfirmationCode(email);
      setMessage(this.error, '');
      setMessage(this.info, 'We sent you a new code.');
    } catch (error) {
      this.#fail(plainMessage(error, 'resend'));
    }
  }

  // -- helpers -----------------------------------------------------------------------------

  /** Runs a form's action once at a time, with its button showing that it is busy. */
  async #guard(event, action) {
    event.preventDefault();
    const form = event.currentTarget;
    if (form.getAttribute('aria-busy') === 'true') return;
    const button = form.querySelector('button[type="submit"]');
    const label = button.textContent;
    form.setAttribute('aria-busy', 'true');
    button.disabled = true;
    button.textContent = 'Please wait…';
    setMessage(this.error, '');
    try {
      await action();
    } finally {
      form.removeAttribute('aria-busy');
      button.disabled = false;
      button.textContent = label;
    }
  }

  #fail(message) {
    setMessage(this.info, '');
    setMessage(this.error, message);
    return undefined;
  }

  #currentEmail() {
    const input = this.forms[this.#mode].querySelector('input[type="email"]');
    return input ? input.value.trim() : '';
  }

  #checkRules() {
    const password = byId('signup-password').value;
    for (const item of byId('password-rules').querySelectorAll('li[data-rule]')) {
      const met = RULES[item.dataset.rule](password);
      item.dataset.met = String(met);
    }
  }
}

// Start-up: read config.json, resume or ask for sign-in, then show the chat.

import { AuthView } from './auth-view.js';
import { ChatController } from './chat.js';
import { createCognito, plainMessage } from './cognito.js';
import { loadConfig } from './config.js';
import { byId, setMessage } from './dom.js';
import { Session } from './session.js';

async function main() {
  const bootStatus = byId('boot-status');
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    bootStatus.hidden = true;
    setMessage(byId('boot-error'), `${error.message} The chat cannot start; ask whoever deployed it.`);
    return;
  }

  const cognito = createCognito({ endpoint: config.cognitoUrl, clientId: config.userPoolClientId });
  const session = new Session(cognito, config.userPoolClientId);
  const chat = new ChatController({ config, session });
  const account = byId('account');

  const enterChat = () => {
    const user = session.user;
    auth.hide();
    byId('me-name').textContent = user.displayName;
    account.hidden = false;
    chat.start(user);
  };
  const leaveChat = (options) => {
    chat.stop();
    account.hidden = true;
    byId('me-name').textContent = '';
    auth.show('signin', options);
  };
  const auth = new AuthView({ cognito, session, onSignedIn: enterChat });

  byId('sign-out').addEventListener('click', () => {
    session.signOut();
    leaveChat({ info: 'You are signed out.' });
  });
  session.addEventListener('expired', (event) => leaveChat({ error: event.detail }));

  let resumed = false;
  let resumeError = '';
  try {
    resumed = await session.resume();
  } catch (error) {
    resumeError = plainMessage(error, 'refresh');
  }
  bootStatus.hidden = true;
  if (resumed) enterChat();
  else auth.show('signin', { error: resumeError });
}

main().catch((error) => {
  // A bug, not a user error: say so instead of leaving a blank page.
  byId('boot-status').hidden = true;
  setMessage(byId('boot-error'), 'The chat failed to start. Reload the page to try again.');
  console.error(error);
});

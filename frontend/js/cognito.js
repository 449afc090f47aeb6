// Cognito user pools through their JSON API (no SDK): SignUp, ConfirmSignUp, InitiateAuth
// (USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH), plus best-effort ResendConfirmationCode and
// RevokeToken. The app client has no secret, so no SECRET_HASH is needed.

const TARGET_PREFIX = 'AWSCognitoIdentityProviderService.';

export class CognitoError extends Error {
  constructor(type, detail) {
    super(detail ? `${type}: ${detail}` : type);
    this.name = 'CognitoError';
    this.type = type; // e.g. "NotAuthorizedException", or "NetworkError"
    this.detail = detail || '';
  }

  /** True when the credentials themselves were refused (not a network or service hiccup). */
  get isAuthFailure() {
    return ['NotAuthorizedException', 'UserNotFoundException', 'UserNotConfirmedException',
      'PasswordResetRequiredException'].includes(this.type);
  }
}

// Cognito's error types in plain words. `context` picks the wording where it differs.
const PLAIN = {
  UsernameExistsException: () => 'An account with this email already exists. Sign in instead, or confirm it if you have not yet.',
  InvalidPasswordException: () => 'That password does not meet the rules: at least 8 characters, with an upper-case letter, a lower-case letter and a number.',
  CodeMismatchException: () => 'That code is not right. Check the email we sent and try again.',
  ExpiredCodeException: () => 'That code has expired. Ask for a new one below.',
  UserNotConfirmedException: () => 'This account is not confirmed yet. Enter the code we emailed you.',
  UserNotFoundException: (context) => (context === 'signin' ? 'Wrong email or password.' : 'There is no account with this email.'),
  NotAuthorizedException: (context) => {
    if (context === 'refresh') return 'Your session has ended. Please sign in again.';
    if (context === 'confirm') return 'This account cannot be confirmed (it may be confirmed already). Try signing in.';
    return 'Wrong email or password.';
  },
  PasswordResetRequiredException: () => 'You need to reset your password before you can sign in. Ask the chat administrator.',
  TooManyRequestsException: () => 'Too many attempts right now. Wait a minute and try again.',
  TooManyFailedAttemptsException: () => 'Too many failed attempts. Wait a few minutes and try again.',
  LimitExceededException: () => 'Too many attempts. Wait a few minutes and try again.',
  CodeDeliveryFailureException: () => 'We could not send the confirmation email. Check the address and try again.',
  InvalidEmailRoleAccessPolicyException: () => 'The service cannot send email right now. Ask the chat administrator.',
  ResourceNotFoundException: () => 'The sign-in service is not set up correctly (app client not found). Ask the chat administrator.',
  ChallengeRequired: () => 'This account needs a sign-in step this page does not support (for example a new password or MFA). Ask the chat administrator.',
  NetworkError: () => 'Cannot reach the sign-in service. Check your connection and try again.',
  InternalErrorException: () => 'The sign-in service had a problem. Try again in a moment.',
};

/** A sentence for the user. Falls back to Cognito's own message for rarer errors. */
export function plainMessage(error, context = '') {
  if (!(error instanceof CognitoError)) return 'Something went wrong. Try again.';
  const known = PLAIN[error.type];
  if (known) return known(context);
  if (error.type === 'InvalidParameterException') {
    if (/email/i.test(error.detail)) return 'That does not look like a valid email address.';
    if (/password/i.test(error.detail)) return PLAIN.InvalidPasswordException();
    return `Please check what you entered. (${error.detail || 'invalid input'})`;
  }
  return error.detail ? `Sign-in service error: ${error.detail}` : `Sign-in service error (${error.type}).`;
}

export function createCognito({ endpoint, clientId }) {
  async function call(target, body) {
    let response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-amz-json-1.1',
          'X-Amz-Target': TARGET_PREFIX + target,
        },
        body: JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
      });
    } catch {
      throw new CognitoError('NetworkError', '');
    }
    let data = {};
    try {
      data = await response.json();
    } catch {
      data = {};
    }
    if (!response.ok) {
      // "__type" may carry a namespace ("com.amazon…#NotAuthorizedException").
      const raw = data.__type || response.headers.get('x-amzn-ErrorType') || `HTTP${response.status}`;
      const type = String(raw).split('#').pop().split(':')[0];
      throw new CognitoError(type, data.message || data.Message || '');
    }
    return data;
  }

  function tokensFrom(data) {
    if (data.ChallengeName) throw new CognitoError('ChallengeRequired', data.ChallengeName);
    const result = data.AuthenticationResult;
    if (!result || !result.IdToken) throw new CognitoError('InvalidResponse', 'no tokens in the answer');
    return result;
  }

  return {
    async signUp(email, password, displayName) {
      const attributes = [{ Name: 'email', Value: email }];
      if (displayName) attributes.push({ Name: 'name', Value: displayName });
      return call('SignUp', { ClientId: clientId, Username: email, Password: password, UserAttributes: attributes });
    },
    async confirmSignUp(email, code) {
      await call('ConfirmSignUp', { ClientId: clientId, Username: email, ConfirmationCode: code });
    },
    async resendConfirmationCode(email) {
      return call('ResendConfirmationCode', { ClientId: clientId, Username: email });
    },
    /** @returns {Promise<{IdToken, AccessToken, RefreshToken, ExpiresIn}>} */
    async signIn(email, password) {
      return tokensFrom(await call('InitiateAuth', {
        ClientId: clientId,
        AuthFlow: 'USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: email, PASSWORD: password },
      }));
    },
    /** New ID and access tokens; Cognito keeps the refresh token the same unless it rotates it. */
    async refresh(refreshToken) {
      return tokensFrom(await call('InitiateAuth', {
        ClientId: clientId,
        AuthFlow: 'REFRESH_TOKEN_AUTH',
        AuthParameters: { REFRESH_TOKEN: refreshToken },
      }));
    },
    async revoke(refreshToken) {
      await call('RevokeToken', { ClientId: clientId, Token: refreshToken });
    },
  };
}

// Loads ./config.json, written next to the page at deploy time (docs/protocol.md).

const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d+$/;

export class ConfigError extends Error {}

function requireString(raw, name) {
  const value = raw[name];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(`config.json has no "${name}".`);
  }
  return value.trim();
}

function requireUrl(value, name, protocols) {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`config.json "${name}" is not a URL.`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(`config.json "${name}" must start with ${protocols.join(' or ')}//.`);
  }
  return url;
}

/** Validates the raw object and returns a frozen config with `cognitoUrl` resolved. */
export function parseConfig(raw) {
  if (!raw || typeof raw !== 'object') throw new ConfigError('config.json is not a JSON object.');
  const region = requireString(raw, 'region');
  if (!REGION_RE.test(region)) throw new ConfigError(`config.json "region" looks wrong: ${region}`);
  const websocketUrl = requireUrl(requireString(raw, 'websocketUrl'), 'websocketUrl', ['wss:', 'ws:']).href;
  const cognitoUrl = raw.cognitoEndpoint
    ? requireUrl(String(raw.cognitoEndpoint), 'cognitoEndpoint', ['https:', 'http:']).href
    : `https://cognito-idp.${region}.amazonaws.com/`;
  const max = raw.maxMessageBytes ?? 4096;
  if (!Number.isInteger(max) || max < 1) throw new ConfigError('config.json "maxMessageBytes" must be a positive integer.');
  return Object.freeze({
    websocketUrl,
    region,
    userPoolId: requireString(raw, 'userPoolId'),
    userPoolClientId: requireString(raw, 'userPoolClientId'),
    identityPoolId: raw.identityPoolId ?? null,
    cognitoUrl,
    maxMessageBytes: max,
  });
}

export async function loadConfig(url = './config.json') {
  let response;
  try {
    response = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  } catch {
    throw new ConfigError('Could not load config.json (network error).');
  }
  if (!response.ok) throw new ConfigError(`Could not load config.json (HTTP ${response.status}).`);
  let raw;
  try {
    raw = await response.json();
  } catch {
    throw new ConfigError('config.json is not valid JSON.');
  }
  return parseConfig(raw);
}

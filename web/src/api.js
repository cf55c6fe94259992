// The console's JSON API (docs/console.md "The API"): Connect unary calls and
// server streams, and errors turned into what a person can act on.

export class ApiError extends Error {
  constructor(code, message, details, status) {
    super(message);
    this.code = code;
    this.details = details || [];
    this.status = status;
  }
  // The positioned issues a service attached (harmonia.v1.IssueList).
  get issues() {
    const list = this.details.find((d) => d.type === 'harmonia.v1.IssueList');
    return (list && list.debug && list.debug.issues) || [];
  }
}

let onSignedOut = () => {};
export function whenSignedOut(fn) {
  onSignedOut = fn;
}

async function errorOf(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's page, say
  }
  return new ApiError(body.code || 'unknown', body.message || response.statusText, body.details, response.status);
}

function networkError() {
  return new ApiError('unavailable', 'the console cannot be reached', [], 0);
}

// POSTs to the console; the response when it is OK, else its error (and
// the app learns of a session that ended).
async function post(path, contentType, body) {
  let response;
  try {
    response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': contentType, 'Connect-Protocol-Version': '1' },
      body,
      credentials: 'same-origin',
    });
  } catch {
    throw networkError();
  }
  if (!response.ok) {
    const e = await errorOf(response);
    if (e.code === 'unauthenticated') onSignedOut();
    throw e;
  }
  return response;
}

// One unary call: `method` is "CountryService/QueryAssignments".
export async function call(method, request = {}) {
  const response = await post(`/api/harmonia.v1.${method}`, 'application/json', JSON.stringify(request));
  return response.json();
}

// A server stream: `onMessage` gets each message; resolves when it ends.
export async function stream(method, request, onMessage) {
  const json = new TextEncoder().encode(JSON.stringify(request));
  const body = new Uint8Array(5 + json.length);
  new DataView(body.buffer).setUint32(1, json.length);
  body.set(json, 5);
  const response = await post(`/api/harmonia.v1.${method}`, 'application/connect+json', body);
  const reader = response.body.getReader();
  let buffer = new Uint8Array(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (value) {
      const joined = new Uint8Array(buffer.length + value.length);
      joined.set(buffer);
      joined.set(value, buffer.length);
      buffer = joined;
    }
    while (buffer.length >= 5) {
      const flags = buffer[0];
      const n = new DataView(buffer.buffer, buffer.byteOffset).getUint32(1);
      if (buffer.length < 5 + n) break;
      const message = JSON.parse(new TextDecoder().decode(buffer.subarray(5, 5 + n)));
      buffer = buffer.subarray(5 + n);
      if (flags & 2) {
        if (message.error) {
          const e = new ApiError(message.error.code, message.error.message, message.error.details, 200);
          if (e.code === 'unauthenticated') onSignedOut();
          throw e;
        }
        return;
      }
      onMessage(message);
    }
    if (done) throw new ApiError('unavailable', 'the stream ended early', [], 0);
  }
}

async function auth(path, method, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
      credentials: 'same-origin',
    });
  } catch {
    throw networkError();
  }
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

export const signIn = (token) => auth('/auth/sign-in', 'POST', { token });
export const signOut = () => auth('/auth/sign-out', 'POST', {});
export const session = () => auth('/auth/session', 'GET');

// What went wrong and what to do, for a person: never a bare status code.
export function explain(error) {
  const m = error.message;
  switch (error.code) {
    case 'unauthenticated':
      return { what: 'You are not signed in, or your session has ended.', todo: 'Sign in again with your token.' };
    case 'permission_denied':
      return { what: `You are not allowed to do this (${m}).`, todo: 'Ask your country operations team if you need this right.' };
    case 'not_found':
      return { what: `Not found: ${m}.`, todo: 'Check the customer or the item, or pick another therapy area.' };
    case 'invalid_argument':
    case 'out_of_range':
      return { what: `This was not accepted: ${m}.`, todo: 'Correct it and try again.' };
    case 'failed_precondition':
      return { what: `Not possible yet: ${m}.`, todo: 'This usually needs a cycle to run first, or a setting to change.' };
    case 'aborted':
    case 'already_exists':
      return { what: `Someone else is doing this right now: ${m}.`, todo: 'Wait a moment and try again.' };
    case 'resource_exhausted':
      return { what: `Too much at once: ${m}.`, todo: 'Try a smaller selection.' };
    case 'unavailable':
    case 'deadline_exceeded':
      return { what: `Harmonia cannot be reached right now (${m}).`, todo: 'Try again in a minute; if it lasts, tell your country operations team.' };
    default:
      return { what: `Something went wrong on our side (${m}).`, todo: 'Try again; if it happens again, tell your country operations team what you were doing.' };
  }
}

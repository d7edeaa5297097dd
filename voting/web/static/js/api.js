// Talking to the HTTP API from the pages. The session token (from
// /api/auth/login) lives in sessionStorage — one tab, gone when it closes —
// and is sent as a Bearer header; no cookie carries it, so there is nothing
// for a cross-site request to ride on (docs/web.md, "Sessions").

const SESSION = "voting.session";
const CREDENTIAL = "voting.credential";

export class ApiError extends Error {
  constructor(status, code, detail, body) {
    super(`${status} ${code}: ${detail}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body || {};
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION) || "null");
  } catch {
    return null;
  }
}

export function saveSession(value, credentialFile) {
  sessionStorage.setItem(SESSION, JSON.stringify(value));
  if (!credentialFile) {
    // A login with the card in this computer (a TLS client certificate): no
    // file, no key in the page; the employee is the server's word.
    forgetChoices(value.employee_id);
    sessionStorage.removeItem(CREDENTIAL);
    return;
  }
  // Choices kept for another employee who used this tab are not this one's to
  // see: keyed by the opened credential file's id, not the server's word
  // (login.js refuses a reply naming another employee).
  forgetChoices(credentialFile.employee_id);
  // The credential file stays PIN-sealed: the PIN is asked again to sign a ballot.
  sessionStorage.setItem(CREDENTIAL, JSON.stringify(credentialFile));
}

/** Did this session log in with the card in this computer (no signing key in the page)? */
export function cardSession() {
  return session()?.login_method === "client-certificate";
}

export function credentialFile() {
  try {
    return JSON.parse(sessionStorage.getItem(CREDENTIAL) || "null");
  } catch {
    return null;
  }
}

export function clearSession() {
  sessionStorage.removeItem(SESSION);
  sessionStorage.removeItem(CREDENTIAL);
}

// --- a voter's choices across a re-login (docs/web.md, "A session that ends mid-vote") ----------
//
// Kept only when the session ends during a vote, in this tab's sessionStorage,
// under the election and the employee; read once by that employee's ballot
// page, and removed after casting and at logout. Never the PIN, never sent.

const CHOICES = "voting.choices.";

export function keepChoices(electionId, employeeId, choices) {
  if (!employeeId) return;
  sessionStorage.setItem(`${CHOICES}${electionId}.${employeeId}`, JSON.stringify({ election_id: electionId, employee_id: employeeId, choices }));
}

/** The choices kept for this election and employee (0/1 per option, per question), removed as they are read. */
export function takeChoices(electionId, employeeId) {
  const key = `${CHOICES}${electionId}.${employeeId}`;
  const text = sessionStorage.getItem(key);
  sessionStorage.removeItem(key);
  try {
    const kept = JSON.parse(text || "null");
    return kept && kept.election_id === electionId && kept.employee_id === employeeId ? kept.choices : null;
  } catch {
    return null;
  }
}

/** Remove the kept choices: all of them, or all but `employeeId`'s. */
export function forgetChoices(employeeId = null) {
  for (const key of Object.keys(sessionStorage)) {
    if (!key.startsWith(CHOICES)) continue;
    let owner = null;
    try {
      owner = JSON.parse(sessionStorage.getItem(key))?.employee_id;
    } catch {
      // unreadable: removed
    }
    if (!employeeId || owner !== employeeId) sessionStorage.removeItem(key);
  }
}

export function hasRole(role) {
  return (session()?.roles || []).includes(role);
}

/** Go to the login page, coming back here afterwards. */
export function requireLogin() {
  if (session()) return true;
  const here = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(here)}`);
  return false;
}

/**
 * One API call. `body` is sent as JSON unless `raw` (with `contentType`) is
 * given. Errors become ApiError with the problem's stable code; a 401 ends the
 * stored session and tells the page ("voting:session-ended", which common.js
 * uses to clear the header).
 */
export async function api(method, path, { body, raw, contentType, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  const token = session()?.session_token;
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers["Content-Type"] = contentType || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: "same-origin", cache: "no-store" });
  } catch (exc) {
    throw new ApiError(0, "network_error", exc.message);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && auth && token) {
      clearSession();
      window.dispatchEvent(new CustomEvent("voting:session-ended"));
    }
    throw new ApiError(response.status, data?.code || "http_error", data?.detail || text.slice(0, 200), data);
  }
  return data;
}

/** Pauses before sending a cast again whose outcome is unknown (docs/web.md, "Casting"). */
export const RESEND_DELAYS_MS = [500, 1000, 2000, 4000];

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `send()`, sent again after a pause while it fails with a 503 (not recorded,
 * or outcome unknown) or a lost connection, a few times: only for a request
 * that is safe to repeat, such as casting the same ballot (the server records
 * it once and returns its receipt). `onRetry(attempt, error)` tells the page.
 */
export async function resending(send, { delays = RESEND_DELAYS_MS, sleep = pause, onRetry } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await send();
    } catch (exc) {
      const unknown = exc instanceof ApiError && (exc.status === 503 || exc.code === "network_error");
      if (!unknown || attempt >= delays.length) throw exc;
      onRetry?.(attempt + 1, exc);
      await sleep(delays[attempt]);
    }
  }
}

export const get = (path, options) => api("GET", path, options);
export const post = (path, body, options = {}) => api("POST", path, { ...options, body });

// Talking to the Arcroom service: bearer token, timeouts, and readable errors from `detail`.

const TOKEN_KEY = "arcroom.token";
// A tablet moving to another instance (instances.js) brings its token in the address's fragment:
// kept here, as this address's own, and taken off the address at once.
export const CARRIED_TOKEN = "arcroom-token";

function carriedToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get(CARRIED_TOKEN);
  if (!token) return null;
  localStorage.setItem(TOKEN_KEY, token);
  params.delete(CARRIED_TOKEN);
  const rest = params.toString();
  history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  return token;
}

export const auth = {
  token: carriedToken() || localStorage.getItem(TOKEN_KEY) || null,
  open: false, // the service has no tokens configured: no sign-in
  actingAs: null, // the facilitator using this tablet now: the record names them, via the tablet's token
};

export function rememberToken(token) {
  auth.token = token || null;
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  /** status 0 means the service could not be reached at all. */
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
  get unreachable() { return this.status === 0; }
}

/** FastAPI's `detail`: a sentence (404/409/401/403) or a list of field errors (422). */
export function describeDetail(detail, status) {
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((e) => {
      const where = Array.isArray(e.loc) ? e.loc.filter((p) => p !== "body").join(".") : "";
      return where ? `${where}: ${e.msg}` : String(e.msg);
    }).join("; ");
  }
  return `the service answered ${status}`;
}

const listeners = new Set();
/** Called with (status) whenever the service refuses the token (401). */
export function onUnauthorized(fn) { listeners.add(fn); }

export async function api(method, path, body, { timeoutMs = 8000, token = auth.token } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  // Percent-encoded: a header carries Latin-1 only, and names need not.
  if (auth.actingAs) headers["X-Arcroom-Acting-As"] = encodeURIComponent(auth.actingAs);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(path, {
      method, headers, signal: ctrl.signal, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    const why = ctrl.signal.aborted ? `no answer within ${Math.round(timeoutMs / 1000)} s` : "no connection";
    throw new ApiError(0, `The Arcroom service could not be reached (${why}).`);
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  const text = await response.text().catch(() => "");
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!response.ok) {
    if (response.status === 401 && token) listeners.forEach((fn) => fn(401));
    const detail = data && typeof data === "object" ? data.detail : data;
    throw new ApiError(response.status, describeDetail(detail, response.status));
  }
  return data;
}

export const get = (path, opts) => api("GET", path, undefined, opts);
export const post = (path, body, opts) => api("POST", path, body, opts);

export function roomPath(room, rest = "") {
  return `/api/rooms/${encodeURIComponent(room)}${rest}`;
}

/**
 * The event stream URL. EventSource cannot send headers, so the credential goes in the query; a
 * ticket that opens streams for a minute, not the token, so that no log ever holds the token.
 */
export async function streamUrl(room) {
  const base = roomPath(room, "/stream");
  if (!auth.token) return base;
  const { ticket } = await post("/api/stream-tickets", undefined, { timeoutMs: 4000 });
  return `${base}?ticket=${encodeURIComponent(ticket)}`;
}

/**
 * Is the dashboard allowed in? Resolves to "open" (no tokens configured), "ok" (the token
 * works), "signin" (a token is needed or the remembered one was refused) or "forbidden"
 * (the token may not read rooms). Network
 * failures reject with an ApiError whose status is 0.
 */
export async function probeAccess(token = auth.token) {
  try {
    await get("/api/rooms", { token: null, timeoutMs: 6000 });
    auth.open = true;
    return "open";
  } catch (err) {
    if (err.status !== 401) throw err;
  }
  auth.open = false;
  if (!token) return "signin";
  try {
    await get("/api/rooms", { token, timeoutMs: 6000 });
    return "ok";
  } catch (err) {
    if (err.status === 401) return "signin";
    if (err.status === 403) return "forbidden"; // e.g. a panic-button (device) token
    throw err;
  }
}

/** Fetch a file with the token (a plain link cannot send it) and hand it to the browser as a download. */
export async function download(path, filename, { timeoutMs = 30000 } = {}) {
  const headers = auth.token ? { Authorization: `Bearer ${auth.token}` } : {};
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(path, { headers, signal: ctrl.signal, cache: "no-store" });
  } catch {
    throw new ApiError(0, "The Arcroom service could not be reached.");
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) {
    let detail = null;
    try { detail = (await response.json()).detail; } catch { /* not JSON */ }
    throw new ApiError(response.status, describeDetail(detail, response.status));
  }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// The one place that talks HTTP: function key, environment, the API's error shape.
// Every error becomes an ApiError {status, code, message, details} so pages show them the same way.

const KEY = "omnisync.functionKey";
const ENV = "omnisync.environmentId";

// The console is served at <prefix>/console/, so the API base is the folder above it (/api/ by default).
export const API_BASE = new URL("../", window.location.href.split("#")[0]).pathname;

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
  }
}

export function connection() {
  return {
    key: sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || "",
    environment: sessionStorage.getItem(ENV) || localStorage.getItem(ENV) || "",
  };
}

export function saveConnection(key, environment, remember) {
  for (const store of [sessionStorage, localStorage]) {
    store.removeItem(KEY);
    store.removeItem(ENV);
  }
  const store = remember ? localStorage : sessionStorage;
  store.setItem(KEY, key);
  store.setItem(ENV, environment);
}

export function isConnected() {
  const c = connection();
  return Boolean(c.key && c.environment);
}

/** A path under the current environment: envPath("transaction", "adjustment") → environment/demo/transaction/adjustment. */
export function envPath(...segments) {
  const env = connection().environment;
  return ["environment", env, ...segments].map((s) => encodeURIComponent(s)).join("/");
}

function queryString(query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") params.set(name, value);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

// People read this, not the API's "header x-functions-key or query parameter code".
const UNAUTHORIZED = "The function key was refused. Open Connection (top right) and enter the key again.";

async function errorFrom(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && body.error && body.error.code) {
      const message = response.status === 401 ? UNAUTHORIZED : body.error.message || body.error.code;
      return new ApiError(response.status, body.error.code, message, body.error.details);
    }
  } catch {
    // not our error shape: fall through
  }
  const fallback = {
    401: ["Unauthorized", UNAUTHORIZED],
    403: ["Forbidden", "You are signed in but not allowed to use this API."],
    404: ["NotFound", "Not found."],
  }[response.status] || ["HttpError", `The API answered ${response.status} ${response.statusText}`.trim()];
  return new ApiError(response.status, fallback[0], fallback[1]);
}

/**
 * Call the API. `path` is relative to the API base (e.g. envPath(...)); `body` is sent as JSON (a string is
 * sent as typed, so the API — not the browser — reports JSON syntax errors with their line and column).
 * Returns the parsed JSON (null for an empty body), or the Response itself with {raw: true}.
 */
export async function api(method, path, { body, query, raw = false } = {}) {
  const headers = { "x-functions-key": connection().key };
  let payload;
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API_BASE + path + queryString(query), {
      method, headers, body: payload, credentials: "same-origin", cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "NetworkError", "The API did not answer. Is the function app running?");
  }
  if (!response.ok) throw await errorFrom(response);
  if (raw) return response;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

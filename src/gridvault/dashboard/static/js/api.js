// Talking to the gridvault API (same origin). Every failure becomes an ApiError whose `kind`
// the page turns into a state a person understands: the API cannot be reached, a key is
// needed or refused, nothing is stored, a parameter is wrong, the server has a problem.

const KEY_STORAGE = "gridvault.apiKey";

export class ApiError extends Error {
  /**
   * @param {"unreachable"|"unauthorized"|"forbidden"|"not_found"|"bad_request"|"rate_limited"|"server"} kind
   * @param {number} status HTTP status (0 when there was no answer)
   * @param {string} message the API's `detail`, or what happened
   */
  constructor(kind, status, message, path) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.path = path;
  }
}

/** The API key of this browser tab (sessionStorage: gone when the tab closes), or null. */
export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key.trim());
  else sessionStorage.removeItem(KEY_STORAGE);
  cache.clear();
}

function kindOf(status) {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 429) return "rate_limited";
  if (status >= 500) return "server";
  return "bad_request";
}

/** `path` with query `params` (arrays are comma-joined, as the API accepts; empty ones dropped). */
export function apiUrl(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    url.searchParams.set(name, Array.isArray(value) ? value.join(",") : String(value));
  }
  return url.pathname + url.search;
}

/** GET `path` as JSON. Throws ApiError. `signal` aborts (the caller moved on). */
export async function getJSON(path, params = {}, { signal } = {}) {
  const url = apiUrl(path, params);
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  let response;
  try {
    response = await fetch(url, { headers, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("unreachable", 0, "API unreachable: the gridvault server did not answer", url);
  }
  if (!response.ok) {
    let detail = response.statusText || `HTTP ${response.status}`;
    try {
      const body = await response.json();
      if (body && typeof body.detail === "string") detail = body.detail;
    } catch {
      // Not JSON (a proxy's error page): keep the status text.
    }
    if (response.status === 429) {
      const retry = response.headers.get("Retry-After");
      if (retry) detail += ` (retry in ${retry} s)`;
    }
    throw new ApiError(kindOf(response.status), response.status, detail, url);
  }
  try {
    return await response.json();
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("server", response.status, "the API sent an answer that is not JSON", url);
  }
}

// Answers that do not change while the page is open for the same question (catalog, stored
// data for a fixed range) are kept briefly, so switching back and forth is instant. Freshness
// and jobs are never cached. The API itself also caches and revalidates with ETags.
const cache = new Map();
const CACHE_ENTRIES = 64;
const CACHE_MS = 60_000;

export function getCached(path, params = {}, options = {}) {
  const key = apiUrl(path, params);
  const hit = cache.get(key);
  if (hit && hit.until > Date.now()) {
    cache.delete(key);
    cache.set(key, hit); // most recently used last
    return hit.promise;
  }
  const promise = getJSON(path, params, options);
  cache.set(key, { promise, until: Date.now() + CACHE_MS });
  // A failed (or aborted) question is asked again next time.
  promise.catch(() => cache.delete(key));
  while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value);
  return promise;
}

export function clearCache() {
  cache.clear();
}

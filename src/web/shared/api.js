/**
 * Calls the Knock API. Errors arrive as problem details (RFC 9457); ApiError carries their
 * human `detail` as its message, so pages can show it as it is, plus the stable `code` and any
 * extra members (e.g. lockedUntil, attemptsLeft, alternatives).
 */
export class ApiError extends Error {
  /**
   * @param {{ code?: string, detail?: string, title?: string, [k: string]: unknown }} problem
   * @param {number} status
   */
  constructor(problem, status) {
    super(problem.detail || problem.title || `The service answered ${status}.`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem.code || 'unknown';
    this.problem = problem;
  }
}

/**
 * @param {string} path
 * @param {{ method?: string, token?: string|null, body?: unknown, headers?: Record<string,string>, raw?: boolean }} [opts]
 */
export async function api(path, opts = {}) {
  const headers = { accept: 'application/json', ...(opts.headers || {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(path, { method: opts.method || 'GET', headers, body, cache: 'no-store' });
  } catch {
    throw new ApiError({ code: 'network', detail: 'The service could not be reached. Check your connection and try again.' }, 0);
  }
  const type = res.headers.get('content-type') || '';
  if (!res.ok) {
    let problem = {};
    if (type.includes('json')) problem = await res.json().catch(() => ({}));
    throw new ApiError(problem, res.status);
  }
  if (opts.raw) return res;
  if (res.status === 204) return null;
  return type.includes('json') ? res.json() : res.text();
}

/** Saves a file the API returns (it needs the Authorization header, so a plain link cannot). */
export async function download(path, token, fallbackName) {
  const res = await api(path, { token, raw: true, headers: { accept: '*/*' } });
  const disposition = res.headers.get('content-disposition') || '';
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] || fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}

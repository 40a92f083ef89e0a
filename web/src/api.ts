// The daemon's HTTP API as the dashboard uses it: a bearer token (from the URL fragment
// #token=… on first visit, then localStorage) on every call, problem details turned into errors
// that say what went wrong.

const KEY = 'kerno.token';

/** Takes `#token=…` out of the address (so it is not left in history) and keeps it. */
export function adoptTokenFromFragment(): void {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get('token');
  if (token !== null && token !== '') {
    localStorage.setItem(KEY, token);
    history.replaceState(null, '', `${location.pathname}#/`);
  }
}

export function getToken(): string {
  return localStorage.getItem(KEY) ?? '';
}

export function setToken(token: string): void {
  localStorage.setItem(KEY, token);
  for (const l of tokenListeners) l();
}

const tokenListeners = new Set<() => void>();
/** Called when the token changes or the API refuses it. */
export function onTokenProblem(listener: () => void): () => void {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

let unauthorized = false;
export function isUnauthorized(): boolean {
  return unauthorized;
}

/** An API error: the problem's `detail` (what to do), its kerno `code` and the HTTP status. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function authHeaders(): Record<string, string> {
  return { authorization: `Bearer ${getToken()}` };
}

/** GET (or another method with a JSON body) a JSON route. */
export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<T> {
  const headers: Record<string, string> = { ...init.headers, ...authHeaders() };
  const request: RequestInit = { method: init.method ?? 'GET', headers };
  if (init.body !== undefined) {
    headers['content-type'] = 'application/json';
    request.body = JSON.stringify(init.body);
  }
  const res = await fetch(path, request);
  if (res.status === 401) {
    unauthorized = true;
    for (const l of tokenListeners) l();
  } else {
    unauthorized = false;
  }
  if (!res.ok) {
    let detail = `${String(res.status)} ${res.statusText}`;
    let code: string | undefined;
    try {
      const problem = (await res.json()) as { detail?: unknown; title?: unknown; code?: unknown };
      if (typeof problem.detail === 'string') detail = problem.detail;
      else if (typeof problem.title === 'string') detail = problem.title;
      if (typeof problem.code === 'string') code = problem.code;
    } catch {
      // not problem details: keep the status line
    }
    throw new ApiError(detail, res.status, code);
  }
  return (await res.json()) as T;
}

/** Builds `path?k=v…`, leaving out empty values. */
export function withQuery(
  path: string,
  query: Record<string, string | number | undefined>,
): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s === '' ? path : `${path}?${s}`;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The CLI's way to a running daemon: base URL and token discovery, and an HTTP client that turns
 * problem details back into KernelErrors (so the CLI maps them to exit codes in one place).
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KernelError, isKernelErrorCode } from '../errors.js';
import { resolveConfig } from '../config.js';

/** Where `kerno up` records the daemon it started. */
export const DAEMON_FILE = 'daemon.json';

/** How to reach a daemon. */
export interface DaemonTarget {
  readonly url: string;
  readonly token: string | undefined;
}

/** Options every daemon command accepts. */
export interface ConnectOptions {
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  readonly home?: string | undefined;
}

/** Resolves the daemon URL (`--url`, `KERNO_URL`, `<state>/daemon.json`, 127.0.0.1:7420) and token. */
export function resolveDaemon(options: ConnectOptions = {}): DaemonTarget {
  const config = resolveConfig(options);
  const state = config.home;
  let url = config.url;
  if (url === undefined) {
    const file = join(state, DAEMON_FILE);
    if (existsSync(file)) {
      try {
        url = (JSON.parse(readFileSync(file, 'utf8')) as { url?: string }).url;
      } catch {
        url = undefined;
      }
    }
  }
  let token = config.token;
  if (token === undefined) {
    const file = join(state, 'token');
    if (existsSync(file)) token = readFileSync(file, 'utf8').trim();
  }
  return { url: (url ?? 'http://127.0.0.1:7420').replace(/\/$/, ''), token };
}

/** A small HTTP client for the kerno API. */
export class DaemonClient {
  readonly target: DaemonTarget;

  constructor(target: DaemonTarget) {
    this.target = target;
  }

  /** Sends a request; resolves with the response for 2xx, throws a KernelError otherwise. */
  async request(
    method: string,
    path: string,
    options: {
      json?: unknown;
      body?: BodyInit;
      contentType?: string;
      signal?: AbortSignal;
      headers?: Record<string, string>;
    } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.target.token !== undefined) headers['authorization'] = `Bearer ${this.target.token}`;
    let body: BodyInit | undefined = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    let res: Response;
    try {
      res = await fetch(this.target.url + path, {
        method,
        headers,
        ...(body === undefined ? {} : { body, duplex: 'half' }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      const local = localFileError(error);
      if (local !== undefined) {
        throw new KernelError('INVALID_ARGUMENT', `Cannot read ${local.path}: ${local.message}`, {
          cause: local,
        });
      }
      throw new KernelError(
        'UNREACHABLE',
        `Cannot reach the kerno daemon at ${this.target.url}; start it with \`kerno up\`, or pass --url (or --store to work on a store directly)`,
        { cause: error },
      );
    }
    if (res.ok) return res;
    let problem: { code?: string; detail?: string; details?: Record<string, unknown> } = {};
    try {
      problem = (await res.json()) as typeof problem;
    } catch {
      // not problem details
    }
    // A code this kerno does not know (a newer daemon, or Fastify's own 4xx) keeps its status class.
    const code = isKernelErrorCode(problem.code)
      ? problem.code
      : res.status === 401
        ? 'UNAUTHORIZED'
        : res.status >= 400 && res.status < 500
          ? 'INVALID_ARGUMENT'
          : 'INTERNAL';
    const hint = res.status === 401 ? ' (check --token, KERNO_TOKEN or <state>/token)' : '';
    throw new KernelError(
      code,
      (problem.detail ?? `The daemon answered ${res.status}`) + hint,
      problem.details === undefined ? {} : { details: problem.details },
    );
  }

  /** GET/POST … and parse JSON. */
  async json<T>(method: string, path: string, json?: unknown): Promise<T> {
    const res = await this.request(method, path, json === undefined ? {} : { json });
    return (await res.json()) as T;
  }
}

/** The file-system error behind a failed upload (the body stream failed, not the daemon). */
function localFileError(error: unknown): (Error & { path: string }) | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (typeof (e as { path?: unknown }).path === 'string') return e as Error & { path: string };
  }
  return undefined;
}

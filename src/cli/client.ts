/**
 * The CLI's way to a running daemon: base URL and token discovery (Node-specific: files in the
 * state folder), and {@link DaemonClient}, `kerno/client` with its errors as KernelErrors.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createClient,
  isKernoApiError,
  type KernoClient,
  type UploadBody,
} from '../client/index.js';
import { KernelError } from '../errors.js';
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

/**
 * The CLI's client for the kerno API: `kerno/client` underneath (`api`, typed), with its errors
 * turned into KernelErrors so the CLI maps them to exit codes in one place.
 */
export class DaemonClient {
  readonly target: DaemonTarget;
  /** The typed client for this daemon (no timeout: imports and tails take as long as they take). */
  readonly api: KernoClient;

  constructor(target: DaemonTarget) {
    this.target = target;
    this.api = createClient({ baseUrl: target.url, token: target.token, timeoutMs: 0 });
  }

  /** Runs typed calls on {@link api}; a failure rejects with a KernelError. */
  async call<T>(fn: (api: KernoClient) => Promise<T>): Promise<T> {
    try {
      return await fn(this.api);
    } catch (error) {
      throw this.#kernelError(error);
    }
  }

  /** Sends a request; resolves with the response for 2xx, throws a KernelError otherwise. */
  request(
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
    return this.call((api) =>
      api.request(method, path, {
        ...(options.json === undefined ? {} : { json: options.json }),
        ...(options.body === undefined ? {} : { body: options.body as UploadBody }),
        ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.headers === undefined ? {} : { headers: options.headers }),
      }),
    );
  }

  /** GET/POST … and parse JSON. */
  async json<T>(method: string, path: string, json?: unknown): Promise<T> {
    const res = await this.request(method, path, json === undefined ? {} : { json });
    return (await res.json()) as T;
  }

  /** A client failure as the CLI reports it. */
  #kernelError(error: unknown): unknown {
    if (!isKernoApiError(error)) return error; // the caller's abort, or a bug
    if (error.status === 0 && error.code === 'UNREACHABLE') {
      const local = localFileError(error.cause);
      if (local !== undefined) {
        return new KernelError('INVALID_ARGUMENT', `Cannot read ${local.path}: ${local.message}`, {
          cause: local,
        });
      }
      return new KernelError(
        'UNREACHABLE',
        `Cannot reach the kerno daemon at ${this.target.url}; start it with \`kerno up\`, or pass --url (or --store to work on a store directly)`,
        { cause: error },
      );
    }
    const hint = error.status === 401 ? ' (check --token, KERNO_TOKEN or <state>/token)' : '';
    return new KernelError(error.code, error.detail + hint, {
      cause: error,
      ...(error.details === undefined ? {} : { details: error.details }),
    });
  }
}

/** The file-system error behind a failed upload (the body stream failed, not the daemon). */
function localFileError(error: unknown): (Error & { path: string }) | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (typeof (e as { path?: unknown }).path === 'string') return e as Error & { path: string };
  }
  return undefined;
}

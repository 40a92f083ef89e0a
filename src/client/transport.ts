/**
 * The client's one way to the daemon: builds the URL, adds the bearer token, applies the
 * timeout, sends (with the injected `fetch`), and turns every failure that is not the caller's
 * abort into a {@link KernoApiError}. Web APIs only (fetch, URL, AbortController, streams).
 *
 * @module
 */
import { KernoApiError, errorFromResponse } from './errors.js';

/** What an upload body may be: text, bytes, a Blob, a byte stream, or any async iterable of chunks. */
export type UploadBody =
  | string
  | Blob
  | ArrayBuffer
  | ArrayBufferView
  | FormData
  | URLSearchParams
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array | string>;

/** Options of {@link createClient}. */
export interface KernoClientOptions {
  /** The daemon, e.g. `http://127.0.0.1:7420` (a path prefix behind a proxy is kept). */
  readonly baseUrl: string | URL;
  /** The bearer token (`<state>/token`, or one `kerno tokens create` printed). */
  readonly token?: string | undefined;
  /** The fetch to use (default: the global one): a test double, a proxy agent, an edge fetch. */
  readonly fetch?: typeof fetch | undefined;
  /**
   * Milliseconds a call may take, 0 for no limit (default 30000). JSON calls count until the
   * body is read; uploads, downloads and event streams have no limit unless a call sets one,
   * and then count until the response headers.
   */
  readonly timeoutMs?: number | undefined;
  /** Headers sent with every request (e.g. a proxy's own auth). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** Options every call accepts. */
export interface CallOptions {
  /** Aborts the call: it then rejects with the signal's reason, not a KernoApiError. */
  readonly signal?: AbortSignal | undefined;
  /** This call's timeout (see {@link KernoClientOptions.timeoutMs}). */
  readonly timeoutMs?: number | undefined;
}

/** A raw request. */
export interface RequestOptions extends CallOptions {
  /** Query parameters; arrays are sent comma-separated, undefined ones left out. */
  readonly query?: Readonly<Record<string, QueryValue>> | undefined;
  /** A JSON body. */
  readonly json?: unknown;
  /** A raw body (streamed when it is a stream or an async iterable). */
  readonly body?: UploadBody | undefined;
  readonly contentType?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Non-2xx statuses answered like a 2xx (their body is the answer, not a problem). */
  readonly accept?: readonly number[] | undefined;
}

/** A query parameter value. */
export type QueryValue = string | number | boolean | readonly string[] | undefined;

const DEFAULT_TIMEOUT_MS = 30_000;

/** The transport behind every client method. */
export class Transport {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #headers: Readonly<Record<string, string>>;

  constructor(options: KernoClientOptions) {
    const base = String(options.baseUrl);
    if (!/^https?:\/\/[^/]/i.test(base) || !URL.canParse(base)) {
      throw new KernoApiError({
        code: 'INVALID_ARGUMENT',
        status: 0,
        detail: `baseUrl must be an absolute URL such as http://127.0.0.1:7420, got ${JSON.stringify(base.slice(0, 200))}`,
        request: '',
      });
    }
    this.baseUrl = base.replace(/\/+$/, '');
    this.#token = options.token;
    // Bound: a platform fetch called as a method of another object throws "Illegal invocation".
    const f = options.fetch ?? globalThis.fetch;
    this.#fetch = (input, init) => f(input, init);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#headers = options.headers ?? {};
  }

  /** The client-wide timeout. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /**
   * Sends a request and resolves with the 2xx response; rejects with a KernoApiError otherwise.
   * `read` (when given) consumes the body inside the timeout.
   */
  async send<T = Response>(
    method: string,
    path: string,
    options: RequestOptions & { readonly read?: (res: Response) => Promise<T> } = {},
  ): Promise<T> {
    const url = this.baseUrl + path + queryString(options.query);
    const request = `${method} ${path}`;
    const headers: Record<string, string> = { ...this.#headers, ...options.headers };
    if (this.#token !== undefined) headers['authorization'] = `Bearer ${this.#token}`;
    let body: BodyInit | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.body !== undefined) {
      body = toBodyInit(options.body);
      headers['content-type'] = options.contentType ?? 'application/octet-stream';
    }
    const timeoutMs = options.timeoutMs ?? (options.read === undefined ? 0 : this.#timeoutMs);
    const controller = new AbortController();
    const caller = options.signal;
    const onAbort = (): void => controller.abort(caller?.reason);
    if (caller?.aborted === true) throw caller.reason;
    caller?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timeoutMs)
        : undefined;
    const fail = (error: unknown): never => {
      if (caller?.aborted === true) throw caller.reason;
      if (timedOut)
        throw new KernoApiError(
          {
            code: 'TIMEOUT',
            status: 0,
            detail: `${request} took longer than ${timeoutMs} ms; raise timeoutMs (0 for no limit)`,
            request,
          },
          { cause: error },
        );
      if (error instanceof KernoApiError) throw error;
      throw new KernoApiError(
        {
          code: 'UNREACHABLE',
          status: 0,
          detail: `Cannot reach the kerno daemon at ${this.baseUrl} (${request}: ${(error as Error).message ?? String(error)}); check that it runs (\`kerno up\`) and that baseUrl points at it`,
          request,
        },
        { cause: error },
      );
    };
    let streaming = false;
    try {
      let res: Response;
      try {
        res = await this.#fetch(url, {
          method,
          headers,
          signal: controller.signal,
          // duplex: a streamed body (fetch refuses one without it).
          ...(body === undefined
            ? {}
            : { body, ...(body instanceof ReadableStream ? { duplex: 'half' } : {}) }),
        });
      } catch (error) {
        return fail(error);
      }
      if (!res.ok && options.accept?.includes(res.status) !== true)
        throw await errorFromResponse(res, request);
      if (options.read === undefined) {
        // The body streams on after this returns: the caller's signal must still reach it.
        streaming = true;
        return res as T;
      }
      try {
        return await options.read(res);
      } catch (error) {
        if (error instanceof SyntaxError)
          throw new KernoApiError(
            {
              code: 'INTERNAL',
              status: res.status,
              detail: `${request} answered a body that is not JSON: is ${this.baseUrl} a kerno daemon?`,
              request,
            },
            { cause: error },
          );
        return fail(error);
      }
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (!streaming) caller?.removeEventListener('abort', onAbort);
    }
  }

  /** Sends and parses the JSON answer (undefined for 204). */
  json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return this.send(method, path, {
      ...options,
      read: async (res) => {
        const text = await res.text();
        return (text === '' ? undefined : JSON.parse(text)) as T;
      },
    });
  }
}

function queryString(query: Readonly<Record<string, QueryValue>> | undefined): string {
  if (query === undefined) return '';
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue;
    q.set(name, Array.isArray(value) ? value.join(',') : String(value));
  }
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/** An upload as something fetch sends (async iterables become byte streams). */
function toBodyInit(body: UploadBody): BodyInit {
  if (
    typeof body === 'string' ||
    body instanceof ReadableStream ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    (typeof Blob !== 'undefined' && body instanceof Blob) ||
    (typeof FormData !== 'undefined' && body instanceof FormData) ||
    body instanceof URLSearchParams
  )
    return body as BodyInit;
  const iterator = (body as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next: IteratorResult<Uint8Array | string> = await iterator.next();
        if (next.done === true) controller.close();
        else
          controller.enqueue(
            typeof next.value === 'string' ? encoder.encode(next.value) : next.value,
          );
      } catch (error) {
        controller.error(error);
      }
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  });
}

/** A streamed answer (an export): the body, or its lines. */
export interface Download {
  readonly response: Response;
  /** The bytes as they arrive. */
  readonly body: ReadableStream<Uint8Array>;
  /** The body's lines (NDJSON, RVLS), without line ends, empty lines skipped. */
  lines(): AsyncIterableIterator<string>;
  /** The whole body as text. */
  text(): Promise<string>;
}

/** Wraps a streamed response. */
export function download(response: Response): Download {
  const body = response.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  return {
    response,
    body,
    lines: () => textLines(body),
    text: () => response.text(),
  };
}

/** The lines of a byte stream, decoded as UTF-8 across chunk boundaries. */
export async function* textLines(body: ReadableStream<Uint8Array>): AsyncIterableIterator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (line !== '') yield line;
      }
      if (done) break;
    }
    const last = buf.replace(/\r$/, '');
    if (last !== '') yield last;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

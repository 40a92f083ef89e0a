/**
 * The event feed (`GET /api/events`, Server-Sent Events) as an async iterator that survives
 * drops: after the connection ends or fails it reconnects with `Last-Event-ID` set to the last
 * event it yielded, so the daemon resumes right after it (from its ring, or from the audit trail
 * when the client fell further behind). Events are yielded once each, in id order: a partial
 * frame cut by the drop is discarded and re-sent by the daemon, and an id at or below the last
 * one is skipped. Frames without an id (events the daemon does not record: run steps'
 * announcements) are yielded as they come, marked `live`, and are never re-sent on a resume.
 *
 * @module
 */
import { KernoApiError } from './errors.js';
import type { Transport } from './transport.js';
import type { KernoEvent } from './types.js';

/** Options of `client.events.stream()`. */
export interface EventStreamOptions {
  /** Only these kernel event types. */
  readonly types?: readonly string[] | undefined;
  /** Start after this event id (default: only events from now on). */
  readonly since?: number | undefined;
  /** Ends the iteration (without an error). */
  readonly signal?: AbortSignal | undefined;
  /**
   * Milliseconds before a reconnect (default: the daemon's `retry:` field, else 1000), doubled
   * after each failed attempt up to `maxReconnectDelayMs` (default 30000).
   */
  readonly reconnectDelayMs?: number | undefined;
  readonly maxReconnectDelayMs?: number | undefined;
  /**
   * Failed reconnection attempts in a row before the iteration fails with the last error
   * (default 10; `Infinity` to keep trying). The first connection is not retried, and a refusal
   * (401, 403, 400) fails at once.
   */
  readonly maxReconnects?: number | undefined;
  /** Called before each reconnect, with the id it resumes after. */
  readonly onReconnect?:
    ((info: { lastEventId: number | undefined; attempt: number }) => void) | undefined;
}

/** A resumable event stream: iterate it; `lastEventId` is where a new one would resume. */
export class EventStream implements AsyncIterableIterator<KernoEvent> {
  #lastEventId: number | undefined;
  readonly #inner: AsyncGenerator<KernoEvent, undefined>;

  constructor(transport: Transport, path: string, options: EventStreamOptions = {}) {
    this.#lastEventId = options.since;
    this.#inner = this.#run(transport, path, options);
  }

  /** The id of the last event yielded (or the `since` it started from). */
  get lastEventId(): number | undefined {
    return this.#lastEventId;
  }

  next(): Promise<IteratorResult<KernoEvent>> {
    return this.#inner.next();
  }

  return(): Promise<IteratorResult<KernoEvent>> {
    return this.#inner.return(undefined);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async *#run(
    transport: Transport,
    path: string,
    o: EventStreamOptions,
  ): AsyncGenerator<KernoEvent, undefined> {
    const signal = o.signal;
    const maxReconnects = o.maxReconnects ?? 10;
    const maxDelay = o.maxReconnectDelayMs ?? 30_000;
    let serverRetry: number | undefined;
    let failures = 0;
    for (let connection = 0; ; connection++) {
      if (aborted(signal)) return undefined;
      if (connection > 0) {
        const base = o.reconnectDelayMs ?? serverRetry ?? 1000;
        o.onReconnect?.({ lastEventId: this.#lastEventId, attempt: failures });
        await sleep(Math.min(maxDelay, base * 2 ** Math.max(0, failures - 1)), signal);
        if (aborted(signal)) return undefined;
      }
      const controller = new AbortController();
      const onAbort = (): void => controller.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        let res: Response;
        try {
          res = await transport.send('GET', path, {
            query: { types: o.types },
            headers: {
              accept: 'text/event-stream',
              ...(this.#lastEventId === undefined
                ? {}
                : { 'last-event-id': String(this.#lastEventId) }),
            },
            signal: controller.signal,
          });
        } catch (error) {
          if (aborted(signal)) return undefined;
          // The first connection fails at once (a wrong URL or token is not worth retrying);
          // after a drop, an unreachable or failing daemon is retried (it may be restarting).
          const retriable =
            connection > 0 &&
            error instanceof KernoApiError &&
            (error.status === 0 || error.status >= 500);
          if (!retriable || ++failures > maxReconnects) throw error;
          continue;
        }
        failures = 0;
        try {
          for await (const frame of sseFrames(res.body)) {
            if (frame.retry !== undefined) serverRetry = frame.retry;
            if (frame.data === undefined) continue;
            // No id: an event the daemon does not record (a run step's announcement), sent live
            // only; it carries the last recorded id and never moves the resume point.
            const live = frame.id === undefined;
            if (!live && !/^\d+$/.test(frame.id!)) continue;
            const id = live ? (this.#lastEventId ?? 0) : Number(frame.id);
            if (!live && this.#lastEventId !== undefined && id <= this.#lastEventId) continue;
            let data: KernoEvent['data'];
            try {
              data = JSON.parse(frame.data) as KernoEvent['data'];
            } catch (error) {
              throw new KernoApiError(
                {
                  code: 'INTERNAL',
                  status: res.status,
                  detail: `Event ${live ? `after ${String(id)}` : String(id)} of GET ${path} is not JSON`,
                  request: `GET ${path}`,
                },
                { cause: error },
              );
            }
            if (live) {
              yield { id, type: frame.event ?? data.type, data, live: true };
              continue;
            }
            this.#lastEventId = id;
            yield { id, type: frame.event ?? data.type, data };
          }
        } catch (error) {
          if (error instanceof KernoApiError) throw error;
          // The connection dropped mid-stream: reconnect and resume below.
        }
        if (aborted(signal)) return undefined;
        // The daemon answered and the stream ended (a drop, a restart, a slow client cut off):
        // reconnect after the base delay; only failed connection attempts count toward the limit.
        failures = 1;
      } finally {
        signal?.removeEventListener('abort', onAbort);
        controller.abort();
      }
    }
  }
}

/** One SSE frame's fields. */
interface Frame {
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
}

/** The frames of an SSE body (a frame cut off by the end of the body is dropped). */
async function* sseFrames(body: ReadableStream<Uint8Array> | null): AsyncGenerator<Frame> {
  if (body === null) return;
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let frame: Frame = {};
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.search(/\r\n|\r|\n/)) !== -1) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + (buf.startsWith('\r\n', i) ? 2 : 1));
        if (line === '') {
          if (frame.data !== undefined || frame.retry !== undefined) yield frame;
          frame = {};
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let v = colon === -1 ? '' : line.slice(colon + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'data') frame.data = frame.data === undefined ? v : `${frame.data}\n${v}`;
        else if (field === 'id') frame.id = v;
        else if (field === 'event') frame.event = v;
        else if (field === 'retry' && /^\d+$/.test(v)) frame.retry = Number(v);
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** Whether `signal` has aborted (a call, so the compiler does not narrow it across awaits). */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted === true) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

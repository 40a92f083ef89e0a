/**
 * Following a log stream: replay from a position, then keep up with new commits — in position
 * order, with no gap and no duplicate, whatever appends race with the reader. The one follow
 * loop: log views ({@link LogView.follow}) build on it; nothing else reads a stream live.
 *
 * @module
 */
import { KernelError } from '../errors.js';
import type { LogBody, LogStore } from './log.js';

/** Options for {@link followLog}. */
export interface FollowOptions {
  /** Deliver records after this seq (default 0: everything still held). */
  readonly fromSeq?: number;
  /** Ends the iteration when aborted. */
  readonly signal?: AbortSignal | undefined;
  /** Records read per step (default 1000). */
  readonly batchSize?: number;
  /**
   * How often to look for records committed by other processes while idle (default 500 ms).
   * Appends made through this process's log wake the reader at once.
   */
  readonly pollMs?: number;
}

/**
 * A live iteration over a stream. `caughtUp` resolves with a seq once the consumer has been
 * handed every record that was committed when the iteration began (the replay is done); it
 * rejects if the iteration fails or ends first. It only settles while someone iterates.
 */
export type LogFollow<T> = AsyncGenerator<T, void, undefined> & {
  readonly caughtUp: Promise<number>;
};

/**
 * Yields the stream's records after `fromSeq`, then follows it until `signal` aborts, in seq
 * order. Appends wake the reader; the records this process committed come with the wake-up and
 * are delivered from it when they are next (without reading them back), everything else from the
 * log. A stream pruned past `fromSeq` resumes at its first record still held.
 */
export function followLog(
  log: LogStore,
  stream: string,
  options: FollowOptions = {},
): LogFollow<LogBody> {
  const from = options.fromSeq ?? 0;
  if (!Number.isSafeInteger(from) || from < 0) {
    throw new KernelError(
      'INVALID_QUERY',
      `fromPosition must be a non-negative integer, got ${String(from)}`,
    );
  }
  let resolve!: (seq: number) => void;
  let reject!: (error: unknown) => void;
  const caughtUp = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A follower nobody awaits for catching up must not raise an unhandled rejection.
  caughtUp.catch(() => undefined);
  const generator = follow(log, stream, from, options, { resolve, reject });
  return Object.assign(generator, { caughtUp });
}

interface CatchUp {
  resolve(seq: number): void;
  reject(error: unknown): void;
}

async function* follow(
  log: LogStore,
  stream: string,
  from: number,
  options: FollowOptions,
  catchUp: CatchUp,
): AsyncGenerator<LogBody, void, undefined> {
  const batchSize = options.batchSize ?? 1000;
  const pollMs = options.pollMs ?? 500;
  const signal = options.signal;
  const aborted = (): boolean => signal?.aborted === true;
  let wake: (() => void) | undefined;
  let dirty = false;
  // Records this process committed to the stream, as the log hands them to its listeners: when
  // they are the next ones to deliver they come from here, so a reader of its own appends does
  // not read them back. `stale`: the log may hold records that did not come this way (a bare
  // wake-up from another process's commit, an echo that overflowed, the poll timer) — read it.
  let echo: LogBody[] = [];
  let stale = true;
  const poke = (records: readonly LogBody[]): void => {
    dirty = true;
    if (records.length === 0) stale = true;
    else if (echo.length + records.length > batchSize) {
      echo = [];
      stale = true;
    } else {
      const sorted = echo.length === 0 || records[0]!.seq > echo[echo.length - 1]!.seq;
      echo.push(...records);
      if (!sorted) echo.sort((a, b) => a.seq - b.seq);
    }
    const w = wake;
    wake = undefined;
    w?.();
  };
  const wakeOnAbort = (): void => poke([]);
  const idle = (): Promise<void> =>
    new Promise<void>((done) => {
      if (dirty || aborted()) {
        done();
        return;
      }
      const timer = setTimeout(() => {
        // Other processes' commits may come without a wake-up: look for them.
        stale = true;
        done();
      }, pollMs);
      timer.unref();
      wake = () => {
        clearTimeout(timer);
        done();
      };
    });
  const off = log.onAppend(stream, poke);
  signal?.addEventListener('abort', wakeOnAbort, { once: true });
  let caught = false;
  try {
    const head = await log.head(stream);
    let last = Math.max(from, head.firstSeq - 1);
    const target = head.seq;
    while (!aborted()) {
      if (!caught && last >= target) {
        caught = true;
        catchUp.resolve(last);
      }
      dirty = false;
      let skip = 0;
      while (skip < echo.length && echo[skip]!.seq <= last) skip++;
      if (skip < echo.length && echo[skip]!.seq === last + 1) {
        // The next records are this process's own: deliver the consecutive ones from memory.
        let end = skip;
        while (end + 1 < echo.length && echo[end + 1]!.seq === echo[end]!.seq + 1) end++;
        const own = echo.slice(skip, end + 1);
        echo = echo.slice(end + 1);
        for (const r of own) {
          last = r.seq;
          yield r;
          if (aborted()) return;
        }
        if (dirty || stale || echo.length > 0 || (!caught && last >= target)) continue;
        await idle();
        continue;
      }
      if (skip > 0) echo = echo.slice(skip);
      stale = false;
      const batch = await log.scan(stream, last, batchSize);
      let complete = true;
      for (const r of batch) {
        // A hole means a concurrent writer has not committed yet: read again from `last`.
        if (r.seq !== last + 1) {
          complete = false;
          break;
        }
        last = r.seq;
        yield r;
        if (aborted()) return;
      }
      if (complete && batch.length === batchSize) {
        stale = true;
        continue;
      }
      if (dirty) continue;
      if (!complete) {
        // Or the records were pruned while this reader lagged: resume at the first one held.
        const firstHeld = (await log.head(stream)).firstSeq;
        if (firstHeld - 1 > last) {
          last = firstHeld - 1;
          stale = true;
          continue;
        }
      }
      if (!caught && last >= target) continue;
      await idle();
    }
  } catch (error) {
    catchUp.reject(error);
    throw error;
  } finally {
    off();
    signal?.removeEventListener('abort', wakeOnAbort);
    if (!caught) {
      catchUp.reject(
        new KernelError('CLOSED', `Stopped following "${stream}" before its replay was done`),
      );
    }
  }
}

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
 * Yields the stream's records after `fromSeq`, then follows it until `signal` aborts.
 * Appends only wake the reader; records always come from the log in seq order. A stream pruned
 * past `fromSeq` resumes at its first record still held.
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
  const poke = (): void => {
    dirty = true;
    const w = wake;
    wake = undefined;
    w?.();
  };
  const off = log.onAppend(stream, poke);
  signal?.addEventListener('abort', poke, { once: true });
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
      if ((complete && batch.length === batchSize) || dirty) continue;
      if (!complete) {
        // Or the records were pruned while this reader lagged: resume at the first one held.
        const firstHeld = (await log.head(stream)).firstSeq;
        if (firstHeld - 1 > last) {
          last = firstHeld - 1;
          continue;
        }
      }
      if (!caught && last >= target) continue;
      await new Promise<void>((done) => {
        if (dirty || aborted()) {
          done();
          return;
        }
        const timer = setTimeout(done, pollMs);
        timer.unref();
        wake = () => {
          clearTimeout(timer);
          done();
        };
      });
    }
  } catch (error) {
    catchUp.reject(error);
    throw error;
  } finally {
    off();
    signal?.removeEventListener('abort', poke);
    if (!caught) {
      catchUp.reject(
        new KernelError('CLOSED', `Stopped following "${stream}" before its replay was done`),
      );
    }
  }
}

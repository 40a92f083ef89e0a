/**
 * Following a log stream: replay from a position, then keep up with new commits — in position
 * order, with no gap and no duplicate, whatever appends race with the reader. Used by ledger
 * subscriptions, the approval gate and the live event feed.
 *
 * @module
 */
import { KernelError } from '../errors.js';
import type { LogBody, LogStore } from './log.js';

/** Options for {@link followLog}. */
export interface FollowOptions {
  /** Deliver records after this seq (default 0: everything). */
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
 * Yields the stream's records after `fromSeq`, then follows it until `signal` aborts.
 * Appends only wake the reader; records always come from the log in seq order.
 */
export async function* followLog(
  log: LogStore,
  stream: string,
  options: FollowOptions = {},
): AsyncGenerator<LogBody, void, undefined> {
  const batchSize = options.batchSize ?? 1000;
  const pollMs = options.pollMs ?? 500;
  const signal = options.signal;
  const aborted = (): boolean => signal?.aborted === true;
  let last = options.fromSeq ?? 0;
  if (!Number.isSafeInteger(last) || last < 0) {
    throw new KernelError(
      'INVALID_QUERY',
      `fromPosition must be a non-negative integer, got ${String(last)}`,
    );
  }
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
  try {
    while (!aborted()) {
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
      await new Promise<void>((resolve) => {
        if (dirty || aborted()) {
          resolve();
          return;
        }
        const timer = setTimeout(resolve, pollMs);
        timer.unref();
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    off();
    signal?.removeEventListener('abort', poke);
  }
}

/**
 * Parallel chain verification: a long stream's seq range is cut into ranges, each checked by
 * {@link ChainVerifier} on a worker thread with its own read connection (the backends'
 * `verifyRanges`; the first range on this thread), and the outcomes are merged here — so the
 * result is the sequential one.
 *
 * Why it is identical: the sequential verifier's state before a record is only the previous
 * record's seq and stored hash. A range's verifier starts from exactly that — the stored record
 * before the range (or the stream's start) — so every record gets the same checks, the same
 * break reasons, seqs and messages, and a range's first `prev_hash` is compared with the stored
 * hash before it, the boundary check the sequential verifier makes. The merge adds the counts,
 * lists the breaks in seq order (capped at `maxBreaks`) and takes the last range's end as the
 * head; the "log ends before the expected head" check is the last range's (it reads to the end).
 *
 * @module
 */
import {
  ChainVerifier,
  type ChainVerifierOptions,
  type LogHead,
  type LogRecord,
  type LogStore,
  type VerifyBreak,
  type VerifyRangeOutcome,
  type VerifyRangeTask,
  type VerifyResult,
} from './log.js';
import { availableParallelism } from 'node:os';

/** Options for parallel verification (see `LogVerifyOptions.parallel`). */
export interface ParallelVerifyOptions {
  /** Streams with fewer records than this are verified sequentially (default 200 000). */
  readonly minRecords?: number | undefined;
  /**
   * Ranges checked at once — this thread and `threads - 1` workers — default the machine's
   * parallelism, at most 8; < 2: sequential.
   */
  readonly threads?: number | undefined;
}

/** Default `minRecords`: below it, starting threads costs more than it saves. */
export const PARALLEL_VERIFY_MIN_RECORDS = 200_000;

/** Records a range reads per query. */
export const RANGE_READ_BATCH = 10_000;

/** Mirrors {@link ChainVerifier}'s default cap, so the merge caps where it would. */
function resolvedMaxBreaks(options: ChainVerifierOptions): number {
  return Math.max(1, options.maxBreaks ?? 100);
}

/**
 * Verifies in parallel when `log` can and the stream is long enough; otherwise resolves
 * `undefined` (the caller verifies sequentially).
 */
export async function verifyInParallel(
  log: LogStore,
  stream: string,
  head: LogHead,
  start: { readonly seq: number; readonly hash: string },
  options: ChainVerifierOptions,
  parallel: ParallelVerifyOptions | false | undefined,
  onProgress: ((checked: number, total: number) => void) | undefined,
): Promise<VerifyResult | undefined> {
  if (parallel === false || log.verifyRanges === undefined) return undefined;
  const total = head.seq - start.seq;
  const threads = Math.floor(parallel?.threads ?? Math.min(8, availableParallelism()));
  if (threads < 2 || total < (parallel?.minRecords ?? PARALLEL_VERIFY_MIN_RECORDS)) {
    return undefined;
  }
  const ranges = Math.min(threads, Math.max(1, total));
  const bounds = planRanges(start.seq, head.seq, ranges);
  const maxBreaks = resolvedMaxBreaks(options);
  const taskOptions: ChainVerifierOptions = { ...options, maxBreaks };
  const tasks: VerifyRangeTask[] = bounds.map(([afterSeq, throughSeq]) => ({
    stream,
    start: { seq: start.seq, hash: start.hash },
    afterSeq,
    throughSeq,
    options: taskOptions,
  }));
  // The first range runs here, on the store's own connection, beside the workers: one thread
  // fewer to start, and this thread would only wait otherwise.
  let local = 0;
  let remote = 0;
  const report =
    onProgress === undefined ? undefined : (): void => onProgress(local + remote, total);
  const [first, others] = await Promise.all([
    verifyRange(tasks[0]!, storeSource(log, stream), (checked) => {
      local = checked;
      report?.();
    }),
    log.verifyRanges(
      tasks.slice(1),
      report === undefined
        ? undefined
        : (checked) => {
            remote = checked;
            report();
          },
    ),
  ]);
  return mergeRangeOutcomes([first, ...others], maxBreaks);
}

/**
 * The first range's records through the store's own reads. It starts at the stream's start, so
 * it never needs the record before it; reads stop at the range's end.
 */
function storeSource(log: LogStore, stream: string): RangeSource {
  return {
    before: () => undefined,
    read: async (afterSeq, throughSeq, limit) => {
      const batch = await log.read(stream, afterSeq, limit);
      if (throughSeq === undefined) return batch;
      let n = batch.length;
      while (n > 0 && batch[n - 1]!.seq > throughSeq) n--;
      return n === batch.length ? batch : batch.slice(0, n);
    },
  };
}

/**
 * Cuts `(fromSeq, toSeq]` into `count` ranges of about equal length, as `[afterSeq, throughSeq]`;
 * the last is open (`undefined`) so it reads whatever the stream holds past `toSeq`.
 */
export function planRanges(
  fromSeq: number,
  toSeq: number,
  count: number,
): [number, number | undefined][] {
  const total = toSeq - fromSeq;
  const out: [number, number | undefined][] = [];
  for (let i = 0; i < count; i++) {
    const after = fromSeq + Math.floor((i * total) / count);
    const through = i === count - 1 ? undefined : fromSeq + Math.floor(((i + 1) * total) / count);
    out.push([after, through]);
  }
  return out;
}

/** Where a range's records come from (a worker's own read connection). */
export interface RangeSource {
  /** The last record with `fromSeq < seq ≤ atOrBefore`, if any (its seq and stored hash). */
  before(
    fromSeq: number,
    atOrBefore: number,
  ): { seq: number; hash: string } | undefined | Promise<{ seq: number; hash: string } | undefined>;
  /** Up to `limit` records with `afterSeq < seq ≤ throughSeq`, in seq order. */
  read(
    afterSeq: number,
    throughSeq: number | undefined,
    limit: number,
  ): LogRecord[] | Promise<LogRecord[]>;
}

/** Verifies one range (runs in the worker). */
export async function verifyRange(
  task: VerifyRangeTask,
  source: RangeSource,
  onBatch?: (checked: number) => void,
): Promise<VerifyRangeOutcome> {
  const before =
    task.afterSeq > task.start.seq ? await source.before(task.start.seq, task.afterSeq) : undefined;
  const verifier = new ChainVerifier(task.stream, before ?? task.start, task.options);
  let pending = source.read(task.afterSeq, task.throughSeq, RANGE_READ_BATCH);
  let checked = 0;
  for (;;) {
    const batch = await pending;
    if (batch.length === 0) break;
    const more = batch.length === RANGE_READ_BATCH;
    // Ask for the next batch before hashing this one (a network backend reads meanwhile).
    if (more)
      pending = source.read(batch[batch.length - 1]!.seq, task.throughSeq, RANGE_READ_BATCH);
    verifier.feed(batch);
    checked += batch.length;
    onBatch?.(checked);
    if (!more) break;
  }
  const r = verifier.finish();
  const outcome = {
    verified: r.verified,
    checked: r.checked,
    breakCount: r.breakCount,
    breaks: r.breaks,
    head: r.head,
  };
  return task.throughSeq === undefined ? outcome : withoutEndCheck(outcome, task.options);
}

/**
 * A range that is not the last must not report "the log ends before the expected head": finish()
 * added that break (counted, and listed when under the cap) iff the range ended before it; only
 * the last range's end is the log's end.
 */
function withoutEndCheck(o: VerifyRangeOutcome, options: ChainVerifierOptions): VerifyRangeOutcome {
  const expected = options.expectedHead;
  if (expected === undefined || o.head.seq >= expected.seq) return o;
  const listed = o.breakCount <= resolvedMaxBreaks(options);
  return {
    ...o,
    breakCount: o.breakCount - 1,
    breaks: listed ? o.breaks.slice(0, -1) : o.breaks,
  };
}

/** Merges range outcomes (in seq order) into the result the sequential verifier gives. */
export function mergeRangeOutcomes(
  outcomes: readonly VerifyRangeOutcome[],
  maxBreaks: number,
): VerifyResult {
  let verified = 0;
  let checked = 0;
  let breakCount = 0;
  const breaks: VerifyBreak[] = [];
  for (const o of outcomes) {
    // Records verify until the first break: a range counts fully only while none came before.
    if (breakCount === 0) verified += o.verified;
    checked += o.checked;
    breakCount += o.breakCount;
    for (const b of o.breaks) if (breaks.length < maxBreaks) breaks.push(b);
  }
  const head = outcomes[outcomes.length - 1]!.head;
  // The same shape as ChainVerifier.finish().
  const counts = { verified, checked, head, breaks, breakCount };
  const first = breaks[0];
  if (first === undefined) return { ok: true, ...counts };
  return {
    ok: false,
    ...counts,
    seq: first.seq,
    reason: first.reason,
    message: first.message,
    broken: first,
  };
}

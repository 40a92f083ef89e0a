/**
 * Typed views on the log. A view is a stream plus a codec: it appends domain values, answers
 * queries with them, replays and follows the stream (with a *caught-up* signal), and verifies
 * its hash chain with the one {@link VerifyResult} shape. The audit trail, the ledger, the
 * approval gate and the recovery logs are views; none of them reads the log another way.
 *
 * @example
 * const notes = createLogView({ log, stream: 'notes', codec: {
 *   encode: (text: string) => ({ timeMs: Date.now(), body: JSON.stringify(text) }),
 *   decode: (r) => ({ seq: r.seq, text: JSON.parse(r.body) as string }),
 * } });
 * await notes.append(['hello']);
 * const live = notes.follow({ signal });
 * void live.caughtUp.then(showReplayed);
 * for await (const note of live) render(note);
 *
 * @module
 */
import { KernelError } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import { followLog, type LogFollow } from './follow.js';
import { verifyInParallel, type ParallelVerifyOptions } from './log-verify-ranges.js';
import {
  acceptanceStream,
  bareBreak,
  ChainVerifier,
  GENESIS_HASH,
  type ChainAcceptance,
  type ChainBreak,
  type LogAppend,
  type LogAppendAllResult,
  type LogAppendOptions,
  type LogBody,
  type LogHead,
  type LogQuery,
  type LogRecord,
  type LogStore,
  type VerifyResult,
} from './log.js';

/** How a view turns its domain values into log records and back. */
export interface LogCodec<In, Out> {
  /** The record to append for `value` (may throw a `KernelError` for bad input). */
  encode(value: In): LogAppend;
  /** The domain value a stored record holds (stored bodies are covered by the chain). */
  decode(record: LogBody): Out;
  /**
   * The value for a record just appended from `value`, to skip re-parsing what is in hand.
   * Only called when the log stored `value`'s own body (not an earlier record with its key).
   */
  committed?(record: LogRecord, value: In): Out;
}

/** Options for {@link createLogView}. */
export interface LogViewOptions<In, Out> {
  readonly log: LogStore;
  readonly stream: string;
  readonly codec: LogCodec<In, Out>;
  /** The clock `verify` compares timestamps with (default: the system clock). */
  readonly clock?: Clock | undefined;
  /**
   * How far (ms) a record's time may lie ahead of the clock before `verify` reports it as
   * `future_timestamp` (default 60 000: envelopes stamped by another host's clock).
   */
  readonly clockSkewMs?: number | undefined;
  /** How often a follower looks for records other processes committed (default 500 ms). */
  readonly pollMs?: number | undefined;
}

/** Options for {@link LogView.follow}. */
export interface LogViewFollowOptions<Out> {
  /** Deliver records after this seq (default 0: everything still held). */
  readonly after?: number | undefined;
  /** Ends the iteration when aborted. */
  readonly signal?: AbortSignal | undefined;
  /** Only values this accepts are delivered (positions still advance past the others). */
  readonly filter?: ((value: Out) => boolean) | undefined;
  /** Records read per step (default 1000). */
  readonly batchSize?: number | undefined;
  /** Overrides the view's `pollMs`. */
  readonly pollMs?: number | undefined;
}

/** Options for {@link LogView.verify}. */
export interface LogVerifyOptions {
  /** A head recorded earlier: a stream that no longer reaches it is reported as truncated. */
  readonly expectedHead?: { readonly seq: number; readonly hash: string } | undefined;
  /** Called with the number of records checked so far and the total (for progress bars). */
  readonly onProgress?: ((checked: number, total: number) => void) | undefined;
  /** Most breaks listed (default 100); all are counted. */
  readonly maxBreaks?: number | undefined;
  /**
   * Long streams on SQLite and PostgreSQL are verified in seq ranges on worker threads (same
   * result as sequentially): from `minRecords` records (default 200 000) on `threads` threads
   * (default: the machine's parallelism, at most 8). `false`: always sequentially.
   */
  readonly parallel?: ParallelVerifyOptions | false | undefined;
}

/** Options for {@link LogView.accept}. */
export interface LogAcceptOptions {
  /** Accept the stream as it stands through this seq (≥ the last anchor's, ≤ the head). */
  readonly throughSeq: number;
  /** Why (kept in the anchor; 1–1000 characters). */
  readonly reason: string;
  /** Who accepts it (a token's label, an operator's name; 1–200 characters). */
  readonly by: string;
  /**
   * Breaks a layer above the log found at or before `throughSeq` (the audit trail's imported
   * upstream prefix: `imported_chain_broken`), accepted by the same anchor.
   */
  readonly extraBreaks?: readonly ChainBreak[] | undefined;
}

/** Most breaks one anchor may accept (verify lists and compares them all). */
export const MAX_ACCEPTED_BREAKS = 10_000;

/** Creates a typed view over one stream of `log`. */
export function createLogView<In, Out>(options: LogViewOptions<In, Out>): LogView<In, Out> {
  return new LogView(options);
}

const READ_BATCH = 10_000;

/** A typed view: one stream, one codec. */
export class LogView<In, Out> {
  readonly #log: LogStore;
  readonly #stream: string;
  readonly #codec: LogCodec<In, Out>;
  readonly #clock: Clock;
  readonly #skewMs: number;
  readonly #pollMs: number | undefined;

  constructor(options: LogViewOptions<In, Out>) {
    const skew = options.clockSkewMs ?? 60_000;
    if (!Number.isSafeInteger(skew) || skew < 0) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `clockSkewMs must be a non-negative integer (ms), got ${String(skew)}`,
      );
    }
    this.#log = options.log;
    this.#stream = options.stream;
    this.#codec = options.codec;
    this.#clock = options.clock ?? systemClock;
    this.#skewMs = skew;
    this.#pollMs = options.pollMs;
  }

  /** The stream this view lives in. */
  get stream(): string {
    return this.#stream;
  }

  /**
   * Encodes `values` and appends them atomically (all or none); resolves once durable.
   * `options` are the log's (a fence: {@link LogAppendOptions.unlessKey}).
   */
  async append(values: readonly In[], options?: LogAppendOptions): Promise<Out[]> {
    const entries = values.map((v) => this.#codec.encode(v));
    const records = await this.#log.append(this.#stream, entries, options);
    const codec = this.#codec;
    return records.map((r, i) =>
      codec.committed !== undefined && r.body === entries[i]!.body
        ? codec.committed(r, values[i]!)
        : codec.decode(r),
    );
  }

  /**
   * Encodes and appends every value `batches` yields as one atomic commit (all or none), with
   * about one batch in memory: see {@link LogStore.appendAll}.
   */
  appendAll(batches: AsyncIterable<readonly In[]>): Promise<LogAppendAllResult> {
    const codec = this.#codec;
    async function* encoded(): AsyncGenerator<LogAppend[]> {
      for await (const batch of batches) yield batch.map((v) => codec.encode(v));
    }
    return this.#log.appendAll(this.#stream, encoded());
  }

  /**
   * Like {@link LogView.append} without building the values back: for hot paths that only need
   * to know the records are durable.
   */
  write(values: readonly In[]): Promise<void> {
    let entries: LogAppend[];
    try {
      entries = values.map((v) => this.#codec.encode(v));
    } catch (error) {
      return Promise.reject(
        error instanceof Error ? error : new KernelError('INVALID_ARGUMENT', String(error)),
      );
    }
    return this.#log.append(this.#stream, entries).then(() => undefined);
  }

  /** Values whose records match `query` (see {@link LogQuery} for order and limit). */
  async query(query: LogQuery = {}): Promise<Out[]> {
    const records = await this.#log.query(this.#stream, query);
    return records.map((r) => this.#codec.decode(r));
  }

  /** The value stored under `key`, if any. */
  async get(key: string): Promise<Out | undefined> {
    const r = await this.#log.getByKey(this.#stream, key);
    return r === undefined ? undefined : this.#codec.decode(r);
  }

  /** Up to `limit` values after seq `after`, oldest first. */
  async read(after: number, limit: number): Promise<Out[]> {
    const batch = await this.#log.scan(this.#stream, after, limit);
    return batch.map((r) => this.#codec.decode(r));
  }

  /** Every value after seq `after` (default: from the first record held), oldest first; ends at the head. */
  async *replay(
    options: { after?: number | undefined } = {},
  ): AsyncGenerator<Out, void, undefined> {
    for await (const r of this.replayStored(options)) yield this.#codec.decode(r);
  }

  /**
   * Like {@link LogView.replay}, but the stored records as they are (body text, position,
   * hashes), not decoded: for consumers that only forward the stored JSON text.
   */
  async *replayStored(
    options: { after?: number | undefined } = {},
  ): AsyncGenerator<LogBody, void, undefined> {
    let after = Math.max(options.after ?? 0, (await this.#log.head(this.#stream)).firstSeq - 1);
    for (;;) {
      const batch = await this.#log.scan(this.#stream, after, READ_BATCH);
      yield* batch;
      if (batch.length < READ_BATCH) return;
      after = batch[batch.length - 1]!.seq;
    }
  }

  /**
   * Replays the values after `after`, then follows new appends — in seq order, with no gap and
   * no duplicate, whatever races with it — until `signal` aborts (or the caller breaks).
   * `caughtUp` resolves once the replay is done.
   */
  follow(options: LogViewFollowOptions<Out> = {}): LogFollow<Out> {
    const raw = this.followStored(options);
    return Object.assign(this.#decoded(raw, options.filter), { caughtUp: raw.caughtUp });
  }

  /**
   * Like {@link LogView.follow}, but the stored records as they are (body text, position,
   * hashes), not decoded: for consumers that only forward the stored JSON text.
   */
  followStored(options: Omit<LogViewFollowOptions<Out>, 'filter'> = {}): LogFollow<LogBody> {
    const pollMs = options.pollMs ?? this.#pollMs;
    return followLog(this.#log, this.#stream, {
      fromSeq: options.after ?? 0,
      signal: options.signal,
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      ...(pollMs === undefined ? {} : { pollMs }),
    });
  }

  /** Like {@link LogView.read}, but the stored records, not decoded. */
  readStored(after: number, limit: number): Promise<readonly LogBody[]> {
    return this.#log.scan(this.#stream, after, limit);
  }

  async *#decoded(
    raw: AsyncGenerator<LogBody, void, undefined>,
    filter: ((value: Out) => boolean) | undefined,
  ): AsyncGenerator<Out, void, undefined> {
    for await (const r of raw) {
      const value = this.#codec.decode(r);
      if (filter === undefined || filter(value)) yield value;
    }
  }

  /** The stream's head: record `{ seq, hash }` to detect a truncated tail later. */
  head(): Promise<LogHead> {
    return this.#log.head(this.#stream);
  }

  /** Sends held background appends to commit now (see `LogStore.expedite`). */
  expedite(): void {
    this.#log.expedite?.();
  }

  /** Waits until every append accepted so far is durable. */
  flush(): Promise<void> {
    return this.#log.flush();
  }

  /**
   * Recomputes every hash from the prune anchor (or genesis) to the head and reports every
   * break: altered record, broken link, missing records, a time beyond the clock plus the
   * view's skew, and a tail that no longer reaches `expectedHead`.
   */
  async verify(options: LogVerifyOptions = {}): Promise<VerifyResult> {
    const found = await this.acceptance();
    const acceptance = typeof found === 'string' ? undefined : found;
    const result = await this.#verifyRange({
      expectedHead: options.expectedHead,
      maxBreaks: options.maxBreaks,
      onProgress: options.onProgress,
      acceptance,
      parallel: options.parallel,
    });
    return typeof found === 'string' ? { ...result, acceptanceProblem: found } : result;
  }

  async #verifyRange(options: {
    expectedHead: { readonly seq: number; readonly hash: string } | undefined;
    maxBreaks: number | undefined;
    onProgress: ((checked: number, total: number) => void) | undefined;
    acceptance: ChainAcceptance | undefined;
    parallel?: ParallelVerifyOptions | false | undefined;
    throughSeq?: number;
  }): Promise<VerifyResult> {
    const head = await this.#log.head(this.#stream);
    const start = head.anchor ?? { seq: 0, hash: GENESIS_HASH };
    const verifierOptions = {
      nowMs: this.#clock.now() + this.#skewMs,
      expectedHead: options.expectedHead,
      maxBreaks: options.maxBreaks,
      acceptance: options.acceptance,
    };
    const end = options.throughSeq ?? Number.POSITIVE_INFINITY;
    // Long streams: ranges on worker threads, merged into the same result (log-verify-ranges.ts).
    // Not with an acceptance anchor or an end seq: the range merge does not apply those.
    if (options.acceptance === undefined && options.throughSeq === undefined) {
      const parallel = await verifyInParallel(
        this.#log,
        this.#stream,
        head,
        start,
        verifierOptions,
        options.parallel,
        options.onProgress,
      );
      if (parallel !== undefined) return parallel;
    }
    const verifier = new ChainVerifier(this.#stream, start, verifierOptions);
    const total = Math.min(end, head.seq) - start.seq;
    let after = start.seq;
    while (after < end) {
      const batch = await this.#log.read(this.#stream, after, READ_BATCH);
      if (batch.length === 0) break;
      // Only records through `end` (a gap can bring later ones into the batch).
      const inRange =
        batch[batch.length - 1]!.seq <= end ? batch : batch.filter((r) => r.seq <= end);
      verifier.feed(inRange);
      after = batch[batch.length - 1]!.seq;
      options.onProgress?.(Math.min(after, end) - start.seq, total);
      if (batch.length < READ_BATCH) break;
    }
    return verifier.finish();
  }

  /**
   * The stream's acceptance anchor in force (the last one appended), `undefined` when it has
   * none, or a sentence saying why its anchors cannot be trusted (their own chain is broken,
   * or the last one is unreadable): then none is applied.
   */
  async acceptance(): Promise<ChainAcceptance | undefined | string> {
    const name = acceptanceStream(this.#stream);
    const head = await this.#log.head(name);
    if (head.seq === 0) return undefined;
    const own = new ChainVerifier(name, head.anchor ?? { seq: 0, hash: GENESIS_HASH });
    let after = head.anchor?.seq ?? 0;
    let last: LogRecord | undefined;
    for (;;) {
      const batch = await this.#log.read(name, after, READ_BATCH);
      if (batch.length === 0) break;
      own.feed(batch);
      last = batch[batch.length - 1]!;
      after = last.seq;
      if (batch.length < READ_BATCH) break;
    }
    const checked = own.finish();
    if (!checked.ok) {
      return `the acceptance anchors in ${name} do not verify (${checked.message}), so none is applied`;
    }
    const parsed = last === undefined ? undefined : parseAcceptance(this.#stream, last);
    return parsed ?? `the last acceptance anchor in ${name} is not readable, so none is applied`;
  }

  /**
   * The repair path for a chain with breaks that are known and explained (a record poisoned
   * before a check existed, say): appends an acceptance anchor — who, why, the accepted head
   * `{ seq, hash }` and every break found at or before it — to the stream's acceptance stream.
   * Nothing is updated or deleted. From then on {@link LogView.verify} reports exactly those
   * breaks under `accepted` (not failures), checks that the record at `throughSeq` keeps its
   * hash, and checks everything else strictly: a record changed later, before or after the
   * anchor, is a failure. A later anchor replaces the earlier one (it lists every break through
   * its own seq). Fails with `INVALID_ARGUMENT` for a seq out of range, `CONFLICT` when the
   * anchors already there do not verify.
   */
  async accept(options: LogAcceptOptions): Promise<ChainAcceptance> {
    const { throughSeq } = options;
    const stream = this.#stream;
    const bad = (message: string): never => {
      throw new KernelError('INVALID_ARGUMENT', message, { details: { stream, throughSeq } });
    };
    const reason = typeof options.reason === 'string' ? options.reason.trim() : '';
    const by = typeof options.by === 'string' ? options.by.trim() : '';
    if (reason.length === 0 || reason.length > 1000 || !reason.isWellFormed())
      bad('Say why the chain is accepted: a reason of 1–1000 characters');
    if (by.length === 0 || by.length > 200 || !by.isWellFormed())
      bad('Say who accepts the chain: a name of 1–200 characters');
    const head = await this.#log.head(stream);
    if (!Number.isSafeInteger(throughSeq) || throughSeq < 1 || throughSeq > head.seq) {
      bad(
        `Accept-through must be a record of ${stream}: a seq from 1 to its head ${head.seq}, got ${String(throughSeq)}`,
      );
    }
    if (throughSeq < head.firstSeq) {
      bad(
        `Record ${throughSeq} of ${stream} was pruned (the stream starts at ${head.firstSeq}); nothing before it is verified any more`,
      );
    }
    const current = await this.acceptance();
    if (typeof current === 'string') {
      throw new KernelError(
        'CONFLICT',
        `Cannot add an acceptance anchor: ${current}. Investigate that stream first.`,
        { details: { stream } },
      );
    }
    if (current !== undefined && throughSeq < current.through.seq) {
      bad(
        `${stream} is already accepted through seq ${current.through.seq}; a new anchor must reach at least that far`,
      );
    }
    const found = await this.#verifyRange({
      expectedHead: undefined,
      maxBreaks: MAX_ACCEPTED_BREAKS,
      onProgress: undefined,
      acceptance: undefined,
      throughSeq,
    });
    const extra = (options.extraBreaks ?? []).filter((b) => b.seq <= found.head.seq);
    if (
      found.breakCount > found.breaks.length ||
      found.breakCount + extra.length > MAX_ACCEPTED_BREAKS
    ) {
      bad(
        `${stream} has ${found.breakCount + extra.length} breaks through seq ${throughSeq}, more than one anchor may accept (${MAX_ACCEPTED_BREAKS}); accept through an earlier seq first`,
      );
    }
    const name = acceptanceStream(stream);
    const anchorSeq = (await this.#log.head(name)).seq + 1;
    const nowMs = this.#clock.now();
    const body: Omit<ChainAcceptance, 'anchorSeq'> = {
      stream,
      through: { seq: found.head.seq, hash: found.head.hash },
      breaks: [...found.breaks, ...extra].map(bareBreak).sort((a, b) => a.seq - b.seq),
      by,
      reason,
      at: new Date(nowMs).toISOString(),
    };
    const [record] = await this.#log.append(name, [
      { timeMs: nowMs, body: JSON.stringify(body), kind: 'accept', subject: by },
    ]);
    return { ...body, anchorSeq: record?.seq ?? anchorSeq };
  }
}

/** An acceptance anchor from its record, or `undefined` when it is not one for `stream`. */
function parseAcceptance(stream: string, r: LogRecord): ChainAcceptance | undefined {
  let v: unknown;
  try {
    v = JSON.parse(r.body);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const a = v as Partial<Record<keyof ChainAcceptance, unknown>>;
  const through = a.through as { seq?: unknown; hash?: unknown } | undefined;
  if (
    a.stream !== stream ||
    typeof through !== 'object' ||
    through === null ||
    !Number.isSafeInteger(through.seq) ||
    typeof through.hash !== 'string' ||
    !Array.isArray(a.breaks) ||
    typeof a.by !== 'string' ||
    typeof a.reason !== 'string' ||
    typeof a.at !== 'string'
  ) {
    return undefined;
  }
  return {
    stream,
    anchorSeq: r.seq,
    through: { seq: through.seq as number, hash: through.hash },
    breaks: a.breaks as ChainBreak[],
    by: a.by,
    reason: a.reason,
    at: a.at,
  };
}

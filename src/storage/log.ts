/**
 * The log: kerno's single append-only engine, under both the audit trail and the experience
 * ledger. A log holds named streams; each stream numbers its records 1, 2, 3 … with no holes and
 * chains them with SHA-256 hashes (see {@link recordHash}). Backends (memory, SQLite,
 * PostgreSQL) implement {@link LogStore}; this file holds the port and the backend-independent
 * rules every backend shares, so they all hash, check and answer alike.
 *
 * @module
 */
import { KernelError } from '../errors.js';
import { sha256Hex } from '../util/digest.js';

/** One record handed to the log to append. Everything here is covered by the record's hash. */
export interface LogAppend {
  /**
   * The record's time, epoch ms: when it happened (audit), or the envelope's `occurred_at`
   * (ledger). Range queries and the "future timestamp" check use it.
   */
  readonly timeMs: number;
  /** The record's content: canonical JSON. */
  readonly body: string;
  /** Unique key within the stream, for idempotent appends (the ledger's `event_id`). */
  readonly key?: string | undefined;
  /** Tenant scope. */
  readonly tenant?: string | undefined;
  /** Kind used for filtering (ledger event kind, audit action type). */
  readonly kind?: string | undefined;
  /** Who or what the record is about (the audit actor). */
  readonly subject?: string | undefined;
  /** Correlation id. */
  readonly correlation?: string | undefined;
  /** Chain id (ledger decision chains). */
  readonly chain?: string | undefined;
}

/** A committed record. */
export interface LogRecord extends LogAppend {
  readonly stream: string;
  /** Position within the stream, from 1, without holes. */
  readonly seq: number;
  /** The previous record's hash, or {@link GENESIS_HASH} for the first. */
  readonly prevHash: string;
  /** SHA-256 over the record's canonical encoding. */
  readonly hash: string;
}

/** A record's position, time, content and links: what a replay needs (cheaper to read than a whole record). */
export type LogBody = Pick<LogRecord, 'stream' | 'seq' | 'timeMs' | 'body' | 'prevHash' | 'hash'>;

/** The last pruned record of a stream, kept so the survivors still verify. */
export interface LogAnchor {
  readonly seq: number;
  readonly hash: string;
}

/** Where a stream stands. Record `{ seq, hash }` somewhere safe to detect a truncated tail later. */
export interface LogHead {
  /** Seq of the last record (0 when empty). */
  readonly seq: number;
  /** Hash of the last record ({@link GENESIS_HASH} when empty). */
  readonly hash: string;
  /** Seq of the first record still held (`seq + 1` when empty). */
  readonly firstSeq: number;
  /** The last pruned record, when the stream was pruned. */
  readonly anchor: LogAnchor | undefined;
}

/** Inclusive range of epoch milliseconds. */
export interface TimeRangeMs {
  readonly fromMs?: number | undefined;
  readonly toMs?: number | undefined;
}

/** A query over one stream's indexed fields. Every backend answers it identically. */
export interface LogQuery {
  readonly tenant?: string | undefined;
  readonly kinds?: readonly string[] | undefined;
  readonly subject?: string | undefined;
  readonly correlation?: string | undefined;
  readonly chain?: string | undefined;
  readonly time?: TimeRangeMs | undefined;
  /** Inclusive seq range. */
  readonly fromSeq?: number | undefined;
  readonly toSeq?: number | undefined;
  /**
   * Order of the answer, oldest first: by `time` (then seq), or by `seq` (the default).
   * With a `limit`, the *newest* `limit` matches are kept (still oldest first).
   */
  readonly orderBy?: 'time' | 'seq' | undefined;
  readonly limit?: number | undefined;
}

/**
 * Called after commits to a stream, in commit order. `records` holds the committed records when
 * this process made them; a backend that also hears about other processes' commits (PostgreSQL
 * LISTEN/NOTIFY) calls with an empty array — a wake-up to read the log. `records` are durable and
 * consecutive within a call, and a stream's calls come in seq order (other processes' records may
 * lie between two calls): followLog delivers them from here when they are the next ones it would
 * read, and reads the log for everything else.
 */
export type LogListener = (records: readonly LogRecord[]) => void;

/** A record's key in a stream. */
export interface LogKeyRef {
  readonly stream: string;
  readonly key: string;
}

/** Conditions on an append, checked in the append's own transaction. */
export interface LogAppendOptions {
  /**
   * A fence: the append commits only while no record with this key exists in that stream;
   * otherwise it fails with `FENCED` and stores nothing. Checked atomically with the commit
   * (a record with the key committed by any process before this append commits makes it fail),
   * so a lease holder that lost its lease cannot write after its successor's claim: the claim is
   * a keyed record (a run's next `run.owner` generation), the holder's appends name it here.
   */
  readonly unlessKey?: LogKeyRef | undefined;
  /**
   * Nobody waits on this append's latency (the audit trail's record of a published event): the
   * backend may hold it for a moment so it commits with the next write that someone awaits,
   * instead of in a commit of its own that such a write would queue behind. It resolves, as
   * every append, only once durable; backends without a group commit ignore it.
   */
  readonly background?: boolean | undefined;
}

/** What {@link LogStore.appendAll} committed. */
export interface LogAppendAllResult {
  /** New records stored. */
  readonly appended: number;
  /** Entries not stored again: their key held identical content already. */
  readonly repeated: number;
  /** The stream's head after the commit. */
  readonly head: { readonly seq: number; readonly hash: string };
}

/** The error of an append whose fence key exists (see {@link LogAppendOptions.unlessKey}). */
export function fencedError(stream: string, fence: LogKeyRef): KernelError {
  return new KernelError(
    'FENCED',
    `Append to ${stream} refused: ${fence.stream} holds ${fence.key} (another writer took over)`,
    { details: { stream, fenceStream: fence.stream, fenceKey: fence.key } },
  );
}

/** The log port. */
export interface LogStore {
  /**
   * Appends records to `stream` atomically (all or none) and resolves once they are durable.
   * A record whose `key` already exists with identical content is not appended again: the
   * stored record is returned in its place. The same key with other content fails with
   * `CONFLICT` and nothing of the batch is stored. `options.unlessKey` fences the append (see
   * {@link LogAppendOptions}); a backend must honour it or fail the append.
   */
  append(
    stream: string,
    entries: readonly LogAppend[],
    options?: LogAppendOptions,
  ): Promise<LogRecord[]>;
  /**
   * Appends every entry `batches` yields, in order, to `stream` as **one** atomic commit (all or
   * none), holding about one batch in memory (the memory backend holds everything anyway):
   * for imports of any size. Keys behave as in {@link LogStore.append}: a key already stored (or
   * earlier in the source) with identical content is not appended again, with other content the
   * whole commit fails with `CONFLICT`. A failure of the source or of the store stores nothing.
   * Other writes to the stream wait while it commits. Resolves once durable; listeners get a
   * wake-up (an empty array), not the records.
   */
  appendAll(
    stream: string,
    batches: AsyncIterable<readonly LogAppend[]>,
  ): Promise<LogAppendAllResult>;
  /** Records with `seq > afterSeq`, oldest first, at most `limit`. */
  read(stream: string, afterSeq: number, limit: number): Promise<LogRecord[]>;
  /** Like {@link LogStore.read}, but only position, time, body and hashes (fast replays). */
  scan(stream: string, afterSeq: number, limit: number): Promise<LogBody[]>;
  /** Records matching `query`. */
  query(stream: string, query: LogQuery): Promise<LogRecord[]>;
  /** The record with this key, if any. */
  getByKey(stream: string, key: string): Promise<LogRecord | undefined>;
  /** The stream's head. */
  head(stream: string): Promise<LogHead>;
  /** Calls `listener` after commits to `stream` (see {@link LogListener}). */
  onAppend(stream: string, listener: LogListener): () => void;
  /**
   * Retention: deletes the stream's records up to and including `throughSeq` (clamped to the
   * head), keeping the last deleted one's `{ seq, hash }` as the stream's anchor — what remains
   * still verifies from it, and the head (so the next append's chain) does not move. Pruning
   * through a seq already pruned does nothing. Resolves with the number of records removed, once
   * durable. The only way records ever leave the log.
   */
  prune(stream: string, throughSeq: number): Promise<number>;
  /**
   * Optional (SQLite, PostgreSQL): checks seq ranges of a stream in parallel, each on a worker
   * thread with its own read connection, running {@link ChainVerifier} from the stored record
   * before its range (see `log-verify-ranges.ts`). `LogView.verify` uses it for long
   * streams and merges the outcomes; backends without it verify sequentially.
   */
  verifyRanges?(
    tasks: readonly VerifyRangeTask[],
    onProgress?: (checked: number) => void,
  ): Promise<VerifyRangeOutcome[]>;
  /**
   * Sends appends held as `background` (see {@link LogAppendOptions.background}) to commit now,
   * without waiting for them: someone is waiting after all. Optional: backends that hold
   * nothing need not have it.
   */
  expedite?(): void;
  /** Waits for every append accepted so far to be durable. */
  flush(): Promise<void>;
  /** Flushes, then releases resources. */
  close(): Promise<void>;
}

/** Checks a prune bound (a non-negative integer seq). */
export function validatePruneSeq(stream: string, throughSeq: number): void {
  if (!Number.isSafeInteger(throughSeq) || throughSeq < 0) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `Pruning ${stream} needs a seq ≥ 0 to prune through, got ${String(throughSeq)}`,
    );
  }
}

/** `prevHash` of a stream's first record. */
export const GENESIS_HASH = '0'.repeat(64);

const DOMAIN_TAG = 'kerno.log.v1';

function field(value: string | undefined): string {
  return value === undefined ? '-' : value.length + ':' + value;
}

/**
 * The record hash: SHA-256 over an unambiguous encoding of every immutable field. Each field is
 * length-prefixed (`<utf16 length>:<text>`), an absent field is `-`, and the whole starts with
 * the domain tag and version `kerno.log.v1`, so no two different records encode alike.
 */
export function recordHash(
  stream: string,
  seq: number,
  entry: LogAppend,
  prevHash: string,
): string {
  return sha256Hex(
    DOMAIN_TAG +
      field(stream) +
      field(String(seq)) +
      field(String(entry.timeMs)) +
      field(entry.key) +
      field(entry.tenant) +
      field(entry.kind) +
      field(entry.subject) +
      field(entry.correlation) +
      field(entry.chain) +
      field(entry.body) +
      field(prevHash),
  );
}

/** Chains `entries` after `head`, producing the records to store. */
export function chainRecords(
  stream: string,
  head: { seq: number; hash: string },
  entries: readonly LogAppend[],
): LogRecord[] {
  const out: LogRecord[] = new Array<LogRecord>(entries.length);
  let seq = head.seq;
  let prev = head.hash;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    seq++;
    const hash = recordHash(stream, seq, e, prev);
    out[i] = makeRecord(stream, seq, e, prev, hash);
    prev = hash;
  }
  return out;
}

/** Builds a record with one fixed shape (absent fields are `undefined`), which keeps V8 fast. */
export function makeRecord(
  stream: string,
  seq: number,
  e: LogAppend,
  prevHash: string,
  hash: string,
): LogRecord {
  return {
    stream,
    seq,
    timeMs: e.timeMs,
    body: e.body,
    key: e.key,
    tenant: e.tenant,
    kind: e.kind,
    subject: e.subject,
    correlation: e.correlation,
    chain: e.chain,
    prevHash,
    hash,
  };
}

/** Whether a stored record and an append carry the same content (for idempotent appends). */
export function sameContent(stored: LogAppend, entry: LogAppend): boolean {
  return (
    stored.body === entry.body &&
    stored.tenant === entry.tenant &&
    stored.kind === entry.kind &&
    stored.subject === entry.subject &&
    stored.correlation === entry.correlation &&
    stored.chain === entry.chain
  );
}

/** The error every backend raises for a key reused with other content. */
export function keyConflict(stream: string, key: string): KernelError {
  return new KernelError(
    'CONFLICT',
    `A record with key "${key}" already exists in "${stream}" with different content; ` +
      'use a new id for new content (appends are idempotent only for identical records)',
    { details: { stream, key } },
  );
}

/** Checks an append before it reaches a backend. */
export function validateAppend(stream: string, e: LogAppend): void {
  if (typeof e.body !== 'string' || !Number.isSafeInteger(e.timeMs)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `A log record for "${stream}" needs a string body and an integer timeMs (epoch ms)`,
    );
  }
  for (const text of [e.body, e.key, e.tenant, e.kind, e.subject, e.correlation, e.chain]) {
    if (text !== undefined && !text.isWellFormed()) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `A log record for "${stream}" contains a lone UTF-16 surrogate; send well-formed Unicode text`,
      );
    }
  }
}

/** Checks a query's shape; every backend calls this so they reject alike. */
export function validateQuery(query: LogQuery): void {
  const bad = (message: string): never => {
    throw new KernelError('INVALID_QUERY', message);
  };
  if (query.limit !== undefined && (!Number.isSafeInteger(query.limit) || query.limit < 0)) {
    bad(`limit must be a non-negative integer, got ${String(query.limit)}`);
  }
  const t = query.time;
  if (t !== undefined) {
    if (t.fromMs !== undefined && !Number.isFinite(t.fromMs))
      bad('time range start is not a valid time');
    if (t.toMs !== undefined && !Number.isFinite(t.toMs)) bad('time range end is not a valid time');
    if (t.fromMs !== undefined && t.toMs !== undefined && t.fromMs > t.toMs) {
      bad('time range start is after its end');
    }
  }
  for (const s of [query.fromSeq, query.toSeq]) {
    if (s !== undefined && (!Number.isSafeInteger(s) || s < 0))
      bad('seq bounds must be non-negative integers');
  }
  if (query.kinds !== undefined && !Array.isArray(query.kinds)) bad('kinds must be an array');
}

/** Whether `r` matches `q` (the reference semantics the SQL backends reproduce). */
export function matchesQuery(r: LogRecord, q: LogQuery): boolean {
  if (q.tenant !== undefined && r.tenant !== q.tenant) return false;
  if (
    q.kinds !== undefined &&
    q.kinds.length > 0 &&
    (r.kind === undefined || !q.kinds.includes(r.kind))
  ) {
    return false;
  }
  if (q.subject !== undefined && r.subject !== q.subject) return false;
  if (q.correlation !== undefined && r.correlation !== q.correlation) return false;
  if (q.chain !== undefined && r.chain !== q.chain) return false;
  if (q.time?.fromMs !== undefined && r.timeMs < q.time.fromMs) return false;
  if (q.time?.toMs !== undefined && r.timeMs > q.time.toMs) return false;
  if (q.fromSeq !== undefined && r.seq < q.fromSeq) return false;
  if (q.toSeq !== undefined && r.seq > q.toSeq) return false;
  return true;
}

/** Orders records as the query asks (oldest first) and keeps the newest `limit`. */
export function orderAndLimit(records: LogRecord[], q: LogQuery): LogRecord[] {
  if (q.orderBy === 'time') records.sort((a, b) => a.timeMs - b.timeMs || a.seq - b.seq);
  else records.sort((a, b) => a.seq - b.seq);
  return q.limit !== undefined && records.length > q.limit
    ? records.slice(records.length - q.limit)
    : records;
}

/** A break in a chain: why, and at which seq. */
export type ChainBreak =
  | {
      readonly reason: 'hash_mismatch';
      readonly seq: number;
      readonly expected: string;
      readonly found: string;
    }
  | {
      readonly reason: 'prev_hash_mismatch';
      readonly seq: number;
      readonly expected: string;
      readonly found: string;
    }
  | {
      readonly reason: 'seq_gap';
      readonly seq: number;
      readonly expected: number;
      readonly found: number;
    }
  | {
      readonly reason: 'truncated';
      /** The first record missing (`found: 'missing'`), or the recorded head's seq (replaced). */
      readonly seq: number;
      /** The recorded head's seq: `expected` is that record's hash. */
      readonly headSeq: number;
      readonly expected: string;
      /** The hash now at `headSeq`, or `missing`. */
      readonly found: string;
    }
  | { readonly reason: 'future_timestamp'; readonly seq: number; readonly timeMs: number }
  | {
      /**
       * An entry of an imported upstream chain kept as the log's prefix (an oxios audit trail)
       * no longer verifies by the upstream rule, though kerno's chain may.
       */
      readonly reason: 'imported_chain_broken';
      readonly seq: number;
      /** The entry's position in the upstream chain (oxios `seq`, or the access.jsonl line). */
      readonly importedSeq: number;
      readonly detail: string;
    };

/**
 * A break as verification reports it: the {@link ChainBreak}, the stored hash of the record it
 * was found at (`null` when that record is missing) and a sentence for humans.
 */
export type VerifyBreak = ChainBreak & { readonly hash: string | null; readonly message: string };

/**
 * An acceptance anchor: the operator accepted a stream as it stood through `through` (a record
 * that may carry breaks written before a check existed, e.g. a poisoned timestamp), and said who
 * and why. It is itself a record of the stream's acceptance stream ({@link acceptanceStream}),
 * appended, never an UPDATE; the records it covers stay as they are.
 */
export interface ChainAcceptance {
  /** The stream accepted. */
  readonly stream: string;
  /** Seq of this anchor in the acceptance stream. */
  readonly anchorSeq: number;
  /** The accepted head: the last record accepted, with its stored hash. */
  readonly through: { readonly seq: number; readonly hash: string };
  /** Every break found at or before `through.seq` when the anchor was made. */
  readonly breaks: readonly ChainBreak[];
  /** Who accepted it (a token's label, an operator's name). */
  readonly by: string;
  /** Why. */
  readonly reason: string;
  /** When (RFC 3339, UTC). */
  readonly at: string;
}

/** The stream a stream's acceptance anchors are appended to. */
export function acceptanceStream(stream: string): string {
  return `${stream}~accepted`;
}

/** A break an acceptance anchor covers: reported, but not a failure. */
export type AcceptedBreak = VerifyBreak & {
  /** The anchor's `through.seq`. */
  readonly acceptedThrough: number;
  /** The anchor's seq in the acceptance stream. */
  readonly anchorSeq: number;
};

/** The anchor a verification applied, without its list of breaks. */
export type AppliedAcceptance = Omit<ChainAcceptance, 'breaks'> & {
  /** How many breaks the anchor lists. */
  readonly breakCount: number;
};

/** Fields every {@link VerifyResult} has. */
interface VerifyCounts {
  /** Records that verify before the first break (all of them when `ok`). */
  readonly verified: number;
  /** Records read and checked, breaks included. */
  readonly checked: number;
  /** The last record checked (`seq`, stored `hash`): the start when none was. */
  readonly head: { readonly seq: number; readonly hash: string };
  /** Every break, in seq order, at most `maxBreaks` of them. */
  readonly breaks: readonly VerifyBreak[];
  /** How many breaks were found in all (can exceed `breaks.length`). */
  readonly breakCount: number;
  /** The acceptance anchor applied, when the stream has one. */
  readonly acceptance?: AppliedAcceptance;
  /**
   * Breaks the anchor accepted (at most `maxBreaks` listed): records at or before its
   * `through.seq` whose break it lists word for word. Present when an anchor was applied.
   */
  readonly accepted?: readonly AcceptedBreak[];
  /** How many breaks the anchor accepted in all. Present when an anchor was applied. */
  readonly acceptedCount?: number;
  /**
   * Why the stream's acceptance anchors were not applied (their own chain does not verify, or
   * the last one is not readable): every break then counts as a failure.
   */
  readonly acceptanceProblem?: string;
}

/**
 * The result of verifying a chain — the one shape every verifier (audit trail, ledger, any log
 * view, an audit export) answers with. Verification does not stop at a break: `breaks` lists
 * them all (capped, with `breakCount`), and a failed result also names the first one flat
 * (`seq`, `reason`, `message`, `broken`) for callers that only want one.
 */
export type VerifyResult =
  | (VerifyCounts & { readonly ok: true })
  | (VerifyCounts & {
      readonly ok: false;
      /** Seq of the first break. */
      readonly seq: number;
      readonly reason: ChainBreak['reason'];
      readonly message: string;
      /** The first break. */
      readonly broken: VerifyBreak;
    });

/** Options for {@link ChainVerifier}. */
export interface ChainVerifierOptions {
  /** A record timestamped after this (epoch ms) is reported as `future_timestamp`. */
  readonly nowMs?: number | undefined;
  /**
   * A head recorded earlier. A log that ends before it, or whose record at that seq has another
   * hash, is reported as `truncated`.
   */
  readonly expectedHead?: { readonly seq: number; readonly hash: string } | undefined;
  /** Most breaks listed in the result (default 100, at least 1); all are counted. */
  readonly maxBreaks?: number | undefined;
  /**
   * An acceptance anchor to apply: a break at or before its `through.seq` that it lists exactly
   * is reported under `accepted`, not as a failure; its record at `through.seq` must still have
   * the hash it recorded (else `truncated`). Everything after is checked strictly.
   */
  readonly acceptance?: ChainAcceptance | undefined;
}

/** A break's identity: two breaks are the same when every field but the message is. */
export function breakKey(b: ChainBreak): string {
  switch (b.reason) {
    case 'hash_mismatch':
    case 'prev_hash_mismatch':
    case 'seq_gap':
      return JSON.stringify([b.reason, b.seq, b.expected, b.found]);
    case 'truncated':
      return JSON.stringify([b.reason, b.seq, b.headSeq, b.expected, b.found]);
    case 'future_timestamp':
      return JSON.stringify([b.reason, b.seq, b.timeMs]);
    case 'imported_chain_broken':
      return JSON.stringify([b.reason, b.seq, b.importedSeq, b.detail]);
  }
}

/** A break without what verification adds (hash, message): what an anchor stores. */
export function bareBreak(b: ChainBreak): ChainBreak {
  switch (b.reason) {
    case 'hash_mismatch':
    case 'prev_hash_mismatch':
      return { reason: b.reason, seq: b.seq, expected: b.expected, found: b.found };
    case 'seq_gap':
      return { reason: b.reason, seq: b.seq, expected: b.expected, found: b.found };
    case 'truncated':
      return {
        reason: b.reason,
        seq: b.seq,
        headSeq: b.headSeq,
        expected: b.expected,
        found: b.found,
      };
    case 'future_timestamp':
      return { reason: b.reason, seq: b.seq, timeMs: b.timeMs };
    case 'imported_chain_broken':
      return { reason: b.reason, seq: b.seq, importedSeq: b.importedSeq, detail: b.detail };
  }
}

/**
 * A verifier fed records in order; call {@link ChainVerifier.finish} at the end. It checks every
 * record and goes on past a break (re-anchoring on the stored record), so one bad record cannot
 * hide a later one.
 */
export class ChainVerifier {
  #expectSeq: number;
  #prev: string;
  #verified = 0;
  #checked = 0;
  #breakCount = 0;
  readonly #breaks: VerifyBreak[] = [];
  readonly #stream: string;
  readonly #nowMs: number | undefined;
  readonly #expectedHead: { readonly seq: number; readonly hash: string } | undefined;
  readonly #maxBreaks: number;
  readonly #acceptance: ChainAcceptance | undefined;
  readonly #acceptedKeys: ReadonlySet<string>;
  readonly #accepted: AcceptedBreak[] = [];
  #acceptedCount = 0;

  /** @param start where the records begin: `{ seq: 0, hash: GENESIS_HASH }` or a prune anchor. */
  constructor(
    stream: string,
    start: { seq: number; hash: string },
    options: ChainVerifierOptions = {},
  ) {
    this.#stream = stream;
    this.#expectSeq = start.seq + 1;
    this.#prev = start.hash;
    this.#nowMs = options.nowMs;
    this.#expectedHead = options.expectedHead;
    this.#maxBreaks = Math.max(1, options.maxBreaks ?? 100);
    this.#acceptance = options.acceptance;
    this.#acceptedKeys = new Set(options.acceptance?.breaks.map(breakKey) ?? []);
  }

  /** Checks the next batch (records in seq order). */
  feed(records: readonly LogRecord[]): void {
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const found = this.#check(r);
      if (found !== undefined) this.#report(found, r.hash);
      // Verified: no failure so far (an accepted break is not one).
      if (this.#breakCount === 0) this.#verified++;
      this.#checked++;
      this.#prev = r.hash;
      this.#expectSeq = r.seq + 1;
    }
  }

  /**
   * The first thing wrong with `r`, if anything. A record at a recorded position (the anchor's
   * `through`, the expected head) is checked against the recorded hash first: a break the
   * anchor accepts (a poisoned timestamp, a bad link) must not hide that the record was replaced.
   */
  #check(r: LogRecord): ChainBreak | undefined {
    const gap = r.seq !== this.#expectSeq;
    if (gap) {
      this.#report(
        { reason: 'seq_gap', seq: this.#expectSeq, expected: this.#expectSeq, found: r.seq },
        null,
      );
    }
    const through = this.#acceptance?.through;
    if (through !== undefined && r.seq === through.seq && r.hash !== through.hash) {
      return {
        reason: 'truncated',
        seq: r.seq,
        headSeq: through.seq,
        expected: through.hash,
        found: r.hash,
      };
    }
    const head = this.#expectedHead;
    if (head !== undefined && r.seq === head.seq && r.hash !== head.hash) {
      return {
        reason: 'truncated',
        seq: r.seq,
        headSeq: head.seq,
        expected: head.hash,
        found: r.hash,
      };
    }
    if (!gap && r.prevHash !== this.#prev) {
      return { reason: 'prev_hash_mismatch', seq: r.seq, expected: this.#prev, found: r.prevHash };
    }
    const expected = recordHash(this.#stream, r.seq, r, r.prevHash);
    if (expected !== r.hash)
      return { reason: 'hash_mismatch', seq: r.seq, expected, found: r.hash };
    if (this.#nowMs !== undefined && r.timeMs > this.#nowMs) {
      return { reason: 'future_timestamp', seq: r.seq, timeMs: r.timeMs };
    }
    return undefined;
  }

  #report(b: ChainBreak, hash: string | null): void {
    const acceptance = this.#acceptance;
    if (
      acceptance !== undefined &&
      b.seq <= acceptance.through.seq &&
      this.#acceptedKeys.has(breakKey(b))
    ) {
      this.#acceptedCount++;
      if (this.#accepted.length < this.#maxBreaks) {
        this.#accepted.push({
          ...b,
          hash,
          message: `${describeBreak(b)}; accepted by anchor at seq ${acceptance.through.seq} (anchor ${acceptance.anchorSeq}, by ${acceptance.by})`,
          acceptedThrough: acceptance.through.seq,
          anchorSeq: acceptance.anchorSeq,
        });
      }
      return;
    }
    this.#breakCount++;
    if (this.#breaks.length < this.#maxBreaks)
      this.#breaks.push({ ...b, hash, message: describeBreak(b) });
  }

  /** Ends verification and reports. */
  finish(): VerifyResult {
    const last = this.#expectSeq - 1;
    const expectedHead = this.#expectedHead;
    if (expectedHead !== undefined && last < expectedHead.seq) {
      this.#report(
        {
          reason: 'truncated',
          seq: last + 1,
          headSeq: expectedHead.seq,
          expected: expectedHead.hash,
          found: 'missing',
        },
        null,
      );
    }
    const acceptance = this.#acceptance;
    if (acceptance !== undefined && last < acceptance.through.seq) {
      this.#report(
        {
          reason: 'truncated',
          seq: last + 1,
          headSeq: acceptance.through.seq,
          expected: acceptance.through.hash,
          found: 'missing',
        },
        null,
      );
    }
    const counts: VerifyCounts = {
      verified: this.#verified,
      checked: this.#checked,
      head: { seq: last, hash: this.#prev },
      breaks: this.#breaks,
      breakCount: this.#breakCount,
      ...(acceptance === undefined
        ? {}
        : {
            acceptance: appliedAcceptance(acceptance),
            accepted: this.#accepted,
            acceptedCount: this.#acceptedCount,
          }),
    };
    const first = this.#breaks[0];
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
}

/** An anchor as a verification reports it (without its list of breaks). */
export function appliedAcceptance(a: ChainAcceptance): AppliedAcceptance {
  return {
    stream: a.stream,
    anchorSeq: a.anchorSeq,
    through: a.through,
    by: a.by,
    reason: a.reason,
    at: a.at,
    breakCount: a.breaks.length,
  };
}

/** A human sentence for a chain break (used by the CLI and the API). */
export function describeBreak(b: ChainBreak): string {
  switch (b.reason) {
    case 'hash_mismatch':
      return `record ${b.seq} was altered: its hash should be ${b.expected} but is ${b.found}`;
    case 'prev_hash_mismatch':
      return `record ${b.seq} does not link to the record before it (prev hash ${b.found}, expected ${b.expected})`;
    case 'seq_gap':
      return `records are missing: expected seq ${b.expected}, found ${b.found}`;
    case 'truncated':
      if (b.found !== 'missing')
        return `the log's tail was replaced: record ${b.headSeq} should have the recorded head's hash ${b.expected} but has ${b.found}`;
      return `the log was truncated: the recorded head is record ${b.headSeq} (hash ${b.expected}) but the log ends at record ${b.seq - 1}; ${b.seq === b.headSeq ? `record ${b.seq} is` : `records ${b.seq}–${b.headSeq} are`} missing`;
    case 'future_timestamp':
      return `record ${b.seq} is timestamped in the future (${new Date(b.timeMs).toISOString()})`;
    case 'imported_chain_broken':
      return `record ${b.seq} (imported upstream entry ${b.importedSeq}) does not verify by the upstream chain's rule: ${b.detail}`;
  }
}

/** One seq range of a parallel verification (plain data: it crosses to a worker thread). */
export interface VerifyRangeTask {
  readonly stream: string;
  /** Where the stream's records begin (genesis or the prune anchor). */
  readonly start: { readonly seq: number; readonly hash: string };
  /** The range holds the records with `afterSeq < seq ≤ throughSeq`. */
  readonly afterSeq: number;
  /** `undefined` for the last range: it reads to the end, as the sequential verifier does. */
  readonly throughSeq: number | undefined;
  /** The verifier's options, the same for every range (`nowMs` taken once). */
  readonly options: ChainVerifierOptions;
}

/** What one range found: {@link ChainVerifier.finish}'s counts for its records. */
export interface VerifyRangeOutcome {
  readonly verified: number;
  readonly checked: number;
  readonly breakCount: number;
  readonly breaks: readonly VerifyBreak[];
  readonly head: { readonly seq: number; readonly hash: string };
}

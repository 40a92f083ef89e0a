/**
 * The in-memory log: the reference {@link LogStore}. Nothing survives the process; use it for
 * tests, embedded experiments and as the specification the durable backends are checked against.
 *
 * @module
 */
import { KernelError } from '../../errors.js';
import {
  GENESIS_HASH,
  chainRecords,
  fencedError,
  keyConflict,
  matchesQuery,
  orderAndLimit,
  sameContent,
  validateAppend,
  validatePruneSeq,
  validateQuery,
  type LogAnchor,
  type LogAppend,
  type LogAppendAllResult,
  type LogAppendOptions,
  type LogBody,
  type LogHead,
  type LogListener,
  type LogQuery,
  type LogRecord,
  type LogStore,
} from '../log.js';

/** Options for {@link createMemoryLog}. */
export interface MemoryLogOptions {
  /**
   * Most records kept per stream (default: unlimited). Older records are pruned; the last pruned
   * record's `{ seq, hash }` is kept as the stream's anchor so the survivors still verify.
   * Pruned keys no longer deduplicate appends.
   */
  readonly capacity?: number;
}

/** Creates an in-memory log. */
export function createMemoryLog(options: MemoryLogOptions = {}): LogStore {
  const capacity = options.capacity ?? Number.POSITIVE_INFINITY;
  if (!(capacity >= 1))
    throw new KernelError('INVALID_ARGUMENT', `capacity must be at least 1, got ${capacity}`);
  return new MemoryLog(capacity);
}

class MemoryStream {
  records: LogRecord[] = [];
  /** Index of the first live record in `records` (pruned ones before it are dead). */
  offset = 0;
  readonly keys = new Map<string, LogRecord>();
  anchor: LogAnchor | undefined;
  readonly listeners = new Set<LogListener>();
  lastSeq = 0;
  lastHash = GENESIS_HASH;

  get size(): number {
    return this.records.length - this.offset;
  }

  firstSeq(): number {
    return this.size === 0 ? this.lastSeq + 1 : this.records[this.offset]!.seq;
  }

  prune(capacity: number): number {
    return this.drop(this.size - capacity);
  }

  /** Drops the oldest `excess` live records, keeping the last one as the anchor. */
  drop(excess: number): number {
    if (excess <= 0) return 0;
    for (let i = this.offset; i < this.offset + excess; i++) {
      const r = this.records[i]!;
      if (r.key !== undefined) this.keys.delete(r.key);
    }
    const last = this.records[this.offset + excess - 1]!;
    this.anchor = { seq: last.seq, hash: last.hash };
    this.offset += excess;
    if (this.offset > 1024 && this.offset * 2 > this.records.length) {
      this.records = this.records.slice(this.offset);
      this.offset = 0;
    }
    return excess;
  }
}

class MemoryLog implements LogStore {
  readonly #streams = new Map<string, MemoryStream>();
  readonly #capacity: number;
  #closed = false;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  #stream(name: string): MemoryStream {
    let s = this.#streams.get(name);
    if (s === undefined) {
      s = new MemoryStream();
      this.#streams.set(name, s);
    }
    return s;
  }

  async prune(stream: string, throughSeq: number): Promise<number> {
    if (this.#closed) throw new KernelError('CLOSED', 'The log is closed');
    validatePruneSeq(stream, throughSeq);
    const s = this.#streams.get(stream);
    if (s === undefined || s.size === 0) return 0;
    return s.drop(Math.min(throughSeq, s.lastSeq) - s.firstSeq() + 1);
  }

  // async: a throw becomes a rejection
  async append(
    stream: string,
    entries: readonly LogAppend[],
    options?: LogAppendOptions,
  ): Promise<LogRecord[]> {
    return this.appendSync(stream, entries, options);
  }

  async appendAll(
    stream: string,
    batches: AsyncIterable<readonly LogAppend[]>,
  ): Promise<LogAppendAllResult> {
    // Everything is in memory here anyway: gather, then commit in one synchronous step.
    const all: LogAppend[] = [];
    for await (const batch of batches) {
      for (const e of batch) {
        validateAppend(stream, e);
        all.push(e);
      }
    }
    const before = this.headSync(stream).seq;
    this.appendSync(stream, all);
    const head = this.headSync(stream);
    const appended = head.seq - before;
    return { appended, repeated: all.length - appended, head: { seq: head.seq, hash: head.hash } };
  }

  /** Synchronous append (the memory backend commits at once). */
  appendSync(
    stream: string,
    entries: readonly LogAppend[],
    options?: LogAppendOptions,
  ): LogRecord[] {
    if (this.#closed) throw new KernelError('CLOSED', 'The log is closed');
    const fence = options?.unlessKey;
    if (fence !== undefined && this.#streams.get(fence.stream)?.keys.has(fence.key) === true) {
      throw fencedError(stream, fence);
    }
    const s = this.#stream(stream);
    // Resolve idempotent keys first so a conflict leaves nothing behind.
    const result: (LogRecord | undefined)[] = new Array<LogRecord | undefined>(entries.length);
    const fresh: LogAppend[] = [];
    const freshIndex: number[] = [];
    let batchKeys: Map<string, number> | undefined;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      validateAppend(stream, e);
      if (e.key !== undefined) {
        const existing = s.keys.get(e.key);
        if (existing !== undefined) {
          if (!sameContent(existing, e)) throw keyConflict(stream, e.key);
          result[i] = existing;
          continue;
        }
        batchKeys ??= new Map();
        const earlier = batchKeys.get(e.key);
        if (earlier !== undefined) {
          if (!sameContent(fresh[earlier]!, e)) throw keyConflict(stream, e.key);
          continue; // a repeat within the batch: answered with the earlier record below
        }
        batchKeys.set(e.key, fresh.length);
      }
      freshIndex.push(i);
      fresh.push(e);
    }
    const records = chainRecords(stream, { seq: s.lastSeq, hash: s.lastHash }, fresh);
    for (const r of records) {
      s.records.push(r);
      if (r.key !== undefined) s.keys.set(r.key, r);
    }
    if (records.length > 0) {
      const last = records[records.length - 1]!;
      s.lastSeq = last.seq;
      s.lastHash = last.hash;
    }
    for (let f = 0; f < records.length; f++) result[freshIndex[f]!] = records[f];
    for (let i = 0; i < entries.length; i++) {
      if (result[i] === undefined) result[i] = s.keys.get(entries[i]!.key!);
    }
    s.prune(this.#capacity);
    if (records.length > 0) notify(s.listeners, records);
    return result as LogRecord[];
  }

  read(stream: string, afterSeq: number, limit: number): Promise<LogRecord[]> {
    const s = this.#streams.get(stream);
    if (s === undefined || limit <= 0) return Promise.resolve([]);
    const first = s.firstSeq();
    const from = s.offset + Math.max(0, afterSeq + 1 - first);
    return Promise.resolve(s.records.slice(from, Math.min(s.records.length, from + limit)));
  }

  // async: a throw becomes a rejection
  async query(stream: string, query: LogQuery): Promise<LogRecord[]> {
    validateQuery(query);
    const s = this.#streams.get(stream);
    if (s === undefined || query.limit === 0) return [];
    const out: LogRecord[] = [];
    for (let i = s.offset; i < s.records.length; i++) {
      const r = s.records[i]!;
      if (matchesQuery(r, query)) out.push(r);
    }
    return orderAndLimit(out, query);
  }

  scan(stream: string, afterSeq: number, limit: number): Promise<LogBody[]> {
    return this.read(stream, afterSeq, limit);
  }

  getByKey(stream: string, key: string): Promise<LogRecord | undefined> {
    return Promise.resolve(this.#streams.get(stream)?.keys.get(key));
  }

  head(stream: string): Promise<LogHead> {
    return Promise.resolve(this.headSync(stream));
  }

  /** Synchronous head. */
  headSync(stream: string): LogHead {
    const s = this.#streams.get(stream);
    if (s === undefined) return { seq: 0, hash: GENESIS_HASH, firstSeq: 1, anchor: undefined };
    return { seq: s.lastSeq, hash: s.lastHash, firstSeq: s.firstSeq(), anchor: s.anchor };
  }

  onAppend(stream: string, listener: LogListener): () => void {
    const s = this.#stream(stream);
    s.listeners.add(listener);
    return () => s.listeners.delete(listener);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#streams.values()) s.listeners.clear();
    return Promise.resolve();
  }
}

function notify(listeners: ReadonlySet<LogListener>, records: readonly LogRecord[]): void {
  for (const l of listeners) {
    try {
      l(records);
    } catch {
      // A listener's failure must not undo or block a committed append.
    }
  }
}

import type { LogHead, LogRecord, LogStore } from '../../src/index.js';
import { GENESIS_HASH } from '../../src/index.js';

/**
 * A log that answers reads from a real log but lets a test alter what storage returns: a record
 * rewritten in place, or the tail cut off. This models someone editing the stored data.
 */
export interface TamperableLog extends LogStore {
  tamper(seq: number, patch: Partial<LogRecord>): void;
  truncate(keep: number): void;
  /** Hides record `seq` from every read, as if it was deleted. */
  remove(seq: number): void;
}

export function tamperable(inner: LogStore): TamperableLog {
  const patches = new Map<number, Partial<LogRecord>>();
  let keep: number | undefined;
  const removed = new Set<number>();
  const view = (r: LogRecord): LogRecord => {
    const p = patches.get(r.seq);
    return p === undefined ? r : { ...r, ...p };
  };
  const visible = (records: LogRecord[]): LogRecord[] =>
    records.filter((r) => (keep === undefined || r.seq <= keep) && !removed.has(r.seq)).map(view);
  return {
    tamper: (seq, patch) => patches.set(seq, patch),
    truncate: (n) => {
      keep = n;
    },
    remove: (seq) => removed.add(seq),
    append: (stream, entries, options) => inner.append(stream, entries, options),
    read: async (stream, after, limit) => visible(await inner.read(stream, after, limit)),
    scan: async (stream, after, limit) => visible(await inner.read(stream, after, limit)),
    query: async (stream, q) => visible(await inner.query(stream, q)),
    getByKey: (stream, key) => inner.getByKey(stream, key),
    head: async (stream): Promise<LogHead> => {
      const h = await inner.head(stream);
      if (keep === undefined || keep >= h.seq) return h;
      const [last] = keep === 0 ? [] : await inner.read(stream, keep - 1, 1);
      return { ...h, seq: keep, hash: last?.hash ?? GENESIS_HASH };
    },
    onAppend: (stream, l) => inner.onAppend(stream, l),
    prune: (stream, throughSeq) => inner.prune(stream, throughSeq),
    flush: () => inner.flush(),
    close: () => inner.close(),
  };
}

import type { LogHead, LogRecord, LogStore } from '../../src/index.js';
import { GENESIS_HASH } from '../../src/index.js';

/**
 * A log that answers reads from a real log but lets a test alter what storage returns: a record
 * rewritten in place, or the tail cut off. This models someone editing the stored data.
 */
export interface TamperableLog extends LogStore {
  /** Rewrites record `seq` (of `stream` only, when given; else of every stream). */
  tamper(seq: number, patch: Partial<LogRecord>, stream?: string): void;
  truncate(keep: number): void;
  /** Hides record `seq` (of `stream`, when given) from every read, as if it was deleted. */
  remove(seq: number, stream?: string): void;
}

export function tamperable(inner: LogStore): TamperableLog {
  const patches = new Map<string, Partial<LogRecord>>();
  let keep: number | undefined;
  const removed = new Set<string>();
  const at = (seq: number, stream?: string): string => `${stream ?? '*'}\0${seq}`;
  const view = (r: LogRecord): LogRecord => {
    const p = patches.get(at(r.seq, r.stream)) ?? patches.get(at(r.seq));
    return p === undefined ? r : { ...r, ...p };
  };
  const gone = (r: LogRecord): boolean =>
    removed.has(at(r.seq, r.stream)) || removed.has(at(r.seq));
  const visible = (records: LogRecord[]): LogRecord[] =>
    records.filter((r) => (keep === undefined || r.seq <= keep) && !gone(r)).map(view);
  return {
    tamper: (seq, patch, stream) => patches.set(at(seq, stream), patch),
    truncate: (n) => {
      keep = n;
    },
    remove: (seq, stream) => removed.add(at(seq, stream)),
    append: (stream, entries, options) => inner.append(stream, entries, options),
    appendAll: (stream, batches) => inner.appendAll(stream, batches),
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

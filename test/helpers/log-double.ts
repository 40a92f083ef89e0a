import type { LogStore } from '../../src/storage/log.js';

/**
 * A log that delegates to `inner` but appends through `append`: the seam tests use to make a
 * real (memory) log fail the way a store does, without mocking the rest of it.
 */
export function withAppend(inner: LogStore, append: LogStore['append']): LogStore {
  return {
    appendAll: inner.appendAll.bind(inner),
    read: inner.read.bind(inner),
    scan: inner.scan.bind(inner),
    query: inner.query.bind(inner),
    getByKey: inner.getByKey.bind(inner),
    head: inner.head.bind(inner),
    onAppend: inner.onAppend.bind(inner),
    prune: inner.prune.bind(inner),
    flush: inner.flush.bind(inner),
    close: inner.close.bind(inner),
    append,
  };
}

/**
 * What the contract suites are handed: a storage backend to test, and small helpers they share.
 * A user testing their own backend writes an `open()` that answers a {@link BackendHarness}.
 *
 * @module
 */
import type { Storage } from '../storage/storage.js';

/** A storage backend the contract suites run against. */
export interface BackendHarness {
  readonly storage: Storage;
  /** Closes and opens the same store again (durable backends only). */
  reopen?: () => Promise<Storage>;
  close(): Promise<void>;
}

/** Collects up to `n` items from an async iterator (fewer when it ends first). */
export async function take<T>(iter: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) {
    const r = await iter.next();
    if (r.done === true) break;
    out.push(r.value);
  }
  return out;
}

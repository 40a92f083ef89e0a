/**
 * Storage ports: one backend, chosen by one URL (see {@link openStorage}), holds every durable
 * part of the kernel. Ports speak the domain; a backend owns its connections and transactions.
 *
 * @module
 */
import type { LearningPersistence, StorageLearningOptions } from './learning.js';
import type { LogStore } from './log.js';
import type { RegistryStore } from './registry.js';

/** Which engine a storage runs on. */
export type StorageKind = 'memory' | 'sqlite' | 'postgres';

/** A storage backend: every durable part of the kernel, behind domain ports. */
export interface Storage extends AsyncDisposable {
  readonly kind: StorageKind;
  /** The URL it was opened with, without credentials. */
  readonly url: string;
  /** The append-only log under the audit trail and the experience ledger. */
  readonly log: LogStore;
  /** Module records and config (secrets arrive already encrypted). */
  readonly registry: RegistryStore;
  /**
   * Opens the learning records this storage keeps (RVLS is their import/export format). A
   * writable persistence is exclusive (`STORE_LOCKED` for a second writer, in this process or
   * another); the caller closes it, and closing the storage closes it too.
   */
  openLearning(options?: StorageLearningOptions): Promise<LearningPersistence>;
  /** Flushes pending writes and releases connections. Idempotent. */
  close(): Promise<void>;
}

/**
 * Where a learning store keeps its records: a small port, so the same store runs on an RVLS file
 * today and on PostgreSQL later (with RVLS as the import/export format). A persistence loads a
 * whole snapshot and saves a whole snapshot; it owns its resources (files, locks, connections).
 *
 * @example
 * const store = createLearningStore({ persistence: createMemoryLearningPersistence() });
 *
 * @module
 */
import { KernelError } from '../errors.js';
import type { LearningSnapshot, SkippedRecord } from '../formats/rvls.js';

/** A loaded snapshot, with what had to be skipped on the way. */
export interface LoadedLearning extends LearningSnapshot {
  /** How many stored records could not be read. */
  readonly skippedCount: number;
  /** Details of (the first) skipped records. */
  readonly skipped: readonly SkippedRecord[];
}

/** The learning store's persistence port. */
export interface LearningPersistence {
  /** Where the records live (a path, a URL without credentials); used in messages. */
  readonly location: string;
  /** Whether `save` is refused. */
  readonly readOnly: boolean;
  /** Reads everything stored, or `undefined` when nothing has been stored yet. */
  load(): Promise<LoadedLearning | undefined>;
  /**
   * Replaces what is stored with `snapshot`, atomically: after a crash, either the previous or
   * the new snapshot is found, never a mix. Callers do not overlap calls.
   */
  save(snapshot: LearningSnapshot): Promise<void>;
  /** Releases resources (and locks). Idempotent. */
  close(): Promise<void>;
}

/** Options for {@link createMemoryLearningPersistence}. */
export interface MemoryLearningPersistenceOptions {
  /** What `load` returns before the first save. */
  readonly initial?: LearningSnapshot;
}

/**
 * The reference persistence: keeps the last saved snapshot in memory. Records are immutable, so
 * keeping the arrays' copies is enough.
 */
export function createMemoryLearningPersistence(
  options: MemoryLearningPersistenceOptions = {},
): LearningPersistence {
  let stored: LearningSnapshot | undefined = options.initial;
  let closed = false;
  return Object.freeze({
    location: 'memory',
    readOnly: false,
    load(): Promise<LoadedLearning | undefined> {
      if (closed) return Promise.reject(closedError());
      return Promise.resolve(
        stored === undefined
          ? undefined
          : {
              patterns: [...stored.patterns],
              trajectories: [...stored.trajectories],
              ewc: stored.ewc,
              skippedCount: 0,
              skipped: [],
            },
      );
    },
    save(snapshot: LearningSnapshot): Promise<void> {
      if (closed) return Promise.reject(closedError());
      stored = {
        patterns: [...snapshot.patterns],
        trajectories: [...snapshot.trajectories],
        ewc: snapshot.ewc,
      };
      return Promise.resolve();
    },
    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  });
}

function closedError(): KernelError {
  return new KernelError('CLOSED', 'This learning persistence is closed; open a new one.');
}

/**
 * Learning records in memory: the reference implementation of the learning persistence port.
 * A memory storage holds one record set; like the durable backends it admits one writer at a
 * time (`STORE_LOCKED` for a second) and any number of readers. Records are immutable, so
 * keeping copies of the arrays is enough.
 *
 * @module
 */
import type { LearningSnapshot } from '../../formats/rvls.js';
import {
  learningClosedError,
  learningLockedError,
  learningReadOnlyError,
  type LearningPersistence,
  type LoadedLearning,
  type StorageLearningOptions,
} from '../learning.js';

/** Options for {@link createMemoryLearning}. */
export interface MemoryLearningPersistenceOptions {
  /** What `load` returns before the first save. */
  readonly initial?: LearningSnapshot;
  /** Named in messages (default `memory`). */
  readonly location?: string;
}

/** One in-memory record set, opened by {@link MemoryLearning.open}. */
export interface MemoryLearning {
  /** Opens the records; a second writer while one is open gets `STORE_LOCKED`. */
  open(options?: StorageLearningOptions): LearningPersistence;
  /** Closes every persistence still open. */
  close(): void;
}

/** Creates an in-memory learning record set. */
export function createMemoryLearning(
  options: MemoryLearningPersistenceOptions = {},
): MemoryLearning {
  const location = options.location ?? 'memory';
  let stored: LearningSnapshot | undefined = options.initial;
  let writer: LearningPersistence | undefined;
  const open = new Set<LearningPersistence>();
  return Object.freeze({
    open(openOptions: StorageLearningOptions = {}): LearningPersistence {
      const readOnly = openOptions.readOnly === true;
      if (!readOnly && writer !== undefined) throw learningLockedError(location);
      let closed = false;
      const persistence: LearningPersistence = Object.freeze({
        location,
        readOnly,
        load(): Promise<LoadedLearning | undefined> {
          if (closed) return Promise.reject(learningClosedError(location));
          return Promise.resolve(
            stored === undefined ? undefined : { ...copy(stored), skippedCount: 0, skipped: [] },
          );
        },
        save(snapshot: LearningSnapshot): Promise<void> {
          if (closed) return Promise.reject(learningClosedError(location));
          if (readOnly) return Promise.reject(learningReadOnlyError(location));
          stored = copy(snapshot);
          return Promise.resolve();
        },
        close(): Promise<void> {
          closed = true;
          open.delete(persistence);
          if (writer === persistence) writer = undefined;
          return Promise.resolve();
        },
      });
      if (!readOnly) writer = persistence;
      open.add(persistence);
      return persistence;
    },
    close(): void {
      for (const p of [...open]) void p.close();
    },
  });
}

/**
 * A standalone in-memory persistence (its own record set), for a learning store that needs no
 * storage: tests, tools, a kernel told to keep learning in memory.
 */
export function createMemoryLearningPersistence(
  options: MemoryLearningPersistenceOptions = {},
): LearningPersistence {
  return createMemoryLearning(options).open();
}

function copy(snapshot: LearningSnapshot): LearningSnapshot {
  return {
    patterns: [...snapshot.patterns],
    trajectories: [...snapshot.trajectories],
    ewc: snapshot.ewc,
  };
}

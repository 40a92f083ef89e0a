/**
 * Learning records in the SQLite store: one row per record holding its RVLS line (loading runs
 * the same decoder as a file). Saves go through the group-commit writer like every other write,
 * each as one op in its own savepoint, writing only what changed since the last save. A writable
 * persistence holds `<db>.learning.lock` (the lock file an RVLS file uses, with its stale-lock
 * takeover): a second writer, in this process or another, gets `STORE_LOCKED`.
 *
 * @module
 */
import type { SqliteDatabase, SqliteStatement } from './sqlite-driver.js';
import { KernelError, errorMessage, isKernelError } from '../../errors.js';
import type { LearningSnapshot } from '../../formats/rvls.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { acquireFileLock, type FileLock } from '../file-lock.js';
import {
  decodeLearningLines,
  learningClosedError,
  learningLineDigest,
  learningReadOnlyError,
  learningRowKey,
  learningRows,
  planLearningSave,
  storedAfterSave,
  type LearningPersistence,
  type LoadedLearning,
  type StorageLearningOptions,
  type StoredLearningRow,
} from '../learning.js';
import type { SqliteWriter } from './sqlite-writer.js';

/** Options for {@link openSqliteLearning}. */
export interface SqliteLearningOptions extends StorageLearningOptions {
  /** The database file (the lock file sits beside it). */
  readonly file: string;
  /** Called once when the persistence is closed. */
  readonly onClose?: () => void;
  /** Receives stale-lock takeovers. */
  readonly logger?: Logger;
  /** Judges the age of an unreadable lock file. */
  readonly clock?: Clock;
}

/**
 * Opens the learning records of a SQLite store. Unless read-only, takes the learning lock
 * (throws `STORE_LOCKED` when another writer holds it).
 */
export async function openSqliteLearning(
  db: SqliteDatabase,
  writer: SqliteWriter,
  options: SqliteLearningOptions,
): Promise<LearningPersistence> {
  const location = `sqlite:${options.file}#learning`;
  const readOnly = options.readOnly === true;
  const lock = readOnly
    ? undefined
    : await acquireFileLock(`${options.file}.learning.lock`, location, {
        ...(options.logger === undefined ? {} : { logger: options.logger }),
        ...(options.clock === undefined ? {} : { clock: options.clock }),
      });
  return new SqliteLearning(db, writer, location, readOnly, lock, options.onClose);
}

class SqliteLearning implements LearningPersistence {
  readonly location: string;
  readonly readOnly: boolean;
  readonly #writer: SqliteWriter;
  readonly #lines: SqliteStatement;
  readonly #lock: FileLock | undefined;
  readonly #onClose: (() => void) | undefined;
  /** What is stored, as this writer last saw it (undefined: read it before the next save). */
  #stored: Map<string, StoredLearningRow> | undefined;
  #closed = false;

  constructor(
    db: SqliteDatabase,
    writer: SqliteWriter,
    location: string,
    readOnly: boolean,
    lock: FileLock | undefined,
    onClose: (() => void) | undefined,
  ) {
    this.location = location;
    this.readOnly = readOnly;
    this.#writer = writer;
    this.#lock = lock;
    this.#onClose = onClose;
    this.#lines = db
      .prepare('SELECT kind, id, seq, line FROM learning_records ORDER BY kind, seq')
      .raw();
  }

  load(): Promise<LoadedLearning | undefined> {
    if (this.#closed) return Promise.reject(learningClosedError(this.location));
    try {
      const { stored, lines } = this.#readStored();
      this.#stored = stored;
      return Promise.resolve(decodeLearningLines(lines, this.location));
    } catch (error) {
      return Promise.reject(
        storageError(`Reading the learning store at ${this.location} failed`, error),
      );
    }
  }

  async save(snapshot: LearningSnapshot): Promise<void> {
    if (this.#closed) throw learningClosedError(this.location);
    if (this.readOnly) throw learningReadOnlyError(this.location);
    try {
      const stored = this.#stored ?? this.#readStored().stored;
      const plan = planLearningSave(learningRows(snapshot), stored);
      const seqs = await this.#writer.submit({
        kind: 'learning.save',
        rewrite: plan.rewrite,
        removed: plan.removed,
        upserts: plan.upserts.map((r) => [r.kind, r.id, r.line] as const),
      });
      this.#stored = storedAfterSave(
        stored,
        plan,
        plan.upserts.map((r, i) => [r.kind, r.id, seqs[i]!] as const),
      );
    } catch (error) {
      this.#stored = undefined;
      throw storageError(`Failed to save the learning store at ${this.location}`, error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose?.();
    await this.#lock?.release();
  }

  #readStored(): { stored: Map<string, StoredLearningRow>; lines: string[] } {
    const stored = new Map<string, StoredLearningRow>();
    const lines: string[] = [];
    for (const [kind, id, seq, line] of this.#lines.all() as [number, string, number, string][]) {
      lines.push(line);
      stored.set(learningRowKey(kind, id), { seq, digest: learningLineDigest(line) });
    }
    return { stored, lines };
  }
}

function storageError(message: string, cause: unknown): KernelError {
  if (isKernelError(cause)) return cause;
  return new KernelError('STORAGE_ERROR', `${message}: ${errorMessage(cause)}`, { cause });
}

/**
 * The SQLite storage backend (`sqlite:<path>`), kerno's embedded default.
 *
 * Durability: WAL with `synchronous=FULL`; a write resolves only after its transaction is
 * committed. Writes go through one writer connection in a worker thread with group commit;
 * reads use the main thread's own connection and never wait for a write.
 *
 * @module
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { KernelError } from '../../errors.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import type { LearningPersistence, StorageLearningOptions } from '../learning.js';
import type { Storage } from '../storage.js';
import { loadSqlite, type SqliteDatabase, type SqliteModule } from './sqlite-driver.js';
import { openSqliteLearning } from './sqlite-learning.js';
import { createSqliteLog } from './sqlite-log.js';
import { createSqliteRegistry } from './sqlite-registry.js';
import { migrateSqlite } from './sqlite-migrations.js';
import { SqliteWriter, type SqliteWriterMode } from './sqlite-writer.js';

/** Options for {@link openSqliteStorage}. */
export interface SqliteStorageOptions {
  /** The driver (default: the `better-sqlite3` package, loaded on demand). */
  readonly driver?: SqliteModule;
  /** How long to wait for another process's write lock (default 5000 ms). */
  readonly busyTimeoutMs?: number;
  /** Receives warnings (a stale learning lock taken over). */
  readonly logger?: Logger;
  /** Judges the age of an unreadable learning lock file. */
  readonly clock?: Clock;
  /**
   * Where writes commit: `thread` (default) on kerno's writer thread, or `inline` on the
   * calling thread — no hand-off, faster for one producer, but each commit (with its fsync)
   * blocks the event loop. For embedded scripts; a daemon keeps the writer thread.
   */
  readonly writer?: SqliteWriterMode;
}

/** Opens (creating if needed) a SQLite store at `file`, migrating its schema. */
export async function openSqliteStorage(
  file: string,
  options: SqliteStorageOptions = {},
): Promise<Storage> {
  const path = resolve(file);
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const Database = options.driver ?? (await loadSqlite());
  let db: SqliteDatabase;
  try {
    const created = !existsSync(path);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    db = new Database(path);
    if (created) chmodSync(path, 0o600); // the registry keeps (encrypted) secrets here
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // Reads: map the file (no read syscalls) and keep a larger page cache than the 2 MB default.
    db.pragma('mmap_size = 268435456');
    db.pragma('cache_size = -65536');
  } catch (error) {
    throw new KernelError(
      'STORAGE_ERROR',
      `Cannot open SQLite store ${path}: ${(error as Error).message}`,
      {
        cause: error,
        details: { file: path },
      },
    );
  }
  try {
    migrateSqlite(db, path);
    probeWritable(db, path);
  } catch (error) {
    db.close();
    if (error instanceof KernelError) throw error;
    throw new KernelError(
      'STORAGE_ERROR',
      `Cannot migrate SQLite store ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  let writer: SqliteWriter;
  try {
    writer = await SqliteWriter.start({
      file: path,
      busyTimeoutMs,
      mode: options.writer ?? 'thread',
      driver: Database,
    });
  } catch (error) {
    db.close();
    throw error;
  }
  const log = createSqliteLog(db, writer, { file: path, busyTimeoutMs });
  const registry = createSqliteRegistry(db, writer);
  const learnings = new Set<LearningPersistence>();
  const openLearning = async (
    learningOptions: StorageLearningOptions = {},
  ): Promise<LearningPersistence> => {
    if (closing !== undefined)
      throw new KernelError('CLOSED', `The SQLite store ${path} is closed; open it again.`);
    const persistence = await openSqliteLearning(db, writer, {
      ...learningOptions,
      file: path,
      onClose: () => learnings.delete(persistence),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    learnings.add(persistence);
    return persistence;
  };
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await log.close();
      await registry.close();
      for (const l of [...learnings]) await l.close();
      await writer.close();
      try {
        db.pragma('optimize'); // keeps the query planner's statistics current (SQLite's advice)
      } catch {
        // read-only or busy: statistics can wait for the next close
      }
      db.close();
    })());
  return {
    kind: 'sqlite',
    url: `sqlite:${path}`,
    log,
    registry,
    openLearning,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Fails now if the file cannot be written (read-only file, folder or mount, immutable file):
 * SQLite would otherwise open it read-only without a word, and a daemon would say "up" and
 * answer 503 to every write. The probe writes the schema inside a transaction it rolls back.
 */
function probeWritable(db: SqliteDatabase, path: string): void {
  try {
    db.exec('BEGIN IMMEDIATE; CREATE TABLE kerno_write_probe (x); ROLLBACK');
  } catch (error) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // no transaction open
    }
    throw new KernelError(
      'STORAGE_ERROR',
      `The SQLite store ${path} is read-only (${(error as Error).message}): kerno needs to write it. Check the file's and its folder's permissions (and attributes, e.g. lsattr), or the mount.`,
      { cause: error, details: { file: path, readOnly: true } },
    );
  }
}

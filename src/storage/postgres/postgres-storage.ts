/**
 * The PostgreSQL storage backend (`postgres://…`), for scale-out: several kerno processes share
 * one database. Every durable part lives in one schema (`?schema=name`, default `kerno`, created
 * if missing): the log, the registry and the learning records.
 *
 * Durability: `synchronous_commit = on`; a write resolves only after its transaction committed.
 * Connections per storage: one writer (group commit for the log), one LISTEN connection (opened
 * with the first log listener), a small pool for reads and registry writes, and one connection
 * per writable learning persistence (it holds the learning lock). Lost connections are replaced
 * by themselves; a write in flight when its connection died fails with `STORAGE_ERROR`.
 *
 * @example
 * const storage = await openPostgresStorage('postgres://kerno@db.internal/kerno?schema=prod');
 * await storage.log.append('audit', [{ timeMs: Date.now(), body: '{}' }]);
 * await storage.close();
 *
 * @module
 */
import type { LearningPersistence, StorageLearningOptions } from '../learning.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import type { Storage } from '../storage.js';
import {
  clientConfig,
  connectClient,
  loadPg,
  parsePostgresUrl,
  storageError,
  type PgModule,
} from './postgres-connection.js';
import { openPostgresLearning } from './postgres-learning.js';
import { createPostgresLog, type PostgresLogStore } from './postgres-log.js';
import { PostgresReader } from './postgres-reader.js';
import { createPostgresRegistry } from './postgres-registry.js';
import { migratePostgres } from './postgres-migrations.js';

/** Options for {@link openPostgresStorage}. */
export interface PostgresStorageOptions {
  /** The driver (default: the `pg` package, loaded on demand). */
  readonly pg?: PgModule;
  /** Most pooled connections for reads and registry writes (default 8). */
  readonly poolSize?: number;
  /** Receives connection warnings (a lost LISTEN connection, a killed idle connection). */
  readonly logger?: Logger;
}

/** A PostgreSQL storage, with its log's group-commit counters. */
export interface PostgresStorage extends Storage {
  readonly kind: 'postgres';
  readonly log: PostgresLogStore;
  /** The schema every table lives in. */
  readonly schema: string;
  /** Opens the learning records of the schema (see {@link Storage.openLearning}). */
  openLearning(options?: StorageLearningOptions): Promise<LearningPersistence>;
}

/** Opens (creating and migrating the schema if needed) the PostgreSQL store `url` names. */
export async function openPostgresStorage(
  url: string,
  options: PostgresStorageOptions = {},
): Promise<PostgresStorage> {
  const location = parsePostgresUrl(url);
  const pg = options.pg ?? (await loadPg());
  const logger = options.logger ?? silentLogger;
  const migrator = await connectClient(pg, location, 'migrate', () => undefined);
  try {
    await migratePostgres(migrator, location);
  } finally {
    await migrator.end().catch(() => undefined);
  }
  const pool = new pg.Pool({
    ...clientConfig(location, pg, 'pool'),
    max: options.poolSize ?? 8,
    idleTimeoutMillis: 10_000,
    allowExitOnIdle: true,
  });
  // An idle pooled connection that dies is dropped by the pool; without a listener the error
  // would crash the process.
  pool.on('error', (error) =>
    logger.debug('A pooled PostgreSQL connection was lost', { error: error.message }),
  );
  const reader = new PostgresReader(pool);
  const log = createPostgresLog({ pg, location, reader, logger });
  const registry = createPostgresRegistry(reader, location.schema);
  const learnings = new Set<LearningPersistence>();

  const openLearning = async (
    learningOptions: StorageLearningOptions = {},
  ): Promise<LearningPersistence> => {
    const persistence = await openPostgresLearning(pg, location, reader, {
      ...learningOptions,
      onClose: () => learnings.delete(persistence),
    });
    learnings.add(persistence);
    return persistence;
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const errors: unknown[] = [];
      const step = async (fn: () => Promise<void>): Promise<void> => {
        await fn().catch((error: unknown) => errors.push(error));
      };
      await step(() => log.close());
      await step(() => registry.close());
      for (const l of [...learnings]) await step(() => l.close());
      await step(() => reader.end());
      if (errors.length > 0) throw storageError('Closing the PostgreSQL storage failed', errors[0]);
    })());
  return {
    kind: 'postgres',
    url: location.displayUrl,
    schema: location.schema,
    log,
    registry,
    openLearning,
    close,
    [Symbol.asyncDispose]: close,
  };
}

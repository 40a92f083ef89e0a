/**
 * Where a kernel's learning lives, in one call: the learning records its storage keeps (every
 * backend keeps them), an RVLS file when told so, or memory only. The store it returns persists
 * itself every `autosaveMs` and once more on close. A learning file left by an earlier kerno
 * (`<stateDir>/learning.rvls`) is imported into a durable store once, on first open, and then
 * renamed `learning.rvls.migrated`, so it is never imported twice.
 *
 * @example
 * const learning = await openLearning({ storage, migrateFile: '.kerno/learning.rvls' });
 * learning.savePattern(pattern);
 * await learning.close(); // persists what is unsaved
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { KernelError, errorMessage, isKernelError } from '../errors.js';
import type { LearningPersistence } from '../storage/learning.js';
import type { Storage } from '../storage/storage.js';
import type { Clock } from '../util/clock.js';
import type { IdGenerator } from '../util/ids.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { openFileLearningPersistence } from './file-persistence.js';
import { mergeLearning } from './learning-import.js';
import { createLearningStore, type LearningStore } from './learning-store.js';

/** Options for {@link openLearning}. */
export interface OpenLearningOptions {
  /** The storage whose learning records the store uses. */
  readonly storage: Pick<Storage, 'kind' | 'url' | 'openLearning'>;
  /**
   * Keep the records in this RVLS file instead of the storage; `null` keeps them in memory
   * only. Default: in the storage.
   */
  readonly file?: string | null;
  /**
   * An RVLS file from before learning lived in the store: imported into a durable storage once
   * (when this store is the writer), then renamed `<file>.migrated`.
   */
  readonly migrateFile?: string;
  /** How often unsaved changes are persisted (default 1000 ms). */
  readonly autosaveMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly ids?: IdGenerator;
}

/** The suffix a migrated learning file is renamed with. */
export const MIGRATED_SUFFIX = '.migrated';

/**
 * Opens and loads the learning store `options` name. When another kernel already writes the
 * storage's learning records (`STORE_LOCKED`), this one reads them and keeps its own changes in
 * memory, with a warning.
 */
export async function openLearning(options: OpenLearningOptions): Promise<LearningStore> {
  const logger = options.logger ?? silentLogger;
  const persistence = await openPersistence(options, logger);
  const store = createLearningStore({
    ...(persistence === undefined ? {} : { persistence }),
    autosaveMs: options.autosaveMs ?? 1000,
    logger,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.ids === undefined ? {} : { ids: options.ids }),
  });
  try {
    await store.load();
    const migrate = options.migrateFile;
    if (
      migrate !== undefined &&
      options.file === undefined &&
      options.storage.kind !== 'memory' &&
      persistence?.readOnly === false
    )
      await migrateLearningFile(store, migrate, logger, options.clock);
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}

async function openPersistence(
  options: OpenLearningOptions,
  logger: Logger,
): Promise<LearningPersistence | undefined> {
  if (options.file === null) return undefined;
  if (options.file !== undefined) {
    return openFileLearningPersistence({
      path: options.file,
      logger,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
  }
  try {
    return await options.storage.openLearning();
  } catch (error) {
    if (!isKernelError(error, 'STORE_LOCKED')) throw error;
    logger.warn(
      'Another kernel holds the shared learning store: this one reads it and keeps its own learning in memory',
      { store: options.storage.url },
    );
    return options.storage.openLearning({ readOnly: true });
  }
}

/**
 * Imports `file` into `store` (upsert by id; its EWC state only when the store has none yet),
 * persists, then renames the file so the next open does not import it again. A file another
 * process still writes (its lock is held) is left for a later open.
 */
async function migrateLearningFile(
  store: LearningStore,
  file: string,
  logger: Logger,
  clock: Clock | undefined,
): Promise<void> {
  if (!existsSync(file)) return;
  let source: LearningPersistence;
  try {
    source = await openFileLearningPersistence({
      path: file,
      logger,
      ...(clock === undefined ? {} : { clock }),
    });
  } catch (error) {
    if (!isKernelError(error, 'STORE_LOCKED')) throw error;
    logger.warn('The old learning file is still in use; it will be imported on a later start', {
      file,
    });
    return;
  }
  try {
    const snapshot = await source.load();
    const result =
      snapshot === undefined
        ? { patterns: 0, trajectories: 0, ewcReplaced: false }
        : mergeLearning(store, snapshot, store.getEwc().tasks_learned === 0);
    await store.persist();
    await rename(file, file + MIGRATED_SUFFIX).catch((error: unknown) => {
      throw new KernelError(
        'STORAGE_ERROR',
        `Imported ${file} into the learning store but could not rename it: ${errorMessage(error)}; ` +
          `rename or remove it so it is not imported again`,
        { cause: error },
      );
    });
    logger.info('Imported the learning file into the store (once); renamed it', {
      file,
      renamedTo: file + MIGRATED_SUFFIX,
      store: store.location,
      ...result,
      skipped: snapshot?.skippedCount ?? 0,
    });
  } finally {
    await source.close();
  }
}

/**
 * Merging an RVLS file into a learning store (CLI and API imports): patterns and trajectories
 * are upserted by id; the EWC state is replaced only when asked. All or nothing: the file is
 * decoded as a stream (never held whole) and checked to the end before the store is touched,
 * and a merge whose commit fails is undone.
 *
 * @module
 */
import { KernelError, errorMessage, isKernelError } from '../errors.js';
import type { EwcState, PatternRecord, TrajectoryRecord } from '../formats/learning-records.js';
import type { LearningStore } from './learning-store.js';
import { readRvlsStream, type LearningSnapshot } from '../formats/rvls.js';
import { readOxiosMemory, type OxiosMemoryDatabase } from '../formats/oxios-memory.js';

/** What an import did. */
export interface LearningImportResult {
  readonly patterns: number;
  readonly trajectories: number;
  readonly ewcReplaced: boolean;
  /** Malformed lines skipped (only with `skipInvalid`, as oxios loads). */
  readonly skipped: number;
}

/** Options for {@link importRvls}. */
export interface LearningImportOptions {
  /** Names the input in errors (a path, "upload"). */
  readonly source: string;
  /** Also replace the EWC state with the file's (when it has one). */
  readonly replaceEwc?: boolean | undefined;
  /**
   * Skip malformed lines and count them (oxios' lenient load) instead of refusing the file.
   * Default: a malformed line fails the import with `INVALID_RVLS_FILE` naming the line
   * (`details.line`), and nothing is merged.
   */
  readonly skipInvalid?: boolean | undefined;
  /**
   * Makes the merge durable (the daemon persists the store). When it fails, the merge is undone
   * in memory — the records it replaced are put back, the ones it added removed — and the error
   * is rethrown: nothing of the file stays.
   */
  readonly commit?: (() => Promise<void>) | undefined;
}

/**
 * Reads RVLS from `chunks` (bytes) and merges it into `store`. Nothing is merged when the file
 * is invalid (bad header, footer or UTF-8, or — unless `skipInvalid` — a malformed line): the
 * typed error names `source` and the line.
 */
export async function importRvls(
  store: LearningStore,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: LearningImportOptions,
): Promise<LearningImportResult> {
  const snapshot = await readRvlsStream(chunks, {
    source: options.source,
    onMalformed: options.skipInvalid === true ? 'skip' : 'throw',
  });
  const replaceEwc = options.replaceEwc === true && snapshot.ewcRecords > 0;
  const undo = undoLog(store, snapshot, replaceEwc);
  let merged: Omit<LearningImportResult, 'skipped'>;
  try {
    merged = mergeLearning(store, snapshot, replaceEwc);
    await options.commit?.();
  } catch (error) {
    undo();
    if (isKernelError(error)) throw error;
    throw new KernelError(
      'STORAGE_ERROR',
      `The learning import from ${options.source} could not be stored (${errorMessage(error)}); nothing was imported, run it again`,
      { cause: error },
    );
  }
  return { ...merged, skipped: snapshot.skippedCount };
}

/** What merging `snapshot` would replace, and how to put it back. */
function undoLog(
  store: LearningStore,
  snapshot: LearningSnapshot,
  replaceEwc: boolean,
): () => void {
  const patterns = new Map<string, PatternRecord | undefined>();
  for (const p of snapshot.patterns) {
    if (!patterns.has(p.id)) patterns.set(p.id, store.getPattern(p.id));
  }
  const trajectories = new Map<string, TrajectoryRecord | undefined>();
  for (const t of snapshot.trajectories) {
    if (!trajectories.has(t.id)) trajectories.set(t.id, store.getTrajectory(t.id));
  }
  const ewc: EwcState | undefined = replaceEwc ? store.getEwc() : undefined;
  return () => {
    for (const [id, before] of patterns) {
      if (before === undefined) store.removePattern(id);
      else store.savePattern(before);
    }
    for (const [id, before] of trajectories) {
      if (before === undefined) store.removeTrajectory(id);
      else store.saveTrajectory(before);
    }
    if (ewc !== undefined) store.saveEwc(ewc);
  };
}

/**
 * Merges a decoded snapshot into `store`: patterns and trajectories upserted by id, the EWC
 * state replaced when `replaceEwc`. The one merge rule for imports and the first-open migration.
 */
export function mergeLearning(
  store: LearningStore,
  snapshot: LearningSnapshot,
  replaceEwc: boolean,
): Omit<LearningImportResult, 'skipped'> {
  for (const p of snapshot.patterns) store.savePattern(p);
  for (const t of snapshot.trajectories) store.saveTrajectory(t);
  if (replaceEwc) store.saveEwc(snapshot.ewc);
  return {
    patterns: snapshot.patterns.length,
    trajectories: snapshot.trajectories.length,
    ewcReplaced: replaceEwc,
  };
}

/** What {@link importOxiosMemory} did. */
export interface OxiosMemoryImportResult {
  /** Patterns merged (upserted by id). */
  readonly patterns: number;
  /** Dense embeddings checked and not kept (kerno recalls by TF-IDF over the strategy). */
  readonly embeddingsDropped: number;
  /** Patterns whose `data` carried `embedding_weights`, kept. */
  readonly weightsKept: number;
}

/**
 * Merges the `patterns` table of an oxios `memory.db` into `store` through the same merge rule
 * as an RVLS import (upsert by id; trajectories and EWC untouched). Every row is read and checked
 * before the first is merged: a bad row merges nothing.
 */
export function importOxiosMemory(
  store: LearningStore,
  db: OxiosMemoryDatabase,
  options: { source: string },
): OxiosMemoryImportResult {
  const read = readOxiosMemory(db, options.source);
  const merged = mergeLearning(
    store,
    { patterns: read.patterns, trajectories: [], ewc: store.getEwc() },
    false,
  );
  return {
    patterns: merged.patterns,
    embeddingsDropped: read.embeddingsDropped,
    weightsKept: read.weightsKept,
  };
}

/**
 * Merging an RVLS file into a learning store (CLI and API imports): patterns and trajectories
 * are upserted by id; the EWC state is replaced only when asked.
 *
 * @module
 */
import type { LearningStore } from './learning-store.js';
import { readRvlsStream, type LearningSnapshot } from '../formats/rvls.js';
import { readOxiosMemory, type OxiosMemoryDatabase } from '../formats/oxios-memory.js';

/** What an import did. */
export interface LearningImportResult {
  readonly patterns: number;
  readonly trajectories: number;
  readonly ewcReplaced: boolean;
  /** Malformed lines skipped (as oxios does). */
  readonly skipped: number;
}

/**
 * Reads RVLS from `chunks` (bytes) and merges it into `store`. Nothing is merged when the file
 * is invalid (bad header, footer or UTF-8): the typed error names `source`.
 */
export async function importRvls(
  store: LearningStore,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { source: string; replaceEwc?: boolean },
): Promise<LearningImportResult> {
  const snapshot = await readRvlsStream(chunks, { source: options.source });
  const replaceEwc = options.replaceEwc === true && snapshot.ewcRecords > 0;
  return { ...mergeLearning(store, snapshot, replaceEwc), skipped: snapshot.skippedCount };
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

/**
 * Merging an RVLS file into a learning store (CLI and API imports): patterns and trajectories
 * are upserted by id; the EWC state is replaced only when asked.
 *
 * @module
 */
import type { LearningStore } from './learning-store.js';
import { readRvlsStream, type LearningSnapshot } from '../formats/rvls.js';

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

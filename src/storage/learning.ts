/**
 * The learning persistence port: where a learning store keeps its records. Every storage backend
 * keeps them (`Storage.openLearning`), so one store URL holds every durable part; RVLS is the
 * import/export format (and the text of each stored record). A persistence loads a whole snapshot
 * and saves a whole snapshot; it owns its resources (files, locks, connections).
 *
 * The SQL backends share the row form below: one RVLS line per record, numbered in the order it
 * was first stored, and a save plan that writes only what changed.
 *
 * @example
 * const persistence = await storage.openLearning();
 * await persistence.save({ patterns: [], trajectories: [], ewc: defaultEwcState() });
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { KernelError } from '../errors.js';
import {
  createRvlsDecoder,
  encodeRvlsRecord,
  RVLS_FOOTER,
  RVLS_HEADER,
  type LearningSnapshot,
  type SkippedRecord,
} from '../formats/rvls.js';

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

/** Options for `Storage.openLearning`. */
export interface StorageLearningOptions {
  /** Load only: takes no lock, and `save` is refused. */
  readonly readOnly?: boolean;
}

/** Record kinds as stored: patterns, then trajectories, then the one EWC record. */
export const LEARNING_KINDS = Object.freeze({ pattern: 0, trajectory: 1, ewc: 2 });

/** One record as a SQL backend stores it: its kind, id and RVLS line. */
export interface LearningRow {
  readonly kind: number;
  readonly id: string;
  readonly line: string;
  /** MD5 of `line` (what PostgreSQL's `md5()` gives), to find what changed. */
  readonly digest: string;
}

/** What a writer knows of a stored row: its place and the digest of its line. */
export interface StoredLearningRow {
  readonly seq: number;
  readonly digest: string;
}

/** What one save writes: everything again, or only the changed rows and the removed keys. */
export interface LearningSavePlan {
  /** Delete every row first, then insert `upserts` in order. */
  readonly rewrite: boolean;
  /** Rows to insert or update, in store order. */
  readonly upserts: readonly LearningRow[];
  /** Rows to delete, as `[kind, id]`. */
  readonly removed: readonly (readonly [number, string])[];
}

/** The key of a row in a {@link StoredLearningRow} map. */
export function learningRowKey(kind: number, id: string): string {
  return `${kind}:${id}`;
}

/** MD5 hex of an RVLS line. */
export function learningLineDigest(line: string): string {
  return createHash('md5').update(line, 'utf8').digest('hex');
}

/** The snapshot as rows, in store order (a repeated id keeps its first place, last content). */
export function learningRows(snapshot: LearningSnapshot): LearningRow[] {
  const out = new Map<string, LearningRow>();
  const add = (kind: number, id: string, line: string): void => {
    out.set(learningRowKey(kind, id), { kind, id, line, digest: learningLineDigest(line) });
  };
  for (const p of snapshot.patterns)
    add(LEARNING_KINDS.pattern, p.id, encodeRvlsRecord({ type: 'pattern', data: p }));
  for (const t of snapshot.trajectories)
    add(LEARNING_KINDS.trajectory, t.id, encodeRvlsRecord({ type: 'trajectory', data: t }));
  add(LEARNING_KINDS.ewc, '', encodeRvlsRecord({ type: 'ewc', data: snapshot.ewc }));
  return [...out.values()];
}

/**
 * Decodes stored lines (ordered by kind, then seq) with the RVLS decoder a file load uses, so a
 * bad row is skipped and counted the same way; `undefined` when there are none.
 */
export function decodeLearningLines(
  lines: Iterable<string>,
  location: string,
): LoadedLearning | undefined {
  const decoder = createRvlsDecoder({ source: location });
  decoder.push(Buffer.from(RVLS_HEADER, 'utf8'));
  let count = 0;
  for (const line of lines) {
    decoder.push(Buffer.from(line + '\n', 'utf8'));
    count++;
  }
  if (count === 0) return undefined;
  decoder.push(Buffer.from(RVLS_FOOTER, 'utf8'));
  const result = decoder.end();
  return {
    patterns: result.patterns,
    trajectories: result.trajectories,
    ewc: result.ewc,
    skippedCount: result.skippedCount,
    skipped: result.skipped,
  };
}

/**
 * Plans a save of `rows` over what is `stored`. Writing only the changes is right when it keeps
 * the snapshot's order: rows already stored appear in the order they were stored, and every new
 * row comes after all of them of its kind (new rows are numbered after the old ones). Otherwise
 * the save rewrites every row.
 */
export function planLearningSave(
  rows: readonly LearningRow[],
  stored: ReadonlyMap<string, StoredLearningRow>,
): LearningSavePlan {
  if (!keepsOrder(rows, stored)) return { rewrite: true, upserts: rows, removed: [] };
  const keep = new Set(rows.map((r) => learningRowKey(r.kind, r.id)));
  const removed: [number, string][] = [];
  for (const key of stored.keys()) {
    if (keep.has(key)) continue;
    const colon = key.indexOf(':');
    removed.push([Number(key.slice(0, colon)), key.slice(colon + 1)]);
  }
  const upserts = rows.filter((r) => stored.get(learningRowKey(r.kind, r.id))?.digest !== r.digest);
  return { rewrite: false, upserts, removed };
}

/** What is stored after `plan` ran, given the seq each upserted row got (`[kind, id, seq]`). */
export function storedAfterSave(
  stored: ReadonlyMap<string, StoredLearningRow>,
  plan: LearningSavePlan,
  seqs: Iterable<readonly [number, string, number]>,
): Map<string, StoredLearningRow> {
  const next = plan.rewrite ? new Map<string, StoredLearningRow>() : new Map(stored);
  for (const [kind, id] of plan.removed) next.delete(learningRowKey(kind, id));
  const digests = new Map(plan.upserts.map((r) => [learningRowKey(r.kind, r.id), r.digest]));
  for (const [kind, id, seq] of seqs) {
    const key = learningRowKey(kind, id);
    next.set(key, { seq, digest: digests.get(key)! });
  }
  return next;
}

function keepsOrder(
  rows: readonly LearningRow[],
  stored: ReadonlyMap<string, StoredLearningRow>,
): boolean {
  let kind = -1;
  let lastSeq = -1;
  let sawNew = false;
  for (const r of rows) {
    if (r.kind !== kind) {
      kind = r.kind;
      lastSeq = -1;
      sawNew = false;
    }
    const row = stored.get(learningRowKey(r.kind, r.id));
    if (row === undefined) sawNew = true;
    else if (sawNew || row.seq < lastSeq) return false;
    else lastSeq = row.seq;
  }
  return true;
}

/** `STORE_LOCKED`: another writer holds the learning store at `location`. */
export function learningLockedError(location: string): KernelError {
  return new KernelError(
    'STORE_LOCKED',
    `Another kerno process holds the learning store at ${location}; ` +
      'stop it, or open the learning store read-only',
    { details: { location } },
  );
}

/** The error for a save on a read-only learning persistence. */
export function learningReadOnlyError(location: string): KernelError {
  return new KernelError(
    'INVALID_ARGUMENT',
    `The learning store at ${location} was opened read-only; open it without readOnly to persist.`,
  );
}

/** The error for any call on a closed learning persistence. */
export function learningClosedError(location: string): KernelError {
  return new KernelError('CLOSED', `The learning store at ${location} is closed; open it again.`);
}

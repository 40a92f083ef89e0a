/**
 * oxios's learning data before RVLS: the `patterns` table of `<workspace>/memory.db` (oxios
 * 1.0–1.39, RFC-012), read into kerno's {@link PatternRecord}s.
 *
 * The table upstream:
 *
 * ```sql
 * CREATE TABLE patterns (id TEXT PRIMARY KEY, strategy TEXT NOT NULL, domain TEXT,
 *   quality REAL NOT NULL DEFAULT 0.5, use_count INTEGER NOT NULL DEFAULT 0,
 *   success_rate REAL NOT NULL DEFAULT 0.0, is_long_term INTEGER NOT NULL DEFAULT 0,
 *   embedding BLOB, data TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)
 * ```
 *
 * `embedding` is a dense vector, each `f32` as 4 little-endian bytes; `data` is JSON text the
 * writer chose; `created_at` / `updated_at` are chrono `to_rfc3339()` text (`+00:00`).
 *
 * Mapping (kerno's record is oxios 0.3's RVLS `PatternRecord`): `id`, `strategy`, `quality`,
 * `use_count`, `success_rate` and `is_long_term` as they are; a NULL `domain` becomes `""`;
 * `last_used` is `updated_at` (or `created_at` when that is not a timestamp). kerno's recall is
 * sparse TF-IDF over the strategy text: a dense `embedding` has no place in the record and is
 * checked (whole `f32`s, all finite) and counted, not kept. When `data` is a JSON object with an
 * `embedding_weights` object of finite numbers (an RVLS-shaped pattern), those weights are kept.
 *
 * This module only maps rows: the caller opens the database (read-only) and hands in a
 * {@link OxiosMemoryDatabase} — codecs never load a driver.
 *
 * @module
 */
import { KernelError } from '../errors.js';
import {
  API_INPUT,
  canonicalTimestamp,
  readPattern,
  type PatternRecord,
} from './learning-records.js';

/** The columns kerno reads, in the upstream order. */
export const OXIOS_PATTERN_COLUMNS = Object.freeze([
  'id',
  'strategy',
  'domain',
  'quality',
  'use_count',
  'success_rate',
  'is_long_term',
  'embedding',
  'data',
  'created_at',
  'updated_at',
] as const);

/** The part of a SQLite connection the reader uses (better-sqlite3's shape). */
export interface OxiosMemoryDatabase {
  prepare(sql: string): { all(...params: unknown[]): unknown[] };
}

/** What {@link readOxiosMemory} read. */
export interface OxiosMemoryRead {
  /** The patterns, in `rowid` order. */
  readonly patterns: readonly PatternRecord[];
  /** Rows whose dense `embedding` was checked and not kept (kerno recalls by TF-IDF). */
  readonly embeddingsDropped: number;
  /** Rows whose `data` held `embedding_weights` that were kept. */
  readonly weightsKept: number;
}

const U32_MAX = 0xffff_ffff;

/**
 * Reads every row of the `patterns` table of an oxios `memory.db`. Any row that does not map
 * fails the whole read with `INVALID_UPSTREAM_FILE` naming its id (nothing is half-read); a
 * database without the table or its columns, or a file that is not SQLite, fails the same way
 * saying what was expected.
 */
export function readOxiosMemory(db: OxiosMemoryDatabase, source: string): OxiosMemoryRead {
  let columns: string[];
  try {
    columns = db
      .prepare("SELECT name FROM pragma_table_info('patterns')")
      .all()
      .map((r) => String((r as { name: unknown }).name));
  } catch (error) {
    throw notMemoryDb(
      source,
      `it could not be read as SQLite (${(error as Error).message})`,
      error,
    );
  }
  if (columns.length === 0) throw notMemoryDb(source, 'it has no `patterns` table');
  const missing = OXIOS_PATTERN_COLUMNS.filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    throw notMemoryDb(source, `its \`patterns\` table lacks the column(s) ${missing.join(', ')}`);
  }
  let rows: unknown[];
  try {
    rows = db
      .prepare(`SELECT ${OXIOS_PATTERN_COLUMNS.join(', ')} FROM patterns ORDER BY rowid`)
      .all();
  } catch (error) {
    throw notMemoryDb(
      source,
      `its \`patterns\` table could not be read (${(error as Error).message})`,
      error,
    );
  }
  const patterns: PatternRecord[] = [];
  const seen = new Set<string>();
  let embeddingsDropped = 0;
  let weightsKept = 0;
  for (let i = 0; i < rows.length; i++) {
    const mapped = mapRow(rows[i] as Record<string, unknown>, i + 1, source);
    if (seen.has(mapped.pattern.id)) {
      throw badRow(source, i + 1, mapped.pattern.id, 'the id appears twice');
    }
    seen.add(mapped.pattern.id);
    patterns.push(mapped.pattern);
    if (mapped.embedding) embeddingsDropped++;
    if (mapped.weights) weightsKept++;
  }
  return { patterns, embeddingsDropped, weightsKept };
}

/** Decodes an `embedding` BLOB: `f32`s, 4 little-endian bytes each. */
export function decodeOxiosEmbedding(blob: Uint8Array): Float32Array {
  if (blob.byteLength % 4 !== 0) {
    throw new KernelError(
      'INVALID_UPSTREAM_FILE',
      `An embedding of ${blob.byteLength} bytes is not a whole number of f32s (4 bytes each)`,
    );
  }
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const out = new Float32Array(blob.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

function mapRow(
  row: Record<string, unknown>,
  n: number,
  source: string,
): { pattern: PatternRecord; embedding: boolean; weights: boolean } {
  const id = row['id'];
  if (typeof id !== 'string') throw badRow(source, n, undefined, '`id` must be text');
  const bad = (why: string): never => {
    throw badRow(source, n, id, why);
  };
  const real = (key: string): number => {
    const v = toNumber(row[key]);
    if (v === undefined || !Number.isFinite(v)) bad(`\`${key}\` must be a finite number`);
    return v!;
  };
  const useCount = toNumber(row['use_count']);
  if (useCount === undefined || !Number.isInteger(useCount) || useCount < 0 || useCount > U32_MAX)
    bad(`\`use_count\` must be an integer from 0 to ${U32_MAX}`);
  const longTerm = toNumber(row['is_long_term']);
  if (longTerm === undefined || !Number.isInteger(longTerm))
    bad('`is_long_term` must be an integer (0 or 1)');
  const domain = row['domain'];
  if (domain !== null && typeof domain !== 'string') bad('`domain` must be text or NULL');
  const strategy = row['strategy'];
  if (typeof strategy !== 'string') bad('`strategy` must be text');
  const lastUsed = timestampOf(row['updated_at']) ?? timestampOf(row['created_at']);
  if (lastUsed === undefined) bad('neither `updated_at` nor `created_at` is an RFC 3339 timestamp');

  let embedding = false;
  const blob = row['embedding'];
  if (blob !== null && blob !== undefined) {
    if (!(blob instanceof Uint8Array)) bad('`embedding` must be a BLOB or NULL');
    let vector: Float32Array;
    try {
      vector = decodeOxiosEmbedding(blob as Uint8Array);
    } catch (error) {
      bad((error as Error).message);
    }
    if (!vector!.every((x) => Number.isFinite(x))) bad('`embedding` holds a non-finite f32');
    embedding = true;
  }

  const text = row['data'];
  if (typeof text !== 'string') bad('`data` must be JSON text');
  let data: unknown;
  try {
    data = JSON.parse(text as string);
  } catch {
    bad('`data` is not valid JSON');
  }
  const weights = weightsIn(data);

  const candidate = {
    id,
    strategy,
    embedding_weights: weights ?? {},
    success_rate: real('success_rate'),
    use_count: useCount,
    domain: domain ?? '',
    quality: real('quality'),
    is_long_term: longTerm !== 0,
    last_used: lastUsed,
  };
  const pattern = readPattern(candidate, API_INPUT);
  if (typeof pattern === 'string') bad(pattern);
  return { pattern: pattern as PatternRecord, embedding, weights: weights !== undefined };
}

/** SQLite hands integers as number or bigint (safeIntegers), reals as number. */
function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}

function timestampOf(v: unknown): string | undefined {
  return typeof v === 'string' ? canonicalTimestamp(v) : undefined;
}

/** `data.embedding_weights` when it is an object of finite numbers. */
function weightsIn(data: unknown): Record<string, number> | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const w = (data as Record<string, unknown>)['embedding_weights'];
  if (typeof w !== 'object' || w === null || Array.isArray(w)) return undefined;
  for (const v of Object.values(w)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
  }
  return w as Record<string, number>;
}

function notMemoryDb(source: string, why: string, cause?: unknown): KernelError {
  return new KernelError(
    'INVALID_UPSTREAM_FILE',
    `${source} is not an oxios memory.db: ${why}. Expected a SQLite database with a \`patterns\` table (${OXIOS_PATTERN_COLUMNS.join(', ')})`,
    cause === undefined ? { details: { path: source } } : { cause, details: { path: source } },
  );
}

function badRow(source: string, n: number, id: string | undefined, why: string): KernelError {
  return new KernelError(
    'INVALID_UPSTREAM_FILE',
    `${source}: pattern row ${n}${id === undefined ? '' : ` (id ${JSON.stringify(id.slice(0, 80))})`}: ${why}; nothing was imported`,
    { details: { path: source, row: n } },
  );
}

/**
 * Learning records in PostgreSQL: one row per record holding its RVLS line (RVLS stays the
 * import/export format, and loading runs the same decoder as a file). A writable persistence
 * holds the schema's learning lock (a session advisory lock on its own connection), like the
 * RVLS file's lock file: a second writer gets `STORE_LOCKED`. Each save is one transaction that
 * writes only what changed since the last save (and removes what is gone), so a crash leaves
 * the previous or the new snapshot, never a mix.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { KernelError } from '../../errors.js';
import type { LearningPersistence, LoadedLearning } from '../learning.js';
import {
  createRvlsDecoder,
  encodeRvlsRecord,
  RVLS_FOOTER,
  RVLS_HEADER,
  type LearningSnapshot,
} from '../../formats/rvls.js';
import {
  LOCK_CLASS,
  connectClient,
  isConnectionError,
  storageError,
  type PgClient,
  type PgModule,
  type PostgresLocation,
} from './postgres-connection.js';
import type { PostgresReader } from './postgres-reader.js';

/** Options for {@link openPostgresLearning}. */
export interface PostgresLearningOptions {
  /** Load only: takes no lock, and `save` is refused. */
  readonly readOnly?: boolean;
  /** Called once when the persistence is closed. */
  readonly onClose?: () => void;
}

const PATTERN = 0;
const TRAJECTORY = 1;
const EWC = 2;

interface StoredRow {
  readonly seq: number;
  readonly digest: string;
}

interface Line {
  readonly kind: number;
  readonly id: string;
  readonly line: string;
  readonly digest: string;
}

/**
 * Opens the learning records of a storage's schema. Unless read-only, takes the learning lock
 * (throws `STORE_LOCKED` when another session holds it).
 */
export async function openPostgresLearning(
  pg: PgModule,
  location: PostgresLocation,
  reader: PostgresReader,
  options: PostgresLearningOptions = {},
): Promise<LearningPersistence> {
  const learning = new PostgresLearning(pg, location, reader, options);
  if (!learning.readOnly) await learning.lock();
  return learning;
}

class PostgresLearning implements LearningPersistence {
  readonly location: string;
  readonly readOnly: boolean;
  readonly #pg: PgModule;
  readonly #pgLocation: PostgresLocation;
  readonly #reader: PostgresReader;
  readonly #onClose: (() => void) | undefined;
  /** The connection holding the lock; saves run on it, so they share its fate. */
  #client: PgClient | undefined;
  /** What is stored, as this writer last saw it (undefined: read it before the next save). */
  #stored: Map<string, StoredRow> | undefined;
  #closed = false;

  constructor(
    pg: PgModule,
    location: PostgresLocation,
    reader: PostgresReader,
    options: PostgresLearningOptions,
  ) {
    this.#pg = pg;
    this.#pgLocation = location;
    this.#reader = reader;
    this.#onClose = options.onClose;
    this.readOnly = options.readOnly === true;
    this.location = `${location.displayUrl}#learning`;
  }

  /** Takes the learning lock on a fresh connection (again after that connection was lost). */
  async lock(): Promise<void> {
    let client: PgClient | undefined;
    client = await connectClient(this.#pg, this.#pgLocation, 'learning', () => {
      if (this.#client === client) this.#client = undefined;
      client?.end().catch(() => undefined);
    });
    try {
      const { rows } = await client.query({
        text: 'SELECT pg_try_advisory_lock($1, hashtext($2))',
        values: [LOCK_CLASS, `${this.#pgLocation.schema}:learning`],
        rowMode: 'array',
      });
      if ((rows[0] as [boolean])[0] !== true) {
        throw new KernelError(
          'STORE_LOCKED',
          `Another kerno process holds the learning store at ${this.location}; ` +
            'stop it, or open the learning store read-only',
          { details: { location: this.location } },
        );
      }
    } catch (error) {
      await client.end().catch(() => undefined);
      client = undefined;
      throw storageError('Cannot lock the learning store', error);
    }
    this.#client = client;
    // Another writer may have saved while no lock was held: read the stored rows again.
    this.#stored = undefined;
  }

  async load(): Promise<LoadedLearning | undefined> {
    this.#assertOpen();
    const { rows } = await this.#reader.query('Reading the learning store failed', {
      text: 'SELECT kind, id, seq, line FROM learning_records ORDER BY kind, seq',
      rowMode: 'array',
    });
    if (rows.length === 0) {
      this.#stored = new Map();
      return undefined;
    }
    const decoder = createRvlsDecoder({ source: this.location });
    decoder.push(Buffer.from(RVLS_HEADER, 'utf8'));
    const stored = new Map<string, StoredRow>();
    for (const [kind, id, seq, line] of rows as [number, string, number, string][]) {
      decoder.push(Buffer.from(line + '\n', 'utf8'));
      stored.set(rowKey(kind, id), { seq, digest: md5(line) });
    }
    decoder.push(Buffer.from(RVLS_FOOTER, 'utf8'));
    const result = decoder.end();
    this.#stored = stored;
    return {
      patterns: result.patterns,
      trajectories: result.trajectories,
      ewc: result.ewc,
      skippedCount: result.skippedCount,
      skipped: result.skipped,
    };
  }

  async save(snapshot: LearningSnapshot): Promise<void> {
    this.#assertOpen();
    if (this.readOnly) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `The learning store at ${this.location} was opened read-only; open it without readOnly to persist.`,
      );
    }
    if (this.#client === undefined) await this.lock();
    const client = this.#client!;
    const lines = snapshotLines(snapshot);
    try {
      const stored = this.#stored ?? (await readStored(client));
      const incremental = keepsOrder(lines, stored);
      const changed = incremental
        ? lines.filter((l) => stored.get(rowKey(l.kind, l.id))?.digest !== l.digest)
        : lines;
      const keep = new Set(lines.map((l) => rowKey(l.kind, l.id)));
      const removed = incremental ? [...stored.keys()].filter((k) => !keep.has(k)) : [];
      await client.query({ text: 'BEGIN' });
      if (!incremental) await client.query({ text: 'DELETE FROM learning_records' });
      else if (removed.length > 0) {
        await client.query({
          text:
            'DELETE FROM learning_records l USING unnest($1::smallint[], $2::text[]) AS u(kind, id) ' +
            'WHERE l.kind = u.kind AND l.id = u.id',
          values: [removed.map((k) => Number(k.slice(0, 1))), removed.map((k) => k.slice(2))],
        });
      }
      const { rows } = await client.query({
        text:
          'INSERT INTO learning_records (kind, id, line) ' +
          'SELECT kind, id, line FROM unnest($1::smallint[], $2::text[], $3::text[]) WITH ORDINALITY AS u(kind, id, line, n) ORDER BY n ' +
          'ON CONFLICT (kind, id) DO UPDATE SET line = excluded.line RETURNING kind, id, seq',
        values: [changed.map((l) => l.kind), changed.map((l) => l.id), changed.map((l) => l.line)],
        rowMode: 'array',
      });
      await client.query({ text: 'COMMIT' });
      const next = incremental ? stored : new Map<string, StoredRow>();
      for (const k of removed) next.delete(k);
      const digests = new Map(changed.map((l) => [rowKey(l.kind, l.id), l.digest]));
      for (const [kind, id, seq] of rows as [number, string, number][]) {
        const key = rowKey(kind, id);
        next.set(key, { seq, digest: digests.get(key)! });
      }
      this.#stored = next;
    } catch (error) {
      this.#stored = undefined;
      if (isConnectionError(error)) {
        this.#client = undefined;
        client.end().catch(() => undefined);
      } else await client.query({ text: 'ROLLBACK' }).catch(() => undefined);
      throw storageError(`Failed to save the learning store at ${this.location}`, error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose?.();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined); // ending the session releases the lock
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new KernelError(
        'CLOSED',
        `The learning store at ${this.location} is closed; open it again.`,
      );
    }
  }
}

function rowKey(kind: number, id: string): string {
  return `${kind}:${id}`;
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** The snapshot as rows, in store order (a repeated id keeps its first place, last content). */
function snapshotLines(snapshot: LearningSnapshot): Line[] {
  const out = new Map<string, Line>();
  const add = (kind: number, id: string, line: string): void => {
    out.set(rowKey(kind, id), { kind, id, line, digest: md5(line) });
  };
  for (const p of snapshot.patterns)
    add(PATTERN, p.id, encodeRvlsRecord({ type: 'pattern', data: p }));
  for (const t of snapshot.trajectories)
    add(TRAJECTORY, t.id, encodeRvlsRecord({ type: 'trajectory', data: t }));
  add(EWC, '', encodeRvlsRecord({ type: 'ewc', data: snapshot.ewc }));
  return [...out.values()];
}

/**
 * Whether writing only the changes keeps the snapshot's order: rows already stored appear in
 * the order they were stored, and every new row comes after all of them (new rows are numbered
 * after the old ones). Otherwise the save rewrites every row.
 */
function keepsOrder(lines: readonly Line[], stored: ReadonlyMap<string, StoredRow>): boolean {
  let kind = -1;
  let lastSeq = -1;
  let sawNew = false;
  for (const l of lines) {
    if (l.kind !== kind) {
      kind = l.kind;
      lastSeq = -1;
      sawNew = false;
    }
    const row = stored.get(rowKey(l.kind, l.id));
    if (row === undefined) sawNew = true;
    else if (sawNew || row.seq < lastSeq) return false;
    else lastSeq = row.seq;
  }
  return true;
}

async function readStored(client: PgClient): Promise<Map<string, StoredRow>> {
  const { rows } = await client.query({
    text: 'SELECT kind, id, seq, md5(line) FROM learning_records',
    rowMode: 'array',
  });
  const stored = new Map<string, StoredRow>();
  for (const [kind, id, seq, digest] of rows as [number, string, number, string][])
    stored.set(rowKey(kind, id), { seq, digest });
  return stored;
}

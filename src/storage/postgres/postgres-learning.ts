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
import type { LearningSnapshot } from '../../formats/rvls.js';
import {
  decodeLearningLines,
  learningClosedError,
  learningLineDigest,
  learningLockedError,
  learningReadOnlyError,
  learningRowKey,
  learningRows,
  planLearningSave,
  storedAfterSave,
  type LearningPersistence,
  type LoadedLearning,
  type StoredLearningRow,
} from '../learning.js';
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
  #stored: Map<string, StoredLearningRow> | undefined;
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
      if ((rows[0] as [boolean])[0] !== true) throw learningLockedError(this.location);
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
    const stored = new Map<string, StoredLearningRow>();
    const lines: string[] = [];
    for (const [kind, id, seq, line] of rows as [number, string, number, string][]) {
      lines.push(line);
      stored.set(learningRowKey(kind, id), { seq, digest: learningLineDigest(line) });
    }
    this.#stored = stored;
    return decodeLearningLines(lines, this.location);
  }

  async save(snapshot: LearningSnapshot): Promise<void> {
    this.#assertOpen();
    if (this.readOnly) throw learningReadOnlyError(this.location);
    if (this.#client === undefined) await this.lock();
    const client = this.#client!;
    const lines = learningRows(snapshot);
    try {
      const stored = this.#stored ?? (await readStored(client));
      const plan = planLearningSave(lines, stored);
      const { upserts, removed } = plan;
      await client.query({ text: 'BEGIN' });
      if (plan.rewrite) await client.query({ text: 'DELETE FROM learning_records' });
      else if (removed.length > 0) {
        await client.query({
          text:
            'DELETE FROM learning_records l USING unnest($1::smallint[], $2::text[]) AS u(kind, id) ' +
            'WHERE l.kind = u.kind AND l.id = u.id',
          values: [removed.map((r) => r[0]), removed.map((r) => r[1])],
        });
      }
      const { rows } = await client.query({
        text:
          'INSERT INTO learning_records (kind, id, line) ' +
          'SELECT kind, id, line FROM unnest($1::smallint[], $2::text[], $3::text[]) WITH ORDINALITY AS u(kind, id, line, n) ORDER BY n ' +
          'ON CONFLICT (kind, id) DO UPDATE SET line = excluded.line RETURNING kind, id, seq',
        values: [upserts.map((l) => l.kind), upserts.map((l) => l.id), upserts.map((l) => l.line)],
        rowMode: 'array',
      });
      await client.query({ text: 'COMMIT' });
      this.#stored = storedAfterSave(stored, plan, rows as [number, string, number][]);
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
    if (this.#closed) throw learningClosedError(this.location);
  }
}

async function readStored(client: PgClient): Promise<Map<string, StoredLearningRow>> {
  const { rows } = await client.query({
    text: 'SELECT kind, id, seq, md5(line) FROM learning_records',
    rowMode: 'array',
  });
  const stored = new Map<string, StoredLearningRow>();
  for (const [kind, id, seq, digest] of rows as [number, string, number, string][])
    stored.set(learningRowKey(kind, id), { seq, digest });
  return stored;
}

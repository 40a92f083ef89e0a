/**
 * The PostgreSQL schema, as numbered migrations, applied inside one transaction under a
 * transaction-scoped advisory lock (`pg_advisory_xact_lock`), so several processes opening the
 * same schema at once apply each migration exactly once. `schema_version` records what was
 * applied; a schema with a newer version than this kerno knows is refused (`SCHEMA_TOO_NEW`).
 *
 * @module
 */
import { KernelError } from '../../errors.js';
import {
  LOCK_CLASS,
  quoteIdent,
  storageError,
  type PgClient,
  type PostgresLocation,
} from './postgres-connection.js';

/** One schema step. */
export interface PostgresMigration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/** Every migration, in order. Append only: never edit a released migration. */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    description: 'append-only log (audit trail, experience ledger, approvals, recovery logs)',
    sql: `
      -- One row per stream: its id and its head. Appends lock the head row, so a stream's
      -- records commit strictly in seq order and readers never see a hole.
      CREATE TABLE log_streams (
        id        integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name      text    NOT NULL UNIQUE,
        head_seq  bigint  NOT NULL DEFAULT 0,
        head_hash bytea   NOT NULL DEFAULT decode(repeat('00', 32), 'hex')
      );
      CREATE TABLE log_records (
        stream      integer NOT NULL,
        seq         bigint  NOT NULL,
        time_ms     bigint  NOT NULL,
        record_key  text,
        tenant      text,
        kind        text,
        subject     text,
        correlation text,
        chain       text,
        body        text    NOT NULL,
        prev_hash   bytea   NOT NULL,
        hash        bytea   NOT NULL,
        PRIMARY KEY (stream, seq)
      );
      CREATE UNIQUE INDEX log_records_key ON log_records (stream, record_key) WHERE record_key IS NOT NULL;
      -- Each lookup index ends in its answer order, so ORDER BY … LIMIT walks it and stops.
      CREATE INDEX log_records_tenant_time ON log_records (stream, tenant, time_ms, seq) INCLUDE (kind);
      CREATE INDEX log_records_time ON log_records (stream, time_ms, seq) INCLUDE (kind);
      CREATE INDEX log_records_subject ON log_records (stream, subject, seq) INCLUDE (kind) WHERE subject IS NOT NULL;
      CREATE INDEX log_records_correlation ON log_records (stream, correlation, time_ms, seq) WHERE correlation IS NOT NULL;
      CREATE INDEX log_records_chain ON log_records (stream, chain, time_ms, seq) WHERE chain IS NOT NULL;

      CREATE FUNCTION log_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'kerno log is append-only: records cannot be %d; append a correction instead',
          lower(TG_OP) USING ERRCODE = 'restrict_violation';
      END $$;
      CREATE TRIGGER log_records_no_update_delete BEFORE UPDATE OR DELETE ON log_records
        FOR EACH ROW EXECUTE FUNCTION log_records_append_only();
      CREATE TRIGGER log_records_no_truncate BEFORE TRUNCATE ON log_records
        FOR EACH STATEMENT EXECUTE FUNCTION log_records_append_only();

      -- A group commit is one statement (see postgres-writer.ts): it moves every stream's head
      -- from the seq the writer chained on (a compare-and-set), inserts the records and wakes
      -- other processes' listeners. When another writer moved a head first, it calls this,
      -- which aborts the whole statement.
      CREATE FUNCTION log_head_moved() RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'kerno log head moved: another writer committed first' USING ERRCODE = 'KL001';
      END $$;
    `,
  },
  {
    version: 2,
    description: 'state registry (modules, config) and its metadata',
    sql: `
      CREATE TABLE registry_meta (
        name  text PRIMARY KEY,
        value text NOT NULL
      );
      CREATE TABLE modules (
        id          text PRIMARY KEY,
        name        text NOT NULL,
        version     text NOT NULL,
        kind        text NOT NULL,
        state       text NOT NULL,
        description text,
        updated_at  text NOT NULL
      );
      CREATE TABLE config (
        key        text PRIMARY KEY,
        value      text NOT NULL,
        updated_at text NOT NULL
      );
    `,
  },
  {
    version: 3,
    description: 'learning store records (RVLS lines)',
    sql: `
      -- One RVLS line per record; kind 0 pattern, 1 trajectory, 2 ewc. seq keeps the order in
      -- which records were first stored, which is the store's order.
      CREATE TABLE learning_records (
        kind smallint NOT NULL,
        id   text     NOT NULL,
        seq  bigint   GENERATED ALWAYS AS IDENTITY,
        line text     NOT NULL,
        PRIMARY KEY (kind, id)
      );
    `,
  },
  {
    version: 4,
    description: 'log retention: prune anchors (records leave the log only through a prune)',
    sql: `
      -- A pruned stream keeps its last pruned record's seq and hash: the survivors verify from
      -- it; the head (and the next append's chain) is unchanged.
      ALTER TABLE log_streams ADD COLUMN anchor_seq bigint NOT NULL DEFAULT 0;
      ALTER TABLE log_streams ADD COLUMN anchor_hash bytea;
      CREATE OR REPLACE FUNCTION log_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        anchor bigint;
      BEGIN
        IF TG_OP = 'DELETE' THEN
          -- The table's own schema: the deleting session's search_path may not include it.
          EXECUTE format('SELECT anchor_seq FROM %I.log_streams WHERE id = $1', TG_TABLE_SCHEMA)
            INTO anchor USING OLD.stream;
          IF OLD.seq <= anchor THEN
            RETURN OLD;
          END IF;
        END IF;
        RAISE EXCEPTION 'kerno log is append-only: records cannot be %d; append a correction instead (retention prunes a stream''s oldest records and keeps an anchor)',
          lower(TG_OP) USING ERRCODE = 'restrict_violation';
      END $$;
    `,
  },
  {
    version: 5,
    description: 'log: the tenant index holds only records that have a tenant',
    sql: `
      -- Streams without tenants (the audit trail, run journals, the run index) no longer pay a
      -- tenant-index entry per record; a tenant query (tenant = $n) still uses this index.
      DROP INDEX log_records_tenant_time;
      CREATE INDEX log_records_tenant_time ON log_records (stream, tenant, time_ms, seq) INCLUDE (kind) WHERE tenant IS NOT NULL;
    `,
  },
];

/** The schema version this kerno writes. */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]!.version;

/**
 * Creates the schema if missing and brings it to {@link POSTGRES_SCHEMA_VERSION}; refuses a
 * newer one. Safe to run from several processes at once.
 */
export async function migratePostgres(client: PgClient, location: PostgresLocation): Promise<void> {
  const schema = location.schema;
  const q = (text: string, values?: unknown[]) =>
    client.query(values === undefined ? { text } : { text, values });
  try {
    await q('BEGIN');
    await q('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, `${schema}:migrate`]);
    const exists = await q('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rows.length === 0) await q(`CREATE SCHEMA ${quoteIdent(schema)}`);
    await q(`SET LOCAL search_path TO ${quoteIdent(schema)}`);
    await q(
      'CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, ' +
        'description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const row = (await q('SELECT coalesce(max(version), 0)::int AS v FROM schema_version'))
      .rows[0] as { v: number };
    if (row.v > POSTGRES_SCHEMA_VERSION) throw schemaTooNew(location, row.v);
    for (const m of POSTGRES_MIGRATIONS) {
      if (m.version <= row.v) continue;
      await q(m.sql);
      await q('INSERT INTO schema_version (version, description) VALUES ($1, $2)', [
        m.version,
        m.description,
      ]);
    }
    await q('COMMIT');
  } catch (error) {
    await q('ROLLBACK').catch(() => undefined);
    throw storageError(`Cannot migrate schema "${schema}" at ${location.displayUrl}`, error);
  }
}

function schemaTooNew(location: PostgresLocation, version: number): KernelError {
  return new KernelError(
    'SCHEMA_TOO_NEW',
    `Schema "${location.schema}" at ${location.displayUrl} has version ${version}, but this kerno ` +
      `only knows up to ${POSTGRES_SCHEMA_VERSION}; upgrade kerno to open it (kerno never downgrades a database)`,
    { details: { schema: location.schema, version, supported: POSTGRES_SCHEMA_VERSION } },
  );
}

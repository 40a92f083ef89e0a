/**
 * The SQLite schema, as numbered migrations. `PRAGMA user_version` records the version; each
 * migration runs in its own `BEGIN IMMEDIATE` transaction, so several processes opening the same
 * file at once apply it exactly once. A file with a newer version than this kerno knows is
 * refused.
 *
 * @module
 */
import type { SqliteDatabase } from './sqlite-driver.js';
import { KernelError } from '../../errors.js';

/** One schema step. */
export interface SqliteMigration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/** Every migration, in order. Append only: never edit a released migration. */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    description: 'append-only log (audit trail, experience ledger)',
    sql: `
      CREATE TABLE log_streams (
        id   INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
      );
      -- Lean rows and few insertion points per index keep each group commit to few dirty pages.
      CREATE TABLE log_records (
        stream      INTEGER NOT NULL REFERENCES log_streams (id),
        seq         INTEGER NOT NULL,
        time_ms     INTEGER NOT NULL,
        record_key  TEXT,
        tenant      TEXT,
        kind        TEXT,
        subject     TEXT,
        correlation TEXT,
        chain       TEXT,
        body        TEXT    NOT NULL,
        prev_hash   BLOB    NOT NULL,
        hash        BLOB    NOT NULL,
        PRIMARY KEY (stream, seq)
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX log_records_key ON log_records (stream, record_key) WHERE record_key IS NOT NULL;
      -- (time_ms, seq) is exactly the query order, so "newest N" reads backwards and stops; kind
      -- rides along so a kinds filter is checked in the index without touching the row.
      CREATE INDEX log_records_tenant_time ON log_records (stream, tenant, time_ms, seq, kind);
      CREATE INDEX log_records_time ON log_records (stream, time_ms, seq, kind);
      -- Each lookup index ends in its answer order (seq, or time then seq), so ORDER BY … LIMIT
      -- walks it and stops instead of sorting.
      CREATE INDEX log_records_subject ON log_records (stream, subject, seq, kind) WHERE subject IS NOT NULL;
      CREATE INDEX log_records_correlation ON log_records (stream, correlation, time_ms, seq) WHERE correlation IS NOT NULL;
      CREATE INDEX log_records_chain ON log_records (stream, chain, time_ms, seq) WHERE chain IS NOT NULL;
      CREATE TRIGGER log_records_no_update BEFORE UPDATE ON log_records
      BEGIN SELECT RAISE(ABORT, 'kerno log is append-only: records cannot be updated; append a correction instead'); END;
      CREATE TRIGGER log_records_no_delete BEFORE DELETE ON log_records
      BEGIN SELECT RAISE(ABORT, 'kerno log is append-only: records cannot be deleted'); END;
    `,
  },
  {
    version: 2,
    description:
      'state registry (modules, config) in oxide-k’s schema, plus kerno’s registry metadata',
    sql: `
      CREATE TABLE kerno_registry_meta (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
      -- A database oxide-k created before kerno first opened it: keep writing oxide-k's value
      -- formats there (see src/registry/registry.ts) until the user upgrades it.
      INSERT INTO kerno_registry_meta (name, value)
        SELECT 'format', 'oxide-k'
        WHERE EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name IN ('modules', 'config'));
      -- oxide-k's tables, exactly as oxide-k creates them, so both can keep using one file.
      CREATE TABLE IF NOT EXISTS modules (
          id          TEXT PRIMARY KEY,
          name        TEXT NOT NULL,
          version     TEXT NOT NULL,
          kind        TEXT NOT NULL,
          state       TEXT NOT NULL,
          description TEXT,
          updated_at  TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS config (
          key        TEXT PRIMARY KEY,
          value      TEXT NOT NULL,
          updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 3,
    description: 'learning store records (RVLS lines)',
    sql: `
      -- One RVLS line per record; kind 0 pattern, 1 trajectory, 2 ewc. seq keeps the order in
      -- which records were first stored, which is the store's order (an update keeps its seq).
      CREATE TABLE learning_records (
        seq  INTEGER PRIMARY KEY,
        kind INTEGER NOT NULL,
        id   TEXT    NOT NULL,
        line TEXT    NOT NULL,
        UNIQUE (kind, id)
      );
    `,
  },
  {
    version: 4,
    description: 'log retention: prune anchors (records leave the log only through a prune)',
    sql: `
      -- A pruned stream keeps its last pruned record's seq and hash: the survivors verify from
      -- it and the next append chains on the head as before.
      ALTER TABLE log_streams ADD COLUMN anchor_seq INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE log_streams ADD COLUMN anchor_hash BLOB;
      DROP TRIGGER log_records_no_delete;
      CREATE TRIGGER log_records_no_delete BEFORE DELETE ON log_records
      WHEN OLD.seq > (SELECT anchor_seq FROM log_streams WHERE id = OLD.stream)
      BEGIN SELECT RAISE(ABORT, 'kerno log is append-only: records cannot be deleted (retention prunes a stream''s oldest records and keeps an anchor)'); END;
    `,
  },
  {
    version: 5,
    description: 'log: the tenant index holds only records that have a tenant',
    sql: `
      -- Streams without tenants (the audit trail, run journals, the run index) no longer pay a
      -- tenant-index entry per record; a tenant query (tenant = ?) still walks this index.
      DROP INDEX log_records_tenant_time;
      CREATE INDEX log_records_tenant_time ON log_records (stream, tenant, time_ms, seq, kind) WHERE tenant IS NOT NULL;
    `,
  },
];

/** The schema version this kerno writes. */
export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]!.version;

/** Brings the database to {@link SQLITE_SCHEMA_VERSION}; refuses a newer one. */
export function migrateSqlite(db: SqliteDatabase, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SQLITE_SCHEMA_VERSION) throw schemaTooNew(file, current);
  if (current === SQLITE_SCHEMA_VERSION) return;
  for (const m of SQLITE_MIGRATIONS) {
    db.exec('BEGIN IMMEDIATE');
    try {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      const now = db.pragma('user_version', { simple: true }) as number;
      if (now > SQLITE_SCHEMA_VERSION) throw schemaTooNew(file, now);
      if (now < m.version) {
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      }
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw error;
    }
  }
}

function schemaTooNew(file: string, version: number): KernelError {
  return new KernelError(
    'SCHEMA_TOO_NEW',
    `${file} has schema version ${version}, but this kerno only knows up to ${SQLITE_SCHEMA_VERSION}; ` +
      'upgrade kerno to open it (kerno never downgrades a database)',
    { details: { file, version, supported: SQLITE_SCHEMA_VERSION } },
  );
}

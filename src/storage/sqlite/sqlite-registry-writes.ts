/**
 * The registry's writes, run by the SQLite writer worker inside the batch transaction, and the
 * row ↔ record mapping the read side shares. The `modules` and `config` tables keep oxide-k's
 * schema and encodings (`kind` and `state` as JSON text, e.g. `"native"`), so oxide-k can keep
 * using a database kerno writes to.
 *
 * @module
 */
import type { SqliteDatabase, SqliteStatement } from './sqlite-driver.js';
import type { ModuleState } from '../../model/module-state.js';
import {
  isModuleState,
  moduleFromRow,
  unknownModule,
  type CommitResult,
  type MetaCondition,
  type ModuleRecord,
  type ModuleWriteResult,
  type RegistryCommit,
  type StoredConfig,
} from '../registry.js';

/** Columns of `modules` as the readers select them (raw mode order). */
export const MODULE_COLUMNS = 'id, name, version, kind, state, description, updated_at';

/** Parses a JSON-text enum column (`"running"`), or returns undefined. */
function jsonText(text: unknown): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Builds a module from a raw row in {@link MODULE_COLUMNS} order (kind and state are JSON text). */
export function rowToModule(row: readonly unknown[]): ModuleRecord {
  return moduleFromRow(row, jsonText);
}

const OK: CommitResult = { ok: true };
const CONFLICT: CommitResult = { ok: false, reason: 'conflict' };

/** Prepared statements for the registry's writes. */
export class RegistryWriter {
  readonly #state: SqliteStatement;
  readonly #upsertModule: SqliteStatement;
  readonly #setState: SqliteStatement;
  readonly #meta: SqliteStatement;
  readonly #putMeta: SqliteStatement;
  readonly #deleteMeta: SqliteStatement;
  readonly #putConfig: SqliteStatement;
  readonly #deleteConfig: SqliteStatement;
  readonly #allConfig: SqliteStatement;

  constructor(db: SqliteDatabase) {
    this.#state = db.prepare('SELECT state FROM modules WHERE id = ?').pluck();
    this.#upsertModule = db.prepare(
      `INSERT INTO modules (${MODULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ` +
        'ON CONFLICT(id) DO UPDATE SET name = excluded.name, version = excluded.version, ' +
        'kind = excluded.kind, state = excluded.state, description = excluded.description, ' +
        'updated_at = excluded.updated_at',
    );
    this.#setState = db.prepare('UPDATE modules SET state = ?, updated_at = ? WHERE id = ?');
    this.#meta = db.prepare('SELECT value FROM kerno_registry_meta WHERE name = ?').pluck();
    this.#putMeta = db.prepare(
      'INSERT INTO kerno_registry_meta (name, value) VALUES (?, ?) ' +
        'ON CONFLICT(name) DO UPDATE SET value = excluded.value',
    );
    this.#deleteMeta = db.prepare('DELETE FROM kerno_registry_meta WHERE name = ?');
    this.#putConfig = db.prepare(
      'INSERT INTO config (key, value, updated_at) VALUES (?, ?, ?) ' +
        'ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
    );
    this.#deleteConfig = db
      .prepare('DELETE FROM config WHERE key = ? RETURNING key, value, updated_at')
      .raw();
    this.#allConfig = db.prepare('SELECT key, value FROM config').raw();
  }

  #previous(id: string): ModuleState | null | undefined {
    const text = this.#state.get(id) as string | undefined;
    if (text === undefined) return undefined;
    const state = jsonText(text);
    return isModuleState(state) ? state : null;
  }

  #metaHolds(c: MetaCondition): boolean {
    return ((this.#meta.get(c.name) as string | undefined) ?? null) === c.value;
  }

  upsertModule(r: ModuleRecord): ModuleWriteResult {
    const previous = this.#previous(r.id) ?? null;
    this.#upsertModule.run(
      r.id,
      r.name,
      r.version,
      JSON.stringify(r.kind),
      JSON.stringify(r.state),
      r.description,
      r.updatedAt,
    );
    return { previous };
  }

  setModuleState(id: string, state: ModuleState, updatedAt: string): ModuleWriteResult {
    const previous = this.#previous(id);
    if (previous === undefined) throw unknownModule(id);
    this.#setState.run(JSON.stringify(state), updatedAt, id);
    return { previous };
  }

  setConfig(entry: StoredConfig, require: MetaCondition | undefined): CommitResult {
    if (require !== undefined && !this.#metaHolds(require)) return CONFLICT;
    this.#putConfig.run(entry.key, entry.value, entry.updatedAt);
    return OK;
  }

  deleteConfig(key: string): StoredConfig | null {
    const row = this.#deleteConfig.get(key) as [string, string, string] | undefined;
    return row === undefined ? null : { key: row[0], value: row[1], updatedAt: row[2] };
  }

  commit(change: RegistryCommit): CommitResult {
    // Every check happens before the first write, so a conflict leaves nothing behind.
    for (const c of change.expectMeta ?? []) if (!this.#metaHolds(c)) return CONFLICT;
    if (change.expectConfig !== undefined) {
      const rows = this.#allConfig.all() as [string, string][];
      if (rows.length !== change.expectConfig.length) return CONFLICT;
      const expected = new Map(change.expectConfig.map((e) => [e.key, e.value]));
      for (const [key, value] of rows) if (expected.get(key) !== value) return CONFLICT;
    }
    for (const m of change.setMeta ?? []) {
      if (m.value === null) this.#deleteMeta.run(m.name);
      else this.#putMeta.run(m.name, m.value);
    }
    for (const c of change.setConfig ?? []) this.#putConfig.run(c.key, c.value, c.updatedAt);
    return OK;
  }
}

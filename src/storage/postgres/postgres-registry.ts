/**
 * The PostgreSQL registry store. Reads are single statements on the pool; every write is one
 * short transaction that first takes the schema's registry advisory lock, so writes from any
 * number of processes apply one at a time and {@link RegistryStore.commit}'s compare-and-set
 * holds against all of them.
 *
 * @module
 */
import { KernelError } from '../../errors.js';
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
  type RegistryStore,
  type StoredConfig,
} from '../registry.js';
import { LOCK_CLASS, type PgQueryConfig, type PgResult } from './postgres-connection.js';
import type { PostgresReader } from './postgres-reader.js';

const OK: CommitResult = Object.freeze({ ok: true });
const CONFLICT: CommitResult = Object.freeze({ ok: false, reason: 'conflict' });

const MODULE_COLUMNS = 'id, name, version, kind, state, description, updated_at';

type Query = (q: PgQueryConfig) => Promise<PgResult>;

/** Creates the registry store over a storage's pool; `schema` keys its write lock. */
export function createPostgresRegistry(
  reader: PostgresReader,
  schema: string,
): RegistryStore & { close(): Promise<void> } {
  return new PostgresRegistry(reader, schema);
}

class PostgresRegistry implements RegistryStore {
  readonly #reader: PostgresReader;
  readonly #lockKey: string;
  #closed = false;

  constructor(reader: PostgresReader, schema: string) {
    this.#reader = reader;
    this.#lockKey = `${schema}:registry`;
  }

  #open(): void {
    if (this.#closed) throw new KernelError('CLOSED', 'The registry store is closed');
  }

  async #read(query: PgQueryConfig): Promise<unknown[][]> {
    this.#open();
    return (await this.#reader.query('Reading the registry failed', { ...query, rowMode: 'array' }))
      .rows as unknown[][];
  }

  /** Runs a registry write under the registry lock, in one transaction. */
  async #write<T>(fn: (query: Query) => Promise<T>): Promise<T> {
    this.#open();
    return this.#reader.transaction('Writing to the registry failed', async (query) => {
      await query({
        text: 'SELECT pg_advisory_xact_lock($1, hashtext($2))',
        values: [LOCK_CLASS, this.#lockKey],
      });
      return fn(query);
    });
  }

  upsertModule(r: ModuleRecord): Promise<ModuleWriteResult> {
    return this.#write(async (query) => {
      const previous = (await previousState(query, r.id)) ?? null;
      await query({
        text:
          `INSERT INTO modules (${MODULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ` +
          'ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version, ' +
          'kind = excluded.kind, state = excluded.state, description = excluded.description, ' +
          'updated_at = excluded.updated_at',
        values: [r.id, r.name, r.version, r.kind, r.state, r.description, r.updatedAt],
      });
      return { previous };
    });
  }

  setModuleState(id: string, state: ModuleState, updatedAt: string): Promise<ModuleWriteResult> {
    return this.#write(async (query) => {
      const previous = await previousState(query, id);
      if (previous === undefined) throw unknownModule(id);
      await query({
        text: 'UPDATE modules SET state = $1, updated_at = $2 WHERE id = $3',
        values: [state, updatedAt, id],
      });
      return { previous };
    });
  }

  async getModule(id: string): Promise<ModuleRecord | undefined> {
    const [row] = await this.#read({
      name: 'kerno_reg_module',
      text: `SELECT ${MODULE_COLUMNS} FROM modules WHERE id = $1`,
      values: [id],
    });
    return row === undefined ? undefined : moduleFromRow(row);
  }

  async listModules(): Promise<ModuleRecord[]> {
    const rows = await this.#read({
      name: 'kerno_reg_modules',
      text: `SELECT ${MODULE_COLUMNS} FROM modules ORDER BY id COLLATE "C"`,
    });
    return rows.map((row) => moduleFromRow(row));
  }

  async getConfigValue(key: string): Promise<string | undefined> {
    const [row] = await this.#read({
      name: 'kerno_reg_value',
      text: 'SELECT value FROM config WHERE key = $1',
      values: [key],
    });
    return row?.[0] as string | undefined;
  }

  async getConfig(key: string): Promise<StoredConfig | undefined> {
    const [row] = await this.#read({
      name: 'kerno_reg_config',
      text: 'SELECT key, value, updated_at FROM config WHERE key = $1',
      values: [key],
    });
    return row === undefined ? undefined : rowToConfig(row);
  }

  async listConfig(): Promise<StoredConfig[]> {
    const rows = await this.#read({
      name: 'kerno_reg_configs',
      text: 'SELECT key, value, updated_at FROM config ORDER BY key COLLATE "C"',
    });
    return rows.map(rowToConfig);
  }

  setConfig(entry: StoredConfig, require?: MetaCondition): Promise<CommitResult> {
    return this.#write(async (query) => {
      if (require !== undefined && !(await metaHolds(query, require))) return CONFLICT;
      await putConfig(query, entry);
      return OK;
    });
  }

  deleteConfig(key: string): Promise<StoredConfig | undefined> {
    return this.#write(async (query) => {
      const { rows } = await query({
        text: 'DELETE FROM config WHERE key = $1 RETURNING key, value, updated_at',
        values: [key],
        rowMode: 'array',
      });
      const row = rows[0] as unknown[] | undefined;
      return row === undefined ? undefined : rowToConfig(row);
    });
  }

  async getMeta(): Promise<Readonly<Record<string, string>>> {
    const rows = await this.#read({
      name: 'kerno_reg_meta',
      text: 'SELECT name, value FROM registry_meta',
    });
    return Object.fromEntries(rows as [string, string][]);
  }

  commit(change: RegistryCommit): Promise<CommitResult> {
    return this.#write(async (query) => {
      // Every check happens before the first write, so a conflict leaves nothing behind.
      for (const c of change.expectMeta ?? []) if (!(await metaHolds(query, c))) return CONFLICT;
      if (change.expectConfig !== undefined) {
        const { rows } = await query({ text: 'SELECT key, value FROM config', rowMode: 'array' });
        if (rows.length !== change.expectConfig.length) return CONFLICT;
        const expected = new Map(change.expectConfig.map((e) => [e.key, e.value]));
        for (const [key, value] of rows as [string, string][])
          if (expected.get(key) !== value) return CONFLICT;
      }
      for (const m of change.setMeta ?? []) {
        if (m.value === null)
          await query({ text: 'DELETE FROM registry_meta WHERE name = $1', values: [m.name] });
        else {
          await query({
            text:
              'INSERT INTO registry_meta (name, value) VALUES ($1, $2) ' +
              'ON CONFLICT (name) DO UPDATE SET value = excluded.value',
            values: [m.name, m.value],
          });
        }
      }
      for (const c of change.setConfig ?? []) await putConfig(query, c);
      return OK;
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

async function previousState(query: Query, id: string): Promise<ModuleState | null | undefined> {
  const { rows } = await query({
    text: 'SELECT state FROM modules WHERE id = $1',
    values: [id],
    rowMode: 'array',
  });
  const row = rows[0] as [unknown] | undefined;
  if (row === undefined) return undefined;
  return isModuleState(row[0]) ? row[0] : null;
}

async function metaHolds(query: Query, c: MetaCondition): Promise<boolean> {
  const { rows } = await query({
    text: 'SELECT value FROM registry_meta WHERE name = $1',
    values: [c.name],
    rowMode: 'array',
  });
  const row = rows[0] as [string] | undefined;
  return (row?.[0] ?? null) === c.value;
}

async function putConfig(query: Query, c: StoredConfig): Promise<void> {
  await query({
    text:
      'INSERT INTO config (key, value, updated_at) VALUES ($1, $2, $3) ' +
      'ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
    values: [c.key, c.value, c.updatedAt],
  });
}

function rowToConfig(row: readonly unknown[]): StoredConfig {
  return { key: row[0] as string, value: row[1] as string, updatedAt: row[2] as string };
}

/**
 * The SQLite registry store: writes go through the group-commit writer (in a worker, one
 * transaction and one fsync per batch); reads run on the main thread's own connection.
 *
 * @module
 */
import type { SqliteDatabase, SqliteStatement } from './sqlite-driver.js';
import { KernelError, isKernelError } from '../../errors.js';
import type { ModuleState } from '../../model/module-state.js';
import type {
  CommitResult,
  MetaCondition,
  ModuleRecord,
  ModuleWriteResult,
  RegistryCommit,
  RegistryStore,
  StoredConfig,
} from '../registry.js';
import { MODULE_COLUMNS, rowToModule } from './sqlite-registry-writes.js';
import type { SqliteWriter } from './sqlite-writer.js';
import type { RegistryWriteOp, WriteResults } from './sqlite-writer-protocol.js';

/** Creates the registry store over an open read connection and a started writer. */
export function createSqliteRegistry(
  db: SqliteDatabase,
  writer: SqliteWriter,
): RegistryStore & { close(): Promise<void> } {
  return new SqliteRegistry(db, writer);
}

class SqliteRegistry implements RegistryStore {
  readonly #writer: SqliteWriter;
  readonly #module: SqliteStatement;
  readonly #modules: SqliteStatement;
  readonly #value: SqliteStatement;
  readonly #config: SqliteStatement;
  readonly #configs: SqliteStatement;
  readonly #meta: SqliteStatement;
  #closed = false;

  constructor(db: SqliteDatabase, writer: SqliteWriter) {
    this.#writer = writer;
    this.#module = db.prepare(`SELECT ${MODULE_COLUMNS} FROM modules WHERE id = ?`).raw();
    this.#modules = db.prepare(`SELECT ${MODULE_COLUMNS} FROM modules ORDER BY id`).raw();
    this.#value = db.prepare('SELECT value FROM config WHERE key = ?').pluck();
    this.#config = db.prepare('SELECT key, value, updated_at FROM config WHERE key = ?').raw();
    this.#configs = db.prepare('SELECT key, value, updated_at FROM config ORDER BY key').raw();
    this.#meta = db.prepare('SELECT name, value FROM kerno_registry_meta').raw();
  }

  /** Runs a read on the main connection; failures become `STORAGE_ERROR` rejections. */
  #read<T>(fn: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(closed());
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(readFailed(error));
    }
  }

  /** Sends a write to the group-commit writer. */
  #submit<K extends RegistryWriteOp['kind']>(
    op: Extract<RegistryWriteOp, { kind: K }>,
  ): Promise<WriteResults[K]> {
    if (this.#closed) return Promise.reject(closed());
    return this.#writer.submit(op);
  }

  upsertModule(record: ModuleRecord): Promise<ModuleWriteResult> {
    return this.#submit({ kind: 'registry.upsertModule', record });
  }

  setModuleState(id: string, state: ModuleState, updatedAt: string): Promise<ModuleWriteResult> {
    return this.#submit({ kind: 'registry.setModuleState', id, state, updatedAt });
  }

  getModule(id: string): Promise<ModuleRecord | undefined> {
    return this.#read(() => {
      const row = this.#module.get(id) as unknown[] | undefined;
      return row === undefined ? undefined : rowToModule(row);
    });
  }

  listModules(): Promise<ModuleRecord[]> {
    return this.#read(() => (this.#modules.all() as unknown[][]).map(rowToModule));
  }

  getConfigValue(key: string): Promise<string | undefined> {
    // The hot read path: no closure.
    if (this.#closed) return Promise.reject(closed());
    try {
      return Promise.resolve(this.#value.get(key) as string | undefined);
    } catch (error) {
      return Promise.reject(readFailed(error));
    }
  }

  getConfig(key: string): Promise<StoredConfig | undefined> {
    return this.#read(() => {
      const row = this.#config.get(key) as [string, string, string] | undefined;
      return row === undefined ? undefined : { key: row[0], value: row[1], updatedAt: row[2] };
    });
  }

  listConfig(): Promise<StoredConfig[]> {
    return this.#read(() =>
      (this.#configs.all() as [string, string, string][]).map((r) => ({
        key: r[0],
        value: r[1],
        updatedAt: r[2],
      })),
    );
  }

  setConfig(entry: StoredConfig, require?: MetaCondition): Promise<CommitResult> {
    return this.#submit(
      require === undefined
        ? { kind: 'registry.setConfig', entry }
        : { kind: 'registry.setConfig', entry, require },
    );
  }

  async deleteConfig(key: string): Promise<StoredConfig | undefined> {
    return (await this.#submit({ kind: 'registry.deleteConfig', key })) ?? undefined;
  }

  getMeta(): Promise<Readonly<Record<string, string>>> {
    return this.#read(() => Object.fromEntries(this.#meta.all() as [string, string][]));
  }

  commit(change: RegistryCommit): Promise<CommitResult> {
    return this.#submit({ kind: 'registry.commit', change });
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

function closed(): KernelError {
  return new KernelError('CLOSED', 'The registry store is closed');
}

function readFailed(error: unknown): KernelError {
  if (isKernelError(error)) return error;
  return new KernelError(
    'STORAGE_ERROR',
    `SQLite registry read failed: ${(error as Error).message}`,
    {
      cause: error,
    },
  );
}

/**
 * The in-memory registry store: the reference implementation of {@link RegistryStore}.
 *
 * @module
 */
import { KernelError } from '../../errors.js';
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
import { unknownModule } from '../registry.js';

const OK: CommitResult = Object.freeze({ ok: true });
const CONFLICT: CommitResult = Object.freeze({ ok: false, reason: 'conflict' });

/** SQLite's default (BINARY) collation: the UTF-8 bytes, compared in order. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Creates an empty in-memory registry store. */
export function createMemoryRegistry(): RegistryStore & { close(): Promise<void> } {
  return new MemoryRegistry();
}

class MemoryRegistry implements RegistryStore {
  readonly #modules = new Map<string, ModuleRecord>();
  readonly #config = new Map<string, StoredConfig>();
  readonly #meta = new Map<string, string>();
  #closed = false;

  #open(): void {
    if (this.#closed) throw new KernelError('CLOSED', 'The registry store is closed');
  }

  #metaHolds(c: MetaCondition): boolean {
    return (this.#meta.get(c.name) ?? null) === c.value;
  }

  async upsertModule(record: ModuleRecord): Promise<ModuleWriteResult> {
    this.#open();
    const previous = this.#modules.get(record.id)?.state ?? null;
    this.#modules.set(record.id, { ...record });
    return { previous };
  }

  async setModuleState(
    id: string,
    state: ModuleState,
    updatedAt: string,
  ): Promise<ModuleWriteResult> {
    this.#open();
    const current = this.#modules.get(id);
    if (current === undefined) throw unknownModule(id);
    this.#modules.set(id, { ...current, state, updatedAt });
    return { previous: current.state };
  }

  async getModule(id: string): Promise<ModuleRecord | undefined> {
    this.#open();
    const r = this.#modules.get(id);
    return r === undefined ? undefined : { ...r };
  }

  async listModules(): Promise<ModuleRecord[]> {
    this.#open();
    const list = [...this.#modules.values()].map((r) => ({ ...r }));
    return list.sort((a, b) => byUtf8(a.id, b.id));
  }

  async getConfigValue(key: string): Promise<string | undefined> {
    this.#open();
    return this.#config.get(key)?.value;
  }

  async getConfig(key: string): Promise<StoredConfig | undefined> {
    this.#open();
    const c = this.#config.get(key);
    return c === undefined ? undefined : { ...c };
  }

  async listConfig(): Promise<StoredConfig[]> {
    this.#open();
    const list = [...this.#config.values()].map((c) => ({ ...c }));
    return list.sort((a, b) => byUtf8(a.key, b.key));
  }

  async setConfig(entry: StoredConfig, require?: MetaCondition): Promise<CommitResult> {
    this.#open();
    if (require !== undefined && !this.#metaHolds(require)) return CONFLICT;
    this.#config.set(entry.key, { key: entry.key, value: entry.value, updatedAt: entry.updatedAt });
    return OK;
  }

  async deleteConfig(key: string): Promise<StoredConfig | undefined> {
    this.#open();
    const c = this.#config.get(key);
    this.#config.delete(key);
    return c;
  }

  async getMeta(): Promise<Readonly<Record<string, string>>> {
    this.#open();
    return Object.fromEntries(this.#meta);
  }

  async commit(change: RegistryCommit): Promise<CommitResult> {
    this.#open();
    for (const c of change.expectMeta ?? []) if (!this.#metaHolds(c)) return CONFLICT;
    if (change.expectConfig !== undefined) {
      if (change.expectConfig.length !== this.#config.size) return CONFLICT;
      for (const e of change.expectConfig)
        if (this.#config.get(e.key)?.value !== e.value) return CONFLICT;
    }
    for (const m of change.setMeta ?? []) {
      if (m.value === null) this.#meta.delete(m.name);
      else this.#meta.set(m.name, m.value);
    }
    for (const c of change.setConfig ?? [])
      this.#config.set(c.key, { key: c.key, value: c.value, updatedAt: c.updatedAt });
    return OK;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

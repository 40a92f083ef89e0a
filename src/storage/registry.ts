/**
 * The registry port: module records and config rows, as every storage backend keeps them.
 *
 * The port speaks the domain and stores config values as opaque text: the registry (see
 * `src/registry/`) encrypts secrets before they reach a backend, so a backend only ever holds
 * JSON text or ciphertext. Multi-row changes go through {@link RegistryStore.commit}, an atomic
 * compare-and-set, so two processes sharing a store never interleave a key rotation with a write.
 *
 * @module
 */
import { KernelError } from '../errors.js';
import {
  isModuleKind,
  isModuleState,
  MODULE_KINDS,
  type ModuleKind,
  type ModuleState,
} from '../model/module-state.js';
import { parseRfc3339 } from '../util/time.js';

export { isModuleKind, isModuleState, MODULE_KINDS, type ModuleKind };

/** One row of the `modules` table (oxide-k `ModuleRecord`). */
export interface ModuleRecord {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly kind: ModuleKind;
  readonly state: ModuleState;
  readonly description: string | null;
  /** RFC 3339 text as stored (chrono `to_rfc3339()` form, e.g. `…T10:00:00.123+00:00`). */
  readonly updatedAt: string;
}

/** One row of the `config` table. `value` is the stored text: JSON, or a ciphertext. */
export interface StoredConfig {
  readonly key: string;
  readonly value: string;
  /** RFC 3339 text as stored. */
  readonly updatedAt: string;
}

/** A precondition on one registry metadata row (`value: null` means the row must be absent). */
export interface MetaCondition {
  readonly name: string;
  readonly value: string | null;
}

/**
 * An atomic compare-and-set over the registry: every `expect…` must hold when the change is
 * applied, or nothing is written and the result is `conflict`.
 */
export interface RegistryCommit {
  /** Metadata rows that must hold these values. */
  readonly expectMeta?: readonly MetaCondition[];
  /** When given, the config table must hold exactly these rows (key and value), no others. */
  readonly expectConfig?: readonly Pick<StoredConfig, 'key' | 'value'>[];
  /** Metadata rows to write (`value: null` deletes the row). */
  readonly setMeta?: readonly MetaCondition[];
  /** Config rows to write (insert or replace). */
  readonly setConfig?: readonly StoredConfig[];
}

/** What a conditional write answers. */
export type CommitResult =
  { readonly ok: true } | { readonly ok: false; readonly reason: 'conflict' };

/** What {@link RegistryStore.upsertModule} and {@link RegistryStore.setModuleState} answer. */
export interface ModuleWriteResult {
  /** The module's state before the write (`null`: the module was new). */
  readonly previous: ModuleState | null;
}

/** The registry port. Every write resolves only once durable. */
export interface RegistryStore {
  /** Inserts the module or replaces every field of it. */
  upsertModule(record: ModuleRecord): Promise<ModuleWriteResult>;
  /** Updates only the state (and `updatedAt`); throws `UNKNOWN_MODULE` for a missing id. */
  setModuleState(id: string, state: ModuleState, updatedAt: string): Promise<ModuleWriteResult>;
  getModule(id: string): Promise<ModuleRecord | undefined>;
  /** Every module, ordered by id (binary order of the UTF-8 bytes, as SQLite sorts). */
  listModules(): Promise<ModuleRecord[]>;

  /** The stored text of one config value, or undefined. The registry's hot read path. */
  getConfigValue(key: string): Promise<string | undefined>;
  getConfig(key: string): Promise<StoredConfig | undefined>;
  /** Every config row, ordered by key. */
  listConfig(): Promise<StoredConfig[]>;
  /** Inserts or replaces one config row; with `require`, only if that metadata row matches. */
  setConfig(entry: StoredConfig, require?: MetaCondition): Promise<CommitResult>;
  /** Deletes one config row and answers what it held, or undefined when there was none. */
  deleteConfig(key: string): Promise<StoredConfig | undefined>;

  /** Every registry metadata row (name → value). */
  getMeta(): Promise<Readonly<Record<string, string>>>;
  /** Applies a {@link RegistryCommit} atomically (one transaction). */
  commit(change: RegistryCommit): Promise<CommitResult>;
}

/** Meta row naming the registry's format: absent means kerno's own; `oxide-k` is set when
 * kerno adopted a database oxide-k created. */
export const REGISTRY_FORMAT_META = 'format';

/** The error every backend raises for a state change on a module it does not hold. */
export function unknownModule(id: string): KernelError {
  return new KernelError(
    'UNKNOWN_MODULE',
    `No module "${id}" in the registry; register it with upsertModule first`,
    { details: { moduleId: id } },
  );
}

function corruptModule(what: string, id: string): KernelError {
  return new KernelError(
    'CORRUPT_VALUE',
    `The registry row for module "${id}" has an invalid ${what}; fix or re-register the module with upsertModule`,
    { details: { moduleId: id, column: what } },
  );
}

/**
 * Builds a module from a row in `id, name, version, kind, state, description, updated_at` order.
 * `decode` turns a stored kind or state into its value (SQLite keeps them as JSON text, as
 * oxide-k does). A bad row is a `CORRUPT_VALUE` naming the column.
 */
export function moduleFromRow(
  row: readonly unknown[],
  decode: (stored: unknown) => unknown = (stored) => stored,
): ModuleRecord {
  const id = String(row[0]);
  const kind = decode(row[3]);
  const state = decode(row[4]);
  const updatedAt = row[6];
  if (!isModuleKind(kind)) throw corruptModule('kind', id);
  if (!isModuleState(state)) throw corruptModule('state', id);
  if (typeof updatedAt !== 'string' || parseRfc3339(updatedAt) === undefined)
    throw corruptModule('updated_at', id);
  return {
    id,
    name: String(row[1]),
    version: String(row[2]),
    kind,
    state,
    description: (row[5] as string | null) ?? null,
    updatedAt,
  };
}

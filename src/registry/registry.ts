/**
 * The state registry: module records and system-wide config, durable on any storage backend
 * (oxide-k's `StateRegistry`, and more). Config values are any JSON; secrets are encrypted
 * before they leave this object (see `config-cipher.ts`), so no backend, worker, log line, event
 * or audit entry ever holds a secret's plaintext. Every committed change is published on the bus
 * (`ModuleStateChanged`, `ConfigChanged` without the value), which is how it reaches the audit
 * trail.
 *
 * Two formats:
 * - **kerno** (registries kerno creates): plain values and secrets side by side; the key string
 *   (`key`; the kernel passes `KERNO_REGISTRY_KEY`, see `config.ts`) is stretched with scrypt and a per-registry salt; values are
 *   bound to their key name; a wrong key fails at open; `rotateKey` re-encrypts atomically.
 * - **oxide-k** (a SQLite database oxide-k created): values are written the way oxide-k writes
 *   them so oxide-k keeps reading them — with `oxideKey` (`OXIDE_REGISTRY_KEY`) every value is
 *   encrypted in oxide-k's format, without it values are plain JSON and secrets are refused.
 *   `upgradeEncryption()` converts the registry to kerno's format (oxide-k can then no longer
 *   read its secrets).
 *
 * @example
 * const registry = await openRegistry({ storage, bus, key: resolveConfig().registryKey });
 * await registry.setConfig('max_threads', 8);
 * await registry.setConfig('api_token', 'tok_…', { secret: true });
 * await registry.getConfig<string>('api_token'); // 'tok_…'
 * await registry.upsertModule({ id: 'mirror', name: 'Mirror', version: '0.1.0', kind: 'native' }, 'loaded');
 *
 * @module
 */
import { KernelError, isKernelError } from '../errors.js';
import type { EventBus } from '../bus/event-bus.js';
import { MODULE_STATES, type ModuleState } from '../model/kernel-event.js';
import {
  MODULE_KINDS,
  REGISTRY_FORMAT_META,
  isModuleKind,
  isModuleState,
  type ModuleKind,
  type ModuleRecord,
  type RegistryStore,
  type StoredConfig,
} from '../storage/registry.js';
import type { Storage } from '../storage/storage.js';
import type { JsonValue } from '../util/canonical-json.js';
import { systemClock, type Clock } from '../util/clock.js';
import { systemRandom, type Random } from '../util/random.js';
import { formatChrono } from '../util/time.js';
import {
  ConfigCipher,
  OxideCipher,
  isKernoCiphertext,
  kernoKeyVersion,
  looksLikeOxideCiphertext,
  parseCipherMeta,
} from './config-cipher.js';

const CIPHER_META = 'cipher';
/** How many times a multi-row change retries when another process wrote in between. */
const COMMIT_ATTEMPTS = 5;
/** The longest config key or module id the registry accepts (characters). */
export const MAX_KEY_LENGTH = 1024;
const DEFAULT_SECRET_MEMO = 1024;

/** What a module declares about itself when it registers (oxide-k `ModuleMetadata`). */
export interface ModuleMetadata {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly kind: ModuleKind;
  readonly description?: string | null | undefined;
}

/** One config key as {@link Registry.listConfig} shows it: never the value. */
export interface ConfigInfo {
  readonly key: string;
  /** Whether the value is stored encrypted. */
  readonly secret: boolean;
  /** RFC 3339 (chrono `to_rfc3339()` form). */
  readonly updatedAt: string;
}

/** One config value as {@link Registry.viewConfig} shows it. */
export interface ConfigView extends ConfigInfo {
  /** The value; `null` for a secret not revealed. */
  readonly value: JsonValue;
  /** Whether `value` is a secret's decrypted value. */
  readonly revealed: boolean;
}

/** Options for {@link Registry.setConfig}. */
export interface SetConfigOptions {
  /**
   * Store the value encrypted. Default: keep what the key already is — a secret stays a secret
   * when it is overwritten without this option; pass `false` to store it in plain again.
   */
  readonly secret?: boolean;
}

/** How a registry stores values, as {@link Registry.info} reports it. */
export interface RegistryInfo {
  readonly format: 'kerno' | 'oxide-k';
  /** The encryption new secrets get: `none` when no key is loaded (secrets are then refused). */
  readonly encryption: 'kerno' | 'oxide-k' | 'none';
  /** kerno format: the current key version, once the registry has a key. */
  readonly keyVersion?: number;
}

/** What {@link Registry.rotateKey} and {@link Registry.upgradeEncryption} answer. */
export interface RekeyResult {
  /** Config values re-encrypted. */
  readonly reencrypted: number;
  /** The key version now in use (kerno format). */
  readonly keyVersion?: number;
}

/** What {@link Registry.encryptPlain} answers. */
export interface EncryptPlainResult {
  /** How many values were encrypted (0 when there were none left: it is idempotent). */
  readonly encrypted: number;
  /** Their keys, ordered. */
  readonly keys: readonly string[];
}

/** Options for {@link openRegistry}. */
export interface RegistryOptions {
  /** The storage the registry lives in (shared: the registry never opens or closes it). */
  readonly storage: Pick<Storage, 'registry'>;
  /** Every committed change is published here (and reaches an attached audit trail). */
  readonly bus?: EventBus;
  readonly clock?: Clock;
  /** Nonces and salts (default: crypto-strong). */
  readonly random?: Random;
  /** Key string of a kerno-format registry (`resolveConfig().registryKey` reads `KERNO_REGISTRY_KEY`). */
  readonly key?: string | undefined;
  /** Key string of an encrypted oxide-k registry (`resolveConfig().oxideRegistryKey`). */
  readonly oxideKey?: string | undefined;
  /** scrypt cost N for keys this registry creates (default 2^15; lower it only in tests). */
  readonly scryptCost?: number;
  /**
   * How many decrypted secrets to keep in memory, so reading an unchanged secret again skips
   * AES-GCM (default 1024; 0 turns it off). Every read still checks the stored ciphertext, so
   * changes by other processes are always seen.
   */
  readonly secretMemo?: number;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function checkName(key: unknown, what = 'Config key'): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH)
    throw new KernelError(
      'INVALID_ARGUMENT',
      `${what} must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`,
    );
}

function checkState(state: unknown): asserts state is ModuleState {
  if (!isModuleState(state))
    throw new KernelError(
      'INVALID_ARGUMENT',
      `Module state must be one of ${MODULE_STATES.join(', ')}`,
    );
}

/** JSON text of a config value; `INVALID_ARGUMENT` (never echoing the value) when it has none. */
function toJson(key: string, value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  if (json === undefined) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `The value for config "${key}" is not JSON-serialisable (no undefined, functions, symbols, bigint or cycles)`,
      { details: { key } },
    );
  }
  return json;
}

function parseJson(key: string, json: string): JsonValue {
  try {
    return JSON.parse(json) as JsonValue;
  } catch {
    // No cause: the parser's message quotes the text, which may be a decrypted secret.
    throw new KernelError(
      'CORRUPT_VALUE',
      `The stored value of config "${key}" is not valid JSON; set it again (or delete it)`,
      { details: { key } },
    );
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Opens the registry on a storage, loading (or, on first use, creating) its key. */
export async function openRegistry(options: RegistryOptions): Promise<Registry> {
  const registry = new Registry(options.storage.registry, options);
  await registry.load();
  return registry;
}

/** The state registry (see the module comment). Create it with {@link openRegistry}. */
export class Registry implements AsyncDisposable {
  readonly #store: RegistryStore;
  readonly #bus: EventBus | undefined;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #scryptCost: number | undefined;
  readonly #memoLimit: number;
  /** Last decrypted ciphertext per key name (see {@link Registry.#memoized}). */
  readonly #memo = new Map<string, { readonly stored: string; readonly json: string }>();
  #keyString: string | undefined;
  readonly #oxideKeyString: string | undefined;
  #format: 'kerno' | 'oxide-k' = 'kerno';
  #cipher: ConfigCipher | undefined;
  #cipherMetaText: string | undefined;
  #oxide: OxideCipher | undefined;
  /** Set while this registry rekeys: writes wait for it, so none uses a retired key. */
  #rekeying: Promise<void> | undefined;
  #closed = false;

  /** @internal Use {@link openRegistry}. */
  constructor(store: RegistryStore, options: RegistryOptions) {
    this.#store = store;
    this.#bus = options.bus;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#scryptCost = options.scryptCost;
    this.#memoLimit = Math.max(0, Math.floor(options.secretMemo ?? DEFAULT_SECRET_MEMO));
    this.#keyString = nonEmpty(options.key);
    this.#oxideKeyString = nonEmpty(options.oxideKey);
  }

  /** @internal Reads the format and loads the key (run once by {@link openRegistry}). */
  async load(): Promise<void> {
    for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
      const meta = await this.#store.getMeta();
      this.#format = meta[REGISTRY_FORMAT_META] === 'oxide-k' ? 'oxide-k' : 'kerno';
      if (this.#format === 'oxide-k') {
        if (this.#oxideKeyString !== undefined) await this.#loadOxideKey(this.#oxideKeyString);
        return;
      }
      const stored = meta[CIPHER_META];
      const keyString = this.#keyString;
      this.#keyString = undefined; // kept only until the key is derived
      if (stored !== undefined) {
        this.#cipherMetaText = stored;
        const parsed = parseCipherMeta(stored);
        if (keyString !== undefined)
          this.#cipher = await ConfigCipher.open(keyString, parsed, this.#random);
        return;
      }
      if (keyString === undefined) return;
      // First key for this registry: store its salt and check record, unless another process
      // just did (then derive again from what it stored).
      const cipher = await this.#newCipher(keyString, 1);
      const text = JSON.stringify(cipher.meta);
      const result = await this.#store.commit({
        expectMeta: [
          { name: CIPHER_META, value: null },
          { name: REGISTRY_FORMAT_META, value: meta[REGISTRY_FORMAT_META] ?? null },
        ],
        setMeta: [{ name: CIPHER_META, value: text }],
      });
      if (result.ok) {
        this.#cipher = cipher;
        this.#cipherMetaText = text;
        return;
      }
      this.#keyString = keyString;
    }
    throw conflict('open');
  }

  #newCipher(keyString: string, keyVersion: number): Promise<ConfigCipher> {
    return ConfigCipher.create(keyString, {
      random: this.#random,
      keyVersion,
      ...(this.#scryptCost === undefined ? {} : { cost: this.#scryptCost }),
    });
  }

  async #loadOxideKey(keyString: string): Promise<void> {
    const oxide = new OxideCipher(keyString, this.#random);
    // oxide-k keeps no check record: prove the key on a stored ciphertext, if there is one.
    // Plain rows (written before oxide-k's encryption was turned on) prove nothing.
    const rows = await this.#store.listConfig();
    const sample = rows.find((c) => !isJson(c.value));
    if (sample === undefined && rows.length > 0) {
      throw new KernelError(
        'WRONG_KEY',
        'No value of this oxide-k registry is encrypted, so the oxide-k key cannot be checked; ' +
          'open it without OXIDE_REGISTRY_KEY (oxide-k wrote it unencrypted)',
      );
    }
    if (sample !== undefined) {
      try {
        oxide.decrypt(sample.key, sample.value);
      } catch (error) {
        if (!isKernelError(error, 'DECRYPT_FAILED')) throw error;
        throw new KernelError(
          'WRONG_KEY',
          `The oxide-k key does not decrypt this registry’s values (tried "${sample.key}"); check OXIDE_REGISTRY_KEY, ` +
            'or open without it if oxide-k wrote this registry unencrypted',
          { details: { key: sample.key } },
        );
      }
    }
    this.#oxide = oxide;
  }

  #open(): void {
    if (this.#closed) throw new KernelError('CLOSED', 'The registry is closed; open it again');
  }

  #now(): string {
    return formatChrono(this.#clock.now(), '+00:00');
  }

  /** The registry's format and the encryption new secrets get. */
  info(): RegistryInfo {
    const encryption =
      this.#format === 'oxide-k'
        ? this.#oxide === undefined
          ? 'none'
          : 'oxide-k'
        : this.#cipher === undefined
          ? 'none'
          : 'kerno';
    const version =
      this.#cipherMetaText === undefined
        ? undefined
        : parseCipherMeta(this.#cipherMetaText).keyVersion;
    return version === undefined
      ? { format: this.#format, encryption }
      : { format: this.#format, encryption, keyVersion: version };
  }

  // ── modules ──────────────────────────────────────────────────────────────────────────────

  /** Inserts or updates every field of a module, with `state`. */
  async upsertModule(metadata: ModuleMetadata, state: ModuleState): Promise<ModuleRecord> {
    this.#open();
    const m = metadata as Partial<ModuleMetadata> | undefined;
    checkName(m?.id, 'Module id');
    if (typeof m?.name !== 'string' || typeof m.version !== 'string')
      throw new KernelError('INVALID_ARGUMENT', 'Module name and version must be strings');
    if (!isModuleKind(m.kind))
      throw new KernelError(
        'INVALID_ARGUMENT',
        `Module kind must be one of ${MODULE_KINDS.join(', ')}`,
      );
    if (m.description !== undefined && m.description !== null && typeof m.description !== 'string')
      throw new KernelError('INVALID_ARGUMENT', 'Module description must be a string or null');
    checkState(state);
    const record: ModuleRecord = {
      id: m.id,
      name: m.name,
      version: m.version,
      kind: m.kind,
      state,
      description: m.description ?? null,
      updatedAt: this.#now(),
    };
    const { previous } = await this.#store.upsertModule(record);
    if (previous !== state)
      this.#bus?.publish({
        type: 'ModuleStateChanged',
        moduleId: record.id,
        from: previous,
        to: state,
      });
    return record;
  }

  /** Updates only a module's state; `UNKNOWN_MODULE` when no module has this id. */
  async setModuleState(id: string, state: ModuleState): Promise<void> {
    this.#open();
    checkName(id, 'Module id');
    checkState(state);
    const { previous } = await this.#store.setModuleState(id, state, this.#now());
    if (previous !== state)
      this.#bus?.publish({ type: 'ModuleStateChanged', moduleId: id, from: previous, to: state });
  }

  /** One module, or undefined. */
  getModule(id: string): Promise<ModuleRecord | undefined> {
    this.#open();
    return this.#store.getModule(id);
  }

  /** Every module, ordered by id. */
  listModules(): Promise<ModuleRecord[]> {
    this.#open();
    return this.#store.listModules();
  }

  // ── config ───────────────────────────────────────────────────────────────────────────────

  /** Stores any JSON value under `key` (see {@link SetConfigOptions} for secrets). */
  async setConfig(key: string, value: unknown, options: SetConfigOptions = {}): Promise<void> {
    this.#open();
    checkName(key);
    const json = toJson(key, value);
    if (this.#rekeying !== undefined) await this.#rekeying;
    const secret = await this.#write(key, json, options.secret);
    this.#bus?.publish({ type: 'ConfigChanged', key, change: 'set', secret });
  }

  /** Writes one value; answers whether it was stored encrypted. */
  async #write(key: string, json: string, wantSecret: boolean | undefined): Promise<boolean> {
    for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
      const updatedAt = this.#now();
      if (this.#format === 'oxide-k') {
        if (this.#oxide !== undefined) {
          // oxide-k reads every value of an encrypted registry through its cipher.
          const result = await this.#store.setConfig(
            { key, value: this.#oxide.encrypt(json), updatedAt },
            { name: REGISTRY_FORMAT_META, value: 'oxide-k' },
          );
          if (result.ok) return true;
          throw new KernelError(
            'CONFLICT',
            'Another process upgraded this registry to kerno’s encryption; open it again with the kerno key',
          );
        }
        // Without the key, a registry holding oxide-k ciphertext is read-only for config: a
        // plain value written here is one oxide-k cannot read. Checked in the same commit.
        const rows = await this.#store.listConfig();
        refuseKeylessOxideWrite(rows);
        if (wantSecret === true) throw secretNeedsKey(this.#format);
        const result = await this.#store.commit({
          expectMeta: [{ name: REGISTRY_FORMAT_META, value: 'oxide-k' }],
          expectConfig: rows.map((c) => ({ key: c.key, value: c.value })),
          setConfig: [{ key, value: json, updatedAt }],
        });
        if (result.ok) return false;
        continue;
      }
      const secret = wantSecret ?? isKernoCiphertext((await this.#store.getConfigValue(key)) ?? '');
      if (!secret) {
        await this.#store.setConfig({ key, value: json, updatedAt });
        return false;
      }
      const cipher = this.#cipher;
      if (cipher === undefined) throw secretNeedsKey(this.#format);
      const result = await this.#store.setConfig(
        { key, value: cipher.encrypt(key, json), updatedAt },
        { name: CIPHER_META, value: this.#cipherMetaText ?? null },
      );
      if (result.ok) return true;
      await this.#checkKeyCurrent();
    }
    throw conflict('write');
  }

  /** After a refused write: `WRONG_KEY` when another process rotated the key. */
  async #checkKeyCurrent(): Promise<void> {
    // A rekeying of our own may have just committed: let it install the new key first.
    if (this.#rekeying !== undefined) await this.#rekeying;
    const meta = await this.#store.getMeta();
    if (meta[CIPHER_META] !== this.#cipherMetaText || meta[REGISTRY_FORMAT_META] === 'oxide-k') {
      throw new KernelError(
        'WRONG_KEY',
        'The registry key was changed by another process (rotated); open the registry again with the new key',
      );
    }
  }

  /** The value of `key`; `CONFIG_NOT_FOUND` when absent. Secrets are decrypted. */
  async getConfig<T = JsonValue>(key: string): Promise<T> {
    this.#open();
    checkName(key);
    const stored = await this.#store.getConfigValue(key);
    if (stored === undefined) {
      throw new KernelError('CONFIG_NOT_FOUND', `No config "${key}"; set it with setConfig first`, {
        details: { key },
      });
    }
    return parseJson(key, this.#reveal(key, stored)) as T;
  }

  /**
   * One config value as the API and the CLI show it: a secret's value only with `reveal`
   * (otherwise `value: null, revealed: false`); `CONFIG_NOT_FOUND` when absent.
   */
  async viewConfig(key: string, options: { readonly reveal?: boolean } = {}): Promise<ConfigView> {
    this.#open();
    checkName(key);
    const stored = await this.#store.getConfig(key);
    if (stored === undefined) {
      throw new KernelError('CONFIG_NOT_FOUND', `No config value "${key}"`, { details: { key } });
    }
    const secret = this.#isSecret(stored.value);
    const base = { key, secret, updatedAt: stored.updatedAt };
    if (secret && options.reveal !== true) return { ...base, value: null, revealed: false };
    return { ...base, value: parseJson(key, this.#reveal(key, stored.value)), revealed: secret };
  }

  /** The value of `key`, or undefined when absent. */
  async tryGetConfig<T = JsonValue>(key: string): Promise<T | undefined> {
    this.#open();
    checkName(key);
    const stored = await this.#store.getConfigValue(key);
    return stored === undefined ? undefined : (parseJson(key, this.#reveal(key, stored)) as T);
  }

  /** The JSON text of a stored value (decrypting it when it is encrypted). */
  #reveal(key: string, stored: string): string {
    if (this.#format === 'oxide-k') {
      // A plain row (written before oxide-k's encryption was turned on) is read as plain.
      if (isJson(stored)) return stored;
      const oxide = this.#oxide;
      if (oxide !== undefined) return this.#memoized(key, stored, () => oxide.decrypt(key, stored));
      if (looksLikeOxideCiphertext(stored)) {
        throw new KernelError(
          'KEY_REQUIRED',
          `Config "${key}" is encrypted by oxide-k; open the registry with its key (OXIDE_REGISTRY_KEY or the oxideKey option)`,
          { details: { key } },
        );
      }
      return stored;
    }
    if (!isKernoCiphertext(stored)) return stored;
    const hit = this.#memo.get(key);
    if (hit !== undefined && hit.stored === stored) return hit.json;
    const cipher = this.#cipher;
    if (cipher === undefined) {
      throw new KernelError(
        'KEY_REQUIRED',
        `Config "${key}" is a secret; open the registry with its key (KERNO_REGISTRY_KEY or the key option)`,
        { details: { key } },
      );
    }
    const version = kernoKeyVersion(stored) ?? 0;
    if (version > cipher.keyVersion) {
      throw new KernelError(
        'WRONG_KEY',
        `Config "${key}" was written with key version ${version}, newer than this registry’s key (version ${cipher.keyVersion}): ` +
          'another process rotated the key; open the registry again with the new key',
        { details: { key, keyVersion: version } },
      );
    }
    return this.#memoized(key, stored, () => cipher.decrypt(key, stored));
  }

  /**
   * Decrypts through the memo. It maps a key name to the last ciphertext decrypted for it, so
   * it stays right when other processes write: every read still fetches the stored ciphertext,
   * and only an identical one (same name, same key) skips AES-GCM.
   */
  #memoized(key: string, stored: string, decrypt: () => string): string {
    const hit = this.#memo.get(key);
    if (hit !== undefined && hit.stored === stored) return hit.json;
    const json = decrypt();
    if (this.#memoLimit > 0) {
      if (hit !== undefined) this.#memo.delete(key);
      else if (this.#memo.size >= this.#memoLimit)
        this.#memo.delete(this.#memo.keys().next().value as string);
      this.#memo.set(key, { stored, json });
    }
    return json;
  }

  #isSecret(stored: string): boolean {
    if (this.#format === 'kerno') return isKernoCiphertext(stored);
    if (this.#oxide !== undefined) return !isJson(stored);
    return isOxideCiphertext(stored);
  }

  /** Deletes `key`; answers whether it existed. */
  async deleteConfig(key: string): Promise<boolean> {
    this.#open();
    checkName(key);
    if (this.#format === 'oxide-k' && this.#oxide === undefined)
      refuseKeylessOxideWrite(await this.#store.listConfig());
    const removed = await this.#store.deleteConfig(key);
    if (removed === undefined) return false;
    this.#bus?.publish({
      type: 'ConfigChanged',
      key,
      change: 'delete',
      secret: this.#isSecret(removed.value),
    });
    return true;
  }

  /** Every config key with its secret flag and update time, ordered by key: never a value. */
  async listConfig(): Promise<ConfigInfo[]> {
    this.#open();
    return (await this.#store.listConfig()).map((c) => ({
      key: c.key,
      secret: this.#isSecret(c.value),
      updatedAt: c.updatedAt,
    }));
  }

  // ── keys ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Re-encrypts every encrypted value with a new key, atomically (one transaction): afterwards
   * only `newKey` opens the registry. kerno format: a new salt and key version. oxide-k format
   * with its key: a new oxide-k key (give it to oxide-k as `OXIDE_REGISTRY_KEY`).
   */
  async rotateKey(newKey: string): Promise<RekeyResult> {
    this.#open();
    if (typeof newKey !== 'string' || newKey.length === 0)
      throw new KernelError('KEY_REQUIRED', 'The new registry key must be a non-empty string');
    if (this.#format === 'oxide-k') {
      const oxide = this.#oxide;
      if (oxide === undefined)
        throw new KernelError(
          'KEY_REQUIRED',
          'This oxide-k registry is not encrypted, or was opened without its key; open it with OXIDE_REGISTRY_KEY to rotate, or use upgradeEncryption',
        );
      const next = new OxideCipher(newKey, this.#random);
      return this.#rekey(
        async () => ({ meta: [{ name: REGISTRY_FORMAT_META, value: 'oxide-k' }], set: [] }),
        (c) =>
          isJson(c.value)
            ? undefined // a plain row stays plain (encryptPlain encrypts it)
            : { value: next.encrypt(oxide.decrypt(c.key, c.value)), secret: true },
        () => {
          this.#oxide = next;
          return {};
        },
      );
    }
    const cipher = this.#cipher;
    if (cipher === undefined) {
      throw new KernelError(
        'KEY_REQUIRED',
        'Open the registry with its current key (KERNO_REGISTRY_KEY or the key option) before rotating it',
      );
    }
    let next: ConfigCipher | undefined;
    return this.#rekey(
      async () => {
        next ??= await this.#newCipher(newKey, cipher.keyVersion + 1);
        return {
          meta: [{ name: CIPHER_META, value: this.#cipherMetaText ?? null }],
          set: [{ name: CIPHER_META, value: JSON.stringify(next.meta) }],
        };
      },
      (c) =>
        isKernoCiphertext(c.value)
          ? { value: next!.encrypt(c.key, cipher.decrypt(c.key, c.value)), secret: true }
          : undefined,
      () => {
        this.#cipher = next;
        this.#cipherMetaText = JSON.stringify(next!.meta);
        return { keyVersion: next!.keyVersion };
      },
    );
  }

  /**
   * Converts an oxide-k registry to kerno's format and encryption (key: `key`, the `key` option
   * or `KERNO_REGISTRY_KEY`). Values oxide-k encrypted become kerno secrets; plain values stay
   * plain, so oxide-k still reads those — but no longer the secrets.
   */
  async upgradeEncryption(key?: string): Promise<RekeyResult> {
    this.#open();
    if (this.#format !== 'oxide-k')
      throw new KernelError(
        'INVALID_ARGUMENT',
        'This registry already uses kerno’s format; use rotateKey to change its key',
      );
    const keyString = nonEmpty(key) ?? this.#keyString;
    if (keyString === undefined) {
      throw new KernelError(
        'KEY_REQUIRED',
        'upgradeEncryption needs the new kerno key: pass it, or set KERNO_REGISTRY_KEY',
      );
    }
    const oxide = this.#oxide;
    let next: ConfigCipher | undefined;
    return this.#rekey(
      async () => {
        next ??= await this.#newCipher(keyString, 1);
        return {
          meta: [
            { name: REGISTRY_FORMAT_META, value: 'oxide-k' },
            { name: CIPHER_META, value: null },
          ],
          set: [
            { name: REGISTRY_FORMAT_META, value: 'kerno' },
            { name: CIPHER_META, value: JSON.stringify(next.meta) },
          ],
        };
      },
      (c) => {
        if (isJson(c.value)) return undefined;
        if (oxide !== undefined)
          return { value: next!.encrypt(c.key, oxide.decrypt(c.key, c.value)), secret: true };
        throw new KernelError(
          'KEY_REQUIRED',
          `Config "${c.key}" is encrypted by oxide-k; open the registry with OXIDE_REGISTRY_KEY to upgrade it`,
          { details: { key: c.key } },
        );
      },
      () => {
        this.#format = 'kerno';
        this.#oxide = undefined;
        this.#keyString = undefined;
        this.#cipher = next;
        this.#cipherMetaText = JSON.stringify(next!.meta);
        return { keyVersion: next!.keyVersion };
      },
    );
  }

  /**
   * Encrypts plain values in place with the registry's key, in one transaction (all or nothing):
   * `keys`, or every plain value when `keys` is left out. oxide-k format: with
   * `OXIDE_REGISTRY_KEY`, in oxide-k's format — for rows written before oxide-k's encryption
   * was turned on, which oxide-k then reads again. kerno format: they become kerno secrets.
   * Idempotent: values already encrypted are left alone. Each one is published (and audited) as
   * a `ConfigChanged` with change `encrypt`.
   */
  async encryptPlain(keys?: readonly string[]): Promise<EncryptPlainResult> {
    this.#open();
    if (keys !== undefined) for (const k of keys) checkName(k);
    const wanted = keys === undefined ? undefined : new Set(keys);
    let encrypted: string[] = [];
    const pick = (rows: readonly StoredConfig[], plain: (c: StoredConfig) => boolean) => {
      if (wanted !== undefined) {
        const missing = [...wanted].find((k) => !rows.some((c) => c.key === k));
        if (missing !== undefined)
          throw new KernelError('CONFIG_NOT_FOUND', `No config "${missing}" to encrypt`, {
            details: { key: missing },
          });
      }
      return (c: StoredConfig) => plain(c) && (wanted === undefined || wanted.has(c.key));
    };
    let selected: (c: StoredConfig) => boolean = () => false;
    if (this.#format === 'oxide-k') {
      const oxide = this.#oxide;
      if (oxide === undefined)
        throw new KernelError(
          'KEY_REQUIRED',
          'Encrypting this oxide-k registry’s plain values needs its key: set OXIDE_REGISTRY_KEY to the key oxide-k uses',
          { details: { env: 'OXIDE_REGISTRY_KEY' } },
        );
      await this.#rekey(
        async () => {
          encrypted = [];
          selected = pick(await this.#store.listConfig(), (c) => isJson(c.value));
          return { meta: [{ name: REGISTRY_FORMAT_META, value: 'oxide-k' }], set: [] };
        },
        (c) => {
          if (!selected(c)) return undefined;
          encrypted.push(c.key);
          return { value: oxide.encrypt(c.value), secret: true };
        },
        () => ({}),
        'encrypt',
      );
      return { encrypted: encrypted.length, keys: encrypted };
    }
    const cipher = this.#cipher;
    if (cipher === undefined)
      throw new KernelError(
        'KEY_REQUIRED',
        'Encrypting plain values needs the registry key: set KERNO_REGISTRY_KEY or pass the key option',
        { details: { env: 'KERNO_REGISTRY_KEY' } },
      );
    await this.#rekey(
      async () => {
        encrypted = [];
        selected = pick(await this.#store.listConfig(), (c) => !isKernoCiphertext(c.value));
        return { meta: [{ name: CIPHER_META, value: this.#cipherMetaText ?? null }], set: [] };
      },
      (c) => {
        if (!selected(c)) return undefined;
        encrypted.push(c.key);
        return { value: cipher.encrypt(c.key, c.value), secret: true };
      },
      () => ({}),
      'encrypt',
    );
    return { encrypted: encrypted.length, keys: encrypted };
  }

  /**
   * Runs a rekeying: reads every value, re-encrypts those `convert` returns, and commits them
   * with the metadata in one compare-and-set, retrying when another process wrote in between.
   * Writes from this registry wait until it is done.
   */
  #rekey(
    metaChange: () => Promise<{
      meta: { name: string; value: string | null }[];
      set: { name: string; value: string | null }[];
    }>,
    convert: (c: StoredConfig) => { value: string; secret: boolean } | undefined,
    done: () => { keyVersion?: number },
    change: 'rotate' | 'encrypt' = 'rotate',
  ): Promise<RekeyResult> {
    const run = async (): Promise<RekeyResult> => {
      if (this.#rekeying !== undefined) await this.#rekeying;
      for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
        const { meta, set } = await metaChange();
        const rows = await this.#store.listConfig();
        const rewritten: StoredConfig[] = [];
        for (const c of rows) {
          const next = convert(c);
          if (next !== undefined)
            rewritten.push({ key: c.key, value: next.value, updatedAt: c.updatedAt });
        }
        const result = await this.#store.commit({
          expectMeta: meta,
          expectConfig: rows.map((c) => ({ key: c.key, value: c.value })),
          setMeta: set,
          setConfig: rewritten,
        });
        if (result.ok) {
          this.#memo.clear();
          const version = done();
          for (const c of rewritten)
            this.#bus?.publish({
              type: 'ConfigChanged',
              key: c.key,
              change,
              secret: true,
            });
          return { reencrypted: rewritten.length, ...version };
        }
        const now = await this.#store.getMeta();
        if (meta.some((m) => (now[m.name] ?? null) !== m.value)) {
          throw new KernelError(
            'WRONG_KEY',
            'Another process changed this registry’s key meanwhile; open it again with the current key',
          );
        }
      }
      throw conflict('rekey');
    };
    const task = run();
    // The gate settles (never rejects) once the rekeying is over; the caller gets its outcome.
    const gate: Promise<void> = task.then(
      () => this.#endRekey(gate),
      () => this.#endRekey(gate),
    );
    this.#rekeying = gate;
    return task;
  }

  #endRekey(gate: Promise<void>): void {
    if (this.#rekeying === gate) this.#rekeying = undefined;
  }

  /** Closes the registry (not its storage, which its opener owns). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#memo.clear();
    this.#cipher = undefined;
    this.#oxide = undefined;
    if (this.#rekeying !== undefined) await this.#rekeying;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Whether a stored oxide-k value is oxide-k ciphertext (plain rows are JSON text). */
function isOxideCiphertext(stored: string): boolean {
  return !isJson(stored) && looksLikeOxideCiphertext(stored);
}

/** `KEY_REQUIRED` when an oxide-k registry opened without its key holds oxide-k ciphertext. */
function refuseKeylessOxideWrite(rows: readonly StoredConfig[]): void {
  const encrypted = rows.find((c) => isOxideCiphertext(c.value));
  if (encrypted === undefined) return;
  throw new KernelError(
    'KEY_REQUIRED',
    `This oxide-k registry holds values oxide-k encrypted (e.g. "${encrypted.key}"), so without its key it is read-only for config: ` +
      'set OXIDE_REGISTRY_KEY to the key oxide-k uses, then try again (nothing was written)',
    { details: { key: encrypted.key, env: 'OXIDE_REGISTRY_KEY' } },
  );
}

function secretNeedsKey(format: 'kerno' | 'oxide-k'): KernelError {
  return format === 'kerno'
    ? new KernelError(
        'KEY_REQUIRED',
        'Storing a secret needs the registry key: set KERNO_REGISTRY_KEY or pass the key option',
      )
    : new KernelError(
        'KEY_REQUIRED',
        'This oxide-k registry is unencrypted: open it with OXIDE_REGISTRY_KEY to encrypt values the way oxide-k does, ' +
          'or convert it with upgradeEncryption(key) (oxide-k then cannot read the secrets)',
      );
}

function conflict(what: string): KernelError {
  return new KernelError(
    'CONFLICT',
    `The registry kept changing under this ${what} (other processes writing); try again`,
  );
}

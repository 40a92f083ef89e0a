/**
 * kerno's configuration, resolved in one place: every setting comes from an explicit option,
 * else its environment variable, else its default. The kernel, the CLI, the daemon and
 * `openStorage` all call {@link resolveConfig}; no other module reads these variables.
 *
 * Secrets (the registry keys, the API token) are on the result but not enumerable, so
 * `JSON.stringify(config)`, a log line or `util.inspect` never shows them.
 *
 * @example
 * const config = resolveConfig({ store: 'sqlite:/var/lib/kerno/kerno.db' });
 * config.home; // '/current/dir/.kerno' unless KERNO_HOME says otherwise
 * config.bus; // KERNO_BUS, else 'memory'
 *
 * @module
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KernelError } from './errors.js';

/** Environment variable holding the state folder. */
export const KERNO_HOME_ENV = 'KERNO_HOME';
/** Environment variable holding the store URL. */
export const KERNO_STORE_ENV = 'KERNO_STORE';
/** Environment variable holding the bus URL. */
export const KERNO_BUS_ENV = 'KERNO_BUS';
/** Environment variable holding the key string of a kerno-format registry. */
export const KERNO_REGISTRY_KEY_ENV = 'KERNO_REGISTRY_KEY';
/** Environment variable holding oxide-k's key string (oxide-k's own name for it). */
export const OXIDE_REGISTRY_KEY_ENV = 'OXIDE_REGISTRY_KEY';
/** Environment variable holding the new key for `kerno config rotate-key`. */
export const KERNO_NEW_REGISTRY_KEY_ENV = 'KERNO_NEW_REGISTRY_KEY';
/** Environment variable holding the daemon URL the CLI talks to. */
export const KERNO_URL_ENV = 'KERNO_URL';
/** Environment variable holding the API token the CLI sends. */
export const KERNO_TOKEN_ENV = 'KERNO_TOKEN';
/** Environment variable setting the demo agents' pace (`kerno up --demo`). */
export const KERNO_DEMO_PACE_ENV = 'KERNO_DEMO_PACE';
/** Environment variable: how far in the future (ms) an appended `occurred_at` may be. */
export const KERNO_LEDGER_MAX_FUTURE_MS_ENV = 'KERNO_LEDGER_MAX_FUTURE_MS';

/** `kerno up`: serve GET /metrics without a token on this loopback port (`--metrics-port`). */
export const KERNO_METRICS_PORT_ENV = 'KERNO_METRICS_PORT';

/** The state folder used when neither `home` nor `KERNO_HOME` is given (in the working directory). */
export const DEFAULT_HOME = '.kerno';
/** The bus used when neither `bus` nor `KERNO_BUS` is given. */
export const DEFAULT_BUS_URL = 'memory';

/** Explicit settings for {@link resolveConfig}; each one left out comes from the environment. */
export interface ConfigOptions {
  /** State folder (token, daemon file, SQLite store, learning file, recovery artifacts). */
  readonly home?: string | undefined;
  /** Store URL (`memory:`, `sqlite:<path>`, `postgres://…`). */
  readonly store?: string | undefined;
  /** Bus URL (`memory`, `nats://host:4222?tenant=…`). */
  readonly bus?: string | undefined;
  /** Where recovery artifacts are written (they then are, whatever the store). */
  readonly recoveryDir?: string | undefined;
  /** Key string of a kerno-format registry. */
  readonly registryKey?: string | undefined;
  /** Key string of an encrypted oxide-k registry. */
  readonly oxideRegistryKey?: string | undefined;
  /** The daemon URL (CLI). */
  readonly url?: string | undefined;
  /** The API token (CLI). */
  readonly token?: string | undefined;
  /** The environment to read (default: `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
}

/** The resolved configuration. Secrets are present but not enumerable (never serialised). */
export interface KernoConfig {
  /** Absolute state folder. */
  readonly home: string;
  /** Store URL. */
  readonly store: string;
  /** Bus URL. */
  readonly bus: string;
  /**
   * Where recovery artifacts are written, or `undefined` when they are not: by default they go
   * to `<home>/recovery`, except for a `memory:` store (nothing of it outlives the process).
   */
  readonly recoveryDir: string | undefined;
  /** The daemon URL when given or in `KERNO_URL` (else the CLI looks in `<home>/daemon.json`). */
  readonly url: string | undefined;
  /** The demo agents' pace factor, from `KERNO_DEMO_PACE`. */
  readonly demoPace: number | undefined;
  /**
   * How far ahead of the clock (ms) a ledger append's `occurred_at` may be, from
   * `KERNO_LEDGER_MAX_FUTURE_MS` (default 5 min, see ledger `DEFAULT_MAX_FUTURE_MS`).
   */
  readonly ledgerMaxFutureMs: number | undefined;
  /** Secret: the registry key string. */
  readonly registryKey: string | undefined;
  /** Secret: the oxide-k registry key string. */
  readonly oxideRegistryKey: string | undefined;
  /** Secret: the new registry key for a rotation, from `KERNO_NEW_REGISTRY_KEY`. */
  readonly newRegistryKey: string | undefined;
  /** Secret: the API token when given or in `KERNO_TOKEN` (else the CLI reads `<home>/token`). */
  readonly token: string | undefined;
}

/** An empty string counts as not set (`KERNO_STORE= kerno up` means the default). */
function given(...values: (string | undefined)[]): string | undefined {
  return values.find((v) => v !== undefined && v !== '');
}

function isMemoryStore(url: string): boolean {
  const text = url.trim();
  return text === 'memory:' || text === 'memory';
}

function parsePace(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const pace = Number(text);
  if (!Number.isFinite(pace) || pace <= 0)
    throw new KernelError(
      'INVALID_ARGUMENT',
      `${KERNO_DEMO_PACE_ENV} must be a positive number (1 is the normal pace), got "${text}"`,
    );
  return pace;
}

function parseMaxFuture(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 0)
    throw new KernelError(
      'INVALID_ARGUMENT',
      `${KERNO_LEDGER_MAX_FUTURE_MS_ENV} must be a whole number of milliseconds ≥ 0 (default 300000), got "${text}"`,
    );
  return ms;
}

/** Resolves every setting: explicit option, else environment variable, else default. */
export function resolveConfig(options: ConfigOptions = {}): KernoConfig {
  const env = options.env ?? process.env;
  const home = resolve(given(options.home, env[KERNO_HOME_ENV]) ?? DEFAULT_HOME);
  const store = given(options.store, env[KERNO_STORE_ENV]) ?? `sqlite:${join(home, 'kerno.db')}`;
  const explicitRecovery = given(options.recoveryDir);
  const recoveryDir =
    explicitRecovery !== undefined
      ? resolve(explicitRecovery)
      : isMemoryStore(store)
        ? undefined
        : join(home, 'recovery');
  const config = {
    home,
    store,
    bus: given(options.bus, env[KERNO_BUS_ENV]) ?? DEFAULT_BUS_URL,
    recoveryDir,
    url: given(options.url, env[KERNO_URL_ENV]),
    demoPace: parsePace(given(env[KERNO_DEMO_PACE_ENV])),
    ledgerMaxFutureMs: parseMaxFuture(given(env[KERNO_LEDGER_MAX_FUTURE_MS_ENV])),
  };
  const secrets = {
    registryKey: given(options.registryKey, env[KERNO_REGISTRY_KEY_ENV]),
    oxideRegistryKey: given(options.oxideRegistryKey, env[OXIDE_REGISTRY_KEY_ENV]),
    newRegistryKey: given(env[KERNO_NEW_REGISTRY_KEY_ENV]),
    token: given(options.token, env[KERNO_TOKEN_ENV]),
  };
  for (const [name, value] of Object.entries(secrets))
    Object.defineProperty(config, name, { value, enumerable: false });
  return Object.freeze(config) as KernoConfig;
}

/**
 * Creates the folders a kernel on `config` writes files to: the recovery folder, when artifacts
 * are written (owner-only, like every folder it creates on the way, e.g. the state folder).
 */
export function prepareStateDir(config: KernoConfig): void {
  if (config.recoveryDir !== undefined)
    mkdirSync(config.recoveryDir, { recursive: true, mode: 0o700 });
}

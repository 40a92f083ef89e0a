/**
 * kerno's error model: one class, {@link KernelError}, with a string `code` callers branch on,
 * and a structural guard, {@link isKernelError}, that works across package copies where
 * `instanceof` does not.
 *
 * @module
 */

/** Every error code kerno raises, grouped by the part of the kernel that raises it. */
export const KERNEL_ERROR_CODES = Object.freeze([
  // general
  'INVALID_ARGUMENT',
  'CLOSED',
  'INTERNAL',
  // bus
  'INVALID_EVENT',
  'UNKNOWN_EVENT_TYPE',
  'PUBLISH_OVERFLOW',
  'PUBLISH_REJECTED',
  'DEPENDENCY_MISSING',
  // storage, log, ledger
  'INVALID_STORE_URL',
  'STORAGE_ERROR',
  'SCHEMA_TOO_NEW',
  'INVALID_QUERY',
  'NOT_FOUND',
  'CONFLICT',
  'ILLEGAL_TRANSITION',
  // audit
  'CHAIN_BROKEN',
  'INVALID_EXPORT',
  // recovery
  'DIGEST_MISMATCH',
  'INVALID_ARTIFACT',
  // learning store
  'INVALID_RVLS_FILE',
  // upstream imports
  'INVALID_UPSTREAM_FILE',
  'STORE_LOCKED',
  // HTTP edge, CLI
  'UNAUTHORIZED',
  'FORBIDDEN',
  'UNREACHABLE',
  // registry
  'CONFIG_NOT_FOUND',
  'UNKNOWN_MODULE',
  'CORRUPT_VALUE',
  'KEY_REQUIRED',
  'WRONG_KEY',
  'DECRYPT_FAILED',
  // supervisor
  'UNKNOWN_AGENT',
  'AGENT_STOPPED',
  'SERVICE_UNAVAILABLE',
  'SUPERVISOR_ESCALATED',
  'HEARTBEAT_TIMEOUT',
  'FAILED_TO_START_CHILD',
  // durable runs
  'NONDETERMINISM',
  'NOT_SERIALIZABLE',
  'TIMEOUT',
  'RUN_FAILED',
  'RUN_CANCELLED',
  'PROTOCOL_ERROR',
  'FENCED',
  // policies
  'DENIED',
] as const);

/** A stable, machine-readable reason for a {@link KernelError}. */
export type KernelErrorCode = (typeof KERNEL_ERROR_CODES)[number];

const CODES: ReadonlySet<string> = new Set(KERNEL_ERROR_CODES);

/** Whether `code` is one of kerno's error codes (e.g. one read back from an HTTP answer). */
export function isKernelErrorCode(code: unknown): code is KernelErrorCode {
  return typeof code === 'string' && CODES.has(code);
}

/**
 * What a user can do about each code: the edges (HTTP problem details, the CLI) add it to the
 * error's own message, so every answer says what to do even where the message only says what
 * went wrong. Total, so a new code cannot be added without one.
 */
export const ERROR_HINTS: Readonly<Record<KernelErrorCode, string>> = Object.freeze({
  INVALID_ARGUMENT: 'Correct the argument the message names and try again.',
  CLOSED: 'The kernel or store is shutting down; open it again (or restart the daemon).',
  INTERNAL: 'This is a bug in kerno: the daemon log has the details; please report it.',
  INVALID_EVENT: 'Fix the event field the message names, or send a large payload by reference.',
  UNKNOWN_EVENT_TYPE:
    'Use one of the kernel event types (KERNEL_EVENT_TYPES; the API’s OpenAPI document lists them).',
  PUBLISH_OVERFLOW:
    'Check that the NATS server is up and keeping pace, or raise maxPendingPublications.',
  PUBLISH_REJECTED: 'Check the NATS server log and stream limits; the daemon log names the reason.',
  DEPENDENCY_MISSING: 'Install the optional package the message names next to kerno.',
  INVALID_STORE_URL:
    'Use memory:, sqlite:<path> or postgres://user@host/db (--store or KERNO_STORE).',
  STORAGE_ERROR: 'Check that the store (KERNO_STORE or --store) is reachable and writable.',
  SCHEMA_TOO_NEW: 'A newer kerno wrote this store: upgrade kerno to open it.',
  INVALID_QUERY: 'Correct the query parameter the message names.',
  NOT_FOUND: 'Check the id or path; list the records to see what exists.',
  CONFLICT: 'Someone changed it first: read it again and retry.',
  ILLEGAL_TRANSITION: 'Read the current state first; only the transitions the message names apply.',
  CHAIN_BROKEN:
    'The hash chain does not verify: the record named was changed or removed; restore from a backup.',
  INVALID_EXPORT: 'Give a file written by `kerno audit export` (or by oxios with --oxios).',
  DIGEST_MISMATCH: 'The artifact was changed after it was written; restore or rewrite it.',
  INVALID_ARTIFACT: 'Give a recovery artifact written by kerno (or aivcs).',
  INVALID_RVLS_FILE: 'Give an RVLS file (one JSON record per line) written by kerno or ruvector.',
  INVALID_UPSTREAM_FILE:
    'Give the file as the upstream tool wrote it (oxios memory.db, audit/trail.json or audit/access.jsonl); see the README’s interoperability table.',
  STORE_LOCKED:
    'Another process holds the store: stop it, or work through its daemon (drop --store).',
  UNAUTHORIZED: 'Pass a valid token: --token, KERNO_TOKEN or <state>/token.',
  FORBIDDEN:
    'Use a token with the scope the message names (`kerno tokens create`, with --reveal for secrets).',
  UNREACHABLE: 'Start the daemon with `kerno up`, or pass --url (or --store to skip the daemon).',
  CONFIG_NOT_FOUND: 'Set the config value first (`kerno config set <key> <value>`).',
  UNKNOWN_MODULE: 'Check the module id; `kerno modules ls` lists the modules.',
  CORRUPT_VALUE: 'The stored value is damaged: set it again, or delete it.',
  KEY_REQUIRED:
    'Start the kernel with the registry key: set KERNO_REGISTRY_KEY (or the registryKey option).',
  WRONG_KEY:
    'Start the kernel with the key this registry was created or last rotated with, in KERNO_REGISTRY_KEY (OXIDE_REGISTRY_KEY for an oxide-k registry).',
  DECRYPT_FAILED:
    'The secret does not decrypt with the registry key in KERNO_REGISTRY_KEY (OXIDE_REGISTRY_KEY for oxide-k): start the kernel with the key it was written with, or set the secret again.',
  UNKNOWN_AGENT: 'Check the agent id; `kerno agents ls` lists the running agents.',
  AGENT_STOPPED:
    'The agent has stopped: spawn it again (`kerno agents spawn`) before sending it work.',
  SERVICE_UNAVAILABLE: 'Run the agent under the kernel supervisor, which provides the service.',
  SUPERVISOR_ESCALATED:
    'The supervisor gave up after too many restarts: fix the cause in its log, then start it again.',
  HEARTBEAT_TIMEOUT:
    'The agent went silent: check that it is alive, or raise its heartbeatTimeoutMs.',
  FAILED_TO_START_CHILD:
    'A child failed before it was ready, so the start was aborted: fix the child the message names (its error is the cause), then start again.',
  NONDETERMINISM:
    'The run replayed different calls than its journal holds: keep ctx calls in the same order for a run (give changed code a new agent version, and let old runs finish on the old code).',
  NOT_SERIALIZABLE:
    'Return plain JSON from steps and runs (objects, arrays, strings, finite numbers, booleans, null); convert dates with toISOString().',
  TIMEOUT:
    'It took longer than its timeout: raise timeoutMs, or handle the timeout in the run (catch the error).',
  RUN_FAILED:
    'See the run with `kerno runs show <id>` (or kernel.runs.get) for the failed step and its error.',
  RUN_CANCELLED: 'The run was cancelled; start a new run if the work is still wanted.',
  FENCED:
    'Another kernel took the work over (its lease expired here): this kernel stops it; see `kerno runs show <id>` for the new owner.',
  DENIED:
    'An approval rule denies this action (the message names the rule): ask an operator to change the rule (`kerno policies get rule <name>`), or do not take the action.',
  PROTOCOL_ERROR:
    'The agent process wrote a line that is not a protocol message: write one JSON object per line on stdout (docs/agent-protocol.md, "Durable runs") and logs on stderr.',
});

const BRAND = Symbol.for('kerno.KernelError');

/** Options accepted by {@link KernelError}. */
export interface KernelErrorOptions {
  /** The underlying error, kept on `error.cause`. */
  readonly cause?: unknown;
  /** Structured facts about the failure (safe to show: never a secret). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The one error class kerno throws. Branch on `code`, not on the message. */
export class KernelError<C extends KernelErrorCode = KernelErrorCode> extends Error {
  override readonly name = 'KernelError';
  /** Stable, machine-readable reason. */
  readonly code: C;
  /** Structured facts about the failure. */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  readonly [BRAND] = true;

  constructor(code: C, message: string, options: KernelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** A JSON form without the stack: what an API answer or a log line may carry. */
  toJSON(): {
    name: string;
    code: C;
    message: string;
    details?: Readonly<Record<string, unknown>>;
  } {
    return this.details === undefined
      ? { name: this.name, code: this.code, message: this.message }
      : { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

/**
 * Whether `error` is a {@link KernelError} (optionally with one of the given codes).
 * Structural, so it also recognises errors thrown by another copy of kerno.
 */
export function isKernelError<C extends KernelErrorCode>(
  error: unknown,
  ...codes: C[]
): error is KernelError<C> {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { [BRAND]?: unknown })[BRAND] !== true) return false;
  return codes.length === 0 || codes.includes((error as KernelError).code as C);
}

/** Turns anything thrown into a message fit for a log line or an error answer. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

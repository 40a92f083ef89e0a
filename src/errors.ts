/**
 * kerno's error model: one class, {@link KernelError}, with a string `code` callers branch on,
 * and a structural guard, {@link isKernelError}, that works across package copies where
 * `instanceof` does not.
 *
 * @module
 */

/** Every error code kerno raises. Grouped by the part of the kernel that raises it. */
export type KernelErrorCode =
  // general
  | 'INVALID_ARGUMENT'
  | 'CLOSED'
  | 'INTERNAL'
  // bus
  | 'INVALID_EVENT'
  | 'UNKNOWN_EVENT_TYPE'
  | 'PUBLISH_OVERFLOW'
  | 'PUBLISH_REJECTED'
  | 'DEPENDENCY_MISSING'
  // storage, log, ledger
  | 'INVALID_STORE_URL'
  | 'STORAGE_ERROR'
  | 'SCHEMA_TOO_NEW'
  | 'INVALID_QUERY'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'ILLEGAL_TRANSITION'
  // audit
  | 'CHAIN_BROKEN'
  | 'INVALID_EXPORT'
  // recovery
  | 'DIGEST_MISMATCH'
  | 'INVALID_ARTIFACT'
  // learning store
  | 'INVALID_RVLS_FILE'
  | 'STORE_LOCKED'
  // HTTP edge, CLI
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'UNREACHABLE'
  // registry
  | 'CONFIG_NOT_FOUND'
  | 'UNKNOWN_MODULE'
  | 'CORRUPT_VALUE'
  | 'KEY_REQUIRED'
  | 'WRONG_KEY'
  | 'DECRYPT_FAILED'
  // supervisor
  | 'UNKNOWN_AGENT'
  | 'AGENT_STOPPED'
  | 'SERVICE_UNAVAILABLE'
  | 'SUPERVISOR_ESCALATED'
  | 'HEARTBEAT_TIMEOUT'
  | 'FAILED_TO_START_CHILD';

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

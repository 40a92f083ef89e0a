/**
 * The CLI's exit codes, and the one place where errors map to them.
 *
 * @module
 */
import { isKernelError, type KernelErrorCode } from '../errors.js';

/** Exit codes every `kerno` command uses. */
export const EXIT = Object.freeze({
  /** Success. */
  OK: 0,
  /** A check found a failure (a broken chain, a digest mismatch …). */
  FAILURE_FOUND: 1,
  /** Bad usage: unknown command or option, invalid argument, a wrong or missing key. */
  USAGE: 2,
  /** The daemon or the store could not be reached (or cannot be opened by this kerno). */
  UNREACHABLE: 3,
});

/** One of the {@link EXIT} codes. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code of every error code. Total: the compiler refuses a new code nobody mapped. */
export const EXIT_CODES: Readonly<Record<KernelErrorCode, ExitCode>> = Object.freeze({
  INVALID_ARGUMENT: EXIT.USAGE,
  CLOSED: EXIT.UNREACHABLE,
  INTERNAL: EXIT.FAILURE_FOUND,
  INVALID_EVENT: EXIT.USAGE,
  UNKNOWN_EVENT_TYPE: EXIT.USAGE,
  PUBLISH_OVERFLOW: EXIT.UNREACHABLE,
  PUBLISH_REJECTED: EXIT.UNREACHABLE,
  DEPENDENCY_MISSING: EXIT.FAILURE_FOUND,
  INVALID_STORE_URL: EXIT.USAGE,
  STORAGE_ERROR: EXIT.UNREACHABLE,
  SCHEMA_TOO_NEW: EXIT.UNREACHABLE,
  INVALID_QUERY: EXIT.USAGE,
  NOT_FOUND: EXIT.USAGE,
  CONFLICT: EXIT.FAILURE_FOUND,
  ILLEGAL_TRANSITION: EXIT.FAILURE_FOUND,
  CHAIN_BROKEN: EXIT.FAILURE_FOUND,
  INVALID_EXPORT: EXIT.USAGE,
  DIGEST_MISMATCH: EXIT.FAILURE_FOUND,
  INVALID_ARTIFACT: EXIT.USAGE,
  INVALID_RVLS_FILE: EXIT.USAGE,
  INVALID_UPSTREAM_FILE: EXIT.USAGE,
  STORE_LOCKED: EXIT.UNREACHABLE,
  UNAUTHORIZED: EXIT.FAILURE_FOUND,
  FORBIDDEN: EXIT.FAILURE_FOUND,
  UNREACHABLE: EXIT.UNREACHABLE,
  CONFIG_NOT_FOUND: EXIT.USAGE,
  UNKNOWN_MODULE: EXIT.USAGE,
  CORRUPT_VALUE: EXIT.FAILURE_FOUND,
  KEY_REQUIRED: EXIT.USAGE,
  WRONG_KEY: EXIT.USAGE,
  DECRYPT_FAILED: EXIT.FAILURE_FOUND,
  UNKNOWN_AGENT: EXIT.USAGE,
  AGENT_STOPPED: EXIT.FAILURE_FOUND,
  SERVICE_UNAVAILABLE: EXIT.FAILURE_FOUND,
  SUPERVISOR_ESCALATED: EXIT.FAILURE_FOUND,
  HEARTBEAT_TIMEOUT: EXIT.FAILURE_FOUND,
  FAILED_TO_START_CHILD: EXIT.FAILURE_FOUND,
  NONDETERMINISM: EXIT.FAILURE_FOUND,
  FENCED: EXIT.FAILURE_FOUND,
  DENIED: EXIT.FAILURE_FOUND,
  NOT_SERIALIZABLE: EXIT.USAGE,
  TIMEOUT: EXIT.UNREACHABLE,
  RUN_FAILED: EXIT.FAILURE_FOUND,
  RUN_CANCELLED: EXIT.FAILURE_FOUND,
  PROTOCOL_ERROR: EXIT.FAILURE_FOUND,
});

/** The exit code for an error thrown by a command (anything not a KernelError is a failure). */
export function exitCodeFor(error: unknown): ExitCode {
  return isKernelError(error) ? EXIT_CODES[error.code] : EXIT.FAILURE_FOUND;
}

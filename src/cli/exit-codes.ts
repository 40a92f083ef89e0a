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
  /** Bad usage: unknown command or option, invalid argument. */
  USAGE: 2,
  /** The daemon or the store could not be reached. */
  UNREACHABLE: 3,
});

const UNREACHABLE_CODES: ReadonlySet<KernelErrorCode> = new Set<KernelErrorCode>([
  'STORAGE_ERROR',
  'CLOSED',
  'UNREACHABLE',
  'STORE_LOCKED',
  'SCHEMA_TOO_NEW',
]);
const USAGE_CODES: ReadonlySet<KernelErrorCode> = new Set<KernelErrorCode>([
  'INVALID_ARGUMENT',
  'INVALID_EVENT',
  'UNKNOWN_EVENT_TYPE',
  'INVALID_QUERY',
  'INVALID_STORE_URL',
  'INVALID_EXPORT',
  'INVALID_RVLS_FILE',
  'INVALID_ARTIFACT',
  'NOT_FOUND',
  'CONFIG_NOT_FOUND',
  'UNKNOWN_MODULE',
  'KEY_REQUIRED',
]);

/** The exit code for an error thrown by a command. */
export function exitCodeFor(error: unknown): number {
  if (!isKernelError(error)) return EXIT.FAILURE_FOUND;
  if (UNREACHABLE_CODES.has(error.code)) return EXIT.UNREACHABLE;
  if (USAGE_CODES.has(error.code)) return EXIT.USAGE;
  // Everything else is a failure the command found: a broken chain, a digest mismatch, a
  // conflict, a refused token …
  return EXIT.FAILURE_FOUND;
}

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
]);
const FAILURE_CODES: ReadonlySet<KernelErrorCode> = new Set<KernelErrorCode>(['CHAIN_BROKEN']);

/** The exit code for an error thrown by a command. */
export function exitCodeFor(error: unknown): number {
  if (!isKernelError(error)) return EXIT.FAILURE_FOUND;
  if (UNREACHABLE_CODES.has(error.code)) return EXIT.UNREACHABLE;
  if (FAILURE_CODES.has(error.code)) return EXIT.FAILURE_FOUND;
  return EXIT.USAGE;
}

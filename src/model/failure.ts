/**
 * The failure vocabulary the supervisor and the recovery engine share: a structured failure
 * (aivcs `FailureSignal`), its classes, the recovery actions and the recovery policy's limits.
 * A bottom module: it imports nothing of kerno but the error type, so `supervisor/` and
 * `recovery/` both build on it without importing each other.
 *
 * @example
 * import { createFailureSignal } from 'kerno';
 * const signal = createFailureSignal('build', 'linker error: undefined symbol', { exit_code: 1 });
 *
 * @module
 */
import { KernelError } from '../errors.js';

/** Failure classes of the recovery engine (aivcs `FailureClass`). */
export const FAILURE_CLASSES = ['build', 'test', 'runtime', 'integration', 'unknown'] as const;
/** Coarse failure taxonomy used by the recovery planner (aivcs `FailureClass`). */
export type FailureClass = (typeof FAILURE_CLASSES)[number];

/** Recovery actions (aivcs `RecoveryAction`). */
export const RECOVERY_ACTIONS = ['retry', 'patch_forward', 'rollback', 'escalate'] as const;
/** The action chosen for one recovery attempt (aivcs `RecoveryAction`). */
export type RecoveryAction = (typeof RECOVERY_ACTIONS)[number];

/** A structured failure from a verification or runtime stage (aivcs `FailureSignal`). */
export interface FailureSignal {
  /** The stage that failed, e.g. `build`, `test`, `deploy`. */
  readonly stage: string;
  /** The failure text (compiler output, assertion, panic message …). */
  readonly message: string;
  /** The process exit code (a Rust `i32`), or `null` when there was none. */
  readonly exit_code: number | null;
  /** Whether the failure is suspected to be flaky (a retry may pass). */
  readonly flaky_hint: boolean;
}

/** Limits and permissions of one recovery loop (aivcs `RecoveryPolicy`). Counts are `u32`. */
export interface RecoveryPolicy {
  /** Attempts before the loop gives up (default 3). */
  readonly max_attempts: number;
  /** Plain retries allowed for a flaky test failure (default 1). */
  readonly max_flaky_retries: number;
  /** Whether build/test failures may be patched forward (default true). */
  readonly allow_patch_forward: boolean;
  /** Whether runtime/integration failures may be rolled back (default true). */
  readonly allow_rollback: boolean;
}

/** Optional fields of {@link createFailureSignal}. */
export interface FailureSignalOptions {
  /** The exit code (a 32-bit signed integer). */
  readonly exit_code?: number | null;
  /** Whether the failure is suspected to be flaky. */
  readonly flaky_hint?: boolean;
}

/** Builds a {@link FailureSignal} (aivcs `FailureSignal::new`: no exit code, not flaky). */
export function createFailureSignal(
  stage: string,
  message: string,
  options: FailureSignalOptions = {},
): FailureSignal {
  const exitCode = options.exit_code ?? null;
  if (typeof stage !== 'string' || typeof message !== 'string') {
    throw new KernelError('INVALID_ARGUMENT', 'A failure signal needs a string stage and message.');
  }
  if (
    exitCode !== null &&
    !(Number.isInteger(exitCode) && exitCode >= -(2 ** 31) && exitCode <= 2 ** 31 - 1)
  ) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `exit_code ${String(exitCode)} is not a 32-bit signed integer; pass an integer or null.`,
    );
  }
  return Object.freeze({
    stage,
    message,
    exit_code: exitCode,
    flaky_hint: options.flaky_hint ?? false,
  });
}

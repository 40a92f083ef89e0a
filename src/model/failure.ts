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

/** Final states of a recovery loop (aivcs `RecoveryOutcome`). */
export const RECOVERY_OUTCOMES = ['recovered', 'failed'] as const;
/** How a recovery loop ended. */
export type RecoveryOutcome = (typeof RECOVERY_OUTCOMES)[number];

/** One auditable decision in the recovery timeline (aivcs `RecoveryDecision`). */
export interface RecoveryDecision {
  /** The attempt number, from 1. */
  readonly attempt: number;
  /** The class of the failure the decision answered. */
  readonly failure_class: FailureClass;
  /** The action chosen. */
  readonly action: RecoveryAction;
  /** Why, in words. */
  readonly rationale: string;
}

/** What one repair attempt reports back (aivcs `RecoveryAttemptResult`). */
export interface RecoveryAttemptResult {
  /** Whether the failure is gone. */
  readonly success: boolean;
  /** The failure seen after the attempt, when it differs from the one being repaired. */
  readonly next_failure: FailureSignal | null;
}

/** The full, auditable record of a recovery loop (aivcs `RecoveryLog`); fields in serde order. */
export interface RecoveryLog {
  /** The run this recovery belongs to; also the artifact's directory name. */
  readonly run_id: string;
  /** The policy the loop ran under. */
  readonly policy: RecoveryPolicy;
  /** The failure that started the loop. */
  readonly initial_failure: FailureSignal;
  /** Every decision, in attempt order. */
  readonly decisions: readonly RecoveryDecision[];
  /** How the loop ended. */
  readonly outcome: RecoveryOutcome;
  /** Attempts started (an escalation counts as an attempt, as in the reference). */
  readonly attempts_used: number;
  /** The failure still present when the loop failed; `null` when it recovered. */
  readonly final_failure: FailureSignal | null;
  /**
   * When the loop finished, as chrono's serde form of `DateTime<Utc>`: RFC 3339, UTC, `Z`, with
   * 0, 3, 6 or 9 fractional digits (kept as text so nanoseconds written by aivcs survive).
   */
  readonly evaluated_at: string;
}

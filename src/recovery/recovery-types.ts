/**
 * The recovery engine's data model (aivcs-core `self_healing`). Field names stay snake_case, as
 * in the reference's JSON, so a {@link RecoveryLog} is its own wire form.
 *
 * @example
 * import { createFailureSignal, createRecoveryPolicy } from 'kerno';
 * const signal = createFailureSignal('build', 'linker error: undefined symbol', { exit_code: 1 });
 * const policy = createRecoveryPolicy({ allow_rollback: false }); // other fields: defaults
 *
 * @module
 */
import { KernelError } from '../errors.js';
import type {
  FailureClass,
  FailureSignal,
  RecoveryAction,
  RecoveryPolicy,
} from '../model/failure.js';

export { createFailureSignal } from '../model/failure.js';
export type {
  FailureClass,
  FailureSignal,
  FailureSignalOptions,
  RecoveryAction,
  RecoveryPolicy,
} from '../model/failure.js';

/** Final states of a recovery loop (aivcs `RecoveryOutcome`). */
export const RECOVERY_OUTCOMES = ['recovered', 'failed'] as const;
/** How a recovery loop ended. */
export type RecoveryOutcome = (typeof RECOVERY_OUTCOMES)[number];

/** Recommendations of a regression check (aivcs `RegressionRecommendation`). */
export const REGRESSION_RECOMMENDATIONS = [
  'proceed_normally',
  'try_alternate_action',
  'escalate_immediately',
] as const;
/** What a regression check advises before recovery starts. */
export type RegressionRecommendation = (typeof REGRESSION_RECOMMENDATIONS)[number];

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

/** The result of {@link checkRegression} (aivcs `RegressionCheck`). */
export interface RegressionCheck {
  /** Whether a prior recovery handled a failure of the same stage and class. */
  readonly is_regression: boolean;
  /** The most recent matching recovery's outcome. */
  readonly prior_outcome: RecoveryOutcome | null;
  /** The most recent matching recovery's run id. */
  readonly prior_run_id: string | null;
  /** What to do about it. */
  readonly recommendation: RegressionRecommendation;
}

/** The reference's default policy: 3 attempts, 1 flaky retry, patch-forward and rollback allowed. */
export const DEFAULT_RECOVERY_POLICY: RecoveryPolicy = Object.freeze({
  max_attempts: 3,
  max_flaky_retries: 1,
  allow_patch_forward: true,
  allow_rollback: true,
});

/** Builds a frozen {@link RecoveryPolicy} from {@link DEFAULT_RECOVERY_POLICY} and overrides. */
export function createRecoveryPolicy(overrides: Partial<RecoveryPolicy> = {}): RecoveryPolicy {
  const policy = { ...DEFAULT_RECOVERY_POLICY, ...overrides };
  for (const key of ['max_attempts', 'max_flaky_retries'] as const) {
    if (!isInt(policy[key], 0, 0xffff_ffff)) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `RecoveryPolicy.${key} must be an integer from 0 to 4294967295, got ${String(policy[key])}.`,
      );
    }
  }
  for (const key of ['allow_patch_forward', 'allow_rollback'] as const) {
    if (typeof policy[key] !== 'boolean') {
      throw new KernelError('INVALID_ARGUMENT', `RecoveryPolicy.${key} must be true or false.`);
    }
  }
  return Object.freeze({
    max_attempts: policy.max_attempts,
    max_flaky_retries: policy.max_flaky_retries,
    allow_patch_forward: policy.allow_patch_forward,
    allow_rollback: policy.allow_rollback,
  });
}

/** The Rust `Debug` name of an action (`format!("{:?}", action)`), e.g. `PatchForward`. */
export function recoveryActionDebugName(action: RecoveryAction): string {
  return action
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

function isInt(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

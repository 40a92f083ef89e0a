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
import type { RecoveryAction, RecoveryPolicy, RecoveryOutcome } from '../model/failure.js';

export { createFailureSignal, RECOVERY_OUTCOMES } from '../model/failure.js';
export type {
  FailureClass,
  FailureSignal,
  FailureSignalOptions,
  RecoveryAction,
  RecoveryPolicy,
  RecoveryOutcome,
  RecoveryDecision,
  RecoveryAttemptResult,
  RecoveryLog,
} from '../model/failure.js';

/** Recommendations of a regression check (aivcs `RegressionRecommendation`). */
export const REGRESSION_RECOMMENDATIONS = [
  'proceed_normally',
  'try_alternate_action',
  'escalate_immediately',
] as const;
/** What a regression check advises before recovery starts. */
export type RegressionRecommendation = (typeof REGRESSION_RECOMMENDATIONS)[number];

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

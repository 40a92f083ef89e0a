/**
 * Failure classification and the per-attempt decision rule, exactly as aivcs-core's
 * `classify_failure` and `decide_action`.
 *
 * @example
 * import { classifyFailure, createFailureSignal } from 'kerno';
 * classifyFailure(createFailureSignal('ci', 'thread main panicked')); // 'runtime'
 *
 * @module
 */
import type {
  FailureClass,
  FailureSignal,
  RecoveryAction,
  RecoveryPolicy,
} from './recovery-types.js';

/** An action with the words that justify it. */
export interface RecoveryChoice {
  /** The action to take. */
  readonly action: RecoveryAction;
  /** Why (recorded in the decision). */
  readonly rationale: string;
}

/** The reference's rationale strings, one per rule of {@link decideRecoveryAction}. */
export const RECOVERY_RATIONALES = Object.freeze({
  flakyRetry: 'flaky signal detected; bounded retry permitted',
  patchForward: 'build/test failure; patch-forward is enabled',
  rollback: 'runtime/integration failure; rollback is enabled',
  escalate: 'no safe automated action available under policy',
});

/**
 * Classifies a failure by keywords in its lower-cased stage and message. Rules are tried in
 * order: build (`build`/`compile` stage, `compil`/`linker error` text), test, runtime,
 * integration; anything else is `unknown`.
 */
export function classifyFailure(signal: FailureSignal): FailureClass {
  const stage = signal.stage.toLowerCase();
  const msg = signal.message.toLowerCase();
  if (
    stage.includes('build') ||
    stage.includes('compile') ||
    msg.includes('compil') ||
    msg.includes('linker error')
  ) {
    return 'build';
  }
  if (
    stage.includes('test') ||
    msg.includes('assertion') ||
    msg.includes('test failed') ||
    msg.includes('snapshot mismatch')
  ) {
    return 'test';
  }
  if (
    stage.includes('runtime') ||
    msg.includes('panic') ||
    msg.includes('segmentation fault') ||
    msg.includes('null pointer')
  ) {
    return 'runtime';
  }
  if (
    stage.includes('integration') ||
    msg.includes('contract') ||
    msg.includes('handshake') ||
    msg.includes('dependency unavailable')
  ) {
    return 'integration';
  }
  return 'unknown';
}

/**
 * The reference's decision rule: a flaky test failure is retried while the flaky budget lasts;
 * build/test failures are patched forward when allowed; runtime/integration failures are rolled
 * back when allowed; everything else escalates.
 */
export function decideRecoveryAction(
  failureClass: FailureClass,
  signal: FailureSignal,
  policy: RecoveryPolicy,
  flakyRetriesUsed: number,
): RecoveryChoice {
  if (failureClass === 'test' && signal.flaky_hint && flakyRetriesUsed < policy.max_flaky_retries) {
    return { action: 'retry', rationale: RECOVERY_RATIONALES.flakyRetry };
  }
  if (policy.allow_patch_forward && (failureClass === 'build' || failureClass === 'test')) {
    return { action: 'patch_forward', rationale: RECOVERY_RATIONALES.patchForward };
  }
  if (policy.allow_rollback && (failureClass === 'runtime' || failureClass === 'integration')) {
    return { action: 'rollback', rationale: RECOVERY_RATIONALES.rollback };
  }
  return { action: 'escalate', rationale: RECOVERY_RATIONALES.escalate };
}

/**
 * The regression policy: when a failure has been through recovery before, the first decision
 * of the new run changes — escalate at once when the history says so, or try an action other
 * than the one that did not hold last time.
 *
 * @example
 * const run = new RecoveryRun(runId, signal, policy, {
 *   decideAction: regressionPolicy(signal, priorLogs, policy, { canPatch: true }),
 * });
 *
 * @module
 */
import type { RecoveryChoice } from './classify.js';
import type { DecideRecoveryAction } from './recovery-loop.js';
import type {
  FailureSignal,
  RecoveryAction,
  RecoveryLog,
  RecoveryPolicy,
} from './recovery-types.js';
import { checkRegression } from './regression.js';

/** What the agent allows beyond the policy. */
export interface RegressionPolicyOptions {
  /** Whether the agent has a patch hook (patch-forward is possible at all). */
  readonly canPatch: boolean;
}

const ALTERNATES: readonly RecoveryAction[] = ['patch_forward', 'rollback', 'retry'];

/** A decision override for a recovery run of `signal`, from the agent's earlier runs. */
export function regressionPolicy(
  signal: FailureSignal,
  priorLogs: readonly RecoveryLog[],
  policy: RecoveryPolicy,
  options: RegressionPolicyOptions,
): DecideRecoveryAction {
  const regression = checkRegression(signal, priorLogs);
  return (ctx): RecoveryChoice | undefined => {
    if (ctx.attempt !== 1 || !regression.is_regression) return undefined;
    const prior = regression.prior_run_id ?? '?';
    if (regression.recommendation === 'escalate_immediately')
      return {
        action: 'escalate',
        rationale: `regression: this ${ctx.failureClass} failure recurred after run ${prior} (${regression.prior_outcome ?? '?'}); escalating immediately`,
      };
    if (regression.recommendation !== 'try_alternate_action') return undefined;
    const priorLog = priorLogs.find((l) => l.run_id === regression.prior_run_id);
    const used = priorLog?.decisions[priorLog.decisions.length - 1]?.action;
    const alternate = ALTERNATES.find(
      (a) =>
        a !== used &&
        (a !== 'patch_forward' || (policy.allow_patch_forward && options.canPatch)) &&
        (a !== 'rollback' || policy.allow_rollback),
    );
    return alternate === undefined
      ? { action: 'escalate', rationale: 'regression: no alternate action allowed; escalating' }
      : {
          action: alternate,
          rationale: `regression: ${used ?? 'the previous action'} did not hold last time (run ${prior}); trying ${alternate}`,
        };
  };
}

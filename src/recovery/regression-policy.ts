/**
 * The regression policy: kerno's rule for a failure that has been through recovery before. A
 * *regression* is a failure that comes back after a fix *held* — the same step (stage) and the
 * same signature (failure class and message, digits ignored), after an earlier recovery run of it
 * ended `recovered` (the agent ran healthy, or the run completed, after the fix). Then the first
 * decision of the new run changes: it tries another action than the one that held last time (the
 * fix did not last). If that does not hold either, the run goes on by the class rule within its
 * `max_attempts`, and escalates when they are spent or no action is left.
 *
 * What is *not* a regression:
 * - a flaky failure while its retry budget lasts: it is retried (a recurring flaky test is what
 *   a flaky retry is for). The budget (`max_flaky_retries`) belongs to one incident: it is spent
 *   by flaky failures that come back before the retry held, and it is whole again for the next
 *   incident once a retry held;
 * - a failure whose earlier runs all ended `failed` (no automated fix held; a human decided);
 * - history older than the window (default one hour): held fixes decay out of it.
 *
 * @example
 * const run = new RecoveryRun(runId, signal, policy, {
 *   decideAction: regressionPolicy(signal, priorLogs, policy, { canPatch: true, nowMs: clock.now() }),
 * });
 *
 * @module
 */
import { parseRfc3339 } from '../util/time.js';
import { classifyFailure, type RecoveryChoice } from './classify.js';
import type { DecideRecoveryAction } from './recovery-loop.js';
import type {
  FailureSignal,
  RecoveryAction,
  RecoveryLog,
  RecoveryPolicy,
} from './recovery-types.js';

/** What the agent allows beyond the policy, and the history window. */
export interface RegressionPolicyOptions {
  /** Whether the agent has a patch hook (patch-forward is possible at all). */
  readonly canPatch: boolean;
  /** Now, in epoch ms (default: the newest prior log counts as recent, whatever its age). */
  readonly nowMs?: number;
  /** Held fixes older than this many ms before `nowMs` do not count (default one hour). */
  readonly windowMs?: number;
}

/** How long a held fix counts for the regression rule (one hour). */
export const REGRESSION_WINDOW_MS = 3_600_000;

const ALTERNATES: readonly RecoveryAction[] = ['patch_forward', 'rollback', 'retry'];

/**
 * A failure's signature: its class and its message lower-cased, with runs of digits replaced by
 * `#` (so "suite #4" and "suite #8", or two request ids, are the same failure) and cut at 200.
 */
export function failureSignature(signal: FailureSignal): string {
  const message = signal.message
    .toLowerCase()
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '#')
    .replace(/\d+/g, '#')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
  return `${classifyFailure(signal)}:${message}`;
}

/** Whether `log` was a recovery of the same failure: same stage, same signature. */
export function sameFailure(signal: FailureSignal, log: RecoveryLog): boolean {
  return (
    log.initial_failure.stage === signal.stage &&
    failureSignature(log.initial_failure) === failureSignature(signal)
  );
}

/** A decision override for a recovery run of `signal`, from the agent's earlier runs. */
export function regressionPolicy(
  signal: FailureSignal,
  priorLogs: readonly RecoveryLog[],
  policy: RecoveryPolicy,
  options: RegressionPolicyOptions,
): DecideRecoveryAction {
  const windowMs = options.windowMs ?? REGRESSION_WINDOW_MS;
  const held = priorLogs
    .filter((log) => log.outcome === 'recovered' && sameFailure(signal, log))
    .map((log) => ({ log, atMs: parseRfc3339(log.evaluated_at)?.ms ?? 0 }))
    .filter(({ atMs }) => options.nowMs === undefined || options.nowMs - atMs <= windowMs)
    .sort((a, b) => b.atMs - a.atMs);
  return (ctx): RecoveryChoice | undefined => {
    if (ctx.attempt !== 1 || held.length === 0) return undefined;
    // A flaky failure within its budget is retried: a recurrence, not a regression.
    if (ctx.proposed.action === 'retry' && ctx.signal.flaky_hint) return undefined;
    const latest = held[0]!.log;
    const where = `${ctx.failureClass} failure in ${signal.stage}`;
    const used = latest.decisions[latest.decisions.length - 1]?.action;
    const alternate = ALTERNATES.find(
      (a) =>
        a !== used &&
        (a !== 'patch_forward' || (policy.allow_patch_forward && options.canPatch)) &&
        (a !== 'rollback' || policy.allow_rollback),
    );
    return alternate === undefined
      ? {
          action: 'escalate',
          rationale: `regression: this ${where} came back after ${used ?? 'a fix'} held (run ${latest.run_id}) and no other action is allowed; escalating`,
        }
      : {
          action: alternate,
          rationale: `regression: this ${where} came back after ${used ?? 'a fix'} held (run ${latest.run_id}); trying ${alternate}`,
        };
  };
}

/**
 * Regression checks (aivcs-core `check_regression`): has this failure (same stage, same class)
 * been through recovery before, and what does that history advise?
 *
 * @example
 * import { checkRegression } from 'kerno';
 * const check = checkRegression(signal, priorLogs);
 * if (check.recommendation === 'escalate_immediately') escalate(check.prior_run_id);
 *
 * @module
 */
import { KernelError } from '../errors.js';
import { parseRfc3339 } from '../util/time.js';
import type { Instant } from '../util/time.js';
import { classifyFailure } from './classify.js';
import type { FailureSignal, RecoveryLog, RegressionCheck } from './recovery-types.js';

/**
 * Compares `signal` with prior recovery logs whose initial failure has the same stage (exact
 * match) and class. None: proceed normally. One: try an alternate action if it was recovered
 * (the fix did not hold), else escalate immediately. Two or more: escalate immediately. The
 * prior run reported is the most recent match by `evaluated_at` (ties keep input order).
 *
 * Throws `INVALID_ARGUMENT` when a matching log's `evaluated_at` is not RFC 3339.
 */
export function checkRegression(
  signal: FailureSignal,
  priorLogs: readonly RecoveryLog[],
): RegressionCheck {
  const currentClass = classifyFailure(signal);
  const matching = priorLogs
    .filter(
      (log) =>
        classifyFailure(log.initial_failure) === currentClass &&
        log.initial_failure.stage === signal.stage,
    )
    .map((log) => ({ log, at: instantOf(log) }));
  // Array#sort is stable, like Rust's sort_by: equal times keep their input order.
  matching.sort((a, b) => compareInstants(b.at, a.at));
  const latest = matching[0]?.log;
  if (latest === undefined) {
    return {
      is_regression: false,
      prior_outcome: null,
      prior_run_id: null,
      recommendation: 'proceed_normally',
    };
  }
  return {
    is_regression: true,
    prior_outcome: latest.outcome,
    prior_run_id: latest.run_id,
    recommendation:
      matching.length === 1 && latest.outcome === 'recovered'
        ? 'try_alternate_action'
        : 'escalate_immediately',
  };
}

function instantOf(log: RecoveryLog): Instant {
  const at = parseRfc3339(log.evaluated_at);
  if (at === undefined) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `RecoveryLog ${log.run_id} has evaluated_at ${JSON.stringify(log.evaluated_at)}, which is not RFC 3339; load logs with readRecoveryArtifact or parseRecoveryLog.`,
    );
  }
  return at;
}

function compareInstants(a: Instant, b: Instant): number {
  return a.ms !== b.ms ? a.ms - b.ms : a.subMsNanos - b.subMsNanos;
}

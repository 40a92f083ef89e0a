import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RECOVERY_POLICY,
  checkRegression,
  createFailureSignal,
  isKernelError,
} from '../../src/index.js';
import type { FailureSignal, RecoveryLog, RecoveryOutcome } from '../../src/index.js';

function priorLog(
  runId: string,
  initial: FailureSignal,
  outcome: RecoveryOutcome,
  evaluatedAt: string,
): RecoveryLog {
  return {
    run_id: runId,
    policy: DEFAULT_RECOVERY_POLICY,
    initial_failure: initial,
    decisions: [],
    outcome,
    attempts_used: 1,
    final_failure: outcome === 'recovered' ? null : initial,
    evaluated_at: evaluatedAt,
  };
}

const build = createFailureSignal('build', 'linker error');
const T = '2026-05-14T10:00:00Z';

describe('checkRegression', () => {
  it('proceeds normally without matching history', () => {
    expect(checkRegression(build, [])).toEqual({
      is_regression: false,
      prior_outcome: null,
      prior_run_id: null,
      recommendation: 'proceed_normally',
    });
  });

  it('matches on exact stage and on class', () => {
    const others = [
      // same class, other stage
      priorLog('a', createFailureSignal('compile', 'x'), 'recovered', T),
      // same stage, other class (stage "deploy": panic = runtime vs handshake = integration)
      priorLog('b', createFailureSignal('deploy', 'handshake failed'), 'recovered', T),
      // stage comparison is case-sensitive
      priorLog('c', createFailureSignal('Build', 'linker error'), 'recovered', T),
    ];
    expect(checkRegression(build, others).recommendation).toBe('proceed_normally');
    const deployPanic = createFailureSignal('deploy', 'panic in handler');
    expect(checkRegression(deployPanic, others).is_regression).toBe(false);
    // a different message of the same class and stage still matches
    const again = priorLog('d', createFailureSignal('build', 'compilation aborted'), 'failed', T);
    expect(checkRegression(build, [again]).is_regression).toBe(true);
  });

  it('after one recovered occurrence, advises an alternate action', () => {
    expect(checkRegression(build, [priorLog('r1', build, 'recovered', T)])).toEqual({
      is_regression: true,
      prior_outcome: 'recovered',
      prior_run_id: 'r1',
      recommendation: 'try_alternate_action',
    });
  });

  it('after one failed occurrence, escalates immediately', () => {
    expect(checkRegression(build, [priorLog('r1', build, 'failed', T)])).toEqual({
      is_regression: true,
      prior_outcome: 'failed',
      prior_run_id: 'r1',
      recommendation: 'escalate_immediately',
    });
  });

  it('after two occurrences, escalates and reports the most recent by instant', () => {
    // As strings, "…00Z" sorts after "…00.5Z"; as instants it is earlier.
    const logs = [
      priorLog('older', build, 'failed', '2026-05-14T10:00:00Z'),
      priorLog('newer', build, 'recovered', '2026-05-14T10:00:00.5Z'),
    ];
    expect(checkRegression(build, logs)).toEqual({
      is_regression: true,
      prior_outcome: 'recovered',
      prior_run_id: 'newer',
      recommendation: 'escalate_immediately',
    });
    expect(checkRegression(build, [...logs].reverse()).prior_run_id).toBe('newer');
  });

  it('orders by nanoseconds and by offset, and keeps input order on ties', () => {
    const nanos = [
      priorLog('n1', build, 'failed', '2026-05-14T10:00:00.000000001Z'),
      priorLog('n2', build, 'failed', '2026-05-14T10:00:00.000000002Z'),
      priorLog('n0', build, 'failed', '2026-05-14T11:59:59+02:00'),
    ];
    expect(checkRegression(build, nanos).prior_run_id).toBe('n2');
    const tie = [priorLog('first', build, 'failed', T), priorLog('second', build, 'failed', T)];
    expect(checkRegression(build, tie).prior_run_id).toBe('first');
  });

  it('rejects a matching log with an unparsable evaluated_at', () => {
    let caught: unknown;
    try {
      checkRegression(build, [priorLog('bad', build, 'failed', 'yesterday')]);
    } catch (error) {
      caught = error;
    }
    expect(isKernelError(caught, 'INVALID_ARGUMENT')).toBe(true);
    // The message names the log and the bad value, and says how to load logs.
    expect((caught as Error).message).toBe(
      'RecoveryLog bad has evaluated_at "yesterday", which is not RFC 3339; load logs with readRecoveryArtifact or parseRecoveryLog.',
    );
  });
});

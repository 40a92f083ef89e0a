import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RECOVERY_POLICY,
  createFailureSignal,
  createRecoveryPolicy,
} from '../../src/index.js';
import type {
  FailureSignal,
  RecoveryAction,
  RecoveryLog,
  RecoveryOutcome,
  RecoveryPolicy,
} from '../../src/index.js';
import {
  REGRESSION_WINDOW_MS,
  failureSignature,
  regressionPolicy,
} from '../../src/recovery/regression-policy.js';
import { RecoveryRun } from '../../src/recovery/recovery-loop.js';
import { ManualClock } from '../../src/util/clock.js';
import { formatChrono } from '../../src/util/time.js';

const T0 = Date.UTC(2026, 4, 14, 10);

function prior(
  runId: string,
  initial: FailureSignal,
  outcome: RecoveryOutcome,
  atMs: number,
  action: RecoveryAction,
): RecoveryLog {
  return {
    run_id: runId,
    policy: DEFAULT_RECOVERY_POLICY,
    initial_failure: initial,
    decisions: [{ attempt: 1, failure_class: 'test', action, rationale: 'x' }],
    outcome,
    attempts_used: 1,
    final_failure: outcome === 'recovered' ? null : initial,
    evaluated_at: formatChrono(atMs, 'Z'),
  };
}

/** A recovery run of `signal` with the regression policy over `logs`, decided at `clock`'s now. */
function runOf(
  signal: FailureSignal,
  logs: RecoveryLog[],
  clock: ManualClock,
  policy: RecoveryPolicy = DEFAULT_RECOVERY_POLICY,
  canPatch = true,
): RecoveryRun {
  return new RecoveryRun('now', signal, policy, {
    clock,
    decideAction: regressionPolicy(signal, logs, policy, { canPatch, nowMs: clock.now() }),
  });
}

const flaky = (n: number): FailureSignal =>
  createFailureSignal('test', `test failed: flaky network timeout in suite #${n}`, {
    flaky_hint: true,
  });
const panic = (id: string): FailureSignal =>
  createFailureSignal('serve', `panic: null pointer in request ${id}`);

describe('regressionPolicy', () => {
  it('the signature ignores digits and ids, not the words', () => {
    expect(failureSignature(flaky(4))).toBe(failureSignature(flaky(8)));
    expect(failureSignature(panic('0190f0a2-7a8e-7c3d-9f00-123456789abc'))).toBe(
      failureSignature(panic('17')),
    );
    expect(failureSignature(createFailureSignal('serve', 'panic: out of memory'))).not.toBe(
      failureSignature(panic('1')),
    );
  });

  it('a recurring flaky failure within its budget is retried, however often its retry held', () => {
    const clock = new ManualClock(T0);
    // The demo's story: suite #4 failed, the retry held; #8, #12, … fail the same way.
    const logs: RecoveryLog[] = [];
    for (let n = 4; n <= 40; n += 4) {
      clock.advance(12_000);
      const run = runOf(flaky(n), logs, clock);
      const decision = run.decide();
      expect(decision?.action).toBe('retry');
      expect(decision?.rationale).toBe('flaky signal detected; bounded retry permitted');
      logs.push({ ...run.finish('recovered'), run_id: `r${n}` });
    }
  });

  it('a flaky failure that comes back before its retry held spends the budget, then escalates', () => {
    const clock = new ManualClock(T0);
    const policy = createRecoveryPolicy({ allow_patch_forward: false });
    const run = runOf(flaky(4), [], clock, policy);
    expect(run.decide()?.action).toBe('retry');
    run.failed(flaky(5)); // the retry did not hold
    expect(run.decide()).toMatchObject({
      action: 'escalate',
      rationale: 'no safe automated action available under policy',
    });
  });

  it('a failure that recurs after a fix held is a regression: another action first', () => {
    const clock = new ManualClock(T0);
    const logs = [prior('held-1', panic('1'), 'recovered', T0 - 60_000, 'rollback')];
    const decision = runOf(panic('2'), logs, clock).decide();
    expect(decision).toMatchObject({ action: 'patch_forward' });
    expect(decision?.rationale).toBe(
      'regression: this runtime failure in serve came back after rollback held (run held-1); trying patch_forward',
    );
    // without a patch hook the alternate is a retry
    expect(runOf(panic('2'), logs, clock, DEFAULT_RECOVERY_POLICY, false).decide()?.action).toBe(
      'retry',
    );
  });

  it('a regression whose other action does not hold goes on by the class rule, then escalates', () => {
    const clock = new ManualClock(T0);
    const logs = [
      prior('held-1', panic('1'), 'recovered', T0 - 120_000, 'rollback'),
      prior('held-2', panic('2'), 'recovered', T0 - 60_000, 'rollback'),
    ];
    const policy = createRecoveryPolicy({ max_attempts: 3 });
    const run = runOf(panic('3'), logs, clock, policy, false);
    expect(run.decide()).toMatchObject({
      action: 'retry',
      rationale:
        'regression: this runtime failure in serve came back after rollback held (run held-2); trying retry',
    });
    run.failed(panic('3'));
    expect(run.decide()?.action).toBe('rollback');
    run.failed(panic('3'));
    expect(run.decide()?.action).toBe('rollback');
    run.failed(panic('3'));
    expect(run.decide()).toBeUndefined(); // attempts spent: the caller escalates
  });

  it('held fixes decay out of the window', () => {
    const clock = new ManualClock(T0);
    const logs = [
      prior('old-1', panic('1'), 'recovered', T0 - REGRESSION_WINDOW_MS - 2, 'rollback'),
      prior('old-2', panic('2'), 'recovered', T0 - REGRESSION_WINDOW_MS - 1, 'rollback'),
    ];
    expect(runOf(panic('3'), logs, clock).decide()).toMatchObject({
      action: 'rollback',
      rationale: 'runtime/integration failure; rollback is enabled',
    });
    // one of them inside the window: a regression again
    expect(runOf(panic('3'), logs, new ManualClock(T0 - 1)).decide()?.rationale).toMatch(
      /^regression: .*old-2/,
    );
  });

  it('no fix held (earlier runs failed) or another failure: not a regression', () => {
    const clock = new ManualClock(T0);
    const failed = [prior('f', panic('1'), 'failed', T0 - 1000, 'rollback')];
    expect(runOf(panic('2'), failed, clock).decide()?.action).toBe('rollback');
    const other = [
      prior('o1', createFailureSignal('serve', 'panic: out of memory'), 'recovered', T0, 'retry'),
      prior(
        'o2',
        createFailureSignal('deploy', 'panic: null pointer in request 1'),
        'recovered',
        T0,
        'retry',
      ),
    ];
    expect(runOf(panic('2'), other, clock).decide()?.action).toBe('rollback');
  });
});

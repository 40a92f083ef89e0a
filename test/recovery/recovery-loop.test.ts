import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  createFailureSignal,
  createRecoveryPolicy,
  errorMessage,
  executeRecoveryLoop,
  isKernelError,
} from '../../src/index.js';
import type {
  FailureSignal,
  RecoveryAction,
  RecoveryAttemptResult,
  RecoveryChoice,
  RecoveryPolicy,
} from '../../src/index.js';

const T0 = Date.parse('2026-05-14T10:00:00.000Z');

interface Call {
  attempt: number;
  action: RecoveryAction;
  signal: FailureSignal;
}

/** An apply callback that answers from a script and records its calls. */
function scripted(results: (RecoveryAttemptResult | Error)[], clock?: ManualClock) {
  const calls: Call[] = [];
  const apply = async (attempt: number, action: RecoveryAction, signal: FailureSignal) => {
    calls.push({ attempt, action, signal });
    await Promise.resolve();
    clock?.advance(250);
    const next = results.shift() ?? { success: false, next_failure: null };
    if (next instanceof Error) throw next;
    return next;
  };
  return { apply, calls };
}

const FAIL = { success: false, next_failure: null } as const;
const OK = { success: true, next_failure: null } as const;
const policy = createRecoveryPolicy();

describe('executeRecoveryLoop', () => {
  it('recovers on the second attempt and stamps evaluated_at from the clock at the end', async () => {
    const clock = new ManualClock(T0);
    const build = createFailureSignal('build', 'linker error', { exit_code: 1 });
    const { apply, calls } = scripted([FAIL, OK], clock);
    const log = await executeRecoveryLoop('run-1', build, policy, apply, { clock });
    expect(calls).toEqual([
      { attempt: 1, action: 'patch_forward', signal: build },
      { attempt: 2, action: 'patch_forward', signal: build },
    ]);
    expect(log).toEqual({
      run_id: 'run-1',
      policy,
      initial_failure: build,
      decisions: [
        {
          attempt: 1,
          failure_class: 'build',
          action: 'patch_forward',
          rationale: 'build/test failure; patch-forward is enabled',
        },
        {
          attempt: 2,
          failure_class: 'build',
          action: 'patch_forward',
          rationale: 'build/test failure; patch-forward is enabled',
        },
      ],
      outcome: 'recovered',
      attempts_used: 2,
      final_failure: null,
      evaluated_at: '2026-05-14T10:00:00.500Z',
    });
  });

  it('writes evaluated_at without fractional digits on a whole second, like chrono', async () => {
    const clock = new ManualClock(T0);
    const log = await executeRecoveryLoop(
      'r',
      createFailureSignal('build', ''),
      policy,
      () => Promise.resolve(OK),
      {
        clock,
      },
    );
    expect(log.evaluated_at).toBe('2026-05-14T10:00:00Z');
  });

  it('escalates an unknown failure without calling apply', async () => {
    const clock = new ManualClock(T0);
    const signal = createFailureSignal('deploy', 'connection refused');
    const { apply, calls } = scripted([OK]);
    const log = await executeRecoveryLoop('run-2', signal, policy, apply, { clock });
    expect(calls).toEqual([]);
    expect(log.outcome).toBe('failed');
    expect(log.attempts_used).toBe(1);
    expect(log.final_failure).toEqual(signal);
    expect(log.decisions).toEqual([
      {
        attempt: 1,
        failure_class: 'unknown',
        action: 'escalate',
        rationale: 'no safe automated action available under policy',
      },
    ]);
  });

  it('escalates mid-loop when the next failure has no safe action', async () => {
    const clock = new ManualClock(T0);
    const unknown = createFailureSignal('deploy', 'quota exceeded');
    const { apply, calls } = scripted([{ success: false, next_failure: unknown }]);
    const log = await executeRecoveryLoop('r', createFailureSignal('build', ''), policy, apply, {
      clock,
    });
    expect(calls).toHaveLength(1);
    expect(log.decisions.map((d) => d.action)).toEqual(['patch_forward', 'escalate']);
    expect(log).toMatchObject({ outcome: 'failed', attempts_used: 2, final_failure: unknown });
  });

  it('stops after max_attempts and reports the last failure', async () => {
    const clock = new ManualClock(T0);
    const runtime = createFailureSignal('runtime', 'segfault');
    const { apply, calls } = scripted([]);
    const log = await executeRecoveryLoop('r', runtime, policy, apply, { clock });
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(log.decisions.map((d) => d.action)).toEqual(['rollback', 'rollback', 'rollback']);
    expect(log).toMatchObject({ outcome: 'failed', attempts_used: 3, final_failure: runtime });
  });

  it('with max_attempts 0 records nothing and fails with the initial failure', async () => {
    const signal = createFailureSignal('build', '');
    const { apply, calls } = scripted([OK]);
    const zero = createRecoveryPolicy({ max_attempts: 0 });
    const log = await executeRecoveryLoop('r', signal, zero, apply, { clock: new ManualClock(T0) });
    expect(calls).toEqual([]);
    expect(log).toMatchObject({
      decisions: [],
      outcome: 'failed',
      attempts_used: 0,
      final_failure: signal,
    });
  });

  it('spends the flaky budget on plain retries, then patches forward', async () => {
    const flaky = createFailureSignal('test', 'timeout', { flaky_hint: true });
    const run = async (p: RecoveryPolicy) => {
      const { apply } = scripted([]);
      const log = await executeRecoveryLoop('r', flaky, p, apply, { clock: new ManualClock(T0) });
      return log.decisions.map((d) => d.action);
    };
    expect(await run(policy)).toEqual(['retry', 'patch_forward', 'patch_forward']);
    expect(await run(createRecoveryPolicy({ max_flaky_retries: 2 }))).toEqual([
      'retry',
      'retry',
      'patch_forward',
    ]);
    expect(await run(createRecoveryPolicy({ max_flaky_retries: 0 }))).toEqual([
      'patch_forward',
      'patch_forward',
      'patch_forward',
    ]);
  });

  it('replaces the current failure with next_failure, and keeps it when next_failure is null', async () => {
    const build = createFailureSignal('build', 'compilation error');
    const runtime = createFailureSignal('canary', 'panic: index out of bounds');
    const { apply, calls } = scripted([
      { success: false, next_failure: runtime },
      FAIL,
      { success: false, next_failure: null },
    ]);
    const log = await executeRecoveryLoop('r', build, policy, apply, {
      clock: new ManualClock(T0),
    });
    expect(calls).toEqual([
      { attempt: 1, action: 'patch_forward', signal: build },
      { attempt: 2, action: 'rollback', signal: runtime },
      { attempt: 3, action: 'rollback', signal: runtime },
    ]);
    expect(log.decisions.map((d) => d.failure_class)).toEqual(['build', 'runtime', 'runtime']);
    expect(log.initial_failure).toEqual(build);
    expect(log.final_failure).toEqual(runtime);
  });

  it('a new flaky failure after the budget is spent is patched forward', async () => {
    const flaky = createFailureSignal('test', 'a', { flaky_hint: true });
    const flaky2 = createFailureSignal('test', 'b', { flaky_hint: true });
    const { apply } = scripted([{ success: false, next_failure: flaky2 }, OK]);
    const log = await executeRecoveryLoop('r', flaky, policy, apply, {
      clock: new ManualClock(T0),
    });
    expect(log.decisions.map((d) => d.action)).toEqual(['retry', 'patch_forward']);
    expect(log.outcome).toBe('recovered');
  });

  it('treats a throwing apply as a failed attempt with a recovery-stage failure', async () => {
    const build = createFailureSignal('build', 'linker error');
    const { apply, calls } = scripted([new Error('disk full')]);
    const log = await executeRecoveryLoop('r', build, policy, apply, {
      clock: new ManualClock(T0),
    });
    const thrown = {
      stage: 'recovery',
      message: 'patch_forward attempt 1 threw: disk full',
      exit_code: null,
      flaky_hint: false,
    };
    expect(calls).toHaveLength(1);
    // "recovery" matches no keyword, so the next decision escalates.
    expect(log.decisions.map((d) => [d.failure_class, d.action])).toEqual([
      ['build', 'patch_forward'],
      ['unknown', 'escalate'],
    ]);
    expect(log).toMatchObject({ outcome: 'failed', attempts_used: 2, final_failure: thrown });
  });

  it('treats a malformed apply result like a throw', async () => {
    const apply = () => Promise.resolve({ succes: true } as unknown as RecoveryAttemptResult);
    const log = await executeRecoveryLoop('r', createFailureSignal('build', ''), policy, apply, {
      clock: new ManualClock(T0),
    });
    expect(log.outcome).toBe('failed');
    expect(log.final_failure?.stage).toBe('recovery');
    expect(log.final_failure?.message).toMatch(
      /^patch_forward attempt 1 threw: RecoveryAttemptResult is not valid: success/,
    );
  });

  describe('decideAction hook', () => {
    it('can escalate at once (e.g. after a regression check)', async () => {
      const { apply, calls } = scripted([OK]);
      const log = await executeRecoveryLoop('r', createFailureSignal('build', ''), policy, apply, {
        clock: new ManualClock(T0),
        decideAction: ({ attempt }) =>
          attempt === 1
            ? { action: 'escalate', rationale: 'regression: escalate immediately' }
            : undefined,
      });
      expect(calls).toEqual([]);
      expect(log.decisions).toEqual([
        {
          attempt: 1,
          failure_class: 'build',
          action: 'escalate',
          rationale: 'regression: escalate immediately',
        },
      ]);
      expect(log.outcome).toBe('failed');
    });

    it('sees the proposed decision and may keep it by returning undefined', async () => {
      const seen: unknown[] = [];
      const { apply, calls } = scripted([FAIL, OK]);
      await executeRecoveryLoop('r', createFailureSignal('build', ''), policy, apply, {
        clock: new ManualClock(T0),
        decideAction: (ctx) => {
          seen.push([ctx.attempt, ctx.failureClass, ctx.flakyRetriesUsed, ctx.proposed.action]);
          return ctx.attempt === 1
            ? { action: 'rollback', rationale: 'regression: try an alternate action' }
            : undefined;
        },
      });
      expect(seen).toEqual([
        [1, 'build', 0, 'patch_forward'],
        [2, 'build', 0, 'patch_forward'],
      ]);
      expect(calls.map((c) => c.action)).toEqual(['rollback', 'patch_forward']);
    });

    it('a non-retry action on a flaky failure leaves the flaky budget alone', async () => {
      const flaky = createFailureSignal('test', 'timeout', { flaky_hint: true });
      const seen: unknown[] = [];
      const { apply, calls } = scripted([]);
      const log = await executeRecoveryLoop('r', flaky, policy, apply, {
        clock: new ManualClock(T0),
        decideAction: (ctx) => {
          seen.push([ctx.attempt, ctx.flakyRetriesUsed, ctx.proposed.action]);
          return ctx.attempt === 1
            ? { action: 'rollback', rationale: 'roll back first' }
            : undefined;
        },
      });
      // The rollback did not spend the one flaky retry: attempt 2 still retries, attempt 3 not.
      expect(seen).toEqual([
        [1, 0, 'retry'],
        [2, 0, 'retry'],
        [3, 1, 'patch_forward'],
      ]);
      expect(calls.map((c) => c.action)).toEqual(['rollback', 'retry', 'patch_forward']);
      expect(log.decisions.map((d) => d.action)).toEqual(['rollback', 'retry', 'patch_forward']);
    });

    it('a retry of a failure that is not flaky does not spend the flaky budget', async () => {
      const build = createFailureSignal('build', 'linker error');
      const flaky = createFailureSignal('test', 'timeout', { flaky_hint: true });
      const spent: number[] = [];
      const { apply, calls } = scripted([{ success: false, next_failure: flaky }]);
      await executeRecoveryLoop('r', build, policy, apply, {
        clock: new ManualClock(T0),
        decideAction: (ctx) => {
          spent.push(ctx.flakyRetriesUsed);
          return ctx.attempt === 1 ? { action: 'retry', rationale: 'retry the build' } : undefined;
        },
      });
      expect(spent).toEqual([0, 0, 1]);
      expect(calls.map((c) => c.action)).toEqual(['retry', 'retry', 'patch_forward']);
    });

    it('records only the action and rationale of the hook’s choice', async () => {
      const { apply } = scripted([OK]);
      const log = await executeRecoveryLoop('r', createFailureSignal('build', ''), policy, apply, {
        clock: new ManualClock(T0),
        decideAction: () =>
          ({ action: 'rollback', rationale: 'why', secret: 'x' }) as unknown as RecoveryChoice,
      });
      expect(log.decisions).toEqual([
        { attempt: 1, failure_class: 'build', action: 'rollback', rationale: 'why' },
      ]);
    });

    it('rejects a hook result that is not undefined or a choice, before any attempt runs', async () => {
      for (const returned of [
        null,
        'rollback',
        42,
        [],
        {},
        { action: 'rollback' },
        { action: 'rollback', rationale: 7 },
        { action: 'rollback', rationale: null },
        { rationale: 'no action' },
      ]) {
        const { apply, calls } = scripted([OK]);
        const run = executeRecoveryLoop('r', createFailureSignal('build', ''), policy, apply, {
          clock: new ManualClock(T0),
          decideAction: () => returned as unknown as RecoveryChoice,
        });
        await expect(run).rejects.toSatisfy(
          (e) =>
            isKernelError(e, 'INVALID_ARGUMENT') &&
            e.message ===
              `decideAction returned ${errorMessage(returned)}; return { action: retry | patch_forward | rollback | escalate, rationale: string } or undefined.`,
        );
        expect(calls).toEqual([]);
      }
    });

    it('rejects an unknown action from the hook', async () => {
      const { apply } = scripted([]);
      const run = executeRecoveryLoop('r', createFailureSignal('build', ''), policy, apply, {
        clock: new ManualClock(T0),
        decideAction: () => ({ action: 'reboot' as RecoveryAction, rationale: '' }),
      });
      await expect(run).rejects.toSatisfy((e) => isKernelError(e, 'INVALID_ARGUMENT'));
    });
  });

  it('rejects a run id that is not a string', async () => {
    const { apply, calls } = scripted([OK]);
    await expect(
      executeRecoveryLoop(42 as unknown as string, createFailureSignal('build', ''), policy, apply),
    ).rejects.toSatisfy(
      (e) =>
        isKernelError(e, 'INVALID_ARGUMENT') &&
        e.message === 'A recovery run needs a string run id, got number.',
    );
    expect(calls).toEqual([]);
  });

  it('rejects an invalid policy or failure with INVALID_ARGUMENT', async () => {
    const { apply } = scripted([]);
    const badPolicy = { ...policy, max_attempts: -1 };
    await expect(
      executeRecoveryLoop('r', createFailureSignal('build', ''), badPolicy, apply),
    ).rejects.toSatisfy((e) => isKernelError(e, 'INVALID_ARGUMENT'));
    const badSignal = { stage: 'build' } as unknown as FailureSignal;
    await expect(executeRecoveryLoop('r', badSignal, policy, apply)).rejects.toThrow(
      /initial failure is not valid: message/,
    );
  });
});

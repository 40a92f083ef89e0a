import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  createFailureSignal,
  createRecoveryPolicy,
  executeRecoveryLoop,
  recoveryActionDebugName,
  recoveryLogToMemoryFields,
} from '../../src/index.js';
import type { FailureSignal, RecoveryAttemptResult, RecoveryPolicy } from '../../src/index.js';

async function run(
  runId: string,
  signal: FailureSignal,
  results: RecoveryAttemptResult[],
  policy: RecoveryPolicy = createRecoveryPolicy(),
) {
  return executeRecoveryLoop(
    runId,
    signal,
    policy,
    () => Promise.resolve(results.shift() ?? { success: false, next_failure: null }),
    { clock: new ManualClock(Date.parse('2026-05-14T10:00:00Z')) },
  );
}

describe('recoveryLogToMemoryFields', () => {
  it('summarises a recovered run', async () => {
    const log = await run('run-ok', createFailureSignal('build', 'linker error'), [
      { success: true, next_failure: null },
    ]);
    const summary =
      "Successful recovery for build failure in stage 'build': PatchForward in 1 attempt(s)";
    expect(recoveryLogToMemoryFields(log)).toEqual({
      summary,
      tags: ['recovery:recovered', 'failure:build', 'stage:build', 'run:run-ok'],
      tokenEstimate: 21, // 84 bytes / 4
    });
    expect(summary.length).toBe(84);
  });

  it('summarises a failed run with the last action (Rust Debug name)', async () => {
    const log = await run('run-bad', createFailureSignal('Deploy', 'segmentation fault'), []);
    expect(recoveryLogToMemoryFields(log)).toEqual({
      summary: "Failed recovery for runtime failure in stage 'Deploy': Rollback in 3 attempt(s)",
      tags: ['recovery:failed', 'failure:runtime', 'stage:Deploy', 'run:run-bad'],
      tokenEstimate: 19, // floor(79 / 4)
    });
    const escalated = await run('e', createFailureSignal('ops', 'quota'), []);
    expect(recoveryLogToMemoryFields(escalated).summary).toBe(
      "Failed recovery for unknown failure in stage 'ops': Escalate in 1 attempt(s)",
    );
  });

  it('tags flaky runs and names Retry', async () => {
    const log = await run(
      'run-flaky',
      createFailureSignal('test', 'timeout', { flaky_hint: true }),
      [{ success: true, next_failure: null }],
    );
    const fields = recoveryLogToMemoryFields(log);
    expect(fields.summary).toBe(
      "Successful recovery for test failure in stage 'test': Retry in 1 attempt(s)",
    );
    expect(fields.tags).toEqual([
      'recovery:recovered',
      'failure:test',
      'stage:test',
      'run:run-flaky',
      'flaky:true',
    ]);
  });

  it('says "none" without decisions and counts UTF-8 bytes for the estimate', async () => {
    const log = await run(
      'z',
      createFailureSignal('étape-build-üü', 'x'),
      [],
      createRecoveryPolicy({
        max_attempts: 0,
      }),
    );
    const { summary, tokenEstimate } = recoveryLogToMemoryFields(log);
    expect(summary).toBe(
      "Failed recovery for build failure in stage 'étape-build-üü': none in 0 attempt(s)",
    );
    // 81 UTF-16 units but 84 UTF-8 bytes (é, ü, ü are 2 bytes each): 84 / 4 = 21, not 20.
    expect(summary.length).toBe(81);
    expect(tokenEstimate).toBe(21);
  });

  it('renders every action as Rust Debug does', () => {
    expect(
      (['retry', 'patch_forward', 'rollback', 'escalate'] as const).map(recoveryActionDebugName),
    ).toEqual(['Retry', 'PatchForward', 'Rollback', 'Escalate']);
  });
});

import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RECOVERY_POLICY,
  RECOVERY_RATIONALES,
  classifyFailure,
  createFailureSignal,
  createRecoveryPolicy,
  decideRecoveryAction,
  isKernelError,
} from '../../src/index.js';
import type { FailureClass } from '../../src/index.js';

describe('classifyFailure', () => {
  const table: [stage: string, message: string, expected: FailureClass][] = [
    // build
    ['build', '', 'build'],
    ['Compile', '', 'build'],
    ['ci', 'Compilation failed', 'build'],
    ['ci', 'ld: LINKER ERROR: undefined symbol', 'build'],
    // test
    ['unit-test', '', 'test'],
    ['ci', 'Assertion `x > 0` failed', 'test'],
    ['ci', '3 TEST FAILED', 'test'],
    ['ci', 'snapshot mismatch in foo.snap', 'test'],
    // runtime
    ['Runtime', '', 'runtime'],
    ['ci', "thread 'main' PANICKED at src/main.rs", 'runtime'],
    ['ci', 'Segmentation fault (core dumped)', 'runtime'],
    ['ci', 'null pointer dereference', 'runtime'],
    // integration
    ['integration', '', 'integration'],
    ['ci', 'API contract violated', 'integration'],
    ['ci', 'TLS handshake timed out', 'integration'],
    ['ci', 'dependency unavailable: redis', 'integration'],
    // unknown
    ['deploy', 'connection refused', 'unknown'],
    ['', '', 'unknown'],
    // order: the first matching rule wins
    ['test', 'linker error', 'build'],
    ['integration-test', '', 'test'],
    ['runtime', 'snapshot mismatch', 'test'],
    ['runtime', 'contract broken', 'runtime'],
    ['integration', 'panic', 'runtime'],
    // keywords must appear in the right field
    ['ci', 'build', 'unknown'],
    ['panic', 'x', 'unknown'],
    ['compil', 'x', 'unknown'],
  ];
  it.each(table)('stage %j, message %j → %s', (stage, message, expected) => {
    expect(classifyFailure(createFailureSignal(stage, message))).toBe(expected);
  });
});

describe('decideRecoveryAction', () => {
  const policy = DEFAULT_RECOVERY_POLICY;
  const flakyTest = createFailureSignal('test', 'x', { flaky_hint: true });
  const plain = createFailureSignal('x', 'y');

  it('retries a flaky test failure while the flaky budget lasts', () => {
    expect(decideRecoveryAction('test', flakyTest, policy, 0)).toEqual({
      action: 'retry',
      rationale: 'flaky signal detected; bounded retry permitted',
    });
    expect(decideRecoveryAction('test', flakyTest, policy, 1).action).toBe('patch_forward');
    const two = createRecoveryPolicy({ max_flaky_retries: 2 });
    expect(decideRecoveryAction('test', flakyTest, two, 1).action).toBe('retry');
  });

  it('only retries flaky *test* failures', () => {
    expect(decideRecoveryAction('build', flakyTest, policy, 0).action).toBe('patch_forward');
    expect(decideRecoveryAction('runtime', flakyTest, policy, 0).action).toBe('rollback');
    expect(decideRecoveryAction('unknown', flakyTest, policy, 0).action).toBe('escalate');
  });

  it('patches build and test failures forward when allowed', () => {
    for (const cls of ['build', 'test'] as const) {
      expect(decideRecoveryAction(cls, plain, policy, 0)).toEqual({
        action: 'patch_forward',
        rationale: 'build/test failure; patch-forward is enabled',
      });
      const noPatch = createRecoveryPolicy({ allow_patch_forward: false });
      expect(decideRecoveryAction(cls, plain, noPatch, 0)).toEqual({
        action: 'escalate',
        rationale: 'no safe automated action available under policy',
      });
    }
  });

  it('rolls runtime and integration failures back when allowed', () => {
    for (const cls of ['runtime', 'integration'] as const) {
      expect(decideRecoveryAction(cls, plain, policy, 0)).toEqual({
        action: 'rollback',
        rationale: 'runtime/integration failure; rollback is enabled',
      });
      const noRollback = createRecoveryPolicy({ allow_rollback: false });
      expect(decideRecoveryAction(cls, plain, noRollback, 0).action).toBe('escalate');
    }
  });

  it('escalates unknown failures even when everything is allowed', () => {
    expect(decideRecoveryAction('unknown', plain, policy, 0)).toEqual({
      action: 'escalate',
      rationale: RECOVERY_RATIONALES.escalate,
    });
  });

  it('a flaky test with no flaky budget and no patch-forward escalates', () => {
    const strict = createRecoveryPolicy({ max_flaky_retries: 0, allow_patch_forward: false });
    expect(decideRecoveryAction('test', flakyTest, strict, 0).action).toBe('escalate');
  });
});

describe('policy and signal factories', () => {
  it('has the reference defaults', () => {
    expect(DEFAULT_RECOVERY_POLICY).toEqual({
      max_attempts: 3,
      max_flaky_retries: 1,
      allow_patch_forward: true,
      allow_rollback: true,
    });
    expect(createRecoveryPolicy({ max_attempts: 5 })).toEqual({
      ...DEFAULT_RECOVERY_POLICY,
      max_attempts: 5,
    });
  });

  it('builds a signal like FailureSignal::new', () => {
    expect(createFailureSignal('build', 'boom')).toEqual({
      stage: 'build',
      message: 'boom',
      exit_code: null,
      flaky_hint: false,
    });
  });

  it.each([{ max_attempts: -1 }, { max_attempts: 1.5 }, { max_flaky_retries: 2 ** 32 }])(
    'rejects policy %j',
    (bad) => {
      expect(() => createRecoveryPolicy(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    },
  );

  it('rejects an exit code outside i32', () => {
    let caught: unknown;
    try {
      createFailureSignal('x', 'y', { exit_code: 2 ** 31 });
    } catch (error) {
      caught = error;
    }
    expect(isKernelError(caught, 'INVALID_ARGUMENT')).toBe(true);
  });
});

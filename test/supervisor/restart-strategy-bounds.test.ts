/**
 * The edges of the restart options: every bound a user can hit when configuring a supervisor
 * (zero, equal, negative, non-finite), what each accepted value does, and what each rejected one
 * says. Found by mutation testing (docs/testing.md).
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BACKOFF,
  DEFAULT_RESTART_INTENSITY,
  KernelError,
  ManualClock,
  backoffDelay,
  createRestartIntensity,
  resolveBackoff,
  resolveIntensity,
  restartScope,
  type BackoffPolicy,
  type Random,
} from '../../src/index.js';

/** A random source that always answers `value` and counts how often it was asked. */
function fixed(value: number): Random & { readonly draws: number } {
  let draws = 0;
  return {
    fill: (t) => t,
    float: () => {
      draws++;
      return value;
    },
    get draws() {
      return draws;
    },
  };
}

/** The `INVALID_ARGUMENT` message `fn` throws (fails the test when it does not throw one). */
function rejection(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KernelError);
    expect((error as KernelError).code).toBe('INVALID_ARGUMENT');
    return (error as KernelError).message;
  }
  throw new Error('expected INVALID_ARGUMENT, nothing was thrown');
}

describe('restart intensity options', () => {
  it('defaults to 3 restarts in 5 s and returns a frozen policy', () => {
    const resolved = resolveIntensity();
    expect(resolved).toEqual({ maxRestarts: 3, periodMs: 5_000 });
    expect(resolved).toEqual(DEFAULT_RESTART_INTENSITY);
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(resolveIntensity({ periodMs: 10 })).toEqual({ maxRestarts: 3, periodMs: 10 });
    expect(resolveIntensity({ maxRestarts: 7 })).toEqual({ maxRestarts: 7, periodMs: 5_000 });
  });

  it('accepts maxRestarts 0 (escalate on the first failure) and periodMs 0 (no window)', () => {
    expect(resolveIntensity({ maxRestarts: 0, periodMs: 0 })).toEqual({
      maxRestarts: 0,
      periodMs: 0,
    });
    const clock = new ManualClock(0);
    const noWindow = createRestartIntensity({ maxRestarts: 1, periodMs: 0 }, clock);
    expect(noWindow.tryRecord()).toBe(true);
    // With no window a restart is forgotten at once, so the supervisor never escalates.
    expect(noWindow.tryRecord()).toBe(true);
    expect(noWindow.count).toBe(0);
  });

  it('rejects a negative, fractional or non-numeric maxRestarts and names the option', () => {
    for (const maxRestarts of [-1, -0.5, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3'])
      expect(
        rejection(() => resolveIntensity({ maxRestarts } as unknown as { maxRestarts: number })),
      ).toBe(`intensity.maxRestarts must be an integer ≥ 0, got ${String(maxRestarts)}`);
  });

  it('rejects a negative, infinite or non-numeric period and names the option', () => {
    for (const periodMs of [-1, Number.POSITIVE_INFINITY, Number.NaN, '5'])
      expect(
        rejection(() => resolveIntensity({ periodMs } as unknown as { periodMs: number })),
      ).toBe(`intensity.periodMs must be a finite number ≥ 0, got ${String(periodMs)}`);
  });

  it('forgets a restart exactly periodMs later, not a millisecond before', () => {
    const clock = new ManualClock(0);
    const counter = createRestartIntensity({ maxRestarts: 1, periodMs: 1_000 }, clock);
    expect(counter.tryRecord()).toBe(true);
    clock.advance(999);
    expect(counter.count).toBe(1);
    expect(counter.tryRecord()).toBe(false);
    clock.advance(1);
    expect(counter.count).toBe(0);
    expect(counter.tryRecord()).toBe(true);
  });
});

describe('backoff options', () => {
  it('defaults to 100 ms doubling to 30 s with 20 % jitter, frozen, no resetMs', () => {
    const resolved = resolveBackoff();
    expect(resolved).toEqual({ ...DEFAULT_BACKOFF, resetMs: undefined });
    expect(resolved).toEqual({
      baseMs: 100,
      maxMs: 30_000,
      factor: 2,
      jitter: 0.2,
      resetMs: undefined,
    });
    expect(Object.isFrozen(resolved)).toBe(true);
  });

  it('keeps resetMs (the run length that resets the backoff), including 0', () => {
    expect(resolveBackoff({ resetMs: 2_500 }).resetMs).toBe(2_500);
    expect(resolveBackoff({ resetMs: 0 }).resetMs).toBe(0);
    expect(rejection(() => resolveBackoff({ resetMs: -1 }))).toBe(
      'backoff.resetMs must be a finite number ≥ 0, got -1',
    );
    expect(rejection(() => resolveBackoff({ resetMs: Number.NaN }))).toBe(
      'backoff.resetMs must be a finite number ≥ 0, got NaN',
    );
  });

  it('raises the default maxMs to a baseMs above 30 s instead of rejecting it', () => {
    expect(resolveBackoff({ baseMs: 60_000 })).toMatchObject({ baseMs: 60_000, maxMs: 60_000 });
    expect(resolveBackoff({ baseMs: 10 })).toMatchObject({ baseMs: 10, maxMs: 30_000 });
  });

  it('accepts maxMs equal to baseMs (a constant delay) and rejects maxMs below it', () => {
    const constant = resolveBackoff({ baseMs: 250, maxMs: 250, jitter: 0 });
    for (const n of [0, 1, 5]) expect(backoffDelay(constant, n, fixed(0.5))).toBe(250);
    expect(rejection(() => resolveBackoff({ baseMs: 250, maxMs: 249 }))).toBe(
      'backoff.maxMs (249) must be ≥ backoff.baseMs (250)',
    );
    expect(rejection(() => resolveBackoff({ maxMs: -5 }))).toBe(
      'backoff.maxMs must be a finite number ≥ 0, got -5',
    );
  });

  it('accepts factor 1 (no growth) and rejects factors below 1, infinite or not numbers', () => {
    const flat = resolveBackoff({ baseMs: 40, factor: 1, jitter: 0 });
    expect([0, 1, 2, 10].map((n) => backoffDelay(flat, n, fixed(0)))).toEqual([40, 40, 40, 40]);
    for (const factor of [0.99, 0, -2, Number.POSITIVE_INFINITY, Number.NaN, '2'])
      expect(rejection(() => resolveBackoff({ factor } as unknown as { factor: number }))).toBe(
        `backoff.factor must be a finite number ≥ 1, got ${String(factor)}`,
      );
  });

  it('accepts jitter 0 and 1 and rejects negative, above 1 or non-numeric jitter', () => {
    expect(resolveBackoff({ jitter: 0 }).jitter).toBe(0);
    expect(resolveBackoff({ jitter: 1 }).jitter).toBe(1);
    for (const jitter of [-0.1, -1, 1.01, Number.NaN, '0.5'])
      expect(rejection(() => resolveBackoff({ jitter } as unknown as { jitter: number }))).toBe(
        `backoff.jitter must be a number from 0 to 1, got ${String(jitter)}`,
      );
  });

  it('rejects a negative or infinite baseMs', () => {
    for (const baseMs of [-1, Number.POSITIVE_INFINITY])
      expect(rejection(() => resolveBackoff({ baseMs }))).toBe(
        `backoff.baseMs must be a finite number ≥ 0, got ${String(baseMs)}`,
      );
  });
});

describe('backoff delay', () => {
  const policy = (p: Partial<BackoffPolicy>): BackoffPolicy => resolveBackoff(p);

  it('without jitter draws no randomness, so a seeded sequence stays reproducible', () => {
    const random = fixed(0.5);
    expect(backoffDelay(policy({ baseMs: 100, jitter: 0 }), 3, random)).toBe(800);
    expect(random.draws).toBe(0);
    expect(backoffDelay(policy({ baseMs: 100, jitter: 0.5 }), 3, random)).toBe(600);
    expect(random.draws).toBe(1);
  });

  it('with baseMs 0 restarts at once and draws no randomness, whatever the jitter', () => {
    const random = fixed(0.5);
    expect(backoffDelay(policy({ baseMs: 0, jitter: 0.5 }), 3, random)).toBe(0);
    expect(backoffDelay(policy({ baseMs: 0, jitter: 1 }), 0, random)).toBe(0);
    expect(random.draws).toBe(0);
  });

  it('treats a negative restart count as the first restart', () => {
    const p = policy({ baseMs: 100, factor: 3, jitter: 0 });
    expect(backoffDelay(p, -2, fixed(0))).toBe(100);
    expect(backoffDelay(p, 2, fixed(0))).toBe(900);
  });

  it('rounds to whole milliseconds and never exceeds maxMs', () => {
    const p = policy({ baseMs: 10, maxMs: 1_000, factor: 1.5, jitter: 0.5 });
    expect(backoffDelay(p, 1, fixed(0.3))).toBe(13); // 15 × 0.85 = 12.75
    expect(backoffDelay(p, 40, fixed(0))).toBe(1_000);
  });
});

describe('restart scope', () => {
  it('always restarts the failed child, even one already marked finished', () => {
    const live = [true, true, false, true];
    expect(restartScope('one_for_one', 2, live)).toEqual([2]);
    expect(restartScope('rest_for_one', 2, live)).toEqual([2, 3]);
    expect(restartScope('one_for_all', 2, live)).toEqual([0, 1, 2, 3]);
    expect(restartScope('rest_for_one', 3, live)).toEqual([3]);
  });
});

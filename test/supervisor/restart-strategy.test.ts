import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  backoffDelay,
  createRestartIntensity,
  isKernelError,
  resolveBackoff,
  resolveIntensity,
  restartScope,
  seededRandom,
  shouldRestart,
  type Random,
} from '../../src/index.js';

const fixed = (value: number): Random => ({ fill: (t) => t, float: () => value });

describe('backoff', () => {
  it('grows by the factor, is capped at maxMs, and jitter stays within [d·(1−j), d]', () => {
    const policy = resolveBackoff({ baseMs: 100, factor: 2, maxMs: 1_000, jitter: 0.5 });
    const random = seededRandom(42);
    for (let n = 0; n < 8; n++) {
      const d = Math.min(1_000, 100 * 2 ** n);
      const seen: number[] = [];
      for (let i = 0; i < 500; i++) seen.push(backoffDelay(policy, n, random));
      expect(Math.min(...seen)).toBeGreaterThanOrEqual(Math.round(d * 0.5));
      expect(Math.max(...seen)).toBeLessThanOrEqual(d);
      // The jitter really spreads the delays over most of the range.
      expect(Math.max(...seen) - Math.min(...seen)).toBeGreaterThan(d * 0.4);
    }
    expect(backoffDelay(policy, 3, fixed(0))).toBe(800);
    expect(backoffDelay(policy, 3, fixed(0.999_999))).toBe(400);
  });

  it('full jitter can reach 0, no jitter is exact, baseMs 0 never waits', () => {
    const full = resolveBackoff({ baseMs: 100, jitter: 1 });
    expect(backoffDelay(full, 0, fixed(0.999_999))).toBe(0);
    expect(backoffDelay(resolveBackoff({ baseMs: 100, jitter: 0 }), 2, seededRandom(1))).toBe(400);
    expect(backoffDelay(resolveBackoff({ baseMs: 0 }), 10, seededRandom(1))).toBe(0);
  });

  it('rejects nonsense with INVALID_ARGUMENT', () => {
    for (const bad of [
      { baseMs: -1 },
      { baseMs: 10, maxMs: 5 },
      { factor: 0.5 },
      { jitter: 2 },
      { jitter: Number.NaN },
    ])
      expect(() => resolveBackoff(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      );
    try {
      resolveIntensity({ maxRestarts: 1.5 });
      expect.unreachable();
    } catch (error) {
      expect(isKernelError(error, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});

describe('restart intensity', () => {
  it('allows maxRestarts inside the window, refuses one more, and forgets old restarts', () => {
    const clock = new ManualClock(0);
    const counter = createRestartIntensity({ maxRestarts: 2, periodMs: 1_000 }, clock);
    expect(counter.tryRecord()).toBe(true);
    clock.advance(500);
    expect(counter.tryRecord()).toBe(true);
    expect(counter.tryRecord()).toBe(false);
    clock.advance(500); // the first restart (t=0) leaves the window
    expect(counter.count).toBe(1);
    expect(counter.tryRecord()).toBe(true);
    expect(counter.tryRecord()).toBe(false);
  });

  it('maxRestarts 0 escalates on the first restart', () => {
    const counter = createRestartIntensity({ maxRestarts: 0, periodMs: 1_000 }, new ManualClock());
    expect(counter.tryRecord()).toBe(false);
  });
});

describe('restart rules', () => {
  it('restart types', () => {
    expect([true, false].map((f) => shouldRestart('permanent', f))).toEqual([true, true]);
    expect([true, false].map((f) => shouldRestart('transient', f))).toEqual([true, false]);
    expect([true, false].map((f) => shouldRestart('temporary', f))).toEqual([false, false]);
  });

  it('strategies pick the children to restart, skipping finished ones', () => {
    const live = [true, false, true, true, true];
    expect(restartScope('one_for_one', 2, live)).toEqual([2]);
    expect(restartScope('one_for_all', 2, live)).toEqual([0, 2, 3, 4]);
    expect(restartScope('rest_for_one', 2, live)).toEqual([2, 3, 4]);
    expect(restartScope('rest_for_one', 0, [true, false, true])).toEqual([0, 2]);
  });
});

/**
 * OTP restart rules: which children a failure restarts (strategy), whether a child is restarted
 * at all (restart type), how often a supervisor may restart before it gives up (intensity), and
 * how long it waits first (exponential backoff with jitter).
 *
 * @example
 * import { backoffDelay, createRestartIntensity, resolveBackoff, seededRandom, systemClock } from 'kerno';
 * const policy = resolveBackoff({ baseMs: 100, maxMs: 10_000, jitter: 0.5 });
 * backoffDelay(policy, 3, seededRandom(1)); // between 400 and 800 ms
 * const intensity = createRestartIntensity({ maxRestarts: 3, periodMs: 5_000 }, systemClock);
 * intensity.tryRecord(); // true until a 4th restart falls inside 5 s
 *
 * @module
 */
import { KernelError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';

/** Which children a failed child takes down with it (OTP supervisor strategies). */
export const RESTART_STRATEGIES = ['one_for_one', 'one_for_all', 'rest_for_one'] as const;
/**
 * `one_for_one`: only the failed child restarts. `one_for_all`: every live child is stopped (in
 * reverse order) and all restart (in order). `rest_for_one`: the failed child and the children
 * started after it are stopped and restarted.
 */
export type RestartStrategy = (typeof RESTART_STRATEGIES)[number];

/** When a child is restarted (OTP restart types). */
export const RESTART_TYPES = ['permanent', 'transient', 'temporary'] as const;
/**
 * `permanent`: after any exit, normal or not. `transient`: only after a failure. `temporary`:
 * never.
 */
export type RestartType = (typeof RESTART_TYPES)[number];

/** How many restarts a supervisor may make in a sliding window before it escalates. */
export interface RestartIntensity {
  /** Restarts allowed inside the window; one more escalates (default 3). */
  readonly maxRestarts: number;
  /** The window, in milliseconds (default 5000). */
  readonly periodMs: number;
}

/** Exponential backoff before a restart: `min(maxMs, baseMs × factor^n)`, minus jitter. */
export interface BackoffPolicy {
  /** Delay of the first restart (default 100 ms; 0 restarts at once). */
  readonly baseMs: number;
  /** Upper bound of any delay (default 30 000 ms). */
  readonly maxMs: number;
  /** Growth per consecutive restart (default 2). */
  readonly factor: number;
  /**
   * Fraction of the delay that is random, from 0 (none) to 1 (full jitter: anywhere from 0 to
   * the computed delay). Default 0.2.
   */
  readonly jitter: number;
  /**
   * A run that lasted at least this long resets the child's consecutive-restart count, so the
   * next failure waits `baseMs` again (default: the intensity period).
   */
  readonly resetMs?: number | undefined;
}

/** The default intensity: 3 restarts in 5 seconds. */
export const DEFAULT_RESTART_INTENSITY: RestartIntensity = Object.freeze({
  maxRestarts: 3,
  periodMs: 5_000,
});

/** The default backoff: 100 ms doubling up to 30 s, 20 % jitter. */
export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({
  baseMs: 100,
  maxMs: 30_000,
  factor: 2,
  jitter: 0.2,
});

function bad(message: string): KernelError {
  return new KernelError('INVALID_ARGUMENT', message);
}

function nonNegative(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw bad(`${what} must be a finite number ≥ 0, got ${String(value)}`);
  return value;
}

/** Fills in and checks an intensity; `INVALID_ARGUMENT` on nonsense values. */
export function resolveIntensity(input: Partial<RestartIntensity> = {}): RestartIntensity {
  const maxRestarts = input.maxRestarts ?? DEFAULT_RESTART_INTENSITY.maxRestarts;
  if (!Number.isSafeInteger(maxRestarts) || maxRestarts < 0)
    throw bad(`intensity.maxRestarts must be an integer ≥ 0, got ${String(maxRestarts)}`);
  const periodMs = nonNegative(
    input.periodMs ?? DEFAULT_RESTART_INTENSITY.periodMs,
    'intensity.periodMs',
  );
  return Object.freeze({ maxRestarts, periodMs });
}

/** Fills in and checks a backoff policy; `INVALID_ARGUMENT` on nonsense values. */
export function resolveBackoff(input: Partial<BackoffPolicy> = {}): BackoffPolicy {
  const baseMs = nonNegative(input.baseMs ?? DEFAULT_BACKOFF.baseMs, 'backoff.baseMs');
  const maxMs = nonNegative(
    input.maxMs ?? Math.max(baseMs, DEFAULT_BACKOFF.maxMs),
    'backoff.maxMs',
  );
  if (maxMs < baseMs) throw bad(`backoff.maxMs (${maxMs}) must be ≥ backoff.baseMs (${baseMs})`);
  const factor = input.factor ?? DEFAULT_BACKOFF.factor;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1)
    throw bad(`backoff.factor must be a finite number ≥ 1, got ${String(factor)}`);
  const jitter = input.jitter ?? DEFAULT_BACKOFF.jitter;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1))
    throw bad(`backoff.jitter must be a number from 0 to 1, got ${String(jitter)}`);
  const resetMs =
    input.resetMs === undefined ? undefined : nonNegative(input.resetMs, 'backoff.resetMs');
  return Object.freeze({ baseMs, maxMs, factor, jitter, resetMs });
}

/**
 * The delay before the restart that follows `consecutive` earlier consecutive restarts (0 for
 * the first): `d = min(maxMs, baseMs × factor^consecutive)`, then `d × (1 − jitter × r)` with `r`
 * from `random`, so the result lies in `[d × (1 − jitter), d]`. Whole milliseconds.
 */
export function backoffDelay(policy: BackoffPolicy, consecutive: number, random: Random): number {
  if (policy.baseMs === 0) return 0;
  const raw = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.max(0, consecutive));
  const jittered = policy.jitter === 0 ? raw : raw * (1 - policy.jitter * random.float());
  return Math.max(0, Math.min(policy.maxMs, Math.round(jittered)));
}

/** Whether a child of this restart type restarts after an exit (`failed`: abnormal exit). */
export function shouldRestart(type: RestartType, failed: boolean): boolean {
  return type === 'permanent' || (type === 'transient' && failed);
}

/**
 * The children a restart of `failedIndex` takes along, as indexes into the supervisor's child
 * list (start order), for the given strategy. `live` says which children take part (a child
 * that has finished for good stays finished).
 */
export function restartScope(
  strategy: RestartStrategy,
  failedIndex: number,
  live: readonly boolean[],
): number[] {
  const out: number[] = [];
  for (let i = 0; i < live.length; i++) {
    const inScope =
      i === failedIndex ||
      (live[i] === true &&
        (strategy === 'one_for_all' || (strategy === 'rest_for_one' && i > failedIndex)));
    if (inScope) out.push(i);
  }
  return out;
}

/** A sliding-window restart counter (OTP's MaxR restarts in MaxT). */
export interface RestartIntensityCounter {
  /** Records a restart if the window allows one more; `false` means: escalate. */
  tryRecord(): boolean;
  /** Restarts inside the current window. */
  readonly count: number;
}

/** Creates the restart counter of one supervisor. */
export function createRestartIntensity(
  intensity: RestartIntensity,
  clock: Clock,
): RestartIntensityCounter {
  const times: number[] = [];
  const prune = (): void => {
    const from = clock.now() - intensity.periodMs;
    while (times.length > 0 && times[0]! <= from) times.shift();
  };
  return {
    tryRecord(): boolean {
      prune();
      if (times.length >= intensity.maxRestarts) return false;
      times.push(clock.now());
      return true;
    },
    get count(): number {
      prune();
      return times.length;
    },
  };
}

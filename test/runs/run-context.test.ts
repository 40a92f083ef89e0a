/**
 * `ctx` inside a durable run, on the memory store with a manual clock (fast: no database, no
 * process): step keys, recorded results replayed without running again, the retry policy and
 * its backoff arithmetic, timeouts, non-JSON results, NONDETERMINISM naming both calls, durable
 * sleeps, signal waits with a timeout, `StepFailedError`, the `usage` option, the argument
 * checks of every call, approvals and guarded steps. Errors are asserted word for word where
 * the agent's author (or an operator reading a failed run) sees them.
 */
import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KernelError } from '../../src/errors.js';
import type { KernelEvent } from '../../src/model/kernel-event.js';
import type { RuleDecision } from '../../src/policies/rules.js';
import { journalView, readJournal } from '../../src/runs/journal.js';
import {
  StepFailedError,
  type RunApprovalDecision,
  type RunApprovalRequest,
  type RunAuthorizeRequest,
  type RunContext,
  type StepRetryPolicy,
} from '../../src/runs/run-context.js';
import {
  createRunEngine,
  type RunEngine,
  type RunEngineOptions,
  type RunInfo,
} from '../../src/runs/run-engine.js';
import type { Storage } from '../../src/storage/storage.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { ManualClock } from '../../src/util/clock.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { deferred } from '../../src/util/deferred.js';
import { silentLogger } from '../../src/util/logger.js';

const T0 = Date.UTC(2026, 11, 7);
const HOLD_MS = 1000;

let storage: Storage;
let clock: ManualClock;
const engines: RunEngine[] = [];

beforeEach(async () => {
  storage = await openStorage('memory:');
  clock = new ManualClock(T0);
});
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  await storage.close();
});

async function engine(extra: Partial<RunEngineOptions> = {}): Promise<RunEngine> {
  const e = await createRunEngine({
    log: storage.log,
    clock,
    ids: createUuidV7({ clock }),
    logger: silentLogger,
    holdMs: HOLD_MS,
    retention: false,
    ...extra,
  });
  engines.push(e);
  return e;
}

/** One turn of the event loop (lets the run's pending promises move on). */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits (turn by turn, never by time) until `cond` holds. */
async function settle(cond: () => boolean, what = 'the condition'): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await tick();
  if (!cond()) throw new Error(`${what} never came true`);
}

/** The delay of the next timer on the manual clock, once one is set. */
async function nextDelay(): Promise<number> {
  await settle(() => clock.pendingTimers > 0, 'a pending timer');
  return clock.nextTimerAt()! - clock.now();
}

/** Resolves once run `id` satisfies `pred` (checked now and at every status change). */
function until(runs: RunEngine, id: string, pred: (info: RunInfo) => boolean): Promise<RunInfo> {
  return new Promise((resolve, reject) => {
    let done = false;
    const check = (): void => {
      runs.get(id).then((info) => {
        if (done || !pred(info)) return;
        done = true;
        off();
        resolve(info);
      }, reject);
    };
    const off = runs.onStatus((run) => {
      if (run.id === id) check();
    });
    check();
  });
}

function journalOf(runId: string) {
  return readJournal(journalView(storage.log, runId, () => clock.now()));
}

/** The code and message of what `p` rejects with. */
async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (error) {
    const e = error as { code?: string; message: string };
    return { ...(e.code === undefined ? {} : { code: e.code }), message: e.message };
  }
  throw new Error('expected a rejection');
}

const nondeterminism = (runId: string, asked: string, call: number, recorded: string): string =>
  `Run ${runId} asked for ${asked} at call ${String(call)}, but its journal recorded ${recorded} there: the agent's code changed or does not make the same calls in the same order on a replay`;

describe('ctx.step keys and replay', () => {
  it('keys steps by name and occurrence or an explicit key, and replays recorded results without calling fn', async () => {
    const runs = await engine();
    const calls: string[] = [];
    const scopes: [string, number][] = [];
    let executions = 0;
    runs.define({
      name: 'keys',
      run: async (ctx: RunContext) => {
        executions++;
        const a1 = await ctx.step('a', (s) => {
          calls.push('a1');
          scopes.push([s.idempotencyKey, s.attempt]);
          return { n: 1 };
        });
        const a2 = await ctx.step('a', (s) => {
          calls.push('a2');
          scopes.push([s.idempotencyKey, s.attempt]);
          return [a1.n + 1];
        });
        const custom = await ctx.step(
          'b',
          (s) => {
            calls.push('custom');
            scopes.push([s.idempotencyKey, s.attempt]);
            return 'custom';
          },
          { key: 'charge-7' },
        );
        // an explicit key takes no occurrence: this is still b#1
        const plain = await ctx.step('b', () => (calls.push('b'), 'plain'));
        const nothing = await ctx.step('void', () => void calls.push('void'));
        await ctx.sleep(60_000); // longer than holdMs: suspends, then runs again from the top
        return { a1, a2, custom, plain, nothing: nothing === undefined, executions };
      },
    });
    const run = await runs.start('keys');
    const asleep = await until(runs, run.id, (r) => r.status === 'sleeping');
    expect(asleep.waitingFor).toEqual({
      kind: 'sleep',
      until: new Date(T0 + 60_000).toISOString(),
    });
    clock.advance(60_000);
    await expect(run.result()).resolves.toEqual({
      a1: { n: 1 },
      a2: [2],
      custom: 'custom',
      plain: 'plain',
      nothing: true,
      executions: 2,
    });
    expect(calls).toEqual(['a1', 'a2', 'custom', 'b', 'void']);
    expect(scopes).toEqual([
      [`${run.id}:a#1`, 1],
      [`${run.id}:a#2`, 1],
      [`${run.id}:charge-7`, 1],
    ]);
    const journal = await journalOf(run.id);
    expect(journal.map((e) => [e.type, e.key, 'call' in e ? e.call : null])).toEqual([
      ['step', 'a#1', 0],
      ['step', 'a#2', 1],
      ['step', 'charge-7', 2],
      ['step', 'b#1', 3],
      ['step', 'void#1', 4],
      ['sleep', 'sleep#1', 5],
    ]);
    expect(journal[0]).toMatchObject({ result: '{"n":1}', attempts: 1, atMs: T0, startedAtMs: T0 });
    expect(journal[4]).not.toHaveProperty('result');
    expect(journal[4]).not.toHaveProperty('resume');
    expect(journal[5]).toMatchObject({ wakeAtMs: T0 + 60_000 });
  });

  it('returns the value the step function returned (not a copy) when it recorded it', async () => {
    const runs = await engine();
    const value = { list: [1, 2] };
    runs.define({
      name: 'same',
      run: async (ctx: RunContext) => (await ctx.step('v', () => value)) === value,
    });
    await expect((await runs.start('same')).result()).resolves.toBe(true);
  });

  it('refuses an empty step name and a result that is not plain JSON, recording nothing', async () => {
    const runs = await engine();
    runs.define({
      name: 'bad',
      run: async (ctx: RunContext) => {
        const empty = await failure(ctx.step('', () => 1));
        const notName = await failure(ctx.step(7 as never, () => 1));
        const date = await failure(ctx.step('when', () => ({ at: new Date(T0) })));
        return { empty, notName, date };
      },
    });
    const run = await runs.start('bad');
    const out = (await run.result()) as Record<string, { code: string; message: string }>;
    expect(out['empty']).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'ctx.step needs a non-empty name',
    });
    expect(out['notName']).toEqual(out['empty']);
    expect(out['date']!.code).toBe('NOT_SERIALIZABLE');
    expect(out['date']!.message).toMatch(/^The result of step 'when#1'\.at is a Date, which/);
    expect(await journalOf(run.id)).toEqual([]);
  });
});

describe('ctx.step retries', () => {
  /**
   * Runs one step with `retry` whose function fails until attempt `okAt` (never by default),
   * firing each timer the run sets; returns the timer delays seen, the attempts made and the
   * step's outcome as the agent saw it.
   */
  async function retried(
    retry: StepRetryPolicy,
    fail: (attempt: number) => unknown = (n) => new Error(`boom ${String(n)}`),
    okAt = Infinity,
  ) {
    const runs = await engine();
    const attempts: number[] = [];
    runs.define({
      name: 'flaky',
      run: async (ctx: RunContext) => {
        try {
          return await ctx.step(
            'call',
            ({ attempt }) => {
              attempts.push(attempt);
              if (attempt < okAt) throw fail(attempt);
              return attempt;
            },
            { retry },
          );
        } catch (error) {
          const e = error as StepFailedError;
          return { failed: e.message, recorded: e.recorded };
        }
      },
    });
    const run = await runs.start('flaky');
    let finished = false;
    const result = run.result().finally(() => (finished = true));
    const delays: number[] = [];
    for (;;) {
      await settle(() => finished || clock.pendingTimers > 0);
      if (finished) break;
      const delay = clock.nextTimerAt()! - clock.now();
      delays.push(delay);
      clock.advance(delay);
    }
    return { delays, attempts, result: await result, info: await runs.get(run.id) };
  }

  it('waits backoffMs × factor^(n−1) between attempts, capped at maxBackoffMs', async () => {
    const r = await retried({ attempts: 4, backoffMs: 100, factor: 3, maxBackoffMs: 500 });
    expect(r.delays).toEqual([100, 300, 500]);
    expect(r.attempts).toEqual([1, 2, 3, 4]);
    expect(r.result).toEqual({
      failed: "Step 'call#1' failed: Error: boom 4",
      recorded: { name: 'Error', message: 'boom 4' },
    });
    expect(r.info.steps).toMatchObject([
      { key: 'call#1', status: 'failed', attempts: 4, error: { message: 'boom 4' } },
    ]);
  });

  it('defaults to 100 ms doubling, capped at 30 s', async () => {
    expect((await retried({ attempts: 3 })).delays).toEqual([100, 200]);
    expect((await retried({ attempts: 3, backoffMs: 20_000 })).delays).toEqual([20_000, 30_000]);
  });

  it('makes one attempt by default and rounds attempts down (at least one)', async () => {
    for (const [attempts, made] of [
      [undefined, [1]],
      [0, [1]],
      [-2, [1]],
      [2.9, [1, 2]],
    ] as const) {
      const r = await retried(attempts === undefined ? {} : { attempts, backoffMs: 7 });
      expect(r.attempts).toEqual(made);
      expect(r.delays).toEqual(made.length === 2 ? [7] : []);
    }
  });

  it('returns the result of the attempt that succeeds, recording how many it took', async () => {
    const r = await retried({ attempts: 5, backoffMs: 10, factor: 1 }, undefined, 3);
    expect(r).toMatchObject({ delays: [10, 10], attempts: [1, 2, 3], result: 3 });
    expect(r.info.steps).toMatchObject([{ key: 'call#1', status: 'completed', attempts: 3 }]);
  });

  it('retries every error but the kernel’s own typed ones (TIMEOUT excepted), unless retryIf says', async () => {
    const typed = await retried(
      { attempts: 3, backoffMs: 0 },
      () => new KernelError('INVALID_ARGUMENT', 'bad input'),
    );
    expect(typed.attempts).toEqual([1]);
    expect(typed.result).toEqual({
      failed: "Step 'call#1' failed: KernelError: bad input",
      recorded: { name: 'KernelError', message: 'bad input', code: 'INVALID_ARGUMENT' },
    });
    const timeout = await retried(
      { attempts: 3, backoffMs: 0 },
      () => new KernelError('TIMEOUT', 'slow upstream'),
    );
    expect(timeout.attempts).toEqual([1, 2, 3]);
    const thrownString = await retried({ attempts: 2, backoffMs: 0 }, () => 'nope');
    expect(thrownString.attempts).toEqual([1, 2]);
    expect(thrownString.result).toEqual({
      failed: "Step 'call#1' failed: Error: nope",
      recorded: { name: 'Error', message: 'nope' },
    });
    const seen: unknown[] = [];
    const chosen = await retried(
      {
        attempts: 5,
        backoffMs: 0,
        retryIf: (e) => (seen.push(e), (e as Error).message === 'transient'),
      },
      (n) => (n < 3 ? new KernelError('CONFLICT', 'transient') : new Error('fatal')),
    );
    expect(chosen.attempts).toEqual([1, 2, 3]);
    expect(seen.map((e) => (e as Error).message)).toEqual(['transient', 'transient', 'fatal']);
    expect(chosen.result).toMatchObject({ recorded: { message: 'fatal' } });
  });

  it('stops retrying when the run is cancelled during a backoff, recording nothing', async () => {
    const runs = await engine();
    const attempts: number[] = [];
    let after = 0;
    runs.define({
      name: 'patient',
      run: async (ctx: RunContext) => {
        await ctx
          .step(
            'call',
            ({ attempt }) => {
              attempts.push(attempt);
              throw new Error('down');
            },
            { retry: { attempts: 3, backoffMs: 10_000 } },
          )
          .catch(() => undefined);
        after++;
        return null;
      },
    });
    const run = await runs.start('patient');
    expect(await nextDelay()).toBe(10_000);
    await runs.cancel(run.id, 'enough');
    await expect(run.result()).rejects.toMatchObject({ code: 'RUN_CANCELLED' });
    expect(clock.pendingTimers).toBe(0); // the backoff's timer is gone
    clock.advance(10_000);
    await tick();
    expect(attempts).toEqual([1]);
    expect(after).toBe(0);
    expect(await journalOf(run.id)).toEqual([]);
  });
});

describe("a step attempt's signal", () => {
  it('is made only when read, follows a cancel during the attempt, and not after it', async () => {
    const runs = await engine();
    const listening: number[] = [];
    let kept: AbortSignal | undefined;
    const entered = deferred<void>();
    const cancelled: unknown[] = [];
    runs.define({
      name: 'careful',
      run: async (ctx: RunContext) => {
        // A step that never reads its signal leaves nothing on the execution's.
        await ctx.step('quiet', () => {
          listening.push(getEventListeners(ctx.signal, 'abort').length);
          return 1;
        });
        listening.push(getEventListeners(ctx.signal, 'abort').length);
        // One that reads it follows the execution while it runs, and lets go when it ends.
        await ctx.step('reads', (scope) => {
          kept = scope.signal;
          listening.push(getEventListeners(ctx.signal, 'abort').length);
          return 2;
        });
        listening.push(getEventListeners(ctx.signal, 'abort').length);
        return ctx.step('waits', ({ signal }) => {
          entered.resolve();
          return new Promise((_, reject) => {
            signal.addEventListener('abort', () => {
              cancelled.push(signal.reason);
              reject(new Error('stopped'));
            });
          });
        });
      },
    });
    const run = await runs.start('careful');
    await entered.promise;
    await runs.cancel(run.id, 'enough');
    await expect(run.result()).rejects.toMatchObject({ code: 'RUN_CANCELLED' });
    const base = listening[0]!;
    expect(listening).toEqual([base, base, base + 1, base]);
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0]).toMatchObject({ code: 'RUN_CANCELLED' });
    // The signal of the step that had ended did not follow the cancel.
    expect(kept!.aborted).toBe(false);
  });

  it('keeps the first abort: a run cancelled before the step read its signal, then timed out, reads cancelled', async () => {
    const runs = await engine();
    const inside = deferred<void>();
    const seen: unknown[] = [];
    runs.define({
      name: 'cancel-then-timeout',
      run: async (ctx: RunContext) =>
        ctx.step(
          'slow',
          (scope) =>
            new Promise(() => {
              inside.resolve();
              clock.setTimeout(() => seen.push(scope.signal.reason), 100);
            }),
          { timeoutMs: 50 },
        ),
    });
    const run = await runs.start('cancel-then-timeout');
    await inside.promise;
    await runs.cancel(run.id, 'enough');
    await expect(run.result()).rejects.toMatchObject({ code: 'RUN_CANCELLED' });
    clock.advance(50); // the attempt's timeout fires after the cancel
    clock.advance(50);
    await settle(() => seen.length === 1, 'the late read');
    expect(seen[0]).toMatchObject({ code: 'RUN_CANCELLED' });
  });

  it('is aborted already when first read after a timeout or a cancel', async () => {
    const runs = await engine();
    const seen: unknown[] = [];
    runs.define({
      name: 'late-reader',
      run: async (ctx: RunContext) =>
        ctx
          .step(
            'slow',
            (scope) =>
              new Promise((_, reject) => {
                // Reads its signal only once the timeout has fired.
                clock.setTimeout(() => {
                  seen.push(scope.signal.aborted, scope.signal.reason);
                  reject(new Error('late'));
                }, 100);
              }),
            { timeoutMs: 50 },
          )
          .catch(() => 'timed out'),
    });
    const run = await runs.start('late-reader');
    expect(await nextDelay()).toBe(50);
    clock.advance(50);
    await expect(run.result()).resolves.toBe('timed out');
    clock.advance(50);
    await settle(() => seen.length === 2, 'the late read');
    expect(seen[0]).toBe(true);
    expect(seen[1]).toMatchObject({ code: 'TIMEOUT' });

    const gate = deferred<void>();
    const inside = deferred<void>();
    const reads: boolean[] = [];
    runs.define({
      name: 'after-cancel',
      run: async (ctx: RunContext) =>
        ctx.step('wait', async (scope) => {
          inside.resolve();
          await gate.promise;
          reads.push(scope.signal.aborted);
          return 1;
        }),
    });
    const second = await runs.start('after-cancel');
    await inside.promise;
    await runs.cancel(second.id);
    gate.resolve();
    await expect(second.result()).rejects.toMatchObject({ code: 'RUN_CANCELLED' });
    await settle(() => reads.length === 1, 'the read after the cancel');
    expect(reads).toEqual([true]);
  });
});

describe('ctx.step timeouts', () => {
  it('fails an attempt with TIMEOUT after timeoutMs, aborting its signal, and retries it', async () => {
    const runs = await engine();
    const reasons: unknown[] = [];
    runs.define({
      name: 'slow',
      run: async (ctx: RunContext) =>
        ctx
          .step(
            'fetch',
            ({ signal }) =>
              new Promise((_, reject) => {
                signal.addEventListener('abort', () => {
                  reasons.push(signal.reason);
                  reject(new Error('gave up'));
                });
              }),
            { timeoutMs: 50, retry: { attempts: 2, backoffMs: 5 } },
          )
          .catch((e: unknown) => {
            const s = e as StepFailedError;
            return { message: s.message, recorded: s.recorded };
          }),
    });
    const run = await runs.start('slow');
    let finished = false;
    const result = run.result().finally(() => (finished = true));
    const delays: number[] = [];
    for (;;) {
      await settle(() => finished || clock.pendingTimers > 0);
      if (finished) break;
      const delay = clock.nextTimerAt()! - clock.now();
      delays.push(delay);
      clock.advance(delay);
    }
    expect(delays).toEqual([50, 5, 50]); // timeout, backoff, timeout
    const message = "Step 'fetch#1' took longer than 50 ms (attempt 2)";
    await expect(result).resolves.toEqual({
      message: `Step 'fetch#1' failed: KernelError: ${message}`,
      recorded: { name: 'KernelError', message, code: 'TIMEOUT' },
    });
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toBeInstanceOf(KernelError);
    expect(reasons[0]).toMatchObject({
      code: 'TIMEOUT',
      message: "Step 'fetch#1' took longer than 50 ms (attempt 1)",
    });
    const [failed] = await journalOf(run.id);
    expect(failed).toMatchObject({
      type: 'step.failed',
      attempts: 2,
      atMs: T0 + 105,
      startedAtMs: T0,
    });
  });

  it('a step that ends in time returns its result and leaves no timer behind', async () => {
    const runs = await engine();
    runs.define({
      name: 'quick',
      run: async (ctx: RunContext) =>
        ctx.step(
          'fetch',
          () => new Promise<string>((resolve) => clock.setTimeout(() => resolve('ok'), 49)),
          { timeoutMs: 50 },
        ),
    });
    const run = await runs.start('quick');
    await settle(() => clock.pendingTimers === 2, 'the step and its timeout');
    expect(clock.nextTimerAt()).toBe(T0 + 49);
    clock.advance(49);
    await expect(run.result()).resolves.toBe('ok');
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('StepFailedError', () => {
  it('carries the step key and the recorded error, live (with its cause) and on a replay', async () => {
    const runs = await engine();
    const caught: unknown[] = [];
    let ran = 0;
    const declined = Object.assign(new TypeError('card declined'), { code: 'E_CARD' });
    runs.define({
      name: 'charger',
      run: async (ctx: RunContext) => {
        try {
          await ctx.step('charge', () => {
            ran++;
            throw declined;
          });
        } catch (error) {
          caught.push(error);
        }
        await ctx.sleep(60_000);
        return caught.length;
      },
    });
    const run = await runs.start('charger');
    await until(runs, run.id, (r) => r.status === 'sleeping');
    clock.advance(60_000);
    await expect(run.result()).resolves.toBe(2);
    expect(ran).toBe(1);
    for (const e of caught) {
      expect(e).toBeInstanceOf(StepFailedError);
      const s = e as StepFailedError;
      expect([s.name, s.code, s.stepKey, s.message]).toEqual([
        'StepFailedError',
        'STEP_FAILED',
        'charge#1',
        "Step 'charge#1' failed: TypeError: card declined",
      ]);
      expect(s.recorded).toEqual({ name: 'TypeError', message: 'card declined', code: 'E_CARD' });
    }
    expect((caught[0] as Error).cause).toBe(declined);
    expect((caught[1] as Error).cause).toBeUndefined();
  });
});

describe('NONDETERMINISM', () => {
  /** Runs `first` until it suspends, then the same run with `second` once the clock is at `wakeMs`. */
  async function changed(
    first: (ctx: RunContext) => Promise<unknown>,
    second: (ctx: RunContext) => Promise<unknown>,
    wake: (runs: RunEngine, id: string) => Promise<void>,
  ): Promise<{ id: string; info: RunInfo }> {
    const runs = await engine();
    let changedYet = false;
    runs.define({
      name: 'changing',
      run: (ctx: RunContext) => (changedYet ? second(ctx) : first(ctx)),
    });
    const run = await runs.start('changing');
    await until(runs, run.id, (r) => r.status === 'sleeping' || r.status === 'waiting');
    changedYet = true;
    await wake(runs, run.id);
    const info = await until(runs, run.id, (r) => r.status === 'failed');
    return { id: run.id, info };
  }
  const afterSleep = async (): Promise<void> => clock.advance(60_000);

  it('names both steps when another step is asked for at a recorded position', async () => {
    const { id, info } = await changed(
      async (ctx) => {
        await ctx.step('fetch', () => 1);
        await ctx.sleep(60_000);
      },
      async (ctx) => ctx.step('download', () => 1),
      afterSleep,
    );
    expect(info.error).toMatchObject({
      code: 'NONDETERMINISM',
      message: nondeterminism(id, "step 'download#1'", 0, "step 'fetch#1'"),
    });
  });

  it('tells a step from a sleep with the same key, and names the call position', async () => {
    const { id, info } = await changed(
      async (ctx) => {
        await ctx.step('a', () => 1);
        await ctx.sleep(60_000); // key sleep#1
      },
      async (ctx) => {
        await ctx.step('a', () => 1);
        return ctx.step('sleep', () => 'not a sleep'); // key sleep#1 too
      },
      afterSleep,
    );
    expect(info.error?.message).toBe(nondeterminism(id, "step 'sleep#1'", 1, "sleep 'sleep#1'"));
  });

  it('names a recorded signal wait', async () => {
    const { id, info } = await changed(
      async (ctx) => ctx.waitForSignal('go'),
      async (ctx) => ctx.sleep(5),
      (runs, runId) => runs.signal(runId, 'go', 1),
    );
    expect(info.error?.message).toBe(nondeterminism(id, "sleep 'sleep#1'", 0, "wait 'go#1'"));
  });
});

describe('ctx.sleep and ctx.sleepUntil', () => {
  it('refuses a duration that is not a finite number ≥ 0 and a time that is not a date', async () => {
    const runs = await engine();
    runs.define({
      name: 'bad-sleeps',
      run: async (ctx: RunContext) => {
        const out: unknown[] = [];
        for (const ms of [-1, NaN, Infinity, '5']) out.push(await failure(ctx.sleep(ms as number)));
        for (const at of ['soon', new Date('not a date'), Infinity, null]) {
          out.push(await failure(ctx.sleepUntil(at as number)));
        }
        await ctx.sleep(0); // the refused calls took no call position: this is sleep#1 at call 0
        return out;
      },
    });
    const run = await runs.start('bad-sleeps');
    const until = 'ctx.sleepUntil needs a Date or epoch milliseconds';
    await expect(run.result()).resolves.toEqual([
      { code: 'INVALID_ARGUMENT', message: 'ctx.sleep needs a duration in ms ≥ 0, got -1' },
      { code: 'INVALID_ARGUMENT', message: 'ctx.sleep needs a duration in ms ≥ 0, got NaN' },
      { code: 'INVALID_ARGUMENT', message: 'ctx.sleep needs a duration in ms ≥ 0, got Infinity' },
      { code: 'INVALID_ARGUMENT', message: 'ctx.sleep needs a duration in ms ≥ 0, got 5' },
      ...[1, 2, 3, 4].map(() => ({ code: 'INVALID_ARGUMENT', message: until })),
    ]);
    expect(await journalOf(run.id)).toMatchObject([
      { type: 'sleep', key: 'sleep#1', call: 0, wakeAtMs: T0 },
    ]);
  });

  it('waits in memory up to holdMs, suspends for longer, and wakes at the recorded times', async () => {
    const runs = await engine();
    let executions = 0;
    const seen: string[] = [];
    runs.define({
      name: 'sleeper',
      run: async (ctx: RunContext) => {
        executions++;
        await ctx.sleep(0); // due now: no wait at all
        await ctx.sleep(HOLD_MS); // waits in memory
        await ctx.sleep(HOLD_MS + 0.4); // rounds to holdMs: in memory too
        await ctx.sleep(HOLD_MS + 1); // longer: suspends
        await ctx.sleepUntil(T0 + 10); // long past on the replay: no wait
        await ctx.sleepUntil(new Date(clock.now() + 5000)); // suspends
        seen.push(`done at +${String(clock.now() - T0)}`);
        return executions;
      },
    });
    const run = await runs.start('sleeper');
    expect(await nextDelay()).toBe(HOLD_MS);
    expect(runs.find(run.id)?.status).toBe('running');
    clock.advance(HOLD_MS);
    await settle(() => clock.nextTimerAt() === T0 + 2 * HOLD_MS, 'the second in-memory sleep');
    expect(runs.find(run.id)?.status).toBe('running');
    clock.advance(HOLD_MS);
    const asleep = await until(runs, run.id, (r) => r.status === 'sleeping');
    const wake1 = T0 + 3 * HOLD_MS + 1;
    expect(asleep.waitingFor).toEqual({ kind: 'sleep', until: new Date(wake1).toISOString() });
    expect(executions).toBe(1);
    clock.advance(HOLD_MS + 1);
    const again = await until(runs, run.id, (r) => r.status === 'sleeping' && executions === 2);
    expect(again.waitingFor).toEqual({
      kind: 'sleep',
      until: new Date(wake1 + 5000).toISOString(),
    });
    clock.advance(5000);
    await expect(run.result()).resolves.toBe(3);
    expect(seen).toEqual([`done at +${String(3 * HOLD_MS + 1 + 5000)}`]);
    const journal = await journalOf(run.id);
    expect(journal.map((e) => [e.key, e.type === 'sleep' ? e.wakeAtMs - T0 : null])).toEqual([
      ['sleep#1', 0],
      ['sleep#2', HOLD_MS],
      ['sleep#3', 2 * HOLD_MS],
      ['sleep#4', 3 * HOLD_MS + 1],
      ['sleep#5', 10],
      ['sleep#6', 3 * HOLD_MS + 1 + 5000],
    ]);
  });

  it('a cancelled run does not go on after an in-memory sleep', async () => {
    const runs = await engine();
    let after = 0;
    runs.define({
      name: 'napper',
      run: async (ctx: RunContext) => {
        await ctx.sleep(500);
        after++;
        return ctx.step('next', () => 1);
      },
    });
    const run = await runs.start('napper');
    expect(await nextDelay()).toBe(500);
    await runs.cancel(run.id);
    await expect(run.result()).rejects.toMatchObject({ code: 'RUN_CANCELLED' });
    expect(clock.pendingTimers).toBe(0);
    await tick();
    expect(after).toBe(0);
    expect((await journalOf(run.id)).map((e) => e.type)).toEqual(['sleep']);
  });
});

describe('an execution that has suspended', () => {
  it('ignores the calls its code still makes: they record nothing and never settle', async () => {
    const runs = await engine();
    const late = deferred<void>();
    const settled: string[] = [];
    let executions = 0;
    let ran = 0;
    let called = false;
    runs.define({
      name: 'straggler',
      run: async (ctx: RunContext) => {
        executions++;
        if (executions > 1) return 'woke';
        await Promise.all([
          ctx.sleep(60_000),
          (async () => {
            await late.promise;
            const calls: Promise<unknown>[] = [
              ctx.step('late', () => ++ran),
              ctx.sleep(5),
              ctx.sleepUntil(T0),
              ctx.waitForSignal('x'),
              ctx.requestApproval({ summary: 'late' }),
              ctx.authorize({ action: 'late' }),
              ctx.reportUsage({ tokens: 1 }),
            ];
            calls.forEach((p, i) => {
              p.then(
                () => settled.push(`${String(i)} resolved`),
                () => settled.push(`${String(i)} rejected`),
              );
            });
            called = true;
          })(),
        ]);
        return 'not reached';
      },
    });
    const run = await runs.start('straggler');
    await until(runs, run.id, (r) => r.status === 'sleeping');
    late.resolve();
    await settle(() => called, 'the late calls');
    for (let i = 0; i < 5; i++) await tick();
    // reportUsage resolves at once (this engine records no usage, yet it does not throw)
    expect(settled).toEqual(['6 resolved']);
    expect(ran).toBe(0);
    expect((await journalOf(run.id)).map((e) => e.key)).toEqual(['sleep#1']);
    clock.advance(60_000);
    await expect(run.result()).resolves.toBe('woke');
  });
});

describe('a corrupt journal', () => {
  it('fails the run with CORRUPT_VALUE when a wait took a signal the journal does not hold', async () => {
    const runs = await engine();
    runs.define({ name: 'waiter', run: (ctx: RunContext) => ctx.waitForSignal('go') });
    const run = await runs.start('waiter');
    await until(runs, run.id, (r) => r.status === 'waiting');
    const journal = journalView(storage.log, run.id, () => clock.now());
    await journal.append([{ type: 'wait.done', key: 'go#1', call: 0, signal: 999, atMs: T0 }]);
    await runs.signal(run.id, 'go', 'payload');
    const info = await until(runs, run.id, (r) => r.status === 'failed');
    expect(info.error).toMatchObject({
      code: 'CORRUPT_VALUE',
      message: `Run ${run.id}: wait 'go#1' took signal #999, which its journal does not hold`,
    });
  });
});

describe('ctx.waitForSignal', () => {
  it('refuses an empty name and a bad timeout, taking no call position', async () => {
    const runs = await engine();
    runs.define({
      name: 'bad-waits',
      run: async (ctx: RunContext) => {
        const out = [
          await failure(ctx.waitForSignal('')),
          await failure(ctx.waitForSignal(3 as never)),
          await failure(ctx.waitForSignal('x', { timeoutMs: -1 })),
          await failure(ctx.waitForSignal('x', { timeoutMs: NaN })),
          await failure(ctx.waitForSignal('x', { timeoutMs: Infinity })),
        ];
        // timeoutMs 0: the deadline is now, so it times out at once without suspending
        out.push(await failure(ctx.waitForSignal('ping', { timeoutMs: 0 })));
        // each signal name counts its own waits
        out.push(await failure(ctx.waitForSignal('pong', { timeoutMs: 0 })));
        out.push(await failure(ctx.waitForSignal('ping', { timeoutMs: 0 })));
        return out;
      },
    });
    const run = await runs.start('bad-waits');
    const name = {
      code: 'INVALID_ARGUMENT',
      message: 'ctx.waitForSignal needs a non-empty signal name',
    };
    await expect(run.result()).resolves.toEqual([
      name,
      name,
      { code: 'INVALID_ARGUMENT', message: 'timeoutMs must be ≥ 0, got -1' },
      { code: 'INVALID_ARGUMENT', message: 'timeoutMs must be ≥ 0, got NaN' },
      { code: 'INVALID_ARGUMENT', message: 'timeoutMs must be ≥ 0, got Infinity' },
      { code: 'TIMEOUT', message: "No signal for wait 'ping#1' arrived before its timeout" },
      { code: 'TIMEOUT', message: "No signal for wait 'pong#1' arrived before its timeout" },
      { code: 'TIMEOUT', message: "No signal for wait 'ping#2' arrived before its timeout" },
    ]);
    expect(await journalOf(run.id)).toMatchObject([
      { type: 'wait', key: 'ping#1', call: 0, name: 'ping', deadlineMs: T0 },
      { type: 'wait.done', key: 'ping#1', call: 0, signal: null, atMs: T0 },
      { type: 'wait', key: 'pong#1', call: 1, name: 'pong' },
      { type: 'wait.done', key: 'pong#1', call: 1, signal: null },
      { type: 'wait', key: 'ping#2', call: 2, name: 'ping' },
      { type: 'wait.done', key: 'ping#2', call: 2, signal: null },
    ]);
  });

  it('takes a queued signal at once, waits for the next, and times out exactly at the deadline', async () => {
    const runs = await engine();
    let executions = 0;
    runs.define({
      name: 'listener',
      run: async (ctx: RunContext) => {
        executions++;
        const first = await ctx.step('go', () => 'a step named like the signal');
        const a = await ctx.waitForSignal<{ n: number }>('go');
        const b = await ctx.waitForSignal<string>('go', { timeoutMs: 60_000 });
        const c = await ctx
          .waitForSignal('go', { timeoutMs: 5000 })
          .catch((e: unknown) => `${(e as KernelError).code}: ${(e as Error).message}`);
        return { first, a, b, c, executions };
      },
    });
    const run = await runs.start('listener');
    await runs.signal(run.id, 'go', { n: 1 });
    await runs.signal(run.id, 'other', 'not for this wait');
    const waiting = await until(
      runs,
      run.id,
      (r) => r.waitingFor?.kind === 'signal' && r.waitingFor.until !== null,
    );
    expect(waiting.waitingFor).toEqual({
      kind: 'signal',
      name: 'go',
      until: new Date(T0 + 60_000).toISOString(),
    });
    clock.advance(1000);
    await runs.signal(run.id, 'go', 'second');
    const third = await until(
      runs,
      run.id,
      (r) =>
        r.waitingFor?.kind === 'signal' && r.waitingFor.until === new Date(T0 + 6000).toISOString(),
    );
    expect(third.status).toBe('waiting');
    clock.advance(4999);
    await tick();
    expect(runs.find(run.id)?.status).toBe('waiting');
    clock.advance(1);
    await expect(run.result()).resolves.toMatchObject({
      first: 'a step named like the signal',
      a: { n: 1 },
      b: 'second',
      c: "TIMEOUT: No signal for wait 'go#3' arrived before its timeout",
    });
    const journal = await journalOf(run.id);
    const waits = journal.filter((e) => e.type === 'wait');
    expect(waits.map((e) => [e.key, e.call, e.type === 'wait' ? e.deadlineMs : 0])).toEqual([
      ['go#1', 1, null],
      ['go#2', 2, T0 + 60_000],
      ['go#3', 3, T0 + 6000],
    ]);
    const signals = journal.filter((e) => e.type === 'signal');
    const done = journal.filter((e) => e.type === 'wait.done');
    expect(done.map((e) => [e.key, e.type === 'wait.done' ? e.signal : 0])).toEqual([
      ['go#1', signals.find((s) => s.type === 'signal' && s.payload === '{"n":1}')!.seq],
      ['go#2', signals.find((s) => s.type === 'signal' && s.payload === '"second"')!.seq],
      ['go#3', null],
    ]);
  });
});

describe('the usage option', () => {
  it('records what a step spent with it, and refuses usage that is not a finite number ≥ 0', async () => {
    const runs = await engine();
    runs.define({
      name: 'spender',
      run: async (ctx: RunContext) => {
        await ctx.step('model', () => ({ total: 30 }), {
          usage: (r: { total: number }) => ({ tokens: r.total, costMicrodollars: 12.5 }),
        });
        await ctx.step('cost-only', () => 1, {
          usage: () => ({ tokens: undefined, costMicrodollars: 3 }),
        });
        await ctx.step('none', () => 1, { usage: () => undefined as never });
        await ctx.step('empty', () => 1, { usage: () => ({}) });
        await ctx.step('zero', () => 1, { usage: () => ({ tokens: 0 }) });
        const bad = [];
        for (const tokens of [-1, Infinity, 'lots', () => 1]) {
          bad.push(await failure(ctx.step('bad', () => 1, { usage: () => ({ tokens }) as never })));
        }
        bad.push(
          await failure(ctx.step('bad', () => 1, { usage: () => ({ costMicrodollars: -0.5 }) })),
        );
        return bad;
      },
    });
    const run = await runs.start('spender');
    const message = (n: number, field: string, got: string): string =>
      `Step 'bad#${String(n)}': usage.${field} is a finite number ≥ 0, got ${got}`;
    await expect(run.result()).resolves.toEqual([
      { code: 'INVALID_ARGUMENT', message: message(1, 'tokens', '-1') },
      { code: 'INVALID_ARGUMENT', message: message(2, 'tokens', 'null') },
      { code: 'INVALID_ARGUMENT', message: message(3, 'tokens', '"lots"') },
      { code: 'INVALID_ARGUMENT', message: message(4, 'tokens', 'function') },
      { code: 'INVALID_ARGUMENT', message: message(5, 'costMicrodollars', '-0.5') },
    ]);
    const info = await runs.get(run.id);
    expect(info.steps.map((s) => [s.key, s.usage])).toEqual([
      ['model#1', { tokens: 30, costMicrodollars: 12.5 }],
      ['cost-only#1', { costMicrodollars: 3 }],
      ['none#1', undefined],
      ['empty#1', undefined],
      ['zero#1', { tokens: 0 }],
    ]);
    const journal = await journalOf(run.id);
    expect(journal[2]).not.toHaveProperty('usage');
    expect(journal[3]).not.toHaveProperty('usage');
  });

  it('ctx.reportUsage needs a kernel that records usage', async () => {
    const runs = await engine();
    runs.define({
      name: 'reporter',
      run: (ctx: RunContext) => failure(ctx.reportUsage({ tokens: 1 })),
    });
    await expect((await runs.start('reporter')).result()).resolves.toEqual({
      code: 'SERVICE_UNAVAILABLE',
      message: 'This kernel records no usage; open it with createKernel to use ctx.reportUsage',
    });
  });
});

describe('step events', () => {
  it('announces a step before it runs and once it is recorded, with its duration and error kind', async () => {
    const events: KernelEvent[] = [];
    const runs = await engine({ bus: { publish: (e) => void events.push(e) } });
    runs.define({
      name: 'announcer',
      run: async (ctx: RunContext) => {
        await ctx.step(
          'wait',
          () => new Promise((resolve) => clock.setTimeout(() => resolve(1), 30)),
        );
        await ctx
          .step('typed', () => {
            throw new KernelError('CONFLICT', 'secret detail');
          })
          .catch(() => undefined);
        await ctx
          .step('plain', () => {
            throw new RangeError('secret detail');
          })
          .catch(() => undefined);
        return null;
      },
    });
    const run = await runs.start('announcer');
    expect(await nextDelay()).toBe(30); // the step's own timer: no timeout timer without timeoutMs
    expect(clock.pendingTimers).toBe(1);
    clock.advance(30);
    await run.result();
    const id = run.id;
    expect(events).toEqual([
      {
        type: 'ToolExecutionStarted',
        sessionId: id,
        toolName: 'wait',
        toolCallId: `${id}:wait#1`,
        toolArgs: {},
      },
      {
        type: 'ToolExecutionFinished',
        sessionId: id,
        toolCallId: `${id}:wait#1`,
        toolName: 'wait',
        durationMs: 30,
        isError: false,
        outputSummary: '',
      },
      expect.objectContaining({ type: 'ToolExecutionStarted', toolName: 'typed' }) as unknown,
      expect.objectContaining({
        type: 'ToolExecutionFinished',
        toolCallId: `${id}:typed#1`,
        durationMs: 0,
        isError: true,
        outputSummary: 'KernelError (CONFLICT)',
      }) as unknown,
      expect.objectContaining({ type: 'ToolExecutionStarted', toolName: 'plain' }) as unknown,
      expect.objectContaining({
        type: 'ToolExecutionFinished',
        isError: true,
        outputSummary: 'RangeError',
      }) as unknown,
    ]);
  });
});

/** Rules that answer from a table by action and record what they were asked. */
function tableRules(effects: Record<string, RuleDecision['effect']>) {
  const asked: { request: RunAuthorizeRequest; step: string | undefined }[] = [];
  const outcomes: RunApprovalDecision[] = [];
  return {
    asked,
    outcomes,
    rules: {
      decide: async (_run: unknown, request: RunAuthorizeRequest, step: string | undefined) => {
        asked.push({ request, step });
        const effect = effects[request.action] ?? 'allow';
        return {
          effect,
          rule: effect === 'allow' ? null : `${request.action}-rule`,
          version: effect === 'allow' ? null : 3,
          reason: `${request.action} is ${effect}`,
          ...(effect === 'ask' ? { approval: { approvers: 2 } } : {}),
        } as RuleDecision;
      },
      outcome: async (
        _run: unknown,
        _request: RunAuthorizeRequest,
        _decision: RuleDecision,
        outcome: RunApprovalDecision,
      ) => void outcomes.push(outcome),
    },
  };
}

/** Approval gates kept in memory: decided by the test. */
function memoryApprovals() {
  const opened: { key: string; request: RunApprovalRequest; gate: string }[] = [];
  const decisions = new Map<string, RunApprovalDecision>();
  const listeners = new Set<(gate: string) => void>();
  return {
    opened,
    decide(gate: string, decision: RunApprovalDecision): void {
      decisions.set(gate, decision);
      for (const l of listeners) l(gate);
    },
    approvals: {
      open: async (key: string, _run: unknown, request: RunApprovalRequest) => {
        const found = opened.find((o) => o.key === key);
        if (found !== undefined)
          return { gate: found.gate, decision: decisions.get(found.gate) ?? null };
        const gate = `gate-${String(opened.length + 1)}`;
        opened.push({ key, request, gate });
        return { gate, decision: null };
      },
      decision: (gate: string) => decisions.get(gate) ?? null,
      onDecision: (listener: (gate: string) => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
  };
}

describe('ctx.authorize and guarded steps', () => {
  it('checks its request, journals the decision as a step, and allows everything without rules', async () => {
    const runs = await engine();
    runs.define({
      name: 'asker',
      run: async (ctx: RunContext) => {
        const out = [
          await failure(ctx.authorize(null as never)),
          await failure(ctx.authorize('deploy' as never)),
          await failure(ctx.authorize({ action: '' })),
          await failure(ctx.authorize({ action: 7 } as never)),
          await failure(ctx.authorize({ action: 'x', tool: 5 } as never)),
          await failure(ctx.authorize({ action: 'x', resource: {} } as never)),
        ];
        await ctx.authorize({ action: 'deploy', resource: 'prod' });
        await ctx.step('ship', () => 'shipped', { tool: 'kubectl' });
        return out;
      },
    });
    const run = await runs.start('asker');
    const shape = 'ctx.authorize needs { action: string, tool?: string, resource?: string }';
    await expect(run.result()).resolves.toEqual([
      { code: 'INVALID_ARGUMENT', message: shape },
      { code: 'INVALID_ARGUMENT', message: shape },
      { code: 'INVALID_ARGUMENT', message: 'ctx.authorize needs a non-empty action' },
      { code: 'INVALID_ARGUMENT', message: 'ctx.authorize needs a non-empty action' },
      { code: 'INVALID_ARGUMENT', message: 'ctx.authorize: tool must be a string' },
      { code: 'INVALID_ARGUMENT', message: 'ctx.authorize: resource must be a string' },
    ]);
    const info = await runs.get(run.id);
    const allow = { effect: 'allow', rule: null, version: null, reason: 'no approval rules' };
    expect(info.steps.map((s) => [s.key, s.result])).toEqual([
      ['authorize:deploy#1', allow],
      ['authorize:ship#2', allow],
      ['ship#1', 'shipped'],
    ]);
    expect((await journalOf(run.id)).map((e) => ('call' in e ? e.call : -1))).toEqual([0, 1, 2]);
  });

  it('asks the rules before a guarded step, once: a replay keeps the decision and the result', async () => {
    const { asked, rules } = tableRules({ drop: 'deny' });
    const runs = await engine({ rules });
    let paid = 0;
    runs.define({
      name: 'payer',
      run: async (ctx: RunContext) => {
        const receipt = await ctx.step('pay', () => ++paid, { tool: 'stripe' });
        const charged = await ctx.step('x', () => 'charged', {
          action: 'charge',
          resource: 'acct-1',
          key: 'charge-1',
        });
        const denied = await failure(ctx.step('drop', () => 'dropped', { resource: 'db' }));
        const direct = await failure(ctx.authorize({ action: 'drop', tool: 'psql' }));
        await ctx.sleep(60_000);
        return { receipt, charged, denied, direct };
      },
    });
    const run = await runs.start('payer');
    await until(runs, run.id, (r) => r.status === 'sleeping');
    clock.advance(60_000);
    await expect(run.result()).resolves.toEqual({
      receipt: 1,
      charged: 'charged',
      denied: { code: 'DENIED', message: 'drop resource=db is denied by rule drop-rule@3' },
      direct: { code: 'DENIED', message: 'drop tool=psql is denied by rule drop-rule@3' },
    });
    expect(paid).toBe(1);
    expect(asked).toEqual([
      { request: { action: 'pay', tool: 'stripe' }, step: 'pay' },
      { request: { action: 'charge', resource: 'acct-1' }, step: 'charge-1' },
      { request: { action: 'drop', resource: 'db' }, step: 'drop' },
      { request: { action: 'drop', tool: 'psql' }, step: undefined },
    ]);
    expect((await runs.get(run.id)).steps.map((s) => s.key)).toEqual([
      'authorize:pay#1',
      'pay#1',
      'authorize:charge#2',
      'charge-1',
      'authorize:drop#3',
      'authorize:drop#4',
    ]);
  });

  it('an ask opens a gate naming the rule and waits; a rejection is DENIED with who and why', async () => {
    const { rules, outcomes } = tableRules({ pay: 'ask', refund: 'ask' });
    const gates = memoryApprovals();
    const runs = await engine({ rules, approvals: gates.approvals });
    let paid = 0;
    runs.define({
      name: 'asker',
      run: async (ctx: RunContext) => {
        const receipt = await ctx.step('pay', () => ++paid, { tool: 'stripe', resource: 'acct-1' });
        const refund = await failure(ctx.authorize({ action: 'refund' }));
        return { receipt, refund };
      },
    });
    const run = await runs.start('asker');
    const waiting = await until(runs, run.id, (r) => r.status === 'waiting');
    expect(waiting.waitingFor).toMatchObject({ kind: 'approval', gate: 'gate-1' });
    expect(gates.opened).toEqual([
      {
        key: `${run.id}:authorize:pay#1`,
        gate: 'gate-1',
        request: {
          summary: 'pay tool=stripe resource=acct-1? (asked by rule pay-rule@3)',
          rationale: 'pay is ask',
          action: 'pay',
          resource: 'acct-1',
          tool: 'stripe',
          approval: { approvers: 2 },
        },
      },
    ]);
    expect(paid).toBe(0);
    gates.decide('gate-1', { approved: true, reason: null, decidedBy: 'ann' });
    await until(runs, run.id, (r) => r.status === 'waiting' && gates.opened.length === 2);
    expect(paid).toBe(1);
    expect(gates.opened[1]).toEqual({
      key: `${run.id}:authorize:refund#2`,
      gate: 'gate-2',
      request: {
        summary: 'refund? (asked by rule refund-rule@3)',
        rationale: 'refund is ask',
        action: 'refund',
        approval: { approvers: 2 },
      },
    });
    gates.decide('gate-2', { approved: false, reason: 'too late', decidedBy: 'cfo' });
    await expect(run.result()).resolves.toEqual({
      receipt: 1,
      refund: {
        code: 'DENIED',
        message:
          'refund is denied by rule refund-rule@3: the approval was rejected by cfo (too late)',
      },
    });
    // the outcome is told once per gate, not again on the replays
    expect(outcomes).toEqual([
      { approved: true, reason: null, decidedBy: 'ann' },
      { approved: false, reason: 'too late', decidedBy: 'cfo' },
    ]);
  });
});

describe('ctx.requestApproval', () => {
  it('checks its request, opens a keyed gate, waits, and returns the decision (also on a replay)', async () => {
    const gates = memoryApprovals();
    const runs = await engine({ approvals: gates.approvals });
    const decisions: RunApprovalDecision[] = [];
    runs.define({
      name: 'approver',
      run: async (ctx: RunContext) => {
        const bad = [
          await failure(ctx.requestApproval(null as never)),
          await failure(ctx.requestApproval({ summary: 5 } as never)),
        ];
        const first = await ctx.requestApproval({ summary: 'ship it?', action: 'ship' });
        decisions.push(first);
        const second = await ctx.requestApproval({ summary: 'really?' });
        decisions.push(second);
        return { bad, first, second };
      },
    });
    const run = await runs.start('approver');
    await until(runs, run.id, (r) => r.status === 'waiting');
    expect(gates.opened).toEqual([
      {
        key: `${run.id}:approval#1`,
        gate: 'gate-1',
        request: { summary: 'ship it?', action: 'ship' },
      },
    ]);
    gates.decide('gate-1', { approved: true, reason: 'fine', decidedBy: 'ann' });
    await until(runs, run.id, (r) => r.status === 'waiting' && gates.opened.length === 2);
    expect(gates.opened[1]?.key).toBe(`${run.id}:approval#2`);
    gates.decide('gate-2', { approved: false, reason: null, decidedBy: 'ben' });
    const shape = {
      code: 'INVALID_ARGUMENT',
      message: 'ctx.requestApproval needs { summary: string }',
    };
    await expect(run.result()).resolves.toEqual({
      bad: [shape, shape],
      first: { approved: true, reason: 'fine', decidedBy: 'ann' },
      second: { approved: false, reason: null, decidedBy: 'ben' },
    });
    // the first decision came from the gate, then from the journal on the replay
    expect(decisions).toEqual([
      { approved: true, reason: 'fine', decidedBy: 'ann' },
      { approved: true, reason: 'fine', decidedBy: 'ann' },
      { approved: false, reason: null, decidedBy: 'ben' },
    ]);
    const journal = await journalOf(run.id);
    expect(journal.map((e) => [e.type, e.key, 'call' in e ? e.call : -1])).toEqual([
      ['approval', 'approval#1', 0],
      ['approval.done', 'approval#1', 0],
      ['approval', 'approval#2', 1],
      ['approval.done', 'approval#2', 1],
    ]);
    expect(journal[1]).toMatchObject({ approved: true, reason: 'fine', decidedBy: 'ann' });
  });
});

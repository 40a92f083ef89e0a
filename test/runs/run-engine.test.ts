/**
 * The durable-run engine on every backend: steps run once and replay from the journal, runs
 * resume after a close/reopen (a restart), durable sleeps, signals, cancel, nondeterminism.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createRunEngine,
  type RunEngine,
  type RunInfo,
  type RunSummary,
} from '../../src/runs/run-engine.js';
import { journalView, runIndexView } from '../../src/runs/journal.js';
import type { RunContext } from '../../src/runs/run-context.js';
import { ManualClock } from '../../src/util/clock.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { silentLogger } from '../../src/util/logger.js';
import { deferred } from '../../src/util/deferred.js';
import { BACKENDS, type BackendHarness } from '../helpers/stores.js';

const T0 = Date.UTC(2026, 11, 1);

/** Resolves once run `id` satisfies `pred` (checked now and at every status change). */
function until(engine: RunEngine, id: string, pred: (info: RunInfo) => boolean): Promise<RunInfo> {
  return new Promise((resolve, reject) => {
    let done = false;
    const check = (): void => {
      engine.get(id).then((info) => {
        if (done || !pred(info)) return;
        done = true;
        off();
        resolve(info);
      }, reject);
    };
    const off = engine.onStatus((run) => {
      if (run.id === id) check();
    });
    check();
  });
}

/** Resolves once `engine` reports run `id` in `status`. */
function statusOf(
  engine: RunEngine,
  id: () => string | undefined,
  status: RunSummary['status'],
): Promise<void> {
  return new Promise((resolve) => {
    const off = engine.onStatus((run) => {
      if (run.id === id() && run.status === status) {
        off();
        resolve();
      }
    });
  });
}

for (const [name, backend] of Object.entries(BACKENDS)) {
  describe(`durable runs on ${name}`, () => {
    let harness: BackendHarness;
    let clock: ManualClock;
    const engines: RunEngine[] = [];

    beforeEach(async () => {
      harness = await backend.open();
      clock = new ManualClock(T0);
    });
    afterEach(async () => {
      for (const e of engines.splice(0)) await e.close();
      await harness.close();
    });

    async function engine(): Promise<RunEngine> {
      const e = await createRunEngine({
        log: harness.storage.log,
        clock,
        ids: createUuidV7({ clock }),
        logger: silentLogger,
        holdMs: 1000,
      });
      engines.push(e);
      return e;
    }

    it('runs each step once, returns the result, and records the journal', async () => {
      const runs = await engine();
      const calls: string[] = [];
      runs.define({
        name: 'three',
        version: '2',
        run: async (ctx: RunContext, input: { n: number }) => {
          const a = await ctx.step('a', () => (calls.push('a'), { v: input.n + 1 }));
          const b = await ctx.step('b', () => (calls.push('b'), { v: a.v * 10 }));
          for (let i = 0; i < 2; i++) await ctx.step('loop', () => calls.push(`loop${i}`));
          return { b: b.v };
        },
      });
      const run = await runs.start('three', { n: 1 });
      await expect(run.result()).resolves.toEqual({ b: 20 });
      expect(calls).toEqual(['a', 'b', 'loop0', 'loop1']);
      const info = await runs.get(run.id);
      expect(info).toMatchObject({
        status: 'completed',
        agent: 'three',
        version: '2',
        input: { n: 1 },
      });
      expect(info.steps.map((s) => s.key)).toEqual(['a#1', 'b#1', 'loop#1', 'loop#2']);
      expect(info.steps[1]).toMatchObject({ status: 'completed', result: { v: 20 }, attempts: 1 });
      const verified = await journalView(harness.storage.log, run.id, () => clock.now()).verify();
      expect(verified).toMatchObject({ ok: true, verified: 4 });
      expect(runs.list({ agent: 'three' }).map((r) => r.status)).toEqual(['completed']);
    });

    it('never runs a recorded step again when the run resumes after a restart', async () => {
      if (harness.reopen === undefined) return; // memory forgets on close: nothing to resume
      const first = await engine();
      const counts = { a: 0, b: 0 };
      const gate = deferred<void>();
      const inB = deferred<void>();
      let release = false;
      const define = (e: RunEngine): void =>
        e.define({
          name: 'resumable',
          run: async (ctx: RunContext) => {
            const a = await ctx.step('a', () => ({ a: ++counts.a }));
            const b = await ctx.step('b', async () => {
              counts.b++;
              if (!release) {
                inB.resolve();
                await gate.promise; // never released: the "process" dies here
              }
              return { b: counts.b };
            });
            return { a: a.a, b: b.b };
          },
        });
      define(first);
      const run = await first.start('resumable', null);
      await inB.promise;
      await first.close(); // the kernel goes away with step b in flight
      engines.splice(engines.indexOf(first), 1);
      await harness.reopen();
      release = true;
      const second = await engine();
      define(second);
      const info = await second.wait(run.id);
      expect(info.status).toBe('completed');
      expect(info.result).toEqual({ a: 1, b: 2 });
      expect(counts).toEqual({ a: 1, b: 2 }); // a recorded → never again; b was in flight → at least once
    });

    it('fails the run with NONDETERMINISM when the code asks for another step than the journal holds', async () => {
      if (harness.reopen === undefined) return;
      const first = await engine();
      const blocked = deferred<void>();
      first.define({
        name: 'changing',
        run: async (ctx: RunContext) => {
          await ctx.step('fetch', () => 1);
          await ctx.sleep(60_000); // suspends: the run waits durably
          blocked.resolve();
          return null;
        },
      });
      const run = await first.start('changing');
      await statusOf(first, () => run.id, 'sleeping');
      await first.close();
      engines.splice(0);
      await harness.reopen();
      const second = await engine();
      second.define({
        name: 'changing',
        run: async (ctx: RunContext) => {
          await ctx.step('download', () => 1);
          return null;
        },
      });
      clock.advance(60_000);
      const info = await second.wait(run.id);
      expect(info.status).toBe('failed');
      expect(info.error?.code).toBe('NONDETERMINISM');
      expect(info.error?.message).toContain("step 'download#1'");
      expect(info.error?.message).toContain("step 'fetch#1'");
    });

    it('refuses a step result that is not plain JSON at record time', async () => {
      const runs = await engine();
      runs.define({
        name: 'dates',
        run: async (ctx: RunContext) => ctx.step('when', () => ({ at: new Date(T0) })),
      });
      const run = await runs.start('dates');
      await expect(run.result()).rejects.toMatchObject({ code: 'RUN_FAILED' });
      const info = await runs.get(run.id);
      expect(info.error).toMatchObject({ code: 'NOT_SERIALIZABLE' });
      expect(info.error?.message).toContain('.at is a Date');
      expect(info.steps).toEqual([]);
    });

    it('retries a step by its policy and records the attempts; a failed step replays as a failure', async () => {
      const runs = await engine();
      let tries = 0;
      runs.define({
        name: 'flaky',
        run: async (ctx: RunContext) => {
          const v = await ctx.step(
            'call',
            () => {
              if (++tries < 3) throw new Error(`boom ${tries}`);
              return tries;
            },
            { retry: { attempts: 3, backoffMs: 0 } },
          );
          try {
            await ctx.step('never', () => {
              throw new TypeError('bad');
            });
          } catch (error) {
            const e = error as { name: string; code: string; stepKey: string; message: string };
            expect([e.name, e.code, e.stepKey]).toEqual([
              'StepFailedError',
              'STEP_FAILED',
              'never#1',
            ]);
            return { v, caught: e.message };
          }
          return { v };
        },
      });
      const run = await runs.start('flaky');
      const done = run.result();
      // backoffMs 0 still waits on the clock: let each retry timer fire
      for (let i = 0; i < 2; i++) {
        await new Promise<void>((r) => setImmediate(r));
        await Promise.resolve();
        while (clock.pendingTimers === 0) await new Promise<void>((r) => setImmediate(r));
        clock.advance(0);
      }
      await expect(done).resolves.toEqual({
        v: 3,
        caught: "Step 'never#1' failed: TypeError: bad",
      });
      const info = await runs.get(run.id);
      expect(info.steps.map((s) => [s.key, s.status, s.attempts])).toEqual([
        ['call#1', 'completed', 3],
        ['never#1', 'failed', 1],
      ]);
    });

    it('sleeps durably: a run past its wake time wakes at once after a restart', async () => {
      if (harness.reopen === undefined) return;
      const first = await engine();
      let after = 0;
      const define = (e: RunEngine): void =>
        e.define({
          name: 'sleeper',
          run: async (ctx: RunContext) => {
            await ctx.sleep(3_600_000);
            after++;
            return ctx.step('after', () => clock.now());
          },
        });
      define(first);
      const run = await first.start('sleeper');
      await statusOf(first, () => run.id, 'sleeping');
      expect((await first.get(run.id)).waitingFor).toEqual({
        kind: 'sleep',
        until: new Date(T0 + 3_600_000).toISOString(),
      });
      await first.close();
      engines.splice(0);
      clock.set(T0 + 3_600_000 + 600_000); // the daemon was down past the wake time
      await harness.reopen();
      const second = await engine();
      define(second);
      const info = await second.wait(run.id);
      expect(info.status).toBe('completed');
      expect(after).toBe(1);
      expect(info.result).toBe(T0 + 4_200_000);
    });

    it('wakes a sleeping run at the recorded time, not before', async () => {
      const runs = await engine();
      runs.define({
        name: 'nap',
        run: async (ctx: RunContext) => {
          await ctx.sleep(10_000);
          return clock.now();
        },
      });
      const run = await runs.start('nap');
      await statusOf(runs, () => run.id, 'sleeping');
      clock.advance(9_999);
      expect(runs.list({ status: 'sleeping' }).map((r) => r.id)).toEqual([run.id]);
      clock.advance(1);
      await expect(run.result()).resolves.toBe(T0 + 10_000);
    });

    it('delivers signals durably: queued before the wait, taken in order, timeouts are typed', async () => {
      const runs = await engine();
      runs.define({
        name: 'asks',
        run: async (ctx: RunContext) => {
          const first = await ctx.waitForSignal<string>('answer');
          const second = await ctx.waitForSignal<string>('answer');
          let third: string;
          try {
            third = await ctx.waitForSignal<string>('answer', { timeoutMs: 5_000 });
          } catch (error) {
            third = `timeout:${(error as { code: string }).code}`;
          }
          return [first, second, third];
        },
      });
      const run = await runs.start('asks');
      await until(runs, run.id, (r) => r.status === 'waiting');
      await runs.signal(run.id, 'answer', 'one');
      await runs.signal(run.id, 'answer', 'two');
      const third = await until(
        runs,
        run.id,
        (r) => r.waitingFor?.kind === 'signal' && r.waitingFor.until !== null,
      );
      expect(third.waitingFor).toEqual({
        kind: 'signal',
        name: 'answer',
        until: new Date(T0 + 5_000).toISOString(),
      });
      clock.advance(5_000);
      await expect(run.result()).resolves.toEqual(['one', 'two', 'timeout:TIMEOUT']);
      await expect(runs.signal(run.id, 'answer', 'late')).rejects.toMatchObject({
        code: 'ILLEGAL_TRANSITION',
      });
    });

    it('cancels a waiting run once; start with an id is idempotent', async () => {
      const runs = await engine();
      let executions = 0;
      runs.define({
        name: 'idle',
        run: async (ctx: RunContext) => {
          executions++;
          await ctx.waitForSignal('go');
          return 'went';
        },
      });
      const run = await runs.start('idle', { x: 1 }, { id: 'order-42' });
      const again = await runs.start('idle', { x: 1 }, { id: 'order-42' });
      expect(again.id).toBe('order-42');
      await until(runs, 'order-42', (r) => r.status === 'waiting');
      const summary = await runs.cancel(run.id, 'not needed');
      expect(summary.status).toBe('cancelled');
      await expect(run.result()).rejects.toMatchObject({ code: 'RUN_CANCELLED' });
      expect((await runs.cancel(run.id)).status).toBe('cancelled');
      expect(executions).toBe(1);
      await expect(runs.start('nobody')).rejects.toMatchObject({ code: 'UNKNOWN_AGENT' });
      await expect(runs.get('no-such-run')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('prunes finished runs past retention; their results stay and everything verifies', async () => {
      const runs = await engine();
      runs.define({
        name: 'small',
        run: async (ctx: RunContext, input: number) => {
          await ctx.step('a', () => input);
          return ctx.step('b', () => input * 2);
        },
      });
      const ids: string[] = [];
      for (let i = 1; i <= 3; i++) {
        const run = await runs.start('small', i);
        await run.result();
        ids.push(run.id);
        clock.advance(1000);
      }
      await expect(runs.prune({ keepFinished: 1 })).resolves.toEqual({ runs: 2, records: 4 });
      await expect(runs.prune({ keepFinished: 1 })).resolves.toEqual({ runs: 0, records: 0 });
      const old = await runs.get(ids[0]!);
      expect(old).toMatchObject({ status: 'completed', result: 2, steps: [], journalPruned: true });
      expect((await runs.get(ids[2]!)).steps).toHaveLength(2);
      const log = harness.storage.log;
      const journal = journalView(log, ids[0]!, () => clock.now());
      expect(await journal.verify()).toMatchObject({ ok: true, verified: 0 });
      expect((await journal.head()).anchor?.seq).toBe(2);
      expect(await runIndexView(log).verify()).toMatchObject({ ok: true });
      // by age: the last one ended 1 s ago — kept at 1.5 s, pruned once it is 2 s old
      await expect(runs.prune({ maxAgeMs: 1500, keepFinished: 10 })).resolves.toEqual({
        runs: 0,
        records: 0,
      });
      clock.advance(1000);
      await expect(runs.prune({ maxAgeMs: 1500, keepFinished: 10 })).resolves.toEqual({
        runs: 1,
        records: 2,
      });
    });

    it('replays parallel steps by call position, and cancels a run mid-step (its signal aborts)', async () => {
      const runs = await engine();
      let aborted: unknown;
      const started = deferred<void>();
      runs.define({
        name: 'fan',
        run: async (ctx: RunContext) => {
          const [x, y] = await Promise.all([
            ctx.step('x', async () => 'x'),
            ctx.step('y', async () => 'y'),
          ]);
          await ctx.step('slow', ({ signal }) => {
            started.resolve();
            return new Promise((_, reject) => {
              signal.addEventListener('abort', () => {
                aborted = signal.reason;
                reject(new Error('aborted'));
              });
            });
          });
          return [x, y];
        },
      });
      const run = await runs.start('fan');
      await started.promise;
      const info = await runs.get(run.id);
      expect(info.steps.map((st) => st.key).sort()).toEqual(['x#1', 'y#1']);
      await runs.cancel(run.id, 'operator said stop');
      await expect(run.result()).rejects.toMatchObject({ code: 'RUN_CANCELLED' });
      expect(aborted).toMatchObject({ code: 'RUN_CANCELLED' });
      const after = await runs.get(run.id);
      expect(after.status).toBe('cancelled');
      expect(after.error?.message).toBe('operator said stop');
      // the aborted step did not record a failure after the cancel
      expect(after.steps.map((st) => st.key).sort()).toEqual(['x#1', 'y#1']);
    });

    it('a signal sent twice with the same id is delivered once', async () => {
      const runs = await engine();
      runs.define({
        name: 'two-answers',
        run: async (ctx: RunContext) => {
          const a = await ctx.waitForSignal('v');
          const b = await ctx.waitForSignal('v', { timeoutMs: 1000 }).catch(() => 'none');
          return [a, b];
        },
      });
      const run = await runs.start('two-answers');
      await runs.signal(run.id, 'v', 1, { id: 'sig-1' });
      clock.advance(10); // a retry, later
      await runs.signal(run.id, 'v', 1, { id: 'sig-1' });
      await expect(runs.signal(run.id, 'v', 2, { id: 'sig-1' })).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      await until(
        runs,
        run.id,
        (r) => r.waitingFor?.kind === 'signal' && r.waitingFor.until !== null,
      );
      clock.advance(1000);
      await expect(run.result()).resolves.toEqual([1, 'none']);
    });

    it('tells a step from a sleep with the same key on a replay (NONDETERMINISM)', async () => {
      if (harness.reopen === undefined) return;
      const first = await engine();
      first.define({
        name: 'napper',
        run: async (ctx: RunContext) => {
          await ctx.sleep(60_000); // key sleep#1, suspends
          return null;
        },
      });
      const run = await first.start('napper');
      await statusOf(first, () => run.id, 'sleeping');
      await first.close();
      engines.splice(0);
      await harness.reopen();
      const second = await engine();
      second.define({
        name: 'napper',
        run: async (ctx: RunContext) => ctx.step('sleep', () => 'not a sleep'), // key sleep#1 too
      });
      const info = await second.wait(run.id);
      expect(info.status).toBe('failed');
      expect(info.error?.code).toBe('NONDETERMINISM');
      expect(info.error?.message).toContain("journal recorded sleep 'sleep#1'");
    });
  });
}

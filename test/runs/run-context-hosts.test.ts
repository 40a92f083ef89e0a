/**
 * `ctx` against what the engine hands it (memory store, manual clock): a resumed run runs its
 * failed step again under the resume's number and config; a step still running when its run
 * suspends is told why; a step with a `limitKey` waits for its slot and frees it once recorded.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { journalView, readJournal } from '../../src/runs/journal.js';
import type { RunContext } from '../../src/runs/run-context.js';
import {
  createRunEngine,
  type RunEngine,
  type RunEngineOptions,
  type RunInfo,
} from '../../src/runs/run-engine.js';
import type { Storage } from '../../src/storage/storage.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { ManualClock } from '../../src/util/clock.js';
import { deferred } from '../../src/util/deferred.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { silentLogger } from '../../src/util/logger.js';

const T0 = Date.UTC(2026, 11, 7);

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
    holdMs: 1000,
    retention: false,
    ...extra,
  });
  engines.push(e);
  return e;
}

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

const journalOf = (runId: string) =>
  readJournal(journalView(storage.log, runId, () => clock.now()));

describe('a resumed run', () => {
  it('runs its failed step again with the new config, recording the resume it ran in', async () => {
    const runs = await engine();
    let down = true;
    const ran = { a: 0, b: 0 };
    runs.define({
      name: 'resumable',
      run: async (ctx: RunContext) => {
        const a = await ctx.step('a', () => (ran.a++, 'a'));
        const b = await ctx.step('b', ({ attempt }) => {
          ran.b++;
          if (down) throw new Error('down');
          return { attempt, config: ctx.config, resumes: ctx.resumes };
        });
        return { a, b };
      },
    });
    const run = await runs.start('resumable', null, { config: { v: 1 } });
    expect((await until(runs, run.id, (r) => r.status === 'failed')).error).toMatchObject({
      name: 'StepFailedError',
      code: 'STEP_FAILED',
      message: "Step 'b#1' failed: Error: down",
    });
    down = false;
    clock.advance(5);
    await runs.resume(run.id, { config: { v: 2 }, reason: 'fixed' });
    const info = await until(runs, run.id, (r) => r.status === 'completed');
    expect(info.result).toEqual({ a: 'a', b: { attempt: 1, config: { v: 2 }, resumes: 1 } });
    expect(ran).toEqual({ a: 1, b: 2 });
    const journal = await journalOf(run.id);
    expect(journal.map((e) => [e.type, e.key, 'resume' in e ? e.resume : undefined])).toEqual([
      ['step', 'a#1', undefined],
      ['step.failed', 'b#1', undefined],
      ['resumed', '1', undefined],
      ['step', 'b#1', 1],
    ]);
    expect(journal[3]).toMatchObject({ call: 1, startedAtMs: T0 + 5, atMs: T0 + 5 });
  });

  it('a step failing again after a resume is recorded with the resume number', async () => {
    const runs = await engine();
    runs.define({
      name: 'stubborn',
      run: async (ctx: RunContext) =>
        ctx.step('b', () => {
          throw new Error(`down in resume ${String(ctx.resumes)}`);
        }),
    });
    const run = await runs.start('stubborn');
    await until(runs, run.id, (r) => r.status === 'failed');
    await runs.resume(run.id);
    const info = await until(runs, run.id, (r) => r.status === 'failed' && r.resumeCount === 1);
    expect(info.error?.message).toBe("Step 'b#1' failed: Error: down in resume 1");
    const failed = (await journalOf(run.id)).filter((e) => e.type === 'step.failed');
    expect(failed.map((e) => ('resume' in e ? e.resume : undefined))).toEqual([undefined, 1]);
  });
});

describe('a run that suspends', () => {
  it('tells a step still running why its execution ended, and runs it again on the wake-up', async () => {
    const runs = await engine();
    const reasons: unknown[] = [];
    let executions = 0;
    runs.define({
      name: 'parallel',
      run: async (ctx: RunContext) => {
        executions++;
        const [watched] = await Promise.all([
          ctx.step('watch', ({ signal }) =>
            executions > 1
              ? 'second time'
              : new Promise<string>((_, reject) =>
                  signal.addEventListener('abort', () => {
                    reasons.push(signal.reason);
                    reject(new Error('stopped'));
                  }),
                ),
          ),
          ctx.sleep(60_000),
        ]);
        return watched;
      },
    });
    const run = await runs.start('parallel');
    await until(runs, run.id, (r) => r.status === 'sleeping');
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatchObject({
      code: 'CLOSED',
      message: `Run ${run.id} is suspended (sleep)`,
    });
    // the aborted attempt recorded nothing: the step runs again after the sleep
    expect((await journalOf(run.id)).map((e) => e.type)).toEqual(['sleep']);
    clock.advance(60_000);
    await expect(run.result()).resolves.toBe('second time');
    expect(executions).toBe(2);
  });
});

describe('a step with a limitKey', () => {
  it('waits for its slot, frees it once recorded (failed too), and a replay takes none', async () => {
    const slot = deferred<void>();
    const asked: [string, string, string, boolean][] = [];
    const released: string[] = [];
    let runSignal: AbortSignal | undefined;
    let passedSignal: AbortSignal | undefined;
    const runs = await engine({
      admission: {
        limited: () => false,
        enqueue: () => undefined,
        acquireStep: async (limitKey, holder, signal) => {
          asked.push([limitKey, holder.runId, holder.key, signal.aborted]);
          passedSignal = signal;
          await slot.promise;
          return () => void released.push(holder.key);
        },
      },
    });
    const order: string[] = [];
    runs.define({
      name: 'limited',
      run: async (ctx: RunContext) => {
        runSignal = ctx.signal;
        const v = await ctx.step('call', () => (order.push('call ran'), 1), { limitKey: 'openai' });
        await ctx
          .step(
            'boom',
            () => {
              throw new Error('boom');
            },
            { limitKey: 'openai' },
          )
          .catch(() => undefined);
        await ctx.step('free', () => 2);
        await ctx.sleep(60_000);
        return v;
      },
    });
    const run = await runs.start('limited');
    for (let i = 0; i < 100 && asked.length === 0; i++) {
      await new Promise<void>((r) => setImmediate(r));
    }
    expect(asked).toEqual([['openai', run.id, 'call#1', false]]);
    expect(passedSignal).toBe(runSignal);
    expect(order).toEqual([]); // waiting for its slot
    slot.resolve();
    await until(runs, run.id, (r) => r.status === 'sleeping');
    expect(order).toEqual(['call ran']);
    expect(released).toEqual(['call#1', 'boom#1']);
    clock.advance(60_000);
    await expect(run.result()).resolves.toBe(1);
    expect(asked.map((a) => a[2])).toEqual(['call#1', 'boom#1']);
    expect(released).toEqual(['call#1', 'boom#1']);
  });
});

describe('usage reported to the budgets', () => {
  it("reports a step's usage rounded, from the attempt that succeeded, and ctx.reportUsage by position", async () => {
    const reports: [unknown, string][] = [];
    const runs = await engine({
      budgets: {
        hostFor: () => ({
          check: () => null,
          open: () => Promise.reject(new Error('no gate expected')),
          approved: () => Promise.resolve(),
          report: async (usage, eventId) => void reports.push([usage, eventId]),
        }),
      },
    });
    runs.define({
      name: 'spender',
      run: async (ctx: RunContext) => {
        await ctx.reportUsage({ tokens: 5, model: 'm' });
        await ctx.reportUsage({ tokens: 6 });
        await ctx.step(
          'model',
          ({ attempt }) => {
            if (attempt === 1) throw new Error('flaky');
            return { t: 10.4 };
          },
          {
            retry: { attempts: 2, backoffMs: 0 },
            usage: (r: { t: number }) => ({ tokens: r.t, costMicrodollars: 2.5 }),
          },
        );
        await ctx.step('tokens-only', () => 1, { usage: () => ({ tokens: 2 }) });
        await ctx.step('cost-only', () => 1, { usage: () => ({ costMicrodollars: 4.4 }) });
        await ctx.reportUsage({ costMicros: 7 });
        await ctx.sleep(60_000);
        await ctx.reportUsage({ tokens: 1 });
        return null;
      },
    });
    const run = await runs.start('spender');
    for (let i = 0; i < 100 && clock.pendingTimers === 0; i++) {
      await new Promise<void>((r) => setImmediate(r));
    }
    clock.advance(0); // the backoff
    await until(runs, run.id, (r) => r.status === 'sleeping');
    const id = run.id;
    const first: [unknown, string][] = [
      [{ tokens: 5, model: 'm' }, `${id}:usage:0:1`],
      [{ tokens: 6 }, `${id}:usage:0:2`],
      [{ tokens: 10, costMicros: 3 }, `${id}:step:model#1:2`],
      [{ tokens: 2 }, `${id}:step:tokens-only#1:1`],
      [{ costMicros: 4 }, `${id}:step:cost-only#1:1`],
      [{ costMicros: 7 }, `${id}:usage:3:1`],
    ];
    expect(reports).toEqual(first);
    clock.advance(60_000);
    await run.result();
    // the replay reports the same usage under the same ids (the ledger keeps one); steps: none
    expect(reports.slice(first.length)).toEqual([
      first[0],
      first[1],
      first[5],
      [{ tokens: 1 }, `${id}:usage:4:1`],
    ]);
  });
});

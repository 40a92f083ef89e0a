/**
 * Resume, fork and rerun on every backend: a resumed run re-runs only its failed step (with the
 * config it is resumed with), after a restart and from another kernel; a fork replays the
 * parent's steps before `fromStep` without calling them and continues live; a rerun starts over.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRunEngine, type RunEngine, type RunInfo } from '../../src/runs/run-engine.js';
import { journalView, readJournal } from '../../src/runs/journal.js';
import type { RunContext } from '../../src/runs/run-context.js';
import { ManualClock } from '../../src/util/clock.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { silentLogger } from '../../src/util/logger.js';
import { BACKENDS, tempDir, type BackendHarness } from '../helpers/stores.js';
import { dropSchema, freshSchema, pgAvailable, pgUrl } from '../helpers/postgres.js';
import { createKernel } from '../../src/kernel.js';

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

type Counts = Record<string, number>;

/** a → b (fails unless ctx.config.fixed) → c; counts every call of each step function. */
function flaky(counts: Counts) {
  return {
    name: 'flaky',
    run: async (ctx: RunContext, input: { n: number }) => {
      const bump = (k: string): number => (counts[k] = (counts[k] ?? 0) + 1);
      const a = await ctx.step('a', () => (bump('a'), input.n + 1));
      const b = await ctx.step('b', () => {
        bump('b');
        const config = ctx.config as { fixed?: boolean } | undefined;
        if (config?.fixed !== true) throw new Error('b is broken');
        return a * 10;
      });
      const c = await ctx.step('c', () => (bump('c'), b + 1));
      return { c, config: ctx.config ?? null, resumes: ctx.resumes };
    },
  };
}

for (const [name, backend] of Object.entries(BACKENDS)) {
  describe(`resume, fork and rerun on ${name}`, () => {
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

    async function engine(owner?: string): Promise<RunEngine> {
      const e = await createRunEngine({
        log: harness.storage.log,
        clock,
        ids: createUuidV7({ clock }),
        logger: silentLogger,
        holdMs: 1000,
        ...(owner === undefined ? {} : { owner }),
      });
      engines.push(e);
      return e;
    }

    it('resume re-runs only the failed step, with the new config, and journals who and why', async () => {
      const runs = await engine();
      const counts: Counts = {};
      runs.define(flaky(counts));
      const run = await runs.start('flaky', { n: 1 }, { config: { fixed: false } });
      await expect(run.result()).rejects.toMatchObject({ code: 'RUN_FAILED' });
      expect(counts).toEqual({ a: 1, b: 1 });

      const resumed = await runs.resume(run.id, {
        config: { fixed: true },
        reason: 'patched b',
        by: 'ops',
      });
      expect(resumed).toMatchObject({ id: run.id, resumeCount: 1 });
      const info = await runs.wait(run.id);
      expect(info.status).toBe('completed');
      expect(info.result).toEqual({ c: 21, config: { fixed: true }, resumes: 1 });
      expect(counts).toEqual({ a: 1, b: 2, c: 1 }); // a replayed; b ran again; c ran once
      expect(info.config).toEqual({ fixed: true });
      expect(info.steps.map((s) => [s.key, s.status, s.resume, s.superseded ?? false])).toEqual([
        ['a#1', 'completed', 0, false],
        ['b#1', 'failed', 0, true],
        ['b#1', 'completed', 1, false],
        ['c#1', 'completed', 1, false],
      ]);
      expect(info.resumes).toEqual([
        {
          n: 1,
          by: 'ops',
          reason: 'patched b',
          config: { fixed: true },
          at: new Date(T0).toISOString(),
          replayed: ['a#1'],
          ran: ['b#1', 'c#1'],
        },
      ]);
      const journal = journalView(harness.storage.log, run.id, () => clock.now());
      const entries = await readJournal(journal);
      expect(entries.find((e) => e.type === 'resumed')).toMatchObject({
        n: 1,
        by: 'ops',
        reason: 'patched b',
        config: JSON.stringify({ fixed: true }),
      });
      await expect(journal.verify()).resolves.toMatchObject({ ok: true });

      // A completed run does not resume; the error says what to do instead.
      await expect(runs.resume(run.id)).rejects.toMatchObject({
        code: 'ILLEGAL_TRANSITION',
        message: expect.stringContaining('rerun or fork') as unknown,
      });
    });

    it('a failed resume can be resumed again; a cancelled run resumes where it stopped', async () => {
      const runs = await engine();
      const counts: Counts = {};
      runs.define(flaky(counts));
      const run = await runs.start('flaky', { n: 2 });
      await expect(run.result()).rejects.toMatchObject({ code: 'RUN_FAILED' });
      await runs.resume(run.id, { reason: 'try again' }); // same (broken) config
      const again = await runs.wait(run.id);
      expect(again.status).toBe('failed');
      expect(counts).toEqual({ a: 1, b: 2 });
      await runs.resume(run.id, { config: { fixed: true } });
      const done = await runs.wait(run.id);
      expect(done.status).toBe('completed');
      expect(done.result).toMatchObject({ c: 31, resumes: 2 });
      expect(counts).toEqual({ a: 1, b: 3, c: 1 });
      expect(done.resumes.map((r) => [r.n, r.by, r.ran])).toEqual([
        [1, 'library', ['b#1']],
        [2, 'library', ['b#1', 'c#1']],
      ]);

      runs.define({
        name: 'waits',
        run: async (ctx: RunContext) => {
          const x = await ctx.step('x', () => (counts['x'] = (counts['x'] ?? 0) + 1));
          const answer = await ctx.waitForSignal<string>('go');
          return { x, answer };
        },
      });
      const waiting = await runs.start('waits');
      await until(runs, waiting.id, (r) => r.status === 'waiting');
      await expect(runs.resume(waiting.id)).rejects.toMatchObject({ code: 'ILLEGAL_TRANSITION' });
      await runs.cancel(waiting.id, 'not now');
      await expect(waiting.result()).rejects.toMatchObject({ code: 'RUN_CANCELLED' });
      await runs.resume(waiting.id);
      await until(runs, waiting.id, (r) => r.status === 'waiting');
      await runs.signal(waiting.id, 'go', 'yes');
      const finished = await runs.wait(waiting.id);
      expect(finished).toMatchObject({ status: 'completed', result: { x: 1, answer: 'yes' } });
      expect(counts['x']).toBe(1);
    });

    it('resumes after a restart, and from another kernel on the same store', async () => {
      const counts: Counts = {};
      const owner = await engine('k1');
      owner.define(flaky(counts));
      const run = await owner.start('flaky', { n: 3 });
      await expect(run.result()).rejects.toMatchObject({ code: 'RUN_FAILED' });
      // Another kernel (no agents defined, another owner) resumes it: the owner executes it.
      const other = await engine('k2');
      await until(other, run.id, (r) => r.status === 'failed');
      await other.resume(run.id, { config: { fixed: true }, by: 'k2-operator' });
      // The owner learns of the resume from the run index it follows.
      const done = await until(owner, run.id, (r) => r.status === 'completed');
      expect(done.resumes[0]).toMatchObject({ by: 'k2-operator', ran: ['b#1', 'c#1'] });
      expect(counts).toEqual({ a: 1, b: 2, c: 1 });

      if (harness.reopen === undefined) return; // memory forgets on close
      const second = await owner.start('flaky', { n: 4 });
      await expect(second.result()).rejects.toMatchObject({ code: 'RUN_FAILED' });
      for (const e of engines.splice(0)) await e.close();
      await harness.reopen();
      const reopened = await engine('k1');
      reopened.define(flaky(counts));
      await reopened.resume(second.id, { config: { fixed: true } });
      const info = await reopened.wait(second.id);
      expect(info).toMatchObject({ status: 'completed', result: { c: 51 } });
      expect(info.resumes[0]).toMatchObject({ replayed: ['a#1'], ran: ['b#1', 'c#1'] });
    });

    it('fork replays the steps before fromStep without calling them, then runs live', async () => {
      const runs = await engine();
      const counts: Counts = {};
      runs.define({
        name: 'chain',
        run: async (ctx: RunContext, input: { n: number }) => {
          const bump = (k: string): number => (counts[k] = (counts[k] ?? 0) + 1);
          const a = await ctx.step('a', () => (bump('a'), input.n));
          const answer = await ctx.waitForSignal<number>('more');
          const b = await ctx.step('b', () => (bump('b'), a + answer));
          const factor = (ctx.config as { factor?: number } | undefined)?.factor ?? 1;
          const c = await ctx.step('c', () => (bump('c'), b * factor));
          return { a, b, c };
        },
      });
      const parent = await runs.start('chain', { n: 1 }, { tenant: 't1', config: { factor: 2 } });
      await until(runs, parent.id, (r) => r.status === 'waiting');
      await runs.signal(parent.id, 'more', 10);
      await expect(parent.result()).resolves.toEqual({ a: 1, b: 11, c: 22 });
      expect(counts).toEqual({ a: 1, b: 1, c: 1 });

      // From the third step (position 2): a, the signal and b replay; c runs with the new config.
      const fork = await runs.fork(parent.id, { fromStep: 2, config: { factor: 3 } });
      await expect(fork.result()).resolves.toEqual({ a: 1, b: 11, c: 33 });
      expect(counts).toEqual({ a: 1, b: 1, c: 2 });
      const info = await runs.get(fork.id);
      expect(info).toMatchObject({
        tenant: 't1',
        forkOf: { runId: parent.id, fromStep: 'c#1' },
        config: { factor: 3 },
        input: { n: 1 },
      });
      expect(info.steps.map((s) => [s.key, s.copied ?? false])).toEqual([
        ['a#1', true],
        ['b#1', true],
        ['c#1', false],
      ]);
      await expect(
        journalView(harness.storage.log, fork.id, () => clock.now()).verify(),
      ).resolves.toMatchObject({ ok: true });

      // From a key, with another input: a replays (its recorded result), b waits again.
      const byKey = await runs.fork(parent.id, { fromStep: 'b#1', input: { n: 100 } });
      await until(runs, byKey.id, (r) => r.status === 'completed');
      expect(counts).toEqual({ a: 1, b: 2, c: 3 });
      await expect(byKey.result()).resolves.toEqual({ a: 1, b: 11, c: 22 });

      expect((await runs.get(parent.id)).forks).toEqual([fork.id, byKey.id]);
      expect(runs.list({ tenant: 't1' }).map((r) => r.id)).toEqual([byKey.id, fork.id, parent.id]);

      for (const bad of ['nope#1', 7, -1, '']) {
        await expect(runs.fork(parent.id, { fromStep: bad })).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
          message: expect.stringContaining('0: "a#1", 1: "b#1", 2: "c#1"') as unknown,
        });
      }
    });

    it('fork of a failed run from its failed step runs that step live; rerun starts over', async () => {
      const runs = await engine();
      const counts: Counts = {};
      runs.define(flaky(counts));
      const run = await runs.start('flaky', { n: 5 });
      await expect(run.result()).rejects.toMatchObject({ code: 'RUN_FAILED' });
      const fork = await runs.fork(run.id, { fromStep: 'b#1', config: { fixed: true } });
      await expect(fork.result()).resolves.toMatchObject({ c: 61 });
      expect(counts).toEqual({ a: 1, b: 2, c: 1 });
      expect((await runs.get(run.id)).status).toBe('failed'); // the parent stays as it ended

      // A retried fork with the same id finds it; another run's id is refused.
      const again = await runs.fork(run.id, { fromStep: 'b#1', id: fork.id });
      expect(again.id).toBe(fork.id);
      await expect(runs.fork(run.id, { fromStep: 'a#1', id: fork.id })).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      await expect(runs.rerun(run.id, { id: fork.id })).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      const rerun = await runs.rerun(fork.id);
      await expect(rerun.result()).resolves.toMatchObject({ c: 61, config: { fixed: true } });
      expect(counts).toEqual({ a: 2, b: 3, c: 2 });
      expect(runs.list({ limit: 1 })[0]).toMatchObject({ id: rerun.id, rerunOf: fork.id });
    });
  });
}

if (pgAvailable) {
  describe('resume from another kernel on PostgreSQL (separate connections)', () => {
    it('a kernel without the agent resumes a run; its owner executes it, once', async () => {
      const schema = freshSchema();
      const counts: Counts = {};
      const dirA = tempDir('kerno-pg-resume-a-');
      const dirB = tempDir('kerno-pg-resume-b-');
      const owner = await createKernel({
        store: pgUrl(schema),
        stateDir: dirA.dir,
        logger: silentLogger,
        runOwner: 'kernel-a',
        define: [flaky(counts)],
      });
      const other = await createKernel({
        agents: false,
        store: pgUrl(schema),
        stateDir: dirB.dir,
        logger: silentLogger,
        bus: 'memory',
        learningFile: null,
      });
      try {
        const run = await owner.start('flaky', { n: 7 }, { tenant: 'acme' });
        await expect(run.result()).rejects.toMatchObject({ code: 'RUN_FAILED' });
        await until(other.runs as RunEngine, run.id, (r) => r.status === 'failed');
        await other.runs.resume(run.id, { config: { fixed: true }, by: 'operator on b' });
        const done = await until(owner.runs as RunEngine, run.id, (r) => r.status === 'completed');
        expect(done).toMatchObject({ tenant: 'acme', result: { c: 81, resumes: 1 } });
        expect(done.resumes[0]).toMatchObject({ by: 'operator on b', ran: ['b#1', 'c#1'] });
        expect(counts).toEqual({ a: 1, b: 2, c: 1 });
        const seen = await until(other.runs as RunEngine, run.id, (r) => r.status === 'completed');
        expect(seen.steps.filter((s) => s.superseded === true).map((s) => s.key)).toEqual(['b#1']);
      } finally {
        await other.close();
        await owner.close();
        await dropSchema(schema);
        dirA.cleanup();
        dirB.cleanup();
      }
    });
  });
}

describe('fork and rerun keep the parent run’s limits', () => {
  it('carries priority and limitKey to the new run, so it cannot escape a limit', async () => {
    const { testKernel } = await import('../helpers/kernel.js');
    const counts: Counts = {};
    const k = await testKernel({ define: [flaky(counts)] });
    try {
      const run = await k.kernel.start('flaky', { n: 1 }, { priority: 5, limitKey: 'openai' });
      await expect(run.result()).rejects.toMatchObject({ code: 'RUN_FAILED' });
      const rerun = await k.kernel.runs.rerun(run.id);
      const fork = await k.kernel.runs.fork(run.id, { fromStep: 'b#1', config: { fixed: true } });
      await expect(fork.result()).resolves.toMatchObject({ c: 21 });
      for (const id of [rerun.id, fork.id]) {
        expect(k.kernel.runs.find(id)).toMatchObject({ priority: 5, limitKey: 'openai' });
      }
    } finally {
      await k.cleanup();
    }
  });
});

/**
 * Schedules through the kernel, on an injected clock: runs start at their due times with the
 * deterministic run id, pause/resume, the missed-run policies across a restart, one timer for
 * 10 000 schedules, and two kernels on one PostgreSQL store firing each due time once.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isKernelError } from '../../src/errors.js';
import { createKernel, type Kernel } from '../../src/kernel.js';
import { createPolicyStore } from '../../src/policies/policy-store.js';
import {
  createScheduler,
  parseScheduleSpec,
  scheduledRunId,
} from '../../src/policies/schedules.js';
import type { AgentDefinition } from '../../src/runs/run-engine.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { dropSchema, freshSchema, pgAvailable, pgSkipReason, pgUrl } from '../helpers/postgres.js';
import { tempDir } from '../helpers/stores.js';

const T0 = Date.UTC(2026, 11, 4, 10, 0, 0);
const HOUR = 3_600_000;

function recorder(): { agent: AgentDefinition<unknown, unknown>; inputs: unknown[] } {
  const inputs: unknown[] = [];
  return {
    inputs,
    agent: {
      name: 'report',
      run: (_ctx, input) => {
        inputs.push(input);
        return { ok: true };
      },
    },
  };
}

function open(
  store: string,
  clock: ManualClock,
  define: AgentDefinition<never, unknown>[],
  extra: { runOwner?: string; stateDir?: string } = {},
): Promise<Kernel> {
  return createKernel({
    store,
    clock,
    logger: silentLogger,
    registryKey: 'schedules test key',
    registryScryptCost: 1024,
    define,
    runRetention: false,
    ...extra,
  });
}

/** Lets the firings the clock triggered finish. */
async function settle(k: Kernel): Promise<void> {
  await k.schedules.settled();
  await new Promise<void>((resolve) => setImmediate(resolve));
}

function runIds(k: Kernel): string[] {
  return k.runs
    .list({ agent: 'report' })
    .map((r) => r.id)
    .sort();
}

describe('schedules', () => {
  it('reserves sched- run ids: a caller cannot take a due time before the schedule fires', async () => {
    const clock = new ManualClock(T0);
    const { agent } = recorder();
    const { dir, cleanup } = tempDir('kerno-sched-');
    const k = await open('memory:', clock, [agent], { stateDir: dir });
    try {
      await k.schedule('hourly', '0 * * * *', null, { agent: 'report' });
      const due = scheduledRunId('hourly', T0 + HOUR);
      const taken = await k.start('report', null, { id: due }).then(
        () => null,
        (error: unknown) => error,
      );
      expect(isKernelError(taken, 'INVALID_ARGUMENT')).toBe(true);
      expect(String((taken as Error).message)).toMatch(/reserved for schedules/);
      await expect(k.start('report', null, { id: 'sched-x' })).rejects.toThrow(/reserved/);
      clock.advance(HOUR);
      await settle(k);
      expect(runIds(k)).toEqual([due]);
      expect((await k.runs.wait(due)).status).toBe('completed');
    } finally {
      await k.close();
      cleanup();
    }
  });

  it('starts runs at the due times with an id derived from the schedule, and pause/resume', async () => {
    const clock = new ManualClock(T0 + 5 * 60_000);
    const { agent, inputs } = recorder();
    const { dir, cleanup } = tempDir('kerno-sched-');
    const k = await open('memory:', clock, [agent], { stateDir: dir });
    try {
      const v = await k.schedule(
        'quarterly',
        '*/15 * * * *',
        { scope: 'all' },
        { agent: 'report' },
      );
      expect(v.spec).toEqual({
        agent: 'report',
        cron: '*/15 * * * *',
        timeZone: 'UTC',
        input: { scope: 'all' },
        missed: 'skip',
        maxMissed: 10,
        paused: false,
      });
      expect(k.schedules.list()[0]).toMatchObject({
        name: 'quarterly',
        nextFireAt: '2026-12-04T10:15:00.000Z',
        lastFiredAt: null,
      });
      clock.advance(10 * 60_000); // 10:15
      await settle(k);
      expect(runIds(k)).toEqual([scheduledRunId('quarterly', T0 + 15 * 60_000)]);
      expect(runIds(k)[0]).toBe('sched-quarterly-20261204T101500Z');
      const info = await k.runs.wait(runIds(k)[0]!);
      expect(info.status).toBe('completed');
      expect(inputs).toEqual([{ scope: 'all' }]);
      expect(k.schedules.list()[0]).toMatchObject({
        nextFireAt: '2026-12-04T10:30:00.000Z',
        lastFiredAt: '2026-12-04T10:15:00.000Z',
        lastRunId: 'sched-quarterly-20261204T101500Z',
      });

      // Paused: nothing fires; resumed: it goes on from now, without catching up.
      const spec = k.policies.get('schedule', 'quarterly')!.spec as Record<string, unknown>;
      await k.policies.set('schedule', 'quarterly', { ...spec, paused: true }, { by: 'ops' });
      expect(k.schedules.list()[0]!.nextFireAt).toBeNull();
      clock.advance(HOUR);
      await settle(k);
      expect(runIds(k)).toHaveLength(1);
      await k.policies.set('schedule', 'quarterly', { ...spec, paused: false }, { by: 'ops' });
      expect(k.schedules.list()[0]!.nextFireAt).toBe('2026-12-04T11:30:00.000Z');
      clock.advance(15 * 60_000);
      await settle(k);
      expect(runIds(k)).toEqual([
        'sched-quarterly-20261204T101500Z',
        'sched-quarterly-20261204T113000Z',
      ]);

      // Deleted: it stops.
      await k.policies.delete('schedule', 'quarterly');
      clock.advance(HOUR);
      await settle(k);
      expect(runIds(k)).toHaveLength(2);
      expect(k.schedules.list()).toEqual([]);
    } finally {
      await k.close();
      cleanup();
    }
  });

  it('fires interval schedules and refuses bad specs with what to write', async () => {
    const clock = new ManualClock(T0 + 1000);
    const { agent } = recorder();
    const { dir, cleanup } = tempDir('kerno-sched-');
    const k = await open('memory:', clock, [agent], { stateDir: dir });
    try {
      await k.schedule('poll', { everyMs: 60_000 }, null, { agent: 'report' });
      clock.advance(3 * 60_000);
      await settle(k);
      expect(runIds(k)).toEqual([
        'sched-poll-20261204T100100Z',
        'sched-poll-20261204T100200Z',
        'sched-poll-20261204T100300Z',
      ]);
      const refusal = async (p: Promise<unknown>): Promise<string> => {
        try {
          await p;
        } catch (error) {
          expect(isKernelError(error, 'INVALID_ARGUMENT')).toBe(true);
          return (error as Error).message;
        }
        throw new Error('expected a refusal');
      };
      expect(await refusal(k.schedule('x', '0 25 * * *', null, { agent: 'report' }))).toContain(
        'the hour field "25" is out of range 0–23',
      );
      expect(
        await refusal(k.schedule('x', '0 1 * * *', null, { agent: 'report', timeZone: 'Nowhere' })),
      ).toContain('Unknown time zone "Nowhere"');
      expect(await refusal(k.schedule('x', { everyMs: 10 }, null, { agent: 'report' }))).toContain(
        '"everyMs" is a whole number of milliseconds from 1000',
      );
      expect(
        await refusal(
          k.schedule('x', '@daily', null, { agent: 'report', missed: 'some' as never }),
        ),
      ).toBe('"missed" is "skip", "once" or "all", got "some"');
      expect(await refusal(k.policies.set('schedule', 'x', { cron: '@daily' }))).toContain(
        'A schedule needs "agent"',
      );
      expect(
        await refusal(
          k.policies.set('schedule', 'x', { agent: 'report', cron: '@daily', everyMs: 1000 }),
        ),
      ).toContain('exactly one of "cron"');
      expect(
        await refusal(
          k.policies.set('schedule', 'x', { agent: 'report', cron: '@daily', when: 1 }),
        ),
      ).toContain('A schedule has no field "when"');
    } finally {
      await k.close();
      cleanup();
    }
  });

  it.each([
    ['skip', {}, []],
    ['once', {}, ['sched-hourly-20261204T150000Z']],
    ['all', { maxMissed: 2 }, ['sched-hourly-20261204T140000Z', 'sched-hourly-20261204T150000Z']],
  ] as const)(
    'applies the missed-run policy %s after a restart',
    async (missed, extra, expected) => {
      const { dir, cleanup } = tempDir('kerno-sched-');
      const store = `sqlite:${join(dir, 'kerno.db')}`;
      const clock = new ManualClock(T0 + 30 * 60_000);
      const { agent } = recorder();
      try {
        const a = await open(store, clock, [agent], { stateDir: dir });
        await a.schedule('hourly', '@hourly', null, { agent: 'report', missed, ...extra });
        clock.advance(HOUR); // 11:30, fired 11:00
        await settle(a);
        expect(runIds(a)).toEqual(['sched-hourly-20261204T110000Z']);
        await a.close();
        // Down from 11:30 to 15:30: 12:00, 13:00, 14:00 and 15:00 were missed.
        clock.set(T0 + 5.5 * HOUR);
        const b = await open(store, clock, [agent], { stateDir: dir });
        try {
          await settle(b);
          expect(runIds(b)).toEqual(['sched-hourly-20261204T110000Z', ...expected].sort());
          expect(b.schedules.list()[0]!.nextFireAt).toBe('2026-12-04T16:00:00.000Z');
          clock.advance(HOUR);
          await settle(b);
          expect(runIds(b)).toContain('sched-hourly-20261204T160000Z');
        } finally {
          await b.close();
        }
      } finally {
        cleanup();
      }
    },
  );

  it('holds one timer for 10 000 schedules', async () => {
    const clock = new ManualClock(T0);
    const log = createMemoryLog();
    const policies = createPolicyStore({ log, clock });
    policies.register('schedule', parseScheduleSpec);
    const started: string[] = [];
    const scheduler = createScheduler({
      policies,
      log,
      clock,
      runs: {
        start: (_agent, _input, { id }) => {
          started.push(id);
          return Promise.resolve({ id });
        },
        definitions: () => ['report'],
      },
    });
    await scheduler.start();
    const before = clock.pendingTimers;
    for (let i = 0; i < 10_000; i += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, j) => i + j).map((n) =>
          policies.set('schedule', `s${n}`, {
            agent: 'report',
            ...(n % 2 === 0 ? { cron: `${n % 60} * * * *` } : { everyMs: 60_000 * (1 + (n % 90)) }),
          }),
        ),
      );
    }
    expect(scheduler.timers).toBe(1);
    expect(clock.pendingTimers - before).toBe(1);
    expect(clock.nextTimerAt()).toBe(T0 + 120_000);
    clock.advance(120_000);
    await scheduler.settled();
    // Due at 10:02: the crons at minute 2 (167) and the two-minute intervals (112).
    expect(started.length).toBe(279);
    expect(started).toContain('sched-s2-20261204T100200Z');
    expect(clock.pendingTimers - before).toBe(1);
    await scheduler.close();
    expect(clock.pendingTimers - before).toBe(0);
  });
});

describe.skipIf(!pgAvailable)(`schedules on PostgreSQL${pgSkipReason}`, () => {
  it('two kernels sharing one store fire each due time once', async () => {
    const schema = freshSchema();
    const url = pgUrl(schema);
    const clock = new ManualClock(T0 + 30_000);
    const ra = recorder();
    const rb = recorder();
    const { dir, cleanup } = tempDir('kerno-sched-');
    const a = await open(url, clock, [ra.agent], {
      runOwner: 'a',
      stateDir: join(dir, 'a'),
    });
    const b = await open(url, clock, [rb.agent], {
      runOwner: 'b',
      stateDir: join(dir, 'b'),
    });
    try {
      await a.schedule('minutely', '* * * * *', { n: 1 }, { agent: 'report' });
      // b sees the schedule through the store.
      await waitFor(() => b.schedules.list().length === 1);
      for (let i = 0; i < 5; i++) {
        clock.advance(60_000);
        await Promise.all([settle(a), settle(b)]);
      }
      const ids = [
        '20261204T100100Z',
        '20261204T100200Z',
        '20261204T100300Z',
        '20261204T100400Z',
        '20261204T100500Z',
      ].map((t) => `sched-minutely-${t}`);
      for (const k of [a, b]) await waitFor(() => runIds(k).length === 5);
      expect(runIds(a)).toEqual(ids);
      expect(runIds(b)).toEqual(ids);
      for (const id of ids) await a.runs.wait(id).catch(() => b.runs.wait(id));
      await waitFor(() => ra.inputs.length + rb.inputs.length === 5);
      // Each due time ran once, on whichever kernel won its firing record.
      expect(ra.inputs.length + rb.inputs.length).toBe(5);
    } finally {
      await a.close();
      await b.close();
      await dropSchema(schema);
      cleanup();
    }
  });
});

/** Waits for `ok()` on real time (the PostgreSQL followers poll). */
async function waitFor(ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise<void>((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Run leases on one store, in one process (memory log, manual clock): a kernel with `leaseMs`
 * says it is alive every `leaseMs / 3`, takes over the unfinished runs of a kernel that has not
 * said so for a whole lease (not before), and stops its own executions when it cannot say it is
 * alive for two thirds of a lease — until it can again. The multi-process version is
 * `test/e2e/run-takeover.test.ts` (PostgreSQL, SIGKILL).
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../src/errors.js';
import {
  journalStream,
  runIndexView,
  RUN_INDEX_STREAM,
  RUN_OWNERS_STREAM,
  ownerBeatsView,
  type OwnerBeat,
  type RunIndexEntry,
} from '../../src/runs/journal.js';
import type { RunContext } from '../../src/runs/run-context.js';
import {
  createRunEngine,
  type RunEngine,
  type RunEngineOptions,
} from '../../src/runs/run-engine.js';
import type { LogStore } from '../../src/storage/log.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';
import { ManualClock } from '../../src/util/clock.js';
import { deferred } from '../../src/util/deferred.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { createMemoryLogger, silentLogger, type MemoryLogger } from '../../src/util/logger.js';
import { withAppend } from '../helpers/log-double.js';
import { waitFor } from '../helpers/wait.js';

const T0 = Date.UTC(2026, 11, 1);
/** A beat every 33 ms; fenced after 66 ms without one; taken over after 99 ms without one. */
const LEASE = 99;

function engine(
  log: LogStore,
  clock: ManualClock,
  owner: string,
  /** `leaseMs: null`: a kernel without leases. */
  {
    leaseMs = LEASE,
    ...extra
  }: Omit<Partial<RunEngineOptions>, 'leaseMs'> & {
    leaseMs?: number | null;
  } = {},
): Promise<RunEngine> {
  return createRunEngine({
    log,
    clock,
    ids: createUuidV7({ clock }),
    logger: silentLogger,
    retention: false,
    owner,
    ...(leaseMs === null ? {} : { leaseMs }),
    ...extra,
  });
}

/** `inner` whose liveness appends fail (a lost connection) while `beats.failing` is set. */
function failingBeats(
  inner: LogStore,
  failing = false,
): { log: LogStore; beats: { failing: boolean } } {
  const beats = { failing };
  const log = withAppend(inner, (stream, entries, options) => {
    if (beats.failing && stream === RUN_OWNERS_STREAM)
      return Promise.reject(new KernelError('STORAGE_ERROR', 'connection lost'));
    return inner.append(stream, entries, options);
  });
  return { log, beats };
}

/** Lets the engines' promise chains (beats, followers, takeovers) run. */
async function turns(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

async function advance(clock: ManualClock, ms: number): Promise<void> {
  clock.advance(ms);
  await turns();
}

async function beats(log: LogStore): Promise<(OwnerBeat & { seq: number })[]> {
  return (await log.read(RUN_OWNERS_STREAM, 0, 10_000)).map((r) => ({
    ...(JSON.parse(r.body) as OwnerBeat),
    seq: r.seq,
  }));
}

async function ownerRecords(log: LogStore): Promise<RunIndexEntry[]> {
  return (await log.read(RUN_INDEX_STREAM, 0, 10_000))
    .map((r) => JSON.parse(r.body) as RunIndexEntry)
    .filter((e) => e.type === 'run.owner');
}

/** An agent whose first execution waits in its step until the kernel aborts it. */
function stuckThenDone(): {
  name: string;
  run: (ctx: RunContext) => Promise<string>;
  reasons: unknown[];
} {
  const reasons: unknown[] = [];
  return {
    name: 'job',
    reasons,
    run: async (ctx: RunContext) => {
      await ctx.step('prepare', () => 'ready');
      return ctx.step('work', ({ signal }) => {
        if (reasons.length > 0) return 'done';
        return new Promise<string>((_, reject) => {
          signal.addEventListener('abort', () => {
            reasons.push(signal.reason);
            reject(signal.reason as Error);
          });
        });
      });
    },
  };
}

describe('run leases', () => {
  it('refuses a lease shorter than 30 ms or not a whole number of ms', async () => {
    const log = createMemoryLog();
    const clock = new ManualClock(T0);
    for (const leaseMs of [29, 0, -30, 30.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const opened = engine(log, clock, 'a', { leaseMs });
      await expect(opened).rejects.toThrow(KernelError);
      await expect(opened).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: `leaseMs must be an integer ≥ 30, got ${String(leaseMs)}`,
      });
    }
    expect(await beats(log)).toEqual([]);
    const runs = await engine(log, clock, 'a', { leaseMs: 30 });
    expect(await beats(log)).toEqual([{ owner: 'a', atMs: T0, seq: 1 }]);
    await runs.close();
  });

  it('says it is alive when it opens and every leaseMs / 3, and stops when it closes', async () => {
    const log = createMemoryLog();
    const clock = new ManualClock(T0);
    const runs = await engine(log, clock, 'a');
    expect(await beats(log)).toEqual([{ owner: 'a', atMs: T0, seq: 1 }]);
    await advance(clock, 32);
    expect(await beats(log)).toHaveLength(1);
    await advance(clock, 1);
    await advance(clock, 33);
    expect((await beats(log)).map((b) => b.atMs)).toEqual([T0, T0 + 33, T0 + 66]);
    await runs.close();
    await advance(clock, 10 * LEASE);
    expect(await beats(log)).toHaveLength(3);
    expect(clock.pendingTimers).toBe(0);
  });

  it('does not beat again after it closed during a beat, and does not report that beat', async () => {
    const inner = createMemoryLog();
    const held = deferred<void>();
    let hold = false;
    const log = withAppend(inner, async (stream, entries, options) => {
      if (hold && stream === RUN_OWNERS_STREAM) {
        await held.promise;
        throw new KernelError('STORAGE_ERROR', 'connection lost');
      }
      return inner.append(stream, entries, options);
    });
    const clock = new ManualClock(T0);
    const logger = createMemoryLogger();
    const runs = await engine(log, clock, 'a', { logger });
    hold = true;
    await advance(clock, 33); // the second beat is in flight
    await runs.close();
    hold = false;
    held.resolve();
    await advance(clock, 10 * LEASE);
    expect(await beats(inner)).toEqual([{ owner: 'a', atMs: T0, seq: 1 }]);
    expect(clock.pendingTimers).toBe(0);
    expect(logger.lines).toEqual([]);
  });

  it('keeps the liveness stream short: at beat 256 it drops all but the last 128', async () => {
    const log = createMemoryLog();
    const clock = new ManualClock(T0);
    const runs = await engine(log, clock, 'a');
    for (let n = 1; n < 255; n++) await advance(clock, 33);
    let kept = await beats(log);
    expect(kept).toHaveLength(255);
    expect(kept[0]?.seq).toBe(1);
    await advance(clock, 33);
    kept = await beats(log);
    expect(kept.map((b) => b.seq)).toEqual(Array.from({ length: 128 }, (_, i) => 129 + i));
    expect(kept.at(-1)).toEqual({ owner: 'a', atMs: T0 + 255 * 33, seq: 256 });
    await runs.close();
  });

  it("takes over a stopped kernel's unfinished run once it has not beaten for leaseMs, not before", async () => {
    const log = createMemoryLog();
    const clock = new ManualClock(T0);
    const first = stuckThenDone();
    const a = await engine(log, clock, 'a');
    a.define(first);
    const run = await a.start('job');
    await waitFor(() => first.reasons.length === 0 && a.get(run.id), 'the run on a');
    await a.close(); // kernel a stops: its last beat was at T0
    const logger = createMemoryLogger();
    const b = await engine(log, clock, 'b', { logger });
    let prepared = 0;
    b.define({
      name: 'job',
      run: async (ctx: RunContext) => {
        await ctx.step('prepare', () => ++prepared);
        return ctx.step('work', () => 'done');
      },
    });
    await advance(clock, 33);
    await advance(clock, 33); // T0 + 66: 66 ms since a's beat
    expect((await b.get(run.id)).owner).toBe('a');
    expect(await ownerRecords(log)).toEqual([]);
    await advance(clock, 32); // T0 + 98: no beat of b, nothing checked
    expect((await b.get(run.id)).owner).toBe('a');
    await advance(clock, 1); // T0 + 99: a lease since a's beat
    await waitFor(async () => (await b.get(run.id)).owner === 'b', 'the takeover');
    expect(await ownerRecords(log)).toEqual([
      { type: 'run.owner', id: run.id, agent: 'job', owner: 'b', gen: 1, atMs: T0 + 99 },
    ]);
    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: 'Took over a run whose kernel stopped',
      fields: { run: run.id, from: 'a' },
    });
    // b finishes the run from the journal: 'prepare' was recorded on a, 'work' was not
    const done = await waitFor(async () => {
      const info = await b.get(run.id);
      return info.status === 'completed' && info;
    }, 'the run to complete on b');
    expect(done.result).toBe('done');
    expect(prepared).toBe(0);
    await b.close();
  });

  it('goes by the latest beat of a kernel, not the last one to arrive (clocks apart)', async () => {
    const log = createMemoryLog();
    const clock = new ManualClock(T0);
    const a = await engine(log, clock, 'a', { leaseMs: null });
    a.define(stuckThenDone());
    const run = await a.start('job');
    await turns();
    await a.close();
    // kernel a's beats, its second one stamped by a clock 50 ms behind
    await ownerBeatsView(log).append([
      { owner: 'a', atMs: T0 + 50 },
      { owner: 'a', atMs: T0 },
    ]);
    const b = await engine(log, clock, 'b');
    b.define(stuckThenDone());
    for (let n = 0; n < 4; n++) await advance(clock, 33); // T0 + 132: 82 ms since T0 + 50
    expect((await b.get(run.id)).owner).toBe('a');
    await advance(clock, 33); // T0 + 165
    await waitFor(async () => (await b.get(run.id)).owner === 'b', 'the takeover');
    await b.close();
  });

  it('never takes over a finished run, a run of an agent it does not define, or a run whose kernel never beat', async () => {
    const log = createMemoryLog();
    const clock = new ManualClock(T0);
    const solo = await engine(log, clock, 'solo', { leaseMs: null });
    solo.define(stuckThenDone());
    const unleased = await solo.start('job');
    await turns();
    await solo.close();
    const a = await engine(log, clock, 'a');
    a.define({ name: 'quick', run: async (ctx: RunContext) => ctx.step('one', () => 1) });
    a.define({ name: 'other', run: () => new Promise<never>(() => undefined) });
    const finished = await a.start('quick');
    await expect(finished.result()).resolves.toBe(1);
    const foreign = await a.start('other');
    await turns();
    await a.close();
    const b = await engine(log, clock, 'b');
    b.define(stuckThenDone());
    b.define({ name: 'quick', run: async (ctx: RunContext) => ctx.step('one', () => 2) });
    for (let n = 0; n < 10; n++) await advance(clock, 33);
    expect(await ownerRecords(log)).toEqual([]);
    expect((await b.get(unleased.id)).owner).toBe('solo');
    expect((await b.get(foreign.id)).owner).toBe('a');
    expect((await b.get(finished.id)).result).toBe(1);
    await b.close();
  });

  it('lets one of two kernels take a run over; the other one says nothing of it', async () => {
    const log = createMemoryLog();
    const clock = new ManualClock(T0);
    const a = await engine(log, clock, 'a');
    a.define(stuckThenDone());
    const run = await a.start('job');
    await turns();
    await a.close();
    const loggers = [createMemoryLogger(), createMemoryLogger()];
    const [b, c] = await Promise.all(
      ['b', 'c'].map((owner, i) => engine(log, clock, owner, { logger: loggers[i]! })),
    );
    b!.define(stuckThenDone());
    c!.define(stuckThenDone());
    for (let n = 0; n < 3; n++) await advance(clock, 33);
    await waitFor(async () => (await ownerRecords(log)).length > 0, 'a takeover');
    await turns();
    const records = await ownerRecords(log);
    expect(records).toHaveLength(1);
    const winner = (records[0] as { owner: string }).owner;
    expect((await b!.get(run.id)).owner).toBe(winner);
    expect((await c!.get(run.id)).owner).toBe(winner);
    const said = (l: MemoryLogger): string[] => l.lines.map((line) => line.message);
    expect([...said(loggers[0]!), ...said(loggers[1]!)]).toEqual([
      'Took over a run whose kernel stopped',
    ]);
    await Promise.all([b!.close(), c!.close()]);
  });

  it('says so when taking a run over fails, and tries again at its next beat', async () => {
    const inner = createMemoryLog();
    let failOwner = 1;
    const log = withAppend(inner, (stream, entries, options) => {
      if (
        stream === RUN_INDEX_STREAM &&
        entries[0]?.body.includes('"run.owner"') &&
        failOwner > 0
      ) {
        failOwner--;
        return Promise.reject(new KernelError('STORAGE_ERROR', 'connection lost'));
      }
      return inner.append(stream, entries, options);
    });
    const clock = new ManualClock(T0);
    const a = await engine(log, clock, 'a');
    a.define(stuckThenDone());
    const run = await a.start('job');
    await turns();
    await a.close();
    const logger = createMemoryLogger();
    const b = await engine(log, clock, 'b', { logger });
    b.define(stuckThenDone());
    for (let n = 0; n < 3; n++) await advance(clock, 33);
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        message: 'Taking over a run failed',
        fields: { run: run.id, error: 'connection lost' },
      },
    ]);
    expect((await b.get(run.id)).owner).toBe('a');
    await advance(clock, 33);
    await waitFor(async () => (await b.get(run.id)).owner === 'b', 'the second takeover');
    expect(await ownerRecords(inner)).toEqual([
      { type: 'run.owner', id: run.id, agent: 'job', owner: 'b', gen: 1, atMs: T0 + 132 },
    ]);
    await b.close();
  });

  it("stops its executions with CLOSED 'This kernel lost its lease' after 2/3 of a lease without a beat, and resumes them once it beats again", async () => {
    const inner = createMemoryLog();
    const { log, beats } = failingBeats(inner);
    const clock = new ManualClock(T0);
    const logger = createMemoryLogger();
    const runs = await engine(log, clock, 'a', { logger });
    const job = stuckThenDone();
    runs.define(job);
    runs.define({
      name: 'sleeper',
      run: async (ctx: RunContext) => {
        await ctx.sleep(60_000); // suspended: nothing executes it meanwhile
        return 'rested';
      },
    });
    const run = await runs.start('job');
    const sleeper = await runs.start('sleeper');
    await waitFor(async () => (await runs.get(sleeper.id)).status === 'sleeping', 'the sleep');
    beats.failing = true;
    await advance(clock, 33); // 33 ms without a beat
    expect(job.reasons).toEqual([]);
    expect((await runs.get(run.id)).status).toBe('running');
    await advance(clock, 33); // 66 ms: two thirds of the lease
    expect(job.reasons).toHaveLength(1);
    expect(job.reasons[0]).toBeInstanceOf(KernelError);
    expect(job.reasons[0]).toMatchObject({ code: 'CLOSED', message: 'This kernel lost its lease' });
    expect((await runs.get(run.id)).status).toBe('pending');
    await advance(clock, 33); // still failing: already stopped, said once
    const errors = logger.lines.filter((l) => l.level === 'error');
    expect(errors).toEqual([
      {
        level: 'error',
        message:
          "Stopping this kernel's run executions: it could not say it is alive, so another kernel may take its runs",
        fields: { owner: 'a' },
      },
    ]);
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(3);
    expect(logger.lines[0]).toEqual({
      level: 'warn',
      message: 'Could not record that this kernel is alive',
      fields: { error: 'connection lost' },
    });
    beats.failing = false;
    await advance(clock, 33);
    expect(logger.lines.at(-1)).toEqual({
      level: 'warn',
      message: 'Run owner is alive again; resuming its runs',
      fields: { owner: 'a' },
    });
    await expect(run.result()).resolves.toBe('done');
    expect((await runs.get(sleeper.id)).status).toBe('sleeping');
    await advance(clock, 60_000);
    await expect(sleeper.result()).resolves.toBe('rested');
    await runs.close();
  });

  it('does not take runs over while it cannot say it is alive itself', async () => {
    const log0 = createMemoryLog();
    const clock = new ManualClock(T0);
    const a = await engine(log0, clock, 'a');
    a.define(stuckThenDone());
    const run = await a.start('job');
    await turns();
    await a.close();
    const { log, beats } = failingBeats(log0, true);
    const b = await engine(log, clock, 'b'); // its first beat fails: stopped at once
    b.define(stuckThenDone());
    for (let n = 0; n < 6; n++) await advance(clock, 33);
    expect(await ownerRecords(log0)).toEqual([]);
    beats.failing = false;
    await advance(clock, 33);
    await waitFor(async () => (await b.get(run.id)).owner === 'b', 'the takeover');
    await b.close();
  });
  it('runs no step of a run woken while it cannot say it is alive, until it can again', async () => {
    const inner = createMemoryLog();
    const { log, beats } = failingBeats(inner);
    const clock = new ManualClock(T0);
    const runs = await engine(log, clock, 'a', { holdMs: 10 });
    let ran = 0;
    runs.define({
      name: 'sleeper',
      run: async (ctx: RunContext) => {
        await ctx.sleep(80); // wakes at T0 + 80, while the kernel is stopped
        return ctx.step('after', () => ++ran);
      },
    });
    const run = await runs.start('sleeper');
    await waitFor(async () => (await runs.get(run.id)).status === 'sleeping', 'the sleep');
    beats.failing = true;
    for (let n = 0; n < 3; n++) await advance(clock, 33); // stopped at T0 + 66, woken at T0 + 80
    expect(ran).toBe(0);
    beats.failing = false;
    await advance(clock, 33);
    await expect(run.result()).resolves.toBe(1);
    expect(ran).toBe(1);
    await runs.close();
  });
  it('says so when a beat it reads is corrupt (it stops following beats)', async () => {
    const log = createMemoryLog();
    const clock = new ManualClock(T0);
    const logger = createMemoryLogger();
    const runs = await engine(log, clock, 'a', { logger });
    await log.append(RUN_OWNERS_STREAM, [{ timeMs: T0, body: '{"owner":' }]);
    await waitFor(() => logger.lines.length > 0, 'the follower to stop');
    expect(logger.lines).toEqual([
      {
        level: 'error',
        message: 'The run owner follower stopped',
        fields: {
          error: 'Run owner record run-owners#2 is not JSON; verify the log (kerno audit verify)',
        },
      },
    ]);
    await runs.close();
  });

  it("refuses a stale owner's resume record once another kernel claimed the run", async () => {
    const inner = createMemoryLog();
    let claim: (() => Promise<unknown>) | undefined;
    const log = withAppend(inner, async (stream, entries, options) => {
      if (claim !== undefined && entries[0]?.body.includes('"resumed"')) {
        const claimed = claim;
        claim = undefined;
        await claimed(); // kernel b claims the run while a's resume record is on its way
      }
      return inner.append(stream, entries, options);
    });
    const clock = new ManualClock(T0);
    const runs = await engine(log, clock, 'a');
    let attempt = 0;
    runs.define({
      name: 'flaky',
      run: async (ctx: RunContext) =>
        ctx.step('once', () => {
          if (++attempt === 1) throw new Error('boom');
          return 'ok';
        }),
    });
    const run = await runs.start('flaky');
    await expect(run.result()).rejects.toThrow('boom');
    claim = () =>
      runIndexView(inner).append([
        { type: 'run.owner', id: run.id, agent: 'flaky', owner: 'b', gen: 1, atMs: clock.now() },
      ]);
    await runs.resume(run.id, { reason: 'try again' });
    await waitFor(async () => (await runs.get(run.id)).owner === 'b', 'the claim');
    await turns();
    const journal = (await inner.read(journalStream(run.id), 0, 100)).map(
      (r) => (JSON.parse(r.body) as { type: string }).type,
    );
    expect(journal).toEqual(['step.failed']); // no 'resumed' record of a
    expect(attempt).toBe(1);
    await runs.close();
  });
  it("stops an execution with CONFLICT 'was taken over' when another kernel claims its run", async () => {
    const log = createMemoryLog();
    const clock = new ManualClock(T0);
    const runs = await engine(log, clock, 'a');
    const job = stuckThenDone();
    runs.define(job);
    const run = await runs.start('job');
    await waitFor(async () => (await runs.get(run.id)).status === 'running', 'the run');
    await turns();
    await runIndexView(log).append([
      { type: 'run.owner', id: run.id, agent: 'job', owner: 'b', gen: 1, atMs: T0 },
    ]);
    await waitFor(() => job.reasons.length > 0, 'the abort');
    expect(job.reasons).toHaveLength(1);
    expect(job.reasons[0]).toBeInstanceOf(KernelError);
    expect(job.reasons[0]).toMatchObject({
      code: 'CONFLICT',
      message: `Run ${run.id} was taken over by b`,
    });
    const info = await runs.get(run.id);
    expect(info).toMatchObject({ owner: 'b', status: 'pending' });
    await advance(clock, 10 * LEASE); // a leaves it to b: nothing runs it again here
    expect(job.reasons).toHaveLength(1);
    expect((await runs.get(run.id)).status).toBe('pending');
    await runs.close();
  });
});

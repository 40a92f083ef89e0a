/**
 * Lease fencing: once another kernel claims a run (its next `run.owner` generation), a step the
 * old owner still had in flight cannot record its result — the append is fenced — so the
 * journal holds only what the new owner's executions record.
 */
import { describe, expect, it } from 'vitest';
import { createRunEngine } from '../../src/runs/run-engine.js';
import type { RunContext } from '../../src/runs/run-context.js';
import { journalStream, runIndexView } from '../../src/runs/journal.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';
import { ManualClock } from '../../src/util/clock.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { silentLogger } from '../../src/util/logger.js';

describe('durable runs: lease fencing', () => {
  it("refuses a stale owner's step record after another kernel claimed the run", async () => {
    const log = createMemoryLog();
    const clock = new ManualClock();
    const runs = await createRunEngine({
      log,
      clock,
      ids: createUuidV7({ clock }),
      logger: silentLogger,
      retention: false,
      owner: 'kernel-a',
      leaseMs: 60_000,
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inFlight = new Promise<void>((resolve) => (entered = resolve));
    runs.define({
      name: 'slow',
      run: async (ctx: RunContext) => {
        await ctx.step('first', () => 1);
        return ctx.step('second', async () => {
          entered();
          await gate;
          return 2;
        });
      },
    });
    const run = await runs.start('slow');
    await inFlight;
    // Another kernel claims generation 1 while 'second' is still running here.
    await runIndexView(log).append([
      {
        type: 'run.owner',
        id: run.id,
        agent: 'slow',
        owner: 'kernel-b',
        gen: 1,
        atMs: clock.now(),
      },
    ]);
    const before = await log.head(journalStream(run.id));
    release();
    // The stale step's record is refused: the journal does not move.
    await log.flush();
    await new Promise<void>((resolve) => setImmediate(resolve));
    const after = await log.head(journalStream(run.id));
    expect(after.seq).toBe(before.seq);
    const keys = (await log.read(journalStream(run.id), 0, 100)).map((r) => r.key);
    expect(keys).toContain('step:first#1');
    expect(keys.some((k) => k?.startsWith('step:second'))).toBe(false);
    expect((await runs.get(run.id))?.owner).toBe('kernel-b');
    await runs.close();
  });

  it('does not fence runs when takeover is off (no lease)', async () => {
    const log = createMemoryLog();
    const clock = new ManualClock();
    const runs = await createRunEngine({
      log,
      clock,
      ids: createUuidV7({ clock }),
      logger: silentLogger,
      retention: false,
    });
    runs.define({ name: 'one', run: async (ctx: RunContext) => ctx.step('a', () => 'done') });
    const run = await runs.start('one');
    await expect(run.result()).resolves.toBe('done');
    await runs.close();
  });
});

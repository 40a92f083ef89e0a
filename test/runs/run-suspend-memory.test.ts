/**
 * A suspended run holds no memory beyond its records: once a run sleeps or waits (longer than
 * `holdMs`), the execution that got there — the agent function's frame, its `ctx`, whatever the
 * function holds — is garbage. (Until 2026-12-07 every suspended call awaited one shared
 * never-settling promise, whose reactions kept every suspended execution ever alive: ~9 KB per
 * sleeping run, and for good even after the run resumed and finished.)
 */
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunContext } from '../../src/runs/run-context.js';
import { createRunEngine, type RunEngine } from '../../src/runs/run-engine.js';
import type { LogStore } from '../../src/storage/log.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';
import { ManualClock } from '../../src/util/clock.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { silentLogger } from '../../src/util/logger.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { tempDir } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const T0 = Date.UTC(2026, 11, 7);
const HOUR = 3_600_000;

/** Closed after each test, newest first (engines before the stores under them). */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function engine(clock: ManualClock, log: LogStore = createMemoryLog()): Promise<RunEngine> {
  const e = await createRunEngine({
    log,
    clock,
    ids: createUuidV7({ clock }),
    logger: silentLogger,
    retention: false,
    owner: 'k',
  });
  cleanups.push(() => e.close());
  return e;
}

/** Whether `ref`'s target is gone after full collections (a few, each after a turn). */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 5; i++) {
    // A WeakRef's target lives at least until the end of the job that last read it.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    if (ref.deref() === undefined) return true;
  }
  return false;
}

describe('a suspended execution', () => {
  it('is garbage while the run sleeps, and a new one finishes the run when it wakes', async () => {
    const clock = new ManualClock(T0);
    const e = await engine(clock);
    const contexts: WeakRef<RunContext>[] = [];
    e.define({
      name: 'nap',
      version: '1',
      run: async (ctx: RunContext) => {
        contexts.push(new WeakRef(ctx));
        // Something big the function holds across the sleep: it goes with the frame.
        const held = new Uint8Array(1 << 20);
        await ctx.step('a', () => held.length);
        await ctx.sleep(HOUR);
        return ctx.step('b', () => held.length);
      },
    });
    const run = await e.start('nap');
    await waitFor(async () => (await e.get(run.id)).status === 'sleeping', 'the run asleep');
    expect(contexts).toHaveLength(1);
    expect(await collected(contexts[0]!)).toBe(true);

    clock.advance(HOUR);
    await waitFor(async () => (await e.get(run.id)).status === 'completed', 'the run done');
    expect(await run.result()).toBe(1 << 20);
    expect(contexts).toHaveLength(2);
  });

  it('is garbage while the run waits for a signal, and after it resumed and finished', async () => {
    const clock = new ManualClock(T0);
    const e = await engine(clock);
    const contexts: WeakRef<RunContext>[] = [];
    e.define({
      name: 'ask',
      version: '1',
      run: async (ctx: RunContext) => {
        contexts.push(new WeakRef(ctx));
        return ctx.waitForSignal<string>('answer');
      },
    });
    const run = await e.start('ask');
    await waitFor(async () => (await e.get(run.id)).status === 'waiting', 'the run waiting');
    expect(await collected(contexts[0]!)).toBe(true);

    await e.signal(run.id, 'answer', 'yes');
    expect(await run.result()).toBe('yes');
    expect(contexts).toHaveLength(2);
    expect(await collected(contexts[1]!)).toBe(true);
  });
});

describe('a finished run', () => {
  it('keeps a long result on the log only: result() and get() read it back, also after a reopen', async () => {
    const clock = new ManualClock(T0);
    const log = createMemoryLog();
    const open = async (): Promise<RunEngine> => {
      const e = await engine(clock, log);
      e.define({
        name: 'write',
        version: '1',
        run: (_ctx, input: { n: number }) => 'x'.repeat(input.n),
      });
      return e;
    };
    const e = await open();
    const long = await e.start('write', { n: 10_000 });
    const short = await e.start('write', { n: 10 });
    expect(await long.result()).toBe('x'.repeat(10_000));
    expect(await short.result()).toBe('x'.repeat(10));
    expect((await e.get(long.id)).result).toBe('x'.repeat(10_000));
    await e.close();
    const again = await open();
    expect((await again.get(long.id)).result).toBe('x'.repeat(10_000));
    expect((await again.get(short.id)).result).toBe('x'.repeat(10));
  });

  it('does not hold long results in the heap (SQLite store)', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const storage = await openStorage(`sqlite:${join(dir, 'k.db')}`);
    cleanups.push(() => storage.close());
    const e = await engine(new ManualClock(T0), storage.log);
    e.define({
      name: 'write',
      version: '1',
      run: (_ctx, input: { i: number }) => `${input.i}`.padEnd(20_000, 'x'),
    });
    const batch = async (from: number): Promise<void> => {
      await Promise.all(
        Array.from({ length: 50 }, async (_, j) => {
          const run = await e.start('write', { i: from + j });
          expect(((await run.result()) as string).length).toBe(20_000);
        }),
      );
    };
    await batch(0); // warm up
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 50; i < 550; i += 50) await batch(i);
    gc();
    // 500 results of 20 000 characters would be 10 MB (20 MB as UTF-16 strings) if the
    // finished runs kept them.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(5_000_000);
  });
});

/**
 * A run whose journal write fails on a storage error is not lost: it is tried again a second
 * later and completes, without running the steps it had recorded.
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../src/errors.js';
import { createRunEngine } from '../../src/runs/run-engine.js';
import type { RunContext } from '../../src/runs/run-context.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';
import { withAppend } from '../helpers/log-double.js';
import { ManualClock } from '../../src/util/clock.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { silentLogger } from '../../src/util/logger.js';

describe('durable runs on a failing store', () => {
  it('retries a run after a storage error and completes it', async () => {
    const inner = createMemoryLog();
    let failNext = false;
    let failed = 0;
    const log = withAppend(inner, (stream, entries, options) => {
      if (failNext && stream.startsWith('run:')) {
        failNext = false;
        failed++;
        return Promise.reject(new KernelError('STORAGE_ERROR', 'connection lost'));
      }
      return inner.append(stream, entries, options);
    });
    const clock = new ManualClock();
    const runs = await createRunEngine({
      log,
      clock,
      ids: createUuidV7({ clock }),
      logger: silentLogger,
      retention: false,
    });
    const calls = { a: 0, b: 0 };
    runs.define({
      name: 'two',
      run: async (ctx: RunContext) => {
        await ctx.step('a', () => ++calls.a);
        if (failed === 0) failNext = true; // step b's record fails, once
        return ctx.step('b', () => ++calls.b);
      },
    });
    const run = await runs.start('two');
    await new Promise<void>((resolve) => {
      const off = runs.onStatus((r) => {
        if (r.id === run.id && r.status === 'pending') {
          off();
          resolve();
        }
      });
    });
    expect(failed).toBe(1);
    clock.advance(1000);
    await expect(run.result()).resolves.toBe(2);
    expect(calls).toEqual({ a: 1, b: 2 }); // a recorded: not again; b's record was lost: again
    await runs.close();
  });
});

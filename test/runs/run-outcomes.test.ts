/**
 * Fork families in the kernel: each ending run's outcome goes to the ledger on the family's
 * chain, and once a fork and its parent have both finished the learning store records which
 * variant won (completed beats failed, then lower cost, then shorter duration).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RunContext } from '../../src/runs/run-context.js';
import { compareRuns, pickWinner, type RunOutcome } from '../../src/runs/run-outcomes.js';
import { testKernel } from '../helpers/kernel.js';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const outcome = (id: string, over: Partial<RunOutcome>): RunOutcome => ({
  id,
  status: 'completed',
  finished: true,
  durationMs: 10,
  tokens: 100,
  costMicrodollars: 50,
  stepsRan: 2,
  stepsCopied: 0,
  ...over,
});

describe('run outcomes', () => {
  it('picks the winner: completed, then cost, then tokens, then duration', () => {
    expect(pickWinner(outcome('a', { status: 'failed' }), outcome('b', {}))).toEqual({
      winner: 'b',
      reason: 'completed; the other failed',
    });
    expect(pickWinner(outcome('a', { costMicrodollars: 10 }), outcome('b', {})).winner).toBe('a');
    expect(pickWinner(outcome('a', { tokens: 200 }), outcome('b', {})).winner).toBe('b');
    expect(pickWinner(outcome('a', { durationMs: 5 }), outcome('b', {}))).toEqual({
      winner: 'a',
      reason: 'both completed; lower duration (5 ms vs 10 ms)',
    });
    expect(pickWinner(outcome('a', {}), outcome('b', {})).winner).toBeNull();
    expect(
      pickWinner(outcome('a', { status: 'running', finished: false }), outcome('b', {})),
    ).toEqual({ winner: null, reason: 'not both finished yet' });
  });

  it('records a fork family on one ledger chain and the winning variant in learning', async () => {
    const calls: Record<string, number> = {};
    const k = await testKernel({
      define: [
        {
          name: 'priced',
          run: async (ctx: RunContext) => {
            const model = (ctx.config as { model: string }).model;
            const plan = await ctx.step(
              'plan',
              () => ((calls['plan'] = (calls['plan'] ?? 0) + 1), 'p'),
              {
                usage: () => ({ tokens: 1000, costMicrodollars: 900 }),
              },
            );
            const price = model === 'big' ? 5000 : 200;
            const write = await ctx.step(
              'write',
              () => ((calls['write'] = (calls['write'] ?? 0) + 1), `${plan}-${model}`),
              { usage: () => ({ tokens: price, costMicrodollars: price }) },
            );
            return write;
          },
        },
      ],
    });
    cleanups.push(k.cleanup);
    const { kernel } = k;
    const parent = await kernel.start('priced', null, { config: { model: 'big' }, tenant: 't1' });
    await parent.result();
    const stored = new Promise<string>((resolve) => {
      const off = kernel.bus.on('MemoryStored', (e) => {
        if (e.source === 'runs') {
          off();
          resolve(e.id);
        }
      });
    });
    const fork = await kernel.runs.fork(parent.id, {
      fromStep: 'write#1',
      config: { model: 'small' },
    });
    await expect(fork.result()).resolves.toBe('p-small');
    expect(calls).toEqual({ plan: 1, write: 2 }); // the plan was copied, not run again
    expect(await stored).toBe(`run-fork:${fork.id}`);

    const pattern = kernel.learning.getPattern(`run-fork:${fork.id}`);
    expect(pattern).toMatchObject({ domain: 'runs', success_rate: 1 });
    expect(pattern?.strategy).toContain('beat the run it was forked from');
    expect(pattern?.strategy).toContain('lower cost (200µ$ vs 5900µ$)');

    const cmp = compareRuns(await kernel.runs.get(fork.id), await kernel.runs.get(parent.id));
    expect(cmp.winner).toBe(fork.id);
    expect(cmp.a).toMatchObject({ costMicrodollars: 200, stepsRan: 1, stepsCopied: 1 });
    expect(cmp.steps.map((s) => [s.key, s.same, s.a?.copied ?? false])).toEqual([
      ['plan#1', true, true],
      ['write#1', false, false],
    ]);

    const records = await kernel.ledger.query({ tenantId: 't1', chainId: parent.id });
    expect(
      records
        .map(
          (r) =>
            (r.envelope.event.data as unknown as { metadata: { run_id: string } }).metadata.run_id,
        )
        .sort(),
    ).toEqual([fork.id, parent.id].sort());
  });
});

/**
 * Self-healing on durable runs: a failed step is what heals — retry, patch forward, rollback
 * resume the run (finished steps replay), escalation parks it on a gate.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel.js';
import { agentConfigKeys } from '../../src/recovery/known-good.js';
import type { RunContext } from '../../src/runs/run-context.js';
import type { RunSummary } from '../../src/runs/run-engine.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from '../helpers/stores.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function open(): Promise<Kernel> {
  const t = tempDir('kerno-run-heal-');
  const kernel = await createKernel({
    store: 'memory:',
    stateDir: t.dir,
    clock: new ManualClock(Date.UTC(2026, 4, 14, 10)),
    logger: silentLogger,
    registryKey: 'run heal test key',
    registryScryptCost: 1024,
  });
  cleanups.push(() => t.cleanup());
  cleanups.push(() => kernel.close());
  return kernel;
}

class StepError extends Error {
  constructor(
    message: string,
    readonly flaky = false,
  ) {
    super(message);
  }
}

/** Resolves with the first status change of run `id` to `status`. */
function statusOf(kernel: Kernel, id: () => string, status: RunSummary['status']) {
  return new Promise<RunSummary>((resolve) => {
    const off = kernel.runs.onStatus((run) => {
      if (run.id === id() && run.status === status) {
        off();
        resolve(run);
      }
    });
  });
}

describe('self-healing on runs', () => {
  it('retry: a flaky step runs again, the finished steps replay', async () => {
    const kernel = await open();
    const calls = { fetch: 0, flaky: 0, write: 0 };
    kernel.define<null, string>({
      name: 'pipeline',
      recovery: true,
      run: async (ctx) => {
        await ctx.step('fetch', () => ++calls.fetch);
        await ctx.step('flaky', () => {
          if (++calls.flaky === 1) throw new StepError('network timeout talking to staging', true);
          return 'ok';
        });
        return ctx.step('write', () => `written ${++calls.write}`);
      },
    });
    const run = await kernel.start<string>('pipeline', null, { id: 'p-1' });
    // result() waits through the healing: the run failed once, then completed.
    expect(await run.result()).toBe('written 1');
    expect(calls).toEqual({ fetch: 1, flaky: 2, write: 1 });
    const info = await kernel.runs.get('p-1');
    expect(info.status).toBe('completed');
    expect(info.recovery).toMatchObject([
      {
        n: 1,
        action: 'retry',
        step: 'flaky#1',
        rationale: expect.stringMatching(/flaky/) as string,
      },
    ]);
    expect(info.resumes).toMatchObject([
      { n: 1, by: 'self-healing', replayed: ['fetch#1'], ran: ['flaky#1', 'write#1'] },
    ]);
    expect(info.resumes[0]!.reason).toContain("retry of step 'flaky#1'");
    const [log] = await kernel.recoveries.forAgent('pipeline');
    expect(log).toMatchObject({
      outcome: 'recovered',
      initial_failure: { stage: 'flaky', flaky_hint: true },
      decisions: [{ action: 'retry' }],
    });
    await kernel.audit.flush();
    const audit = await kernel.audit.entries({ actor: 'self-healing' });
    expect(audit.filter((e) => e.resource === 'run:p-1').map((e) => e.action)).toEqual([
      { type: 'Other', data: { detail: expect.stringContaining('step flaky#1: retry') as string } },
    ]);
  });

  it('patch forward: the run resumes from the failed step with the patched config', async () => {
    const kernel = await open();
    const seen: unknown[] = [];
    kernel.define<null, string>({
      name: 'builder',
      recovery: true,
      run: async (ctx) => {
        await ctx.step('checkout', () => 'sha');
        return ctx.step('compile', () => {
          seen.push(ctx.config);
          if ((ctx.config as { fix?: boolean }).fix !== true)
            throw new StepError('compilation error in main.rs');
          return 'built';
        });
      },
      patch: (ctx) => ({ config: { ...(ctx.config as object), fix: true } }),
    });
    const recorded = new Promise<void>((resolve) => {
      const off = kernel.bus.on('MemoryStored', (e) => {
        if (e.source === 'recovery') resolve(off());
      });
    });
    const run = await kernel.start<string>('builder', null, { id: 'b-1', config: { opt: 2 } });
    expect(await run.result()).toBe('built');
    await recorded;
    expect(seen).toEqual([{ opt: 2 }, { opt: 2, fix: true }]);
    const info = await kernel.runs.get('b-1');
    expect(info.recovery?.map((r) => r.action)).toEqual(['patch_forward']);
    expect(info.resumes[0]).toMatchObject({ config: { opt: 2, fix: true }, ran: ['compile#1'] });
    // the config that completed is the agent's known-good one now
    expect(await kernel.registry.tryGetConfig(agentConfigKeys.runKnownGood('builder'))).toEqual({
      opt: 2,
      fix: true,
    });
  });

  it('rollback: resumes with the config of the last completed run', async () => {
    const kernel = await open();
    kernel.define<null, string>({
      name: 'server',
      recovery: true,
      run: async (ctx) =>
        ctx.step('serve', () => {
          const v = (ctx.config as { v: number }).v;
          if (v === 2) throw new StepError('panic: null pointer in v2 handler');
          return `served with v${v}`;
        }),
    });
    expect(await (await kernel.start('server', null, { config: { v: 1 } })).result()).toBe(
      'served with v1',
    );
    const second = await kernel.start<string>('server', null, { id: 's-2', config: { v: 2 } });
    expect(await second.result()).toBe('served with v1');
    const info = await kernel.runs.get('s-2');
    expect(info.recovery).toMatchObject([{ action: 'rollback', failureClass: 'runtime' }]);
    expect(info.config).toEqual({ v: 1 });
  });

  it('escalation: no known-good config parks the run on a gate; approving resumes it from the step', async () => {
    const kernel = await open();
    let attempts = 0;
    kernel.define<null, string>({
      name: 'deployer',
      recovery: true,
      run: async (ctx) => {
        await ctx.step('build', () => 'image');
        return ctx.step('rollout', () => {
          if (++attempts === 1) throw new StepError('panic: cluster handshake refused');
          return 'rolled out';
        });
      },
    });
    const parked = statusOf(kernel, () => 'd-1', 'waiting');
    const run = await kernel.start<string>('deployer', null, { id: 'd-1' });
    await parked;
    const info = await kernel.runs.get('d-1');
    expect(info.status).toBe('waiting');
    const note = info.recovery?.at(-1);
    expect(note).toMatchObject({ action: 'escalate', step: 'rollout#1' });
    expect(info.waitingFor).toEqual({ kind: 'approval', gate: note!.gate });
    const [gate] = kernel.approvals.list();
    expect(gate).toMatchObject({ id: note!.gate, origin: 'escalation', agentName: 'deployer' });
    expect(gate!.reason).toBe("Step 'rollout#1' failed: Error: panic: cluster handshake refused");
    expect(gate!.request.summary).toContain("failed at step 'rollout#1'");
    await kernel.approvals.approve(gate!.id, { by: 'ops' });
    expect(await run.result()).toBe('rolled out');
    const done = await kernel.runs.get('d-1');
    expect(done.recovery?.map((r) => r.action)).toEqual(['escalate', 'approved']);
    expect(done.resumes).toMatchObject([{ by: 'ops', replayed: ['build#1'], ran: ['rollout#1'] }]);
  });

  it('escalation rejected: the run stays failed with the reason', async () => {
    const kernel = await open();
    kernel.define({
      name: 'stuck',
      recovery: { allow_rollback: false },
      run: async (ctx) =>
        ctx.step('call', () => {
          throw new StepError('dependency unavailable: payments API');
        }),
    });
    const parked = statusOf(kernel, () => 'x-1', 'waiting');
    await kernel.start('stuck', null, { id: 'x-1' });
    await parked;
    const [gate] = kernel.approvals.list();
    await kernel.approvals.reject(gate!.id, { by: 'ops', reason: 'vendor outage' });
    const info = await kernel.runs.wait('x-1');
    expect(info.status).toBe('failed');
    expect(info.recovery?.at(-1)).toMatchObject({
      action: 'rejected',
      rationale: 'rejected by ops: vendor outage; the run stays failed',
    });
    expect(kernel.approvals.list()).toEqual([]);
  });

  it('an agent without recovery fails as before', async () => {
    const kernel = await open();
    kernel.define({
      name: 'plain',
      run: async (ctx) =>
        ctx.step('x', () => {
          throw new StepError('boom', true);
        }),
    });
    const info = await kernel.runs.wait((await kernel.start('plain', null)).id);
    expect(info.status).toBe('failed');
    expect(info.recovery).toBeUndefined();
  });
});

describe('a run reopened after a restart', () => {
  it('shows which steps replayed and which ran after it', async () => {
    const t = tempDir('kerno-run-reopen-');
    cleanups.push(() => t.cleanup());
    const clock = new ManualClock(Date.UTC(2026, 4, 14, 10));
    const calls: string[] = [];
    const definition = {
      name: 'report',
      run: async (ctx: RunContext) => {
        await ctx.step('search', () => void calls.push('search'));
        await ctx.sleep(60_000); // longer than runHoldMs: the run suspends
        await ctx.step('write', () => void calls.push('write'));
        return 'done';
      },
    };
    const openOn = () =>
      createKernel({
        store: `sqlite:${join(t.dir, 'k.db')}`,
        stateDir: t.dir,
        clock,
        logger: silentLogger,
        registryKey: 'reopen test key',
        registryScryptCost: 1024,
        define: [definition],
      });
    const first = await openOn();
    const sleeping = statusOf(first, () => 'r-1', 'sleeping');
    await first.start('report', null, { id: 'r-1' });
    await sleeping;
    await first.close();
    const second = await openOn();
    cleanups.push(() => second.close());
    clock.advance(60_000);
    const info = await second.runs.wait('r-1');
    expect(info.status).toBe('completed');
    expect(calls).toEqual(['search', 'write']);
    expect(info.reopens).toMatchObject([
      { n: 1, owner: 'local', replayed: ['search#1'], ran: ['write#1'] },
    ]);
  });
});

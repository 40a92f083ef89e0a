/**
 * Durable runs through the kernel: `define` at open resumes runs with no other call, and
 * `ctx.requestApproval` joins the journal — a decision made while the kernel was down resumes
 * the run when it comes back.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel.js';
import type { AgentDefinition } from '../../src/runs/run-engine.js';
import type { RunContext } from '../../src/runs/run-context.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from '../helpers/stores.js';

function open(dir: string, define: AgentDefinition<never, unknown>[] = []): Promise<Kernel> {
  return createKernel({
    store: `sqlite:${join(dir, 'kerno.db')}`,
    stateDir: dir,
    logger: silentLogger,
    registryKey: 'runs test key',
    registryScryptCost: 1024,
    define,
  });
}

describe('durable runs in the kernel', () => {
  it('resumes a run waiting on an approval that was decided while the kernel was down', async () => {
    const { dir, cleanup } = tempDir('kerno-runs-');
    let deploys = 0;
    const deployer: AgentDefinition<{ version: string }, unknown> = {
      name: 'deployer',
      run: async (ctx: RunContext, input) => {
        const plan = await ctx.step('plan', () => ({ target: `v${input.version}` }));
        const decision = await ctx.requestApproval({
          summary: `Deploy ${plan.target}?`,
          action: 'deploy',
        });
        if (!decision.approved) return { deployed: false, reason: decision.reason };
        return ctx.step('deploy', () => ({ deployed: true, n: ++deploys, by: decision.decidedBy }));
      },
    };
    try {
      const first = await open(dir, [deployer]);
      const run = await first.start('deployer', { version: '42' });
      const waiting = await new Promise<string>((resolve) => {
        const off = first.runs.onStatus((r) => {
          if (r.id === run.id && r.status === 'waiting') {
            off();
            resolve(r.id);
          }
        });
      });
      expect(waiting).toBe(run.id);
      const gate = (await first.runs.get(run.id)).waitingFor;
      expect(gate?.kind).toBe('approval');
      const pending = first.approvals.list({ status: 'pending' });
      expect(pending.map((g) => g.request.summary)).toEqual(['Deploy v42?']);
      await first.close();

      // an operator approves with the kernel down (the CLI's --store mode: a kernel without agents)
      const tool = await createKernel({
        store: `sqlite:${join(dir, 'kerno.db')}`,
        stateDir: dir,
        logger: silentLogger,
        registryKey: 'runs test key',
        registryScryptCost: 1024,
        agents: false,
      });
      // a kernel without agents reads where the run stands from its journal
      expect((await tool.runs.get(run.id)).status).toBe('waiting');
      expect((await tool.runs.get(run.id)).waitingFor?.kind).toBe('approval');
      await tool.approvals.approve(pending[0]!.id, { by: 'alice' });
      await tool.close();

      const second = await open(dir, [deployer]);
      const info = await second.runs.wait(run.id);
      expect(info.status).toBe('completed');
      expect(info.result).toEqual({ deployed: true, n: 1, by: 'alice' });
      expect(info.steps.map((s) => s.key)).toEqual(['plan#1', 'deploy#1']);
      await second.close();
    } finally {
      cleanup();
    }
  });

  it('a rejected approval is recorded once and replays as a rejection', async () => {
    const { dir, cleanup } = tempDir('kerno-runs-');
    try {
      const kernel = await open(dir);
      kernel.define({
        name: 'asker',
        run: async (ctx: RunContext) => {
          const d = await ctx.requestApproval({ summary: 'Spend $5?' });
          return { approved: d.approved, reason: d.reason };
        },
      });
      const run = await kernel.start('asker');
      await new Promise<void>((resolve) => {
        const off = kernel.runs.onStatus((r) => {
          if (r.id === run.id && r.status === 'waiting') {
            off();
            resolve();
          }
        });
      });
      const [gate] = kernel.approvals.list({ status: 'pending' });
      await kernel.approvals.reject(gate!.id, { reason: 'too much' });
      await expect(run.result()).resolves.toEqual({ approved: false, reason: 'too much' });
      await kernel.close();
    } finally {
      cleanup();
    }
  });
});

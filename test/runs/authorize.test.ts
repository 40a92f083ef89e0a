/**
 * `ctx.authorize` and `ctx.step(name, fn, { action, tool, resource })` in durable runs: the
 * approval rules decide before the side effect; deny fails with DENIED and is audited; ask waits
 * durably on a gate (also across a restart) with the rule's approver settings; a replay keeps the
 * first decision even when the rules changed since.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isKernelError } from '../../src/errors.js';
import { createKernel, type Kernel } from '../../src/kernel.js';
import type { AgentDefinition } from '../../src/runs/run-engine.js';
import type { RunContext } from '../../src/runs/run-context.js';
import { silentLogger } from '../../src/util/logger.js';
import { testKernel } from '../helpers/kernel.js';
import { tempDir } from '../helpers/stores.js';

function waitingOn(kernel: Kernel, runId: string): Promise<void> {
  return new Promise((resolve) => {
    const check = (): boolean => kernel.approvals.list().some((g) => g.request.agent_id === runId);
    if (check()) return resolve();
    const off = kernel.runs.onStatus((r) => {
      if (r.id === runId && r.status === 'waiting') {
        off();
        resolve();
      }
    });
  });
}

async function ruleAudits(kernel: Kernel) {
  await kernel.audit.flush();
  return (await kernel.audit.entries()).filter((e) => e.resource.startsWith('rule:'));
}

describe('ctx.authorize', () => {
  it('allow resolves, deny throws DENIED naming the rule, the default applies, each audited', async () => {
    const { kernel, cleanup } = await testKernel();
    try {
      await kernel.policies.set('rule', 'no-prod-deletes', {
        effect: 'deny',
        match: { action: 'delete', resource: 'prod/*' },
      });
      await kernel.policies.set('rule', 'reads', { effect: 'allow', match: { action: 'read' } });
      const seen: string[] = [];
      kernel.define({
        name: 'janitor',
        run: async (ctx: RunContext) => {
          await ctx.authorize({ action: 'read', resource: 'prod/db' });
          seen.push('read');
          await ctx.authorize({ action: 'list' });
          seen.push('list');
          try {
            await ctx.authorize({ action: 'delete', resource: 'prod/db' });
            seen.push('deleted');
          } catch (error) {
            seen.push(isKernelError(error, 'DENIED') ? `denied: ${error.message}` : 'other');
          }
          return 'done';
        },
      });
      const run = await kernel.start('janitor');
      await expect(run.result()).resolves.toBe('done');
      expect(seen).toEqual([
        'read',
        'list',
        'denied: delete resource=prod/db is denied by rule no-prod-deletes@1',
      ]);
      const audits = await ruleAudits(kernel);
      expect(audits.map((e) => [e.action.type, e.resource, e.actor])).toEqual([
        ['Other', 'rule:reads', 'janitor'],
        ['Other', 'rule:default', 'janitor'],
        ['AccessDenied', 'rule:no-prod-deletes', 'janitor'],
      ]);
      expect(audits[2]!.metadata).toMatchObject({
        authorization: { rule: 'no-prod-deletes', version: 1, runId: run.id, effect: 'deny' },
      });
      // the decisions are on the journal
      const info = await kernel.runs.get(run.id);
      expect(info.steps.map((s) => s.key)).toEqual([
        'authorize:read#1',
        'authorize:list#2',
        'authorize:delete#3',
      ]);
    } finally {
      await cleanup();
    }
  });

  it('a denied step never runs its function and fails the run with DENIED', async () => {
    const { kernel, cleanup } = await testKernel();
    try {
      await kernel.policies.set('rule', 'no-rm', { effect: 'deny', match: { tool: 'rm' } });
      let ran = 0;
      kernel.define({
        name: 'cleaner',
        run: async (ctx: RunContext) => {
          await ctx.step('list', () => ['a'], { tool: 'ls' });
          return ctx.step('remove', () => ++ran, { tool: 'rm', resource: '/data' });
        },
      });
      const run = await kernel.start('cleaner');
      const error = await run.result().catch((e: unknown) => e);
      expect(isKernelError(error, 'RUN_FAILED')).toBe(true);
      const info = await kernel.runs.get(run.id);
      expect(info.status).toBe('failed');
      expect(info.error).toMatchObject({
        code: 'DENIED',
        message: 'remove tool=rm resource=/data is denied by rule no-rm@1',
      });
      expect(ran).toBe(0);
      expect(info.steps.map((s) => s.key)).toEqual([
        'authorize:list#1',
        'list#1',
        'authorize:remove#2',
      ]);
      const audits = await ruleAudits(kernel);
      expect(audits.at(-1)).toMatchObject({
        action: { type: 'AccessDenied', data: { permission: 'remove tool=rm resource=/data' } },
        resource: 'rule:no-rm',
      });
    } finally {
      await cleanup();
    }
  });

  it('ask opens a gate with the rule’s approvers and waits; approval resumes the run; rejection is DENIED', async () => {
    const { kernel, cleanup } = await testKernel();
    try {
      await kernel.policies.set('rule', 'payments-ask', {
        effect: 'ask',
        match: { action: 'pay', tool: 'stripe' },
        description: 'payments need finance',
        approval: { group: 'finance', approvers: 2, timeoutSecs: 3600 },
      });
      let paid = 0;
      kernel.define({
        name: 'payer',
        run: async (ctx: RunContext, input: { amount: number }) =>
          ctx.step('charge', () => ({ paid: ++paid, amount: input.amount }), {
            action: 'pay',
            tool: 'stripe',
            resource: 'acct-1',
          }),
      });
      const run = await kernel.start('payer', { amount: 5 });
      await waitingOn(kernel, run.id);
      const [gate] = kernel.approvals.list();
      expect(gate).toMatchObject({
        action: 'pay',
        tool: 'stripe',
        resource: 'acct-1',
        group: 'finance',
        required: 2,
        agentName: 'payer',
        request: {
          timeout: { timeout_secs: 3600, action: 'Reject' },
          rationale: 'payments need finance',
        },
      });
      expect(paid).toBe(0);
      const finance = { admin: false, groups: ['finance'] };
      await expect(
        kernel.approvals.approve(gate!.id, { by: 'ann', decider: finance }),
      ).resolves.toMatchObject({ status: 'pending' });
      expect(paid).toBe(0);
      await kernel.approvals.approve(gate!.id, { by: 'ben', decider: finance });
      await expect(run.result()).resolves.toEqual({ paid: 1, amount: 5 });
      const audits = await ruleAudits(kernel);
      expect(
        audits.map(
          (e) => (e.metadata as { authorization: { outcome: string } }).authorization.outcome,
        ),
      ).toEqual(['ask', 'approved']);

      // a second payment, rejected: the step fails with DENIED and the history shows the first
      const second = await kernel.start('payer', { amount: 7 });
      await waitingOn(kernel, second.id);
      const [next] = kernel.approvals.list();
      expect(kernel.approvals.similar(next!.id)).toEqual([
        expect.objectContaining({ id: gate!.id, decision: 'approved', by: 'ann, ben' }),
      ]);
      await kernel.approvals.reject(next!.id, { by: 'cfo', reason: 'too often' });
      await second.result().catch(() => undefined);
      expect((await kernel.runs.get(second.id)).error).toMatchObject({
        code: 'DENIED',
        message: expect.stringMatching(/rejected by cfo \(too often\)/) as unknown,
      });
      expect(paid).toBe(1);
      expect((await ruleAudits(kernel)).at(-1)).toMatchObject({ action: { type: 'AccessDenied' } });
    } finally {
      await cleanup();
    }
  });

  it('a run waiting on an ask resumes after approval across a restart, keeping its first decision', async () => {
    const { dir, cleanup } = tempDir('kerno-authorize-');
    let deploys = 0;
    const deployer: AgentDefinition<never, unknown> = {
      name: 'deployer',
      run: async (ctx: RunContext) => {
        await ctx.authorize({ action: 'deploy', resource: 'prod' });
        return ctx.step('deploy', () => ++deploys);
      },
    };
    const open = (): Promise<Kernel> =>
      createKernel({
        store: `sqlite:${join(dir, 'kerno.db')}`,
        stateDir: dir,
        logger: silentLogger,
        registryKey: 'authorize test key',
        registryScryptCost: 1024,
        define: [deployer],
      });
    try {
      const first = await open();
      await first.policies.set('rule', 'deploys', { effect: 'ask', match: { action: 'deploy' } });
      const run = await first.start('deployer');
      await waitingOn(first, run.id);
      const [gate] = first.approvals.list();
      expect((await first.runs.get(run.id)).waitingFor?.kind).toBe('approval');
      await first.close();

      const second = await open();
      // the rule now denies, but the run asked under the old rule: its decision replays
      await second.policies.set('rule', 'deploys', { effect: 'deny', match: { action: 'deploy' } });
      await second.approvals.approve(gate!.id, { by: 'ops' });
      await expect(second.runs.wait(run.id)).resolves.toMatchObject({
        status: 'completed',
        result: 1,
      });
      expect(deploys).toBe(1);
      await second.close();
    } finally {
      cleanup();
    }
  });

  it('guarded steps started together keep their call positions on every execution', async () => {
    const { kernel, cleanup } = await testKernel();
    try {
      await kernel.policies.set('rule', 'ask-x', { effect: 'ask', match: { tool: 'x' } });
      kernel.define({
        name: 'pair',
        run: async (ctx: RunContext) =>
          Promise.all([
            ctx.step('a', () => 'A', { tool: 'x' }),
            ctx.step('b', () => 'B', { tool: 'x' }),
            ctx.step('c', () => 'C', { tool: 'y' }),
          ]),
      });
      const run = await kernel.start('pair');
      for (let decided = 0; decided < 2;) {
        await waitingOn(kernel, run.id);
        for (const g of kernel.approvals.list()) {
          await kernel.approvals.approve(g.id, { by: 'ops' });
          decided++;
        }
      }
      await expect(run.result()).resolves.toEqual(['A', 'B', 'C']);
    } finally {
      await cleanup();
    }
  });

  it('a run’s tenant is matched by rules and its gate belongs to the tenant', async () => {
    const { kernel, cleanup } = await testKernel();
    try {
      await kernel.policies.set('rule', 'acme-asks', {
        effect: 'ask',
        match: { tenant: 'acme', action: 'send' },
      });
      kernel.define({
        name: 'mailer',
        run: async (ctx: RunContext) => {
          await ctx.authorize({ action: 'send' });
          return 'sent';
        },
      });
      const other = await kernel.start('mailer', null, { tenant: 'globex' });
      await expect(other.result()).resolves.toBe('sent');
      const run = await kernel.start('mailer', null, { tenant: 'acme' });
      await waitingOn(kernel, run.id);
      const [gate] = kernel.approvals.list({ tenant: 'acme' });
      expect(gate).toMatchObject({ tenantId: 'acme', action: 'send' });
      await expect(
        kernel.approvals.approve(gate!.id, { decider: { admin: false, tenant: 'globex' } }),
      ).rejects.toSatisfy((e) => isKernelError(e, 'NOT_FOUND'));
      await kernel.approvals.approve(gate!.id, { decider: { admin: false, tenant: 'acme' } });
      await expect(run.result()).resolves.toBe('sent');
    } finally {
      await cleanup();
    }
  });

  it('refuses a request without an action', async () => {
    const { kernel, cleanup } = await testKernel();
    try {
      kernel.define({
        name: 'bad',
        run: async (ctx: RunContext) => {
          await ctx.authorize({ action: '' });
        },
      });
      const run = await kernel.start('bad');
      await expect(run.result()).rejects.toThrow(/non-empty action/);
    } finally {
      await cleanup();
    }
  });
});

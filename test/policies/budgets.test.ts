/**
 * Budgets (src/policies/budgets.ts) with an injected clock: usage is the ledger's projection
 * (windows slide and usage ages out; per-run vs window; per tenant vs global), and a durable run
 * over its budget pauses on a raise-or-stop gate: approve raises the budget (a new, audited
 * policy version) and the run resumes; reject stops it (budget exceeded); a gate decided while
 * the kernel was down resumes the run when it opens again.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel, type KernelOptions } from '../../src/kernel.js';
import { DEMO_BUDGET, setDemoBudget } from '../../src/demo/demo-budget.js';
import { isKernelError } from '../../src/errors.js';
import { parseBudget, raisedLimit, WINDOW_BUCKETS } from '../../src/policies/budgets.js';
import type { AgentDefinition } from '../../src/runs/run-engine.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { dropSchema, freshSchema, pgAvailable, pgSkipReason, pgUrl } from '../helpers/postgres.js';
import { tempDir } from '../helpers/stores.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 11, 4, 12);

const dirs: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of dirs) cleanup();
});

function open(options: KernelOptions = {}): Promise<Kernel> {
  const { dir, cleanup } = tempDir('kerno-budgets-');
  dirs.push(cleanup);
  return createKernel({
    store: 'memory:',
    stateDir: dir,
    logger: silentLogger,
    registryKey: 'budget test key',
    registryScryptCost: 1024,
    runRetention: false,
    ...options,
  });
}

function reaches(kernel: Kernel, id: string, status: string): Promise<void> {
  return new Promise((resolve) => {
    const off = kernel.runs.onStatus((run) => {
      if (run.id === id && run.status === status) {
        off();
        resolve();
      }
    });
  });
}

/** An agent that spends $2 per step, three steps, then a last step. */
function research(spent: string[] = []): AgentDefinition<unknown, unknown> {
  return {
    name: 'research',
    run: async (ctx) => {
      for (const topic of ['a', 'b', 'c']) {
        await ctx.step(`search-${topic}`, async () => {
          await ctx.reportUsage({ tokens: 1000, costMicros: 2_000_000, model: 'gpt-test' });
          spent.push(topic);
          return topic;
        });
      }
      return ctx.step('summarise', () => 'done');
    },
  };
}

describe('budget specs', () => {
  it('say what to write when a spec is wrong', () => {
    const message = (spec: unknown): string => {
      try {
        parseBudget(spec);
      } catch (error) {
        expect(isKernelError(error, 'INVALID_ARGUMENT')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(message({ agent: 'r', windowMs: DAY })).toMatch(/at least one limit/);
    expect(message({ agent: 'r', costMicros: 5 })).toMatch(/windowMs.*perRun/);
    expect(message({ costMicros: -1, perRun: true })).toMatch(/costMicros.*≥ 0/);
    expect(message({ costMicros: 1, perRun: true, cost: 3 })).toMatch(/no field "cost"/);
    expect(message({ costMicros: 1, windowMs: 10 })).toMatch(/86400000/);
    expect(parseBudget({ agent: 'r', costMicros: 5_000_000, windowMs: DAY })).toEqual({
      agent: 'r',
      costMicros: 5_000_000,
      windowMs: DAY,
    });
    expect(raisedLimit(5_000_000, 6_000_000, 1.5)).toBe(7_500_000);
    expect(raisedLimit(10, 40, 2)).toBe(80);
  });
});

describe('budget usage from the ledger', () => {
  it('slides the window: usage ages out, and a budget set later sees past usage', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock, agents: false });
    try {
      await kernel.budgets.report({ agent: 'research' }, { costMicros: 3_000_000, tokens: 10 });
      // a budget set after the usage: its window is filled from the ledger
      await kernel.policies.set('budget', 'research-daily', {
        agent: 'research',
        costMicros: 5_000_000,
        windowMs: DAY,
      });
      await kernel.budgets.settled();
      expect(kernel.budgets.usage({ agent: 'research' })).toMatchObject([
        {
          budget: 'research-daily',
          used: 3_000_000,
          limit: 5_000_000,
          percent: 60,
          breached: false,
        },
      ]);
      clock.advance(DAY / 2);
      await kernel.budgets.report({ agent: 'research' }, { costMicros: 2_500_000 });
      // usage of another agent does not count
      await kernel.budgets.report({ agent: 'other' }, { costMicros: 9_000_000 });
      const [row] = kernel.budgets.usage();
      expect(row).toMatchObject({ used: 5_500_000, breached: true, scope: 'agent research' });
      const breach = kernel.budgets.check({ agent: 'research' });
      expect(breach?.reason).toBe('research spent $5.50 of its $5.00 daily budget');
      expect(kernel.budgets.check({ agent: 'other' })).toBeNull();
      // the first report ages out a day (plus at most one bucket) after it was made
      clock.advance(DAY / 2 + DAY / WINDOW_BUCKETS);
      expect(kernel.budgets.usage()[0]).toMatchObject({ used: 2_500_000, breached: false });
      expect(kernel.budgets.check({ agent: 'research' })).toBeNull();
      clock.advance(DAY);
      expect(kernel.budgets.usage()[0]).toMatchObject({ used: 0 });
    } finally {
      await kernel.close();
    }
  });

  it('holds per-run limits per run and window limits across runs', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock, agents: false });
    try {
      await kernel.policies.set('budget', 'per-run', { agent: 'r', tokens: 100, perRun: true });
      await kernel.policies.set('budget', 'hourly', {
        agent: 'r',
        tokens: 150,
        windowMs: 3_600_000,
      });
      await kernel.budgets.report({ agent: 'r', runId: 'run-a' }, { tokens: 80 });
      await kernel.budgets.report({ agent: 'r', runId: 'run-b' }, { tokens: 50 });
      expect(kernel.budgets.check({ agent: 'r', runId: 'run-a' })).toBeNull();
      await kernel.budgets.report({ agent: 'r', runId: 'run-a' }, { tokens: 20 });
      expect(kernel.budgets.check({ agent: 'r', runId: 'run-a' })).toMatchObject({
        budget: 'hourly',
        used: 150,
      });
      clock.advance(2 * 3_600_000);
      // the hour has passed: run a is still over its per-run limit, run b is not
      expect(kernel.budgets.check({ agent: 'r', runId: 'run-a' })).toMatchObject({
        budget: 'per-run',
        period: 'run',
        used: 100,
        reason: 'r used 100 of its 100 per-run tokens',
      });
      expect(kernel.budgets.check({ agent: 'r', runId: 'run-b' })).toBeNull();
      const rows = kernel.budgets.usage();
      expect(rows.find((r) => r.budget === 'per-run')).toMatchObject({ run: 'run-a', used: 100 });
      expect(rows.find((r) => r.budget === 'hourly')).toMatchObject({ used: 0 });
      expect(
        kernel.budgets.usage({ run: 'run-b' }).find((r) => r.budget === 'per-run'),
      ).toMatchObject({
        used: 50,
      });
    } finally {
      await kernel.close();
    }
  });

  it('keeps tenants apart and counts every tenant in a global budget', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock, agents: false });
    try {
      await kernel.policies.set('budget', 'acme', { tenant: 'acme', calls: 2, windowMs: DAY });
      await kernel.policies.set('budget', 'all', { calls: 3, windowMs: DAY });
      await kernel.budgets.report({ agent: 'x', tenant: 'acme' }, { tokens: 1 });
      await kernel.budgets.report({ agent: 'x', tenant: 'acme' }, { tokens: 1 });
      expect(kernel.budgets.check({ agent: 'x', tenant: 'acme' })).toMatchObject({
        budget: 'acme',
        reason: 'tenant acme made 2 of its 2 daily model calls',
      });
      expect(kernel.budgets.check({ agent: 'x', tenant: 'beta' })).toBeNull();
      await kernel.budgets.report({ agent: 'y', tenant: 'beta' }, { tokens: 1 });
      expect(kernel.budgets.check({ agent: 'y', tenant: 'beta' })).toMatchObject({
        budget: 'all',
        used: 3,
      });
      // a tenant sees only its own budgets
      expect(kernel.budgets.usage({ tenant: 'beta' })).toEqual([]);
      expect(kernel.budgets.usage({ tenant: 'acme' }).map((r) => r.budget)).toEqual(['acme']);
      // usage appended to the ledger by anyone counts (one projection, not a second counter)
      await kernel.ledger.append(
        {
          type: 'OutcomeRecorded',
          data: {
            chain_id: 'c',
            step: 'Reasoning',
            passed: true,
            stop_reason: null,
            latency_ms: null,
            tokens: 5,
            cost_microdollars: 7,
            backend: null,
          },
        },
        { tenantId: 'beta' },
      );
      await kernel.budgets.settled();
      await expect.poll(() => kernel.budgets.usage().find((r) => r.budget === 'all')?.used).toBe(4);
    } finally {
      await kernel.close();
    }
  });

  it("counts another tenant's usage toward no run of acme, nor shows it", async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock, agents: false });
    try {
      await kernel.policies.set('budget', 'acme-run', {
        tenant: 'acme',
        costMicros: 5_000_000,
        perRun: true,
      });
      await kernel.policies.set('budget', 'any-run', { costMicros: 5_000_000, perRun: true });
      await kernel.budgets.report(
        { agent: 'r', tenant: 'acme', runId: 'run-a' },
        { costMicros: 1 },
      );
      // tenant evil spends "in" acme's run through the ledger
      await kernel.ledger.append(
        {
          type: 'OutcomeRecorded',
          data: {
            chain_id: 'c',
            step: 'Evaluation',
            passed: true,
            stop_reason: null,
            latency_ms: null,
            tokens: null,
            cost_microdollars: 9_000_000,
            backend: null,
            metadata: { agent: 'r' },
          },
        },
        { tenantId: 'evil', correlationId: 'run-a' },
      );
      await kernel.budgets.settled();
      await expect
        .poll(() => kernel.budgets.check({ agent: 'r', tenant: 'evil', runId: 'run-a' }))
        .not.toBeNull();
      expect(kernel.budgets.check({ agent: 'r', tenant: 'acme', runId: 'run-a' })).toBeNull();
      const mine = kernel.budgets.usage({ tenant: 'acme', run: 'run-a' });
      expect(mine).toEqual([
        expect.objectContaining({ budget: 'acme-run', run: 'run-a', used: 1 }),
      ]);
      // acme cannot read evil's run either
      expect(kernel.budgets.usage({ tenant: 'acme', run: 'other' })[0]).toMatchObject({ used: 0 });
    } finally {
      await kernel.close();
    }
  });
});

describe('a run over its budget', () => {
  it('pauses and asks; approving raises the budget (audited) and the run resumes', async () => {
    const clock = new ManualClock(T0);
    const spent: string[] = [];
    const kernel = await open({ clock, define: [research(spent)] });
    try {
      await kernel.policies.set(
        'budget',
        'research-daily',
        { agent: 'research', costMicros: 5_000_000, windowMs: DAY },
        { by: 'ops' },
      );
      const run = await kernel.start('research');
      await reaches(kernel, run.id, 'waiting');
      // three steps ran ($6.00); the fourth waits before it starts
      expect(spent).toEqual(['a', 'b', 'c']);
      const info = await kernel.runs.get(run.id);
      expect(info.status).toBe('waiting');
      expect(info.steps.map((s) => s.key)).toEqual(['search-a#1', 'search-b#1', 'search-c#1']);
      const [gate] = kernel.approvals.list();
      expect(gate!.request.summary).toBe(
        'research spent $6.00 of its $5.00 daily budget: raise the budget or stop the run?',
      );
      expect(gate!.action).toBe('budget.raise');
      expect(info.waitingFor).toEqual({ kind: 'approval', gate: gate!.id });

      await kernel.approvals.approve(gate!.id, { by: 'alice' });
      const done = await kernel.runs.wait(run.id);
      expect(done.status).toBe('completed');
      expect(done.result).toBe('done');
      const policy = kernel.policies.get('budget', 'research-daily');
      expect(policy).toMatchObject({ version: 2, updatedBy: 'alice' });
      expect(policy?.spec).toMatchObject({ costMicros: 7_500_000 });
      await kernel.audit.flush();
      const audited = (await kernel.audit.entries({})).filter(
        (e) => e.resource === 'policy/budget/research-daily',
      );
      expect(audited.map((e) => e.actor)).toEqual(['ops', 'alice']);
      expect(audited[1]!.metadata).toMatchObject({ version: 2 });
      expect(JSON.stringify(audited[1]!.metadata)).toMatch(/approving budget gate/);
      // the usage is in the ledger with the run and its agent
      const outcomes = await kernel.ledger.query({
        kinds: ['OutcomeRecorded'],
        correlationId: run.id,
      });
      expect(outcomes).toHaveLength(3);
      expect(outcomes[0]!.envelope.event).toMatchObject({
        data: {
          tokens: 1000,
          cost_microdollars: 2_000_000,
          backend: 'gpt-test',
          metadata: { agent: 'research' },
        },
      });
    } finally {
      await kernel.close();
    }
  });

  it('raises to the limit the decision carries', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock, define: [research()] });
    try {
      await kernel.policies.set('budget', 'cap', {
        agent: 'research',
        costMicros: 3_000_000,
        perRun: true,
      });
      const run = await kernel.start('research');
      await reaches(kernel, run.id, 'waiting');
      const [gate] = kernel.approvals.list();
      expect(gate!.request.summary).toMatch(
        /^research spent \$4\.00 of its \$3\.00 per-run budget/,
      );
      await kernel.budgets.decide(gate!.id, {
        approve: true,
        limits: { costMicros: 20_000_000 },
        by: 'bob',
      });
      expect((await kernel.runs.wait(run.id)).status).toBe('completed');
      expect(kernel.policies.get('budget', 'cap')?.spec).toMatchObject({ costMicros: 20_000_000 });
      // decided once: a second decision is refused and raises nothing
      await expect(
        kernel.budgets.decide(gate!.id, { approve: true, limits: { costMicros: 1 } }),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(kernel.policies.get('budget', 'cap')?.version).toBe(2);
      await expect(kernel.budgets.decide('nope', { approve: true })).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
    } finally {
      await kernel.close();
    }
  });

  it('approved over a per-run budget it overspent, raises above what the run spent, as the gate said', async () => {
    const clock = new ManualClock(T0);
    const spent: string[] = [];
    const kernel = await open({ clock, define: [research(spent)] });
    try {
      await kernel.policies.set('budget', 'cap', {
        agent: 'research',
        costMicros: 1_000_000,
        perRun: true,
      });
      const run = await kernel.start('research');
      await reaches(kernel, run.id, 'waiting');
      expect(spent).toEqual(['a']);
      const [gate] = kernel.approvals.list();
      // $2.00 spent of $1.00: ×1.5 is $1.50, still under what the run spent; ×1.5 again: $2.25
      expect(gate!.request.rationale).toMatch(/Approve to raise it to \$2\.25 \(×1\.5;/);
      const asksAgain = reaches(kernel, run.id, 'waiting');
      await kernel.approvals.approve(gate!.id, { by: 'alice' });
      await asksAgain;
      // the run went on with its next step (it did not stop at once at a raise still too low)
      expect(kernel.policies.get('budget', 'cap')?.spec).toMatchObject({ costMicros: 2_250_000 });
      expect(spent).toEqual(['a', 'b']);
      const [next] = kernel.approvals.list().filter((g) => g.decision === null);
      await kernel.budgets.decide(next!.id, { approve: false });
      expect((await kernel.runs.wait(run.id)).status).toBe('cancelled');
    } finally {
      await kernel.close();
    }
  });

  it('is stopped when the raise is rejected: budget exceeded', async () => {
    const clock = new ManualClock(T0);
    const spent: string[] = [];
    const kernel = await open({ clock, define: [research(spent)] });
    try {
      await kernel.policies.set('budget', 'cap', {
        agent: 'research',
        costMicros: 1_000_000,
        windowMs: DAY,
      });
      const run = await kernel.start('research');
      await reaches(kernel, run.id, 'waiting');
      expect(spent).toEqual(['a']);
      const [gate] = kernel.approvals.list();
      await kernel.budgets.decide(gate!.id, { approve: false, by: 'carol' });
      const info = await kernel.runs.wait(run.id);
      expect(info.status).toBe('cancelled');
      expect(info.error?.message).toMatch(/^budget exceeded/);
      expect(info.error?.message).toMatch(/carol/);
      await expect(run.result()).rejects.toThrow(/budget exceeded/);
      expect(kernel.policies.get('budget', 'cap')?.version).toBe(1);
      expect(spent).toEqual(['a']);
    } finally {
      await kernel.close();
    }
  });

  it('resumed after a rejected raise and a raised budget, checks the budget again live (and so does a fork)', async () => {
    const clock = new ManualClock(T0);
    const spent: string[] = [];
    const kernel = await open({ clock, define: [research(spent)] });
    try {
      await kernel.policies.set('budget', 'cap', {
        agent: 'research',
        costMicros: 1_000_000,
        windowMs: DAY,
      });
      const run = await kernel.start('research');
      await reaches(kernel, run.id, 'waiting');
      const [rejected] = kernel.approvals.list();
      await kernel.budgets.decide(rejected!.id, { approve: false, by: 'carol' });
      expect((await kernel.runs.wait(run.id)).status).toBe('cancelled');
      // the admin raises the budget, then resumes: the old rejection does not stop it again
      await kernel.policies.set('budget', 'cap', {
        agent: 'research',
        costMicros: 3_000_000,
        windowMs: DAY,
      });
      const waiting = reaches(kernel, run.id, 'waiting');
      await kernel.runs.resume(run.id);
      await waiting;
      expect(spent).toEqual(['a', 'b']);
      // a new breach after the resume asks on a new gate (not the rejected one)
      const open = kernel.approvals.list().filter((g) => g.decision === null);
      expect(open).toHaveLength(1);
      expect(open[0]!.id).not.toBe(rejected!.id);
      await kernel.budgets.decide(open[0]!.id, {
        approve: true,
        limits: { costMicros: 100_000_000 },
        by: 'alice',
      });
      const done = await kernel.runs.wait(run.id);
      expect(done.status).toBe('completed');
      expect(done.result).toBe('done');
      expect(spent).toEqual(['a', 'b', 'c']);
      // a fork after the rejected gate does not copy the rejection
      const fork = await kernel.runs.fork(run.id, { fromStep: 'summarise#1' });
      expect(await fork.result()).toBe('done');
      expect(spent).toEqual(['a', 'b', 'c']);
    } finally {
      await kernel.close();
    }
  });

  it('resumed after a rejected raise with the budget still spent, waits on a new gate', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock, define: [research()] });
    try {
      await kernel.policies.set('budget', 'cap', {
        agent: 'research',
        costMicros: 1_000_000,
        windowMs: DAY,
      });
      const run = await kernel.start('research');
      await reaches(kernel, run.id, 'waiting');
      const [rejected] = kernel.approvals.list();
      await kernel.budgets.decide(rejected!.id, { approve: false, by: 'carol' });
      expect((await kernel.runs.wait(run.id)).status).toBe('cancelled');
      const waiting = reaches(kernel, run.id, 'waiting');
      await kernel.runs.resume(run.id);
      await waiting;
      const fresh = kernel.approvals.list().filter((g) => g.decision === null);
      expect(fresh).toHaveLength(1);
      expect(fresh[0]!.id).not.toBe(rejected!.id);
      expect((await kernel.runs.get(run.id)).waitingFor).toEqual({
        kind: 'approval',
        gate: fresh[0]!.id,
      });
      await kernel.budgets.decide(fresh[0]!.id, { approve: false, by: 'carol' });
      expect((await kernel.runs.wait(run.id)).status).toBe('cancelled');
    } finally {
      await kernel.close();
    }
  });

  it('with onBreach stop, is stopped without asking', async () => {
    const kernel = await open({ clock: new ManualClock(T0), define: [research()] });
    try {
      await kernel.policies.set('budget', 'hard', {
        agent: 'research',
        calls: 2,
        perRun: true,
        onBreach: 'stop',
      });
      const run = await kernel.start('research');
      const info = await kernel.runs.wait(run.id);
      expect(info.status).toBe('cancelled');
      expect(info.error?.message).toBe(
        'budget exceeded: research made 2 of its 2 per-run model calls',
      );
      expect(kernel.approvals.list()).toEqual([]);
    } finally {
      await kernel.close();
    }
  });

  it('resumes after a restart when its budget gate was decided while the kernel was down', async () => {
    const { dir, cleanup } = tempDir('kerno-budget-');
    const store = `sqlite:${join(dir, 'kerno.db')}`;
    const clock = new ManualClock(T0);
    const spent: string[] = [];
    try {
      const first = await open({ store, stateDir: dir, clock, define: [research(spent)] });
      await first.policies.set('budget', 'daily', {
        agent: 'research',
        costMicros: 5_000_000,
        windowMs: DAY,
      });
      const run = await first.start('research');
      await reaches(first, run.id, 'waiting');
      await first.close();

      // usage survives the restart: it is replayed from the ledger
      const tool = await open({ store, stateDir: dir, clock, agents: false });
      expect(tool.budgets.usage()[0]).toMatchObject({ used: 6_000_000, breached: true });
      const [gate] = tool.approvals.list();
      await tool.budgets.decide(gate!.id, { approve: true, by: 'dave' });
      expect(tool.policies.get('budget', 'daily')?.spec).toMatchObject({ costMicros: 7_500_000 });
      await tool.close();

      const second = await open({ store, stateDir: dir, clock, define: [research(spent)] });
      const info = await second.runs.wait(run.id);
      expect(info.status).toBe('completed');
      expect(spent).toEqual(['a', 'b', 'c']);
      // raised once, by the decision (resuming did not raise it again)
      expect(second.policies.get('budget', 'daily')?.version).toBe(2);
      await second.close();
    } finally {
      cleanup();
    }
  });
});

describe('steps that report usage', () => {
  it('count a step usage option against the budgets of the run tenant', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      kernel.define({
        name: 'summariser',
        run: async (ctx) => {
          for (let i = 0; i < 3; i++) {
            await ctx.step('llm', () => ({ text: 'x', total: 600 }), {
              usage: (r: { total: number }) => ({ tokens: r.total, costMicrodollars: 1234.4 }),
            });
          }
          return 'ok';
        },
      });
      await kernel.policies.set('budget', 'acme-hourly', {
        tenant: 'acme',
        tokens: 1000,
        windowMs: 3_600_000,
      });
      const other = await kernel.start('summariser', null, { tenant: 'globex' });
      expect((await kernel.runs.wait(other.id)).status).toBe('completed');
      const run = await kernel.start('summariser', null, { tenant: 'acme' });
      await reaches(kernel, run.id, 'waiting');
      expect(kernel.budgets.usage({ tenant: 'acme' })[0]).toMatchObject({
        used: 1200,
        breached: true,
      });
      const [gate] = kernel.approvals.list();
      expect(gate!.request.summary).toMatch(/^tenant acme used 1,200 of its 1,000 hourly tokens/);
      const outcomes = await kernel.ledger.query({ kinds: ['OutcomeRecorded'], tenantId: 'acme' });
      expect(outcomes[0]!.envelope.event).toMatchObject({
        data: { tokens: 600, cost_microdollars: 1234, metadata: { agent: 'summariser' } },
      });
      await kernel.budgets.decide(gate!.id, { approve: false });
      expect((await kernel.runs.wait(run.id)).status).toBe('cancelled');
    } finally {
      await kernel.close();
    }
  });
});

describe('a process agent reporting usage', () => {
  it('sends usage messages; its run pauses at its budget before the next step', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      const body = `
        const rl = require('node:readline').createInterface({ input: process.stdin });
        const q = []; const w = [];
        rl.on('line', (l) => { const m = JSON.parse(l); const n = w.shift(); n ? n(m) : q.push(m); });
        const recv = () => q.length ? Promise.resolve(q.shift()) : new Promise((r) => w.push(r));
        const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
        (async () => {
          await recv();
          for (const key of ['one', 'two', 'three']) {
            send({ type: 'step', key });
            const m = await recv();
            if (m.type === 'step.run') {
              send({ type: 'usage', tokens: 700, costMicros: 1500000, model: 'local-llm' });
              send({ type: 'step.result', key, result: key });
              await recv();
            }
          }
          send({ type: 'result', value: 'ok' });
        })();`;
      await kernel.define({
        name: 'writer',
        process: { command: process.execPath, args: ['-e', body] },
      });
      await kernel.policies.set('budget', 'writer-run', {
        agent: 'writer',
        tokens: 1000,
        perRun: true,
      });
      const run = await kernel.start('writer');
      await reaches(kernel, run.id, 'waiting');
      const info = await kernel.runs.get(run.id);
      expect(info.steps.map((s) => s.key)).toEqual(['one', 'two']);
      expect(kernel.budgets.usage({ run: run.id })[0]).toMatchObject({ used: 1400, limit: 1000 });
      const outcomes = await kernel.ledger.query({
        kinds: ['OutcomeRecorded'],
        correlationId: run.id,
      });
      expect(outcomes.map((o) => o.envelope.event)).toMatchObject([
        { data: { tokens: 700, backend: 'local-llm', metadata: { agent: 'writer', run: run.id } } },
        { data: { tokens: 700 } },
      ]);
      const [gate] = kernel.approvals.list();
      expect(gate!.request.summary).toMatch(/^writer used 1,400 of its 1,000 per-run tokens/);
      await kernel.budgets.decide(gate!.id, { approve: true, limits: { tokens: 5000 } });
      const done = await kernel.runs.wait(run.id);
      expect(done.status).toBe('completed');
      expect(done.result).toBe('ok');
      // the replayed steps reported nothing again: three reports in all
      expect(
        await kernel.ledger.query({ kinds: ['OutcomeRecorded'], correlationId: run.id }),
      ).toHaveLength(3);
    } finally {
      await kernel.close();
    }
  });

  it('has a bad usage message fail the run with a protocol error', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      const body = `process.stdin.once('data', () => process.stdout.write(JSON.stringify({ type: 'usage', tokens: -5 }) + '\\n'));`;
      await kernel.define({
        name: 'liar',
        process: { command: process.execPath, args: ['-e', body] },
      });
      const run = await kernel.start('liar');
      const info = await kernel.runs.wait(run.id);
      expect(info.status).toBe('failed');
      expect(info.error?.message).toMatch(/tokens/);
    } finally {
      await kernel.close();
    }
  });
});

describe.skipIf(!pgAvailable)(`budgets on PostgreSQL${pgSkipReason}`, () => {
  it('two kernels sharing the store see the same usage', async () => {
    const schema = freshSchema('kerno_budgets');
    const store = pgUrl(schema);
    const a = await open({ store, runOwner: 'a' });
    const b = await open({ store, runOwner: 'b' });
    try {
      await a.policies.set('budget', 'team', {
        agent: 'research',
        costMicros: 5_000_000,
        windowMs: DAY,
      });
      await b.policies.start();
      await a.budgets.report({ agent: 'research' }, { costMicros: 2_000_000 });
      await b.budgets.report({ agent: 'research' }, { costMicros: 3_500_000 });
      for (const k of [a, b]) {
        await expect.poll(() => k.budgets.usage()[0]?.used, { timeout: 10_000 }).toBe(5_500_000);
        expect(k.budgets.check({ agent: 'research' })?.reason).toBe(
          'research spent $5.50 of its $5.00 daily budget',
        );
      }
      // a budget set on a: b keeps the sums it has and fills the new budget from the ledger
      await a.policies.set('budget', 'week', { costMicros: 9_000_000, windowMs: 7 * DAY });
      await expect.poll(() => b.policies.get('budget', 'week')).toBeDefined();
      expect(b.budgets.usage().find((r) => r.budget === 'team')?.used).toBe(5_500_000);
      await b.budgets.settled();
      expect(b.budgets.usage().map((r) => [r.budget, r.used])).toEqual([
        ['team', 5_500_000],
        ['week', 5_500_000],
      ]);
    } finally {
      await a.close();
      await b.close();
      await dropSchema(schema);
    }
  });
});

describe('the demo budget', () => {
  it('caps the demo research agent once, keeps a raise, and counts its ledger usage', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await setDemoBudget(kernel);
      await setDemoBudget(kernel);
      expect(kernel.policies.get('budget', DEMO_BUDGET)).toMatchObject({
        version: 1,
        updatedBy: 'demo',
      });
      // the demo's research agent records its fake model calls like this (tenant demo)
      for (let i = 0; i < 3; i++) {
        await kernel.ledger.append(
          {
            type: 'OutcomeRecorded',
            data: {
              chain_id: 'run-1',
              step: 'Reasoning',
              passed: true,
              stop_reason: null,
              latency_ms: 10,
              tokens: 2600,
              cost_microdollars: 5200,
              backend: 'demo-llm',
              metadata: { agent: 'research', step: `s${i}` },
            },
          },
          { tenantId: 'demo', correlationId: 'run-1' },
        );
      }
      await expect
        .poll(() => kernel.budgets.check({ agent: 'research', tenant: 'demo' })?.reason)
        .toBe('research spent $0.0156 of its $0.0150 daily budget');
      await kernel.policies.set('budget', DEMO_BUDGET, {
        agent: 'research',
        costMicros: 50_000,
        windowMs: DAY,
      });
      await setDemoBudget(kernel);
      expect(kernel.policies.get('budget', DEMO_BUDGET)?.spec).toMatchObject({
        costMicros: 50_000,
      });
    } finally {
      await kernel.close();
    }
  });
});

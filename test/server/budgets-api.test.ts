/**
 * Budgets at the edges: GET /api/budgets (use vs limit; a tenant token sees only its tenant's
 * budgets), POST /api/budgets/gates/:id (raise to a new limit, recorded as the token), and
 * `kerno budgets` / `kerno budgets raise` on a store (table and --json).
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createKernel } from '../../src/kernel.js';
import type { BudgetUsage } from '../../src/policies/budgets.js';
import { createToken } from '../../src/server/auth.js';
import { createServer } from '../../src/server/app.js';
import type { AgentDefinition } from '../../src/runs/run-engine.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { cli } from '../helpers/cli.js';
import { testKernel } from '../helpers/kernel.js';
import { tempDir } from '../helpers/stores.js';

const TOKEN = 'kerno_test_admin_token_0123456789';
const DAY = 86_400_000;
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const spender: AgentDefinition<unknown, unknown> = {
  name: 'research',
  run: async (ctx) => {
    for (let i = 0; i < 4; i++) {
      await ctx.step('call', () => ctx.reportUsage({ costMicros: 2_000_000, tokens: 500 }));
    }
    return 'done';
  },
};

describe('budgets API', () => {
  it('shows use vs limit, confines tenants, and decides a budget gate with a new limit', async () => {
    const k = await testKernel({
      clock: new ManualClock(Date.UTC(2026, 11, 4)),
      define: [spender],
    });
    const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
    cleanups.push(k.cleanup, () => server.close());
    const admin = { authorization: `Bearer ${TOKEN}` };
    const acme = {
      authorization: `Bearer ${createToken(k.dir, { scope: 'tenant', tenant: 'acme' }).token}`,
    };
    const { kernel } = k;
    await kernel.policies.set('budget', 'research-daily', {
      agent: 'research',
      costMicros: 5_000_000,
      windowMs: DAY,
    });
    await kernel.policies.set('budget', 'acme', { tenant: 'acme', tokens: 1000, windowMs: DAY });
    await kernel.budgets.report({ agent: 'bot', tenant: 'acme' }, { tokens: 250 });

    const run = await kernel.start('research');
    await new Promise<void>((resolve) => {
      const off = kernel.runs.onStatus((r) => {
        if (r.id === run.id && r.status === 'waiting') {
          off();
          resolve();
        }
      });
    });
    const all = await server.app.inject({ method: 'GET', url: '/api/budgets', headers: admin });
    expect(all.statusCode).toBe(200);
    const rows = all.json<{ budgets: BudgetUsage[] }>().budgets;
    expect(rows.map((r) => [r.budget, r.used, r.limit, r.breached])).toEqual([
      ['acme', 250, 1000, false],
      ['research-daily', 6_000_000, 5_000_000, true],
    ]);
    expect((await server.app.inject({ method: 'GET', url: '/api/budgets' })).statusCode).toBe(401);
    const doc = await server.app.inject({
      method: 'GET',
      url: '/api/openapi.json',
      headers: admin,
    });
    expect(Object.keys(doc.json<{ paths: object }>().paths)).toEqual(
      expect.arrayContaining(['/api/budgets', '/api/budgets/gates/{id}']),
    );
    const own = await server.app.inject({ method: 'GET', url: '/api/budgets', headers: acme });
    expect(own.json<{ budgets: BudgetUsage[] }>().budgets.map((r) => r.budget)).toEqual(['acme']);
    const other = await server.app.inject({
      method: 'GET',
      url: '/api/budgets?tenant=globex',
      headers: acme,
    });
    expect(other.statusCode).toBe(403);
    // deciding is for admins
    const [gate] = kernel.approvals.list();
    const denied = await server.app.inject({
      method: 'POST',
      url: `/api/budgets/gates/${gate!.id}`,
      headers: acme,
      payload: { approve: true },
    });
    expect(denied.statusCode).toBe(403);
    const bad = await server.app.inject({
      method: 'POST',
      url: `/api/budgets/gates/${gate!.id}`,
      headers: admin,
      payload: { approve: true, limits: { dollars: 3 } },
    });
    expect(bad.statusCode).toBe(400);
    const decided = await server.app.inject({
      method: 'POST',
      url: `/api/budgets/gates/${gate!.id}`,
      headers: admin,
      payload: { approve: true, limits: { costMicros: 10_000_000 }, reason: 'quarter end' },
    });
    expect(decided.statusCode).toBe(200);
    expect(decided.json()).toMatchObject({ status: 'approved' });
    expect((await kernel.runs.wait(run.id)).status).toBe('completed');
    const raised = kernel.policies.get('budget', 'research-daily');
    expect(raised).toMatchObject({ version: 2, reason: 'quarter end' });
    expect(raised?.spec).toMatchObject({ costMicros: 10_000_000 });
    const notBudget = await kernel.approvals.open({ agentId: 'x', summary: 'deploy?' });
    const refused = await server.app.inject({
      method: 'POST',
      url: `/api/budgets/gates/${notBudget.id}`,
      headers: admin,
      payload: { approve: false },
    });
    expect(refused.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it("does not let one tenant's ledger events spend or show another tenant's run", async () => {
    const k = await testKernel({ clock: new ManualClock(Date.UTC(2026, 11, 4)) });
    const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
    cleanups.push(k.cleanup, () => server.close());
    const token = (tenant: string) => ({
      authorization: `Bearer ${createToken(k.dir, { scope: 'tenant', tenant }).token}`,
    });
    const { kernel } = k;
    await kernel.policies.set('budget', 'acme-run', {
      tenant: 'acme',
      costMicros: 5_000_000,
      perRun: true,
    });
    await kernel.policies.set('budget', 'evil-run', {
      tenant: 'evil',
      costMicros: 5_000_000,
      perRun: true,
    });
    await kernel.budgets.report(
      { agent: 'bot', tenant: 'acme', runId: 'run-a' },
      { costMicros: 1 },
    );
    const outcome = (cost: number) => ({
      type: 'OutcomeRecorded',
      data: {
        chain_id: 'x',
        step: 'Evaluation',
        passed: true,
        stop_reason: null,
        latency_ms: null,
        tokens: null,
        cost_microdollars: cost,
        backend: null,
        metadata: { agent: 'bot' },
      },
    });
    for (const correlationId of ['run-a', 'run-e']) {
      const res = await server.app.inject({
        method: 'POST',
        url: '/api/ledger',
        headers: token('evil'),
        payload: { event: outcome(9_000_000), correlationId },
      });
      expect(res.statusCode).toBe(201);
    }
    // evil's own per-run budget shows when its events have been counted: then look at acme's.
    for (let i = 0; i < 10_000; i++) {
      await kernel.budgets.settled();
      if (kernel.budgets.check({ agent: 'bot', tenant: 'evil', runId: 'run-e' }) !== null) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    expect(kernel.budgets.check({ agent: 'bot', tenant: 'evil', runId: 'run-e' })).not.toBeNull();
    expect(kernel.budgets.check({ agent: 'bot', tenant: 'acme', runId: 'run-a' })).toBeNull();
    const view = async (run: string) =>
      (
        await server.app.inject({
          method: 'GET',
          url: `/api/budgets?run=${run}`,
          headers: token('acme'),
        })
      ).json<{ budgets: BudgetUsage[] }>().budgets;
    expect(await view('run-a')).toEqual([
      expect.objectContaining({ budget: 'acme-run', run: 'run-a', used: 1, breached: false }),
    ]);
    expect(await view('run-e')).toEqual([
      expect.objectContaining({ budget: 'acme-run', run: 'run-e', used: 0 }),
    ]);
  });
});

describe('kerno budgets', () => {
  it('lets no tenant token decide the budget gate of its own run (an admin raises budgets)', async () => {
    const k = await testKernel({
      clock: new ManualClock(Date.UTC(2026, 11, 4)),
      define: [spender],
    });
    const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
    cleanups.push(k.cleanup, () => server.close());
    const acme = {
      authorization: `Bearer ${createToken(k.dir, { scope: 'tenant', tenant: 'acme' }).token}`,
    };
    const { kernel } = k;
    await kernel.policies.set('budget', 'research-daily', {
      agent: 'research',
      costMicros: 5_000_000,
      windowMs: DAY,
    });
    const run = await kernel.start('research', undefined, { tenant: 'acme' });
    await new Promise<void>((resolve) => {
      const off = kernel.runs.onStatus((r) => {
        if (r.id === run.id && r.status === 'waiting') {
          off();
          resolve();
        }
      });
    });
    const [gate] = kernel.approvals.list({ status: 'pending' });
    expect(gate).toBeDefined();
    const asTenant = await server.app.inject({
      method: 'POST',
      url: `/api/approvals/${gate!.id}/approve`,
      headers: acme,
      payload: {},
    });
    expect(asTenant.statusCode, asTenant.body).toBe(403);
    expect(asTenant.json<{ detail: string }>().detail).toContain('admin token');
    expect(kernel.approvals.get(gate!.id)?.decision).toBeNull();
    expect(kernel.policies.get('budget', 'research-daily')?.version).toBe(1);
    const asAdmin = await server.app.inject({
      method: 'POST',
      url: `/api/approvals/${gate!.id}/approve`,
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: {},
    });
    expect(asAdmin.statusCode, asAdmin.body).toBe(200);
  });

  it(
    'prints use vs limit as a table and JSON, and raises at a gate',
    { timeout: 60_000 },
    async () => {
      const { dir, cleanup } = tempDir('kerno-budgets-cli-');
      cleanups.push(cleanup);
      const store = `sqlite:${join(dir, 'kerno.db')}`;
      const kernel = await createKernel({
        store,
        stateDir: dir,
        logger: silentLogger,
        registryKey: 'k',
        registryScryptCost: 1024,
        define: [spender],
      });
      await kernel.policies.set('budget', 'research-daily', {
        agent: 'research',
        costMicros: 5_000_000,
        windowMs: DAY,
      });
      const run = await kernel.start('research');
      await new Promise<void>((resolve) => {
        const off = kernel.runs.onStatus((r) => {
          if (r.id === run.id && r.status === 'waiting') {
            off();
            resolve();
          }
        });
      });
      const [gate] = kernel.approvals.list();
      await kernel.close();

      const table = await cli('budgets', '--store', store, '--home', dir);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/budget\s+scope\s+period\s+used\s+limit\s+%/);
      expect(table.stdout).toMatch(
        /research-daily\s+agent research\s+1d window\s+\$6\.00\s+\$5\.00\s+120\.0% \(reached\)/,
      );
      const json = await cli(
        'budgets',
        'ls',
        '--agent',
        'research',
        '--json',
        '--store',
        store,
        '--home',
        dir,
      );
      expect(JSON.parse(json.stdout)).toMatchObject([{ budget: 'research-daily', percent: 120 }]);
      const bad = await cli(
        'budgets',
        'raise',
        gate!.id,
        '--cost',
        'lots',
        '--store',
        store,
        '--home',
        dir,
      );
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/--cost is an amount in dollars/);
      const raised = await cli(
        'budgets',
        'raise',
        gate!.id,
        '--cost',
        '12.50',
        '--store',
        store,
        '--home',
        dir,
      );
      expect(raised.code, raised.stderr).toBe(0);
      expect(raised.stdout).toMatch(/^raised: research spent \$6\.00 of its \$5\.00 daily budget/);
      const after = await cli('budgets', '--json', '--store', store, '--home', dir);
      expect(JSON.parse(after.stdout)).toMatchObject([{ limit: 12_500_000, breached: false }]);
    },
  );
});

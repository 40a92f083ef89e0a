/**
 * /api/runs: define a process agent, start, list, show, signal and cancel runs; a strictly
 * validated definition; unknown statuses refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app.js';
import { createToken } from '../../src/server/auth.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_test_admin_token_0123456789';
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const WAITER = `
  const rl = require('node:readline').createInterface({ input: process.stdin });
  let n = 0;
  rl.on('line', (l) => {
    const m = JSON.parse(l);
    if (m.type === 'run') process.stdout.write(JSON.stringify({ type: 'wait', name: 'go' }) + '\\n');
    if (m.type === 'signal') process.stdout.write(JSON.stringify({ type: 'result', value: m.payload }) + '\\n');
  });`;

describe('runs API', () => {
  it('defines, starts, signals, shows and lists a process run; cancels another', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
    cleanups.push(k.cleanup, () => server.close());
    const headers = { authorization: `Bearer ${TOKEN}` };
    const call = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
      server.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });

    const bad = await call('POST', '/api/runs/agents', {
      name: 'w',
      process: { command: 'x', shell: true },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });

    const defined = await call('POST', '/api/runs/agents', {
      name: 'w',
      process: { command: process.execPath, args: ['-e', WAITER] },
    });
    expect(defined.statusCode).toBe(201);
    const started = await call('POST', '/api/runs', { agent: 'w', input: { a: 1 } });
    expect(started.statusCode).toBe(201);
    const { id } = started.json<{ id: string }>();
    await new Promise<void>((resolve) => {
      const off = k.kernel.runs.onStatus((r) => {
        if (r.id === id && r.status === 'waiting') {
          off();
          resolve();
        }
      });
    });
    expect(
      (await call('POST', `/api/runs/${id}/signal`, { name: 'go', payload: 7 })).statusCode,
    ).toBe(202);
    await k.kernel.runs.wait(id);
    const shown = (await call('GET', `/api/runs/${id}`)).json<{
      status: string;
      result: unknown;
      input: unknown;
    }>();
    expect(shown).toMatchObject({ status: 'completed', result: 7, input: { a: 1 } });

    const second = (await call('POST', '/api/runs', { agent: 'w' })).json<{ id: string }>();
    const cancelled = await call('POST', `/api/runs/${second.id}/cancel`, {});
    expect(cancelled.json()).toMatchObject({ id: second.id, status: 'cancelled' });

    const list = (await call('GET', '/api/runs?status=completed')).json<{
      runs: { id: string }[];
    }>();
    expect(list.runs.map((r) => r.id)).toEqual([id]);
    expect((await call('GET', '/api/runs?status=nope')).statusCode).toBe(400);
    expect((await call('GET', '/api/runs/none')).statusCode).toBe(404);
  });
});

describe('runs API: tenants, paging, actions', () => {
  async function setup() {
    const counts: Record<string, number> = {};
    const k = await testKernel({
      define: [
        {
          name: 'two',
          run: async (ctx, input: unknown) => {
            const bump = (key: string): number => (counts[key] = (counts[key] ?? 0) + 1);
            const a = await ctx.step('a', () => (bump('a'), 1));
            const b = await ctx.step('b', () => {
              bump('b');
              if ((ctx.config as { ok?: boolean } | undefined)?.ok !== true) throw new Error('no');
              return a + 1;
            });
            return { b, input };
          },
        },
      ],
    });
    const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
    cleanups.push(k.cleanup, () => server.close());
    const admin = { authorization: `Bearer ${TOKEN}` };
    const tenant = (name: string) => ({
      authorization: `Bearer ${createToken(k.dir, { scope: 'tenant', tenant: name }).token}`,
    });
    const call = (
      headers: Record<string, string>,
      method: 'GET' | 'POST',
      url: string,
      payload?: unknown,
    ) =>
      server.app.inject({
        method,
        url,
        headers,
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });
    return { k, server, admin, tenant, call, counts };
  }

  it('confines tenant tokens to their own runs: list, show, act, start', async () => {
    const { k, admin, tenant, call } = await setup();
    const acme = tenant('acme');
    const globex = tenant('globex');
    const theirs = (await call(globex, 'POST', '/api/runs', { agent: 'two' })).json<{
      id: string;
    }>();
    const mine = await call(acme, 'POST', '/api/runs', { agent: 'two', input: 1 });
    expect(mine.statusCode).toBe(201);
    const { id } = mine.json<{ id: string }>();
    await k.kernel.runs.wait(id);
    await k.kernel.runs.wait(theirs.id);
    expect(k.kernel.runs.find(id)?.tenant).toBe('acme');

    // A tenant token naming another tenant is refused; listing shows its own runs only.
    expect(
      (await call(acme, 'POST', '/api/runs', { agent: 'two', tenant: 'globex' })).json(),
    ).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    const list = (await call(acme, 'GET', '/api/runs')).json<{ runs: { id: string }[] }>();
    expect(list.runs.map((r) => r.id)).toEqual([id]);
    expect((await call(acme, 'GET', '/api/runs?tenant=globex')).statusCode).toBe(403);
    const all = (await call(admin, 'GET', '/api/runs')).json<{ runs: unknown[] }>();
    expect(all.runs).toHaveLength(2);
    expect(
      (await call(admin, 'GET', '/api/runs?tenant=globex'))
        .json<{ runs: { id: string }[] }>()
        .runs.map((r) => r.id),
    ).toEqual([theirs.id]);

    // Another tenant's run does not exist for this token, whatever the action.
    for (const [method, path, body] of [
      ['GET', '', undefined],
      ['POST', '/fork', { fromStep: 0 }],
      ['POST', '/resume', {}],
      ['POST', '/rerun', {}],
      ['POST', '/cancel', {}],
      ['POST', '/signal', { name: 'x' }],
    ] as const) {
      const r = await call(acme, method, `/api/runs/${theirs.id}${path}`, body);
      expect([path, r.statusCode]).toEqual([path, 404]);
    }
    expect(k.kernel.runs.list()).toHaveLength(2); // nothing forked or rerun
    // Its own run it can fork; the fork is its tenant's.
    const fork = await call(acme, 'POST', `/api/runs/${id}/fork`, {
      fromStep: 'b#1',
      config: { ok: true },
    });
    expect(fork.statusCode).toBe(201);
    expect(fork.json()).toMatchObject({ forkOf: { runId: id, fromStep: 'b#1' } });
    const forked = await k.kernel.runs.wait(fork.json<{ id: string }>().id);
    expect(forked).toMatchObject({ status: 'completed', tenant: 'acme', result: { b: 2 } });
    // Defining agents stays admin-only.
    const define = await call(acme, 'POST', '/api/runs/agents', {
      name: 'x',
      process: { command: 'true' },
    });
    expect(define.statusCode).toBe(403);
  });

  it("refuses the scheduler's run ids and a tenant's priority above 0", async () => {
    const { k, admin, tenant, call } = await setup();
    const acme = tenant('acme');
    for (const headers of [acme, admin]) {
      const r = await call(headers, 'POST', '/api/runs', {
        agent: 'two',
        id: 'sched-nightly-20261205T000000Z',
      });
      expect(r.json()).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
      expect(r.json<{ detail: string }>().detail).toMatch(/reserved for schedules/);
    }
    const high = await call(acme, 'POST', '/api/runs', { agent: 'two', priority: 5 });
    expect(high.json()).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect(high.json<{ detail: string }>().detail).toMatch(/admin token sets priorities/);
    expect(k.kernel.runs.list()).toHaveLength(0);
    const low = await call(acme, 'POST', '/api/runs', { agent: 'two', priority: -1 });
    expect(low.statusCode).toBe(201);
    const set = await call(admin, 'POST', '/api/runs', { agent: 'two', priority: 5 });
    expect(set.statusCode).toBe(201);
    await k.kernel.runs.wait(low.json<{ id: string }>().id);
    await k.kernel.runs.wait(set.json<{ id: string }>().id);
  });

  it('resumes with a config recorded as by the token, reruns, and shows the journal', async () => {
    const { k, admin, call, counts } = await setup();
    const { id } = (await call(admin, 'POST', '/api/runs', { agent: 'two', input: 'x' })).json<{
      id: string;
    }>();
    await k.kernel.runs.wait(id);
    const resumed = await call(admin, 'POST', `/api/runs/${id}/resume`, {
      config: { ok: true },
      reason: 'fixed',
    });
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json()).toMatchObject({ id, resumeCount: 1 });
    await new Promise<void>((resolve) => {
      const off = k.kernel.runs.onStatus((r) => {
        if (r.id === id && r.status === 'completed') {
          off();
          resolve();
        }
      });
      if (k.kernel.runs.find(id)?.status === 'completed') {
        off();
        resolve();
      }
    });
    const shown = (await call(admin, 'GET', `/api/runs/${id}`)).json<{
      steps: { key: string; status: string; resume: number; durationMs?: number }[];
      resumes: { by: string; reason: string; config: unknown; ran: string[]; replayed: string[] }[];
    }>();
    expect(shown.steps.map((s) => [s.key, s.status, s.resume])).toEqual([
      ['a#1', 'completed', 0],
      ['b#1', 'failed', 0],
      ['b#1', 'completed', 1],
    ]);
    expect(typeof shown.steps[0]!.durationMs).toBe('number');
    expect(shown.resumes).toEqual([
      expect.objectContaining({
        by: 'daemon token',
        reason: 'fixed',
        config: { ok: true },
        replayed: ['a#1'],
        ran: ['b#1'],
      }),
    ]);
    expect(counts).toEqual({ a: 1, b: 2 });
    expect((await call(admin, 'POST', `/api/runs/${id}/resume`, {})).json()).toMatchObject({
      status: 409,
      code: 'ILLEGAL_TRANSITION',
    });
    // Actions need no body (a button posts nothing).
    const bare = await call(admin, 'POST', `/api/runs/${id}/cancel`);
    expect(bare.statusCode).toBe(200);
    const rerun = await call(admin, 'POST', `/api/runs/${id}/rerun`);
    expect(rerun.statusCode).toBe(201);
    const again = await k.kernel.runs.wait(rerun.json<{ id: string }>().id);
    expect(again).toMatchObject({ status: 'completed', rerunOf: id, result: { b: 2, input: 'x' } });
    const badFork = await call(admin, 'POST', `/api/runs/${id}/fork`, { fromStep: 'zz' });
    expect(badFork.json()).toMatchObject({
      status: 400,
      detail: expect.stringContaining('0: "a#1", 1: "b#1"') as unknown,
    });
  });

  it('pages with a cursor that stays stable while runs start, and filters', async () => {
    const { k, admin, call } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        (await call(admin, 'POST', '/api/runs', { agent: 'two' })).json<{ id: string }>().id,
      );
    const first = (await call(admin, 'GET', '/api/runs?limit=2')).json<{
      runs: { id: string }[];
      nextCursor?: string;
    }>();
    expect(first.runs.map((r) => r.id)).toEqual([ids[4], ids[3]]);
    // New runs start between the pages: the next page goes on where the first stopped.
    await call(admin, 'POST', '/api/runs', { agent: 'two' });
    await call(admin, 'POST', '/api/runs', { agent: 'two' });
    const second = (
      await call(admin, 'GET', `/api/runs?limit=2&cursor=${first.nextCursor!}`)
    ).json<{ runs: { id: string }[]; nextCursor?: string }>();
    expect(second.runs.map((r) => r.id)).toEqual([ids[2], ids[1]]);
    const third = (
      await call(admin, 'GET', `/api/runs?limit=2&cursor=${second.nextCursor!}`)
    ).json<{ runs: { id: string }[]; nextCursor?: string }>();
    expect(third.runs.map((r) => r.id)).toEqual([ids[0]]);
    expect(third.nextCursor).toBeUndefined();
    expect((await call(admin, 'GET', '/api/runs?cursor=nope')).statusCode).toBe(400);

    const byQ = (await call(admin, 'GET', `/api/runs?q=${ids[2]!.slice(-12)}`)).json<{
      runs: { id: string }[];
    }>();
    expect(byQ.runs.map((r) => r.id)).toEqual([ids[2]]);
    const now = k.kernel.clock.now();
    expect(
      (await call(admin, 'GET', `/api/runs?since=${String(now + 60_000)}`)).json<{
        runs: unknown[];
      }>().runs,
    ).toEqual([]);
    expect(
      (
        await call(admin, 'GET', `/api/runs?until=${new Date(now + 60_000).toISOString()}&limit=3`)
      ).json<{ runs: unknown[] }>().runs,
    ).toHaveLength(3);
    expect((await call(admin, 'GET', '/api/runs?since=yesterday')).json()).toMatchObject({
      code: 'INVALID_QUERY',
    });
  });

  it('says which content type a route accepts (415)', async () => {
    const { server, admin } = await setup();
    const asText = await server.app.inject({
      method: 'POST',
      url: '/api/runs',
      headers: { ...admin, 'content-type': 'text/plain' },
      payload: 'agent=two',
    });
    expect(asText.statusCode).toBe(415);
    expect(asText.json()).toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      detail:
        'POST /api/runs accepts application/json, not "text/plain"; send the body with Content-Type: application/json',
    });
    const asForm = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { ...admin, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'a=b',
    });
    expect(asForm.statusCode).toBe(415);
    expect(asForm.json<{ detail: string }>().detail).toContain(
      'POST /api/ledger/import accepts application/x-ndjson or application/octet-stream or text/plain',
    );
  });
});

describe('one name for tenant', () => {
  it('POST /api/ledger takes tenant (and still tenantId); both differing is refused', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(k.cleanup, () => server.close());
    const headers = { authorization: `Bearer ${TOKEN}` };
    const event = {
      type: 'BudgetExceeded',
      data: { chain_id: 'c', resource: 'Tokens', limit: '1', observed: null },
    };
    const a = await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers,
      payload: { event, tenant: 't1' },
    });
    expect(a.json()).toMatchObject({ envelope: { tenant_id: 't1' } });
    const b = await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers,
      payload: { event, tenantId: 't2' },
    });
    expect(b.json()).toMatchObject({ envelope: { tenant_id: 't2' } });
    const both = await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers,
      payload: { event, tenant: 't1', tenantId: 't2' },
    });
    expect(both.json()).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
  });
});

/**
 * /api/approvals as an approval inbox: tenant tokens see and decide only their tenant's gates,
 * approver-group scopes (`kerno tokens create --approver <group>`), n-of-m through two tokens,
 * and `similar` with each gate.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createToken } from '../../src/server/auth.js';
import { createServer } from '../../src/server/app.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_test_admin_token_0123456789';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup() {
  const k = await testKernel();
  const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
  cleanups.push(k.cleanup, () => server.close());
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  return { ...k, server, as };
}

describe('approvals API', () => {
  it('a tenant token lists and decides only its tenant’s gates', async () => {
    const { kernel, server, dir, as } = await setup();
    const acme = createToken(dir, { scope: 'tenant', tenant: 'acme', label: 'acme ops' }).token;
    const own = await kernel.approvals.open({ agentId: 'a', summary: 'acme?', tenantId: 'acme' });
    const other = await kernel.approvals.open({
      agentId: 'a',
      summary: 'globex?',
      tenantId: 'globex',
    });
    const list = await server.app.inject({
      method: 'GET',
      url: '/api/approvals',
      headers: as(acme),
    });
    expect(list.statusCode).toBe(200);
    expect(list.json<{ approvals: { id: string }[] }>().approvals.map((g) => g.id)).toEqual([
      own.id,
    ]);
    for (const [method, url] of [
      ['GET', `/api/approvals/${other.id}`],
      ['POST', `/api/approvals/${other.id}/approve`],
      ['POST', `/api/approvals/${other.id}/reject`],
    ] as const) {
      const res = await server.app.inject({ method, url, headers: as(acme) });
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toMatchObject({ code: 'NOT_FOUND' });
    }
    expect(kernel.approvals.get(other.id)!.status).toBe('pending');
    const ok = await server.app.inject({
      method: 'POST',
      url: `/api/approvals/${own.id}/approve`,
      headers: as(acme),
    });
    expect(ok.json()).toMatchObject({ approved: true, decidedBy: 'acme ops (tenant acme)' });
  });

  it('a group gate is decided by approver-scope tokens, n of m; GET shows votes and similar', async () => {
    const { kernel, server, dir, as } = await setup();
    const ann = createToken(dir, {
      scope: 'tenant',
      tenant: 't',
      label: 'ann',
      approver: ['finance'],
    });
    const ben = createToken(dir, {
      scope: 'tenant',
      tenant: 't',
      label: 'ben',
      approver: ['finance'],
    });
    const eve = createToken(dir, { scope: 'tenant', tenant: 't', label: 'eve' }).token;
    expect(ann.record.approver).toEqual(['finance']);
    const like = {
      agentId: 'r1',
      agentName: 'payer',
      summary: 'Pay?',
      action: 'pay',
      resource: 'acct',
      tenantId: 't',
      approvers: { group: 'finance', required: 2 },
    };
    const before = await kernel.approvals.open(like);
    await kernel.approvals.reject(before.id, { by: 'cfo', reason: 'not now' });
    const gate = await kernel.approvals.open({ ...like, agentId: 'r2' });

    const refused = await server.app.inject({
      method: 'POST',
      url: `/api/approvals/${gate.id}/approve`,
      headers: as(eve),
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'FORBIDDEN' });
    expect(refused.json<{ detail: string }>().detail).toMatch(/approver:finance/);

    const first = await server.app.inject({
      method: 'POST',
      url: `/api/approvals/${gate.id}/approve`,
      headers: as(ann.token),
      payload: { note: 'fine' },
    });
    expect(first.json()).toMatchObject({
      status: 'pending',
      required: 2,
      votes: [{ by: 'ann (tenant t)' }],
    });
    const again = await server.app.inject({
      method: 'POST',
      url: `/api/approvals/${gate.id}/approve`,
      headers: as(ann.token),
    });
    expect(again.statusCode).toBe(409);

    const listed = await server.app.inject({
      method: 'GET',
      url: '/api/approvals',
      headers: as(eve),
    });
    expect(listed.json()).toMatchObject({
      approvals: [
        {
          id: gate.id,
          required: 2,
          deciders: ['finance'],
          votes: [{ by: 'ann (tenant t)', note: 'fine' }],
          similar: [{ id: before.id, decision: 'rejected', by: 'cfo', reason: 'not now' }],
        },
      ],
    });
    const shown = await server.app.inject({
      method: 'GET',
      url: `/api/approvals/${gate.id}`,
      headers: as(TOKEN),
    });
    expect(shown.json()).toMatchObject({ id: gate.id, similar: [{ id: before.id }] });

    const second = await server.app.inject({
      method: 'POST',
      url: `/api/approvals/${gate.id}/approve`,
      headers: as(ben.token),
    });
    expect(second.json()).toMatchObject({
      approved: true,
      decidedBy: 'ann (tenant t), ben (tenant t)',
    });
  });

  it('PUT /api/policies/rule/:name stores a rule the kernel then applies; a bad one is a 400 saying what to write', async () => {
    const { kernel, server, as } = await setup();
    const bad = await server.app.inject({
      method: 'PUT',
      url: '/api/policies/rule/deploys',
      headers: as(TOKEN),
      payload: { effect: 'ask', approval: { onTimeout: 'escalate' } },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(bad.json<{ detail: string }>().detail).toMatch(/escalateTo/);
    const ok = await server.app.inject({
      method: 'PUT',
      url: '/api/policies/rule/deploys',
      headers: as(TOKEN),
      payload: { effect: 'deny', match: { action: 'deploy', resource: 'prod/*' } },
    });
    expect(ok.statusCode, ok.body).toBeLessThan(300);
    expect(kernel.rules.evaluate({ action: 'deploy', resource: 'prod/api' })).toMatchObject({
      effect: 'deny',
      rule: 'deploys',
      version: 1,
    });
  });
});

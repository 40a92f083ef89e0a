import { afterEach, describe, expect, it } from 'vitest';
import { createToken } from '../../src/server/auth.js';
import { createServer } from '../../src/server/app.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_abuse_test_token_0123456789abcdef';
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup() {
  const k = await testKernel();
  const server = await createServer(k.kernel, { token: TOKEN, importLimit: 64 * 1024 });
  cleanups.push(k.cleanup, () => server.close());
  return { ...k, server, auth: { authorization: `Bearer ${TOKEN}` } };
}

describe('hostile input', () => {
  it('rejects broken and hostile bodies with the right status and stores nothing', async () => {
    const { server, auth, kernel } = await setup();
    const post = (payload: string, type = 'application/json') =>
      server.app.inject({
        method: 'POST',
        url: '/api/ledger',
        headers: { ...auth, 'content-type': type },
        payload,
      });
    const deep = '{"event":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    const cases: [string, string, number][] = [
      ['deeply nested', deep, 400],
      ['truncated', '{"event":{"type":"BudgetExceeded","data":', 400],
      ['array', '[1,2,3]', 400],
      ['number', '42', 400],
      ['null', 'null', 400],
      [
        'proto pollution',
        '{"event":{"type":"BudgetExceeded","data":{"chain_id":"c","resource":"Tokens","limit":"1","observed":null}},"__proto__":{"admin":true}}',
        400,
      ],
      ['unicode garbage', '{"event":{"type":"\ud800"}}', 400],
    ];
    for (const [name, payload, status] of cases) {
      const res = await post(payload);
      expect(res.statusCode, name).toBe(status);
      expect(res.headers['content-type'], name).toContain('application/problem+json');
    }
    const xml = await post('<event/>', 'application/xml');
    expect(xml.statusCode).toBe(415);
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
    expect((await kernel.ledger.head()).seq).toBe(0);
  });

  it('limits streamed imports', async () => {
    const { server, auth, kernel } = await setup();
    const line = JSON.stringify({
      event_id: 'x',
      occurred_at: '2026-01-01T00:00:00Z',
      tenant_id: null,
      correlation_id: null,
      event: {
        type: 'BudgetExceeded',
        data: { chain_id: 'c', resource: 'Tokens', limit: '1', observed: null },
      },
    });
    const big = Array.from({ length: 2000 }, (_, i) => line.replace('"x"', `"e${i}"`)).join('\n');
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { ...auth, 'content-type': 'application/x-ndjson' },
      payload: big,
    });
    expect(res.statusCode).toBe(413);
    const bad = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { ...auth, 'content-type': 'application/x-ndjson' },
      payload: 'not json\n',
    });
    expect(bad.json()).toMatchObject({ status: 400, code: 'INVALID_EVENT', details: { line: 1 } });
    expect((await kernel.ledger.head()).seq).toBeLessThan(2000);
  });

  it('refuses malformed and wrong credentials', async () => {
    const { server, dir } = await setup();
    const tenant = createToken(dir, { scope: 'tenant', tenant: 'acme' }).token;
    for (const header of [
      '',
      'Bearer',
      'Bearer ',
      `Basic ${Buffer.from('admin:admin').toString('base64')}`,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `bearer  ${'a'.repeat(10_000)}`,
    ]) {
      const res = await server.app.inject({
        method: 'GET',
        url: '/api/approvals',
        headers: header === '' ? {} : { authorization: header },
      });
      expect(res.statusCode, header.slice(0, 30)).toBe(401);
    }
    const forbidden = [
      ['GET', '/api/audit'],
      ['GET', '/api/agents'],
      ['POST', '/api/agents'],
      ['GET', '/api/config'],
      ['GET', '/api/learning/stats'],
      ['GET', '/metrics'],
      ['GET', '/api/events'],
      ['GET', '/api/ledger/verify'],
    ] as const;
    for (const [method, url] of forbidden) {
      const res = await server.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${tenant}`, 'content-type': 'application/json' },
        ...(method === 'POST' ? { payload: '{"name":"x","command":"/bin/true"}' } : {}),
      });
      expect(res.statusCode, url).toBe(403);
    }
  });

  it('lets a tenant token reach only the tenant routes, and an admin token without reveal not rotate the key', async () => {
    const { server, dir } = await setup();
    const tenant = createToken(dir, { scope: 'tenant', tenant: 'acme' }).token;
    const admin = createToken(dir, { scope: 'admin' }).token;
    const spec = (
      await server.app.inject({
        method: 'GET',
        url: '/api/openapi.json',
        headers: { authorization: `Bearer ${tenant}` },
      })
    ).json<{ paths: Record<string, Record<string, unknown>> }>();
    const tenantRoutes = new Set([
      'get /api/ledger',
      'post /api/ledger',
      'post /api/ledger/import',
      'get /api/ledger/export',
      'get /api/openapi.json',
      // Runs: confined to the token's tenant (test/server/runs-api.test.ts).
      'get /api/runs',
      'post /api/runs',
      'get /api/runs/{id}',
      'post /api/runs/{id}/signal',
      'post /api/runs/{id}/cancel',
      'post /api/runs/{id}/resume',
      'post /api/runs/{id}/rerun',
      'post /api/runs/{id}/fork',
      // confined to the tenant's gates (and to the approver groups of the token)
      'get /api/approvals',
      'get /api/approvals/{id}',
      'post /api/approvals/{id}/approve',
      'post /api/approvals/{id}/reject',
      // the tenant's budgets only (test/server/budgets-api.test.ts)
      'get /api/budgets',
    ]);
    const seen: string[] = [];
    for (const [path, methods] of Object.entries(spec.paths)) {
      if (!path.startsWith('/api/') && path !== '/metrics') continue;
      for (const method of Object.keys(methods)) {
        const route = `${method} ${path}`;
        seen.push(route);
        const res = await server.app.inject({
          method: method.toUpperCase() as 'GET',
          url: path.replace(/\{[^}]+\}/g, 'x'),
          headers: { authorization: `Bearer ${tenant}` },
        });
        if (tenantRoutes.has(route)) expect(res.statusCode, route).not.toBe(403);
        else expect(res.statusCode, route).toBe(403);
      }
    }
    expect(seen.length).toBeGreaterThan(25);
    for (const route of tenantRoutes) expect(seen).toContain(route);
    const rotate = await server.app.inject({
      method: 'POST',
      url: '/api/config/rotate-key',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      payload: '{"newKey":"a-new-key-string"}',
    });
    expect(rotate.statusCode).toBe(403);
    expect(rotate.json()).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('validates query parameters instead of passing them to storage', async () => {
    const { server, auth } = await setup();
    for (const q of [
      'limit=-1',
      'limit=1e9',
      'limit=abc',
      'from=yesterday',
      'kinds=DROP%20TABLE',
      'limit=99999999',
    ]) {
      const res = await server.app.inject({
        method: 'GET',
        url: `/api/ledger?${q}`,
        headers: auth,
      });
      expect(res.statusCode, q).toBe(400);
    }
    const injection = await server.app.inject({
      method: 'GET',
      url: `/api/ledger?tenant=${encodeURIComponent("x' OR '1'='1")}`,
      headers: auth,
    });
    expect(injection.json()).toEqual({ records: [] });
  });
});

describe('long and malformed path parameters', () => {
  it('serves config keys longer than 100 characters and answers over-long or badly encoded ones with a problem+json 400', async () => {
    const { server, auth, kernel } = await setup();
    const long = 'k'.repeat(150);
    const put = await server.app.inject({
      method: 'PUT',
      url: `/api/config/${long}`,
      headers: auth,
      payload: { value: 42 },
    });
    expect(put.statusCode).toBe(204);
    expect(await kernel.registry.getConfig(long)).toBe(42);
    const get = await server.app.inject({
      method: 'GET',
      url: `/api/config/${long}`,
      headers: auth,
    });
    expect(get.json()).toMatchObject({ key: long, value: 42 });
    const missing = await server.app.inject({
      method: 'GET',
      url: `/api/config/${'m'.repeat(300)}`,
      headers: auth,
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toContain('application/problem+json');
    for (const [name, url] of [
      ['over the registry limit', `/api/config/${'x'.repeat(1025)}`],
      ['over the router limit', `/api/config/${'y'.repeat(20_000)}`],
      ['bad percent-encoding', '/api/config/%E0%A4%A'],
    ] as const) {
      const res = await server.app.inject({ method: 'GET', url, headers: auth });
      expect(res.statusCode, name).toBe(400);
      expect(res.headers['content-type'], name).toContain('application/problem+json');
      expect(res.json(), name).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
    }
  });
});

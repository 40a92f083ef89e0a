/**
 * /api/policies and `kerno policies`: versions, If-Match, validation messages, tenant tokens
 * refused, history, audit; the CLI against a store directly.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KernelError } from '../../src/errors.js';
import { createServer } from '../../src/server/app.js';
import { createToken } from '../../src/server/auth.js';
import { cli } from '../helpers/cli.js';
import { testKernel } from '../helpers/kernel.js';
import { tempDir } from '../helpers/stores.js';

const TOKEN = 'kerno_test_admin_token_0123456789';
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function parseCap(spec: unknown): { costMicros: number } {
  const s = spec as { costMicros?: unknown };
  if (typeof s.costMicros !== 'number' || s.costMicros < 0)
    throw new KernelError('INVALID_ARGUMENT', 'costMicros must be a number >= 0');
  return { costMicros: s.costMicros };
}

describe('policies API', () => {
  it('stores versions with If-Match, validates, keeps history, audits who, refuses tenants', async () => {
    const k = await testKernel();
    k.kernel.policies.register('budget', parseCap);
    const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
    cleanups.push(k.cleanup, () => server.close());
    const headers = { authorization: `Bearer ${TOKEN}` };
    const call = (
      method: 'GET' | 'PUT' | 'DELETE',
      url: string,
      payload?: unknown,
      extra: Record<string, string> = {},
    ) =>
      server.app.inject({
        method,
        url,
        headers: { ...headers, ...extra },
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });

    const created = await call('PUT', '/api/policies/budget/daily?reason=cap', { costMicros: 5 });
    expect(created.statusCode).toBe(201);
    expect(created.headers.etag).toBe('"1"');
    expect(created.json()).toMatchObject({ version: 1, reason: 'cap', spec: { costMicros: 5 } });

    const bad = await call('PUT', '/api/policies/budget/daily', { costMicros: -1 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(bad.json<{ detail: string }>().detail).toContain('costMicros');
    expect((await call('PUT', '/api/policies/nope/x', {})).statusCode).toBe(400);
    expect((await call('PUT', '/api/policies/rule/x', {})).json()).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });

    const stale = await call(
      'PUT',
      '/api/policies/budget/daily',
      { costMicros: 6 },
      {
        'if-match': '"0"',
      },
    );
    expect(stale.statusCode).toBe(409);
    expect(
      (await call('PUT', '/api/policies/budget/daily', { costMicros: 6 }, { 'if-match': 'x' }))
        .statusCode,
    ).toBe(400);
    const next = await call(
      'PUT',
      '/api/policies/budget/daily',
      { costMicros: 6 },
      {
        'if-match': '"1"',
      },
    );
    expect(next.statusCode).toBe(200);
    expect(next.json()).toMatchObject({ version: 2 });

    const one = await call('GET', '/api/policies/budget/daily');
    expect(one.headers.etag).toBe('"2"');
    expect((await call('GET', '/api/policies?kind=budget')).json()).toMatchObject({
      policies: [{ name: 'daily', version: 2 }],
    });
    expect((await call('GET', '/api/policies?kind=bogus')).statusCode).toBe(400);
    expect((await call('GET', '/api/policies/budget/none')).statusCode).toBe(404);

    const deleted = await call('DELETE', '/api/policies/budget/daily?reason=gone');
    expect(deleted.json()).toMatchObject({ version: 3, spec: null, reason: 'gone' });
    expect((await call('GET', '/api/policies/budget/daily')).statusCode).toBe(404);
    const history = await call('GET', '/api/policies/budget/daily/history');
    expect(history.json<{ versions: unknown[] }>().versions).toHaveLength(3);

    // Who changed it is the token's label, in the version and in the audit trail.
    await k.kernel.audit.flush();
    const audited = (await k.kernel.audit.entries({})).filter(
      (e) => e.resource === 'policy/budget/daily',
    );
    expect(audited).toHaveLength(3);
    expect(new Set(audited.map((e) => e.actor)).size).toBe(1);
    expect(audited[0]!.actor).toBe(created.json<{ updatedBy: string }>().updatedBy);

    // Tenant tokens cannot read or change policies.
    const { token } = createToken(k.dir, { scope: 'tenant', tenant: 'acme' });
    const asTenant = await server.app.inject({
      method: 'PUT',
      url: '/api/policies/budget/mine',
      headers: { authorization: `Bearer ${token}` },
      payload: { costMicros: 1 },
    });
    expect(asTenant.statusCode).toBe(403);
  });
});

describe('kerno policies --store', () => {
  it('sets, lists, shows, deletes and prints history, with typed errors', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const store = `sqlite:${join(dir, 'kerno.db')}`;
    const home = ['--home', join(dir, 'home')];
    const kinds = await cli('policies', 'ls', '--store', store, ...home, '--json');
    expect(kinds.code, kinds.stderr).toBe(0);
    expect(JSON.parse(kinds.stdout)).toEqual([]);

    const badKind = await cli('policies', 'get', 'nope', 'x', '--store', store, ...home);
    expect(badKind.code).not.toBe(0);
    expect(badKind.stderr).toContain('budget, rule, schedule, limit');
    const missing = await cli('policies', 'get', 'budget', 'x', '--store', store, ...home);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('No budget policy named "x"');
    const badJson = await cli(
      'policies',
      'set',
      'budget',
      'x',
      '--spec',
      '{',
      '--store',
      store,
      ...home,
    );
    expect(badJson.code).not.toBe(0);
    const badSpec = await cli(
      'policies',
      'set',
      'budget',
      'x',
      '--spec',
      '{"agent":"r"}',
      '--store',
      store,
      ...home,
    );
    expect(badSpec.code).not.toBe(0);
    expect(badSpec.stderr.length).toBeGreaterThan(0);

    const spec = '{"agent":"research","costMicros":5000000,"windowMs":86400000}';
    const set = await cli(
      'policies',
      'set',
      'budget',
      'daily',
      '--spec',
      spec,
      '--reason',
      'cap',
      '--store',
      store,
      ...home,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('budget/daily is now at version 1');
    const stale = await cli(
      'policies',
      'set',
      'budget',
      'daily',
      '--spec',
      spec,
      '--if-version',
      '0',
      '--store',
      store,
      ...home,
    );
    expect(stale.code).not.toBe(0);
    const again = await cli(
      'policies',
      'set',
      'budget',
      'daily',
      '--spec',
      spec,
      '--if-version',
      '1',
      '--store',
      store,
      ...home,
    );
    expect(again.code, again.stderr).toBe(0);
    const ls = await cli('policies', 'ls', 'budget', '--store', store, ...home, '--json');
    expect(JSON.parse(ls.stdout)).toMatchObject([{ kind: 'budget', name: 'daily', version: 2 }]);
    const shown = await cli('policies', 'get', 'budget', 'daily', '--store', store, ...home);
    expect(shown.stdout).toContain('"costMicros": 5000000');
    const rm = await cli(
      'policies',
      'rm',
      'budget',
      'daily',
      '--reason',
      'done',
      '--store',
      store,
      ...home,
    );
    expect(rm.code, rm.stderr).toBe(0);
    const history = await cli(
      'policies',
      'history',
      'budget',
      'daily',
      '--store',
      store,
      ...home,
      '--json',
    );
    expect(
      (JSON.parse(history.stdout) as { version: number; reason: string | null }[]).map(
        (v: { version: number; reason: string | null }) => [v.version, v.reason],
      ),
    ).toEqual([
      [1, 'cap'],
      [2, null],
      [3, 'done'],
    ]);
  });
});

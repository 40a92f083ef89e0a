/**
 * kerno/client covers the daemon's API exactly: every route of `/api/openapi.json` has a client
 * method (or is listed in NOT_CLIENT_ROUTES with why), every method names a route that exists
 * with the same path parameters, and calling each method sends that method and path.
 *
 * A new route fails this test until src/client/routes.ts and src/client/client.ts cover it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventStream,
  NOT_CLIENT_ROUTES,
  ROUTES,
  createClient,
  type KernoClient,
} from '../../src/client/index.js';
import { createServer, type KernoServer } from '../../src/server/app.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_test_admin_token_0123456789';

let server: KernoServer;
let cleanup: () => Promise<void>;
let documented: Map<string, string>; // 'GET /api/runs/{}' → 'GET /api/runs/{id}'

/** A route key with its parameter names blanked: `GET /api/runs/{}`. */
const shape = (key: string): string => key.replace(/\{[^}]+\}/g, '{}');

beforeAll(async () => {
  const k = await testKernel();
  server = await createServer(k.kernel, { token: TOKEN });
  cleanup = async () => {
    await server.close();
    await k.cleanup();
  };
  const { url } = await server.listen({ port: 0 });
  const doc = (await createClient({ baseUrl: url, token: TOKEN }).system.openapi()) as {
    paths: Record<string, Record<string, unknown>>;
  };
  documented = new Map();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const method of Object.keys(ops)) {
      const key = `${method.toUpperCase()} ${path}`;
      documented.set(shape(key), key);
    }
  }
});
afterAll(() => cleanup());

const table = Object.entries(ROUTES).map(([name, [method, path]]) => ({
  name,
  method,
  path,
  key: `${method} ${path}`,
}));

describe('kerno/client against the OpenAPI document', () => {
  it('has a method for every documented route (or says why not)', () => {
    const covered = new Set(table.map((r) => shape(r.key)));
    const missing = [...documented.values()].filter(
      (key) => !covered.has(shape(key)) && !(key in NOT_CLIENT_ROUTES),
    );
    expect(
      missing,
      'routes without a client method: add them to src/client/routes.ts and client.ts',
    ).toEqual([]);
  });

  it('names only routes that exist, with the same path parameters', () => {
    const problems: string[] = [];
    for (const r of table) {
      const actual = documented.get(shape(r.key));
      if (actual === undefined) problems.push(`${r.name}: ${r.key} is not a route of the API`);
      else if (actual !== r.key)
        problems.push(`${r.name}: ${r.key} has other path parameters than ${actual}`);
    }
    for (const key of Object.keys(NOT_CLIENT_ROUTES)) {
      if (documented.get(shape(key)) !== key)
        problems.push(`NOT_CLIENT_ROUTES: ${key} is not a route`);
    }
    expect(problems).toEqual([]);
  });

  it('has exactly the methods the table names, and each calls its route', async () => {
    const sent: { method: string; path: string }[] = [];
    const recording: typeof fetch = (input, init) => {
      const url = new URL(input as string);
      sent.push({ method: init?.method ?? 'GET', path: url.pathname });
      // The event stream is refused (not retried), so its iterator ends at once.
      if (url.pathname === '/api/events')
        return Promise.resolve(
          Response.json({ status: 401, code: 'UNAUTHORIZED', detail: 'no' }, { status: 401 }),
        );
      return Promise.resolve(Response.json({}));
    };
    const client = createClient({ baseUrl: 'http://kerno.test', fetch: recording });
    const groups = client as unknown as Record<string, Record<string, unknown>>;
    const methods = new Set<string>();
    for (const group of [
      'system',
      'agents',
      'ledger',
      'audit',
      'approvals',
      'recovery',
      'modules',
      'config',
      'runs',
      'learning',
      'policies',
      'budgets',
      'schedules',
      'queues',
      'events',
    ] satisfies (keyof KernoClient)[]) {
      for (const [name, fn] of Object.entries(groups[group]!)) {
        if (typeof fn === 'function') methods.add(`${group}.${name}`);
      }
    }
    expect([...methods].sort()).toEqual(table.map((r) => r.name).sort());

    for (const r of table) {
      const [group, name] = r.name.split('.') as [string, string];
      const params = [...r.path.matchAll(/\{([^}]+)\}/g)].map((m) => `p-${m[1]}/x`);
      sent.length = 0;
      const result: unknown = await (groups[group]![name] as (...a: unknown[]) => unknown)(
        ...params,
      );
      if (result instanceof EventStream) await expect(result.next()).rejects.toThrow();
      const expected = params.reduce(
        (p, v) => p.replace(/\{[^}]+\}/, encodeURIComponent(v)),
        r.path,
      );
      expect(sent, r.name).toEqual([{ method: r.method, path: expected }]);
    }
  });
});

/**
 * Imports are all-or-nothing for what the file gets wrong: a 2,500-line NDJSON with bad JSON at
 * line 1500 commits nothing and the typed error names line 1500 — through the API, `kerno
 * ledger import` against the daemon, and `kerno ledger import --store`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type KernoServer } from '../../src/server/app.js';
import type { Kernel } from '../../src/kernel.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { cli } from '../helpers/cli.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_import_test_token_0123456789abcdef';
let server: KernoServer;
let kernel: Kernel;
let dir: string;
let cleanup: () => Promise<void>;
let base: string[];

beforeAll(async () => {
  const k = await testKernel();
  kernel = k.kernel;
  dir = k.dir;
  cleanup = k.cleanup;
  server = await createServer(kernel, { token: TOKEN });
  const { url } = await server.listen({ port: 0 });
  base = ['--url', url, '--token', TOKEN, '--home', dir];
});
afterAll(async () => {
  await server.close();
  await cleanup();
});

/** 2,500 valid envelope lines, line `bad` replaced by broken JSON. */
function ndjson(prefix: string, bad: number | undefined, count = 2500): string {
  const lines: string[] = [];
  for (let i = 1; i <= count; i++) {
    lines.push(
      i === bad
        ? '{"event_id": "broken", '
        : JSON.stringify({
            event_id: `${prefix}-${i}`,
            occurred_at: '2026-01-01T00:00:00Z',
            tenant_id: null,
            correlation_id: null,
            event: {
              type: 'BudgetExceeded',
              data: { chain_id: 'c', resource: 'Tokens', limit: '1', observed: null },
            },
          }),
    );
  }
  return lines.join('\n') + '\n';
}

describe('all-or-nothing ledger imports', () => {
  it('API: bad JSON at line 1500 of 2,500 commits nothing and names line 1500', async () => {
    const before = (await kernel.ledger.head()).seq;
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
      payload: ndjson('api', 1500),
    });
    expect(res.statusCode).toBe(400);
    const problem = res.json<{ code: string; detail: string }>();
    expect(problem.code).toBe('INVALID_EVENT');
    expect(problem.detail).toMatch(/line 1500\b/i);
    expect((await kernel.ledger.head()).seq).toBe(before);
    expect(await kernel.ledger.get('api-1')).toBeUndefined();

    const ok = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
      payload: ndjson('api', undefined),
    });
    expect(ok.json()).toEqual({
      imported: 2500,
      duplicates: 0,
      skipped: 0,
      conflicts: 0,
      rekeyed: 0,
    });
  });

  it('API: an event_id already stored with other content is a CONFLICT naming the line, nothing committed', async () => {
    const before = (await kernel.ledger.head()).seq;
    const text = ndjson('api', undefined, 10).replace('"limit":"1"', '"limit":"2"'); // line 1 differs
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
      payload: ndjson('fresh', undefined, 5) + text,
    });
    expect(res.statusCode).toBe(409);
    expect(res.json<{ detail: string }>().detail).toMatch(/line 6\b/);
    expect((await kernel.ledger.head()).seq).toBe(before);
  });

  it('kerno ledger import (daemon): nothing committed, exits non-zero naming line 1500', async () => {
    const before = (await kernel.ledger.head()).seq;
    const file = join(dir, 'bad-daemon.ndjson');
    writeFileSync(file, ndjson('cli', 1500));
    const r = await cli(...base, 'ledger', 'import', file);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/line 1500\b/i);
    expect((await kernel.ledger.head()).seq).toBe(before);
  });

  it('kerno ledger import --store: nothing committed, exits non-zero naming line 1500', async () => {
    const url = `sqlite:${join(dir, 'atomic.db')}`;
    const file = join(dir, 'bad-store.ndjson');
    writeFileSync(file, ndjson('store', 1500));
    const r = await cli('ledger', 'import', file, '--store', url);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/line 1500\b/i);
    const storage = await openStorage(url);
    try {
      expect((await storage.log.head('experience')).seq).toBe(0);
    } finally {
      await storage.close();
    }
  });
});

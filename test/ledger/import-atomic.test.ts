/**
 * Imports are all-or-nothing: a 2,500-line NDJSON with bad JSON (or an invalid envelope) at line
 * 1500 commits nothing and the typed error names line 1500 — through the API, `kerno ledger
 * import` against the daemon, and `kerno ledger import --store` on SQLite and PostgreSQL — and
 * the commit itself is one transaction: a store failure while committing stores nothing either.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type KernoServer } from '../../src/server/app.js';
import type { Kernel } from '../../src/kernel.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { cli } from '../helpers/cli.js';
import { testKernel } from '../helpers/kernel.js';
import { createLedger } from '../../src/ledger/ledger.js';
import type { LogAppend, LogStore } from '../../src/storage/log.js';
import { dropSchema, freshSchema, pgAvailable, pgUrl } from '../helpers/postgres.js';

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

/** 2,500 valid envelope lines, line `bad` replaced by broken JSON (or by `badLine`). */
function ndjson(
  prefix: string,
  bad: number | undefined,
  count = 2500,
  badLine = '{"event_id": "broken", ',
): string {
  const lines: string[] = [];
  for (let i = 1; i <= count; i++) {
    lines.push(
      i === bad
        ? badLine
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

/** Text as an async source of chunks. */
async function* lines(text: string): AsyncGenerator<string> {
  yield text;
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

  it('API: an envelope that fails validation at line 1500 commits nothing and names line 1500', async () => {
    const before = (await kernel.ledger.head()).seq;
    const invalid = JSON.stringify({
      event_id: 'invalid-1500',
      occurred_at: '2026-01-01T00:00:00Z',
      tenant_id: null,
      correlation_id: null,
      event: { type: 'BudgetExceeded', data: { chain_id: 'c', resource: 'Tokens' } },
    });
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
      payload: ndjson('invalid', 1500, 2500, invalid),
    });
    expect(res.statusCode).toBe(400);
    const problem = res.json<{ code: string; detail: string }>();
    expect(problem.code).toBe('INVALID_EVENT');
    expect(problem.detail).toMatch(/line 1500\b/i);
    expect((await kernel.ledger.head()).seq).toBe(before);
    expect(await kernel.ledger.get('invalid-1')).toBeUndefined();
  });

  it('kerno ledger import (daemon): a conflict at line 1500 commits nothing and names the line', async () => {
    await kernel.ledger.append(
      {
        type: 'BudgetExceeded',
        data: { chain_id: 'c', resource: 'Tokens', limit: '7', observed: null },
      },
      { eventId: 'taken-1500' },
    );
    const before = (await kernel.ledger.head()).seq;
    const file = join(dir, 'conflict-daemon.ndjson');
    writeFileSync(file, ndjson('taken', undefined));
    const r = await cli(...base, 'ledger', 'import', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/line 1500 \(event_id "taken-1500", already in the ledger\)/);
    expect((await kernel.ledger.head()).seq).toBe(before);
    expect(await kernel.ledger.get('taken-1')).toBeUndefined();
  });

  it('the commit is one transaction: a store failure after 1,500 of 2,500 records stores nothing (SQLite)', async () => {
    const storage = await openStorage(`sqlite:${join(dir, 'commit-fails.db')}`);
    try {
      // The real SQLite log, its commit cut off after 1,500 records reached it.
      const failing: LogStore = Object.create(storage.log) as LogStore;
      failing.appendAll = (stream, batches) =>
        storage.log.appendAll(
          stream,
          (async function* (): AsyncGenerator<readonly LogAppend[]> {
            let passed = 0;
            for await (const batch of batches) {
              if (passed >= 1500) throw new Error('connection lost');
              passed += batch.length;
              yield batch;
            }
          })(),
        );
      for (const m of [
        'read',
        'scan',
        'query',
        'getByKey',
        'head',
        'append',
        'onAppend',
        'prune',
        'flush',
        'close',
      ] as const) {
        (failing as unknown as Record<string, unknown>)[m] = (
          storage.log[m] as (...a: unknown[]) => unknown
        ).bind(storage.log);
      }
      const ledger = createLedger({ log: failing });
      await expect(
        ledger.importNdjson(lines(ndjson('cut', undefined)), { batchSize: 500 }),
      ).rejects.toThrow(/connection lost/);
      expect((await storage.log.head('experience')).seq).toBe(0);
      const ok = await ledger.importNdjson(lines(ndjson('cut', undefined, 1000)), {
        batchSize: 500,
      });
      expect(ok).toMatchObject({ imported: 1000, duplicates: 0 });
      expect(await ledger.verify()).toMatchObject({ ok: true, verified: 1000 });
    } finally {
      await storage.close();
    }
  });
});

describe('a conflict that appears while the import commits', () => {
  it('stores nothing and says another writer got in between', async () => {
    const storage = await openStorage('memory:');
    try {
      const log: LogStore = Object.create(storage.log) as LogStore;
      for (const m of [
        'read',
        'scan',
        'query',
        'getByKey',
        'head',
        'append',
        'onAppend',
        'prune',
        'flush',
        'close',
      ] as const) {
        (log as unknown as Record<string, unknown>)[m] = (
          storage.log[m] as (...a: unknown[]) => unknown
        ).bind(storage.log);
      }
      // Between the check and the commit, another writer takes line 5's event_id.
      const other = createLedger({ log: storage.log });
      log.appendAll = async (stream, batches) => {
        await other.append(
          {
            type: 'BudgetExceeded',
            data: { chain_id: 'c', resource: 'Tokens', limit: '9', observed: null },
          },
          { eventId: 'race-5' },
        );
        return storage.log.appendAll(stream, batches);
      };
      const ledger = createLedger({ log });
      await expect(ledger.importNdjson(lines(ndjson('race', undefined, 10)))).rejects.toMatchObject(
        {
          code: 'CONFLICT',
          message: /Another writer stored an event_id this file uses.*Nothing was imported/,
        },
      );
      expect((await storage.log.head('experience')).seq).toBe(1);
    } finally {
      await storage.close();
    }
  });
});

describe.skipIf(!pgAvailable)('all-or-nothing ledger imports on PostgreSQL', () => {
  it('kerno ledger import --store postgres: bad JSON at line 1500 commits nothing; the whole file then imports', async () => {
    const schema = freshSchema();
    const url = pgUrl(schema);
    try {
      const file = join(dir, 'bad-pg.ndjson');
      writeFileSync(file, ndjson('pg', 1500));
      const r = await cli('ledger', 'import', file, '--store', url);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/line 1500\b/i);
      const good = join(dir, 'good-pg.ndjson');
      writeFileSync(good, ndjson('pg', undefined));
      const ok = await cli('ledger', 'import', good, '--store', url, '--json');
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ imported: 2500, duplicates: 0 });
      const storage = await openStorage(url);
      try {
        expect((await storage.log.head('experience')).seq).toBe(2500);
      } finally {
        await storage.close();
      }
      const v = await cli('ledger', 'verify', '--store', url);
      expect(v.code).toBe(0);
      expect(v.stdout).toContain('ok: 2500 records verify');
    } finally {
      await dropSchema(schema);
    }
  });
});

/**
 * `kerno ledger import --on-conflict fail|skip|rekey` and the HTTP route's `onConflict`: merging
 * two converge exports whose in-memory stores both numbered `evt-1, evt-2, …`. Through the API,
 * the CLI against the daemon, and the CLI with `--store` on SQLite and (when reachable)
 * PostgreSQL.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type KernoServer } from '../../src/server/app.js';
import type { Kernel } from '../../src/kernel.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { cli } from '../helpers/cli.js';
import { testKernel } from '../helpers/kernel.js';
import { dropSchema, freshSchema, pgAvailable, pgSkipReason, pgUrl } from '../helpers/postgres.js';

const TOKEN = 'kerno_conflict_test_token_0123456789abcdef';
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

/** A converge 3.9 export: `evt-N` ids from a fresh counter, `lamport:N` times. */
function convergeExport(prefix: string, chain: string, count: number): string[] {
  const lines: string[] = [];
  for (let i = 1; i <= count; i++) {
    lines.push(
      JSON.stringify({
        event_id: `${prefix}evt-${i}`,
        occurred_at: `lamport:${i}`,
        tenant_id: null,
        correlation_id: null,
        event: {
          type: 'OutcomeRecorded',
          data: {
            chain_id: chain,
            step: 'Planning',
            passed: true,
            stop_reason: null,
            latency_ms: i,
            tokens: null,
            cost_microdollars: null,
            backend: null,
          },
        },
      }),
    );
  }
  return lines;
}

/** Two exports concatenated: lines 4–6 reuse the ids of lines 1–3 with other content. */
function merged(prefix: string): string {
  return [...convergeExport(prefix, 'run-a', 3), ...convergeExport(prefix, 'run-b', 3)].join('\n');
}

function inject(prefix: string, query: string) {
  return server.app.inject({
    method: 'POST',
    url: `/api/ledger/import${query}`,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
    payload: merged(prefix),
  });
}

describe('HTTP: POST /api/ledger/import?onConflict=', () => {
  it('fail (the default) is a 409 naming lines 4, 5 and 6, and stores nothing', async () => {
    const before = (await kernel.ledger.head()).seq;
    const res = await inject('api-', '');
    expect(res.statusCode).toBe(409);
    const problem = res.json<{ code: string; detail: string }>();
    expect(problem.code).toBe('CONFLICT');
    for (const [line, first] of [
      [4, 1],
      [5, 2],
      [6, 3],
    ]) {
      expect(problem.detail).toContain(
        `line ${line} (event_id "api-evt-${first}", as line ${first})`,
      );
    }
    expect(problem.detail).toContain('Nothing was imported');
    expect((await kernel.ledger.head()).seq).toBe(before);
  });

  it('skip keeps the first export and reports the dropped lines', async () => {
    const res = await inject('skip-', '?onConflict=skip');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      imported: 3,
      duplicates: 0,
      skipped: 0,
      conflicts: 3,
      rekeyed: 0,
    });
    const chains = await kernel.ledger.query({ chainId: 'run-b' });
    expect(chains.filter((r) => r.envelope.event_id.startsWith('skip-'))).toEqual([]);
  });

  it('rekey stores the second export under new ids, the originals in metadata', async () => {
    const res = await inject('rekey-', '?onConflict=rekey');
    expect(res.json()).toEqual({
      imported: 6,
      duplicates: 0,
      skipped: 0,
      conflicts: 0,
      rekeyed: 3,
    });
    const runB = (await kernel.ledger.query({ chainId: 'run-b', limit: 100 })).filter((r) =>
      r.envelope.event_id.startsWith('rekey-'),
    );
    expect(runB.map((r) => (r.envelope as { metadata?: unknown }).metadata)).toEqual([
      { original_event_id: 'rekey-evt-1' },
      { original_event_id: 'rekey-evt-2' },
      { original_event_id: 'rekey-evt-3' },
    ]);
    const again = await inject('rekey-', '?onConflict=rekey');
    expect(again.json()).toMatchObject({ imported: 0, duplicates: 6, rekeyed: 0 });
  });

  it('refuses an unknown mode with 400', async () => {
    const res = await inject('bogus-', '?onConflict=merge');
    expect(res.statusCode).toBe(400);
  });
});

describe('kerno ledger import --on-conflict (daemon)', () => {
  it('fails naming every conflicting line, then skips, then rekeys', async () => {
    const file = join(dir, 'merged-daemon.ndjson');
    writeFileSync(file, merged('cli-'));
    const before = (await kernel.ledger.head()).seq;
    const failed = await cli(...base, 'ledger', 'import', file);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain('CONFLICT');
    expect(failed.stderr).toMatch(/line 4 .*line 5 .*line 6 /s);
    expect((await kernel.ledger.head()).seq).toBe(before);

    const skipped = await cli(...base, 'ledger', 'import', file, '--on-conflict', 'skip');
    expect(skipped.code).toBe(0);
    expect(skipped.stdout).toBe(
      'imported 3, already present 0, skipped 0, conflicting dropped 3\n',
    );
    const rekeyed = await cli(
      ...base,
      'ledger',
      'import',
      file,
      '--on-conflict',
      'rekey',
      '--json',
    );
    expect(JSON.parse(rekeyed.stdout)).toEqual({
      imported: 3,
      duplicates: 3,
      skipped: 0,
      conflicts: 0,
      rekeyed: 3,
    });
  });

  it('refuses an unknown --on-conflict mode before reading anything', async () => {
    const r = await cli(
      ...base,
      'ledger',
      'import',
      join(dir, 'none.ndjson'),
      '--on-conflict',
      'x',
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--on-conflict must be one of fail, skip, rekey');
  });
});

async function storeRoundTrip(url: string): Promise<void> {
  const file = join(dir, `merged-${Math.random().toString(36).slice(2)}.ndjson`);
  writeFileSync(file, merged('st-'));
  const failed = await cli('ledger', 'import', file, '--store', url);
  expect(failed.code).not.toBe(0);
  expect(failed.stderr).toMatch(/3 lines reuse an event_id with other content: line 4 /);
  const storage = await openStorage(url);
  try {
    expect((await storage.log.head('experience')).seq).toBe(0);
  } finally {
    await storage.close();
  }
  const rekeyed = await cli('ledger', 'import', file, '--store', url, '--on-conflict', 'rekey');
  expect(rekeyed.stdout).toBe('imported 6, already present 0, skipped 0, rekeyed 3\n');
  const exported = await cli('ledger', 'export', '--store', url, '--records');
  const records = exported.stdout
    .trim()
    .split('\n')
    .map(
      (l) => JSON.parse(l) as { kind: string; value: { event_id: string; occurred_at: string } },
    );
  expect(records).toHaveLength(6);
  expect(records.every((r) => r.kind === 'Engine')).toBe(true);
  expect(records.map((r) => r.value.occurred_at)).toEqual([
    'lamport:1',
    'lamport:2',
    'lamport:3',
    'lamport:1',
    'lamport:2',
    'lamport:3',
  ]);
  // The wrapped export imports back unchanged into a fresh store.
  const tag = Math.random().toString(36).slice(2);
  const back = join(dir, `records-${tag}.ndjson`);
  writeFileSync(back, exported.stdout);
  const fresh = `sqlite:${join(dir, `back-${tag}.db`)}`;
  const imported = await cli('ledger', 'import', back, '--store', fresh, '--json');
  expect(JSON.parse(imported.stdout)).toMatchObject({ imported: 6, rekeyed: 0 });
  const bare = await cli('ledger', 'export', '--store', fresh);
  expect(bare.stdout.trim().split('\n')).toEqual(records.map((r) => JSON.stringify(r.value)));
}

describe('kerno ledger import --on-conflict --store', () => {
  it('SQLite: fail stores nothing; rekey imports both exports; --records exports wrappers', async () => {
    await storeRoundTrip(`sqlite:${join(dir, 'conflict.db')}`);
  });

  it.skipIf(!pgAvailable)(`PostgreSQL: the same${pgSkipReason}`, async () => {
    const schema = freshSchema();
    try {
      await storeRoundTrip(pgUrl(schema));
    } finally {
      await dropSchema(schema);
    }
  });

  it('SQLite: --strict-ids refuses an id outside [A-Za-z0-9._-]', async () => {
    const url = `sqlite:${join(dir, 'strict.db')}`;
    const file = join(dir, 'loose-ids.ndjson');
    writeFileSync(file, convergeExport('run 7/', 'c', 1).join('\n') + '\n');
    const strict = await cli('ledger', 'import', file, '--store', url, '--strict-ids');
    expect(strict.code).toBe(2);
    expect(strict.stderr).toMatch(/Line 1: Invalid experience envelope at event_id/);
    const lenient = await cli('ledger', 'import', file, '--store', url, '--json');
    expect(JSON.parse(lenient.stdout)).toMatchObject({ imported: 1 });
  });
});

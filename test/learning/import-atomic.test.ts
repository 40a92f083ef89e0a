/**
 * Learning imports are all or nothing (issue 14, item 4): an RVLS file of 2,500 lines with a bad
 * line at line 1500 (bad JSON, or a record that fails validation) merges nothing and the error
 * names line 1500 — through the API and `kerno learning import`, on SQLite and PostgreSQL; the
 * file is decoded as a stream; and a merge whose commit fails is undone.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel.js';
import { importRvls } from '../../src/learning/learning-import.js';
import { createLearningStore } from '../../src/learning/learning-store.js';
import { createServer, type KernoServer } from '../../src/server/app.js';
import { silentLogger } from '../../src/util/logger.js';
import { cli } from '../helpers/cli.js';
import { dropSchema, freshSchema, pgAvailable, pgUrl } from '../helpers/postgres.js';
import { tempDir } from '../helpers/stores.js';

const TOKEN = 'kerno_learning_import_token_0123456789ab';

function pattern(id: string, strategy = `strategy of ${id}`): Record<string, unknown> {
  return {
    id,
    strategy,
    embedding_weights: {},
    success_rate: 0.9,
    use_count: 3,
    domain: 'ci',
    quality: 0.8,
    is_long_term: false,
    last_used: '2026-05-14T10:00:00Z',
  };
}

/**
 * An RVLS file of `lines` lines (header, records, footer): records p2…, line `bad` replaced by
 * `badLine`.
 */
function rvls(prefix: string, bad: number | undefined, badLine: string, lines = 2500): string {
  const out = ['RVLS'];
  for (let n = 2; n < lines; n++) {
    out.push(
      n === bad ? badLine : JSON.stringify({ type: 'pattern', data: pattern(`${prefix}-${n}`) }),
    );
  }
  return out.join('\n') + '\nREND';
}

const BAD_JSON = '{"type":"pattern","data":{"id":';
const INVALID = JSON.stringify({
  type: 'pattern',
  data: { ...pattern('x'), success_rate: 'high' },
});

const backends: [string, (dir: string) => { store: string; close: () => Promise<void> }][] = [
  ['sqlite', (dir) => ({ store: `sqlite:${join(dir, 'kerno.db')}`, close: async () => undefined })],
];
if (pgAvailable) {
  backends.push([
    'postgres',
    () => {
      const schema = freshSchema();
      return { store: pgUrl(schema), close: () => dropSchema(schema) };
    },
  ]);
}

describe.each(backends)('all-or-nothing learning imports (%s)', (_name, make) => {
  let kernel: Kernel;
  let server: KernoServer;
  let base: string[];
  let dir: string;
  let cleanupDir: () => void;
  let closeBackend: () => Promise<void>;

  beforeAll(async () => {
    ({ dir, cleanup: cleanupDir } = tempDir('kerno-learning-import-'));
    const backend = make(dir);
    closeBackend = backend.close;
    kernel = await createKernel({
      store: backend.store,
      stateDir: dir,
      logger: silentLogger,
      registryKey: 'test registry key',
      registryScryptCost: 1024,
    });
    server = await createServer(kernel, { token: TOKEN });
    const { url } = await server.listen({ port: 0 });
    base = ['--url', url, '--token', TOKEN, '--home', dir];
  });
  afterAll(async () => {
    await server.close();
    await kernel.close();
    await closeBackend();
    cleanupDir();
  });

  const post = (payload: string, query = '') =>
    server.app.inject({
      method: 'POST',
      url: `/api/learning/import${query}`,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' },
      payload,
    });

  it.each([
    ['bad JSON', BAD_JSON],
    ['a record that fails validation', INVALID],
  ])('API: %s at line 1500 of 2,500 merges nothing and names line 1500', async (_what, line) => {
    const before = kernel.learning.stats().patternCount;
    const res = await post(rvls('api', 1500, line));
    expect(res.statusCode).toBe(400);
    const problem = res.json<{ code: string; detail: string; details: { line: number } }>();
    expect(problem.code).toBe('INVALID_RVLS_FILE');
    expect(problem.detail).toMatch(/^Line 1500 of upload\b/);
    expect(problem.details.line).toBe(1500);
    expect(kernel.learning.stats().patternCount).toBe(before);
    expect(kernel.learning.getPattern('api-2')).toBeUndefined();
  });

  it('kerno learning import: a bad line at 1500 merges nothing (exit 2, line named); --skip-invalid skips it; a good file merges and persists', async () => {
    const before = kernel.learning.stats().patternCount;
    const bad = join(dir, 'bad.rvls');
    writeFileSync(bad, rvls('cli', 1500, BAD_JSON));
    const r = await cli(...base, 'learning', 'import', bad);
    expect(r.stderr).toMatch(/Line 1500 of upload/);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Line 1500 of upload is not a valid RVLS record/);
    expect(kernel.learning.stats().patternCount).toBe(before);
    expect(kernel.learning.getPattern('cli-2')).toBeUndefined();

    const skipped = await cli(...base, 'learning', 'import', bad, '--skip-invalid', '--json');
    expect(skipped.code).toBe(0);
    expect(JSON.parse(skipped.stdout)).toMatchObject({ patterns: 2497, skipped: 1 });
    expect(kernel.learning.getPattern('cli-1500')).toBeUndefined();

    const good = join(dir, 'good.rvls');
    writeFileSync(good, rvls('good', undefined, ''));
    const ok = await cli(...base, 'learning', 'import', good, '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ patterns: 2498, skipped: 0 });
    expect(kernel.learning.stats()).toMatchObject({
      patternCount: before + 2497 + 2498,
      isDirty: false,
    });
  });
});

describe('learning import commit', () => {
  it('undoes the merge when the commit fails: replaced records come back, added ones go', async () => {
    const store = createLearningStore({ logger: silentLogger });
    store.savePattern(pattern('keep-2', 'the old strategy') as never);
    const text = rvls('keep', undefined, '', 6); // keep-2 … keep-5
    await expect(
      importRvls(store, [new TextEncoder().encode(text)], {
        source: 'test.rvls',
        commit: () => Promise.reject(new Error('disk full')),
      }),
    ).rejects.toMatchObject({ code: 'STORAGE_ERROR', message: /disk full.*nothing was imported/ });
    expect(store.getPattern('keep-2')?.strategy).toBe('the old strategy');
    expect(store.getPattern('keep-3')).toBeUndefined();
    expect(store.stats().patternCount).toBe(1);
    expect(
      await importRvls(store, [new TextEncoder().encode(text)], { source: 'test.rvls' }),
    ).toMatchObject({ patterns: 4 });
    expect(store.getPattern('keep-2')?.strategy).toBe('strategy of keep-2');
  });
});

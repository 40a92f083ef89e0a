import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type KernoServer } from '../../src/server/app.js';
import { withStore } from '../../src/cli/common.js';
import type { Kernel } from '../../src/kernel.js';
import { cli } from '../helpers/cli.js';
import { testKernel } from '../helpers/kernel.js';
import { ACCESS_LINES, TRAIL_SPECS, oxiosTrail, writeMemoryDb } from '../helpers/oxios.js';
import { dropSchema, freshSchema, pgAvailable, pgSkipReason, pgUrl } from '../helpers/postgres.js';
import { tempDir } from '../helpers/stores.js';

let dir: string;
let cleanup: () => void;
beforeAll(() => {
  ({ dir, cleanup } = tempDir('kerno-cli-oxios-'));
});
afterAll(() => cleanup());

const trailFile = (name: string, entries = oxiosTrail(TRAIL_SPECS)): string => {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(entries, null, 2));
  return file;
};

const accessFile = (name: string): string => {
  const file = join(dir, name);
  writeFileSync(file, ACCESS_LINES.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return file;
};

/** Every store URL the import runs on: SQLite, and PostgreSQL when reachable. */
const stores: { name: string; url: () => Promise<{ url: string; done: () => Promise<void> }> }[] = [
  {
    name: 'sqlite',
    url: async () => ({
      url: `sqlite:${join(dir, `s-${Math.random().toString(36).slice(2)}.db`)}`,
      done: async () => {},
    }),
  },
];
if (pgAvailable) {
  stores.push({
    name: 'postgres',
    url: async () => {
      const schema = freshSchema('kerno_cli_oxios');
      return { url: pgUrl(schema), done: () => dropSchema(schema) };
    },
  });
}

describe.each(stores)('kerno oxios imports on a $name store', ({ url: open }) => {
  it('learning import --oxios-memory merges the patterns table into the store', async () => {
    const { url, done } = await open();
    try {
      const db = join(dir, `memory-${Math.random().toString(36).slice(2)}.db`);
      writeMemoryDb(db);
      const imp = await cli('learning', 'import', '--oxios-memory', db, '--store', url, '--json');
      expect(imp.stderr).toBe('');
      expect(imp.code).toBe(0);
      expect(JSON.parse(imp.stdout)).toEqual({
        patterns: 2,
        embeddingsDropped: 1,
        weightsKept: 1,
      });
      const stored = await withStore(
        url,
        async (k) => ({
          one: k.learning.getPattern('sona-1'),
          two: k.learning.getPattern('sona-2'),
          recall: k.learning.recall('flaky network tests', { k: 1 }),
        }),
        { learning: true },
      );
      expect(stored.one).toMatchObject({ domain: 'ci', use_count: 4, is_long_term: true });
      expect(stored.two).toMatchObject({ domain: '', embedding_weights: { toolchain: 0.7 } });
      expect(stored.recall[0]!.pattern.id).toBe('sona-1');
      // Importing again upserts by id: still two patterns.
      expect((await cli('learning', 'import', '--oxios-memory', db, '--store', url)).stdout).toBe(
        `merged 2 patterns from ${db}; 1 dense embeddings not kept (kerno recalls by TF-IDF over the strategy)\n`,
      );
      expect(
        await withStore(url, async (k) => k.learning.stats().patternCount, { learning: true }),
      ).toBe(2);
    } finally {
      await done();
    }
  });

  it('audit import --oxios takes a trail as the prefix; verify covers it; a second import is refused', async () => {
    const { url, done } = await open();
    try {
      const file = trailFile(`trail-${Math.random().toString(36).slice(2)}.json`);
      const imp = await cli('audit', 'import', '--oxios', file, '--store', url, '--json');
      expect(imp.stderr).toBe('');
      expect(imp.code).toBe(0);
      const result = JSON.parse(imp.stdout) as { imported: number; head: { seq: number } };
      expect(result).toMatchObject({ imported: 3, format: 'oxios-trail', head: { seq: 3 } });
      const v = await cli('audit', 'verify', '--store', url, '--json');
      expect(v.code).toBe(0);
      expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, verified: 3 });
      const again = await cli('audit', 'import', '--oxios', accessFile('a.jsonl'), '--store', url);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('CONFLICT');
      expect(again.stderr).toContain('already holds 3 entries');
    } finally {
      await done();
    }
  });

  it('audit import --oxios takes access.jsonl', async () => {
    const { url, done } = await open();
    try {
      const imp = await cli('audit', 'import', '--oxios', accessFile('b.jsonl'), '--store', url);
      expect(imp.code).toBe(0);
      expect(imp.stdout).toMatch(
        /^imported 4 oxios access events as seqs 1–4; head 4 [0-9a-f]{64}\n$/,
      );
      const v = await cli('audit', 'verify', '--store', url, '--json');
      expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, verified: 4 });
    } finally {
      await done();
    }
  });
});

describe('kerno oxios imports: refusals and tampering (SQLite)', () => {
  it('refuses a tampered oxios trail naming the seq, importing nothing', async () => {
    const url = `sqlite:${join(dir, 'tampered.db')}`;
    const entries = oxiosTrail(TRAIL_SPECS);
    (entries[2]!['action'] as { data: { key: string } }).data.key = 'other';
    const imp = await cli(
      'audit',
      'import',
      '--oxios',
      trailFile('bad.json', entries),
      '--store',
      url,
    );
    expect(imp.code).toBe(1);
    expect(imp.stderr).toContain('CHAIN_BROKEN');
    expect(imp.stderr).toContain('does not verify at seq 3');
    const v = await cli('audit', 'verify', '--store', url, '--json');
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, verified: 0 });
  });

  it('catches a tamper in the imported prefix of the stored trail', async () => {
    const file = join(dir, 'prefix.db');
    const url = `sqlite:${file}`;
    expect(
      (await cli('audit', 'import', '--oxios', trailFile('ok.json'), '--store', url)).code,
    ).toBe(0);
    const db = new Database(file);
    try {
      db.exec(
        'DROP TRIGGER IF EXISTS log_records_no_update; DROP TRIGGER IF EXISTS log_records_no_delete',
      );
      const id = db.prepare("SELECT id FROM log_streams WHERE name = 'audit'").pluck().get();
      db.prepare(
        "UPDATE log_records SET body = replace(body, 'api_token', 'nothing') WHERE stream = ? AND seq = 3",
      ).run(id);
    } finally {
      db.close();
    }
    const v = await cli('audit', 'verify', '--store', url);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain('BROKEN at seq 3');
  });

  it('says what it expected of a file that is not an oxios memory.db or audit file', async () => {
    const url = `sqlite:${join(dir, 'refusals.db')}`;
    const text = join(dir, 'not-a-db');
    writeFileSync(text, 'plain text, not SQLite at all, and long enough to have a header');
    const notDb = await cli('learning', 'import', '--oxios-memory', text, '--store', url);
    expect(notDb.code).toBe(2);
    expect(notDb.stderr).toContain('INVALID_UPSTREAM_FILE');
    expect(notDb.stderr).toContain('Expected a SQLite database with a `patterns` table');
    const noTable = join(dir, 'other.db');
    new Database(noTable).exec('CREATE TABLE memories (id TEXT)');
    const nt = await cli('learning', 'import', '--oxios-memory', noTable, '--store', url);
    expect(nt.code).toBe(2);
    expect(nt.stderr).toContain('it has no `patterns` table');
    const missing = await cli('learning', 'import', '--oxios-memory', join(dir, 'nope.db'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('NOT_FOUND');
    const both = await cli('learning', 'import', 'x.rvls', '--oxios-memory', noTable);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both or neither');
    const garbage = join(dir, 'garbage.txt');
    writeFileSync(garbage, 'hello');
    const audit = await cli('audit', 'import', '--oxios', garbage, '--store', url);
    expect(audit.code).toBe(2);
    expect(audit.stderr).toContain('neither an oxios audit trail');
    const badLine = join(dir, 'bad.jsonl');
    writeFileSync(badLine, JSON.stringify(ACCESS_LINES[0]) + '\n{"kind":"ToolAccess"}\n');
    const bl = await cli('audit', 'import', '--oxios', badLine, '--store', url);
    expect(bl.code).toBe(2);
    expect(bl.stderr).toContain('line 2');
    expect((await cli('audit', 'verify', '--store', url, '--json')).stdout).toContain(
      '"verified": 0',
    );
  });
});

describe('kerno learning import --oxios-memory against a daemon', () => {
  const TOKEN = 'kerno_cli_oxios_token_0123456789abcdef';
  let kernel: Kernel;
  let server: KernoServer;
  let stop: () => Promise<void>;
  let base: string[];
  beforeAll(async () => {
    const k = await testKernel();
    kernel = k.kernel;
    stop = k.cleanup;
    server = await createServer(kernel, { token: TOKEN });
    const { url } = await server.listen({ port: 0 });
    base = ['--url', url, '--token', TOKEN, '--home', k.dir];
  });
  afterAll(async () => {
    await server.close();
    await stop();
  });

  it('imports oxios audit history into a fresh daemon’s trail, which verifies it', async () => {
    const tampered = oxiosTrail(TRAIL_SPECS);
    tampered[1]!['resource'] = 'elsewhere';
    const bad = await cli(...base, 'audit', 'import', '--oxios', trailFile('dt.json', tampered));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('CHAIN_BROKEN');
    expect(bad.stderr).toContain('seq 2');
    const imp = await cli(...base, 'audit', 'import', '--oxios', trailFile('d.json'), '--json');
    expect(imp.stderr).toBe('');
    expect(JSON.parse(imp.stdout)).toMatchObject({ imported: 3, format: 'oxios-trail' });
    const v = await cli(...base, 'audit', 'verify', '--json');
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, verified: 3 });
    const again = await cli(...base, 'audit', 'import', '--oxios', trailFile('d2.json'));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already holds 3 entries');
  });

  it('reads the database here and merges it through the daemon’s import', async () => {
    const db = join(dir, 'daemon-memory.db');
    writeMemoryDb(db);
    const imp = await cli(...base, 'learning', 'import', '--oxios-memory', db, '--json');
    expect(imp.code).toBe(0);
    expect(JSON.parse(imp.stdout)).toEqual({ patterns: 2, embeddingsDropped: 1, weightsKept: 1 });
    expect(kernel.learning.getPattern('sona-2')).toMatchObject({
      strategy: 'pin the toolchain version before bisecting',
    });
  });
});

describe.skipIf(pgAvailable)(`PostgreSQL CLI imports${pgSkipReason}`, () => {
  it('are skipped', () => undefined);
});

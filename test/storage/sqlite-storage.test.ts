import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isKernelError } from '../../src/index.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { openStorage, parseStoreUrl } from '../../src/storage/open-storage.js';
import { buildLogQuery } from '../../src/storage/log-sql.js';
import { SQLITE_LOG_SQL } from '../../src/storage/sqlite/sqlite-log.js';
import { SQLITE_SCHEMA_VERSION } from '../../src/storage/sqlite/sqlite-migrations.js';
import { tempDir } from '../helpers/stores.js';

const budget = (chain: string) =>
  ({
    type: 'BudgetExceeded',
    data: { chain_id: chain, resource: 'Tokens', limit: '1', observed: null },
  }) as never;

async function filled(n: number) {
  const { dir, cleanup } = tempDir();
  const file = join(dir, 'k.db');
  const storage = await openStorage(`sqlite:${file}`);
  const ledger = createLedger({ log: storage.log });
  for (let i = 0; i < n; i++) await ledger.append(budget(`c${i}`));
  await storage.close();
  return { file, cleanup };
}

describe('store URLs', () => {
  it('parses the accepted forms and explains the rest', () => {
    expect(parseStoreUrl('memory:')).toEqual({ kind: 'memory' });
    expect(parseStoreUrl('sqlite:.kerno/kerno.db')).toEqual({
      kind: 'sqlite',
      file: '.kerno/kerno.db',
    });
    expect(parseStoreUrl('sqlite:///var/lib/kerno.db')).toEqual({
      kind: 'sqlite',
      file: '/var/lib/kerno.db',
    });
    expect(parseStoreUrl('postgres://u@h/db')).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h/db',
    });
    for (const bad of ['mysql://x', 'sqlite:', 'sqlite::memory:', '']) {
      try {
        parseStoreUrl(bad);
        expect.unreachable();
      } catch (error) {
        expect(isKernelError(error, 'INVALID_STORE_URL')).toBe(true);
        expect((error as Error).message).toMatch(/sqlite:<path>/);
      }
    }
  });
});

describe('SQLite store', () => {
  it('keeps tenantless records out of the tenant index; tenant and time queries walk an index', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'k.db');
    const storage = await openStorage(`sqlite:${file}`);
    const ledger = createLedger({ log: storage.log });
    await ledger.append(budget('a'), { tenantId: 't1' });
    await ledger.append(budget('b'));
    await storage.close();
    const db = new Database(file);
    // A partial index: tenantless records (audit, run journals) add no entry to it.
    const indexes = db.prepare('PRAGMA index_list(log_records)').all() as {
      name: string;
      partial: number;
    }[];
    expect(indexes.find((i) => i.name === 'log_records_tenant_time')?.partial).toBe(1);
    expect(() =>
      db
        .prepare(
          'SELECT count(*) FROM log_records INDEXED BY log_records_tenant_time WHERE tenant IS NULL',
        )
        .get(),
    ).toThrow(/no query solution/);
    const plan = (q: Parameters<typeof buildLogQuery>[2]) => {
      const sql = buildLogQuery(SQLITE_LOG_SQL, 1, q);
      return (
        db.prepare(`EXPLAIN QUERY PLAN ${sql.text}`).all(...sql.values) as { detail: string }[]
      )
        .map((r) => r.detail)
        .join('; ');
    };
    const tenant = plan({ tenant: 't1', kinds: ['BudgetExceeded'], orderBy: 'time', limit: 10 });
    expect(tenant).toContain('log_records_tenant_time');
    expect(tenant).not.toContain('TEMP B-TREE');
    const all = plan({ kinds: ['BudgetExceeded'], orderBy: 'time', limit: 10 });
    expect(all).toContain('log_records_time');
    expect(all).not.toContain('TEMP B-TREE');
    db.close();
    cleanup();
  });

  it('is append-only in the database itself: UPDATE and DELETE are refused', async () => {
    const { file, cleanup } = await filled(3);
    const db = new Database(file);
    expect(() => db.prepare("UPDATE log_records SET body = '{}' WHERE seq = 2").run()).toThrow(
      /append-only/,
    );
    expect(() => db.prepare('DELETE FROM log_records WHERE seq = 3').run()).toThrow(/append-only/);
    expect(db.prepare('SELECT count(*) FROM log_records').pluck().get()).toBe(3);
    db.close();
    cleanup();
  });

  it('detects a record edited behind its back (triggers dropped), at that position', async () => {
    const { file, cleanup } = await filled(5);
    const db = new Database(file);
    db.exec('DROP TRIGGER log_records_no_update');
    db.prepare("UPDATE log_records SET body = replace(body, 'c3', 'cX') WHERE seq = 4").run();
    db.close();
    const storage = await openStorage(`sqlite:${file}`);
    const result = await createLedger({ log: storage.log }).verify();
    expect(result).toMatchObject({ ok: false, seq: 4, reason: 'hash_mismatch', verified: 3 });
    await storage.close();
    cleanup();
  });

  it('refuses a database written by a newer kerno, with a clear error', async () => {
    const { file, cleanup } = await filled(1);
    const db = new Database(file);
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    db.close();
    await expect(openStorage(`sqlite:${file}`)).rejects.toSatisfy(
      (e: Error) => isKernelError(e, 'SCHEMA_TOO_NEW') && /upgrade kerno/.test(e.message),
    );
    cleanup();
  });

  it('migrates once when several processes open a new file at the same time', async () => {
    const { dir, cleanup } = tempDir();
    const url = `sqlite:${join(dir, 'race.db')}`;
    const stores = await Promise.all([openStorage(url), openStorage(url), openStorage(url)]);
    const ledgers = stores.map((s) => createLedger({ log: s.log }));
    await Promise.all(ledgers.map((l, i) => l.append(budget(`from-${i}`))));
    // writers in different connections still extend one linear chain
    expect((await ledgers[0]!.verify()).ok).toBe(true);
    expect((await ledgers[0]!.head()).seq).toBe(3);
    await Promise.all(stores.map((s) => s.close()));
    cleanup();
  });

  it("chains on the other writer's head when two stores take turns on one stream", async () => {
    const { dir, cleanup } = tempDir();
    const url = `sqlite:${join(dir, 'turns.db')}`;
    // Each writer keeps the heads it knows between batches; a commit by the other must make it
    // read them again, in either writer mode.
    const a = await openStorage(url);
    const b = await openStorage(url, { sqliteWriter: 'inline' });
    const ledgers = [createLedger({ log: a.log }), createLedger({ log: b.log })];
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++)
      seqs.push((await ledgers[i % 2]!.append(budget(`turn-${i}`))).position);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await ledgers[0]!.verify()).toMatchObject({ ok: true, verified: 6 });
    await a.close();
    await b.close();
    cleanup();
  });

  it('with the inline writer, a producer writing in a loop still lets the event loop turn', async () => {
    const { dir, cleanup } = tempDir();
    const storage = await openStorage(`sqlite:${join(dir, 'inline.db')}`, {
      sqliteWriter: 'inline',
    });
    const ledger = createLedger({ log: storage.log });
    let turned = false;
    setImmediate(() => (turned = true));
    // Answered only through microtasks, 40 awaited appends would finish before any I/O or timer.
    for (let i = 0; i < 40; i++) await ledger.append(budget(`loop-${i}`));
    expect(turned).toBe(true);
    await storage.close();
    cleanup();
  });

  it('gives a typed error for a file that is not a database', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'junk.db');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, 'this is not sqlite '.repeat(100));
    await expect(openStorage(`sqlite:${file}`)).rejects.toSatisfy((e: Error) =>
      isKernelError(e, 'STORAGE_ERROR'),
    );
    cleanup();
  });

  it('creates the database file readable by its owner only', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'nested/dir/k.db');
    const storage = await openStorage(`sqlite:${file}`);
    const { statSync } = await import('node:fs');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await storage.close();
    cleanup();
  });
});

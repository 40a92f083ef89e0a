import { afterEach, describe, expect, it } from 'vitest';
import { isKernelError } from '../../src/index.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { recordHash, type LogAppend } from '../../src/storage/log.js';
import { openStorage, parseStoreUrl } from '../../src/storage/open-storage.js';
import { clientConfig, parsePostgresUrl } from '../../src/storage/postgres/postgres-connection.js';
import { POSTGRES_SCHEMA_VERSION } from '../../src/storage/postgres/postgres-migrations.js';
import {
  openPostgresStorage,
  type PostgresStorage,
} from '../../src/storage/postgres/postgres-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { testKernel } from '../helpers/kernel.js';
import {
  PG_TEST_URL,
  adminQuery,
  dropSchema,
  freshSchema,
  pgAvailable,
  pgDriver,
  pgSkipReason,
  pgUrl,
} from '../helpers/postgres.js';

const budget = (chain: string) =>
  ({
    type: 'BudgetExceeded',
    data: { chain_id: chain, resource: 'Tokens', limit: '1', observed: null },
  }) as never;

const T0 = Date.UTC(2026, 4, 14, 10);
const entry = (i: number, extra: Partial<LogAppend> = {}): LogAppend => ({
  timeMs: T0 + i,
  body: JSON.stringify({ n: i }),
  ...extra,
});

describe('postgres store URLs', () => {
  it('takes the schema and application name from the URL and hides credentials', () => {
    const l = parsePostgresUrl(
      'postgres://kerno:s3cret@db.example:6543/prod?schema=tenant_a&application_name=api&sslmode=disable',
    );
    expect(l.schema).toBe('tenant_a');
    expect(l.applicationName).toBe('api');
    expect(l.displayUrl).not.toMatch(/s3cret|kerno:/);
    expect(l.displayUrl).toContain('db.example:6543/prod');
    expect(l.connectionString).toContain('kerno:s3cret@');
    expect(l.connectionString).toContain('sslmode=disable');
    expect(l.connectionString).not.toMatch(/schema=|application_name=/);
    expect(parsePostgresUrl('postgresql://h/db').schema).toBe('kerno');
    expect(parseStoreUrl('postgresql://h/db')).toEqual({
      kind: 'postgres',
      url: 'postgresql://h/db',
    });
  });

  it('refuses a schema that is not a plain lower-case identifier, saying what is allowed', () => {
    for (const bad of ['Kerno', 'a-b', '1abc', 'x;drop', 'a'.repeat(49)]) {
      let thrown: unknown;
      try {
        parsePostgresUrl(`postgres://h/db?schema=${encodeURIComponent(bad)}`);
      } catch (error) {
        thrown = error;
      }
      expect(isKernelError(thrown, 'INVALID_STORE_URL')).toBe(true);
      expect((thrown as Error).message).toMatch(/lower-case letters, digits and _/);
    }
  });

  it('fails with a STORAGE_ERROR naming the server when it cannot connect', async () => {
    const error = await openStorage('postgres://nobody@127.0.0.1:1/none?schema=x').catch(
      (e: unknown) => e,
    );
    expect(isKernelError(error, 'STORAGE_ERROR')).toBe(true);
    expect((error as Error).message).toMatch(
      /Cannot connect to PostgreSQL at postgres:\/\/127\.0\.0\.1:1/,
    );
  });
});

describe.skipIf(!pgAvailable)(`postgres storage${pgSkipReason}`, () => {
  const schemas: string[] = [];
  const open: Storage[] = [];
  const storage = async (schema?: string): Promise<PostgresStorage> => {
    const name = schema ?? freshSchema();
    if (!schemas.includes(name)) schemas.push(name);
    const s = await openPostgresStorage(pgUrl(name), { pg: pgDriver });
    open.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    for (const name of schemas.splice(0)) await dropSchema(name);
  });

  it('keeps everything in its own schema, created on open', async () => {
    const a = await storage();
    const b = await storage();
    await a.log.append('s', [entry(1), entry(2)]);
    expect((await a.log.head('s')).seq).toBe(2);
    expect((await b.log.head('s')).seq).toBe(0);
    const tables = await adminQuery<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
      [a.schema],
    );
    expect(tables.map((t) => t.table_name)).toEqual([
      'config',
      'learning_records',
      'log_records',
      'log_streams',
      'modules',
      'registry_meta',
      'schema_version',
    ]);
    expect(a.url).toContain(`schema=${a.schema}`);
    expect(a.url).not.toContain('@'); // no user or password
  });

  it('reports a module row edited into nonsense as CORRUPT_VALUE naming the column', async () => {
    const s = await storage();
    await s.registry.upsertModule({
      id: 'm1',
      name: 'mirror',
      version: '1.0.0',
      kind: 'native',
      state: 'running',
      description: null,
      updatedAt: '2026-05-14T10:00:00.000Z',
    });
    expect(await s.registry.getModule('m1')).toMatchObject({ state: 'running' });
    await adminQuery(`UPDATE "${s.schema}".modules SET state = 'exploded' WHERE id = 'm1'`);
    const error: unknown = await s.registry.getModule('m1').catch((e: unknown) => e);
    expect(isKernelError(error) && error.code).toBe('CORRUPT_VALUE');
    expect(isKernelError(error) && error.details).toEqual({ moduleId: 'm1', column: 'state' });
  });

  it('is append-only in the database itself: UPDATE, DELETE and TRUNCATE are refused', async () => {
    const s = await storage();
    await createLedger({ log: s.log }).append(budget('c1'));
    await createLedger({ log: s.log }).append(budget('c2'));
    const table = `"${s.schema}".log_records`;
    await expect(adminQuery(`UPDATE ${table} SET body = '{}' WHERE seq = 2`)).rejects.toThrow(
      /append-only: records cannot be updated/,
    );
    await expect(adminQuery(`DELETE FROM ${table} WHERE seq = 1`)).rejects.toThrow(
      /append-only: records cannot be deleted/,
    );
    await expect(adminQuery(`TRUNCATE ${table}`)).rejects.toThrow(/append-only/);
    expect(await adminQuery(`SELECT count(*)::int AS n FROM ${table}`)).toEqual([{ n: 2 }]);
  });

  it('detects a record edited behind its back (trigger disabled), at that position', async () => {
    const s = await storage();
    const ledger = createLedger({ log: s.log });
    for (let i = 0; i < 5; i++) await ledger.append(budget(`c${i}`));
    const table = `"${s.schema}".log_records`;
    await adminQuery(`ALTER TABLE ${table} DISABLE TRIGGER log_records_no_update_delete`);
    await adminQuery(`UPDATE ${table} SET body = replace(body, 'c3', 'cX') WHERE seq = 4`);
    expect(await ledger.verify()).toMatchObject({
      ok: false,
      seq: 4,
      reason: 'hash_mismatch',
      verified: 3,
    });
  });

  it('refuses a schema written by a newer kerno, with a clear error', async () => {
    const s = await storage();
    await adminQuery(
      `INSERT INTO "${s.schema}".schema_version (version, description) VALUES ($1, 'future')`,
      [POSTGRES_SCHEMA_VERSION + 1],
    );
    await expect(openPostgresStorage(pgUrl(s.schema), { pg: pgDriver })).rejects.toSatisfy(
      (e: Error) =>
        isKernelError(e, 'SCHEMA_TOO_NEW') &&
        /upgrade kerno/.test(e.message) &&
        e.message.includes(s.schema),
    );
  });

  it('migrates once when several processes open a new schema at the same time', async () => {
    const schema = freshSchema();
    const stores = await Promise.all(Array.from({ length: 4 }, () => storage(schema)));
    const versions = await adminQuery<{ version: number }>(
      `SELECT version FROM "${schema}".schema_version ORDER BY version`,
    );
    expect(versions.map((v) => v.version)).toEqual(
      Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
    );
    const ledgers = stores.map((s) => createLedger({ log: s.log }));
    await Promise.all(ledgers.map((l, i) => l.append(budget(`from-${i}`))));
    // writers on different connections still extend one linear chain
    expect(await ledgers[0]!.verify()).toMatchObject({ ok: true, verified: 4 });
  });

  it('sets a durable commit and the schema on every connection it opens', async () => {
    const location = parsePostgresUrl(pgUrl('some_schema'));
    const client = new pgDriver.Client(clientConfig(location, pgDriver, 'probe'));
    await client.connect();
    try {
      const show = async (name: string) =>
        ((await client.query({ text: `SHOW ${name}`, rowMode: 'array' })).rows[0] as [string])[0];
      expect(await show('synchronous_commit')).toBe('on');
      expect(await show('search_path')).toBe('some_schema');
      expect(await show('application_name')).toBe('kerno/probe');
    } finally {
      await client.end();
    }
  });

  it('group-commits concurrent appends: fewer transactions than appends, one linear chain', async () => {
    const s = await storage();
    const before = s.log.stats();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => s.log.append('s', [entry(i, { key: `k${i}` })])),
    );
    const after = s.log.stats();
    expect(after.appends - before.appends).toBe(200);
    expect(after.batches - before.batches).toBeLessThan(20);
    expect(results.map((r) => r[0]!.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
  });

  it('answers each append of a batch on its own: a conflict sinks only its own append', async () => {
    const s = await storage();
    await s.log.append('s', [entry(0, { key: 'taken' })]);
    const outcomes = await Promise.allSettled([
      s.log.append('s', [entry(1, { key: 'a' })]),
      s.log.append('s', [entry(2), entry(3, { key: 'taken' })]), // other content: CONFLICT
      s.log.append('s', [entry(0, { key: 'taken' })]), // same content: the stored record
      s.log.append('t', [entry(4)]),
      s.log.append('s', [entry(1, { key: 'a' })]), // repeats an earlier append of the batch
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    const [a, , taken, t, again] = outcomes.map((o) => (o.status === 'fulfilled' ? o.value : []));
    expect(isKernelError((outcomes[1] as PromiseRejectedResult).reason, 'CONFLICT')).toBe(true);
    expect(taken![0]!.seq).toBe(1);
    expect(a![0]!.seq).toBe(2);
    expect(again).toEqual(a);
    expect(t![0]!.seq).toBe(1);
    expect((await s.log.head('s')).seq).toBe(2);
  });

  it('appends a batch bigger than one statement atomically, in one transaction', async () => {
    const s = await storage();
    await s.log.append('s', [entry(0, { key: 'taken' })]);
    const big = Array.from({ length: 2500 }, (_, i) => entry(i + 1, { key: `b${i}` }));
    // the last record conflicts: nothing of the 2500 may be stored
    const error = await s.log
      .append('s', [...big, entry(9, { key: 'taken' })])
      .catch((e: unknown) => e);
    expect(isKernelError(error, 'CONFLICT')).toBe(true);
    expect((await s.log.head('s')).seq).toBe(1);
    const records = await s.log.append('s', big);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 2500 }, (_, i) => i + 2));
    expect(await s.log.read('s', 1, 3000)).toEqual(records);
    expect(await createLedger({ log: s.log, stream: 's' }).verify()).toMatchObject({
      ok: true,
      verified: 2501,
    });
  });

  it('refuses text PostgreSQL cannot hold (NUL) with INVALID_ARGUMENT, storing nothing', async () => {
    const s = await storage();
    const error = await s.log
      .append('s', [entry(1), entry(2, { tenant: 'a\0b' })])
      .catch((e: unknown) => e);
    expect(isKernelError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toMatch(/NUL/);
    expect((await s.log.head('s')).seq).toBe(0);
  });

  it('re-chains on the new head when another writer committed first (no fork, no hole)', async () => {
    const s = await storage();
    const [first] = await s.log.append('s', [entry(1)]); // the writer now caches head 1
    // Another process appends seq 2 the way kerno does: lock the head, insert, move the head.
    const foreign = entry(2, { key: 'foreign' });
    const hash = recordHash('s', 2, foreign, first!.hash);
    const client = new pgDriver.Client({ connectionString: PG_TEST_URL });
    await client.connect();
    try {
      await client.query({ text: `SET search_path TO "${s.schema}"` });
      await client.query({ text: 'BEGIN' });
      await client.query({ text: "SELECT 1 FROM log_streams WHERE name = 's' FOR UPDATE" });
      await client.query({
        text: "INSERT INTO log_records (stream, seq, time_ms, record_key, body, prev_hash, hash) SELECT id, 2, $1, 'foreign', $2, decode($3, 'hex'), decode($4, 'hex') FROM log_streams WHERE name = 's'",
        values: [foreign.timeMs, foreign.body, first!.hash, hash],
      });
      await client.query({
        text: "UPDATE log_streams SET head_seq = 2, head_hash = decode($1, 'hex') WHERE name = 's'",
        values: [hash],
      });
      await client.query({ text: 'COMMIT' });
    } finally {
      await client.end();
    }
    const [third] = await s.log.append('s', [entry(3)]);
    expect(third).toMatchObject({ seq: 3, prevHash: hash });
    const all = await s.log.read('s', 0, 10);
    expect(all.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(await createLedger({ log: s.log, stream: 's' }).verify()).toMatchObject({
      ok: true,
      verified: 3,
    });
  });

  it('wakes listeners in other processes on commit (LISTEN/NOTIFY), and its own with the records', async () => {
    const schema = freshSchema();
    const a = await storage(schema);
    const b = await storage(schema);
    const seenByA: number[][] = [];
    let wake: (() => void) | undefined;
    const woken = () => new Promise<void>((resolve) => (wake = resolve));
    const connected = woken();
    a.log.onAppend('s', (records) => {
      seenByA.push(records.map((r) => r.seq));
      wake?.();
    });
    await connected; // the LISTEN connection is up (every listener gets a wake-up)
    const next = woken();
    await b.log.append('s', [entry(1)]);
    await next;
    expect(seenByA.at(-1)).toEqual([]); // a wake-up: read the log
    const own = woken();
    await a.log.append('s', [entry(2)]);
    await own;
    expect(seenByA).toContainEqual([2]);
    // a commit to another stream does not wake this stream's listeners with records
    await b.log.append('other', [entry(3)]);
    expect(seenByA.flat()).toEqual([2]);
  });

  it('serialises registry compare-and-sets across processes: exactly one wins', async () => {
    const schema = freshSchema();
    const stores = await Promise.all(Array.from({ length: 4 }, () => storage(schema)));
    const at = '2026-05-14T10:00:00+00:00';
    const results = await Promise.all(
      stores.map((s, i) =>
        s.registry.commit({
          expectMeta: [{ name: 'key_version', value: null }],
          setMeta: [{ name: 'key_version', value: String(i) }],
          setConfig: [{ key: 'winner', value: String(i), updatedAt: at }],
        }),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    const winner = results.findIndex((r) => r.ok);
    expect(await stores[0]!.registry.getMeta()).toEqual({ key_version: String(winner) });
    expect(await stores[3]!.registry.getConfigValue('winner')).toBe(String(winner));
  });

  it('runs a whole kernel: audit trail, ledger and registry in one schema', async () => {
    const schema = freshSchema();
    schemas.push(schema);
    const { kernel, cleanup } = await testKernel({ store: pgUrl(schema) });
    try {
      expect(kernel.storage.kind).toBe('postgres');
      await kernel.ledger.append(budget('kernel'));
      await kernel.registry.setConfig('api_token', 'tok', { secret: true });
      await kernel.audit.flush();
      expect((await kernel.audit.verify()).ok).toBe(true);
      expect((await kernel.ledger.head()).seq).toBe(1);
    } finally {
      await cleanup();
    }
    const stored = await adminQuery<{ value: string }>(
      `SELECT value FROM "${schema}".config WHERE key = 'api_token'`,
    );
    expect(stored[0]?.value).toMatch(/^\$kerno1\$/); // encrypted at rest
  });

  it('is what openStorage gives for a postgres:// URL', async () => {
    const schema = freshSchema();
    schemas.push(schema);
    const s = await openStorage(pgUrl(schema));
    open.push(s);
    expect(s.kind).toBe('postgres');
    expect(typeof s.openLearning).toBe('function');
    await s.log.append('s', [entry(1)]);
    expect((await s.log.read('s', 0, 5)).map((r) => r.seq)).toEqual([1]);
  });
});

describe('every storage kind keeps learning records', () => {
  it('gives openLearning on memory too (SQLite and PostgreSQL run the learning contract)', async () => {
    const s = await openStorage('memory:');
    const p = await s.openLearning();
    expect(p.location).toBe('memory:#learning');
    await s.close();
    await expect(p.load()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { migrateSqlite } from '../../src/storage/sqlite/sqlite-migrations.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { seededRandom } from '../../src/util/random.js';
import { BENCH_KINDS, benchEvent } from '../fixtures.js';
import { median, percentile, type BenchRow, type BenchSuite } from '../harness.js';
import { importPeer } from '../peers.js';

const DIR = join(tmpdir(), 'kerno-bench');
const ids = createUuidV7();

function fresh(name: string): string {
  const file = join(DIR, name);
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  return file;
}

/** A row as the log stores it, for the raw peers (same schema, no kerno in the way). */
function rawRow(seq: number): unknown[] {
  const body = JSON.stringify({
    correlation_id: null,
    event: benchEvent(seq, 'c'),
    event_id: ids(),
    occurred_at: new Date().toISOString(),
    tenant_id: 't',
  });
  return [
    1,
    seq,
    Date.now(),
    ids(),
    `tenant-${seq % 10}`,
    BENCH_KINDS[seq % 3],
    null,
    `run-${seq >> 4}`,
    'c',
    body,
    Buffer.alloc(32, 1),
    Buffer.alloc(32, 2),
  ];
}

/**
 * The raw peers' database: kerno's schema, or (`pkOnly`) the same table with only its primary
 * key — no secondary index, no trigger: the physical limit of a durable batched insert here.
 */
function rawDb(
  file: string,
  pkOnly = false,
): { db: Database.Database; insert: Database.Statement } {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  if (pkOnly)
    db.exec(`
      CREATE TABLE log_streams (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
      CREATE TABLE log_records (
        stream INTEGER NOT NULL, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL, record_key TEXT,
        tenant TEXT, kind TEXT, subject TEXT, correlation TEXT, chain TEXT, body TEXT NOT NULL,
        prev_hash BLOB NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (stream, seq)
      ) WITHOUT ROWID;`);
  else migrateSqlite(db, file);
  db.prepare("INSERT INTO log_streams (id, name) VALUES (1, 'experience')").run();
  const insert = db.prepare(
    'INSERT INTO log_records (stream, seq, time_ms, record_key, tenant, kind, subject, correlation, chain, body, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
  );
  return { db, insert };
}

/** Appends per second into `rawDb(file, pkOnly)` in 32 transactions of 1000 rows. */
function rawBatches(file: string, pkOnly: boolean): number {
  const raw = rawDb(file, pkOnly);
  const rows = Array.from({ length: 32_000 }, (_, i) => rawRow(i + 1));
  const tx = raw.db.transaction((from: number) => {
    for (let i = from; i < from + 1000; i++) raw.insert.run(...rows[i]!);
  });
  const t0 = performance.now();
  for (let b = 0; b < 32; b++) tx(b * 1000);
  const rate = (32_000 / (performance.now() - t0)) * 1000;
  raw.db.close();
  return rate;
}

async function producers(ledger: Ledger, count: number, perProducer: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: count }, async (_, p) => {
      let run = ids();
      for (let i = 0; i < perProducer; i++) {
        if (i % 16 === 0) run = ids();
        await ledger.append(benchEvent(i, `chain-${p}`), {
          tenantId: `tenant-${p % 10}`,
          correlationId: run,
        });
      }
    }),
  );
  return ((count * perProducer) / (performance.now() - t0)) * 1000;
}

interface EmmettStore {
  appendToStream(stream: string, events: { type: string; data: unknown }[]): Promise<unknown>;
}

async function emmett(file: string, count: number, perProducer: number): Promise<number> {
  const { getSQLiteEventStore, sqliteConnection } = await importPeer<{
    getSQLiteEventStore: (o: unknown) => EmmettStore & { close?: () => Promise<void> };
    sqliteConnection: (o: { fileName: string }) => { close: () => void };
  }>('@event-driven-io/emmett-sqlite');
  // emmett-sqlite opens its file in WAL mode with SQLite's default synchronous=FULL. By default
  // it opens a new connection per operation: 3× slower for one producer, and with concurrent
  // producers a connection's unhandled SQLITE_BUSY crashes the process. One shared connection
  // is the configuration that both survives 64 producers and is fastest, so it is the peer.
  const connection = sqliteConnection({ fileName: file });
  const store = getSQLiteEventStore({
    fileName: file,
    schema: { autoMigration: 'CreateOrUpdate' },
    connectionOptions: { connection, singleton: true },
  });
  await store.appendToStream('warmup', [{ type: 'OutcomeRecorded', data: {} }]);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: count }, async (_, p) => {
      for (let i = 0; i < perProducer; i++) {
        const e = benchEvent(i, `chain-${p}`);
        await store.appendToStream(`chain-${p}`, [{ type: e.type, data: e.data }]);
      }
    }),
  );
  const rate = ((count * perProducer) / (performance.now() - t0)) * 1000;
  await store.close?.();
  connection.close();
  return rate;
}

/** Ledger durability and speed (issue 3). */
export const ledgerSuite: BenchSuite = {
  name: 'ledger',
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    const { mkdirSync } = await import('node:fs');
    mkdirSync(DIR, { recursive: true });

    // ── 1 producer vs the raw one-row-per-transaction loop ────────────────────────────────
    const raw1 = rawDb(fresh('raw1.db'));
    const N1 = 2000;
    let t0 = performance.now();
    for (let i = 1; i <= N1; i++) raw1.insert.run(...rawRow(i));
    const rawSingle = (N1 / (performance.now() - t0)) * 1000;
    raw1.db.close();
    let storage = await openStorage(`sqlite:${fresh('one.db')}`);
    let ledger = createLedger({ log: storage.log });
    await producers(ledger, 1, 500); // warm up
    const one = await producers(ledger, 1, N1);
    await storage.close();
    storage = await openStorage(`sqlite:${fresh('one-inline.db')}`, { sqliteWriter: 'inline' });
    ledger = createLedger({ log: storage.log });
    await producers(ledger, 1, 500); // warm up
    const oneInline = await producers(ledger, 1, N1);
    await storage.close();
    rows.push({
      group: 'ledger',
      name: 'durable append, 1 producer (writer thread)',
      value: one,
      unit: 'appends/s',
      peer: { name: 'raw better-sqlite3, 1 row/txn', value: rawSingle },
      note: 'raw peers insert precomputed rows into the same log_records schema (WAL, synchronous=FULL)',
    });
    rows.push({
      group: 'ledger',
      name: 'durable append, 1 producer (inline writer)',
      value: oneInline,
      unit: 'appends/s',
      peer: { name: 'raw better-sqlite3, 1 row/txn', value: rawSingle },
      goal: { kind: 'ratio-min', value: 0.8 },
      note: "openStorage(url, { sqliteWriter: 'inline' }): commits on the calling thread",
    });

    // ── 64 producers: group commit vs naive autocommit and raw 1000-row batches ───────────
    storage = await openStorage(`sqlite:${fresh('sixty-four.db')}`);
    ledger = createLedger({ log: storage.log });
    await producers(ledger, 64, 20); // warm up
    const sixtyFour = await producers(ledger, 64, 250);
    await storage.close();
    const batched = rawBatches(fresh('raw-batch.db'), false);
    const pkOnly = rawBatches(fresh('raw-pk-only.db'), true);
    rows.push({
      group: 'ledger',
      name: 'durable append, 64 producers (group commit)',
      value: sixtyFour,
      unit: 'appends/s',
      peer: { name: 'naive autocommit loop', value: rawSingle },
      goal: { kind: 'ratio-min', value: 15 },
    });
    rows.push({
      group: 'ledger',
      name: 'durable append, 64 producers (group commit)',
      value: sixtyFour,
      unit: 'appends/s',
      peer: { name: 'raw 1000 rows/txn', value: batched },
      goal: { kind: 'ratio-min', value: 0.3 },
    });
    rows.push({
      group: 'ledger',
      name: 'durable append, 64 producers (group commit)',
      value: sixtyFour,
      unit: 'appends/s',
      peer: { name: 'raw 1000 rows/txn, primary key only', value: pkOnly },
      goal: { kind: 'ratio-min', value: 0.35 },
      note: 'the same table with no secondary index: the physical limit of a durable append here',
    });
    rows.push({
      group: 'ledger',
      name: 'durable append, 64 producers, absolute',
      value: sixtyFour,
      unit: 'appends/s',
      goal: { kind: 'min', value: 100_000 },
    });

    // ── Emmett (emmett-sqlite) appending the same events ──────────────────────────────────
    try {
      const e1 = await emmett(fresh('emmett1.db'), 1, 1000);
      const e64 = await emmett(fresh('emmett64.db'), 64, 50);
      rows.push({
        group: 'ledger',
        name: 'durable append, 1 producer',
        value: one,
        unit: 'appends/s',
        peer: { name: 'emmett-sqlite', value: e1 },
      });
      rows.push({
        group: 'ledger',
        name: 'durable append, 64 producers',
        value: sixtyFour,
        unit: 'appends/s',
        peer: { name: 'emmett-sqlite', value: e64 },
        goal: { kind: 'ratio-min', value: 15 },
        note: 'emmett-sqlite on one shared connection; its default (a connection per operation) crashes with SQLITE_BUSY under 64 producers',
      });
    } catch (error) {
      rows.push({
        group: 'ledger',
        name: 'emmett-sqlite peer',
        value: 0,
        unit: '',
        note: `skipped: ${(error as Error).message}`,
      });
    }

    // ── 1M-record ledger: query latency and catch-up replay ───────────────────────────────
    const M = Number(process.env['KERNO_BENCH_LEDGER_RECORDS'] ?? 1_000_000);
    storage = await openStorage(`sqlite:${fresh('million.db')}`);
    ledger = createLedger({ log: storage.log });
    const random = seededRandom(42);
    const T0 = Date.UTC(2026, 0, 1);
    t0 = performance.now();
    const BATCH = 1000;
    for (let b = 0; b < M / BATCH; b++) {
      const envelopes = [];
      for (let i = 0; i < BATCH; i++) {
        const n = b * BATCH + i;
        envelopes.push({
          event_id: ids(),
          occurred_at: new Date(T0 + n * 1000).toISOString(),
          tenant_id: `tenant-${Math.floor(random.float() * 10)}`,
          correlation_id: `run-${n >> 4}`,
          event: benchEvent(n, `chain-${n >> 6}`),
        });
      }
      await ledger.appendMany(envelopes);
      if (b % 100 === 0)
        process.stderr.write(
          `\r  building ${M.toLocaleString()}-record ledger: ${(((b * BATCH) / M) * 100).toFixed(0)}%`,
        );
    }
    process.stderr.write(
      `\r  built ${M.toLocaleString()} records in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );

    const latencies: number[] = [];
    // The first 200 queries warm the JIT and the page cache and are not counted.
    for (let q = -200; q < 1000; q++) {
      const from = T0 + Math.floor(random.float() * (M / 2)) * 1000;
      const tenant = `tenant-${Math.floor(random.float() * 10)}`;
      const start = performance.now();
      const result = await ledger.query({
        tenantId: tenant,
        kinds: ['OutcomeRecorded', 'BudgetExceeded'],
        timeRange: { start: from, end: from + (M / 4) * 1000 },
        limit: 100,
      });
      if (q >= 0) latencies.push(performance.now() - start);
      if (result.length === 0) throw new Error('benchmark query found nothing');
    }
    rows.push({
      group: 'ledger',
      name: `query p50 (tenant+kinds+time, limit 100, ${M / 1e6}M records)`,
      value: median(latencies),
      unit: 'ms',
      lowerIsBetter: true,
    });
    rows.push({
      group: 'ledger',
      name: `query p99 (tenant+kinds+time, limit 100, ${M / 1e6}M records)`,
      value: percentile(latencies, 99),
      unit: 'ms',
      lowerIsBetter: true,
      goal: { kind: 'max', value: 2 },
      note: '1000 random tenants and 250k-record windows, after 200 unmeasured warm-up queries',
    });

    const ac = new AbortController();
    let replayed = 0;
    t0 = performance.now();
    for await (const r of ledger.subscribe({ signal: ac.signal, batchSize: 5000 })) {
      if (r.envelope.event.type === undefined) throw new Error('unreadable record');
      if (++replayed === M) ac.abort();
    }
    const replay = (M / (performance.now() - t0)) * 1000;
    rows.push({
      group: 'ledger',
      name: 'catch-up replay (subscribe from 0)',
      value: replay,
      unit: 'records/s',
      goal: { kind: 'min', value: 500_000 },
    });
    await storage.close();
    return rows;
  },
};

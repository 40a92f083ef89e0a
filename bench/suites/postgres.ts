/**
 * PostgreSQL storage (issue 8): durable ledger appends/s with 1, 16 and 64 producers, side by
 * side in the same run with a raw `pg` loop (one autocommit INSERT per round trip into the same
 * table) and with emmett-postgresql appending the same events. Skipped with a note row when
 * PostgreSQL is unreachable (`KERNO_BENCH_PG_URL`, else `KERNO_TEST_PG_URL`, else
 * postgres://postgres@127.0.0.1:5432/test). Everything runs in throw-away schemas.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { openStorage } from '../../src/storage/open-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { benchEvent } from '../fixtures.js';
import { median, type BenchRow, type BenchSuite } from '../harness.js';
import { importPeer } from '../peers.js';

const BASE_URL =
  process.env['KERNO_BENCH_PG_URL'] ??
  process.env['KERNO_TEST_PG_URL'] ??
  'postgres://postgres@127.0.0.1:5432/test';
const ROUNDS = Number(process.env['KERNO_BENCH_PG_ROUNDS'] ?? 5);
const ids = createUuidV7();

function urlWith(params: Record<string, string>): string {
  const url = new URL(BASE_URL);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

async function admin(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: BASE_URL, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** `count` producers, each appending `perProducer` events one at a time; appends/s. */
async function kernoProducers(ledger: Ledger, count: number, perProducer: number): Promise<number> {
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
  close(): Promise<void>;
}

async function emmettProducers(
  store: EmmettStore,
  count: number,
  perProducer: number,
): Promise<number> {
  const run = ids();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: count }, async (_, p) => {
      for (let i = 0; i < perProducer; i++) {
        const e = benchEvent(i, `chain-${p}`);
        await store.appendToStream(`chain-${run}-${p}`, [{ type: e.type, data: e.data }]);
      }
    }),
  );
  return ((count * perProducer) / (performance.now() - t0)) * 1000;
}

/** One autocommit INSERT per round trip into kerno's log table (precomputed rows). */
async function rawLoop(
  client: pg.Client,
  streamId: number,
  from: number,
  n: number,
): Promise<number> {
  const hash = randomBytes(32);
  const t0 = performance.now();
  for (let seq = from; seq < from + n; seq++) {
    const body = JSON.stringify({
      correlation_id: null,
      event: benchEvent(seq, 'c'),
      event_id: ids(),
      occurred_at: new Date().toISOString(),
      tenant_id: 't',
    });
    await client.query({
      name: 'raw_insert',
      text:
        'INSERT INTO log_records (stream, seq, time_ms, record_key, tenant, kind, subject, correlation, chain, body, prev_hash, hash) ' +
        'VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10, $10)',
      values: [
        streamId,
        seq,
        Date.now(),
        ids(),
        `tenant-${seq % 10}`,
        'OutcomeRecorded',
        `run-${seq >> 4}`,
        'c',
        body,
        hash,
      ],
    });
  }
  return (n / (performance.now() - t0)) * 1000;
}

function skipped(message: string): BenchRow[] {
  return [
    {
      group: 'postgres',
      name: 'PostgreSQL storage',
      value: 0,
      unit: '',
      note: `skipped: ${message}`,
    },
  ];
}

/** PostgreSQL storage throughput (issue 8). */
export const postgresSuite: BenchSuite = {
  name: 'postgres',
  async run(): Promise<BenchRow[]> {
    const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
    const kernoSchema = `kerno_bench_${tag}`;
    const emmettSchema = `kerno_bench_emmett_${tag}`;
    try {
      await admin('SELECT 1');
    } catch (error) {
      return skipped(
        `PostgreSQL unreachable at ${BASE_URL} (${(error as Error).message}); set KERNO_BENCH_PG_URL`,
      );
    }
    let storage: Storage | undefined;
    let emmett: EmmettStore | undefined;
    const raw = new pg.Client({
      connectionString: BASE_URL,
      options: `-c search_path=${kernoSchema}`,
    });
    const rows: BenchRow[] = [];
    try {
      storage = await openStorage(urlWith({ schema: kernoSchema }));
      const ledger = createLedger({ log: storage.log });
      await raw.connect();
      await raw.query("INSERT INTO log_streams (name) VALUES ('raw')");
      const streamId = (
        (await raw.query("SELECT id FROM log_streams WHERE name = 'raw'")).rows[0] as { id: number }
      ).id;

      let emmettProblem: string | undefined;
      try {
        const { getPostgreSQLEventStore } = await importPeer<{
          getPostgreSQLEventStore: (url: string, options: unknown) => EmmettStore;
        }>('@event-driven-io/emmett-postgresql');
        await admin(`CREATE SCHEMA ${emmettSchema}`);
        emmett = getPostgreSQLEventStore(urlWith({ options: `-c search_path=${emmettSchema}` }), {
          schema: { autoMigration: 'CreateOrUpdate' },
        });
        await emmett.appendToStream('warmup', [{ type: 'OutcomeRecorded', data: {} }]);
      } catch (error) {
        emmettProblem = (error as Error).message;
        emmett = undefined;
      }

      // Warm up, then interleave kerno, Emmett and the raw loop round by round (the machine is
      // shared: interleaving keeps each pair's conditions alike), and take medians.
      await kernoProducers(ledger, 16, 100);
      if (emmett !== undefined) await emmettProducers(emmett, 16, 20);
      const k1: number[] = [];
      const k16: number[] = [];
      const k64: number[] = [];
      const e1: number[] = [];
      const e16: number[] = [];
      const e64: number[] = [];
      const r1: number[] = [];
      let seq = 1;
      for (let round = 0; round < ROUNDS; round++) {
        k1.push(await kernoProducers(ledger, 1, 400));
        r1.push(await rawLoop(raw, streamId, seq, 400));
        seq += 400;
        k16.push(await kernoProducers(ledger, 16, 250));
        k64.push(await kernoProducers(ledger, 64, 100));
        if (emmett !== undefined) {
          e1.push(await emmettProducers(emmett, 1, 200));
          e16.push(await emmettProducers(emmett, 16, 60));
          e64.push(await emmettProducers(emmett, 64, 20));
        }
      }
      const peer = (name: string, values: number[]) =>
        values.length === 0 ? undefined : { name, value: median(values) };
      rows.push({
        group: 'postgres',
        name: 'durable append, 1 producer',
        value: median(k1),
        unit: 'appends/s',
        peer: { name: 'raw pg, 1 INSERT per round trip', value: median(r1) },
        note: 'raw peer: autocommit INSERTs of precomputed rows into the same log_records table',
      });
      rows.push({
        group: 'postgres',
        name: 'durable append, 16 producers (group commit)',
        value: median(k16),
        unit: 'appends/s',
        peer: { name: 'raw pg, 1 INSERT per round trip', value: median(r1) },
      });
      rows.push({
        group: 'postgres',
        name: 'durable append, 16 producers, absolute',
        value: median(k16),
        unit: 'appends/s',
        goal: { kind: 'min', value: 30_000 },
      });
      rows.push({
        group: 'postgres',
        name: 'durable append, 64 producers (group commit)',
        value: median(k64),
        unit: 'appends/s',
        peer: { name: 'raw pg, 1 INSERT per round trip', value: median(r1) },
      });
      if (emmett === undefined) {
        rows.push({
          group: 'postgres',
          name: 'emmett-postgresql peer',
          value: 0,
          unit: '',
          note: `skipped: ${emmettProblem ?? 'unavailable'}`,
        });
      } else {
        rows.push({
          group: 'postgres',
          name: 'durable append, 1 producer',
          value: median(k1),
          unit: 'appends/s',
          peer: peer('emmett-postgresql', e1),
        });
        rows.push({
          group: 'postgres',
          name: 'durable append, 16 producers',
          value: median(k16),
          unit: 'appends/s',
          peer: peer('emmett-postgresql', e16),
          goal: { kind: 'ratio-min', value: 8 },
          note: 'Emmett appends each event in its own transaction through its pool (one stream per producer)',
        });
        rows.push({
          group: 'postgres',
          name: 'durable append, 64 producers',
          value: median(k64),
          unit: 'appends/s',
          peer: peer('emmett-postgresql', e64),
        });
      }
      return rows;
    } finally {
      await raw.end().catch(() => undefined);
      await emmett?.close().catch(() => undefined);
      await storage?.close().catch(() => undefined);
      await admin(`DROP SCHEMA IF EXISTS ${kernoSchema} CASCADE`).catch(() => undefined);
      await admin(`DROP SCHEMA IF EXISTS ${emmettSchema} CASCADE`).catch(() => undefined);
    }
  },
};

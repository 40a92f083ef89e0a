/**
 * Parallel verification (seq ranges on worker threads, each with its own read connection) gives
 * exactly the sequential result: same breaks, reasons, seqs, messages and counts — with breaks
 * placed on range boundaries, tampered hashes and bodies, seq gaps (inside, across and covering
 * a whole range), future timestamps, truncation against an expected head and a pruned start.
 * Tampering edits the stored rows with the append-only triggers off, as the log-view contract does.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogView, type LogView } from '../../src/storage/log-view.js';
import { verifyInParallel } from '../../src/storage/log-verify-ranges.js';
import { GENESIS_HASH, type LogStore } from '../../src/storage/log.js';
import { openStorage } from '../../src/storage/open-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { ManualClock } from '../../src/util/clock.js';
import { adminQuery, dropSchema, freshSchema, pgAvailable, pgUrl } from '../helpers/postgres.js';
import { tempDir } from '../helpers/stores.js';
import { runRangeWorkers } from '../../src/storage/log-verify-threads.js';
import { workerEntry } from '../../src/util/worker-entry.js';
import { isKernelError } from '../../src/errors.js';

const STREAM = 'verify-ranges';
const BASE = Date.UTC(2026, 0, 1);
/** 40 records over 4 ranges: (0,10], (10,20], (20,30], (30,…). */
const RECORDS = 40;
const THREADS = 4;

interface Tamper {
  setBody(seq: number, body: string): Promise<void>;
  setPrevHash(seq: number, hex: string): Promise<void>;
  setHash(seq: number, hex: string): Promise<void>;
  remove(seq: number): Promise<void>;
}

interface Backend {
  readonly storage: Storage;
  readonly tamper: Tamper;
  close(): Promise<void>;
}

type View = LogView<number, number>;

function view(log: LogStore, clock = new ManualClock(BASE + 1_000_000)): View {
  return createLogView<number, number>({
    log,
    stream: STREAM,
    clock,
    clockSkewMs: 0,
    codec: {
      encode: (n) => ({
        timeMs: BASE + n * 1000,
        body: JSON.stringify({ n }),
        kind: 'n',
        subject: `s${n % 3}`,
      }),
      decode: (r) => (JSON.parse(r.body) as { n: number }).n,
    },
  });
}

async function fill(v: View): Promise<void> {
  await v.append(Array.from({ length: RECORDS }, (_, i) => i + 1));
}

/** Verifies both ways and checks the parallel path ran and agreed. */
async function same(
  v: View,
  options: Parameters<View['verify']>[0] = {},
): Promise<Awaited<ReturnType<View['verify']>>> {
  const sequential = await v.verify({ ...options, parallel: false });
  const progress: number[] = [];
  const parallel = await v.verify({
    ...options,
    parallel: { minRecords: 0, threads: THREADS },
    onProgress: (checked) => progress.push(checked),
  });
  expect(parallel).toEqual(sequential);
  expect(progress.length).toBeGreaterThan(0);
  return sequential;
}

function suite(name: string, open: () => Promise<Backend>): void {
  // Every parallel verify boots its worker threads through tsx under the test runner: slow.
  describe(`parallel verify (${name})`, { timeout: 120_000 }, () => {
    let backend: Backend | undefined;
    afterEach(async () => {
      await backend?.close();
      backend = undefined;
    });

    it('takes the parallel path and agrees on a clean chain', async () => {
      backend = await open();
      const v = view(backend.storage.log);
      await fill(v);
      const head = await v.head();
      const direct = await verifyInParallel(
        backend.storage.log,
        STREAM,
        head,
        { seq: 0, hash: GENESIS_HASH },
        { nowMs: BASE + 1_000_000 },
        { minRecords: 0, threads: THREADS },
        undefined,
      );
      expect(direct).toBeDefined();
      expect(direct).toEqual(await v.verify({ parallel: false }));
      const r = await same(v, { expectedHead: { seq: head.seq, hash: head.hash } });
      expect(r).toMatchObject({ ok: true, verified: RECORDS, checked: RECORDS, breakCount: 0 });
      // Below the threshold, or with one thread, it stays sequential.
      expect(
        await verifyInParallel(
          backend.storage.log,
          STREAM,
          head,
          { seq: 0, hash: GENESIS_HASH },
          {},
          { minRecords: 41 },
          undefined,
        ),
      ).toBeUndefined();
      expect(
        await verifyInParallel(
          backend.storage.log,
          STREAM,
          head,
          { seq: 0, hash: GENESIS_HASH },
          {},
          { minRecords: 0, threads: 1 },
          undefined,
        ),
      ).toBeUndefined();
    });

    it('agrees on breaks at range boundaries: bodies, hashes and links', async () => {
      backend = await open();
      const v = view(backend.storage.log);
      await fill(v);
      const { tamper } = backend;
      await tamper.setBody(10, '{"n":-10}'); // last of range 1
      await tamper.setBody(11, '{"n":-11}'); // first of range 2
      await tamper.setHash(20, 'ab'.repeat(32)); // last of range 2: itself and 21's link
      await tamper.setPrevHash(31, 'cd'.repeat(32)); // first of range 4
      await tamper.setHash(40, 'ef'.repeat(32)); // the last record
      const r = await same(v);
      expect(r.ok).toBe(false);
      expect(r.breaks.map((b) => [b.seq, b.reason])).toEqual([
        [10, 'hash_mismatch'],
        [11, 'hash_mismatch'],
        [20, 'hash_mismatch'],
        [21, 'prev_hash_mismatch'],
        [31, 'prev_hash_mismatch'],
        [40, 'hash_mismatch'],
      ]);
      expect(r.verified).toBe(9);
      // The cap cuts across ranges as the sequential verifier does.
      const capped = await same(v, { maxBreaks: 3 });
      expect(capped.breaks.map((b) => b.seq)).toEqual([10, 11, 20]);
      expect(capped.breakCount).toBe(6);
    });

    it('agrees on seq gaps inside, across and covering a whole range', async () => {
      backend = await open();
      const v = view(backend.storage.log);
      await fill(v);
      const { tamper } = backend;
      await tamper.remove(5);
      for (let seq = 11; seq <= 20; seq++) await tamper.remove(seq); // all of range 2
      await tamper.remove(30); // last of range 3
      await tamper.remove(31); // first of range 4
      const r = await same(v);
      expect(r.breaks.map((b) => [b.seq, b.reason])).toEqual([
        [5, 'seq_gap'],
        [11, 'seq_gap'],
        [30, 'seq_gap'],
      ]);
      expect(r.checked).toBe(RECORDS - 13);
      expect(r.verified).toBe(4);
      // The first records missing: the first range starts from genesis, finds a gap.
      await tamper.remove(1);
      expect((await same(v)).breaks[0]).toMatchObject({ seq: 1, reason: 'seq_gap' });
    });

    it('agrees on future timestamps with the same clock and skew', async () => {
      backend = await open();
      const clock = new ManualClock(BASE + 25_500); // records 26… are in the future
      const v = view(backend.storage.log, clock);
      await fill(v);
      const r = await same(v, { maxBreaks: 200 });
      expect(r.breaks.map((b) => b.seq)).toEqual(Array.from({ length: 15 }, (_, i) => 26 + i));
      expect(new Set(r.breaks.map((b) => b.reason))).toEqual(new Set(['future_timestamp']));
      expect(r.verified).toBe(25);
    });

    it('agrees on truncation against an expected head, and from a prune anchor', async () => {
      backend = await open();
      const v = view(backend.storage.log);
      await fill(v);
      const head = await v.head();
      const at15 = (await backend.storage.log.read(STREAM, 14, 1))[0]!;
      const { tamper } = backend;
      // The recorded head inside range 2, missing while later records exist: a gap, no truncation.
      await tamper.remove(15);
      const gap = await same(v, { expectedHead: { seq: 15, hash: at15.hash } });
      expect(gap.breaks.map((b) => b.reason)).toEqual(['seq_gap']);
      // A head whose record has another hash: the tail was replaced.
      const replaced = await same(v, { expectedHead: { seq: 25, hash: '12'.repeat(32) } });
      expect(replaced.breaks.map((b) => [b.seq, b.reason])).toEqual([
        [15, 'seq_gap'],
        [25, 'truncated'],
      ]);
      // The tail cut off: the last range reports it.
      for (const seq of [38, 39, 40]) await tamper.remove(seq);
      const cut = await same(v, { expectedHead: { seq: head.seq, hash: head.hash } });
      expect(cut.breaks.at(-1)).toMatchObject({ seq: 38, reason: 'truncated', found: 'missing' });
      // Whole last range gone: the end is the stored record before it.
      for (let seq = 31; seq <= 37; seq++) await tamper.remove(seq);
      const gone = await same(v, {
        expectedHead: { seq: head.seq, hash: head.hash },
        maxBreaks: 1,
      });
      expect(gone.breakCount).toBe(2);
      expect(gone.head.seq).toBe(30);
      // A pruned stream verifies from its anchor.
      await backend.storage.log.prune(STREAM, 8);
      const pruned = await same(v, { expectedHead: { seq: head.seq, hash: head.hash } });
      expect(pruned.checked).toBe(30 - 8 - 1);
    });
  });
}

suite('sqlite', async () => {
  const { dir, cleanup } = tempDir();
  const file = join(dir, 'kerno.db');
  const storage = await openStorage(`sqlite:${file}`);
  const edit = async (seq: number, sql: string, ...values: unknown[]): Promise<void> => {
    await storage.log.flush();
    const db = new Database(file);
    try {
      db.exec(
        'DROP TRIGGER IF EXISTS log_records_no_update; DROP TRIGGER IF EXISTS log_records_no_delete',
      );
      const id = db.prepare('SELECT id FROM log_streams WHERE name = ?').pluck().get(STREAM);
      db.prepare(`${sql} WHERE stream = ? AND seq = ?`).run(...values, id, seq);
    } finally {
      db.close();
    }
  };
  return {
    storage,
    tamper: {
      setBody: (seq, body) => edit(seq, 'UPDATE log_records SET body = ?', body),
      setPrevHash: (seq, hex) =>
        edit(seq, 'UPDATE log_records SET prev_hash = ?', Buffer.from(hex, 'hex')),
      setHash: (seq, hex) => edit(seq, 'UPDATE log_records SET hash = ?', Buffer.from(hex, 'hex')),
      remove: (seq) => edit(seq, 'DELETE FROM log_records'),
    },
    close: async () => {
      await storage.close();
      cleanup();
    },
  };
});

describe('parallel verify failures', { timeout: 60_000 }, () => {
  it('rejects with a STORAGE_ERROR naming the range when a worker cannot read', async () => {
    const entry = workerEntry(
      new URL('../../src/storage/sqlite/sqlite-log.ts', import.meta.url).href,
      'sqlite-verify-worker',
    );
    const error = await runRangeWorkers(
      entry,
      { file: '/nonexistent/kerno.db', busyTimeoutMs: 10 },
      [
        {
          stream: STREAM,
          start: { seq: 0, hash: GENESIS_HASH },
          afterSeq: 10,
          throughSeq: undefined,
          options: {},
        },
      ],
    ).catch((e: unknown) => e);
    expect(isKernelError(error) && error.code).toBe('STORAGE_ERROR');
    expect((error as Error).message).toMatch(/Verifying verify-ranges records after 10 failed/);
  });
});

if (pgAvailable) {
  suite('postgres', async () => {
    const schema = freshSchema();
    const storage = await openStorage(pgUrl(schema));
    const table = `"${schema}".log_records`;
    const where = `WHERE stream = (SELECT id FROM "${schema}".log_streams WHERE name = $1) AND seq = $2`;
    const edit = async (sql: string, values: unknown[]): Promise<void> => {
      await storage.log.flush();
      await adminQuery(`ALTER TABLE ${table} DISABLE TRIGGER log_records_no_update_delete`);
      await adminQuery(sql, values);
    };
    return {
      storage,
      tamper: {
        setBody: (seq, body) => edit(`UPDATE ${table} SET body = $3 ${where}`, [STREAM, seq, body]),
        setPrevHash: (seq, hex) =>
          edit(`UPDATE ${table} SET prev_hash = decode($3, 'hex') ${where}`, [STREAM, seq, hex]),
        setHash: (seq, hex) =>
          edit(`UPDATE ${table} SET hash = decode($3, 'hex') ${where}`, [STREAM, seq, hex]),
        remove: (seq) => edit(`DELETE FROM ${table} ${where}`, [STREAM, seq]),
      },
      close: async () => {
        try {
          await storage.close();
        } finally {
          await dropSchema(schema);
        }
      },
    };
  });
} // without PostgreSQL, helpers/postgres.ts says why it is skipped (and fails under KERNO_REQUIRE_SERVICES=1)

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAuditTrail, createMemoryBus } from '../../src/index.js';
import type { LogAppend } from '../../src/storage/log.js';
import { openStorage } from '../../src/storage/open-storage.js';
import {
  openPostgresStorage,
  type PostgresStorage,
} from '../../src/storage/postgres/postgres-storage.js';
import type { SqliteWriterMode } from '../../src/storage/sqlite/sqlite-writer.js';
import {
  dropSchema,
  freshSchema,
  pgAvailable,
  pgDriver,
  pgSkipReason,
  pgUrl,
} from '../helpers/postgres.js';
import { migratedSqliteWriter } from '../helpers/sqlite-writer.js';
import { tempDir } from '../helpers/stores.js';

/**
 * Background appends (`LogAppendOptions.background`: the audit trail's records of published
 * events) ride along in the commit of the next append someone awaits instead of committing
 * ahead of it: one fsync where there were two, the second waiting for the first.
 */

const T0 = Date.UTC(2026, 11, 7);
const entry = (n: number): LogAppend => ({ timeMs: T0 + n, body: JSON.stringify({ n }) });
const op = (stream: string, n: number) =>
  ({ kind: 'log.append', stream, entries: [entry(n)] }) as const;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A migrated SQLite file and a writer of `mode` on it. */
async function sqliteWriter(mode: SqliteWriterMode) {
  const { writer, file } = await migratedSqliteWriter(mode, cleanups);
  const count = (stream: string): number => {
    const db = new Database(file, { readonly: true });
    try {
      return (
        db
          .prepare(
            'SELECT count(*) AS n FROM log_records r JOIN log_streams s ON s.id = r.stream WHERE s.name = ?',
          )
          .get(stream) as { n: number }
      ).n;
    } finally {
      db.close();
    }
  };
  return { writer, count };
}

describe.each(['inline', 'thread'] as const)('SQLite writer (%s): background writes', (mode) => {
  it('commit with a foreground write queued in the same tick, in one batch', async () => {
    const { writer, count } = await sqliteWriter(mode);
    const before = writer.stats().batches;
    const bg = writer.submit(op('audit', 1), true);
    const fg = writer.submit(op('run:1', 1));
    await Promise.all([bg, fg]);
    expect(writer.stats().batches - before).toBe(1);
    expect([count('audit'), count('run:1')]).toEqual([1, 1]);
  });

  it('wait for a foreground write that comes a few ticks later, and go with it', async () => {
    const { writer } = await sqliteWriter(mode);
    const before = writer.stats().batches;
    const bg = writer.submit(op('audit', 1), true);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await Promise.all([bg, writer.submit(op('run:1', 1))]);
    expect(writer.stats().batches - before).toBe(1);
  });

  it('commit on their own once the delay passes with no foreground write, and never before', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { writer, count } = await sqliteWriter(mode);
    let done = false;
    const bg = writer.submit(op('audit', 1), true).then(() => (done = true));
    // Turns of the event loop (real setImmediate): nothing is sent while the delay runs.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    expect(count('audit')).toBe(0);
    await vi.advanceTimersByTimeAsync(2);
    await bg;
    expect(count('audit')).toBe(1);
  });

  it('are sent at once by flush, without waiting for the delay', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { writer, count } = await sqliteWriter(mode);
    const bg = writer.submit(op('audit', 1), true);
    await writer.flush();
    expect(count('audit')).toBe(1);
    await bg;
  });

  it('keep their order with foreground writes to the same stream', async () => {
    const { writer } = await sqliteWriter(mode);
    const a = writer.submit(op('audit', 1), true);
    const b = writer.submit(op('audit', 2));
    const c = writer.submit(op('audit', 3), true);
    const seqs = (await Promise.all([a, b, c])).map((r) => r.firstSeq);
    expect(seqs).toEqual([1, 2, 3]);
  });
});

describe.skipIf(!pgAvailable)(`PostgreSQL writer: background appends${pgSkipReason}`, () => {
  async function pgStorage(): Promise<PostgresStorage> {
    const schema = freshSchema('kerno_bg');
    const s = await openPostgresStorage(pgUrl(schema), { pg: pgDriver });
    cleanups.push(() => dropSchema(schema));
    cleanups.push(() => s.close());
    return s;
  }

  it('commit with a foreground append queued in the same tick, or a few ticks later', async () => {
    const s = await pgStorage();
    await s.log.append('warm', [entry(0)]);
    let before = s.log.stats().batches;
    await Promise.all([
      s.log.append('audit', [entry(1)], { background: true }),
      s.log.append('run:1', [entry(1)]),
    ]);
    expect(s.log.stats().batches - before).toBe(1);
    before = s.log.stats().batches;
    const bg = s.log.append('audit', [entry(2)], { background: true });
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await Promise.all([bg, s.log.append('run:1', [entry(2)])]);
    expect(s.log.stats().batches - before).toBe(1);
    expect((await s.log.scan('audit', 0, 10)).map((r) => r.seq)).toEqual([1, 2]);
  });

  it('commit on their own when no foreground append comes, and at once on flush', async () => {
    const s = await pgStorage();
    const before = s.log.stats().batches;
    await s.log.append('audit', [entry(1)], { background: true });
    expect(s.log.stats().batches - before).toBe(1);
    const bg = s.log.append('audit', [entry(2)], { background: true });
    await s.log.flush();
    expect((await s.log.scan('audit', 0, 10)).map((r) => r.seq)).toEqual([1, 2]);
    await bg;
  });
});

describe('the audit trail over a writer that holds its background appends', () => {
  it('answers readers and awaited appends while published events keep arriving', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const storage = await openStorage(`sqlite:${join(dir, 'k.db')}`);
    cleanups.push(() => storage.close());
    const bus = createMemoryBus();
    const trail = createAuditTrail({ log: storage.log });
    const detach = trail.attach(bus);
    cleanups.push(detach);
    // An event every millisecond, each written on its own (the writer is idle in between):
    // the trail's queue is rarely empty for the 2 ms a held append waits.
    let published = 0;
    const flood = setInterval(() => {
      bus.publish({ type: 'AgentStarted', id: '67e55044-10b1-426f-9247-bb680e5fe0c8' });
      published++;
    }, 1);
    try {
      // Each read waits for the entries queued before it, not for an idle queue.
      for (let i = 0; i < 5; i++) {
        const before = published;
        const head = await trail.head();
        expect(head.seq).toBeGreaterThanOrEqual(before);
      }
      const entry = await trail.append('ops', { type: 'Other', data: { detail: 'x' } }, 'r');
      expect(entry.seq).toBeGreaterThan(0);
      expect((await trail.entriesAfter(entry.seq - 1, 1))[0]?.actor).toBe('ops');
    } finally {
      clearInterval(flood);
    }
    await trail.flush();
    expect((await trail.head()).seq).toBe(published + 1);
  });
});

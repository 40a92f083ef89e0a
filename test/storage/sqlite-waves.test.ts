import { afterEach, describe, expect, it } from 'vitest';
import type { LogAppend } from '../../src/storage/log.js';
import {
  SPLIT_WAVE_OPS,
  type SqliteWriter,
  type SqliteWriterMode,
} from '../../src/storage/sqlite/sqlite-writer.js';
import { migratedSqliteWriter } from '../helpers/sqlite-writer.js';

/**
 * Lockstep waves: producers that each await their write send their next writes together, while
 * the writer sits idle. A wave of {@link SPLIT_WAVE_OPS} or more writes that finds the writer
 * idle goes as two batches, so one half commits while the other half's results are handled;
 * writes that queued behind a batch in flight go together, as before. Nothing changes order.
 */

const T0 = Date.UTC(2026, 11, 8);
const op = (n: number) =>
  ({
    kind: 'log.append',
    stream: 'waves',
    entries: [{ timeMs: T0 + n, body: JSON.stringify({ n }) } satisfies LogAppend],
  }) as const;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function writer(mode: SqliteWriterMode): Promise<SqliteWriter> {
  return (await migratedSqliteWriter(mode, cleanups)).writer;
}

/** Submits writes `from..to` in one tick; resolves with each one's seq, in submission order. */
async function wave(w: SqliteWriter, from: number, to: number): Promise<number[]> {
  const results = await Promise.all(
    Array.from({ length: to - from + 1 }, (_, i) => w.submit(op(from + i))),
  );
  return results.map((r) => r.firstSeq);
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('SQLite writer: lockstep waves', () => {
  it('sends a wave that finds the writer idle as two halves, in order', async () => {
    const w = await writer('thread');
    expect(await wave(w, 1, 64)).toEqual(range(1, 64));
    expect(w.stats()).toMatchObject({ batches: 2, ops: 64 });
    // An odd wave: the first half is the smaller one.
    expect(await wave(w, 65, 65 + SPLIT_WAVE_OPS)).toEqual(range(65, 65 + SPLIT_WAVE_OPS));
    expect(w.stats()).toMatchObject({ batches: 4, ops: 65 + SPLIT_WAVE_OPS });
  });

  it('keeps a wave below the threshold whole', async () => {
    const w = await writer('thread');
    expect(await wave(w, 1, SPLIT_WAVE_OPS - 1)).toEqual(range(1, SPLIT_WAVE_OPS - 1));
    expect(w.stats()).toMatchObject({ batches: 1, ops: SPLIT_WAVE_OPS - 1 });
  });

  it('sends writes that queued behind a batch in flight together, however many', async () => {
    const w = await writer('thread');
    const first = w.submit(op(1));
    // The first write is on its way (the pump runs on a microtask); these queue behind it.
    await Promise.resolve();
    const rest = wave(w, 2, 81);
    expect((await first).firstSeq).toBe(1);
    expect(await rest).toEqual(range(2, 81));
    expect(w.stats()).toMatchObject({ batches: 2, ops: 81 });
  });

  it('cuts by the writes someone awaits: background writes queued ahead ride in the first half', async () => {
    const w = await writer('thread');
    const batchOf: number[] = [];
    const track = (p: Promise<unknown>, i: number): Promise<unknown> =>
      p.then(() => (batchOf[i] = w.stats().batches));
    const all = [
      ...Array.from({ length: 10 }, (_, i) => track(w.submit(op(i + 1), true), i)),
      ...Array.from({ length: 64 }, (_, i) => track(w.submit(op(i + 11)), i + 10)),
    ];
    await Promise.all(all);
    // The first batch: the ten background writes and half of the 64 awaited ones.
    expect(batchOf.filter((b) => b === 1)).toHaveLength(42);
    expect(w.stats()).toMatchObject({ batches: 2, ops: 74 });
  });

  it('never sends more than the batch limit, however big the wave', async () => {
    const w = await writer('thread');
    const batchOf: number[] = [];
    const seqs = await Promise.all(
      Array.from({ length: 8200 }, (_, i) =>
        w.submit(op(i + 1)).then((r) => {
          batchOf[i] = w.stats().batches;
          return r.firstSeq;
        }),
      ),
    );
    expect(seqs).toEqual(range(1, 8200));
    // 4096 (a half would be 4100), then 4096 and 8 from the queue that waited.
    expect([1, 2, 3].map((b) => batchOf.filter((x) => x === b).length)).toEqual([4096, 4096, 8]);
  });

  it('never cuts a wave on the inline writer: both halves would commit on the same thread', async () => {
    const w = await writer('inline');
    expect(await wave(w, 1, 64)).toEqual(range(1, 64));
    expect(w.stats()).toMatchObject({ batches: 1, ops: 64 });
  });
});

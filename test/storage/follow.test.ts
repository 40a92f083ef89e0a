/**
 * `followLog` in detail, on a memory log behind a switchboard: the test decides which commits
 * the follower hears about (with their records, as a bare wake-up, or not at all — as with
 * another process's commit on SQLite), counts its reads, and can hide a record from one read (a
 * concurrent writer that has not committed yet). Every case checks the order and that nothing
 * is missed or repeated; the own-records cases also check that nothing was read back.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { followLog } from '../../src/storage/follow.js';
import type { LogBody, LogListener, LogRecord, LogStore } from '../../src/storage/log.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';

const T0 = Date.UTC(2026, 11, 8);
const S = 'notes';

/** The memory log, with the follower's listener held by the test and its scans counted. */
function switchboard() {
  const log = createMemoryLog();
  let listener: LogListener | undefined;
  let hideOnce: number | undefined;
  const counts = { scans: 0 };
  const wrapped = new Proxy(log, {
    get(target, prop) {
      if (prop === 'onAppend')
        return (stream: string, l: LogListener) => {
          listener = l;
          return () => (listener = undefined);
        };
      if (prop === 'scan')
        return async (stream: string, after: number, limit: number): Promise<LogBody[]> => {
          counts.scans++;
          const rows = await target.scan(stream, after, limit);
          if (hideOnce === undefined) return rows;
          const hidden = hideOnce;
          hideOnce = undefined;
          return rows.filter((r) => r.seq !== hidden);
        };
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  /** Appends `n`s without telling the follower; resolves with the records. */
  const silently = (...ns: number[]): Promise<LogRecord[]> =>
    log.append(
      S,
      ns.map((n) => ({ timeMs: T0 + n, body: String(n) })),
    );
  return {
    log: wrapped,
    counts,
    silently,
    /** Appends and hands the follower the records, as a commit of this process does. */
    own: async (...ns: number[]): Promise<void> => {
      listener!(await silently(...ns));
    },
    tell: (records: readonly LogRecord[]) => listener!(records),
    hide: (seq: number) => (hideOnce = seq),
    listening: () => listener !== undefined,
  };
}

/** Follows `log` in the background; `reached(n)` resolves once record n was delivered. */
function reader(log: LogStore, options: Parameters<typeof followLog>[2] = {}) {
  const controller = new AbortController();
  const live = followLog(log, S, { signal: controller.signal, ...options });
  const seen: number[] = [];
  const waiting = new Map<number, () => void>();
  const done = (async () => {
    for await (const r of live) {
      seen.push(Number(r.body));
      waiting.get(Number(r.body))?.();
    }
  })();
  return {
    live,
    seen,
    done,
    stop: () => controller.abort(),
    reached: (n: number): Promise<void> =>
      new Promise((resolve) => {
        if (seen.includes(n)) resolve();
        else waiting.set(n, resolve);
      }),
  };
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

afterEach(() => {
  vi.useRealTimers();
});

describe('followLog', () => {
  it('refuses a start that is not a non-negative integer', () => {
    const log = createMemoryLog();
    for (const bad of [-1, 1.5, Number.NaN]) {
      expect(() => followLog(log, S, { fromSeq: bad })).toThrow(
        expect.objectContaining({
          code: 'INVALID_QUERY',
          message: `fromPosition must be a non-negative integer, got ${String(bad)}`,
        }),
      );
    }
    expect(() => followLog(log, S, { fromSeq: 0 })).not.toThrow();
  });

  it('delivers own records handed over out of order, in order, without reading them back', async () => {
    const b = switchboard();
    await b.silently(1, 2);
    const r = reader(b.log);
    await r.reached(2);
    await r.live.caughtUp;
    const [three, four, five] = await b.silently(3, 4, 5);
    const scans = b.counts.scans;
    b.tell([five!]);
    b.tell([three!, four!]);
    await r.reached(5);
    expect(r.seen).toEqual(range(1, 5));
    expect(b.counts.scans - scans).toBe(0);
    r.stop();
    await r.done;
  });

  it('delivers the consecutive own records, then reads the log for what lies between', async () => {
    const b = switchboard();
    await b.silently(1);
    const r = reader(b.log);
    await r.reached(1);
    await r.live.caughtUp;
    // 2 and 3 are this process's; 4 another's, unannounced; 5 this process's again.
    const [two, three] = await b.silently(2, 3);
    await b.silently(4);
    const [five] = await b.silently(5);
    const scans = b.counts.scans;
    b.tell([two!, three!, five!]);
    await r.reached(5);
    expect(r.seen).toEqual(range(1, 5));
    // 2–3 from memory; one read for 4 (and 5 with it).
    expect(b.counts.scans - scans).toBe(1);
    r.stop();
    await r.done;
  });

  it('drops own records it already read from the log, and never repeats one', async () => {
    const b = switchboard();
    const r = reader(b.log);
    await r.live.caughtUp;
    const early = await b.silently(1, 2);
    b.tell([]); // a bare wake-up: it reads 1 and 2 from the log
    await r.reached(2);
    b.tell(early); // then hears of them as its own: already delivered
    await b.own(3);
    await r.reached(3);
    expect(r.seen).toEqual(range(1, 3));
    r.stop();
    await r.done;
  });

  it('reads the log after a bare wake-up', async () => {
    const b = switchboard();
    const r = reader(b.log, { pollMs: 3_600_000 });
    await r.live.caughtUp;
    await b.silently(1, 2);
    b.tell([]);
    await r.reached(2);
    expect(r.seen).toEqual([1, 2]);
    r.stop();
    await r.done;
  });

  it('reads the log when more own records come than it keeps (the batch size)', async () => {
    const b = switchboard();
    const r = reader(b.log, { batchSize: 3, pollMs: 3_600_000 });
    await r.live.caughtUp;
    const scans = b.counts.scans;
    await b.own(1, 2, 3, 4);
    await r.reached(4);
    expect(r.seen).toEqual(range(1, 4));
    expect(b.counts.scans).toBeGreaterThan(scans);
    // Exactly the batch size is still kept, and delivered from memory.
    const before = b.counts.scans;
    await b.own(5, 6, 7);
    await r.reached(7);
    expect(b.counts.scans - before).toBe(0);
    r.stop();
    await r.done;
  });

  it('reads a long stream in batches, then follows', async () => {
    const b = switchboard();
    await b.silently(...range(1, 10));
    const r = reader(b.log, { batchSize: 3 });
    await r.reached(10);
    expect(await r.live.caughtUp).toBe(10);
    await b.own(11);
    await r.reached(11);
    expect(r.seen).toEqual(range(1, 11));
    r.stop();
    await r.done;
  });

  it("finds another process's unannounced commit on the poll timer", async () => {
    vi.useFakeTimers();
    const b = switchboard();
    const r = reader(b.log, { pollMs: 40 });
    await vi.advanceTimersByTimeAsync(0);
    await r.live.caughtUp;
    await b.silently(1);
    await vi.advanceTimersByTimeAsync(39);
    expect(r.seen).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await r.reached(1);
    expect(r.seen).toEqual([1]);
    r.stop();
    await vi.advanceTimersByTimeAsync(0);
    await r.done;
  });

  it('waits at a hole (a writer not committed yet) and reads again, in order', async () => {
    vi.useFakeTimers();
    const b = switchboard();
    const r = reader(b.log, { pollMs: 40 });
    await vi.advanceTimersByTimeAsync(0);
    await r.live.caughtUp;
    await b.silently(1, 2, 3);
    b.hide(2);
    b.tell([]);
    await r.reached(1);
    await vi.advanceTimersByTimeAsync(0);
    // 3 is not handed over before 2.
    expect(r.seen).toEqual([1]);
    await vi.advanceTimersByTimeAsync(40);
    await r.reached(3);
    expect(r.seen).toEqual([1, 2, 3]);
    r.stop();
    await vi.advanceTimersByTimeAsync(0);
    await r.done;
  });

  it('resumes at the first record still held when the stream was pruned past it', async () => {
    const b = switchboard();
    await b.silently(...range(1, 8));
    await b.log.prune(S, 5);
    const r = reader(b.log, { fromSeq: 2 });
    await r.reached(8);
    expect(r.seen).toEqual([6, 7, 8]);
    r.stop();
    await r.done;
  });

  it('skips what retention pruned while the reader lagged, and goes on from the first record held', async () => {
    const b = switchboard();
    await b.silently(...range(1, 8));
    const live = followLog(b.log, S, { batchSize: 2 });
    expect((await live.next()).value?.body).toBe('1');
    expect((await live.next()).value?.body).toBe('2');
    // The reader holds at 2 while retention removes 1–5.
    await b.log.prune(S, 5);
    const rest: string[] = [];
    for (let i = 0; i < 3; i++) rest.push((await live.next()).value!.body);
    expect(rest).toEqual(['6', '7', '8']);
    await live.return(undefined);
  });

  it('ends at once when aborted while idle, and lets go of the log', async () => {
    const b = switchboard();
    const r = reader(b.log, { pollMs: 3_600_000 });
    await r.live.caughtUp;
    expect(b.listening()).toBe(true);
    r.stop();
    await r.done;
    expect(b.listening()).toBe(false);
    expect(await r.live.next()).toEqual({ done: true, value: undefined });
  });
});

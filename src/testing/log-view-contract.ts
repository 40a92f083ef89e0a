/**
 * The log-view contract: a typed view ({@link createLogView}) must behave the same on every
 * {@link LogStore} backend — values through the codec, a follow that misses and repeats nothing
 * while appends race its replay, and a verify that reports every kind of break in one pass.
 *
 * Verifying a damaged chain needs someone to damage it: the harness passes a {@link LogTamper}
 * that edits the stored records behind the log's back (an SQL UPDATE with the append-only
 * triggers off, or a wrapper over an in-memory log).
 *
 * @module
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../util/clock.js';
import type { LogAppend, LogListener, LogStore } from '../storage/log.js';
import { createLogView, type LogCodec, type LogView } from '../storage/log-view.js';

/** Edits stored records the way an attacker with database access would. */
export interface LogTamper {
  /** Replaces the body of record `seq` (its stored hash stays). */
  setBody(stream: string, seq: number, body: string): Promise<void>;
  /** Replaces the stored prev hash of record `seq` (hex). */
  setPrevHash(stream: string, seq: number, prevHash: string): Promise<void>;
  /** Deletes record `seq`. */
  remove(stream: string, seq: number): Promise<void>;
}

/** How the suite gets a log: the log a view is built on, and raw access to its records. */
export interface LogViewHarness {
  readonly log: LogStore;
  readonly tamper: LogTamper;
  close(): Promise<void>;
}

const T0 = Date.UTC(2026, 4, 14, 10);

/** A note: what the suite appends. */
interface Note {
  readonly n: number;
  readonly key?: string;
}

/** A note as the view reads it back. */
interface StoredNote {
  readonly seq: number;
  readonly n: number;
}

const noteCodec: LogCodec<Note, StoredNote> = {
  encode: (note) => ({
    timeMs: T0 + note.n * 1000,
    kind: note.n % 2 === 0 ? 'even' : 'odd',
    body: JSON.stringify({ n: note.n }),
    ...(note.key === undefined ? {} : { key: note.key }),
  }),
  decode: (r) => ({ seq: r.seq, n: (JSON.parse(r.body) as { n: number }).n }),
};

const notes = (from: number, to: number): Note[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ n: from + i }));

/** A hash no record has (64 hex digits). */
const OTHER_HASH = 'ab'.repeat(32);

/** Runs the log-view contract against `open()`. */
export function logViewContract(name: string, open: () => Promise<LogViewHarness>): void {
  describe(`log view contract: ${name}`, () => {
    let h: LogViewHarness | undefined;
    const clock = new ManualClock(T0 + 3_600_000);
    const start = async (): Promise<{ view: LogView<Note, StoredNote>; h: LogViewHarness }> => {
      h = await open();
      return { h, view: createLogView({ log: h.log, stream: 'notes', codec: noteCodec, clock }) };
    };
    afterEach(async () => {
      await h?.close();
      h = undefined;
    });

    it('appends, queries, gets, reads and replays values through the codec', async () => {
      const { view } = await start();
      const appended = await view.append([{ n: 1, key: 'first' }, ...notes(2, 6)]);
      expect(appended.map((v) => [v.seq, v.n])).toEqual([1, 2, 3, 4, 5, 6].map((i) => [i, i]));
      expect(appended[0]).toEqual({ seq: 1, n: 1 });
      expect(await view.get('first')).toEqual({ seq: 1, n: 1 });
      expect(await view.get('missing')).toBeUndefined();
      expect((await view.query({ kinds: ['even'] })).map((v) => v.n)).toEqual([2, 4, 6]);
      expect((await view.query({ limit: 2 })).map((v) => v.n)).toEqual([5, 6]);
      expect((await view.read(2, 3)).map((v) => v.seq)).toEqual([3, 4, 5]);
      const replayed: number[] = [];
      for await (const v of view.replay({ after: 3 })) replayed.push(v.seq);
      expect(replayed).toEqual([4, 5, 6]);
      await view.write(notes(7, 7));
      expect(await view.head()).toMatchObject({ seq: 7 });
      // the same key with the same content is answered with the stored value
      expect(await view.append([{ n: 1, key: 'first' }])).toEqual([{ seq: 1, n: 1 }]);
    });

    it('follows: replay then live, with appends racing the replay — none missed or repeated, in order', async () => {
      const { view } = await start();
      await view.append(notes(1, 5));
      const controller = new AbortController();
      const live = view.follow({ signal: controller.signal, batchSize: 2 });
      let receivedAtCatchUp = -1;
      const seen: number[] = [];
      const caughtUp = live.caughtUp.then((seq) => {
        receivedAtCatchUp = seen.length;
        return seq;
      });
      for await (const v of live) {
        seen.push(v.seq);
        // appends land while the replay is still reading its batches, then after it caught up
        if (v.seq === 1) await view.append(notes(6, 8));
        if (v.seq === 3) void view.append(notes(9, 10));
        if (v.seq === 10) {
          // resolved with the last seq handed over, at least the head when following began
          expect(await caughtUp).toBeGreaterThanOrEqual(5);
          await view.append(notes(11, 12));
        }
        if (v.seq === 12) break;
      }
      expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(receivedAtCatchUp).toBeGreaterThanOrEqual(5);
      controller.abort();
    });

    it('follows after a position, and a filter skips values without losing the place', async () => {
      const { view } = await start();
      await view.append(notes(1, 6));
      const controller = new AbortController();
      const live = view.follow({
        after: 3,
        signal: controller.signal,
        filter: (v) => v.n % 2 === 0,
      });
      const seen: number[] = [];
      for await (const v of live) {
        seen.push(v.n);
        if (v.n === 6) await view.append(notes(7, 8));
        if (v.n === 8) break;
      }
      expect(seen).toEqual([4, 6, 8]);
      expect(await live.caughtUp).toBe(6);
    });

    it("follows its own appends without reading them back, and reads the log for others' — in order, none missed or repeated", async () => {
      const { h } = await start();
      // The log as another process would see it: appends whose bodies say "foreign" reach the
      // follower as a bare wake-up (as PostgreSQL's NOTIFY from another kernel does), so it must
      // read them from the log; and every scan is counted.
      let scans = 0;
      const log = new Proxy(h.log, {
        get(target, prop, receiver) {
          if (prop === 'scan') {
            return (...args: Parameters<LogStore['scan']>) => {
              scans++;
              return target.scan(...args);
            };
          }
          if (prop === 'onAppend') {
            return (stream: string, listener: LogListener) =>
              target.onAppend(stream, (records) =>
                listener(records.some((r) => r.body.includes('foreign')) ? [] : records),
              );
          }
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
        },
      });
      const view = createLogView({ log, stream: 'notes', codec: noteCodec, clock });
      const foreign = (n: number): LogAppend => ({
        timeMs: T0 + n * 1000,
        body: JSON.stringify({ n, foreign: true }),
      });
      await view.append(notes(1, 2));
      const controller = new AbortController();
      const live = view.follow({ signal: controller.signal });
      const seen: number[] = [];
      const waiting = new Map<number, () => void>();
      const reached = (n: number): Promise<void> =>
        new Promise((resolve) => {
          if (seen.includes(n)) resolve();
          else waiting.set(n, resolve);
        });
      const reading = (async () => {
        for await (const v of live) {
          seen.push(v.n);
          waiting.get(v.n)?.();
          if (v.n === 16) break;
        }
      })();
      await reached(2);
      await live.caughtUp;
      const before = scans;
      // Own appends, one at a time, each delivered while the follower idles: none read back
      // (at most the one look at the head it may take as it settles after catching up).
      for (let n = 3; n <= 12; n++) {
        await view.append([{ n }]);
        await reached(n);
      }
      expect(scans - before).toBeLessThanOrEqual(1);
      // Another writer's record between own ones: read from the log; then own ones again.
      await view.append([{ n: 13 }]);
      await log.append('notes', [foreign(14)]);
      await view.append(notes(15, 16));
      await reading;
      expect(seen).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
      controller.abort();
    });

    it('stops following when the signal aborts; aborted before catching up, caughtUp rejects', async () => {
      const { view } = await start();
      await view.append(notes(1, 3));
      const controller = new AbortController();
      const live = view.follow({ signal: controller.signal });
      const seen: number[] = [];
      for await (const v of live) {
        seen.push(v.seq);
        // once caught up the follower idles at the head: the abort must end that wait
        if (v.seq === 3) void live.caughtUp.then(() => controller.abort());
      }
      expect(seen).toEqual([1, 2, 3]);
      expect(await live.next()).toEqual({ done: true, value: undefined });

      const early = new AbortController();
      const cut = view.follow({ signal: early.signal });
      const first = await cut.next();
      expect(first.value?.seq).toBe(1);
      early.abort();
      expect(await cut.next()).toEqual({ done: true, value: undefined });
      await expect(cut.caughtUp).rejects.toMatchObject({ code: 'CLOSED' });
    });

    it('verifies an intact chain', async () => {
      const { view } = await start();
      await view.append(notes(1, 4));
      const head = await view.head();
      const progress: number[] = [];
      const result = await view.verify({ onProgress: (checked) => progress.push(checked) });
      expect(result).toEqual({
        ok: true,
        verified: 4,
        checked: 4,
        head: { seq: 4, hash: head.hash },
        breaks: [],
        breakCount: 0,
      });
      expect(progress.at(-1)).toBe(4);
      expect(await view.verify({ expectedHead: { seq: 4, hash: head.hash } })).toMatchObject({
        ok: true,
      });
    });

    it('reports an altered body as hash_mismatch', async () => {
      const { view, h } = await start();
      await view.append(notes(1, 4));
      await h.tamper.setBody('notes', 3, JSON.stringify({ n: 33 }));
      expect(await view.verify()).toMatchObject({
        ok: false,
        seq: 3,
        reason: 'hash_mismatch',
        verified: 2,
        checked: 4,
        breakCount: 1,
      });
    });

    it('reports a broken link as prev_hash_mismatch', async () => {
      const { view, h } = await start();
      await view.append(notes(1, 4));
      await h.tamper.setPrevHash('notes', 2, OTHER_HASH);
      const result = await view.verify();
      expect(result).toMatchObject({
        ok: false,
        seq: 2,
        reason: 'prev_hash_mismatch',
        verified: 1,
      });
      const [first] = await h.log.read('notes', 0, 1);
      expect(result.breaks[0]).toMatchObject({ expected: first!.hash, found: OTHER_HASH });
    });

    it('reports a deleted record as seq_gap', async () => {
      const { view, h } = await start();
      await view.append(notes(1, 4));
      await h.tamper.remove('notes', 2);
      expect(await view.verify()).toMatchObject({
        ok: false,
        seq: 2,
        reason: 'seq_gap',
        verified: 1,
        checked: 3,
        broken: { expected: 2, found: 3, hash: null },
      });
    });

    it('reports a record beyond the clock plus skew as future_timestamp', async () => {
      const { h } = await start();
      const skewed = createLogView({
        log: h.log,
        stream: 'notes',
        codec: noteCodec,
        clock: new ManualClock(T0 + 2_000),
        clockSkewMs: 1_000,
      });
      await skewed.append(notes(1, 4)); // notes 1..3 are within now + skew, note 4 is not
      expect(await skewed.verify()).toMatchObject({
        ok: false,
        seq: 4,
        reason: 'future_timestamp',
        verified: 3,
        breakCount: 1,
      });
    });

    it('reports a tail that no longer reaches the recorded head as truncated', async () => {
      const { view, h } = await start();
      await view.append(notes(1, 3));
      const recorded = await view.head();
      await h.tamper.remove('notes', 3);
      const result = await view.verify({ expectedHead: { seq: 3, hash: recorded.hash } });
      // the store's own head may still say 3; either way the record is gone
      expect(result.ok).toBe(false);
      expect(result.breaks.map((b) => b.reason)).toContain('truncated');
      expect(result.breaks.find((b) => b.reason === 'truncated')).toMatchObject({
        seq: 3,
        expected: recorded.hash,
        found: 'missing',
      });
      // a record at the recorded seq with another hash is a replaced tail
      const replaced = await view.verify({ expectedHead: { seq: 2, hash: OTHER_HASH } });
      expect(replaced).toMatchObject({ ok: false, seq: 2, reason: 'truncated' });
    });

    it('reports several breaks in one pass, first break named flat, the list capped by maxBreaks', async () => {
      const { view, h } = await start();
      await view.append(notes(1, 10));
      await h.tamper.setBody('notes', 3, JSON.stringify({ n: 0 }));
      await h.tamper.setPrevHash('notes', 6, OTHER_HASH);
      await h.tamper.remove('notes', 8);
      const result = await view.verify();
      expect(result).toMatchObject({
        ok: false,
        seq: 3,
        reason: 'hash_mismatch',
        verified: 2,
        checked: 9,
        breakCount: 3,
        broken: { seq: 3, reason: 'hash_mismatch' },
      });
      expect(result.breaks.map((b) => [b.seq, b.reason])).toEqual([
        [3, 'hash_mismatch'],
        [6, 'prev_hash_mismatch'],
        [8, 'seq_gap'],
      ]);
      for (const b of result.breaks) expect(b.message.length).toBeGreaterThan(0);
      const capped = await view.verify({ maxBreaks: 1 });
      expect(capped.breaks).toHaveLength(1);
      expect(capped).toMatchObject({ breakCount: 3, seq: 3 });
    });

    /** Notes 1–4, a record poisoned the way an old version wrote it (seq 5, year 2999), notes 6–8. */
    const poisoned = async (view: LogView<Note, StoredNote>, log: LogStore): Promise<number> => {
      await view.append(notes(1, 4));
      const timeMs = Date.UTC(2999, 0, 1);
      // The log itself never refused future times: an append through it is what old code did.
      await log.append('notes', [{ timeMs, kind: 'odd', body: JSON.stringify({ n: 5 }) }]);
      await view.append(notes(6, 8));
      return timeMs;
    };

    it('repairs a poisoned record with an acceptance anchor: reported as accepted, later tampering still caught', async () => {
      const { view, h } = await start();
      const timeMs = await poisoned(view, h.log);
      expect(await view.verify()).toMatchObject({
        ok: false,
        seq: 5,
        reason: 'future_timestamp',
        breakCount: 1,
      });
      const fifth = (await h.log.read('notes', 4, 1))[0]!;
      const anchor = await view.accept({
        throughSeq: 5,
        reason: '  poisoned by v0.3  ',
        by: 'ops',
      });
      expect(anchor).toEqual({
        stream: 'notes',
        anchorSeq: 1,
        through: { seq: 5, hash: fifth.hash },
        breaks: [{ reason: 'future_timestamp', seq: 5, timeMs }],
        by: 'ops',
        reason: 'poisoned by v0.3',
        at: new Date(clock.now()).toISOString(),
      });
      expect(await view.acceptance()).toEqual(anchor);
      // nothing was changed or added in the stream itself
      expect((await view.head()).seq).toBe(8);
      const repaired = await view.verify();
      expect(repaired).toMatchObject({
        ok: true,
        verified: 8,
        checked: 8,
        breakCount: 0,
        breaks: [],
        acceptedCount: 1,
        acceptance: { anchorSeq: 1, through: { seq: 5 }, by: 'ops', breakCount: 1 },
      });
      expect(repaired.accepted).toHaveLength(1);
      expect(repaired.accepted![0]).toMatchObject({
        reason: 'future_timestamp',
        seq: 5,
        hash: fifth.hash,
        acceptedThrough: 5,
        anchorSeq: 1,
      });
      expect(repaired.accepted![0]!.message).toContain('accepted by anchor at seq 5');

      // a record changed after the anchor is a failure, and so is one before it
      await h.tamper.setBody('notes', 7, JSON.stringify({ n: 77 }));
      expect(await view.verify()).toMatchObject({
        ok: false,
        seq: 7,
        reason: 'hash_mismatch',
        breakCount: 1,
        acceptedCount: 1,
      });
      await h.tamper.setBody('notes', 3, JSON.stringify({ n: 33 }));
      const both = await view.verify();
      expect(both.breaks.map((b) => [b.seq, b.reason])).toEqual([
        [3, 'hash_mismatch'],
        [7, 'hash_mismatch'],
      ]);
      expect(both.acceptedCount).toBe(1);
    });

    it('a later anchor lists every break through its seq; an accepted record changed again is a failure', async () => {
      const { view, h } = await start();
      await poisoned(view, h.log);
      await view.accept({ throughSeq: 5, reason: 'poisoned', by: 'ops' });
      await h.tamper.setBody('notes', 7, JSON.stringify({ n: 77 }));
      const second = await view.accept({ throughSeq: 8, reason: 'restored 7 lost', by: 'ops' });
      expect(second.anchorSeq).toBe(2);
      expect(second.breaks.map((b) => [b.seq, b.reason])).toEqual([
        [5, 'future_timestamp'],
        [7, 'hash_mismatch'],
      ]);
      expect(await view.verify()).toMatchObject({ ok: true, acceptedCount: 2 });
      // the same record altered once more no longer matches the accepted break
      await h.tamper.setBody('notes', 7, JSON.stringify({ n: 777 }));
      expect(await view.verify()).toMatchObject({ ok: false, seq: 7, acceptedCount: 1 });
    });

    it('refuses an acceptance without reason or name, out of range, or behind the last anchor', async () => {
      const { view, h } = await start();
      await poisoned(view, h.log);
      const refused = (p: Promise<unknown>) =>
        expect(p).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await refused(view.accept({ throughSeq: 5, reason: ' ', by: 'ops' }));
      await refused(view.accept({ throughSeq: 5, reason: 'why', by: '' }));
      await refused(view.accept({ throughSeq: 0, reason: 'why', by: 'ops' }));
      await refused(view.accept({ throughSeq: 9, reason: 'why', by: 'ops' }));
      await refused(view.accept({ throughSeq: 2.5, reason: 'why', by: 'ops' }));
      await view.accept({ throughSeq: 6, reason: 'why', by: 'ops' });
      await refused(view.accept({ throughSeq: 5, reason: 'why', by: 'ops' }));
      expect(await view.acceptance()).toMatchObject({ anchorSeq: 1, through: { seq: 6 } });
    });

    it('does not apply anchors whose own chain is broken', async () => {
      const { view, h } = await start();
      await poisoned(view, h.log);
      await view.accept({ throughSeq: 5, reason: 'poisoned', by: 'ops' });
      await h.tamper.setBody(
        'notes~accepted',
        1,
        JSON.stringify({ stream: 'notes', through: { seq: 8, hash: OTHER_HASH }, breaks: [] }),
      );
      const result = await view.verify();
      expect(result).toMatchObject({ ok: false, seq: 5, reason: 'future_timestamp' });
      expect(result.acceptance).toBeUndefined();
      expect(result.acceptanceProblem).toContain('do not verify');
      await expect(
        view.accept({ throughSeq: 8, reason: 'again', by: 'ops' }),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
    });
  });
}

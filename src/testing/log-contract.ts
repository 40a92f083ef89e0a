/**
 * The log contract: every LogStore backend must pass this suite unchanged.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ChainVerifier,
  GENESIS_HASH,
  type ChainVerifierOptions,
  type LogAppend,
  type LogQuery,
  type LogRecord,
  type LogStore,
  type VerifyResult,
} from '../storage/log.js';
import { isKernelError } from '../index.js';

/** How the suite gets a log. `reopen` (durable backends) closes and opens the same store again. */
export interface LogHarness {
  readonly log: LogStore;
  reopen?: () => Promise<LogStore>;
  close(): Promise<void>;
}

const T0 = Date.UTC(2026, 4, 14, 10);
function entry(i: number, extra: Partial<LogAppend> = {}): LogAppend {
  return {
    timeMs: T0 + i * 1000,
    body: JSON.stringify({ n: i }),
    ...extra,
  };
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  let thrown: unknown;
  try {
    await p;
  } catch (error) {
    thrown = error;
  }
  expect(isKernelError(thrown), `expected KernelError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
}

/** The code of the KernelError `p` rejects with, or `'no error'`. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    if (isKernelError(error)) return error.code;
    throw error;
  }
  return 'no error';
}

function verify(records: readonly LogRecord[], options: ChainVerifierOptions = {}): VerifyResult {
  const v = new ChainVerifier('s', { seq: 0, hash: GENESIS_HASH }, options);
  v.feed(records);
  return v.finish();
}

async function verifyAll(
  log: LogStore,
  stream: string,
): Promise<{ ok: boolean; verified: number }> {
  const head = await log.head(stream);
  const v = new ChainVerifier(stream, head.anchor ?? { seq: 0, hash: GENESIS_HASH });
  let after = head.anchor?.seq ?? 0;
  for (;;) {
    const batch = await log.read(stream, after, 1000);
    if (batch.length === 0) break;
    v.feed(batch);
    after = batch[batch.length - 1]!.seq;
  }
  return v.finish();
}

/** Runs the log contract against `open()`; `durable` backends also get the reopen test. */
export function logContract(
  name: string,
  open: () => Promise<LogHarness>,
  options: { durable: boolean },
): void {
  describe(`log contract: ${name}`, () => {
    let h: LogHarness | undefined;
    const start = async (): Promise<LogHarness> => {
      h = await open();
      return h;
    };
    afterEach(async () => {
      await h?.close();
      h = undefined;
    });

    it('starts empty and numbers appends from 1 with a hash chain', async () => {
      const { log } = await start();
      expect(await log.head('s')).toMatchObject({ seq: 0, hash: GENESIS_HASH, firstSeq: 1 });
      const a = await log.append('s', [entry(1), entry(2)]);
      const b = await log.append('s', [entry(3)]);
      expect([...a, ...b].map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(a[0]!.prevHash).toBe(GENESIS_HASH);
      expect(a[1]!.prevHash).toBe(a[0]!.hash);
      expect(b[0]!.prevHash).toBe(a[1]!.hash);
      expect(await log.head('s')).toMatchObject({ seq: 3, hash: b[0]!.hash });
      expect(await log.read('s', 1, 10)).toEqual([a[1], b[0]]);
      expect(await log.read('s', 0, 2)).toEqual(a);
      expect(await log.read('other', 0, 2)).toEqual([]);
      expect(await verifyAll(log, 's')).toMatchObject({ ok: true, verified: 3 });
    });

    /** `count` keyed entries from `from`, in batches of `size`, optionally failing at entry `failAt`. */
    async function* batches(
      from: number,
      count: number,
      size: number,
      options: {
        failAt?: number;
        entryOf?: (i: number) => LogAppend;
        gate?: Promise<void>;
        atGate?: () => void;
      } = {},
    ): AsyncGenerator<LogAppend[]> {
      const make = options.entryOf ?? ((i: number) => entry(i, { key: `k${i}` }));
      for (let i = from; i < from + count; i += size) {
        const batch: LogAppend[] = [];
        for (let j = i; j < Math.min(from + count, i + size); j++) {
          if (j === options.failAt) throw new Error(`source failed at ${j}`);
          batch.push(make(j));
        }
        yield batch;
        if (options.gate !== undefined && i === from) {
          options.atGate?.();
          await options.gate;
        }
      }
    }

    it('appendAll commits every batch as one chain, answering repeats of stored keys', async () => {
      const { log } = await start();
      await log.append('s', [entry(1, { key: 'k1' }), entry(2, { key: 'k2' })]);
      const result = await log.appendAll('s', batches(1, 2500, 300));
      const head = await log.head('s');
      expect(result).toEqual({
        appended: 2498,
        repeated: 2,
        head: { seq: 2500, hash: head.hash },
      });
      expect(head.seq).toBe(2500);
      expect(await verifyAll(log, 's')).toMatchObject({ ok: true, verified: 2500 });
      const [r] = await log.read('s', 1999, 1);
      expect(r).toMatchObject({ seq: 2000, key: 'k2000', body: JSON.stringify({ n: 2000 }) });
      expect(await log.getByKey('s', 'k2500')).toMatchObject({ seq: 2500 });
      // a repeat within the source is stored once
      const again = await log.appendAll(
        's',
        batches(2501, 10, 4, { entryOf: () => entry(9, { key: 'same' }) }),
      );
      expect(again).toMatchObject({ appended: 1, repeated: 9 });
    });

    it('appendAll stores nothing when a later batch reuses a key with other content', async () => {
      const { log } = await start();
      await log.append('s', [entry(1, { key: 'k1500', body: 'other' })]);
      await expectCode(log.appendAll('s', batches(1, 2500, 300)), 'CONFLICT');
      expect(await log.head('s')).toMatchObject({ seq: 1 });
      expect(await log.getByKey('s', 'k1')).toBeUndefined();
      // the stream goes on from where it was
      await log.append('s', [entry(2)]);
      expect(await verifyAll(log, 's')).toMatchObject({ ok: true, verified: 2 });
    });

    it('appendAll stores nothing when its source fails midway', async () => {
      const { log } = await start();
      await expect(log.appendAll('s', batches(1, 2500, 300, { failAt: 1500 }))).rejects.toThrow(
        /source failed at 1500/,
      );
      expect(await log.head('s')).toMatchObject({ seq: 0 });
      expect(await log.read('s', 0, 10)).toEqual([]);
      expect(await log.appendAll('s', batches(1, 5, 2))).toMatchObject({ appended: 5 });
    });

    it('appends racing an appendAll still form one chain', async () => {
      const { log } = await start();
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let reached!: () => void;
      const atGate = new Promise<void>((resolve) => (reached = resolve));
      const all = log.appendAll('s', batches(1, 100, 10, { gate, atGate: reached }));
      await atGate; // the first batch is in the appendAll's hands
      const racing = log.append('s', [entry(1000, { key: 'racer' })]);
      open();
      const [result] = await Promise.all([all, racing]);
      expect(result.appended).toBe(100);
      expect(await log.head('s')).toMatchObject({ seq: 101 });
      expect(await verifyAll(log, 's')).toMatchObject({ ok: true, verified: 101 });
    });

    it('keeps streams independent', async () => {
      const { log } = await start();
      await log.append('a', [entry(1)]);
      const [b1] = await log.append('b', [entry(1)]);
      expect(b1!.seq).toBe(1);
      expect(b1!.prevHash).toBe(GENESIS_HASH);
    });

    it('round-trips every field', async () => {
      const { log } = await start();
      const e = entry(1, {
        key: 'k1',
        tenant: 't',
        kind: 'K',
        subject: 'who',
        correlation: 'c',
        chain: 'ch',
        body: '{"ü":"ß\\n"}',
      });
      const [r] = await log.append('s', [e]);
      const [read] = await log.read('s', 0, 1);
      expect(read).toEqual(r);
      expect(read).toMatchObject(e);
      expect(await log.getByKey('s', 'k1')).toEqual(r);
      expect(await log.getByKey('s', 'missing')).toBeUndefined();
    });

    it('is idempotent by key: same content is a no-op, other content conflicts', async () => {
      const { log } = await start();
      const [first] = await log.append('s', [entry(1, { key: 'e1' })]);
      const [again] = await log.append('s', [entry(1, { key: 'e1' })]);
      expect(again).toEqual(first);
      expect((await log.head('s')).seq).toBe(1);
      await expectCode(log.append('s', [entry(2, { key: 'e1' })]), 'CONFLICT');
      // a repeat inside one batch is answered with the same record
      const batch = await log.append('s', [
        entry(5, { key: 'e5' }),
        entry(5, { key: 'e5' }),
        entry(6),
      ]);
      expect(batch[0]).toEqual(batch[1]);
      expect(batch.map((r) => r.seq)).toEqual([2, 2, 3]);
      await expectCode(
        log.append('s', [entry(7, { key: 'e7' }), entry(8, { key: 'e7' })]),
        'CONFLICT',
      );
    });

    it('appends a batch atomically: a conflict stores nothing of it', async () => {
      const { log } = await start();
      await log.append('s', [entry(1, { key: 'x' })]);
      await expectCode(log.append('s', [entry(2), entry(3), entry(4, { key: 'x' })]), 'CONFLICT');
      expect((await log.head('s')).seq).toBe(1);
      const [next] = await log.append('s', [entry(2)]);
      expect(next!.seq).toBe(2);
    });

    it('rejects malformed records', async () => {
      const { log } = await start();
      await expectCode(
        log.append('s', [entry(1, { body: 'bad \ud800 surrogate' })]),
        'INVALID_ARGUMENT',
      );
      await expectCode(log.append('s', [{ ...entry(1), timeMs: Number.NaN }]), 'INVALID_ARGUMENT');
      expect((await log.head('s')).seq).toBe(0);
    });

    it('keeps concurrent appends contiguous and chained', async () => {
      const { log } = await start();
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => log.append('s', [entry(i, { key: `k${i}` })])),
      );
      const records = await log.read('s', 0, 1000);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(new Set(records.map((r) => r.key)).size).toBe(200);
      expect(await verifyAll(log, 's')).toMatchObject({ ok: true, verified: 200 });
    });

    it('answers queries identically: filters, order, newest-limit', async () => {
      const { log } = await start();
      const rows: LogAppend[] = [];
      for (let i = 0; i < 40; i++) {
        rows.push(
          entry(i, {
            tenant: i % 2 === 0 ? 'even' : 'odd',
            kind: ['A', 'B', 'C'][i % 3]!,
            subject: `actor-${i % 4}`,
            correlation: i % 5 === 0 ? 'corr' : undefined,
            chain: i < 10 ? 'chain-1' : undefined,
            // times out of seq order for the last few
            timeMs: i >= 36 ? T0 + (40 - i) * 1000 : T0 + i * 1000,
          }),
        );
      }
      await log.append('s', rows);
      const seqs = async (q: Parameters<LogStore['query']>[1]): Promise<number[]> =>
        (await log.query('s', q)).map((r) => r.seq);
      const all = Array.from({ length: 40 }, (_, i) => i + 1);
      expect(await seqs({})).toEqual(all);
      expect(await seqs({ tenant: 'even' })).toEqual(all.filter((s) => (s - 1) % 2 === 0));
      expect(await seqs({ kinds: ['A', 'C'] })).toEqual(all.filter((s) => (s - 1) % 3 !== 1));
      expect(await seqs({ kinds: [] })).toEqual(all);
      expect(await seqs({ subject: 'actor-1' })).toEqual(all.filter((s) => (s - 1) % 4 === 1));
      expect(await seqs({ correlation: 'corr' })).toEqual([1, 6, 11, 16, 21, 26, 31, 36]);
      expect(await seqs({ chain: 'chain-1' })).toEqual(all.slice(0, 10));
      expect(await seqs({ fromSeq: 5, toSeq: 7 })).toEqual([5, 6, 7]);
      expect(await seqs({ time: { fromMs: T0 + 2000, toMs: T0 + 4000 } })).toEqual([
        3, 4, 5, 37, 38, 39,
      ]);
      expect(await seqs({ time: { fromMs: T0 + 2000, toMs: T0 + 4000 }, orderBy: 'time' })).toEqual(
        [3, 39, 4, 38, 5, 37],
      );
      expect(await seqs({ limit: 3 })).toEqual([38, 39, 40]);
      expect(await seqs({ limit: 3, orderBy: 'time' })).toEqual([34, 35, 36]);
      expect(
        await seqs({
          tenant: 'even',
          kinds: ['A', 'B'],
          time: { fromMs: T0, toMs: T0 + 30_000 },
          limit: 4,
          orderBy: 'time',
        }),
      ).toEqual([23, 25, 29, 31]);
      const ab = await seqs({ kinds: ['A', 'B'], orderBy: 'time' });
      expect(await seqs({ kinds: ['A', 'B'], limit: 2, orderBy: 'time' })).toEqual(ab.slice(-2));
      expect(ab.slice(-2)).toEqual([34, 35]);
      expect(await seqs({ limit: 0 })).toEqual([]);
      expect(await seqs({ tenant: 'nobody' })).toEqual([]);
      await expectCode(log.query('s', { limit: -1 }), 'INVALID_QUERY');
      await expectCode(log.query('s', { time: { fromMs: 5, toMs: 1 } }), 'INVALID_QUERY');
    });

    it('refuses a key re-appended with other metadata, field by field, and stores nothing', async () => {
      const { log } = await start();
      const full: LogAppend = entry(1, {
        key: 'k',
        tenant: 't',
        kind: 'K',
        subject: 's',
        correlation: 'c',
        chain: 'ch',
      });
      const [stored] = await log.append('s', [full]);
      const changes: Partial<LogAppend>[] = [
        { tenant: 'other-tenant' },
        { tenant: undefined },
        { kind: 'K2' },
        { kind: undefined },
        { subject: 's2' },
        { subject: undefined },
        { correlation: 'c2' },
        { correlation: undefined },
        { chain: 'ch2' },
        { chain: undefined },
        { body: '{"n":2}' },
      ];
      for (const change of changes) {
        const what = JSON.stringify(change);
        expect(await codeOf(log.append('s', [{ ...full, ...change }])), what).toBe('CONFLICT');
        // the same conflict inside one batch, before anything was stored
        expect(await codeOf(log.append('fresh', [full, { ...full, ...change }])), what).toBe(
          'CONFLICT',
        );
      }
      // and the other way round: a key stored without metadata, re-appended with some
      await log.append('s', [entry(2, { key: 'bare' })]);
      for (const field of ['tenant', 'kind', 'subject', 'correlation', 'chain'] as const) {
        expect(
          await codeOf(log.append('s', [entry(2, { key: 'bare', [field]: 'x' })])),
          field,
        ).toBe('CONFLICT');
      }
      expect((await log.head('s')).seq).toBe(2);
      expect((await log.head('fresh')).seq).toBe(0);
      expect(await log.getByKey('s', 'k')).toEqual(stored);
      expect(await log.getByKey('fresh', 'k')).toBeUndefined();
    });

    it('treats a key with the same content but another time as a retry of the stored record', async () => {
      const { log } = await start();
      const [first] = await log.append('s', [entry(1, { key: 'k', tenant: 't' })]);
      const [retry] = await log.append('s', [
        { ...entry(1, { key: 'k', tenant: 't' }), timeMs: T0 },
      ]);
      expect(retry).toEqual(first);
      expect(retry!.timeMs).toBe(T0 + 1000);
      expect((await log.head('s')).seq).toBe(1);
    });

    it('the same key in another stream is another record', async () => {
      const { log } = await start();
      await log.append('a', [entry(1, { key: 'k' })]);
      const [b] = await log.append('b', [entry(2, { key: 'k' })]);
      expect(b!.seq).toBe(1);
      expect((await log.getByKey('b', 'k'))!.body).toBe('{"n":2}');
    });

    it('refuses records that are not a string body and an integer time, or not well-formed text', async () => {
      const { log } = await start();
      for (const bad of [
        { timeMs: T0, body: 42 },
        { timeMs: T0 + 0.5, body: '{}' },
        { timeMs: Number.POSITIVE_INFINITY, body: '{}' },
        { timeMs: String(T0), body: '{}' },
      ])
        expect(await codeOf(log.append('s', [bad as unknown as LogAppend]))).toBe(
          'INVALID_ARGUMENT',
        );
      for (const field of ['key', 'tenant', 'kind', 'subject', 'correlation', 'chain'] as const)
        expect(await codeOf(log.append('s', [entry(1, { [field]: 'x\udc00' })])), field).toBe(
          'INVALID_ARGUMENT',
        );
      expect(await codeOf(log.append('s', [entry(1, { body: '"\ud800"' })]))).toBe(
        'INVALID_ARGUMENT',
      );
      expect((await log.head('s')).seq).toBe(0);
      // a well-formed pair is fine
      const [ok] = await log.append('s', [entry(1, { subject: '🎉' })]);
      expect(ok!.subject).toBe('🎉');
    });

    it('refuses malformed queries with INVALID_QUERY', async () => {
      const { log } = await start();
      await log.append('s', [entry(1)]);
      const bad: LogQuery[] = [
        { fromSeq: -1 },
        { toSeq: -1 },
        { fromSeq: 1.5 },
        { toSeq: 2.5 },
        { fromSeq: Number.NaN },
        { toSeq: Number.POSITIVE_INFINITY },
        { limit: 1.5 },
        { limit: Number.POSITIVE_INFINITY },
        { time: { fromMs: Number.NaN } },
        { time: { toMs: Number.NaN } },
        { time: { fromMs: Number.NEGATIVE_INFINITY } },
        { time: { toMs: Number.POSITIVE_INFINITY } },
        { time: { fromMs: T0 + 1, toMs: T0 } },
        { kinds: 'A' as unknown as string[] },
      ];
      for (const q of bad)
        expect(await codeOf(log.query('s', q)), JSON.stringify(q)).toBe('INVALID_QUERY');
      // the bounds that are allowed
      expect(await codeOf(log.query('s', { fromSeq: 0, toSeq: 0, limit: 0 }))).toBe('no error');
      expect(await codeOf(log.query('s', { time: { fromMs: T0, toMs: T0 } }))).toBe('no error');
    });

    it('answers edge queries: inclusive bounds, an instant, a limit above the match count', async () => {
      const { log } = await start();
      await log.append('s', [
        entry(0, { kind: 'A' }),
        entry(1),
        entry(2, { kind: 'A' }),
        entry(3, { kind: 'B' }),
        entry(4, { kind: 'A' }),
      ]);
      const seqs = async (q: LogQuery): Promise<number[]> =>
        (await log.query('s', q)).map((r) => r.seq);
      expect(await seqs({ time: { fromMs: T0 + 2000, toMs: T0 + 2000 } })).toEqual([3]);
      expect(await seqs({ time: { fromMs: T0 + 3000 } })).toEqual([4, 5]);
      expect(await seqs({ time: { toMs: T0 + 1000 } })).toEqual([1, 2]);
      expect(await seqs({ fromSeq: 4 })).toEqual([4, 5]);
      expect(await seqs({ toSeq: 2 })).toEqual([1, 2]);
      expect(await seqs({ fromSeq: 0, toSeq: 0 })).toEqual([]);
      expect(await seqs({ fromSeq: 3, toSeq: 3 })).toEqual([3]);
      // a record without a kind never matches a kind filter
      expect(await seqs({ kinds: ['A', 'B'] })).toEqual([1, 3, 4, 5]);
      expect(await seqs({ kinds: ['A'], limit: 10 })).toEqual([1, 3, 5]);
      expect(await seqs({ kinds: ['A'], limit: 3 })).toEqual([1, 3, 5]);
      expect(await seqs({ kinds: ['A'], limit: 2 })).toEqual([3, 5]);
      expect(await seqs({ limit: 100, orderBy: 'time' })).toEqual([1, 2, 3, 4, 5]);
    });

    it('orders equal times by seq when ordering by time', async () => {
      const { log } = await start();
      await log.append('s', [entry(5), entry(1), entry(5), entry(1)]);
      const order = (await log.query('s', { orderBy: 'time' })).map((r) => r.seq);
      expect(order).toEqual([2, 4, 1, 3]);
      expect((await log.query('s', { orderBy: 'time', limit: 3 })).map((r) => r.seq)).toEqual([
        4, 1, 3,
      ]);
    });

    it('verification names the record of each break, on records the backend stored', async () => {
      const { log } = await start();
      await log.append('s', [entry(1), entry(2), entry(3), entry(4)]);
      const records = await log.read('s', 0, 10);
      expect(verify(records)).toMatchObject({
        ok: true,
        verified: 4,
        head: { seq: 4, hash: records[3]!.hash },
      });
      // a deleted record
      expect(verify([records[0]!, records[1]!, records[3]!])).toMatchObject({
        ok: false,
        verified: 2,
        broken: { reason: 'seq_gap', seq: 3, expected: 3, found: 4, hash: null },
      });
      // an edited body
      const edited = records.map((r) => (r.seq === 2 ? { ...r, body: '{"n":99}' } : r));
      expect(verify(edited)).toMatchObject({
        ok: false,
        verified: 1,
        broken: { reason: 'hash_mismatch', seq: 2, found: records[1]!.hash },
      });
      // a record with a time after "now" (a clock that ran ahead, or a forged entry)
      expect(verify(records, { nowMs: T0 + 2500 })).toMatchObject({
        ok: false,
        verified: 2,
        broken: { reason: 'future_timestamp', seq: 3, timeMs: T0 + 3000, hash: records[2]!.hash },
      });
      expect(verify(records, { nowMs: T0 + 4000 })).toMatchObject({ ok: true, verified: 4 });
    });

    it('tells listeners about each commit, in order, with the committed records', async () => {
      const { log } = await start();
      const seen: number[][] = [];
      const off = log.onAppend('s', (records) => seen.push(records.map((r) => r.seq)));
      await log.append('s', [entry(1), entry(2)]);
      await Promise.all([log.append('s', [entry(3)]), log.append('s', [entry(4)])]);
      await log.append('s', [entry(1, { key: 'dup' })]);
      await log.append('s', [entry(1, { key: 'dup' })]); // a no-op: not announced
      await log.append('other', [entry(9)]);
      off();
      await log.append('s', [entry(6)]);
      expect(seen.flat()).toEqual([1, 2, 3, 4, 5]);
    });

    it('fences an append on a key: refused (FENCED, nothing stored) once the key exists', async () => {
      const { log } = await start();
      const fence = { stream: 'claims', key: 'owner:2' };
      // absent key (and absent stream): the append commits
      const [first] = await log.append('work', [entry(1, { key: 'a' })], { unlessKey: fence });
      expect(first!.seq).toBe(1);
      await log.append('claims', [entry(2, { key: 'owner:1' })]);
      const [second] = await log.append('work', [entry(3)], { unlessKey: fence });
      expect(second!.seq).toBe(2);
      // the claim lands: every fenced append after it is refused, an unfenced one is not
      await log.append('claims', [entry(4, { key: 'owner:2' })]);
      await expectCode(log.append('work', [entry(5), entry(6)], { unlessKey: fence }), 'FENCED');
      await expectCode(
        log.append('work', [entry(1, { key: 'a' })], { unlessKey: fence }),
        'FENCED',
      );
      expect((await log.head('work')).seq).toBe(2);
      const [third] = await log.append('work', [entry(7)]);
      expect(third).toMatchObject({ seq: 3, prevHash: second!.hash });
      expect(await verifyAll(log, 'work')).toMatchObject({ ok: true, verified: 3 });
    });

    it('concurrent fenced appends and a claim: each commits or is FENCED, nothing else', async () => {
      const { log } = await start();
      const fence = { stream: 'claims', key: 'next' };
      // Fenced appends race one claim (PostgreSQL: the same group-commit batch as some of them).
      const outcomes = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          (i === 30
            ? log.append('claims', [entry(i, { key: 'next' })])
            : log.append('work', [entry(i, { key: `w${i}` })], { unlessKey: fence })
          ).then(
            () => 'ok',
            (e: unknown) => (isKernelError(e) ? e.code : String(e)),
          ),
        ),
      );
      expect(outcomes.filter((o) => o !== 'ok' && o !== 'FENCED')).toEqual([]);
      // after the claim, nothing fenced gets in
      await expectCode(log.append('work', [entry(99)], { unlessKey: fence }), 'FENCED');
      const stored = await log.read('work', 0, 100);
      const okCount = outcomes.filter((o, i) => i !== 30 && o === 'ok').length;
      expect(stored.length).toBe(okCount);
      expect(await verifyAll(log, 'work')).toMatchObject({ ok: true, verified: okCount });
    });

    it('refuses writes after close', async () => {
      const harness = await start();
      await harness.log.close();
      await expectCode(harness.log.append('s', [entry(1)]), 'CLOSED');
    });

    it.runIf(options.durable)('keeps acknowledged appends across a reopen', async () => {
      const harness = await start();
      if (harness.reopen === undefined) throw new Error('a durable harness must offer reopen()');
      const written = await harness.log.append('s', [entry(1, { key: 'a' }), entry(2)]);
      const reopened = await harness.reopen();
      expect(await reopened.read('s', 0, 10)).toEqual(written);
      const [next] = await reopened.append('s', [entry(3)]);
      expect(next).toMatchObject({ seq: 3, prevHash: written[1]!.hash });
      expect(await reopened.append('s', [entry(1, { key: 'a' })])).toEqual([written[0]]);
    });
  });
}

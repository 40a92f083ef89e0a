/**
 * The log's shared rules at their edges, on every backend: what counts as "the same record" for
 * an idempotent key, which queries are refused, inclusive bounds, and what verification reports
 * after each kind of break. The hash encoding is pinned by a known-answer vector, since every
 * stored chain depends on it. Found by mutation testing (docs/testing.md).
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isKernelError } from '../../src/index.js';
import {
  ChainVerifier,
  GENESIS_HASH,
  chainRecords,
  describeBreak,
  keyConflict,
  recordHash,
  type LogAppend,
  type LogQuery,
  type LogRecord,
  type LogStore,
} from '../../src/storage/log.js';
import { BACKENDS, type BackendHarness } from '../helpers/stores.js';

const T0 = Date.UTC(2026, 4, 14, 10);

function entry(i: number, extra: Partial<LogAppend> = {}): LogAppend {
  return { timeMs: T0 + i * 1000, body: JSON.stringify({ n: i }), ...extra };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    if (isKernelError(error)) return error.code;
    throw error;
  }
  return 'no error';
}

for (const [name, backend] of Object.entries(BACKENDS)) {
  describe(`log rules: ${name}`, () => {
    let h: BackendHarness | undefined;
    const open = async (): Promise<LogStore> => {
      h = await backend.open();
      return h.storage.log;
    };
    afterEach(async () => {
      await h?.close();
      h = undefined;
    });

    it('refuses a key re-appended with other metadata, field by field, and stores nothing', async () => {
      const log = await open();
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
        expect(
          await codeOf(log.append('s', [{ ...full, ...change }])),
          JSON.stringify(change),
        ).toBe('CONFLICT');
        // the same conflict inside one batch, before anything was stored
        expect(
          await codeOf(log.append('fresh', [full, { ...full, ...change }])),
          JSON.stringify(change),
        ).toBe('CONFLICT');
      }
      expect((await log.head('s')).seq).toBe(1);
      expect((await log.head('fresh')).seq).toBe(0);
      expect(await log.getByKey('s', 'k')).toEqual(stored);
    });

    it('treats a key with the same content but another time as a retry of the stored record', async () => {
      const log = await open();
      const [first] = await log.append('s', [entry(1, { key: 'k', tenant: 't' })]);
      const [retry] = await log.append('s', [
        { ...entry(1, { key: 'k', tenant: 't' }), timeMs: T0 },
      ]);
      expect(retry).toEqual(first);
      expect(retry!.timeMs).toBe(T0 + 1000);
      expect((await log.head('s')).seq).toBe(1);
    });

    it('the same key in another stream is another record', async () => {
      const log = await open();
      await log.append('a', [entry(1, { key: 'k' })]);
      const [b] = await log.append('b', [entry(2, { key: 'k' })]);
      expect(b!.seq).toBe(1);
      expect((await log.getByKey('b', 'k'))!.body).toBe('{"n":2}');
    });

    it('refuses records that are not a string body and an integer time, or not well-formed text', async () => {
      const log = await open();
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
      const log = await open();
      await log.append('s', [entry(1)]);
      const bad: LogQuery[] = [
        { fromSeq: -1 },
        { toSeq: -1 },
        { fromSeq: 1.5 },
        { toSeq: 2.5 },
        { fromSeq: Number.NaN },
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
    });

    it('answers edge queries: inclusive bounds, an instant, a limit above the match count', async () => {
      const log = await open();
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
      const log = await open();
      await log.append('s', [entry(5), entry(1), entry(5), entry(1)]);
      const order = (await log.query('s', { orderBy: 'time' })).map((r) => r.seq);
      expect(order).toEqual([2, 4, 1, 3]);
      expect((await log.query('s', { orderBy: 'time', limit: 3 })).map((r) => r.seq)).toEqual([
        4, 1, 3,
      ]);
    });

    it('verification names the record of each break, on records the backend stored', async () => {
      const log = await open();
      await log.append('s', [entry(1), entry(2), entry(3), entry(4)]);
      const records = await log.read('s', 0, 10);
      expect(verify(records)).toMatchObject({
        ok: true,
        verified: 4,
        head: { seq: 4, hash: records[3]!.hash },
      });
      // a deleted record
      const gap = verify([records[0]!, records[1]!, records[3]!]);
      expect(gap).toMatchObject({
        ok: false,
        verified: 2,
        broken: { reason: 'seq_gap', seq: 3, expected: 3, found: 4 },
      });
      // an edited body
      const edited = records.map((r) => (r.seq === 2 ? { ...r, body: '{"n":99}' } : r));
      expect(verify(edited)).toMatchObject({
        ok: false,
        verified: 1,
        broken: { reason: 'hash_mismatch', seq: 2, found: records[1]!.hash },
      });
      // a record with a time after "now" (a clock that ran ahead, or a forged entry)
      const future = verify(records, { nowMs: T0 + 2500 });
      expect(future).toMatchObject({
        ok: false,
        verified: 2,
        broken: { reason: 'future_timestamp', seq: 3, timeMs: T0 + 3000 },
      });
      expect(verify(records, { nowMs: T0 + 4000 })).toMatchObject({ ok: true, verified: 4 });
    });
  });
}

function verify(
  records: readonly LogRecord[],
  options: ConstructorParameters<typeof ChainVerifier>[2] = {},
  start = { seq: 0, hash: GENESIS_HASH },
): ReturnType<ChainVerifier['finish']> {
  const v = new ChainVerifier('s', start, options);
  v.feed(records);
  return v.finish();
}

describe('record hash', () => {
  it('is SHA-256 over the documented length-prefixed encoding (known answers)', () => {
    const plain = { timeMs: T0, body: '{"n":1}' };
    const expected = createHash('sha256')
      .update(`kerno.log.v1${'5:audit'}1:1${'13:1778752800000'}------7:{"n":1}64:${'0'.repeat(64)}`)
      .digest('hex');
    expect(recordHash('audit', 1, plain, GENESIS_HASH)).toBe(expected);
    expect(expected).toBe('4ca5b491db1865ba7f8b19ff32f6b5ec994afb6b706433540e7a84d512212eea');
    const full = {
      timeMs: T0,
      body: '{"ü":"ß"}',
      key: 'e-42',
      tenant: 't1',
      kind: 'K',
      subject: 'who',
      correlation: 'c',
      chain: 'ch',
    };
    expect(recordHash('ledger', 42, full, 'ab'.repeat(32))).toBe(
      'c096d481ef227b782b9bb524f4fabecbc9da52b577703e9a3cca352e02de072b',
    );
  });

  it('tells apart records whose fields only differ in where one ends', () => {
    const base = { timeMs: T0, body: '{}' };
    const hashes = new Set(
      [
        { ...base, kind: 'ab' },
        { ...base, kind: 'a', subject: 'b' },
        { ...base, kind: '' },
        { ...base, subject: 'ab' },
        { ...base, tenant: 'ab' },
        { ...base, key: 'ab' },
        { ...base, correlation: 'ab' },
        { ...base, chain: 'ab' },
        base,
      ].map((e) => recordHash('s', 1, e, GENESIS_HASH)),
    );
    expect(hashes.size).toBe(9);
  });
});

describe('chain verifier', () => {
  const records = chainRecords('s', { seq: 0, hash: GENESIS_HASH }, [entry(1), entry(2), entry(3)]);

  it('carries on past a break: the first break is named, every break is listed', () => {
    const v = new ChainVerifier('s', { seq: 0, hash: GENESIS_HASH });
    v.feed(records.slice(0, 1));
    v.feed([records[2]!]);
    const result = v.finish();
    expect(result).toMatchObject({
      ok: false,
      verified: 1,
      breakCount: 1,
      broken: { reason: 'seq_gap', seq: 2, expected: 2, found: 3 },
    });
  });

  it('reports a record linked to the wrong predecessor', () => {
    const relinked = { ...records[1]!, prevHash: 'f'.repeat(64) };
    expect(verify([records[0]!, relinked])).toMatchObject({
      ok: false,
      verified: 1,
      broken: {
        reason: 'prev_hash_mismatch',
        seq: 2,
        expected: records[0]!.hash,
        found: 'f'.repeat(64),
      },
    });
  });

  it('starts after a prune anchor and refuses records from before it', () => {
    const anchor = { seq: 1, hash: records[0]!.hash };
    expect(verify(records.slice(1), {}, anchor)).toMatchObject({
      ok: true,
      verified: 2,
      head: { seq: 3, hash: records[2]!.hash },
    });
    expect(verify(records, {}, anchor)).toMatchObject({
      ok: false,
      verified: 0,
      broken: { reason: 'seq_gap', seq: 2, found: 1 },
    });
    expect(verify([], {}, anchor)).toMatchObject({ ok: true, verified: 0, head: anchor });
  });

  it('reports a truncated tail against a recorded head: replaced or missing', () => {
    const head = { seq: 3, hash: records[2]!.hash };
    expect(verify(records, { expectedHead: head })).toMatchObject({ ok: true, verified: 3 });
    expect(verify(records, { expectedHead: { seq: 2, hash: records[1]!.hash } })).toMatchObject({
      ok: true,
      verified: 3,
    });
    expect(verify(records.slice(0, 2), { expectedHead: head })).toMatchObject({
      ok: false,
      verified: 2,
      broken: { reason: 'truncated', seq: 3, expected: head.hash, found: 'missing' },
    });
    const rewritten = chainRecords('s', { seq: 2, hash: records[1]!.hash }, [entry(9)]);
    expect(verify([...records.slice(0, 2), ...rewritten], { expectedHead: head })).toMatchObject({
      ok: false,
      verified: 2,
      broken: { reason: 'truncated', seq: 3, expected: head.hash, found: rewritten[0]!.hash },
    });
    expect(verify([], { expectedHead: head })).toMatchObject({
      ok: false,
      verified: 0,
      broken: { reason: 'truncated', seq: 1, headSeq: 3, found: 'missing' },
    });
    // the message names the recorded head's record, whose hash it quotes, not the first missing one
    const cut = verify(records.slice(0, 1), { expectedHead: head });
    expect(cut).toMatchObject({ ok: false, seq: 2, broken: { headSeq: 3 } });
    expect(cut.ok ? '' : cut.message).toBe(
      `the log was truncated: the recorded head is record 3 (hash ${head.hash}) but the log ends at record 1; records 2–3 are missing`,
    );
  });

  it('describes every break in a sentence that names the record', () => {
    expect(describeBreak({ reason: 'hash_mismatch', seq: 2, expected: 'aa', found: 'bb' })).toBe(
      'record 2 was altered: its hash should be aa but is bb',
    );
    expect(
      describeBreak({ reason: 'prev_hash_mismatch', seq: 3, expected: 'aa', found: 'bb' }),
    ).toBe('record 3 does not link to the record before it (prev hash bb, expected aa)');
    expect(describeBreak({ reason: 'seq_gap', seq: 4, expected: 4, found: 6 })).toBe(
      'records are missing: expected seq 4, found 6',
    );
    expect(
      describeBreak({ reason: 'truncated', seq: 5, headSeq: 5, expected: 'aa', found: 'missing' }),
    ).toBe(
      'the log was truncated: the recorded head is record 5 (hash aa) but the log ends at record 4; record 5 is missing',
    );
    expect(
      describeBreak({ reason: 'truncated', seq: 3, headSeq: 7, expected: 'aa', found: 'missing' }),
    ).toBe(
      'the log was truncated: the recorded head is record 7 (hash aa) but the log ends at record 2; records 3–7 are missing',
    );
    expect(
      describeBreak({ reason: 'truncated', seq: 5, headSeq: 5, expected: 'aa', found: 'bb' }),
    ).toBe(
      "the log's tail was replaced: record 5 should have the recorded head's hash aa but has bb",
    );
    expect(describeBreak({ reason: 'future_timestamp', seq: 6, timeMs: T0 })).toBe(
      'record 6 is timestamped in the future (2026-05-14T10:00:00.000Z)',
    );
  });

  it('a key conflict says which key, where, and what to do', () => {
    const error = keyConflict('audit', 'evt-1');
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toBe(
      'A record with key "evt-1" already exists in "audit" with different content; ' +
        'use a new id for new content (appends are idempotent only for identical records)',
    );
    expect(error.details).toEqual({ stream: 'audit', key: 'evt-1' });
  });
});

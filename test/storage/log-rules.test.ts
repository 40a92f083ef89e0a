/**
 * The log's backend-independent rules at their edges: the hash encoding, pinned by a known-answer
 * vector since every stored chain depends on it, and what the verifier reports after each kind of
 * break. The rules every backend must follow (key conflicts field by field, refused queries,
 * inclusive bounds) are in the log contract (src/testing/log-contract.ts). Found by mutation
 * testing (docs/testing.md).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ChainVerifier,
  GENESIS_HASH,
  bareBreak,
  breakKey,
  chainRecords,
  describeBreak,
  keyConflict,
  recordHash,
  type ChainAcceptance,
  type ChainBreak,
  type LogAppend,
  type LogRecord,
  type VerifyBreak,
} from '../../src/storage/log.js';

const T0 = Date.UTC(2026, 4, 14, 10);

function entry(i: number, extra: Partial<LogAppend> = {}): LogAppend {
  return { timeMs: T0 + i * 1000, body: JSON.stringify({ n: i }), ...extra };
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

  it('goes on after a break: counts every record, lists each break with its stored hash and sentence', () => {
    const five = chainRecords(
      's',
      { seq: 0, hash: GENESIS_HASH },
      [1, 2, 3, 4, 5].map((i) => entry(i)),
    );
    const altered = { ...five[1]!, body: '{"n":99}' };
    // record 2 altered, record 4 deleted
    const result = verify([five[0]!, altered, five[2]!, five[4]!]);
    const hashBreak = {
      reason: 'hash_mismatch',
      seq: 2,
      expected: recordHash('s', 2, altered, altered.prevHash),
      found: five[1]!.hash,
    } as const;
    const gapBreak = { reason: 'seq_gap', seq: 4, expected: 4, found: 5 } as const;
    const first = { ...hashBreak, hash: five[1]!.hash, message: describeBreak(hashBreak) };
    expect(result).toEqual({
      ok: false,
      verified: 1,
      checked: 4,
      head: { seq: 5, hash: five[4]!.hash },
      breaks: [first, { ...gapBreak, hash: null, message: describeBreak(gapBreak) }],
      breakCount: 2,
      seq: 2,
      reason: 'hash_mismatch',
      message:
        'record 2 was altered: ' +
        `its hash should be ${hashBreak.expected} but is ${five[1]!.hash}`,
      broken: first,
    });
    expect(verify(five)).toEqual({
      ok: true,
      verified: 5,
      checked: 5,
      head: { seq: 5, hash: five[4]!.hash },
      breaks: [],
      breakCount: 0,
    });
  });

  it('checks the record after a gap for tampering too, but not its link to a missing predecessor', () => {
    const altered = { ...records[2]!, body: '{"n":99}' };
    const result = verify([records[0]!, altered]);
    expect(result.breakCount).toBe(2);
    expect(result.breaks.map((b) => [b.reason, b.seq, b.hash])).toEqual([
      ['seq_gap', 2, null],
      ['hash_mismatch', 3, records[2]!.hash],
    ]);
    expect(result).toMatchObject({ verified: 1, checked: 2, head: { seq: 3 } });
  });

  it('lists at most maxBreaks breaks (default 100, at least 1) and counts them all', () => {
    const many = chainRecords(
      's',
      { seq: 0, hash: GENESIS_HASH },
      Array.from({ length: 101 }, (_, i) => entry(i + 1)),
    );
    const early = { nowMs: T0 };
    const all = verify(many, early);
    expect(all.breakCount).toBe(101);
    expect(all.breaks).toHaveLength(100);
    expect(all.breaks.at(-1)).toMatchObject({ reason: 'future_timestamp', seq: 100 });
    const two = verify(many, { ...early, maxBreaks: 2 });
    expect(two.breaks.map((b) => b.seq)).toEqual([1, 2]);
    expect(two).toMatchObject({ breakCount: 101, checked: 101, verified: 0, seq: 1 });
    expect(verify(many, { ...early, maxBreaks: 0 }).breaks.map((b) => b.seq)).toEqual([1]);
    expect(verify(many, { ...early, maxBreaks: -5 }).breaks.map((b) => b.seq)).toEqual([1]);
  });

  it('a missing tail has no stored hash', () => {
    const head = { seq: 3, hash: records[2]!.hash };
    const result = verify(records.slice(0, 1), { expectedHead: head });
    expect(result).toMatchObject({
      ok: false,
      checked: 1,
      head: { seq: 1, hash: records[0]!.hash },
      broken: {
        reason: 'truncated',
        seq: 2,
        hash: null,
        message: `the log was truncated: the recorded head is record 3 (hash ${head.hash}) but the log ends at record 1; records 2–3 are missing`,
      },
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
    expect(
      describeBreak({
        reason: 'imported_chain_broken',
        seq: 7,
        importedSeq: 3,
        detail: 'bad hmac',
      }),
    ).toBe(
      "record 7 (imported upstream entry 3) does not verify by the upstream chain's rule: bad hmac",
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

describe('acceptance anchors', () => {
  // Records 2 to 5 are timestamped after `nowMs`: "poisoned" before the future check existed.
  const five = chainRecords(
    's',
    { seq: 0, hash: GENESIS_HASH },
    [1, 2, 3, 4, 5].map((i) => entry(i)),
  );
  const nowMs = T0 + 1500;
  const future = (seq: number): ChainBreak => ({
    reason: 'future_timestamp',
    seq,
    timeMs: T0 + seq * 1000,
  });
  const anchor = (through: number, breaks: ChainBreak[]): ChainAcceptance => ({
    stream: 's',
    anchorSeq: 7,
    through: { seq: through, hash: five[through - 1]!.hash },
    breaks,
    by: 'ops',
    reason: 'clock fixed',
    at: '2026-05-14T11:00:00Z',
  });

  it('accepts the breaks it lists through its seq, word for word, and checks the rest strictly', () => {
    const acceptance = anchor(3, [future(2), future(3)]);
    const result = verify(five, { nowMs, acceptance });
    const accepted = (seq: number) => ({
      ...future(seq),
      hash: five[seq - 1]!.hash,
      message: `${describeBreak(future(seq))}; accepted by anchor at seq 3 (anchor 7, by ops)`,
      acceptedThrough: 3,
      anchorSeq: 7,
    });
    expect(result).toMatchObject({
      ok: false,
      verified: 3,
      checked: 5,
      breakCount: 2,
      seq: 4,
      reason: 'future_timestamp',
      acceptedCount: 2,
    });
    expect(result.accepted).toEqual([accepted(2), accepted(3)]);
    expect(result.breaks.map((b) => b.seq)).toEqual([4, 5]);
    expect(result.acceptance).toEqual({
      stream: 's',
      anchorSeq: 7,
      through: { seq: 3, hash: five[2]!.hash },
      by: 'ops',
      reason: 'clock fixed',
      at: '2026-05-14T11:00:00Z',
      breakCount: 2,
    });
    // Through the last record, the stream verifies; without the anchor it does not.
    const all = anchor(5, [2, 3, 4, 5].map(future));
    expect(verify(five, { nowMs, acceptance: all })).toMatchObject({
      ok: true,
      verified: 5,
      breakCount: 0,
      acceptedCount: 4,
    });
    expect(verify(five, { nowMs })).toMatchObject({ ok: false, breakCount: 4 });
    // No anchor applied: the result has no acceptance fields at all.
    expect(Object.keys(verify(five, { nowMs }))).not.toContain('accepted');
  });

  it('does not accept a listed break past its seq, nor a break that differs in any field', () => {
    // An anchor listing a break after its `through` does not cover it.
    expect(verify(five, { nowMs, acceptance: anchor(2, [2, 3, 4, 5].map(future)) })).toMatchObject({
      ok: false,
      seq: 3,
      breakCount: 3,
      acceptedCount: 1,
    });
    const other = { ...future(2), timeMs: T0 };
    expect(verify(five, { nowMs, acceptance: anchor(5, [other]) })).toMatchObject({
      ok: false,
      seq: 2,
      breakCount: 4,
      acceptedCount: 0,
      accepted: [],
    });
  });

  it('reports the accepted record changed since as truncated, and a log that ends before it', () => {
    const moved = {
      ...anchor(3, [future(2), future(3)]),
      through: { seq: 3, hash: 'e'.repeat(64) },
    };
    expect(verify(five, { nowMs, acceptance: moved })).toMatchObject({
      ok: false,
      seq: 3,
      broken: {
        reason: 'truncated',
        seq: 3,
        headSeq: 3,
        expected: 'e'.repeat(64),
        found: five[2]!.hash,
        hash: five[2]!.hash,
      },
    });
    const short = verify(five.slice(0, 3), { nowMs, acceptance: anchor(5, [2, 3].map(future)) });
    expect(short).toMatchObject({
      ok: false,
      seq: 4,
      breakCount: 1,
      broken: {
        reason: 'truncated',
        seq: 4,
        headSeq: 5,
        expected: five[4]!.hash,
        found: 'missing',
        hash: null,
      },
    });
  });

  it('catches a tail rewritten from an accepted record: its break still matches, its hash does not', () => {
    const acceptance = anchor(5, [2, 3, 4, 5].map(future));
    expect(verify(five, { nowMs, acceptance })).toMatchObject({ ok: true, acceptedCount: 4 });
    // Records 3 to 5 rewritten with other bodies but the same times, and chained again.
    const rewritten = [
      ...five.slice(0, 2),
      ...chainRecords(
        's',
        { seq: 2, hash: five[1]!.hash },
        [3, 4, 5].map((i) => entry(i, { body: '{"forged":true}' })),
      ),
    ];
    const result = verify(rewritten, { nowMs, acceptance });
    expect(result).toMatchObject({
      ok: false,
      seq: 5,
      breakCount: 1,
      acceptedCount: 3,
      broken: {
        reason: 'truncated',
        headSeq: 5,
        expected: five[4]!.hash,
        found: rewritten[4]!.hash,
      },
    });
    expect(result.ok ? '' : result.message).toBe(
      `the log's tail was replaced: record 5 should have the recorded head's hash ${five[4]!.hash} but has ${rewritten[4]!.hash}`,
    );
    // The same against a recorded head whose record carries an accepted break.
    expect(
      verify(rewritten, { nowMs, acceptance, expectedHead: { seq: 4, hash: five[3]!.hash } }),
    ).toMatchObject({ ok: false, seq: 4, reason: 'truncated', breakCount: 2 });
  });

  it('lists at most maxBreaks accepted breaks and counts them all', () => {
    const result = verify(five, {
      nowMs,
      maxBreaks: 2,
      acceptance: anchor(5, [2, 3, 4, 5].map(future)),
    });
    expect(result).toMatchObject({ ok: true, acceptedCount: 4 });
    expect(result.accepted?.map((b) => b.seq)).toEqual([2, 3]);
  });

  it('tells breaks apart by every field but the message, and stores them bare', () => {
    const breaks: ChainBreak[] = [
      { reason: 'hash_mismatch', seq: 2, expected: 'aa', found: 'bb' },
      { reason: 'prev_hash_mismatch', seq: 2, expected: 'aa', found: 'bb' },
      { reason: 'seq_gap', seq: 2, expected: 2, found: 4 },
      { reason: 'truncated', seq: 2, headSeq: 3, expected: 'aa', found: 'missing' },
      future(2),
      { reason: 'imported_chain_broken', seq: 2, importedSeq: 9, detail: 'hash' },
    ];
    expect(breaks.map(breakKey)).toEqual([
      '["hash_mismatch",2,"aa","bb"]',
      '["prev_hash_mismatch",2,"aa","bb"]',
      '["seq_gap",2,2,4]',
      '["truncated",2,3,"aa","missing"]',
      `["future_timestamp",2,${String(T0 + 2000)}]`,
      '["imported_chain_broken",2,9,"hash"]',
    ]);
    for (const b of breaks) {
      const reported: VerifyBreak = { ...b, hash: 'h', message: 'm' };
      expect(bareBreak(reported)).toEqual(b);
      expect(breakKey(reported)).toBe(breakKey(b));
    }
  });
});

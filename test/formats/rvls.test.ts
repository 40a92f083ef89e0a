import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createRvlsDecoder,
  decodeRvls,
  decodeRvlsLine,
  defaultEwcState,
  encodeRvls,
  encodeRvlsRecord,
  isKernelError,
  seededRandom,
  type LearningSnapshot,
  type PatternRecord,
  type TrajectoryRecord,
} from '../../src/index.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const FIXTURE = new URL('../fixtures/learning/oxios-sample.rvls', import.meta.url);

export function pattern(id: string, over: Partial<PatternRecord> = {}): PatternRecord {
  return {
    id,
    strategy: `Strategy ${id}`,
    embedding_weights: {},
    success_rate: 0.9,
    use_count: 5,
    domain: 'testing',
    quality: 0.85,
    is_long_term: false,
    last_used: '2026-05-14T10:00:00Z',
    ...over,
  };
}

function trajectory(id: string): TrajectoryRecord {
  return {
    id,
    steps: [{ input: 'test input', output: 'test output', duration_ms: 100, confidence: 0.8 }],
    outcome: 'success',
    duration_ms: 200,
    domain: 'testing',
    created_at: '2026-05-14T10:00:00.500Z',
  };
}

function line(type: string, data: unknown): string {
  return JSON.stringify({ type, data });
}

function file(...lines: string[]): Uint8Array {
  return enc('RVLS\n' + lines.map((l) => l + '\n').join('') + 'REND');
}

function problemOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    if (!isKernelError(e, 'INVALID_RVLS_FILE')) throw e;
    return e.details?.['reason'];
  }
  return 'no error';
}

describe('RVLS encoding', () => {
  it('writes records as serde_json does: field order, compact, floats with .0', () => {
    expect(
      encodeRvlsRecord({
        type: 'pattern',
        data: pattern('p1', { embedding_weights: { a: 1, b: 0.25 }, quality: 1 }),
      }),
    ).toBe(
      '{"type":"pattern","data":{"id":"p1","strategy":"Strategy p1","embedding_weights":{"a":1.0,"b":0.25},' +
        '"success_rate":0.9,"use_count":5,"domain":"testing","quality":1.0,"is_long_term":false,' +
        '"last_used":"2026-05-14T10:00:00Z"}}',
    );
    expect(encodeRvlsRecord({ type: 'trajectory', data: trajectory('t1') })).toBe(
      '{"type":"trajectory","data":{"id":"t1","steps":[{"input":"test input","output":"test output",' +
        '"duration_ms":100,"confidence":0.8}],"outcome":"success","duration_ms":200,"domain":"testing",' +
        '"created_at":"2026-05-14T10:00:00.500Z"}}',
    );
    expect(encodeRvlsRecord({ type: 'ewc', data: defaultEwcState() })).toBe(
      '{"type":"ewc","data":{"tasks_learned":0,"protection_strength":1000.0,"task_weights":{}}}',
    );
  });

  it('frames the file: header, patterns, trajectories, one ewc record, REND without newline', () => {
    const text = encodeRvls({
      patterns: [pattern('p1'), pattern('p2')],
      trajectories: [trajectory('t1')],
      ewc: defaultEwcState(),
    });
    const lines = text.split('\n');
    expect(lines[0]).toBe('RVLS');
    expect(lines.slice(1, -1).map((l) => (JSON.parse(l) as { type: string }).type)).toEqual([
      'pattern',
      'pattern',
      'trajectory',
      'ewc',
    ]);
    expect(lines.at(-1)).toBe('REND');
    expect(text.endsWith('}\nREND')).toBe(true);
  });

  it('refuses to write numbers serde_json would write as null', () => {
    const snap: LearningSnapshot = {
      patterns: [pattern('p', { quality: Number.NaN })],
      trajectories: [],
      ewc: defaultEwcState(),
    };
    expect(() => encodeRvls(snap)).toThrow(/finite/);
    expect(() => encodeRvls({ ...snap, patterns: [pattern('p', { quality: 1e39 })] })).toThrow(
      /finite/,
    );
  });
});

describe('RVLS decoding', () => {
  it('reads a hand-written oxios file: integral floats, nanoseconds, embedding weights, escapes', () => {
    const r = decodeRvls(readFileSync(FIXTURE), 'oxios-sample.rvls');
    expect(r.skippedCount).toBe(0);
    expect(r.patterns.map((p) => p.id)).toEqual([
      '3f8e2c1a-5b7d-4e9f-a1c3-2d4b6f8a0e1c',
      '9c0d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f',
      'p-3',
    ]);
    expect(r.patterns[0]).toEqual({
      id: '3f8e2c1a-5b7d-4e9f-a1c3-2d4b6f8a0e1c',
      strategy: 'Use HTTPS for every outbound call',
      embedding_weights: {
        https: 0.5773502691896258,
        outbound: 0.5773502691896258,
        call: 0.5773502691896258,
      },
      success_rate: 0.9,
      use_count: 5,
      domain: 'security',
      quality: 0.85,
      is_long_term: false,
      last_used: '2026-05-14T10:00:00.123456789Z',
    });
    expect(r.patterns[2]).toMatchObject({
      quality: 1000,
      use_count: 4294967295,
      embedding_weights: { retry: 1, flaky: 2.5e-7, ünïcode: 12 },
    });
    expect(r.trajectories[0]!.steps[1]!.input).toBe('line\nbreak "quoted" \\ tab\t');
    expect(r.trajectories[1]).toMatchObject({
      steps: [],
      duration_ms: 18446744073,
      created_at: '2026-05-14T09:59:59.999999999Z',
    });
    expect(r.ewc).toEqual({
      tasks_learned: 2,
      protection_strength: 1000,
      task_weights: { 'task-1': [0.1, 0.2, 0.3], 'task-2': [0.5, 1e-7, 3.4028235e38] },
    });
  });

  it('round-trips the oxios file byte for byte', () => {
    const bytes = readFileSync(FIXTURE);
    expect(Buffer.from(enc(encodeRvls(decodeRvls(bytes)))).equals(bytes)).toBe(true);
  });

  it('accepts integers for floats, as serde_json does, and writes them back as floats', () => {
    const r = decodeRvls(file(line('pattern', pattern('p', { success_rate: 1, quality: 0 }))));
    expect(r.patterns[0]!.success_rate).toBe(1);
    expect(encodeRvlsRecord({ type: 'pattern', data: r.patterns[0]! })).toContain(
      '"success_rate":1.0',
    );
    const ewc = decodeRvls(
      file(
        '{"type":"ewc","data":{"tasks_learned":1,"protection_strength":1000,"task_weights":{"t":[1,2]}}}',
      ),
    );
    expect(ewc.ewc).toEqual({
      tasks_learned: 1,
      protection_strength: 1000,
      task_weights: { t: [1, 2] },
    });
  });

  it('decodes the same whatever the chunking', () => {
    const bytes = readFileSync(FIXTURE);
    const whole = decodeRvls(bytes);
    const random = seededRandom(5);
    for (let round = 0; round < 50; round++) {
      const d = createRvlsDecoder({ source: 'chunks' });
      for (let at = 0; at < bytes.length;) {
        const n = 1 + Math.floor(random.float() * 40);
        d.push(bytes.subarray(at, at + n));
        at += n;
      }
      expect(d.end()).toEqual(whole);
    }
  });

  it('gives an empty store for a file with no records, and the default EWC state when it has none', () => {
    const r = decodeRvls(enc('RVLS\nREND'));
    expect(r).toMatchObject({
      patterns: [],
      trajectories: [],
      ewc: defaultEwcState(),
      ewcRecords: 0,
    });
  });

  it('refuses files in the reference order: too short, header, footer, UTF-8', () => {
    expect(problemOf(() => decodeRvls(enc('RVLS\nREN')))).toBe('too-short');
    expect(problemOf(() => decodeRvls(enc('XXXX')))).toBe('too-short');
    expect(problemOf(() => decodeRvls(enc('INVALID\nsome data\nREND')))).toBe('bad-header');
    expect(problemOf(() => decodeRvls(enc('rvls\n{}\nREND')))).toBe('bad-header');
    expect(problemOf(() => decodeRvls(enc('RVLS\n{}\nREND\n')))).toBe('bad-footer');
    expect(problemOf(() => decodeRvls(enc('RVLS\n{"type":"ewc"')))).toBe('bad-footer');
    const badUtf8 = new Uint8Array([...enc('RVLS\n{"a":"'), 0xff, ...enc('"}\nREND')]);
    expect(problemOf(() => decodeRvls(badUtf8))).toBe('invalid-utf8');
    const truncatedChar = new Uint8Array([...enc('RVLS\n'), 0xc3, ...enc('REND')]);
    expect(problemOf(() => decodeRvls(truncatedChar))).toBe('invalid-utf8');
    // a bad byte and a bad footer: the footer is reported, as the reference checks it first
    const both = new Uint8Array([...enc('RVLS\n'), 0xff, ...enc('\nRENX')]);
    expect(problemOf(() => decodeRvls(both))).toBe('bad-footer');
  });

  it('names the file and says what to do', () => {
    try {
      decodeRvls(enc('NOPE\n\nREND'), '/data/learning.rvls');
      expect.unreachable();
    } catch (e) {
      expect(isKernelError(e, 'INVALID_RVLS_FILE')).toBe(true);
      expect((e as Error).message).toContain('/data/learning.rvls');
      expect((e as Error).message).toMatch(/restore|move it aside/);
    }
  });

  it('skips malformed lines with a reason and keeps the rest', () => {
    const r = decodeRvls(
      file(
        line('pattern', pattern('ok1')),
        'not json',
        line('widget', {}),
        '{"data":{}}',
        '{"type":"pattern"}',
        line('pattern', { ...pattern('x'), use_count: -1 }),
        line('pattern', { ...pattern('x'), use_count: 2 ** 32 }),
        line('pattern', { ...pattern('x'), success_rate: '0.9' }),
        line('pattern', { ...pattern('x'), quality: 1e39 }),
        line('pattern', { ...pattern('x'), last_used: 'yesterday' }),
        line('pattern', { ...pattern('x'), embedding_weights: [1] }),
        line('pattern', { ...pattern('x'), is_long_term: 1 }),
        line('trajectory', {
          ...trajectory('x'),
          steps: [{ input: 'a', output: 'b', duration_ms: 1 }],
        }),
        line('trajectory', { ...trajectory('x'), duration_ms: 2 ** 60 }),
        line('ewc', { tasks_learned: 1, protection_strength: 1, task_weights: { t: ['a'] } }),
        '[1,2]',
        line('pattern', pattern('ok2')),
      ),
    );
    expect(r.patterns.map((p) => p.id)).toEqual(['ok1', 'ok2']);
    expect(r.skippedCount).toBe(15);
    expect(r.skipped.map((s) => s.line)).toEqual([
      3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
    ]);
    const reasons = r.skipped.map((s) => s.reason);
    expect(reasons[0]).toMatch(/invalid JSON/);
    expect(reasons[1]).toMatch(/unknown record type "widget"/);
    expect(reasons[2]).toMatch(/missing field `type`/);
    expect(reasons[3]).toMatch(/missing field `data`/);
    expect(reasons[4]).toMatch(/use_count/);
    expect(reasons[6]).toMatch(/success_rate/);
    expect(reasons[8]).toMatch(/last_used/);
    expect(reasons[11]).toMatch(/missing field `steps\[0\]\.confidence`/);
  });

  it('trims lines like Rust: U+0085 is whitespace, U+FEFF is not; empty lines are ignored', () => {
    const p = line('pattern', pattern('p'));
    const r = decodeRvls(
      file(
        '',
        '   ',
        `\t${p}\r`,
        `\u0085${p.replace('"p"', '"q"')}\u2028`,
        `\ufeff${p.replace('"p"', '"z"')}`,
      ),
    );
    expect(r.patterns.map((x) => x.id)).toEqual(['p', 'q']);
    expect(r.skippedCount).toBe(1);
    expect(decodeRvlsLine('  \r')).toEqual({ kind: 'empty' });
  });

  it('keeps a BOM at the start of the body as data (not silently stripped)', () => {
    const r = decodeRvls(enc('RVLS\n\ufeff' + line('pattern', pattern('p')) + '\nREND'));
    expect(r.patterns).toEqual([]);
    expect(r.skippedCount).toBe(1);
  });

  it('reads integer fields only from integer literals, as serde does', () => {
    const base = line('pattern', pattern('p'));
    expect(decodeRvlsLine(base.replace('"use_count":5', '"use_count":5.0'))).toMatchObject({
      kind: 'malformed',
    });
    expect(decodeRvlsLine(base.replace('"use_count":5', '"use_count":5e0'))).toMatchObject({
      kind: 'malformed',
    });
    expect(decodeRvlsLine(base.replace('"use_count":5', '"use\\u005fcount":5.0'))).toMatchObject({
      kind: 'malformed',
    });
    // a float weight under a map key that happens to be "use_count" is fine
    const mapKey = line('pattern', pattern('p', { embedding_weights: { use_count: 0.5 } }));
    expect(decodeRvlsLine(mapKey)).toMatchObject({ kind: 'record' });
    const t = line('trajectory', trajectory('t'));
    expect(decodeRvlsLine(t.replace('"duration_ms":100', '"duration_ms":1E2'))).toMatchObject({
      kind: 'malformed',
    });
    expect(decodeRvlsLine(t.replace('"duration_ms":200', '"duration_ms":200.5'))).toMatchObject({
      kind: 'malformed',
    });
    expect(
      decodeRvlsLine(
        '{"type":"ewc","data":{"tasks_learned":1.0,"protection_strength":1,"task_weights":{}}}',
      ),
    ).toMatchObject({
      kind: 'malformed',
    });
  });

  it('refuses lone surrogates, which serde_json refuses', () => {
    const base = line('pattern', pattern('p'));
    expect(decodeRvlsLine(base.replace('Strategy p', 'bad \\ud800 text'))).toMatchObject({
      kind: 'malformed',
    });
    expect(decodeRvlsLine(base.replace('Strategy p', 'ok \\ud83d\\ude00 pair'))).toMatchObject({
      kind: 'record',
    });
  });

  it('converts other timestamp spellings to chrono serde form; keeps canonical ones exactly', () => {
    const at = (ts: string): unknown => {
      const r = decodeRvlsLine(line('pattern', pattern('p', { last_used: ts })));
      return r.kind === 'record' ? (r.record.data as PatternRecord).last_used : r.kind;
    };
    expect(at('2026-05-14T10:00:00.123456789Z')).toBe('2026-05-14T10:00:00.123456789Z');
    expect(at('2026-05-14T10:00:00.100Z')).toBe('2026-05-14T10:00:00.100Z');
    expect(at('2026-05-14T10:00:00.1Z')).toBe('2026-05-14T10:00:00.100Z');
    expect(at('2026-05-14T10:00:00.000Z')).toBe('2026-05-14T10:00:00Z');
    expect(at('2026-05-14T10:00:00.123000Z')).toBe('2026-05-14T10:00:00.123Z');
    expect(at('2026-05-14T12:00:00+02:00')).toBe('2026-05-14T10:00:00Z');
    expect(at('2026-05-14 10:00:00Z')).toBe('2026-05-14T10:00:00Z');
    expect(at('2026-02-30T10:00:00Z')).toBe('malformed');
    expect(at('2026-05-14T24:00:00Z')).toBe('malformed');
  });

  it('skips over-long lines without holding them, and goes on', () => {
    const d = createRvlsDecoder({ source: 'x', maxLineLength: 1000 });
    d.push(enc('RVLS\n'));
    for (let i = 0; i < 100; i++) d.push(enc('y'.repeat(1000)));
    d.push(enc('\n' + line('pattern', pattern('after')) + '\nREND'));
    const r = d.end();
    expect(r.patterns.map((p) => p.id)).toEqual(['after']);
    expect(r.skipped).toEqual([{ line: 2, reason: 'line longer than 1000 characters' }]);
  });

  it('keeps the last of several ewc records, as the reference does', () => {
    const r = decodeRvls(
      file(
        line('ewc', { tasks_learned: 1, protection_strength: 1, task_weights: {} }),
        line('ewc', { tasks_learned: 7, protection_strength: 2, task_weights: {} }),
      ),
    );
    expect(r.ewc.tasks_learned).toBe(7);
    expect(r.ewcRecords).toBe(2);
  });
});

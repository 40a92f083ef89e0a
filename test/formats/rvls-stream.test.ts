/**
 * The RVLS stream decoder at its edges: UTF-8 cut at every byte by chunk boundaries (a known
 * answer: the same records as the whole file), line-length limits that hold whatever the
 * chunking, the cap on skipped-line details, the last line before the footer, use after `end()`,
 * and Rust's notion of whitespace. Found by mutation testing (docs/testing.md).
 */
import { describe, expect, it } from 'vitest';
import { isKernelError } from '../../src/index.js';
import {
  MAX_SKIPPED_DETAILS,
  createRvlsDecoder,
  decodeRvls,
  decodeRvlsLine,
  readRvlsStream,
  type RvlsDecodeResult,
} from '../../src/formats/rvls.js';
import type { PatternRecord } from '../../src/formats/learning-records.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function pattern(id: string, strategy: string): PatternRecord {
  return {
    id,
    strategy,
    embedding_weights: {},
    success_rate: 0.5,
    use_count: 1,
    domain: 'd',
    quality: 0.5,
    is_long_term: false,
    last_used: '2026-05-14T10:00:00Z',
  };
}

const line = (p: PatternRecord): string => JSON.stringify({ type: 'pattern', data: p });

/** Characters of every UTF-8 length, and leads on the boundaries: C3, E0, E2, ED, EF, F0, F4. */
const STRATEGIES = ['ß é', 'ठ U+0920 (E0 lead)', '€ and ퟻ', '\uffee', '🎉 and 𝄞', '\u{10fffd}'];
const PATTERNS = STRATEGIES.map((s, i) => pattern(`p${i}`, s));
const FILE = enc(`RVLS\n${PATTERNS.map((p) => line(p) + '\n').join('')}REND`);

function decodeChunks(chunks: readonly Uint8Array[], maxLineLength?: number): RvlsDecodeResult {
  const d = createRvlsDecoder({
    source: 'chunks',
    ...(maxLineLength === undefined ? {} : { maxLineLength }),
  });
  for (const c of chunks) d.push(c);
  return d.end();
}

function problemOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    if (isKernelError(error, 'INVALID_RVLS_FILE')) return error.details?.['reason'];
    throw error;
  }
  return 'no error';
}

describe('RVLS stream decoder: UTF-8 cut by chunk boundaries', () => {
  it('the whole file decodes to the records written (the known answer)', () => {
    const whole = decodeRvls(FILE);
    expect(whole.patterns).toEqual(PATTERNS);
    expect(whole.skippedCount).toBe(0);
  });

  it('decodes the same records when the file is cut in two at any byte', () => {
    for (let at = 0; at <= FILE.length; at++) {
      const r = decodeChunks([FILE.subarray(0, at), FILE.subarray(at)]);
      expect(r.patterns, `cut at byte ${at}`).toEqual(PATTERNS);
      expect(r.skippedCount, `cut at byte ${at}`).toBe(0);
    }
  });

  it('decodes the same records when cut in three anywhere inside a multi-byte character', () => {
    const starts: number[] = [];
    for (let i = 0; i < FILE.length; i++) if (FILE[i]! >= 0xc0) starts.push(i);
    expect(starts.length).toBeGreaterThan(8);
    for (const lead of starts) {
      const len = FILE[lead]! >= 0xf0 ? 4 : FILE[lead]! >= 0xe0 ? 3 : 2;
      for (let a = lead + 1; a < lead + len; a++)
        for (let b = a; b <= lead + len; b++) {
          const r = decodeChunks([FILE.subarray(0, a), FILE.subarray(a, b), FILE.subarray(b)]);
          expect(r.patterns, `cuts at ${a} and ${b}`).toEqual(PATTERNS);
        }
    }
  });

  it('decodes the same records fed one byte at a time, and from an async stream', async () => {
    const bytes = Array.from(FILE, (b) => Uint8Array.of(b));
    expect(decodeChunks(bytes).patterns).toEqual(PATTERNS);
    async function* stream(): AsyncGenerator<Uint8Array> {
      for (const b of bytes) yield b;
    }
    expect((await readRvlsStream(stream(), { source: 'async' })).patterns).toEqual(PATTERNS);
  });

  it('refuses invalid UTF-8 wherever the chunks cut it', () => {
    const cases: [string, number[]][] = [
      ['a lead byte followed by ASCII', [0xc3, 0x41]],
      ['an E0 lead with a too-small continuation (overlong)', [0xe0, 0x80, 0x80]],
      ['an encoded surrogate', [0xed, 0xa0, 0x80]],
      ['a lone continuation byte', [0x80]],
      ['a lead byte that never starts a character', [0xff, 0x41, 0x41, 0x41]],
      ['a four-byte sequence beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ];
    for (const [what, bad] of cases) {
      const bytes = new Uint8Array([
        ...enc(`RVLS\n${line(PATTERNS[0]!)}\n{"x":"`),
        ...bad,
        ...enc(`"}\n${line(PATTERNS[1]!)}\nREND`),
      ]);
      for (let at = 0; at <= bytes.length; at++)
        expect(
          problemOf(() => decodeChunks([bytes.subarray(0, at), bytes.subarray(at)])),
          `${what}, cut at ${at}`,
        ).toBe('invalid-utf8');
    }
  });

  it('refuses a character left unfinished right before the footer', () => {
    for (const tail of [[0xc3], [0xe0, 0xa4], [0xf0, 0x9f, 0x8e]]) {
      const bytes = new Uint8Array([...enc('RVLS\n'), ...tail, ...enc('REND')]);
      for (let at = 0; at <= bytes.length; at++)
        expect(problemOf(() => decodeChunks([bytes.subarray(0, at), bytes.subarray(at)]))).toBe(
          'invalid-utf8',
        );
    }
  });
});

describe('RVLS stream decoder: lines', () => {
  const p = line(pattern('p', 'x'));

  it('reads a last line that has no newline before the footer', () => {
    const r = decodeRvls(enc(`RVLS\n${p}REND`));
    expect(r.patterns.map((x) => x.id)).toEqual(['p']);
    const two = decodeRvls(enc(`RVLS\n${p}\n${p.replace('"p"', '"q"')}REND`));
    expect(two.patterns.map((x) => x.id)).toEqual(['p', 'q']);
  });

  it('applies maxLineLength the same whatever the chunking: a line at the limit is read', () => {
    const bytes = enc(`RVLS\n${p}\n${p.replace('"p"', '"q"')}\nREND`);
    for (const chunking of [
      [bytes],
      Array.from(bytes, (b) => Uint8Array.of(b)),
      [bytes.subarray(0, 20), bytes.subarray(20)],
    ]) {
      expect(decodeChunks(chunking, p.length).patterns.map((x) => x.id)).toEqual(['p', 'q']);
      const short = decodeChunks(chunking, p.length - 1);
      expect(short.patterns).toEqual([]);
      expect(short.skippedCount).toBe(2);
      expect(short.skipped).toEqual([
        { line: 2, reason: `line longer than ${p.length - 1} characters` },
        { line: 3, reason: `line longer than ${p.length - 1} characters` },
      ]);
    }
  });

  it('skips a too-long last line without newline and counts its line number', () => {
    const bytes = enc(`RVLS\n${p}\n${'y'.repeat(p.length + 1)}REND`);
    const r = decodeChunks(
      Array.from(bytes, (b) => Uint8Array.of(b)),
      p.length,
    );
    expect(r.patterns.map((x) => x.id)).toEqual(['p']);
    expect(r.skipped).toEqual([{ line: 3, reason: `line longer than ${p.length} characters` }]);
  });

  it('describes at most MAX_SKIPPED_DETAILS skipped lines but counts them all', () => {
    const extra = 5;
    const bad = Array.from({ length: MAX_SKIPPED_DETAILS + extra }, () => 'not json\n').join('');
    const r = decodeRvls(enc(`RVLS\n${bad}${p}\nREND`));
    expect(r.patterns.map((x) => x.id)).toEqual(['p']);
    expect(r.skippedCount).toBe(MAX_SKIPPED_DETAILS + extra);
    expect(r.skipped).toHaveLength(MAX_SKIPPED_DETAILS);
    expect(r.skipped.at(-1)!.line).toBe(MAX_SKIPPED_DETAILS + 1);
    // the same cap for lines skipped as too long
    const long = Array.from({ length: MAX_SKIPPED_DETAILS + extra }, () => 'yyyy\n').join('');
    const chunks = Array.from(enc(`RVLS\n${long}REND`), (b) => Uint8Array.of(b));
    const r2 = decodeChunks(chunks, 3);
    expect(r2.skippedCount).toBe(MAX_SKIPPED_DETAILS + extra);
    expect(r2.skipped).toHaveLength(MAX_SKIPPED_DETAILS);
  });

  it('refuses use after end()', () => {
    const d = createRvlsDecoder({ source: 'x' });
    d.push(enc('RVLS\nREND'));
    d.end();
    for (const use of [() => d.push(enc('x')), () => d.push(new Uint8Array(0)), () => d.end()]) {
      try {
        use();
        expect.unreachable();
      } catch (error) {
        expect(isKernelError(error, 'INVALID_ARGUMENT')).toBe(true);
        expect((error as Error).message).toBe('This RVLS decoder has already ended.');
      }
    }
  });
});

describe('RVLS line trimming: Rust whitespace', () => {
  const p = line(pattern('p', 'x'));
  const RUST_WHITESPACE = [
    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2005, 0x200a, 0x2028, 0x2029,
    0x202f, 0x205f, 0x3000,
  ];
  const NOT_WHITESPACE = [
    0x08, 0x0e, 0x1f, 0x84, 0x86, 0x9f, 0xa1, 0x167f, 0x1681, 0x1fff, 0x200b, 0x2027, 0x202a,
    0x202e, 0x2030, 0x205e, 0x2060, 0x2fff, 0x3001, 0xfeff,
  ];

  it('trims every Rust whitespace character on either side', () => {
    for (const c of RUST_WHITESPACE) {
      const ws = String.fromCharCode(c);
      const hex = c.toString(16);
      expect(decodeRvlsLine(ws + ws), hex).toEqual({ kind: 'empty' });
      expect(decodeRvlsLine(`${ws}${p}`).kind, `leading ${hex}`).toBe('record');
      expect(decodeRvlsLine(`${p}${ws}`).kind, `trailing ${hex}`).toBe('record');
    }
  });

  it('keeps every other character, so the line is malformed', () => {
    for (const c of NOT_WHITESPACE) {
      const ch = String.fromCharCode(c);
      const hex = c.toString(16);
      expect(decodeRvlsLine(ch).kind, hex).toBe('malformed');
      expect(decodeRvlsLine(`${ch}${p}`).kind, `leading ${hex}`).toBe('malformed');
      expect(decodeRvlsLine(`${p}${ch}`).kind, `trailing ${hex}`).toBe('malformed');
    }
  });

  it('cuts a long reason to 300 characters', () => {
    const r = decodeRvlsLine(`{"type":"${'w'.repeat(400)}","data":{}}`);
    expect(r.kind).toBe('malformed');
    const reason = (r as { reason: string }).reason;
    expect(reason).toHaveLength(301);
    expect(reason.endsWith('…')).toBe(true);
    const short = decodeRvlsLine('{"type":"widget","data":{}}');
    expect((short as { reason: string }).reason).toBe(
      'unknown record type "widget"; expected "pattern", "trajectory" or "ewc"',
    );
  });
});

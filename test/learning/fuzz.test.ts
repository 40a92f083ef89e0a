import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  canonicalF32,
  createLearningStore,
  createRvlsDecoder,
  decodeRvls,
  encodeRvls,
  isKernelError,
  openFileLearningPersistence,
  seededRandom,
  type Random,
  type RvlsDecodeResult,
} from '../../src/index.js';

const BASE = readFileSync(new URL('../fixtures/learning/oxios-sample.rvls', import.meta.url));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

const TOKENS = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\',
  '\\u',
  '\\ud800',
  '\n',
  '\r\n',
  ' ',
  '\u0085',
  '\ufeff',
  '0',
  '-0',
  '1.0',
  '1e400',
  '-1',
  '4294967296',
  '9007199254740993',
  '1e-400',
  'true',
  'null',
  '"type"',
  '"data"',
  '"pattern"',
  '"trajectory"',
  '"ewc"',
  '"use_count":5.0',
  '"duration_ms":1e3',
  '"last_used":"2026-13-01T00:00:00Z"',
  'RVLS\n',
  'REND',
  '\u{1F600}',
  'é',
];

function int(random: Random, n: number): number {
  return Math.floor(random.float() * n);
}

function mutate(random: Random, input: Uint8Array): Uint8Array {
  let bytes: Uint8Array = Uint8Array.from(input);
  const ops = 1 + int(random, 4);
  for (let o = 0; o < ops; o++) {
    const at = int(random, bytes.length + 1);
    switch (int(random, 7)) {
      case 0: // flip a bit
        if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)]! ^= 1 << int(random, 8);
        break;
      case 1: // random bytes in
        bytes = splice(bytes, at, 0, random.fill(new Uint8Array(1 + int(random, 8))));
        break;
      case 2: // a range out
        bytes = splice(bytes, at, int(random, 64), new Uint8Array(0));
        break;
      case 3: // truncate
        bytes = bytes.subarray(0, at);
        break;
      case 4: // a JSON-ish token in
        bytes = splice(bytes, at, int(random, 3), enc(TOKENS[int(random, TOKENS.length)]!));
        break;
      case 5: // a range duplicated
        bytes = splice(bytes, at, 0, bytes.subarray(at, at + int(random, 200)));
        break;
      default: // a line swapped for random tokens
        bytes = splice(
          bytes,
          at,
          int(random, 40),
          enc(
            Array.from({ length: int(random, 12) }, () => TOKENS[int(random, TOKENS.length)]).join(
              '',
            ),
          ),
        );
    }
  }
  return bytes;
}

function splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length - Math.min(remove, bytes.length - at) + insert.length);
  out.set(bytes.subarray(0, at));
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

function randomFile(random: Random): Uint8Array {
  switch (int(random, 3)) {
    case 0:
      return random.fill(new Uint8Array(int(random, 64)));
    case 1:
      return enc(
        'RVLS\n' +
          Array.from({ length: int(random, 20) }, () => TOKENS[int(random, TOKENS.length)]).join(
            '',
          ) +
          'REND',
      );
    default:
      return mutate(random, mutate(random, BASE));
  }
}

/** Decodes, returning the result or the typed problem; anything else fails the test. */
function outcome(decode: () => RvlsDecodeResult): RvlsDecodeResult | string {
  try {
    return decode();
  } catch (e) {
    if (!isKernelError(e, 'INVALID_RVLS_FILE')) throw e;
    return String(e.details?.['reason']);
  }
}

describe('RVLS fuzzing', () => {
  it('only ever loads cleanly or fails with a typed error, whatever the chunking', () => {
    const random = seededRandom(2024);
    let loaded = 0;
    let refused = 0;
    let skipped = 0;
    for (let i = 0; i < 4000; i++) {
      const bytes = i % 2 === 0 ? mutate(random, BASE) : randomFile(random);
      const whole = outcome(() => decodeRvls(bytes, 'fuzz'));
      const chunked = outcome(() => {
        const d = createRvlsDecoder({ source: 'fuzz', maxLineLength: 4096 });
        for (let at = 0; at < bytes.length;) {
          const n = 1 + int(random, 64);
          d.push(bytes.subarray(at, at + n));
          at += n;
        }
        return d.end();
      });
      expect(chunked).toEqual(whole);
      if (typeof whole === 'string') {
        refused++;
        continue;
      }
      loaded++;
      skipped += whole.skippedCount;
      // whatever was accepted is valid: it encodes, decodes back without loss (f32 fields written
      // with more digits than an f32 holds come back rounded), and from then on is stable
      const text = encodeRvls(whole);
      const again = decodeRvls(enc(text));
      expect(again.skippedCount).toBe(0);
      expect(again.patterns.map((p) => p.id)).toEqual(whole.patterns.map((p) => p.id));
      expect(again.patterns.map((p) => [p.strategy, p.embedding_weights, p.last_used])).toEqual(
        whole.patterns.map((p) => [p.strategy, p.embedding_weights, p.last_used]),
      );
      expect(again.patterns.map((p) => p.quality)).toEqual(
        whole.patterns.map((p) => canonicalF32(p.quality)),
      );
      expect(again.trajectories.map((t) => t.created_at)).toEqual(
        whole.trajectories.map((t) => t.created_at),
      );
      expect(encodeRvls(again)).toBe(text);
    }
    // the generator exercises every path
    expect(loaded).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(500);
    expect(skipped).toBeGreaterThan(500);
  });

  it('loads mutated files through the store and the file persistence without crashing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kerno-fuzz-'));
    try {
      const path = join(dir, 'fuzz.rvls');
      const store = createLearningStore({
        persistence: await openFileLearningPersistence({ path }),
      });
      const random = seededRandom(99);
      for (let i = 0; i < 150; i++) {
        const bytes = mutate(random, BASE);
        await writeFile(path, bytes);
        const expected = outcome(() => decodeRvls(bytes, path));
        const got = await store.load().then(
          (s) => s.patternCount,
          (e: unknown) => {
            if (!isKernelError(e, 'INVALID_RVLS_FILE')) throw e;
            return String(e.details?.['reason']);
          },
        );
        expect(got).toEqual(
          typeof expected === 'string'
            ? expected
            : new Set(expected.patterns.map((p) => p.id)).size,
        );
      }
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

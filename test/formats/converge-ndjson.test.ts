import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  encodeEnvelopeLine,
  isKernelError,
  parseEnvelope,
  readEnvelopeLines,
  type EnvelopeLine,
  type ExperienceEnvelope,
  type KernelError,
  type ReadEnvelopeLinesOptions,
} from '../../src/index.js';

const FIXTURE = JSON.parse(
  readFileSync(new URL('../fixtures/ledger/converge-envelopes.json', import.meta.url), 'utf8'),
) as ExperienceEnvelope[];
const LINES = FIXTURE.map((e) => JSON.stringify(e));
const NDJSON = LINES.map((l) => l + '\n').join('');
const BYTES = new TextEncoder().encode(NDJSON);

async function readAll(
  source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  options?: ReadEnvelopeLinesOptions,
): Promise<EnvelopeLine[]> {
  const out: EnvelopeLine[] = [];
  for await (const item of readEnvelopeLines(source, options)) out.push(item);
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<KernelError> {
  try {
    await promise;
  } catch (error) {
    expect(isKernelError(error), String(error)).toBe(true);
    return error as KernelError;
  }
  throw new Error('expected a KernelError');
}

const texts = (items: EnvelopeLine[]): string[] => items.map((i) => JSON.stringify(i.envelope));

describe('encodeEnvelopeLine', () => {
  it('writes compact JSON in serde order, one line, newline-terminated', () => {
    for (const envelope of FIXTURE) {
      const line = encodeEnvelopeLine(envelope);
      expect(line).toBe(JSON.stringify(envelope) + '\n');
      expect(line.indexOf('\n')).toBe(line.length - 1);
    }
  });

  it('reorders keys of a hand-built envelope and refuses a malformed one', () => {
    const shuffled = {
      event: {
        data: { limit: '1', resource: 'Cost', chain_id: 'c', observed: null },
        type: 'BudgetExceeded',
      },
      correlation_id: null,
      tenant_id: null,
      occurred_at: '2026-01-21T12:00:00Z',
      event_id: 'e-1',
    } as unknown as ExperienceEnvelope;
    expect(encodeEnvelopeLine(shuffled)).toBe(
      '{"event_id":"e-1","occurred_at":"2026-01-21T12:00:00Z","tenant_id":null,"correlation_id":null,' +
        '"event":{"type":"BudgetExceeded","data":{"chain_id":"c","resource":"Cost","limit":"1","observed":null}}}\n',
    );
    expect(() => encodeEnvelopeLine({ ...shuffled, occurred_at: '' })).toThrow(/occurred_at/);
  });

  it('round-trips through the reader', async () => {
    const written = FIXTURE.map((e) => encodeEnvelopeLine(parseEnvelope(e))).join('');
    expect(texts(await readAll([written]))).toEqual(LINES);
  });
});

describe('readEnvelopeLines: chunking', () => {
  it('reads the whole fixture from one chunk with 1-based line numbers', async () => {
    const items = await readAll([NDJSON]);
    expect(texts(items)).toEqual(LINES);
    expect(items.map((i) => i.line)).toEqual(LINES.map((_, i) => i + 1));
  });

  it('reads the same at every byte split point (multi-byte characters cut in half)', async () => {
    // The fixture contains 2-, 3- and 4-byte UTF-8 characters (ü, ✓, 😀).
    const firstLine = new TextEncoder().encode(LINES[0]! + '\n');
    expect(firstLine.length).toBeGreaterThan(LINES[0]!.length + 3);
    for (let cut = 1; cut < firstLine.length + 40; cut++) {
      const items = await readAll([BYTES.subarray(0, cut), BYTES.subarray(cut)]);
      expect(texts(items), `cut at byte ${cut}`).toEqual(LINES);
    }
  });

  it('reads one byte per chunk', async () => {
    const chunks = Array.from(BYTES, (b) => Uint8Array.of(b));
    expect(texts(await readAll(chunks))).toEqual(LINES);
  });

  it('reads string chunks split at every character of the first line', async () => {
    for (let cut = 1; cut < LINES[0]!.length + 2; cut += 7) {
      const items = await readAll([NDJSON.slice(0, cut), NDJSON.slice(cut)]);
      expect(texts(items)).toEqual(LINES);
    }
  });

  it('handles CRLF, a last line without newline, blank lines and a BOM', async () => {
    const text = '\uFEFF' + LINES[0] + '\r\n\r\n   \n' + LINES[1] + '\r\n\n' + LINES[2];
    for (const source of [[text], [new TextEncoder().encode(text)]]) {
      const reader = readEnvelopeLines(source);
      const items: EnvelopeLine[] = [];
      for await (const item of reader) items.push(item);
      expect(texts(items)).toEqual(LINES.slice(0, 3));
      expect(items.map((i) => i.line)).toEqual([1, 4, 6]);
      expect(reader.lines).toBe(6);
      expect(reader.skipped).toBe(0);
    }
  });

  it('keeps a CR split from its LF across chunks out of the data', async () => {
    const text = LINES[0] + '\r\n' + LINES[1] + '\r\n';
    const cut = LINES[0]!.length + 1; // between \r and \n
    expect(texts(await readAll([text.slice(0, cut), text.slice(cut)]))).toEqual(LINES.slice(0, 2));
  });

  it('yields the first envelope before the source is exhausted (it streams)', async () => {
    let pulled = 0;
    function* source(): Generator<string> {
      for (const line of LINES) {
        pulled++;
        yield line + '\n';
      }
    }
    const iterator = readEnvelopeLines(source())[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value).toMatchObject({ line: 1 });
    expect(pulled).toBe(1);
    await iterator.return?.();
  });

  it('reads a real file through fs.createReadStream with tiny buffers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kerno-ndjson-'));
    try {
      const path = join(dir, 'experience.ndjson');
      writeFileSync(path, NDJSON);
      const items = await readAll(createReadStream(path, { highWaterMark: 13 }));
      expect(texts(items)).toEqual(LINES);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('can be iterated only once', async () => {
    const reader = readEnvelopeLines([NDJSON]);
    for await (const _ of reader) break;
    expect(() => reader[Symbol.asyncIterator]()).toThrow(/only once/);
  });
});

describe('readEnvelopeLines: bad lines', () => {
  const badJson = LINES[0] + '\n' + LINES[1] + '\n{"event_id": "evt-x", oops}\n' + LINES[2] + '\n';
  const invalidEnvelope = (() => {
    const broken = structuredClone(FIXTURE[13]!) as unknown as {
      event: { data: Record<string, unknown> };
    };
    delete broken.event.data.chain_id;
    return LINES[0] + '\n' + JSON.stringify(broken) + '\n' + LINES[1] + '\n';
  })();

  it('throws INVALID_EVENT with the line number for malformed JSON', async () => {
    const error = await rejection(readAll([badJson]));
    expect(error.code).toBe('INVALID_EVENT');
    expect(error.details).toMatchObject({ line: 3, problem: 'json' });
    expect(error.message).toMatch(/^Line 3 is not valid JSON/);
  });

  it('throws INVALID_EVENT with the line number and field path for a bad envelope', async () => {
    const error = await rejection(readAll([invalidEnvelope]));
    expect(error.details).toMatchObject({
      line: 2,
      problem: 'envelope',
      path: 'event.data.chain_id',
    });
    expect(error.message).toContain('Line 2: Invalid experience envelope at event.data.chain_id');
  });

  it('skips bad lines on request, counts them and reports each one', async () => {
    const seen: unknown[] = [];
    const reader = readEnvelopeLines([badJson + invalidEnvelope], {
      onError: 'skip',
      onSkip: (e) => seen.push(e.details),
    });
    const items: EnvelopeLine[] = [];
    for await (const item of reader) items.push(item);
    expect(items.map((i) => i.line)).toEqual([1, 2, 4, 5, 7]);
    expect(reader.skipped).toBe(2);
    expect(seen).toMatchObject([
      { line: 3, problem: 'json' },
      { line: 6, problem: 'envelope', path: 'event.data.chain_id' },
    ]);
  });

  it('caps line length, and in skip mode discards the long line up to its newline', async () => {
    const long = '{"event_id":"' + 'x'.repeat(5000) + '"}';
    const text = LINES[3] + '\n' + long + '\n' + LINES[4] + '\n';
    const max = Math.max(LINES[3]!.length, LINES[4]!.length) + 10;
    // Feed the long line in many chunks so the cap must trip before the line is complete.
    const chunks = text.match(/[\s\S]{1,97}/g)!;

    const error = await rejection(readAll(chunks, { maxLineLength: max }));
    expect(error.details).toMatchObject({ line: 2, problem: 'too_long' });
    expect(error.message).toContain(`over the ${max} limit`);

    const reader = readEnvelopeLines(chunks, { maxLineLength: max, onError: 'skip' });
    const items: EnvelopeLine[] = [];
    for await (const item of reader) items.push(item);
    expect(texts(items)).toEqual([LINES[3], LINES[4]]);
    expect(items.map((i) => i.line)).toEqual([1, 3]);
    expect(reader.skipped).toBe(1);
  });

  it('accepts a line exactly at the cap, CRLF included', async () => {
    const max = LINES[0]!.length;
    expect(texts(await readAll([LINES[0] + '\r\n'], { maxLineLength: max }))).toEqual([LINES[0]]);
    const error = await rejection(readAll([LINES[0] + '\r\n'], { maxLineLength: max - 1 }));
    expect(error.details).toMatchObject({ line: 1, problem: 'too_long' });
  });

  it('rejects invalid UTF-8 even in skip mode', async () => {
    const bad = new Uint8Array([...new TextEncoder().encode(LINES[0] + '\n'), 0xff, 0xfe, 0x0a]);
    const error = await rejection(readAll([bad], { onError: 'skip' }));
    expect(error.details).toMatchObject({ line: 2, problem: 'utf8' });
    const truncated = new TextEncoder().encode(LINES[0] + '\n"ü').subarray(0, -1);
    expect((await rejection(readAll([truncated]))).details).toMatchObject({ problem: 'utf8' });
  });

  it('refuses a nonsensical maxLineLength', () => {
    expect(() => readEnvelopeLines([], { maxLineLength: 0 })).toThrow(/positive integer/);
  });
});

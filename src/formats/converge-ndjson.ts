/**
 * converge-style NDJSON of experience envelopes: one compact serde JSON envelope per line — an
 * engine-side `ExperienceEventEnvelope`, a user-side `UserExperienceEventEnvelope` (3.8+), or
 * either wrapped as an `ExperienceRecord` (`{"kind":"Engine"|"User","value":…}`).
 *
 * The reader streams: it never holds more than one line (capped, 16 Mi characters by default)
 * plus one chunk in memory. It accepts `\n` or `\r\n` line ends, a final line without a newline,
 * blank lines, a UTF-8 byte order mark, and multi-byte characters split across chunks.
 *
 * @example
 * import { createReadStream } from 'node:fs';
 * import { readEnvelopeLines } from 'kerno';
 * const reader = readEnvelopeLines(createReadStream('experience.ndjson'), { onError: 'skip' });
 * for await (const { line, envelope } of reader) console.log(line, envelope.event.type);
 * console.log(`${reader.skipped} bad lines skipped`);
 *
 * @module
 */
import { KernelError, isKernelError } from '../errors.js';
import {
  parseAnyEnvelope,
  toExperienceRecord,
  type AnyExperienceEnvelope,
  type IdRules,
} from './converge-envelope.js';

/** Default cap on one line's length, in UTF-16 code units (16 Mi). */
export const DEFAULT_MAX_LINE_LENGTH = 16 * 1024 * 1024;

/** How lines are written: bare envelopes (the default) or `ExperienceRecord` wrappers. */
export type EnvelopeLineForm = 'envelope' | 'record';

/**
 * One envelope as a compact JSON line in converge's (serde) field order, `\n`-terminated: the
 * bare envelope, or with `form: 'record'` converge's `ExperienceRecord` wrapper around it.
 * The envelope is validated first; throws `INVALID_EVENT` if it is malformed.
 */
export function encodeEnvelopeLine(
  envelope: AnyExperienceEnvelope,
  form: EnvelopeLineForm = 'envelope',
): string {
  const parsed = parseAnyEnvelope(envelope);
  return JSON.stringify(form === 'record' ? toExperienceRecord(parsed) : parsed) + '\n';
}

/** Why a line was rejected. */
export type EnvelopeLineProblem = 'json' | 'envelope' | 'too_long';

/** Options for {@link readEnvelopeLines}. */
export interface ReadEnvelopeLinesOptions {
  /**
   * `'throw'` (default): the first bad line ends the iteration with a KernelError
   * `INVALID_EVENT` whose `details.line` is its 1-based number. `'skip'`: bad lines are counted
   * in {@link EnvelopeLineReader.skipped}, reported to `onSkip`, and reading goes on.
   * Invalid UTF-8 always throws: the bytes cannot be attributed to a line reliably.
   */
  readonly onError?: 'throw' | 'skip';
  /** Called with each skipped line's error when `onError` is `'skip'`. */
  readonly onSkip?: (error: KernelError) => void;
  /** Longest accepted line in UTF-16 code units, line end excluded. Default 16 Mi. */
  readonly maxLineLength?: number;
  /** Id rules for the envelopes (default `'lenient'`, converge 3.7's form). */
  readonly idRules?: IdRules | undefined;
}

/** One parsed line. */
export interface EnvelopeLine {
  /** 1-based physical line number in the source. */
  readonly line: number;
  readonly envelope: AnyExperienceEnvelope;
}

/** The stream returned by {@link readEnvelopeLines}: iterate it once. */
export interface EnvelopeLineReader extends AsyncIterable<EnvelopeLine> {
  /** How many bad lines were skipped so far (always 0 with `onError: 'throw'`). */
  readonly skipped: number;
  /** How many physical lines were read so far, blank ones included. */
  readonly lines: number;
}

type RawLine =
  | { readonly line: number; readonly text: string }
  | { readonly line: number; readonly tooLong: number };

/** Splits decoded text into lines without joining more than one line at a time. */
class LineSplitter {
  readonly #max: number;
  #parts: string[] = [];
  #length = 0;
  #overflow = false;
  lines = 0;

  constructor(max: number) {
    this.#max = max;
  }

  *feed(text: string): Generator<RawLine> {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      const end = nl === -1 ? text.length : nl;
      this.#append(text, start, end);
      if (nl === -1) return;
      yield this.#take();
      start = nl + 1;
    }
  }

  *end(): Generator<RawLine> {
    if (this.#length > 0 || this.#overflow) yield this.#take();
  }

  #append(text: string, start: number, end: number): void {
    if (end <= start) return;
    this.#length += end - start;
    if (this.#overflow) return;
    // One extra code unit of room for the `\r` of a CRLF line end.
    if (this.#length > this.#max + 1) {
      this.#overflow = true;
      this.#parts = [];
      return;
    }
    this.#parts.push(start === 0 && end === text.length ? text : text.slice(start, end));
  }

  #take(): RawLine {
    this.lines++;
    const line = this.lines;
    const length = this.#length;
    const overflow = this.#overflow;
    let text = overflow ? '' : this.#parts.length === 1 ? this.#parts[0]! : this.#parts.join('');
    this.#parts = [];
    this.#length = 0;
    this.#overflow = false;
    if (overflow) return { line, tooLong: length };
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (line === 1 && text.startsWith('\uFEFF')) text = text.slice(1);
    if (text.length > this.#max) return { line, tooLong: text.length };
    return { line, text };
  }
}

function lineError(line: number, problem: EnvelopeLineProblem, message: string, cause?: unknown) {
  const inner = isKernelError(cause) ? cause.details : undefined;
  return new KernelError('INVALID_EVENT', message, {
    cause,
    details: { ...inner, line, problem },
  });
}

/** Best-effort location of a decoding error: newlines in `bytes` before the first bad sequence. */
function newlinesBeforeBadByte(bytes: Uint8Array): number {
  const text = new TextDecoder('utf-8').decode(bytes);
  const bad = text.indexOf('\uFFFD');
  let count = 0;
  for (
    let i = text.indexOf('\n');
    i !== -1 && (bad === -1 || i < bad);
    i = text.indexOf('\n', i + 1)
  ) {
    count++;
  }
  return count;
}

/**
 * Reads converge-style envelope NDJSON from a stream of text or bytes (a `fs.ReadStream`, a
 * `fetch` body, an array of strings …), yielding each valid envelope with its line number.
 * Blank lines are ignored but counted. See {@link ReadEnvelopeLinesOptions} for bad lines.
 */
export function readEnvelopeLines(
  source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  options: ReadEnvelopeLinesOptions = {},
): EnvelopeLineReader {
  const max = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
  if (!Number.isInteger(max) || max < 1) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `maxLineLength must be a positive integer, got ${String(max)}`,
    );
  }
  const skipMode = options.onError === 'skip';
  const splitter = new LineSplitter(max);
  let skipped = 0;
  let started = false;

  const parseLine = (raw: RawLine): EnvelopeLine | KernelError | undefined => {
    if ('tooLong' in raw) {
      return lineError(
        raw.line,
        'too_long',
        `Line ${raw.line} is ${raw.tooLong} characters long, over the ${max} limit; split the record, or raise maxLineLength if it is genuine`,
      );
    }
    if (raw.text.trim() === '') return undefined;
    let json: unknown;
    try {
      json = JSON.parse(raw.text);
    } catch (error) {
      return lineError(
        raw.line,
        'json',
        `Line ${raw.line} is not valid JSON (${(error as Error).message}); each line must hold one compact JSON envelope. Fix or remove the line, or read with { onError: 'skip' }`,
        error,
      );
    }
    try {
      return { line: raw.line, envelope: parseAnyEnvelope(json, { idRules: options.idRules }) };
    } catch (error) {
      if (!isKernelError(error)) throw error;
      return lineError(raw.line, 'envelope', `Line ${raw.line}: ${error.message}`, error);
    }
  };

  async function* run(): AsyncGenerator<EnvelopeLine> {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const decode = (bytes?: Uint8Array): string => {
      try {
        return bytes === undefined ? decoder.decode() : decoder.decode(bytes, { stream: true });
      } catch (error) {
        const line = splitter.lines + 1 + (bytes === undefined ? 0 : newlinesBeforeBadByte(bytes));
        throw new KernelError(
          'INVALID_EVENT',
          `Invalid UTF-8 in the input near line ${line}; the file must be UTF-8 text. Re-export it, or repair the bytes`,
          { cause: error, details: { line, problem: 'utf8' } },
        );
      }
    };
    let pendingBytes = false;
    const handle = (raw: RawLine): EnvelopeLine | undefined => {
      const result = parseLine(raw);
      if (result === undefined) return undefined;
      if (result instanceof KernelError) {
        if (!skipMode) throw result;
        skipped++;
        options.onSkip?.(result);
        return undefined;
      }
      return result;
    };
    for await (const chunk of source) {
      let text: string;
      if (typeof chunk === 'string') {
        text = pendingBytes ? decode() + chunk : chunk;
        pendingBytes = false;
      } else {
        text = decode(chunk);
        pendingBytes = true;
      }
      for (const raw of splitter.feed(text)) {
        const item = handle(raw);
        if (item !== undefined) yield item;
      }
    }
    if (pendingBytes) {
      for (const raw of splitter.feed(decode())) {
        const item = handle(raw);
        if (item !== undefined) yield item;
      }
    }
    for (const raw of splitter.end()) {
      const item = handle(raw);
      if (item !== undefined) yield item;
    }
  }

  return {
    get skipped() {
      return skipped;
    },
    get lines() {
      return splitter.lines;
    },
    [Symbol.asyncIterator]() {
      if (started) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          'An envelope line reader can be iterated only once; call readEnvelopeLines again with a fresh source',
        );
      }
      started = true;
      return run();
    },
  };
}

/**
 * The RVLS codec: oxios-kernel's learning-store file format, byte for byte. Pure functions and a
 * push decoder, no file system, so the same code imports and exports RVLS wherever the records
 * live (a file today, PostgreSQL later).
 *
 * Format: the header `RVLS\n`; one compact JSON line per record, `{"type":"pattern"|
 * "trajectory"|"ewc","data":{…snake_case fields…}}` — patterns, then trajectories, then one
 * `ewc` record; the footer `REND` with no newline after it. Numbers are written as serde_json
 * writes them (`0.9`, `1000.0`), timestamps in chrono's serde form.
 *
 * Reading follows the reference: a file shorter than header + footer, a wrong header, a wrong
 * footer or a body that is not UTF-8 is refused with a typed error (`INVALID_RVLS_FILE`,
 * `details.reason` says which); each line is trimmed, empty lines are ignored, and a malformed
 * line (bad JSON, unknown `type`, a missing or mistyped field) is skipped and reported in
 * `skipped` rather than failing the load.
 *
 * @example
 * const text = encodeRvls({ patterns: [], trajectories: [], ewc: defaultEwcState() });
 * const back = decodeRvls(new TextEncoder().encode(text), 'memory');
 *
 * @module
 */
import { isUtf8 } from 'node:buffer';
import { KernelError } from '../errors.js';
import { formatF32, formatF64 } from './serde-float.js';
import {
  defaultEwcState,
  readEwc,
  readPattern,
  readTrajectory,
  FILE_INPUT,
  type EwcState,
  type PatternRecord,
  type ReadContext,
  type TrajectoryRecord,
} from './learning-records.js';

/** The file's first bytes. */
export const RVLS_HEADER = 'RVLS\n';
/** The file's last bytes (no newline after them). */
export const RVLS_FOOTER = 'REND';

const HEADER_BYTES = [0x52, 0x56, 0x4c, 0x53, 0x0a];
const FOOTER_BYTES = [0x52, 0x45, 0x4e, 0x44];
const MIN_BYTES = HEADER_BYTES.length + FOOTER_BYTES.length;

/** One line of an RVLS file. */
export type RvlsRecord =
  | { readonly type: 'pattern'; readonly data: PatternRecord }
  | { readonly type: 'trajectory'; readonly data: TrajectoryRecord }
  | { readonly type: 'ewc'; readonly data: EwcState };

/** Everything an RVLS file holds, in file order. */
export interface LearningSnapshot {
  readonly patterns: readonly PatternRecord[];
  readonly trajectories: readonly TrajectoryRecord[];
  readonly ewc: EwcState;
}

/** A line that was skipped while reading. */
export interface SkippedRecord {
  /** 1-based line number in the file (the header is line 1). */
  readonly line: number;
  /** Why it was skipped. */
  readonly reason: string;
}

/** What a whole RVLS file decodes to. */
export interface RvlsDecodeResult extends LearningSnapshot {
  /** How many `ewc` records the file held (the last one wins; none gives the default state). */
  readonly ewcRecords: number;
  /** How many lines were skipped as malformed. */
  readonly skippedCount: number;
  /** The first {@link MAX_SKIPPED_DETAILS} skipped lines, with reasons. */
  readonly skipped: readonly SkippedRecord[];
}

/** How many skipped lines are described in {@link RvlsDecodeResult.skipped}. */
export const MAX_SKIPPED_DETAILS = 1000;

/** Why a file was refused; in `details.reason` of an `INVALID_RVLS_FILE` error. */
export type RvlsFileProblem = 'too-short' | 'bad-header' | 'bad-footer' | 'invalid-utf8';

/** The result of decoding one line. */
export type RvlsLineResult =
  | { readonly kind: 'record'; readonly record: RvlsRecord }
  | { readonly kind: 'empty' }
  | { readonly kind: 'malformed'; readonly reason: string };

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/**
 * One record as its compact JSON line (without the newline), exactly as serde_json writes it:
 * fields in the reference's declaration order, floats in ryu form. Records must be valid (the
 * learning store's API guarantees that).
 */
export function encodeRvlsRecord(record: RvlsRecord): string {
  switch (record.type) {
    case 'pattern':
      return patternLine(record.data);
    case 'trajectory':
      return trajectoryLine(record.data);
    case 'ewc':
      return ewcLine(record.data);
  }
}

function patternLine(p: PatternRecord): string {
  return (
    '{"type":"pattern","data":{"id":' +
    JSON.stringify(p.id) +
    ',"strategy":' +
    JSON.stringify(p.strategy) +
    ',"embedding_weights":' +
    f64Map(p.embedding_weights) +
    ',"success_rate":' +
    finiteF32(p.success_rate) +
    ',"use_count":' +
    String(p.use_count) +
    ',"domain":' +
    JSON.stringify(p.domain) +
    ',"quality":' +
    finiteF32(p.quality) +
    ',"is_long_term":' +
    (p.is_long_term ? 'true' : 'false') +
    ',"last_used":' +
    JSON.stringify(p.last_used) +
    '}}'
  );
}

function trajectoryLine(t: TrajectoryRecord): string {
  let steps = '[';
  for (let i = 0; i < t.steps.length; i++) {
    const s = t.steps[i]!;
    if (i > 0) steps += ',';
    steps +=
      '{"input":' +
      JSON.stringify(s.input) +
      ',"output":' +
      JSON.stringify(s.output) +
      ',"duration_ms":' +
      String(s.duration_ms) +
      ',"confidence":' +
      finiteF32(s.confidence) +
      '}';
  }
  return (
    '{"type":"trajectory","data":{"id":' +
    JSON.stringify(t.id) +
    ',"steps":' +
    steps +
    '],"outcome":' +
    JSON.stringify(t.outcome) +
    ',"duration_ms":' +
    String(t.duration_ms) +
    ',"domain":' +
    JSON.stringify(t.domain) +
    ',"created_at":' +
    JSON.stringify(t.created_at) +
    '}}'
  );
}

function ewcLine(e: EwcState): string {
  let weights = '{';
  let first = true;
  for (const k of Object.keys(e.task_weights)) {
    const list = e.task_weights[k]!;
    weights += (first ? '' : ',') + JSON.stringify(k) + ':[';
    for (let i = 0; i < list.length; i++) weights += (i > 0 ? ',' : '') + finiteF32(list[i]!);
    weights += ']';
    first = false;
  }
  return (
    '{"type":"ewc","data":{"tasks_learned":' +
    String(e.tasks_learned) +
    ',"protection_strength":' +
    finiteF32(e.protection_strength) +
    ',"task_weights":' +
    weights +
    '}}}'
  );
}

function f64Map(map: Readonly<Record<string, number>>): string {
  let out = '{';
  let first = true;
  for (const k of Object.keys(map)) {
    const v = map[k]!;
    if (!Number.isFinite(v)) throw nonFinite(v);
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + formatF64(v);
    first = false;
  }
  return out + '}';
}

function finiteF32(v: number): string {
  if (!Number.isFinite(Math.fround(v))) throw nonFinite(v);
  return formatF32(v);
}

function nonFinite(v: number): KernelError {
  return new KernelError(
    'INVALID_ARGUMENT',
    `Cannot write ${v} to RVLS: serde_json would write null, which oxios cannot read back. Store finite numbers only.`,
  );
}

/**
 * The file's text in pieces of about `chunkSize` characters, for streaming writers: header,
 * patterns, trajectories, one `ewc` record, footer.
 */
export function* encodeRvlsChunks(
  snapshot: LearningSnapshot,
  chunkSize = 1 << 20,
): Generator<string> {
  let buf = RVLS_HEADER;
  for (const p of snapshot.patterns) {
    buf += patternLine(p) + '\n';
    if (buf.length >= chunkSize) {
      yield buf;
      buf = '';
    }
  }
  for (const t of snapshot.trajectories) {
    buf += trajectoryLine(t) + '\n';
    if (buf.length >= chunkSize) {
      yield buf;
      buf = '';
    }
  }
  yield buf + ewcLine(snapshot.ewc) + '\n' + RVLS_FOOTER;
}

/** The whole file as one string. */
export function encodeRvls(snapshot: LearningSnapshot): string {
  let out = '';
  for (const chunk of encodeRvlsChunks(snapshot)) out += chunk;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding one line
// ---------------------------------------------------------------------------------------------

const EMPTY: RvlsLineResult = Object.freeze({ kind: 'empty' });
/** The integer field each record type has (`duration_ms` also in every step), split at `_`. */
const INTEGER_KEYS = {
  pattern: ['"use', '_count"'],
  trajectory: ['"duration', '_ms"'],
  ewc: ['"tasks', '_learned"'],
} as const;

/**
 * Whether the key is followed by a number with a fraction or exponent anywhere in the line — a
 * cheap over-approximation (the key may also be a nested map key); a hit sends the line to the
 * exact check. The search starts at the `_`, which is rare in JSON text, unlike `"`.
 */
function integerWrittenAsFloat(line: string, key: readonly [string, string]): boolean {
  const [head, tail] = key;
  let at = line.indexOf(tail);
  while (at !== -1) {
    let i = at + tail.length;
    if (line.startsWith(head, at - head.length)) {
      while (isJsonSpace(line.charCodeAt(i))) i++;
      if (line.charCodeAt(i) === 0x3a /* : */) {
        i++;
        while (isJsonSpace(line.charCodeAt(i))) i++;
        if (line.charCodeAt(i) === 0x2d /* - */) i++;
        let c = line.charCodeAt(i);
        while (c >= 0x30 && c <= 0x39) c = line.charCodeAt(++i);
        if (c === 0x2e || c === 0x65 || c === 0x45) return true;
      }
    }
    at = line.indexOf(tail, i);
  }
  return false;
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * Decodes one line the way the reference does: trimmed (Rust's notion of whitespace), empty
 * lines ignored, otherwise one record or the reason it is malformed.
 */
export function decodeRvlsLine(raw: string): RvlsLineResult {
  const line =
    raw.charCodeAt(0) === 0x7b && raw.charCodeAt(raw.length - 1) === 0x7d ? raw : rustTrim(raw);
  if (line === '') return EMPTY;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (e) {
    return malformed(`invalid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return malformed('a record must be a JSON object with "type" and "data"');
  }
  const { type, data } = parsed as { type?: unknown; data?: unknown };
  if (type === undefined) return malformed('missing field `type`');
  if (type !== 'pattern' && type !== 'trajectory' && type !== 'ewc') {
    return malformed(
      `unknown record type ${JSON.stringify(type)}; expected "pattern", "trajectory" or "ewc"`,
    );
  }
  if (data === undefined) return malformed('missing field `data`');
  // serde reads integers only from integer literals, and refuses lone surrogates; both can only
  // show up in rare spellings, so the careful (slower) checks run only when the line has them.
  const escapes = line.includes('\\u');
  const ctx: ReadContext =
    escapes || integerWrittenAsFloat(line, INTEGER_KEYS[type])
      ? {
          normalizeFloats: false,
          checkStrings: escapes,
          copy: false,
          floatPaths: floatLexemePaths(line),
        }
      : FILE_INPUT;
  switch (type) {
    case 'pattern': {
      const r = readPattern(data, ctx);
      return typeof r === 'string' ? malformed(r) : { kind: 'record', record: { type, data: r } };
    }
    case 'trajectory': {
      const r = readTrajectory(data, ctx);
      return typeof r === 'string' ? malformed(r) : { kind: 'record', record: { type, data: r } };
    }
    case 'ewc': {
      const r = readEwc(data, ctx);
      return typeof r === 'string' ? malformed(r) : { kind: 'record', record: { type, data: r } };
    }
  }
}

function malformed(reason: string): RvlsLineResult {
  return { kind: 'malformed', reason: reason.length > 300 ? reason.slice(0, 300) + '…' : reason };
}

/** Rust's `char::is_whitespace` (JavaScript's `trim` differs: it strips U+FEFF, keeps U+0085). */
function isRustWhitespace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

function rustTrim(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isRustWhitespace(s.charCodeAt(start))) start++;
  while (end > start && isRustWhitespace(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/**
 * Paths (`data.use_count`, `data.steps.2.duration_ms`, …) of numbers written with a fraction or
 * an exponent, at the depths where the record's integer fields live. `line` is valid JSON.
 */
function floatLexemePaths(line: string): Set<string> {
  const found = new Set<string>();
  const frames: { obj: boolean; key: string; index: number }[] = [];
  let expectKey = false;
  let i = 0;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      frames.push({ obj: c === 0x7b, key: '', index: 0 });
      expectKey = c === 0x7b;
      i++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      frames.pop();
      expectKey = false;
      i++;
    } else if (c === 0x2c /* , */) {
      const top = frames[frames.length - 1];
      if (top !== undefined) {
        top.index++;
        expectKey = top.obj;
      }
      i++;
    } else if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < line.length && line.charCodeAt(j) !== 0x22)
        j += line.charCodeAt(j) === 0x5c ? 2 : 1;
      if (expectKey) {
        const top = frames[frames.length - 1];
        if (top !== undefined) top.key = JSON.parse(line.slice(i, j + 1)) as string;
        expectKey = false;
      }
      i = j + 1;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      let isFloat = false;
      for (; j < line.length; j++) {
        const d = line.charCodeAt(j);
        if (d === 0x2e || d === 0x65 || d === 0x45) isFloat = true;
        else if (!(d === 0x2b || d === 0x2d || (d >= 0x30 && d <= 0x39))) break;
      }
      if (isFloat && frames.length <= 4) {
        found.add(frames.map((f) => (f.obj ? f.key : String(f.index))).join('.'));
      }
      i = j;
    } else {
      i++;
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Decoding a byte stream
// ---------------------------------------------------------------------------------------------

/** Options for {@link createRvlsDecoder}. */
export interface RvlsDecoderOptions {
  /** Names the input in error messages (a file path, "upload", …). */
  readonly source: string;
  /** Longer lines are skipped as malformed without being held in memory (default 64 Mi chars). */
  readonly maxLineLength?: number;
  /**
   * What a malformed line does: skipped and counted (`'skip'`, the default, as the reference
   * loads), or `'throw'`: an `INVALID_RVLS_FILE` naming the line (`details.line`) at once —
   * what all-or-nothing imports use.
   */
  readonly onMalformed?: 'skip' | 'throw' | undefined;
}

/** A push decoder: feed the file's bytes in any chunking, then call `end()`. */
export interface RvlsDecoder {
  /** Feeds the next bytes. Throws `INVALID_RVLS_FILE` as soon as the header is known to be wrong. */
  push(chunk: Uint8Array): void;
  /** Checks length and footer, finishes the last line and returns everything read. */
  end(): RvlsDecodeResult;
}

/**
 * Creates a streaming decoder. Memory stays bounded by the longest line: UTF-8 is decoded
 * incrementally and the last four bytes are held back until the end, where they must be the
 * footer. Errors come in the reference's order (too short, header, footer, UTF-8) even though a
 * bad byte may be seen before the footer is.
 */
export function createRvlsDecoder(options: RvlsDecoderOptions): RvlsDecoder {
  return new StreamDecoder(
    options.source,
    options.maxLineLength ?? 64 * 1024 * 1024,
    options.onMalformed === 'throw',
  );
}

class StreamDecoder implements RvlsDecoder {
  readonly #source: string;
  readonly #maxLine: number;
  #head: Uint8Array | undefined = new Uint8Array(0);
  readonly #held = new Uint8Array(4);
  #heldLen = 0;
  /** The start of a UTF-8 sequence cut by a chunk boundary. */
  readonly #carry = new Uint8Array(4);
  #carryLen = 0;
  #carryNeed = 0;
  #badUtf8 = false;
  #partial = '';
  #tooLong = false;
  #lineNo = 1;
  #ended = false;
  readonly #patterns: PatternRecord[] = [];
  readonly #trajectories: TrajectoryRecord[] = [];
  #ewc: EwcState | undefined;
  #ewcRecords = 0;
  #skippedCount = 0;
  readonly #skipped: SkippedRecord[] = [];

  readonly #strict: boolean;

  constructor(source: string, maxLine: number, strict: boolean) {
    this.#source = source;
    this.#maxLine = maxLine;
    this.#strict = strict;
  }

  /** A malformed line: counted, or with `onMalformed: 'throw'` the import's error. */
  #malformed(reason: string): void {
    if (this.#strict) {
      throw new KernelError(
        'INVALID_RVLS_FILE',
        `Line ${this.#lineNo} of ${this.#source} is not a valid RVLS record: ${reason}. Nothing was imported; fix or remove that line (or import with skip-invalid to skip malformed lines).`,
        { details: { source: this.#source, line: this.#lineNo, reason: 'malformed-record' } },
      );
    }
    this.#skippedCount++;
    if (this.#skipped.length < MAX_SKIPPED_DETAILS)
      this.#skipped.push({ line: this.#lineNo, reason });
  }

  push(chunk: Uint8Array): void {
    if (this.#ended)
      throw new KernelError('INVALID_ARGUMENT', 'This RVLS decoder has already ended.');
    if (chunk.length === 0) return;
    if (this.#head !== undefined) {
      const head = new Uint8Array(this.#head.length + chunk.length);
      head.set(this.#head);
      head.set(chunk, this.#head.length);
      // Below MIN_BYTES the file may still turn out too short, which the reference reports first.
      if (head.length < MIN_BYTES) {
        this.#head = head;
        return;
      }
      this.#head = undefined;
      for (let i = 0; i < HEADER_BYTES.length; i++) {
        if (head[i] !== HEADER_BYTES[i]) throw this.#error('bad-header');
      }
      this.#body(head.subarray(HEADER_BYTES.length));
      return;
    }
    this.#body(chunk);
  }

  end(): RvlsDecodeResult {
    if (this.#ended)
      throw new KernelError('INVALID_ARGUMENT', 'This RVLS decoder has already ended.');
    this.#ended = true;
    if (this.#head !== undefined) throw this.#error('too-short');
    for (let i = 0; i < FOOTER_BYTES.length; i++) {
      if (this.#held[i] !== FOOTER_BYTES[i]) throw this.#error('bad-footer');
    }
    // a sequence still open at the end is truncated
    if (this.#badUtf8 || this.#carryLen > 0) throw this.#error('invalid-utf8');
    if (this.#tooLong) this.#skip(`line longer than ${this.#maxLine} characters`);
    else if (this.#partial !== '') this.#line(this.#partial);
    this.#partial = '';
    return {
      patterns: this.#patterns,
      trajectories: this.#trajectories,
      ewc: this.#ewc ?? defaultEwcState(),
      ewcRecords: this.#ewcRecords,
      skippedCount: this.#skippedCount,
      skipped: this.#skipped,
    };
  }

  /** Body bytes, holding back the last four: they may be the footer. */
  #body(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n >= 4) {
      if (this.#heldLen > 0) this.#decode(this.#held.subarray(0, this.#heldLen));
      this.#decode(bytes.subarray(0, n - 4));
      this.#held.set(bytes.subarray(n - 4));
      this.#heldLen = 4;
      return;
    }
    const joined = new Uint8Array(this.#heldLen + n);
    joined.set(this.#held.subarray(0, this.#heldLen));
    joined.set(bytes, this.#heldLen);
    const keep = Math.min(4, joined.length);
    if (joined.length > keep) this.#decode(joined.subarray(0, joined.length - keep));
    this.#held.set(joined.subarray(joined.length - keep));
    this.#heldLen = keep;
  }

  /**
   * Validates and decodes body bytes. Buffer's UTF-8 decoding (after `isUtf8`) gives one-byte
   * strings for ASCII text, which JSON.parse reads markedly faster than TextDecoder's output; a
   * sequence cut by a chunk boundary is carried over to the next chunk.
   */
  #decode(bytes: Uint8Array): void {
    if (this.#badUtf8 || bytes.length === 0) return;
    let start = 0;
    if (this.#carryLen > 0) {
      start = Math.min(this.#carryNeed - this.#carryLen, bytes.length);
      this.#carry.set(bytes.subarray(0, start), this.#carryLen);
      this.#carryLen += start;
      if (this.#carryLen < this.#carryNeed) return;
      this.#carryLen = 0;
      if (!this.#decodeComplete(this.#carry.subarray(0, this.#carryNeed))) return;
    }
    let cut = bytes.length;
    for (let i = bytes.length - 1; i >= start && i >= bytes.length - 3; i--) {
      const b = bytes[i]!;
      if ((b & 0xc0) === 0x80) continue; // a continuation byte: keep looking for the lead
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      if (i + need > bytes.length) {
        cut = i;
        this.#carryNeed = need;
        this.#carryLen = bytes.length - i;
        this.#carry.set(bytes.subarray(i));
      }
      break;
    }
    if (cut > start) this.#decodeComplete(bytes.subarray(start, cut));
  }

  #decodeComplete(bytes: Uint8Array): boolean {
    if (!isUtf8(bytes)) {
      // Keep reading: a bad footer, found at the end, is the error to report first.
      this.#badUtf8 = true;
      return false;
    }
    this.#text(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
    return true;
  }

  #text(text: string): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) {
        if (start < text.length && !this.#tooLong) {
          this.#partial += text.slice(start);
          if (this.#partial.length > this.#maxLine) {
            this.#partial = '';
            this.#tooLong = true;
          }
        }
        return;
      }
      if (this.#tooLong) {
        this.#tooLong = false;
        this.#skip(`line longer than ${this.#maxLine} characters`);
      } else {
        // The limit holds for lines inside one chunk too, so the chunking never changes a result.
        const line = this.#partial + text.slice(start, nl);
        this.#partial = '';
        if (line.length > this.#maxLine) this.#skip(`line longer than ${this.#maxLine} characters`);
        else this.#line(line);
      }
      start = nl + 1;
    }
  }

  #line(raw: string): void {
    this.#lineNo++;
    const r = decodeRvlsLine(raw);
    if (r.kind === 'empty') return;
    if (r.kind === 'malformed') {
      this.#malformed(r.reason);
      return;
    }
    const rec = r.record;
    if (rec.type === 'pattern') this.#patterns.push(rec.data);
    else if (rec.type === 'trajectory') this.#trajectories.push(rec.data);
    else {
      this.#ewc = rec.data;
      this.#ewcRecords++;
    }
  }

  #skip(reason: string): void {
    this.#lineNo++;
    this.#malformed(reason);
  }

  #error(problem: RvlsFileProblem): KernelError {
    return rvlsFileError(this.#source, problem);
  }
}

const PROBLEM_TEXT: Record<RvlsFileProblem, string> = {
  'too-short': 'RVLS file too short (it needs at least the "RVLS\\n" header and the "REND" footer)',
  'bad-header': 'Invalid RVLS magic header (expected "RVLS\\n")',
  'bad-footer':
    'Invalid RVLS magic footer (expected "REND" at the very end; the file may be truncated)',
  'invalid-utf8': 'RVLS body is not valid UTF-8',
};

/** The typed error for a file that cannot be read as RVLS at all. */
export function rvlsFileError(
  source: string,
  problem: RvlsFileProblem,
): KernelError<'INVALID_RVLS_FILE'> {
  return new KernelError(
    'INVALID_RVLS_FILE',
    `${PROBLEM_TEXT[problem]}: ${source}. Nothing was loaded; restore the file from a backup, or move it aside to start with an empty store.`,
    { details: { source, reason: problem } },
  );
}

/** Decodes a whole RVLS file held in memory. */
export function decodeRvls(bytes: Uint8Array, source = 'RVLS data'): RvlsDecodeResult {
  const decoder = createRvlsDecoder({ source });
  decoder.push(bytes);
  return decoder.end();
}

/** Decodes an RVLS byte stream (a file stream, a database export, an upload). */
export async function readRvlsStream(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: RvlsDecoderOptions,
): Promise<RvlsDecodeResult> {
  const decoder = createRvlsDecoder(options);
  for await (const chunk of chunks) decoder.push(chunk);
  return decoder.end();
}

/**
 * The learning store's data model, field for field the reference's (oxios-kernel
 * `memory::rvf_store`): {@link PatternRecord}, {@link TrajectoryStep}, {@link TrajectoryRecord}
 * and {@link EwcState}. Field names are the snake_case JSON names of the RVLS file format.
 *
 * Number fields follow the Rust types: `f32` fields hold what serde_json reads into an `f32`
 * (values that round to a finite `f32`), `f64` fields finite numbers, `u32` integers in
 * [0, 2³²−1], `u64` integers in [0, 2⁵³−1] (JavaScript's exact range; larger durations are
 * refused). Timestamps are RFC 3339 text in chrono's serde form (`Z`, 0/3/6/9 fractional
 * digits), kept exactly, so nanoseconds survive a round trip.
 *
 * @example
 * const ewc: EwcState = defaultEwcState(); // { tasks_learned: 0, protection_strength: 1000, task_weights: {} }
 *
 * @module
 */
import { KernelError } from '../errors.js';
import { formatChrono, parseRfc3339 } from '../util/time.js';
import { canonicalF32, isF32 } from './serde-float.js';

/** A learned guidance pattern (reference: `PatternRecord`). */
export interface PatternRecord {
  /** Unique id. */
  readonly id: string;
  /** Strategy description. */
  readonly strategy: string;
  /** Sparse TF-IDF weights, term → weight (`HashMap<String, f64>`); may be empty. */
  readonly embedding_weights: Readonly<Record<string, number>>;
  /** Success rate, 0.0–1.0 (`f32`). */
  readonly success_rate: number;
  /** Usage count (`u32`). */
  readonly use_count: number;
  /** Domain category. */
  readonly domain: string;
  /** Quality score (`f32`). */
  readonly quality: number;
  /** Whether this is a long-term pattern. */
  readonly is_long_term: boolean;
  /** Last used, RFC 3339 UTC (`DateTime<Utc>`). */
  readonly last_used: string;
}

/** One step of a trajectory (reference: `TrajectoryStep`). */
export interface TrajectoryStep {
  /** Input to this step. */
  readonly input: string;
  /** Output from this step. */
  readonly output: string;
  /** Duration in milliseconds (`u64`). */
  readonly duration_ms: number;
  /** Confidence, 0.0–1.0 (`f32`). */
  readonly confidence: number;
}

/** The outcomes the reference names; any string is stored. */
export type TrajectoryOutcome = 'success' | 'partial' | 'failure' | (string & {});

/** A sequence of steps with an outcome (reference: `TrajectoryRecord`). */
export interface TrajectoryRecord {
  /** Unique id. */
  readonly id: string;
  /** Ordered steps. */
  readonly steps: readonly TrajectoryStep[];
  /** Outcome: `success`, `partial` or `failure` by convention. */
  readonly outcome: TrajectoryOutcome;
  /** Total duration in milliseconds (`u64`). */
  readonly duration_ms: number;
  /** Domain or task type. */
  readonly domain: string;
  /** Creation time, RFC 3339 UTC (`DateTime<Utc>`). */
  readonly created_at: string;
}

/** Elastic Weight Consolidation state for continual learning (reference: `EwcState`). */
export interface EwcState {
  /** Number of tasks learned so far (`u32`). */
  readonly tasks_learned: number;
  /** Protection strength, λ in the EWC paper (`f32`, default 1000). */
  readonly protection_strength: number;
  /** Task id → importance weights, the Fisher information diagonal (`HashMap<String, Vec<f32>>`). */
  readonly task_weights: Readonly<Record<string, readonly number[]>>;
}

/** The reference's default EWC protection strength. */
export const DEFAULT_PROTECTION_STRENGTH = 1000;

/** A fresh default {@link EwcState}: no tasks, protection strength 1000, no weights. */
export function defaultEwcState(): EwcState {
  return { tasks_learned: 0, protection_strength: DEFAULT_PROTECTION_STRENGTH, task_weights: {} };
}

const U32_MAX = 0xffff_ffff;

/**
 * How strictly to read a record.
 * @internal
 */
export interface ReadContext {
  /** Round `f32` fields to what a serde_json round trip gives (API input). */
  readonly normalizeFloats: boolean;
  /** Check that strings are well-formed UTF-16 (only `\u` escapes can break that in a file). */
  readonly checkStrings: boolean;
  /** Copy maps and arrays instead of adopting them (API input the caller still holds). */
  readonly copy: boolean;
  /** Paths (`data.use_count`, `data.steps.0.duration_ms`) whose JSON number had a fraction or exponent. */
  readonly floatPaths?: ReadonlySet<string> | undefined;
}

/** Reading context for records read from a file (strict checks are switched on per line). @internal */
export const FILE_INPUT: ReadContext = Object.freeze({
  normalizeFloats: false,
  checkStrings: false,
  copy: false,
});

/** Reading context for records handed to the store's API. @internal */
export const API_INPUT: ReadContext = Object.freeze({
  normalizeFloats: true,
  checkStrings: true,
  copy: true,
});

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Thrown inside the readers, caught at their edge and turned into a reason string. */
class Invalid extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

function fail(reason: string): never {
  throw new Invalid(reason);
}

function str(o: Obj, key: string, ctx: ReadContext, where = ''): string {
  const v = o[key];
  if (typeof v !== 'string') {
    fail(
      v === undefined ? `missing field \`${where}${key}\`` : `\`${where}${key}\` must be a string`,
    );
  }
  if (ctx.checkStrings && !v.isWellFormed()) fail(`\`${where}${key}\` has a lone surrogate`);
  return v;
}

function f32(o: Obj, key: string, ctx: ReadContext, where = ''): number {
  const v = o[key];
  if (!isF32(v)) {
    fail(
      v === undefined
        ? `missing field \`${where}${key}\``
        : `\`${where}${key}\` must be a number within f32 range`,
    );
  }
  return ctx.normalizeFloats ? canonicalF32(v) : v;
}

function integer(
  o: Obj,
  key: string,
  max: number,
  ctx: ReadContext,
  path: string,
  where = '',
): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    fail(
      v === undefined
        ? `missing field \`${where}${key}\``
        : `\`${where}${key}\` must be an integer from 0 to ${max}`,
    );
  }
  if (ctx.floatPaths?.has(path) === true) {
    fail(`\`${where}${key}\` must be written as an integer, not a float`);
  }
  return v === 0 ? 0 : v; // no -0
}

function timestamp(o: Obj, key: string, ctx: ReadContext): string {
  const v = str(o, key, ctx);
  const canonical = canonicalTimestamp(v);
  if (canonical === undefined)
    fail(`\`${key}\` must be an RFC 3339 timestamp (got ${JSON.stringify(v.slice(0, 40))})`);
  return canonical;
}

function bool(o: Obj, key: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean')
    fail(v === undefined ? `missing field \`${key}\`` : `\`${key}\` must be a boolean`);
  return v;
}

function f64Map(o: Obj, key: string, ctx: ReadContext): Record<string, number> {
  const v = o[key];
  if (!isObj(v))
    fail(v === undefined ? `missing field \`${key}\`` : `\`${key}\` must be an object of numbers`);
  for (const k in v) {
    const w = v[k];
    if (typeof w !== 'number' || !Number.isFinite(w))
      fail(`\`${key}\` values must be finite numbers`);
    if (ctx.checkStrings && !k.isWellFormed()) fail(`\`${key}\` has a key with a lone surrogate`);
  }
  return ctx.copy ? copyRecord(v as Record<string, number>) : (v as Record<string, number>);
}

/** A copy that keeps a `__proto__` key as plain data (assignment would set the prototype). */
function copyRecord<T>(source: Readonly<Record<string, T>>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(source)) {
    setOwn(out, k, source[k]!);
  }
  return out;
}

/** Sets an own data property, even for the key `__proto__`. @internal */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/** Reads a pattern's `data`; returns the record or the reason it is invalid. @internal */
export function readPattern(data: unknown, ctx: ReadContext): PatternRecord | string {
  if (ctx === FILE_INPUT && isPlainPattern(data)) return data;
  try {
    if (!isObj(data)) return 'pattern data must be an object';
    const id = str(data, 'id', ctx);
    const strategy = str(data, 'strategy', ctx);
    const embedding_weights = f64Map(data, 'embedding_weights', ctx);
    const success_rate = f32(data, 'success_rate', ctx);
    const use_count = integer(data, 'use_count', U32_MAX, ctx, 'data.use_count');
    const domain = str(data, 'domain', ctx);
    const quality = f32(data, 'quality', ctx);
    const is_long_term = bool(data, 'is_long_term');
    const last_used = timestamp(data, 'last_used', ctx);
    if (!ctx.copy && keyCount(data) === 9) {
      // A freshly parsed object with exactly the record's fields: adopt it instead of copying.
      data['use_count'] = use_count;
      data['last_used'] = last_used;
      return data as unknown as PatternRecord;
    }
    return {
      id,
      strategy,
      embedding_weights,
      success_rate,
      use_count,
      domain,
      quality,
      is_long_term,
      last_used,
    };
  } catch (e) {
    if (e instanceof Invalid) return e.reason;
    throw e;
  }
}

/**
 * The common case of a file record, checked with direct property reads: exactly the nine
 * fields, valid, timestamp already canonical. Anything else takes the field-by-field path,
 * which also says what is wrong.
 */
function isPlainPattern(d: unknown): d is PatternRecord {
  if (typeof d !== 'object' || d === null) return false;
  const p = d as Record<keyof PatternRecord, unknown>;
  return (
    typeof p.id === 'string' &&
    typeof p.strategy === 'string' &&
    isFiniteMap(p.embedding_weights) &&
    isF32(p.success_rate) &&
    typeof p.use_count === 'number' &&
    Number.isInteger(p.use_count) &&
    p.use_count > 0 && // 0 may be -0
    p.use_count <= U32_MAX &&
    typeof p.domain === 'string' &&
    isF32(p.quality) &&
    typeof p.is_long_term === 'boolean' &&
    typeof p.last_used === 'string' &&
    isCanonicalTimestamp(p.last_used) &&
    keyCount(p) === 9
  );
}

function isFiniteMap(m: unknown): boolean {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return false;
  for (const k in m) {
    const v = (m as Record<string, unknown>)[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  }
  return true;
}

function keyCount(o: Obj): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}

/** Reads a trajectory's `data`; returns the record or the reason it is invalid. @internal */
export function readTrajectory(data: unknown, ctx: ReadContext): TrajectoryRecord | string {
  try {
    if (!isObj(data)) return 'trajectory data must be an object';
    const rawSteps = data['steps'];
    if (!Array.isArray(rawSteps)) {
      return rawSteps === undefined ? 'missing field `steps`' : '`steps` must be an array';
    }
    const steps: TrajectoryStep[] = new Array<TrajectoryStep>(rawSteps.length);
    for (let i = 0; i < rawSteps.length; i++) {
      const s: unknown = rawSteps[i];
      const where = `steps[${i}].`;
      if (!isObj(s)) return `\`steps[${i}]\` must be an object`;
      steps[i] = {
        input: str(s, 'input', ctx, where),
        output: str(s, 'output', ctx, where),
        duration_ms: integer(
          s,
          'duration_ms',
          Number.MAX_SAFE_INTEGER,
          ctx,
          `data.steps.${i}.duration_ms`,
          where,
        ),
        confidence: f32(s, 'confidence', ctx, where),
      };
    }
    return {
      id: str(data, 'id', ctx),
      steps,
      outcome: str(data, 'outcome', ctx),
      duration_ms: integer(data, 'duration_ms', Number.MAX_SAFE_INTEGER, ctx, 'data.duration_ms'),
      domain: str(data, 'domain', ctx),
      created_at: timestamp(data, 'created_at', ctx),
    };
  } catch (e) {
    if (e instanceof Invalid) return e.reason;
    throw e;
  }
}

/** Reads an EWC state's `data`; returns the state or the reason it is invalid. @internal */
export function readEwc(data: unknown, ctx: ReadContext): EwcState | string {
  try {
    if (!isObj(data)) return 'ewc data must be an object';
    const tasks = integer(data, 'tasks_learned', U32_MAX, ctx, 'data.tasks_learned');
    const strength = f32(data, 'protection_strength', ctx);
    const raw = data['task_weights'];
    if (!isObj(raw)) {
      return raw === undefined
        ? 'missing field `task_weights`'
        : '`task_weights` must be an object of number arrays';
    }
    const weights: Record<string, readonly number[]> = ctx.copy
      ? {}
      : (raw as Record<string, number[]>);
    for (const k of Object.keys(raw)) {
      if (ctx.checkStrings && !k.isWellFormed())
        return '`task_weights` has a key with a lone surrogate';
      const list = readWeights(raw[k], ctx);
      if (typeof list === 'string') return `\`task_weights.${k}\` ${list}`;
      if (ctx.copy) {
        setOwn(weights, k, list);
      }
    }
    return { tasks_learned: tasks, protection_strength: strength, task_weights: weights };
  } catch (e) {
    if (e instanceof Invalid) return e.reason;
    throw e;
  }
}

/** Reads a `Vec<f32>`; returns the list or the reason it is invalid. @internal */
export function readWeights(raw: unknown, ctx: ReadContext): readonly number[] | string {
  if (!Array.isArray(raw)) return 'must be an array of numbers';
  for (const w of raw) if (!isF32(w)) return 'must hold numbers within f32 range';
  return ctx.normalizeFloats
    ? raw.map((w: number) => canonicalF32(w))
    : ctx.copy
      ? [...(raw as number[])]
      : (raw as number[]);
}

/** Throws INVALID_ARGUMENT for a reason returned by a reader. @internal */
export function orThrow<T>(result: T | string, what: string): T {
  if (typeof result === 'string') {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `Invalid ${what}: ${result}. Fix the record and save it again.`,
    );
  }
  return result;
}

/**
 * The chrono serde form of an RFC 3339 timestamp (UTC, `Z`, 0/3/6/9 fractional digits), or
 * `undefined` when `text` is not a valid timestamp. Text already in that form is returned as is;
 * other offsets, `t`/space separators and other fraction lengths are converted, as oxios would.
 */
export function canonicalTimestamp(text: string): string | undefined {
  if (isCanonicalTimestamp(text)) return text;
  const instant = parseRfc3339(
    text.length > 10 && text[10] === ' ' ? text.slice(0, 10) + 'T' + text.slice(11) : text,
  );
  if (instant === undefined) return undefined;
  const out = formatChrono(instant, 'Z');
  return isCanonicalTimestamp(out) ? out : undefined; // the offset moved it out of years 0000–9999
}

/** `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`, a valid date, no all-zero last digit group. */
function isCanonicalTimestamp(t: string): boolean {
  const len = t.length;
  if (len !== 20 && len !== 24 && len !== 27 && len !== 30) return false;
  if (t.charCodeAt(len - 1) !== 0x5a /* Z */) return false;
  if (
    t.charCodeAt(4) !== 0x2d ||
    t.charCodeAt(7) !== 0x2d ||
    t.charCodeAt(10) !== 0x54 /* T */ ||
    t.charCodeAt(13) !== 0x3a ||
    t.charCodeAt(16) !== 0x3a
  ) {
    return false;
  }
  const year = digits(t, 0, 4);
  const month = digits(t, 5, 2);
  const day = digits(t, 8, 2);
  const hour = digits(t, 11, 2);
  const minute = digits(t, 14, 2);
  const second = digits(t, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23) return false;
  if (minute < 0 || minute > 59 || second < 0 || second > 59) return false;
  if (day > daysInMonth(year, month)) return false;
  if (len === 20) return true;
  if (t.charCodeAt(19) !== 0x2e /* . */) return false;
  const frac = len - 21;
  if (digits(t, 20, frac) < 0) return false;
  return digits(t, len - 4, 3) !== 0; // chrono would have written fewer digits
}

/** The decimal value of `n` digits at `at`, or -1 when one is not a digit. */
function digits(t: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = t.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * A key that orders canonical timestamps by instant (plain string comparison of timestamps
 * fails when fraction lengths differ: `…00.5Z` vs `…00Z`). @internal
 */
export function timestampKey(canonical: string): string {
  const dot = canonical.indexOf('.', 19);
  if (dot === -1) return canonical.slice(0, 19) + '.000000000';
  return canonical.slice(0, 19) + '.' + canonical.slice(dot + 1, -1).padEnd(9, '0');
}

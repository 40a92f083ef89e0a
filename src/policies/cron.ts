/**
 * Cron expressions and IANA time zones, with no dependency: `Intl.DateTimeFormat` gives a zone's
 * wall clock at an instant, and {@link toInstant} turns a wall-clock time back into an instant.
 *
 * An expression has 5 fields (`minute hour day-of-month month day-of-week`) or 6 (a leading
 * `second`), or is one of `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`),
 * `@hourly`. A field is `*`, a value, a range `a-b`, a step `*∕n`, `a-b∕n` or `a∕n`, or a
 * comma-separated list of those; months and weekdays take names (`jan`, `mon`), weekday 7 is
 * Sunday, and `?` is `*` in the two day fields. When both day fields are restricted a day
 * matching either fires (as in Vixie cron).
 *
 * Daylight-saving time: a wall-clock time that does not exist (in the spring-forward gap) fires
 * once, at the end of the gap (a 02:30 run fires at 03:00); a wall-clock time that happens twice
 * (in the fall-back overlap) fires once, at its first occurrence.
 *
 * @example
 * const c = parseCron('30 2 * * *');
 * nextCronTime(c, 'Europe/Berlin', Date.parse('2026-03-28T12:00:00Z')); // 2026-03-29T01:00:00Z (03:00 CEST)
 *
 * @module
 */
import { KernelError } from '../errors.js';

/** A parsed cron expression. */
export interface CronExpression {
  /** The expression as written. */
  readonly source: string;
  readonly seconds: readonly boolean[];
  readonly minutes: readonly boolean[];
  readonly hours: readonly boolean[];
  /** Index 1–31. */
  readonly days: readonly boolean[];
  /** Index 1–12. */
  readonly months: readonly boolean[];
  /** Index 0–6 (Sunday 0). */
  readonly weekdays: readonly boolean[];
  readonly daysRestricted: boolean;
  readonly weekdaysRestricted: boolean;
  /** The expression has a seconds field. */
  readonly withSeconds: boolean;
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** The first name's value. */
  readonly namesFrom?: number;
}

const SECOND: FieldSpec = { name: 'second', min: 0, max: 59 };
const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59 };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23 };
const DAY: FieldSpec = { name: 'day-of-month', min: 1, max: 31 };
const MONTH: FieldSpec = { name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1 };
const WEEKDAY: FieldSpec = { name: 'day-of-week', min: 0, max: 7, names: WEEKDAYS, namesFrom: 0 };

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function fieldError(source: string, field: FieldSpec, text: string, why: string): KernelError {
  return new KernelError(
    'INVALID_ARGUMENT',
    `The cron expression ${JSON.stringify(source)}: the ${field.name} field ${JSON.stringify(text)} ${why}`,
    { details: { field: field.name, value: text } },
  );
}

function parseValue(source: string, field: FieldSpec, text: string, whole: string): number {
  const lower = text.toLowerCase();
  const named = field.names?.indexOf(lower) ?? -1;
  if (named >= 0) return named + (field.namesFrom ?? 0);
  if (!/^\d{1,2}$/.test(text)) {
    const names = field.names === undefined ? '' : ` or a name (${field.names.join(', ')})`;
    throw fieldError(source, field, whole, `is not a number${names}`);
  }
  const n = Number(text);
  if (n < field.min || n > field.max) {
    throw fieldError(source, field, whole, `is out of range ${field.min}–${field.max}`);
  }
  return n;
}

function parseField(source: string, field: FieldSpec, text: string): boolean[] {
  const out = new Array<boolean>(field.max + 1).fill(false);
  for (const item of text.split(',')) {
    if (item === '') throw fieldError(source, field, text, 'has an empty list item');
    const [range, stepText, extra] = item.split('/');
    if (extra !== undefined) throw fieldError(source, field, item, 'has more than one "/"');
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d{1,2}$/.test(stepText) || Number(stepText) < 1) {
        throw fieldError(source, field, item, 'needs a step of 1 or more after "/"');
      }
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === '*' || range === '?') {
      if (range === '?' && field !== DAY && field !== WEEKDAY) {
        throw fieldError(source, field, item, 'may not be "?" (only the day fields may)');
      }
      lo = field.min;
      hi = field === WEEKDAY ? 6 : field.max;
    } else {
      const [a, b, more] = range!.split('-');
      if (more !== undefined) throw fieldError(source, field, item, 'has more than one "-"');
      lo = parseValue(source, field, a!, item);
      hi =
        b === undefined
          ? stepText === undefined
            ? lo
            : field === WEEKDAY
              ? 6
              : field.max
          : parseValue(source, field, b, item);
      if (hi < lo) throw fieldError(source, field, item, `is a range that ends before it starts`);
    }
    for (let v = lo; v <= hi; v += step) out[v] = true;
  }
  if (field === WEEKDAY && out[7] === true) out[0] = true;
  return out;
}

/** Parses a cron expression; throws `INVALID_ARGUMENT` naming the field that is wrong. */
export function parseCron(expression: string): CronExpression {
  if (typeof expression !== 'string' || expression.trim() === '') {
    throw new KernelError(
      'INVALID_ARGUMENT',
      'A cron expression is 5 fields (minute hour day-of-month month day-of-week), 6 with a leading second, or @hourly, @daily, @weekly, @monthly, @yearly',
    );
  }
  const source = expression.trim();
  let text = source;
  if (text.startsWith('@')) {
    const macro = MACROS[text.toLowerCase()];
    if (macro === undefined) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `The cron expression ${JSON.stringify(source)} is not a known macro: use one of ${Object.keys(MACROS).join(', ')}`,
      );
    }
    text = macro;
  }
  const parts = text.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `The cron expression ${JSON.stringify(source)} has ${parts.length} fields: write 5 (minute hour day-of-month month day-of-week) or 6 (a leading second)`,
    );
  }
  const withSeconds = parts.length === 6;
  const [s, mi, h, d, mo, w] = withSeconds ? parts : ['0', ...parts];
  const c: CronExpression = {
    source,
    seconds: parseField(source, SECOND, s!),
    minutes: parseField(source, MINUTE, mi!),
    hours: parseField(source, HOUR, h!),
    days: parseField(source, DAY, d!),
    months: parseField(source, MONTH, mo!),
    weekdays: parseField(source, WEEKDAY, w!).slice(0, 7),
    daysRestricted: !(d!.startsWith('*') || d!.startsWith('?')),
    weekdaysRestricted: !(w!.startsWith('*') || w!.startsWith('?')),
    withSeconds,
  };
  // A day of month no listed month has (e.g. 30 in February) never fires.
  if (!c.weekdaysRestricted) {
    let possible = false;
    for (let m = 1; m <= 12 && !possible; m++) {
      if (!c.months[m]) continue;
      for (let day = 1; day <= DAYS_IN_MONTH[m - 1]!; day++) if (c.days[day]) possible = true;
    }
    if (!possible) {
      throw fieldError(
        source,
        DAY,
        d!,
        'names no day that the listed months have: it would never fire',
      );
    }
  }
  return c;
}

function next(values: readonly boolean[], from: number, max: number): number {
  for (let v = from; v <= max; v++) if (values[v] === true) return v;
  return -1;
}

function dayMatches(c: CronExpression, y: number, m: number, d: number): boolean {
  const dom = c.days[d] === true;
  const dow = c.weekdays[new Date(Date.UTC(y, m - 1, d)).getUTCDay()] === true;
  if (c.daysRestricted && c.weekdaysRestricted) return dom || dow;
  if (c.daysRestricted) return dom;
  if (c.weekdaysRestricted) return dow;
  return true;
}

/**
 * The first wall-clock time at or after `fromWall` (wall clock as UTC milliseconds, whole
 * seconds) that `c` matches, or `undefined` when there is none in the next 8 years.
 */
export function nextCronWall(c: CronExpression, fromWall: number): number | undefined {
  const start = new Date(fromWall);
  let y = start.getUTCFullYear();
  let mo = start.getUTCMonth() + 1;
  let d = start.getUTCDate();
  let h = start.getUTCHours();
  let mi = start.getUTCMinutes();
  let s = start.getUTCSeconds();
  const lastYear = y + 8;
  while (y <= lastYear) {
    const m = next(c.months, mo, 12);
    if (m < 0) {
      y++;
      mo = 1;
      d = 1;
      h = mi = s = 0;
      continue;
    }
    if (m !== mo) {
      mo = m;
      d = 1;
      h = mi = s = 0;
    }
    const monthDays = new Date(Date.UTC(y, mo, 0)).getUTCDate();
    let day = -1;
    for (let x = d; x <= monthDays; x++) {
      if (dayMatches(c, y, mo, x)) {
        day = x;
        break;
      }
    }
    if (day < 0) {
      mo++;
      d = 1;
      h = mi = s = 0;
      if (mo > 12) {
        y++;
        mo = 1;
      }
      continue;
    }
    if (day !== d) {
      d = day;
      h = mi = s = 0;
    }
    const hour = next(c.hours, h, 23);
    if (hour < 0) {
      d++;
      h = mi = s = 0;
      if (d > monthDays) {
        d = 1;
        mo++;
        if (mo > 12) {
          y++;
          mo = 1;
        }
      }
      continue;
    }
    if (hour !== h) {
      h = hour;
      mi = s = 0;
    }
    const minute = next(c.minutes, mi, 59);
    if (minute < 0) {
      h++;
      mi = s = 0;
      if (h > 23) {
        h = 0;
        d++;
        if (d > monthDays) {
          d = 1;
          mo++;
          if (mo > 12) {
            y++;
            mo = 1;
          }
        }
      }
      continue;
    }
    if (minute !== mi) {
      mi = minute;
      s = 0;
    }
    const second = next(c.seconds, s, 59);
    if (second < 0) {
      const t = Date.UTC(y, mo - 1, d, h, mi + 1, 0);
      const n = new Date(t);
      y = n.getUTCFullYear();
      mo = n.getUTCMonth() + 1;
      d = n.getUTCDate();
      h = n.getUTCHours();
      mi = n.getUTCMinutes();
      s = 0;
      continue;
    }
    return Date.UTC(y, mo - 1, d, h, mi, second);
  }
  return undefined;
}

const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, f);
  }
  return f;
}

/** Checks an IANA time zone name; throws `INVALID_ARGUMENT`. Returns its canonical spelling. */
export function parseTimeZone(timeZone: unknown): string {
  if (typeof timeZone !== 'string' || timeZone === '') {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `A time zone is an IANA name such as "UTC" or "Europe/Berlin", got ${JSON.stringify(timeZone)}`,
    );
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
  } catch {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `Unknown time zone ${JSON.stringify(timeZone)}: use an IANA name such as "UTC", "America/New_York" or "Europe/Berlin"`,
    );
  }
}

function isUtc(timeZone: string): boolean {
  return timeZone === 'UTC' || timeZone === 'Etc/UTC' || timeZone === 'GMT';
}

/** The wall clock of `timeZone` at instant `t`, as UTC milliseconds (whole seconds). */
export function wallClock(timeZone: string, t: number): number {
  const whole = Math.floor(t / 1000) * 1000;
  if (isUtc(timeZone)) return whole;
  return whole + offsetAt(timeZone, t);
}

function rawWallClock(timeZone: string, whole: number): number {
  const p: Record<string, number> = {};
  for (const part of formatFor(timeZone).formatToParts(whole)) {
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  }
  return Date.UTC(p['year']!, p['month']! - 1, p['day'], p['hour']! % 24, p['minute'], p['second']);
}

function rawOffset(timeZone: string, whole: number): number {
  return rawWallClock(timeZone, whole) - whole;
}

const BUCKET_MS = 15 * 60_000;
/** Per zone: 15-minute bucket → its offset, for buckets with no transition inside. */
const offsets = new Map<string, Map<number, number | null>>();

/**
 * The zone's offset at `t`. Offsets are cached per 15-minute bucket whose two ends have the same
 * offset (no zone changes its offset twice within 15 minutes, so nothing changes inside); a
 * bucket with a transition inside is computed for each instant.
 */
function offsetAt(timeZone: string, t: number): number {
  const whole = Math.floor(t / 1000) * 1000;
  let zone = offsets.get(timeZone);
  if (zone === undefined) offsets.set(timeZone, (zone = new Map<number, number | null>()));
  const bucket = Math.floor(whole / BUCKET_MS);
  let cached = zone.get(bucket);
  if (cached === undefined) {
    const start = rawOffset(timeZone, bucket * BUCKET_MS);
    const end = rawOffset(timeZone, (bucket + 1) * BUCKET_MS);
    cached = start === end ? start : null;
    if (zone.size >= 50_000) zone.clear();
    zone.set(bucket, cached);
  }
  return cached ?? rawOffset(timeZone, whole);
}

const DAY_MS = 86_400_000;

/**
 * The instant a wall-clock time of `timeZone` happens: the first of two in a fall-back overlap,
 * and the end of the gap (the first instant after it) for a time a spring-forward skips.
 */
export function toInstant(timeZone: string, wall: number): number {
  if (isUtc(timeZone)) return wall;
  const before = offsetAt(timeZone, wall - DAY_MS);
  const after = offsetAt(timeZone, wall + DAY_MS);
  let best: number | undefined;
  for (const o of before === after ? [before] : [before, after]) {
    const t = wall - o;
    if (offsetAt(timeZone, t) === o && (best === undefined || t < best)) best = t;
  }
  if (best !== undefined) return best;
  // In a gap: the instant the new offset begins.
  let lo = Math.min(wall - before, wall - after);
  let hi = Math.max(wall - before, wall - after);
  const first = offsetAt(timeZone, lo);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (offsetAt(timeZone, mid) === first) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The first instant after `afterMs` at which `c` fires in `timeZone`, or `undefined` (never). */
export function nextCronTime(
  c: CronExpression,
  timeZone: string,
  afterMs: number,
): number | undefined {
  let from = wallClock(timeZone, afterMs) + 1000;
  if (!c.withSeconds) from = Math.ceil(from / 60_000) * 60_000;
  // A wall-clock time whose instant is not after `afterMs` fired already (a fall-back overlap
  // walked a second time): look further.
  for (let i = 0; i < 10_000; i++) {
    const wall = nextCronWall(c, from);
    if (wall === undefined) return undefined;
    const t = toInstant(timeZone, wall);
    if (t > afterMs) return t;
    from = wall + 1000;
  }
  return undefined;
}

/** A time as `timeZone`'s wall clock, `YYYY-MM-DD HH:MM:SS`. */
export function formatWallClock(timeZone: string, t: number): string {
  return new Date(wallClock(timeZone, t)).toISOString().slice(0, 19).replace('T', ' ');
}

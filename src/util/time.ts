/**
 * RFC 3339 timestamps as kerno and the reference systems write them.
 *
 * kerno's own records use `Date#toISOString()` (`2026-05-14T10:00:00.123Z`). The reference
 * systems (Rust, chrono) write only the fractional digits needed (0, 3, 6 or 9), with `Z` (serde)
 * or `+00:00` (`to_rfc3339()`); {@link formatChrono} reproduces both.
 *
 * @module
 */

let lastMs = Number.NaN;
let lastText = '';

/** kerno's timestamp form: UTC, millisecond precision, `Z` suffix. */
export function formatTimestamp(ms: number): string {
  // Records made in the same millisecond (hundreds of them under load) share one string.
  if (ms !== lastMs) {
    lastText = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastText;
}

/** A parsed RFC 3339 instant with sub-millisecond precision kept. */
export interface Instant {
  /** Milliseconds since the epoch (floored). */
  readonly ms: number;
  /** Nanoseconds within the millisecond, 0–999 999. */
  readonly subMsNanos: number;
}

const RFC3339_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Parses an RFC 3339 timestamp (with any offset, up to 9 fractional digits), or returns `undefined`. */
export function parseRfc3339(text: string): Instant | undefined {
  const m = RFC3339_RE.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let ms = Date.UTC(year, month - 1, day, hour, minute, second);
  if (year < 100) ms = new Date(ms).setUTCFullYear(year);
  const nanos = frac === undefined ? 0 : Number(frac.padEnd(9, '0'));
  ms += Math.floor(nanos / 1_000_000);
  if (z === undefined) {
    const offset = (Number(oh) * 60 + Number(om)) * 60_000;
    if (Number(oh) > 23 || Number(om) > 59) return undefined;
    ms += sign === '+' ? -offset : offset;
  }
  return { ms, subMsNanos: nanos % 1_000_000 };
}

/** Parses an RFC 3339 timestamp to epoch milliseconds, or returns `undefined`. */
export function parseTimestamp(text: string): number | undefined {
  return parseRfc3339(text)?.ms;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate() || 31;
}

/**
 * Formats like chrono: UTC, the fractional digits needed (none, 3, 6 or 9), and either `Z`
 * (serde's `DateTime<Utc>` form) or `+00:00` (`to_rfc3339()`).
 */
export function formatChrono(instant: number | Instant, suffix: 'Z' | '+00:00' = 'Z'): string {
  const { ms, subMsNanos } = typeof instant === 'number' ? { ms: instant, subMsNanos: 0 } : instant;
  const iso = new Date(ms).toISOString(); // yyyy-mm-ddThh:mm:ss.sssZ
  const base = iso.slice(0, 19);
  const nanos = (ms - Math.floor(ms / 1000) * 1000) * 1_000_000 + subMsNanos;
  let frac = '';
  if (nanos !== 0) {
    if (nanos % 1_000_000 === 0) frac = '.' + String(nanos / 1_000_000).padStart(3, '0');
    else if (nanos % 1_000 === 0) frac = '.' + String(nanos / 1_000).padStart(6, '0');
    else frac = '.' + String(nanos).padStart(9, '0');
  }
  return base + frac + suffix;
}

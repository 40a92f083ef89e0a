/**
 * Numbers written the way Rust's serde_json writes them (it formats floats with the `ryu`
 * crate): the shortest decimal that reads back to the same `f32` / `f64`, integral values with
 * a `.0` (`1000.0`), scientific notation outside ryu's plain-notation range (`1e-7`, `1.5e16`),
 * no `+` in exponents. An `f32` field holds `Math.fround` of the JavaScript number, as serde_json
 * reads one (`f64` parse, then `as f32`).
 *
 * @example
 * formatF32(0.9); // '0.9'
 * formatF32(1000); // '1000.0'
 * formatF64(1e-7); // '1e-7'
 *
 * @module
 */

/**
 * Formats an `f64` like serde_json (ryu): shortest round-trip digits; plain notation for
 * 1e-5 ≤ |v| < 1e16, scientific otherwise. `v` must be finite.
 */
export function formatF64(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e-5 && a < 1e16) {
    const s = String(v);
    return Number.isInteger(v) ? s + '.0' : s;
  }
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  // JavaScript's shortest digits are ryu's shortest digits; only the notation differs.
  const [mantissa, exp] = v.toExponential().split('e') as [string, string];
  const neg = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  return layout(neg, digits, Number(exp) + 1, 16, -5);
}

/**
 * Formats an `f32` like serde_json (ryu): the shortest decimal that reads back (`as f32`) to
 * `Math.fround(v)`, the closest one when several are that short (ties to an even last digit);
 * plain notation for 1e-6 ≤ |v| < 1e13, scientific otherwise. `Math.fround(v)` must be finite.
 */
export function formatF32(v: number): string {
  const f = Math.fround(v);
  if (f === 0) return Object.is(f, -0) ? '-0.0' : '0.0';
  const a = Math.abs(f);
  if (a >= 1e-6 && a < 1e13) {
    // v's own shortest text, when it has at most 6 significant digits, is the f32's shortest
    // text too: it reads back to v, hence to f, and 6-digit decimals lie further apart than an
    // f32's rounding interval is wide, so no other decimal that short reads back to f.
    const s = String(v);
    if (significantDigits(s) <= 6) return Number.isInteger(v) ? s + '.0' : s;
  }
  const { digits, kk } = shortestF32Interval(a) ?? shortestF32Exact(a);
  return layout(f < 0, digits, kk, 13, -6);
}

/**
 * The number that an `f32` field holds after a round trip through serde_json: the value of the
 * shortest decimal of `Math.fround(v)`. Normalising on save makes in-memory values equal to
 * what a reload gives.
 */
export function canonicalF32(v: number): number {
  return Number(formatF32(v));
}

/** Whether `v` is a number an `f32` field can hold (finite after rounding to `f32`). */
export function isF32(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(Math.fround(v));
}

function significantDigits(s: string): number {
  let n = 0;
  let leading = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) {
      if (c === 101 /* e */) return 99;
      continue;
    }
    if (leading && c === 48) continue;
    leading = false;
    n++;
  }
  // Trailing zeros of an integer are not significant, but counting them only sends the value
  // down the exact path, which is always correct.
  return n;
}

interface Shortest {
  /** Significant digits, no trailing zeros. */
  readonly digits: string;
  /** Decimal point position: value = 0.digits × 10^kk. */
  readonly kk: number;
}

const F32_BOX = new Float32Array(1);
const F32_BITS = new Uint32Array(F32_BOX.buffer);
const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
const TOLERANCE = 1e-6;

/**
 * Shortest digits of the positive f32 `a` by scanning its rounding interval in f64 arithmetic,
 * which is exact enough away from interval bounds and halfway points; returns `undefined` when a
 * decision falls too close to one of those (then the exact path decides). Covers 1e-6 ≤ a < 1e13.
 */
function shortestF32Interval(a: number): Shortest | undefined {
  if (!(a >= 1e-6 && a < 1e13)) return undefined;
  F32_BOX[0] = a;
  const bits = F32_BITS[0]!;
  const ieeeExp = (bits >>> 23) & 0xff;
  const ieeeMant = bits & 0x7fffff;
  const m = ieeeMant | 0x800000; // normal: a ≥ 1e-6 is far above the subnormal range
  const e2 = ieeeExp - 150;
  const half = 2 ** (e2 - 1);
  const hi = (2 * m + 1) * half;
  // At a power of two the gap below is half as wide.
  const lo = ieeeMant === 0 && ieeeExp > 1 ? (4 * m - 1) * (half / 2) : (2 * m - 1) * half;
  let kkA = Math.floor(Math.log10(a)) + 1;
  if (a >= 10 ** kkA) kkA++;
  else if (a < 10 ** (kkA - 1)) kkA--;
  for (let p = 1; p <= 9; p++) {
    const shift = p - kkA; // scaled = value × 10^shift
    const L = scaleBy(lo, shift);
    const H = scaleBy(hi, shift);
    if (nearInteger(L) || nearInteger(H)) return undefined;
    // L and H are not integers here, so whether ryu accepts an exact bound does not matter.
    const dMin = Math.ceil(L);
    const dMax = Math.floor(H);
    if (dMin > dMax) continue;
    const X = scaleBy(a, shift);
    const frac = X - Math.floor(X);
    if (Math.abs(frac - 0.5) < TOLERANCE) return undefined;
    const d = Math.min(dMax, Math.max(dMin, Math.round(X)));
    return strip(String(d), -shift);
  }
  return undefined;
}

// A plain function, not a closure: a closure per call costs more than the whole scan here.
function scaleBy(x: number, shift: number): number {
  return shift >= 0 ? x * POW10[shift]! : x / POW10[-shift]!;
}

function nearInteger(x: number): boolean {
  const frac = x - Math.floor(x);
  return frac < TOLERANCE || frac > 1 - TOLERANCE;
}

/** Drops trailing zeros of `d` (value = d × 10^exp10). */
function strip(d: string, exp10: number): Shortest {
  let digits = d;
  while (digits.length > 1 && digits.endsWith('0')) digits = digits.slice(0, -1);
  return { digits, kk: exp10 + d.length };
}

/**
 * Shortest digits of the positive f32 `a`, exactly: for each length, the correctly rounded
 * decimal and its two neighbours are tested for reading back to `a`; among those that do, the
 * closest wins, with exact (BigInt) distances and ties to an even last digit.
 */
function shortestF32Exact(a: number): Shortest {
  for (let p = 1; p <= 9; p++) {
    const [m, e] = a.toExponential(p - 1).split('e') as [string, string];
    const exp = Number(e) - (p - 1); // value = D × 10^exp
    const d = Number(m.replace('.', ''));
    const fits = [d - 1, d, d + 1].filter((c) => c > 0 && Math.fround(Number(`${c}e${exp}`)) === a);
    if (fits.length === 0) continue;
    let best = fits[0]!;
    for (const c of fits.slice(1)) {
      const cmp = compareDistance(c, best, exp, a);
      if (cmp < 0 || (cmp === 0 && c % 2 === 0)) best = c;
    }
    return strip(String(best), exp);
  }
  /* c8 ignore next */
  throw new Error('unreachable: 9 significant digits always identify an f32');
}

/** Sign of |c1·10^exp − a| − |c2·10^exp − a|, computed exactly. */
function compareDistance(c1: number, c2: number, exp: number, a: number): number {
  F32_BOX[0] = a;
  const bits = F32_BITS[0]!;
  const ieeeExp = (bits >>> 23) & 0xff;
  const mant = BigInt(ieeeExp === 0 ? bits & 0x7fffff : (bits & 0x7fffff) | 0x800000);
  const e2 = ieeeExp === 0 ? -149 : ieeeExp - 150;
  const s2 = e2 < 0 ? -e2 : 0;
  const s10 = exp < 0 ? -exp : 0;
  const target = mant * 2n ** BigInt(e2 + s2) * 10n ** BigInt(s10);
  const unit = 10n ** BigInt(exp + s10) * 2n ** BigInt(s2);
  const dist = (c: number): bigint => {
    const diff = BigInt(c) * unit - target;
    return diff < 0n ? -diff : diff;
  };
  const d1 = dist(c1);
  const d2 = dist(c2);
  return d1 < d2 ? -1 : d1 > d2 ? 1 : 0;
}

/** ryu's notation choice. `digits` has no trailing zeros; the value is 0.digits × 10^kk. */
function layout(
  neg: boolean,
  digits: string,
  kk: number,
  maxPlain: number,
  minPlain: number,
): string {
  const sign = neg ? '-' : '';
  const len = digits.length;
  const k = kk - len;
  if (k >= 0 && kk <= maxPlain) return sign + digits + '0'.repeat(k) + '.0';
  if (kk > 0 && kk <= maxPlain) return sign + digits.slice(0, kk) + '.' + digits.slice(kk);
  if (kk > minPlain && kk <= 0) return sign + '0.' + '0'.repeat(-kk) + digits;
  const e = 'e' + String(kk - 1);
  return len === 1 ? sign + digits + e : sign + digits[0] + '.' + digits.slice(1) + e;
}

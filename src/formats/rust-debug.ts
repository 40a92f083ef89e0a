/**
 * Rust's `Debug` and `Display` renderings of strings and floats, as oxios writes them into audit
 * entries (`format!("{event:?}")`, `format!("score={final_score}")`).
 *
 * @module
 */

/** Rust's `{:?}` for a `str`: quoted, with `\"`, `\\`, `\n`, `\r`, `\t`, `\0` and `\u{…}` escapes. */
export function rustDebugString(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return '"' + value + '"';
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        break;
      case '\\':
        out += '\\\\';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\0':
        out += '\\0';
        break;
      default:
        out += cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? `\\u{${cp.toString(16)}}` : ch;
    }
  }
  return out + '"';
}

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\u009f]/;

/** Rust's `{:?}` for an `f64`: `1.0`, `0.85`, `1e16`, `1.5e-7`. */
export function rustDebugF64(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(value);
  if (abs >= 1e16 || abs < 1e-4) {
    const [mantissa, exp] = value.toExponential().split('e') as [string, string];
    return `${mantissa}e${exp.replace('+', '')}`;
  }
  const text = String(value);
  return text.includes('.') ? text : text + '.0';
}

/** Rust's `{}` (Display) for an `f64`: never an exponent, no `.0` for whole numbers. */
export function rustDisplayF64(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  const text = String(value);
  if (!text.includes('e')) return text === '0' && Object.is(value, -0) ? '-0' : text;
  const [mantissa, expText] = text.split('e') as [string, string];
  const exp = Number(expText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const pointAt =
    (mantissa.replace('-', '').indexOf('.') === -1
      ? digits.length
      : mantissa.replace('-', '').indexOf('.')) + exp;
  let out: string;
  if (pointAt <= 0) out = '0.' + '0'.repeat(-pointAt) + digits;
  else if (pointAt >= digits.length) out = digits + '0'.repeat(pointAt - digits.length);
  else out = digits.slice(0, pointAt) + '.' + digits.slice(pointAt);
  return (negative ? '-' : '') + out;
}

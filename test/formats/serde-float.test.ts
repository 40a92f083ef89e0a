import { describe, expect, it } from 'vitest';
import { canonicalF32, formatF32, formatF64, seededRandom } from '../../src/index.js';

// Expected texts: ryu's own test cases (dtolnay/ryu tests/f2s_test.rs, d2s_test.rs), laid out
// with the plain-notation ranges of current ryu (f32: 1e-6 ≤ |v| < 1e13; f64: 1e-5 ≤ |v| < 1e16).
const F32_CASES: [number, string][] = [
  [0, '0.0'],
  [-0, '-0.0'],
  [1, '1.0'],
  [-1, '-1.0'],
  [0.9, '0.9'],
  [0.85, '0.85'],
  [1000, '1000.0'],
  [0.1 + 0.2, '0.3'],
  [1 / 3, '0.33333334'],
  [1.234e20, '1.234e20'],
  [2.71828, '2.71828'],
  [1.1e32, '1.1e32'],
  [1.1e-32, '1.1e-32'],
  [2.7182817, '2.7182817'],
  [1e-45, '1e-45'],
  [3.4028235e38, '3.4028235e38'],
  [-1.234e-3, '-0.001234'],
  [1.1754944e-38, '1.1754944e-38'],
  // exact bounds are shortest only for an even mantissa
  [3.355445e7, '33554450.0'],
  [9e9, '9000000000.0'],
  [3.436672e10, '34366720000.0'],
  // halfway between two shortest candidates: the even one
  [3.0540412e5, '305404.12'],
  [8.0990312e3, '8099.0312'],
  [2.4414062e-4, '0.00024414062'],
  [6.3476562e-3, '0.0063476562'],
  [8.388608e6, '8388608.0'],
  [1.6777216e7, '16777216.0'],
  [-2.47e-43, '-2.47e-43'],
  [5.3399997e9, '5339999700.0'],
  [2.816025e14, '2.816025e14'],
  [6.7108864e17, '6.7108864e17'],
  [123456789, '123456790.0'],
  [1e-6, '0.000001'],
  [1e-7, '1e-7'],
  [1e12, '1000000000000.0'],
  [1e13, '1e13'],
];

const F64_CASES: [number, string][] = [
  [0, '0.0'],
  [-0, '-0.0'],
  [0.5, '0.5'],
  [42, '42.0'],
  [0.1 + 0.2, '0.30000000000000004'],
  [1e15, '1000000000000000.0'],
  [1e16, '1e16'],
  [1e-5, '0.00001'],
  [1e-6, '1e-6'],
  [1.5e-7, '1.5e-7'],
  [2.5e20, '2.5e20'],
  [5e-324, '5e-324'],
  [1.7976931348623157e308, '1.7976931348623157e308'],
  [-1.23456789e15, '-1234567890000000.0'],
];

describe('serde_json (ryu) number text', () => {
  it.each(F32_CASES)('formats f32 %d as %s', (value, text) => {
    expect(formatF32(value)).toBe(text);
  });

  it.each(F64_CASES)('formats f64 %d as %s', (value, text) => {
    expect(formatF64(value)).toBe(text);
  });

  it('writes the shortest f32 text that reads back, for random bit patterns', () => {
    const random = seededRandom(1);
    const bytes = new Uint8Array(4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < 20_000; i++) {
      random.fill(bytes);
      const f = view.getFloat32(0);
      if (!Number.isFinite(f)) continue;
      const text = formatF32(f);
      expect(Math.fround(Number(text))).toBe(f);
      // one digit fewer never reads back
      const digits = text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '');
      const sig = digits.replace(/0+$/, '').length;
      if (sig > 1) {
        const shorter = Number(Math.abs(f).toPrecision(sig - 1));
        expect(Math.fround(shorter)).not.toBe(Math.abs(f));
      }
    }
  });

  it('canonicalF32 gives what a serde_json round trip gives', () => {
    expect(canonicalF32(1 / 3)).toBe(0.33333334);
    expect(canonicalF32(0.9)).toBe(0.9);
    expect(canonicalF32(Math.fround(0.9))).toBe(0.9);
  });
});

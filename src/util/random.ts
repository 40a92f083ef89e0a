/**
 * Randomness as a dependency: {@link systemRandom} in production, {@link seededRandom} in tests.
 *
 * @module
 */
import { randomFillSync } from 'node:crypto';

/** A source of random bytes and floats. */
export interface Random {
  /** Fills `target` with random bytes and returns it. */
  fill(target: Uint8Array): Uint8Array;
  /** A float in [0, 1). */
  float(): number;
}

const POOL_SIZE = 4096;

/** Cryptographically strong randomness from `node:crypto`, drawn from a pooled buffer. */
export const systemRandom: Random = (() => {
  const pool = new Uint8Array(POOL_SIZE);
  let offset = POOL_SIZE;
  const take = (target: Uint8Array): Uint8Array => {
    if (target.length > POOL_SIZE) return randomFillSync(target);
    if (offset + target.length > POOL_SIZE) {
      randomFillSync(pool);
      offset = 0;
    }
    target.set(pool.subarray(offset, offset + target.length));
    offset += target.length;
    return target;
  };
  const six = new Uint8Array(7);
  return Object.freeze({
    fill: take,
    float(): number {
      take(six);
      // 53 random bits → [0, 1)
      const hi = ((six[0]! << 13) | (six[1]! << 5) | (six[2]! >>> 3)) >>> 0; // 21 bits
      const lo = ((six[3]! << 24) | (six[4]! << 16) | (six[5]! << 8) | six[6]!) >>> 0; // 32 bits
      return (hi * 2 ** 32 + lo) / 2 ** 53;
    },
  });
})();

/**
 * A deterministic generator (sfc32) for tests: the same seed gives the same sequence.
 * Not for secrets.
 */
export function seededRandom(seed: number): Random {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ (seed * 31);
  let c = 0xb7e15162 ^ (seed * 17);
  let d = 1;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (a + b + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) next();
  return Object.freeze({
    fill(target: Uint8Array): Uint8Array {
      for (let i = 0; i < target.length; i++) target[i] = next() & 0xff;
      return target;
    },
    float: () => next() / 2 ** 32,
  });
}

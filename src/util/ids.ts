/**
 * Identifiers: UUIDv7 (RFC 9562), time-ordered and monotonic within one generator, built from
 * an injected {@link Clock} and {@link Random} so tests get reproducible ids.
 *
 * @module
 */
import { systemClock, type Clock } from './clock.js';
import { systemRandom, type Random } from './random.js';

/** A function that returns a fresh id each call. */
export type IdGenerator = () => string;

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Options for {@link createUuidV7}. */
export interface UuidV7Options {
  readonly clock?: Clock;
  readonly random?: Random;
}

/**
 * Creates a UUIDv7 generator. Ids from one generator sort in creation order even within the
 * same millisecond (a 12-bit counter seeded randomly, RFC 9562 method 1; on overflow the
 * timestamp is advanced by one millisecond).
 */
export function createUuidV7(options: UuidV7Options = {}): IdGenerator {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const bytes = new Uint8Array(16);
  let lastMs = -1;
  let counter = 0;
  return () => {
    let ms = clock.now();
    random.fill(bytes);
    if (ms <= lastMs) {
      counter++;
      if (counter > 0xfff) {
        lastMs++;
        counter = bytes[6]! & 0x07;
      }
      ms = lastMs;
    } else {
      lastMs = ms;
      counter = ((bytes[6]! & 0x07) << 8) | bytes[7]!; // keep headroom: top bit of the counter clear
    }
    bytes[0] = Math.floor(ms / 2 ** 40) & 0xff;
    bytes[1] = Math.floor(ms / 2 ** 32) & 0xff;
    bytes[2] = (ms >>> 24) & 0xff;
    bytes[3] = (ms >>> 16) & 0xff;
    bytes[4] = (ms >>> 8) & 0xff;
    bytes[5] = ms & 0xff;
    bytes[6] = 0x70 | ((counter >>> 8) & 0x0f);
    bytes[7] = counter & 0xff;
    bytes[8] = 0x80 | (bytes[8]! & 0x3f);
    return formatUuid(bytes);
  };
}

function formatUuid(b: Uint8Array): string {
  return (
    HEX[b[0]!]! +
    HEX[b[1]!]! +
    HEX[b[2]!]! +
    HEX[b[3]!]! +
    '-' +
    HEX[b[4]!]! +
    HEX[b[5]!]! +
    '-' +
    HEX[b[6]!]! +
    HEX[b[7]!]! +
    '-' +
    HEX[b[8]!]! +
    HEX[b[9]!]! +
    '-' +
    HEX[b[10]!]! +
    HEX[b[11]!]! +
    HEX[b[12]!]! +
    HEX[b[13]!]! +
    HEX[b[14]!]! +
    HEX[b[15]!]!
  );
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `value` is a UUID in canonical lower-case hyphenated form (any version). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && value.length === 36 && UUID_RE.test(value);
}

/** The millisecond timestamp embedded in a UUIDv7. */
export function uuidV7Time(id: string): number {
  const hex = id.slice(0, 8) + id.slice(9, 13);
  return Number.parseInt(hex, 16);
}

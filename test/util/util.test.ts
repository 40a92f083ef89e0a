import { describe, expect, it } from 'vitest';
import {
  KernelError,
  ManualClock,
  canonicalJson,
  createUuidV7,
  isKernelError,
  isUuid,
  seededRandom,
  sleep,
  uuidV7Time,
} from '../../src/index.js';
import { formatChrono, formatTimestamp, parseRfc3339 } from '../../src/util/time.js';

describe('KernelError', () => {
  it('carries a code, a cause and details; the guard works structurally', () => {
    const cause = new Error('disk');
    const e = new KernelError('STORAGE_ERROR', 'could not write', {
      cause,
      details: { path: 'x' },
    });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('KernelError');
    expect(e.cause).toBe(cause);
    expect(isKernelError(e)).toBe(true);
    expect(isKernelError(e, 'STORAGE_ERROR', 'CONFLICT')).toBe(true);
    expect(isKernelError(e, 'CONFLICT')).toBe(false);
    expect(isKernelError(new Error('x'))).toBe(false);
    expect(isKernelError({ code: 'STORAGE_ERROR' })).toBe(false);
    // a copy from another module instance carries the same brand
    const foreign = Object.assign(new Error('y'), {
      code: 'CONFLICT',
      [Symbol.for('kerno.KernelError')]: true,
    });
    expect(isKernelError(foreign, 'CONFLICT')).toBe(true);
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      name: 'KernelError',
      code: 'STORAGE_ERROR',
      message: 'could not write',
      details: { path: 'x' },
    });
  });
});

describe('UUIDv7', () => {
  it('is deterministic with an injected clock and random source, and sorts in creation order', () => {
    const make = () =>
      createUuidV7({ clock: new ManualClock(Date.UTC(2026, 0, 1)), random: seededRandom(7) });
    const a = make();
    const b = make();
    const ids = Array.from({ length: 5000 }, () => a());
    expect(Array.from({ length: 5000 }, () => b())).toEqual(ids);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 10)) {
      expect(isUuid(id)).toBe(true);
      expect(id[14]).toBe('7');
      expect('89ab').toContain(id[19]);
    }
    expect(uuidV7Time(ids[0]!)).toBe(Date.UTC(2026, 0, 1));
  });

  it('embeds the time as it advances', () => {
    const clock = new ManualClock(1000);
    const next = createUuidV7({ clock });
    const first = next();
    clock.advance(5);
    expect(uuidV7Time(next())).toBe(1005);
    expect(uuidV7Time(first)).toBe(1000);
  });
});

describe('ManualClock', () => {
  it('fires timers in time order only when advanced', async () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 20);
    clock.setTimeout(() => {
      fired.push('a');
      clock.setTimeout(() => fired.push('c'), 5);
    }, 10);
    const gone = clock.setTimeout(() => fired.push('never'), 12);
    clock.clearTimeout(gone);
    clock.advance(9);
    expect(fired).toEqual([]);
    clock.advance(11);
    expect(fired).toEqual(['a', 'c', 'b']);
    expect(clock.now()).toBe(20);
    const done = sleep(clock, 100);
    clock.advance(100);
    await expect(done).resolves.toBeUndefined();
    const ac = new AbortController();
    const aborted = sleep(clock, 100, ac.signal);
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
  });
});

describe('canonical JSON', () => {
  it('sorts keys at every level and is stable', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, u: undefined })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson('é"')).toBe(JSON.stringify('é"'));
  });

  it('rejects what JSON cannot hold', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(/NaN/);
    expect(() => canonicalJson(1n)).toThrow(/bigint/);
    const cyc: Record<string, unknown> = {};
    cyc['self'] = cyc;
    expect(() => canonicalJson(cyc)).toThrow(/deeper|cycle/);
  });
});

describe('RFC 3339', () => {
  it('formats kerno timestamps, alternating instants included', () => {
    const a = Date.UTC(2026, 4, 14, 10, 0, 0, 123);
    const b = a + 1;
    expect([a, a, b, a, b, b].map(formatTimestamp)).toEqual(
      [a, a, b, a, b, b].map((ms) => new Date(ms).toISOString()),
    );
    expect(formatTimestamp(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(() => formatTimestamp(Number.NaN)).toThrow(RangeError);
  });

  it('parses offsets and up to nine fractional digits; formats like chrono', () => {
    const i = parseRfc3339('2026-05-14T12:00:00.123456789+02:00')!;
    expect(i.ms).toBe(Date.UTC(2026, 4, 14, 10, 0, 0, 123));
    expect(i.subMsNanos).toBe(456789);
    expect(formatChrono(i, '+00:00')).toBe('2026-05-14T10:00:00.123456789+00:00');
    expect(formatChrono(Date.UTC(2026, 4, 14, 10), 'Z')).toBe('2026-05-14T10:00:00Z');
    expect(formatChrono(Date.UTC(2026, 4, 14, 10, 0, 0, 120))).toBe('2026-05-14T10:00:00.120Z');
    expect(formatChrono(parseRfc3339('2026-05-14T10:00:00.000001Z')!)).toBe(
      '2026-05-14T10:00:00.000001Z',
    );
    for (const bad of [
      '2026-02-30T00:00:00Z',
      '2026-05-14 10:00:00Z',
      '2026-05-14T25:00:00Z',
      'now',
      '2026-05-14T10:00:00',
    ]) {
      expect(parseRfc3339(bad)).toBeUndefined();
    }
  });
});

/**
 * Cron expressions and time zones: parsing (a bad expression names its field), next fire times
 * in UTC and in IANA zones, and daylight-saving gaps and overlaps.
 */
import { describe, expect, it } from 'vitest';
import { isKernelError, type KernelError } from '../../src/errors.js';
import {
  formatWallClock,
  nextCronTime,
  parseCron,
  parseTimeZone,
  toInstant,
} from '../../src/policies/cron.js';

function refused(expression: string): KernelError {
  try {
    parseCron(expression);
  } catch (error) {
    expect(isKernelError(error, 'INVALID_ARGUMENT'), String(error)).toBe(true);
    return error as KernelError;
  }
  throw new Error(`expected ${expression} to be refused`);
}

const at = (iso: string): number => Date.parse(iso);
const iso = (t: number | undefined): string | undefined =>
  t === undefined ? undefined : new Date(t).toISOString();

/** The next `n` fire times after `from`. */
function fires(expr: string, tz: string, from: string, n: number): string[] {
  const c = parseCron(expr);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    const next = nextCronTime(c, tz, t);
    if (next === undefined) break;
    out.push(new Date(next).toISOString());
    t = next;
  }
  return out;
}

describe('cron parsing', () => {
  it('reads fields, ranges, steps, lists, names, macros and an optional seconds field', () => {
    expect(fires('*/15 9-10 * * mon-fri', 'UTC', '2026-12-04T09:50:00Z', 3)).toEqual([
      '2026-12-04T10:00:00.000Z',
      '2026-12-04T10:15:00.000Z',
      '2026-12-04T10:30:00.000Z',
    ]);
    // Friday 10:45 → next is Monday 09:00.
    expect(fires('*/15 9-10 * * mon-fri', 'UTC', '2026-12-04T10:45:00Z', 1)).toEqual([
      '2026-12-07T09:00:00.000Z',
    ]);
    expect(fires('30 */20 * * * *', 'UTC', '2026-12-04T00:00:00Z', 3)).toEqual([
      '2026-12-04T00:00:30.000Z',
      '2026-12-04T00:20:30.000Z',
      '2026-12-04T00:40:30.000Z',
    ]);
    expect(fires('@hourly', 'UTC', '2026-12-04T10:59:59Z', 1)).toEqual([
      '2026-12-04T11:00:00.000Z',
    ]);
    expect(fires('@monthly', 'UTC', '2026-12-04T10:00:00Z', 1)).toEqual([
      '2027-01-01T00:00:00.000Z',
    ]);
    expect(fires('@weekly', 'UTC', '2026-12-04T10:00:00Z', 1)).toEqual([
      '2026-12-06T00:00:00.000Z',
    ]);
    expect(fires('0 0 29 feb *', 'UTC', '2026-01-01T00:00:00Z', 1)).toEqual([
      '2028-02-29T00:00:00.000Z',
    ]);
    // Weekday 7 is Sunday; both day fields restricted: either matches.
    expect(fires('0 12 1 * 7', 'UTC', '2026-11-30T00:00:00Z', 2)).toEqual([
      '2026-12-01T12:00:00.000Z',
      '2026-12-06T12:00:00.000Z',
    ]);
    expect(fires('0 0 1,15 jan,JUL ?', 'UTC', '2026-01-02T00:00:00Z', 2)).toEqual([
      '2026-01-15T00:00:00.000Z',
      '2026-07-01T00:00:00.000Z',
    ]);
    // The next fire time is strictly after the given instant.
    expect(fires('0 12 * * *', 'UTC', '2026-12-04T12:00:00Z', 1)).toEqual([
      '2026-12-05T12:00:00.000Z',
    ]);
  });

  it('refuses a bad expression with a typed error naming the field', () => {
    expect(refused('61 * * * *').message).toBe(
      'The cron expression "61 * * * *": the minute field "61" is out of range 0–59',
    );
    expect(refused('0 24 * * *').details).toEqual({ field: 'hour', value: '24' });
    expect(refused('0 0 32 * *').message).toContain(
      'the day-of-month field "32" is out of range 1–31',
    );
    expect(refused('0 0 * 13 *').message).toContain('the month field "13"');
    expect(refused('0 0 * foo *').message).toContain(
      'the month field "foo" is not a number or a name (jan, feb',
    );
    expect(refused('0 0 * * 8').message).toContain('the day-of-week field "8" is out of range 0–7');
    expect(refused('*/0 * * * *').message).toContain(
      'the minute field "*/0" needs a step of 1 or more',
    );
    expect(refused('0 10-5 * * *').message).toContain(
      'the hour field "10-5" is a range that ends before it starts',
    );
    expect(refused('0 1,,2 * * *').message).toContain(
      'the hour field "1,,2" has an empty list item',
    );
    expect(refused('? * * * *').message).toContain('the minute field "?" may not be "?"');
    expect(refused('0 0 30 2 *').message).toContain('it would never fire');
    expect(refused('* * *').message).toBe(
      'The cron expression "* * *" has 3 fields: write 5 (minute hour day-of-month month day-of-week) or 6 (a leading second)',
    );
    expect(refused('@often').message).toContain('is not a known macro: use one of @yearly');
    expect(refused('  ').message).toContain('A cron expression is 5 fields');
  });

  it('checks time zones', () => {
    expect(parseTimeZone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(() => parseTimeZone('Mars/Olympus')).toThrow(
      'Unknown time zone "Mars/Olympus": use an IANA name',
    );
    expect(() => parseTimeZone(3)).toThrow('A time zone is an IANA name');
  });
});

describe('cron in time zones', () => {
  it('fires at the wall-clock time of the zone', () => {
    // 09:00 in Berlin in winter is 08:00 UTC, in summer 07:00 UTC.
    expect(fires('0 9 * * *', 'Europe/Berlin', '2026-12-04T12:00:00Z', 1)).toEqual([
      '2026-12-05T08:00:00.000Z',
    ]);
    expect(fires('0 9 * * *', 'Europe/Berlin', '2026-06-04T12:00:00Z', 1)).toEqual([
      '2026-06-05T07:00:00.000Z',
    ]);
    // A half-hour zone.
    expect(fires('0 9 * * *', 'Asia/Kolkata', '2026-06-04T12:00:00Z', 1)).toEqual([
      '2026-06-05T03:30:00.000Z',
    ]);
    expect(formatWallClock('Asia/Kolkata', at('2026-06-05T03:30:00Z'))).toBe('2026-06-05 09:00:00');
  });

  it('fires a time in the spring-forward gap once, at the end of the gap', () => {
    // New York springs forward on 2026-03-08 at 02:00 EST → 03:00 EDT (07:00 UTC).
    expect(fires('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 3)).toEqual([
      '2026-03-08T07:00:00.000Z', // 03:00 EDT: 02:30 does not exist that day
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
      '2026-03-10T06:30:00.000Z',
    ]);
    // Every 15 minutes through the gap: 02:00–02:45 collapse into one run at 03:00.
    expect(fires('*/15 * * * *', 'America/New_York', '2026-03-08T06:30:00Z', 4)).toEqual([
      '2026-03-08T06:45:00.000Z', // 01:45 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT (for 02:00)
      '2026-03-08T07:15:00.000Z', // 03:15 EDT
      '2026-03-08T07:30:00.000Z',
    ]);
    expect(iso(toInstant('America/New_York', at('2026-03-08T02:30:00Z')))).toBe(
      '2026-03-08T07:00:00.000Z',
    );
  });

  it('fires a time in the fall-back overlap once, at its first occurrence', () => {
    // New York falls back on 2026-11-01 at 02:00 EDT → 01:00 EST: 01:00–01:59 happen twice.
    expect(fires('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2)).toEqual([
      '2026-11-01T05:30:00.000Z', // 01:30 EDT, the first 01:30
      '2026-11-02T06:30:00.000Z', // the next day (01:30 EST); the second 01:30 did not fire
    ]);
    // Hourly through the overlap: 01:00 once, then 02:00 EST.
    expect(fires('0 * * * *', 'America/New_York', '2026-11-01T04:30:00Z', 3)).toEqual([
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T07:00:00.000Z', // 02:00 EST
      '2026-11-01T08:00:00.000Z',
    ]);
    // A kernel that comes up during the second pass does not fire 01:45 again.
    expect(fires('45 1 * * *', 'America/New_York', '2026-11-01T06:10:00Z', 1)).toEqual([
      '2026-11-02T06:45:00.000Z',
    ]);
  });
});

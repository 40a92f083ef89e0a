import { describe, expect, it } from 'vitest';
import { OriginSequencer, type Schedule } from '../../src/bus/nats/origin-sequencer.js';

/** A schedule the test fires by hand. */
function manualSchedule(): { schedule: Schedule; pending: () => number; fire: () => void } {
  let timers: { fn: () => void; live: boolean }[] = [];
  return {
    schedule: (fn) => {
      const t = { fn, live: true };
      timers.push(t);
      return () => {
        t.live = false;
      };
    },
    pending: () => timers.filter((t) => t.live).length,
    fire: () => {
      const due = timers.filter((t) => t.live);
      timers = [];
      for (const t of due) t.fn();
    },
  };
}

function setup(maxHeld = 100, maxOrigins = 100) {
  const delivered: string[] = [];
  const anomalies: string[] = [];
  const clock = manualSchedule();
  const seq = new OriginSequencer<string>({
    deliver: (e) => delivered.push(e),
    holdMs: 1000,
    maxHeld,
    maxOrigins,
    schedule: clock.schedule,
    onAnomaly: (kind, origin, count) => anomalies.push(`${kind}:${origin}:${count}`),
  });
  return { seq, delivered, anomalies, clock };
}

describe('origin sequencer', () => {
  it('delivers in-order publications at once, starting wherever the origin first shows up', () => {
    const { seq, delivered, clock } = setup();
    seq.accept('a', 7, 'a7');
    seq.accept('a', 8, 'a8');
    seq.accept('b', 1, 'b1');
    expect(delivered).toEqual(['a7', 'a8', 'b1']);
    expect(clock.pending()).toBe(0);
  });

  it('holds a publication that overtook an earlier one until the earlier one arrives', () => {
    const { seq, delivered, clock } = setup();
    seq.accept('a', 1, 'a1');
    seq.accept('a', 3, 'a3');
    seq.accept('a', 4, 'a4');
    seq.accept('b', 1, 'b1'); // other publishers are not held back
    expect(delivered).toEqual(['a1', 'b1']);
    expect(seq.held).toBe(2);
    seq.accept('a', 2, 'a2');
    expect(delivered).toEqual(['a1', 'b1', 'a2', 'a3', 'a4']);
    expect(seq.held).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('drops a second copy of a publication', () => {
    const { seq, delivered, anomalies } = setup();
    seq.accept('a', 1, 'a1');
    seq.accept('a', 2, 'a2');
    seq.accept('a', 1, 'a1 again');
    seq.accept('a', 4, 'a4');
    seq.accept('a', 4, 'a4 again');
    expect(delivered).toEqual(['a1', 'a2']);
    expect(anomalies).toEqual(['duplicate:a:1', 'duplicate:a:1']);
  });

  it('gives up a gap after the hold window and delivers what it held, in order', () => {
    const { seq, delivered, anomalies, clock } = setup();
    seq.accept('a', 1, 'a1');
    seq.accept('a', 5, 'a5');
    seq.accept('a', 4, 'a4');
    seq.accept('a', 7, 'a7');
    expect(delivered).toEqual(['a1']);
    clock.fire(); // 2 and 3 never came
    expect(delivered).toEqual(['a1', 'a4', 'a5']);
    expect(anomalies).toEqual(['gap:a:2']);
    clock.fire(); // nor 6
    expect(delivered).toEqual(['a1', 'a4', 'a5', 'a7']);
    seq.accept('a', 2, 'a2 late'); // too late: dropped, order is kept
    expect(delivered).toEqual(['a1', 'a4', 'a5', 'a7']);
  });

  it('skips a gap at once when too much is held', () => {
    const { seq, delivered } = setup(2);
    seq.accept('a', 1, 'a1');
    seq.accept('a', 3, 'a3');
    seq.accept('a', 4, 'a4');
    expect(delivered).toEqual(['a1']);
    seq.accept('a', 5, 'a5');
    expect(delivered).toEqual(['a1', 'a3', 'a4', 'a5']);
  });

  it('forgets the least recently seen origin past maxOrigins, delivering what it held', () => {
    const { seq, delivered } = setup(100, 2);
    seq.accept('a', 1, 'a1');
    seq.accept('a', 3, 'a3');
    seq.accept('b', 1, 'b1');
    seq.accept('c', 1, 'c1');
    expect(delivered).toEqual(['a1', 'b1', 'a3', 'c1']);
    seq.accept('a', 2, 'a2 after forgetting'); // a new start for a
    expect(delivered.at(-1)).toBe('a2 after forgetting');
  });

  it('close() cancels pending timers', () => {
    const { seq, clock } = setup();
    seq.accept('a', 1, 'a1');
    seq.accept('a', 3, 'a3');
    expect(clock.pending()).toBe(1);
    seq.close();
    expect(clock.pending()).toBe(0);
  });
});

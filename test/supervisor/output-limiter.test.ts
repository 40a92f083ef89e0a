/** The per-agent output gate, on a manual clock: rate, line length, coalescing, the notice. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/util/clock.js';
import { createOutputLimiter, type OutputLoss } from '../../src/supervisor/output-limiter.js';
import { harness } from './helpers.js';

function gate(limits: Parameters<typeof createOutputLimiter>[0]['limits']) {
  const clock = new ManualClock();
  const out: string[] = [];
  const losses: OutputLoss[] = [];
  const deferred: (() => void)[] = [];
  const limiter = createOutputLimiter({
    clock,
    limits,
    emit: (t) => out.push(t),
    onTruncated: (l) => losses.push(l),
    defer: (fn) => deferred.push(fn),
  });
  const tick = (): void => {
    for (const fn of deferred.splice(0)) fn();
  };
  return { clock, out, losses, limiter, tick };
}

describe('output limiter', () => {
  it('coalesces the lines of one tick into one event, capped at maxEventBytes', () => {
    const h = gate({ maxEventBytes: 12 });
    for (const l of ['aaaa', 'bbbb', 'cccc', 'dddd']) h.limiter.write(l);
    h.tick();
    expect(h.out).toEqual(['aaaa\nbbbb', 'cccc\ndddd']);
  });

  it('drops what goes over the rate, counts it, and reports it once before the next output', () => {
    const h = gate({ bytesPerSecond: 100, burstBytes: 100 });
    for (let i = 0; i < 30; i++) h.limiter.write('0123456789'); // 300 bytes: 100 fit
    h.tick();
    expect(h.out).toEqual([Array(10).fill('0123456789').join('\n')]);
    expect(h.losses).toEqual([]);
    h.clock.advance(500); // 50 bytes back
    for (let i = 0; i < 6; i++) h.limiter.write('0123456789');
    h.tick();
    expect(h.losses).toEqual([{ droppedLines: 20, droppedBytes: 200, truncatedLines: 0 }]);
    expect(h.out.slice(1)).toEqual([Array(5).fill('0123456789').join('\n')]);
    h.limiter.close();
    expect(h.losses[1]).toEqual({ droppedLines: 1, droppedBytes: 10, truncatedLines: 0 });
  });

  it('holds the sustained rate over time: bytes out ≤ burst + rate × elapsed', () => {
    const h = gate({ bytesPerSecond: 1000, burstBytes: 2000 });
    let written = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      for (let i = 0; i < 10; i++) h.limiter.write('x'.repeat(99));
      h.tick();
      h.clock.advance(10);
    }
    for (const t of h.out) written += t.split('\n').join('').length;
    expect(written).toBeLessThanOrEqual(2000 + 1000 * 10);
    expect(written).toBeGreaterThan(1000 * 10 * 0.9);
  });

  it("tells a pausable reader how long to wait for a line's worth of budget", () => {
    const h = gate({ bytesPerSecond: 1000, burstBytes: 1000, maxLineBytes: 100 });
    expect(h.limiter.waitMs()).toBe(0);
    h.limiter.write('x'.repeat(100).repeat(1).padEnd(100, 'x'));
    for (let i = 0; i < 9; i++) h.limiter.write('x'.repeat(100));
    expect(h.limiter.waitMs()).toBe(100); // 0 left, 100 wanted at 1000/s
    h.clock.advance(60);
    expect(h.limiter.waitMs()).toBe(40);
    h.clock.advance(40);
    expect(h.limiter.waitMs()).toBe(0);
  });

  it('cuts a line longer than maxLineBytes and counts it', () => {
    const h = gate({ maxLineBytes: 5 });
    h.limiter.write('0123456789');
    h.tick();
    expect(h.losses).toEqual([{ droppedLines: 0, droppedBytes: 0, truncatedLines: 1 }]);
    expect(h.out).toEqual(['01234']);
  });
});

describe('a flooding agent under its supervisor', () => {
  it('reaches the bus as a few coalesced AgentOutput events within its budget, then one OutputTruncated', async () => {
    const { supervisor, events } = harness({
      outputLimits: { bytesPerSecond: 1000, burstBytes: 10_000 },
    });
    const agent = await supervisor.spawn({
      name: 'chatty',
      run: async (ctx) => {
        for (let i = 0; i < 60_000; i++) ctx.output(`line ${i} `.padEnd(100, '.'));
        await Promise.resolve();
        ctx.output('x'); // over budget too: dropped
        return 0;
      },
    });
    await agent.wait();
    await supervisor.close();
    const outputs = events.filter((e) => e.type === 'AgentOutput');
    const bytes = outputs.reduce((n, e) => n + (e.type === 'AgentOutput' ? e.output.length : 0), 0);
    expect(outputs.length).toBeLessThan(5);
    expect(bytes).toBeLessThanOrEqual(10_000 + 100);
    const notices = events.filter((e) => e.type === 'OutputTruncated');
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ agentId: agent.id, droppedLines: 60_000 - 100 + 1 });
  });
});

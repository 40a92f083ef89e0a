/**
 * What the restart options do inside a running supervisor: `backoff.resetMs` (a run that lasted
 * that long makes the next restart wait `baseMs` again; by default the intensity period) and
 * `intensity.maxRestarts: 0` (the first failure escalates). Found by mutation testing
 * (docs/testing.md): resolving the options was tested, honouring them was not.
 */
import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  createRestartIntensity,
  type AgentSpec,
  type BackoffPolicy,
  type RestartIntensity,
} from '../../src/index.js';
import { controllable, harness, nextEvent } from './helpers.js';

type Control = ReturnType<typeof controllable>;

const parked = (name: string, control: Control): AgentSpec => ({
  name,
  restart: 'permanent',
  run: control.run,
});

/**
 * A supervisor with one parked child `w`; `crashAfter(ms)` lets the current run last `ms` on the
 * clock, fails it, waits out the backoff and returns the delay the supervisor chose.
 */
async function supervised(backoff: Partial<BackoffPolicy>, intensity: Partial<RestartIntensity>) {
  const control = controllable();
  const { supervisor, bus, clock } = harness({
    backoff: { baseMs: 100, factor: 2, maxMs: 10_000, jitter: 0, ...backoff },
    intensity: { maxRestarts: 100, periodMs: 60_000, ...intensity },
    children: [parked('w', control)],
  });
  await supervisor.start();
  const crashAfter = async (ms: number): Promise<number> => {
    clock.advance(ms);
    const restarted = nextEvent(bus, 'AgentRestarted');
    const started = nextEvent(bus, 'AgentStarted');
    control.fail('w');
    const { delayMs } = await restarted;
    clock.advance(delayMs);
    await started;
    return delayMs;
  };
  return { supervisor, crashAfter };
}

describe('backoff.resetMs in a supervisor', () => {
  it('a run that lasted resetMs restarts after baseMs again; a shorter one keeps growing', async () => {
    const { supervisor, crashAfter } = await supervised({ resetMs: 1_000 }, {});
    expect(await crashAfter(0)).toBe(100);
    expect(await crashAfter(10)).toBe(200);
    expect(await crashAfter(999)).toBe(400); // one millisecond short: still consecutive
    expect(await crashAfter(1_000)).toBe(100); // lasted resetMs exactly: the count starts over
    expect(await crashAfter(0)).toBe(200);
    await supervisor.close();
  });

  it('resetMs 0 resets after every run, so every restart waits baseMs', async () => {
    const { supervisor, crashAfter } = await supervised({ resetMs: 0 }, {});
    expect([await crashAfter(0), await crashAfter(0), await crashAfter(0)]).toEqual([
      100, 100, 100,
    ]);
    await supervisor.close();
  });

  it('defaults to the intensity period', async () => {
    const { supervisor, crashAfter } = await supervised({}, { periodMs: 2_000 });
    expect(await crashAfter(0)).toBe(100);
    expect(await crashAfter(1_999)).toBe(200);
    expect(await crashAfter(2_000)).toBe(100);
    await supervisor.close();
  });
});

describe('intensity.maxRestarts 0', () => {
  it('allows no restart: the counter refuses the first one at once', () => {
    const counter = createRestartIntensity({ maxRestarts: 0, periodMs: 5_000 }, new ManualClock(0));
    expect(counter.tryRecord()).toBe(false);
    expect(counter.count).toBe(0);
  });

  it('makes a supervisor escalate on the first failure without restarting', async () => {
    const control = controllable();
    const { supervisor, bus } = harness({
      intensity: { maxRestarts: 0, periodMs: 5_000 },
      children: [parked('w', control)],
    });
    await supervisor.start();
    const escalated = nextEvent(bus, 'SupervisorEscalated');
    control.fail('w');
    expect((await escalated).reason).toMatch(/more than 0 restart\(s\) in 5000 ms/);
    expect(control.attempts('w')).toBe(1);
    expect(supervisor.status).toBe('escalated');
    await supervisor.close();
  });
});

/**
 * Issue 13: a parent supervisor that gives up while a nested supervisor is in a restart loop.
 * OTP stops the whole tree: the nested loop ends (no restart after the give-up, no timer left
 * behind), siblings stop in reverse start order, and the give-up is reported once.
 */
import { describe, expect, it } from 'vitest';
import type { AgentSpec } from '../../src/index.js';
import { controllable, harness, namesOf, nextEvent, story } from './helpers.js';

const parked = (name: string, control: ReturnType<typeof controllable>): AgentSpec => ({
  name,
  restart: 'permanent',
  run: control.run,
});

describe('a parent gives up while a nested supervisor is restarting', () => {
  it('ends the nested loop, stops siblings in reverse order and escalates once', async () => {
    const control = controllable();
    let loops = 0;
    let hooks = 0;
    const {
      supervisor,
      bus,
      clock,
      events: all,
    } = harness({
      intensity: { maxRestarts: 0, periodMs: 10_000 },
      onEscalated: () => hooks++,
      children: [
        parked('first', control),
        {
          name: 'team',
          restart: 'permanent',
          supervisor: {
            intensity: { maxRestarts: 1_000, periodMs: 1_000 },
            backoff: { baseMs: 1_000, factor: 1, jitter: 0 },
            children: [
              {
                name: 'looper',
                restart: 'permanent',
                run: () => {
                  loops++;
                  throw new Error('looper broke');
                },
              },
            ],
          },
        },
        parked('trigger', control),
        parked('last', control),
      ],
    });
    await supervisor.start();
    // Let the nested loop go round twice: each restart waits on a 1 s backoff timer.
    for (let i = 0; i < 2; i++) {
      const restarted = nextEvent(bus, 'AgentRestarted');
      clock.advance(1_000);
      await restarted;
    }
    expect(loops).toBeGreaterThanOrEqual(3);
    expect(clock.pendingTimers).toBeGreaterThan(0); // the next backoff is pending
    control.fail('trigger');
    await supervisor.escalated;
    const loopsAtGiveUp = loops;
    const restartsAtGiveUp = all.filter((e) => e.type === 'AgentRestarted').length;
    expect(clock.pendingTimers).toBe(0);
    clock.advance(60_000);
    await new Promise((r) => setImmediate(r));
    expect(loops).toBe(loopsAtGiveUp);
    expect(all.filter((e) => e.type === 'AgentRestarted')).toHaveLength(restartsAtGiveUp);
    const names = namesOf(all);
    const stopsAfterFailure = story(all, names)
      .slice(story(all, names).indexOf('AgentFailed:trigger'))
      .filter((l) => l.startsWith('AgentStopped'));
    expect(stopsAfterFailure).toEqual([
      'AgentStopped:last',
      'AgentStopped:team',
      'AgentStopped:first',
    ]);
    expect(
      all.filter((e) => e.type === 'SupervisorEscalated' && e.supervisorId === supervisor.id),
    ).toHaveLength(1);
    expect(hooks).toBe(1);
    await supervisor.close();
    expect(hooks).toBe(1);
  });
});

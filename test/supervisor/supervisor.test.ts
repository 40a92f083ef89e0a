import { describe, expect, it } from 'vitest';
import {
  createMemoryStorage,
  createSupervisor,
  isKernelError,
  openRegistry,
  type AgentFailure,
  type AgentSpec,
  type FailureDecision,
  type KernelEvent,
} from '../../src/index.js';
import { deferred } from '../../src/util/deferred.js';
import { controllable, events, harness, namesOf, nextEvent, story } from './helpers.js';

const parked = (name: string, control: ReturnType<typeof controllable>): AgentSpec => ({
  name,
  restart: 'permanent',
  run: control.run,
});

describe('running agents', () => {
  it('runs an in-process agent to completion and publishes its lifecycle', async () => {
    const { supervisor, events: all } = harness();
    const seen: unknown[] = [];
    const agent = await supervisor.spawn({
      name: 'researcher',
      config: { topic: 'otp' },
      run: async (ctx) => {
        seen.push(ctx.agentId, ctx.name, ctx.attempt, ctx.restarts, ctx.config);
        ctx.output('thinking');
        await Promise.resolve();
        return 42;
      },
    });
    const outcome = await agent.wait();
    expect(outcome).toMatchObject({
      reason: 'completed',
      status: 'stopped',
      result: 42,
      failure: null,
    });
    expect(seen).toEqual([agent.id, 'researcher', 1, 0, { topic: 'otp' }]);
    expect(all.map((e) => e.type)).toEqual([
      'AgentCreated',
      'AgentStarted',
      'AgentOutput',
      'AgentStopped',
    ]);
    expect(all[2]).toEqual({
      type: 'AgentOutput',
      sessionId: agent.id,
      agentId: agent.id,
      output: 'thinking',
    });
    expect(supervisor.get(agent.id)).toMatchObject({ status: 'stopped', restarts: 0, pid: null });
    await supervisor.close();
  });

  it('tells completed, killed and failed agents apart in their info', async () => {
    const { supervisor } = harness();
    const done = await supervisor.spawn({ name: 'done', run: () => 'ok' });
    const failed = await supervisor.spawn({
      name: 'failed',
      restart: 'temporary',
      run: () => {
        throw new Error('broke');
      },
    });
    const killed = await supervisor.spawn({
      name: 'killed',
      run: (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
    });
    expect(killed.info()).toMatchObject({ status: 'running', outcome: null });
    await Promise.all([done.wait(), failed.wait(), supervisor.kill(killed.id)]);
    const byName = Object.fromEntries(supervisor.list().map((a) => [a.name, a]));
    expect(byName.done).toMatchObject({ status: 'stopped', outcome: 'completed' });
    expect(byName.killed).toMatchObject({ status: 'stopped', outcome: 'killed' });
    expect(byName.failed).toMatchObject({ status: 'failed', outcome: 'failed' });
    await supervisor.close();
  });

  it('shows idle agents and maps statuses to registry module states', async () => {
    const registry = await openRegistry({ storage: createMemoryStorage() });
    const { supervisor, bus } = harness({ modules: registry });
    let wake!: () => void;
    const agent = await supervisor.spawn({
      name: 'waiter',
      version: '1.2.3',
      restart: 'temporary',
      run: async (ctx) => {
        ctx.idle();
        await new Promise<void>((r) => (wake = r));
        ctx.busy();
        throw Object.assign(new Error('bad gateway'), { stage: 'integration' });
      },
    });
    expect(agent.info().status).toBe('idle');
    const failed = nextEvent(bus, 'AgentFailed');
    wake();
    expect((await failed).error).toBe('bad gateway');
    const outcome = await agent.wait();
    expect(outcome.failure).toEqual({
      stage: 'integration',
      message: 'bad gateway',
      exit_code: null,
      flaky_hint: false,
    });
    await supervisor.close();
    expect(await registry.getModule(agent.id)).toMatchObject({
      name: 'waiter',
      version: '1.2.3',
      kind: 'native',
      state: 'failed',
    });
    await registry.close();
  });

  it('rejects bad specs and unknown ids with typed errors', async () => {
    const { supervisor } = harness();
    await expect(supervisor.spawn({ name: 'x' } as AgentSpec)).rejects.toSatisfy((e) =>
      isKernelError(e, 'INVALID_ARGUMENT'),
    );
    await expect(
      supervisor.spawn({ name: 'x', run: () => 1, restart: 'sometimes' } as unknown as AgentSpec),
    ).rejects.toSatisfy((e) => isKernelError(e, 'INVALID_ARGUMENT'));
    await expect(supervisor.wait('nope')).rejects.toSatisfy((e) =>
      isKernelError(e, 'UNKNOWN_AGENT'),
    );
    expect(() => createSupervisor({ strategy: 'all_for_one' as never })).toThrow(/strategy/);
    await supervisor.close();
    await expect(supervisor.spawn({ name: 'late', run: () => 1 })).rejects.toSatisfy((e) =>
      isKernelError(e, 'CLOSED'),
    );
  });

  it('delegates approvals and ledger writes to injected services, or says the kernel provides them', async () => {
    const { supervisor: bare } = harness();
    const errors: unknown[] = [];
    await bare.run({
      name: 'asker',
      run: async (ctx) => {
        await ctx.requestApproval({ summary: 'ok?' }).catch((e: unknown) => errors.push(e));
        await ctx
          .appendLedger({
            type: 'BudgetExceeded',
            data: { chain_id: 'c', resource: 'Tokens', limit: '1', observed: '2' },
          })
          .catch((e: unknown) => errors.push(e));
      },
    });
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => isKernelError(e, 'SERVICE_UNAVAILABLE'))).toBe(true);
    expect((errors[0] as Error).message).toMatch(/kernel/);

    const calls: unknown[] = [];
    const { supervisor } = harness({
      services: {
        requestApproval: async (agent, request, signal) => {
          calls.push(['approval', agent, request.summary, signal.aborted]);
          return { approved: true, reason: 'fine' };
        },
        appendLedger: async (agent, event, options) => {
          calls.push(['ledger', agent.name, event.type, options]);
          return { position: 1 };
        },
      },
    });
    const outcome = await supervisor.run({
      name: 'asker',
      run: async (ctx) => {
        const decision = await ctx.requestApproval({ summary: 'Deploy?' });
        await ctx.appendLedger(
          {
            type: 'BudgetExceeded',
            data: { chain_id: 'c', resource: 'Tokens', limit: '1', observed: '2' },
          },
          { tenantId: 't1' },
        );
        return decision;
      },
    });
    expect(outcome.result).toEqual({ approved: true, reason: 'fine' });
    expect(calls).toEqual([
      ['approval', { id: outcome.id, name: 'asker', attempt: 1, restarts: 0 }, 'Deploy?', false],
      ['ledger', 'asker', 'BudgetExceeded', { tenantId: 't1' }],
    ]);
    await supervisor.close();
  });

  it('kills an agent through its signal, and abandons one that ignores it after the grace', async () => {
    const { supervisor, clock } = harness({ shutdownMs: 1_000 });
    const polite = await supervisor.spawn({
      name: 'polite',
      restart: 'permanent',
      run: (ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))),
        ),
    });
    expect((await polite.kill()).reason).toBe('stopped');
    expect(polite.info().status).toBe('stopped');

    const stubborn = await supervisor.spawn({
      name: 'stubborn',
      run: () => new Promise(() => undefined),
    });
    let killed = false;
    const kill = stubborn.kill().then((o) => ((killed = true), o));
    await Promise.resolve();
    clock.advance(999);
    await Promise.resolve();
    expect(killed).toBe(false);
    clock.advance(1);
    expect(await kill).toMatchObject({ reason: 'stopped', status: 'stopped' });
    await supervisor.close();
  });

  it('fails a run whose heartbeat stops, then restarts it', async () => {
    const { supervisor, bus, clock } = harness();
    const agent = await supervisor.spawn({
      name: 'beater',
      heartbeatTimeoutMs: 100,
      run: async (ctx) => {
        for (let i = 0; i < 3; i++) {
          await new Promise<void>((r) => ctx.clock.setTimeout(r, 60));
          ctx.heartbeat();
        }
        if (ctx.attempt === 1)
          await new Promise((_, reject) =>
            ctx.signal.addEventListener('abort', () => reject(new Error('stopped'))),
          );
        return 'done';
      },
    });
    const failed = nextEvent(bus, 'AgentFailed');
    for (let i = 0; i < 3; i++) {
      clock.advance(60); // beats at 60, 120, 180: never 100 ms apart
      await Promise.resolve();
    }
    clock.advance(99);
    expect(agent.info().status).toBe('running');
    clock.advance(1);
    expect((await failed).error).toMatch(/no heartbeat for 100 ms/);
    const restarted = nextEvent(bus, 'AgentStarted');
    await restarted;
    for (let i = 0; i < 3; i++) {
      clock.advance(60);
      await Promise.resolve();
    }
    expect(await agent.wait()).toMatchObject({ reason: 'completed', result: 'done', restarts: 1 });
    await supervisor.close();
  });
});

describe('restart types', () => {
  it('permanent restarts after a normal exit, transient only after a failure, temporary never', async () => {
    const { supervisor, bus } = harness({ intensity: { maxRestarts: 10 } });
    let runs = 0;
    const threeStarts = events(bus, 'AgentStarted', 3);
    const permanent = await supervisor.spawn({
      name: 'permanent',
      restart: 'permanent',
      run: (ctx) => {
        runs++;
        return ctx.attempt < 3
          ? 'again'
          : new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      },
    });
    expect((await threeStarts).every((e) => e.id === permanent.id)).toBe(true);
    expect(runs).toBe(3);
    expect(permanent.info()).toMatchObject({ status: 'running', restarts: 2 });

    const transient = await supervisor.run({
      name: 'transient',
      restart: 'transient',
      run: (ctx) => {
        if (ctx.attempt === 1) throw new Error('first try fails');
        return 'ok';
      },
    });
    expect(transient).toMatchObject({ reason: 'completed', result: 'ok', restarts: 1 });

    const temporary = await supervisor.run({
      name: 'temporary',
      restart: 'temporary',
      run: () => {
        throw new Error('once');
      },
    });
    expect(temporary).toMatchObject({ reason: 'failed', status: 'failed', restarts: 0 });
    expect(temporary.failure?.message).toBe('once');
    await supervisor.close();
  });
});

describe('strategies', () => {
  async function scenario(strategy: 'one_for_one' | 'one_for_all' | 'rest_for_one'): Promise<{
    lines: string[];
    attempts: number[];
  }> {
    const control = controllable();
    const {
      supervisor,
      bus,
      events: all,
    } = harness({
      strategy,
      children: ['a', 'b', 'c'].map((n) => parked(n, control)),
    });
    await supervisor.start();
    const before = all.length;
    const expectedStarts = { one_for_one: 1, one_for_all: 3, rest_for_one: 2 }[strategy];
    const restarted = events(bus, 'AgentStarted', expectedStarts);
    control.fail('b');
    await restarted;
    const lines = story(all.slice(before), namesOf(all));
    const attempts = ['a', 'b', 'c'].map((n) => control.attempts(n));
    await supervisor.close();
    const closing = story(all, namesOf(all)).slice(-3);
    expect(closing).toEqual(['AgentStopped:c', 'AgentStopped:b', 'AgentStopped:a']);
    return { lines, attempts };
  }

  it('one_for_one restarts only the failed child', async () => {
    const { lines, attempts } = await scenario('one_for_one');
    expect(lines).toEqual(['AgentFailed:b', 'AgentRestarted:b#1', 'AgentStarted:b']);
    expect(attempts).toEqual([1, 2, 1]);
  });

  it('one_for_all stops the others in reverse order and restarts all in order', async () => {
    const { lines, attempts } = await scenario('one_for_all');
    expect(lines).toEqual([
      'AgentFailed:b',
      'AgentStopped:c',
      'AgentStopped:a',
      'AgentRestarted:a#1',
      'AgentRestarted:b#1',
      'AgentRestarted:c#1',
      'AgentStarted:a',
      'AgentStarted:b',
      'AgentStarted:c',
    ]);
    expect(attempts).toEqual([2, 2, 2]);
  });

  it('rest_for_one restarts the failed child and those started after it', async () => {
    const { lines, attempts } = await scenario('rest_for_one');
    expect(lines).toEqual([
      'AgentFailed:b',
      'AgentStopped:c',
      'AgentRestarted:b#1',
      'AgentRestarted:c#1',
      'AgentStarted:b',
      'AgentStarted:c',
    ]);
    expect(attempts).toEqual([1, 2, 2]);
  });
});

describe('restart intensity and backoff', () => {
  it('escalates after more than maxRestarts in the window: stops the children and refuses spawns', async () => {
    const control = controllable();
    const {
      supervisor,
      bus,
      events: all,
    } = harness({
      intensity: { maxRestarts: 2, periodMs: 1_000 },
      children: [parked('steady', control)],
    });
    await supervisor.start();
    const escalated = nextEvent(bus, 'SupervisorEscalated');
    const crasher = await supervisor.spawn({
      name: 'crasher',
      run: () => {
        throw new Error('always');
      },
    });
    const event = await escalated;
    expect(event.supervisorId).toBe(supervisor.id);
    expect(event.reason).toMatch(/more than 2 restart\(s\) in 1000 ms.*"crasher": always/);
    expect(supervisor.status).toBe('escalated');
    expect(await crasher.wait()).toMatchObject({ reason: 'failed', restarts: 2 });
    expect(supervisor.list().map((a) => [a.name, a.status])).toEqual([
      ['steady', 'stopped'],
      ['crasher', 'failed'],
    ]);
    expect(story(all, namesOf(all)).slice(-3)).toEqual([
      'AgentFailed:crasher',
      'AgentStopped:steady',
      'SupervisorEscalated',
    ]);
    await expect(supervisor.spawn({ name: 'late', run: () => 1 })).rejects.toSatisfy((e) =>
      isKernelError(e, 'SUPERVISOR_ESCALATED'),
    );
    await supervisor.close();
  });

  it('forgets restarts that leave the window', async () => {
    const control = controllable();
    const { supervisor, bus, clock } = harness({
      intensity: { maxRestarts: 2, periodMs: 1_000 },
      children: [parked('w', control)],
    });
    await supervisor.start();
    for (let i = 0; i < 5; i++) {
      const started = nextEvent(bus, 'AgentStarted');
      control.fail('w');
      await started;
      clock.advance(600); // two restarts are never within 1 s of a third
    }
    expect(supervisor.status).toBe('running');
    expect(supervisor.list()[0]).toMatchObject({ restarts: 5, status: 'running' });
    await supervisor.close();
  });

  it('waits the backoff delay on the clock before restarting, doubling per consecutive restart', async () => {
    const control = controllable();
    const { supervisor, bus, clock } = harness({
      backoff: { baseMs: 100, factor: 2, maxMs: 250, jitter: 0 },
      intensity: { maxRestarts: 10, periodMs: 60_000 },
      children: [parked('slow', control)],
    });
    await supervisor.start();
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const restarted = nextEvent(bus, 'AgentRestarted');
      control.fail('slow');
      const { delayMs } = await restarted;
      delays.push(delayMs);
      const started = nextEvent(bus, 'AgentStarted');
      clock.advance(delayMs - 1);
      await Promise.resolve();
      expect(supervisor.list()[0]!.status).toBe('failed');
      clock.advance(1);
      await started;
    }
    expect(delays).toEqual([100, 200, 250]);
    await supervisor.close();
  });

  it('closing cancels a pending restart', async () => {
    const control = controllable();
    const { supervisor, bus, clock } = harness({
      backoff: { baseMs: 500, jitter: 0 },
      children: [parked('x', control)],
    });
    await supervisor.start();
    const restarted = nextEvent(bus, 'AgentRestarted');
    control.fail('x');
    await restarted;
    await supervisor.close();
    clock.advance(10_000);
    expect(control.attempts('x')).toBe(1);
    expect(supervisor.list()[0]!.status).toBe('stopped');
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('nested supervisors', () => {
  it('a nested supervisor that escalates fails towards its parent, which restarts it with fresh children', async () => {
    const {
      supervisor,
      bus,
      events: all,
    } = harness({
      intensity: { maxRestarts: 1, periodMs: 10_000 },
    });
    let workerRuns = 0;
    const parentEscalated = nextEvent(
      bus,
      'SupervisorEscalated',
      (e) => e.supervisorId === supervisor.id,
    );
    const team = await supervisor.spawn({
      name: 'team',
      restart: 'permanent',
      supervisor: {
        intensity: { maxRestarts: 1, periodMs: 10_000 },
        children: [
          {
            name: 'worker',
            run: () => {
              workerRuns++;
              throw new Error('worker broke');
            },
          },
        ],
      },
    });
    await parentEscalated;
    const escalations = all.filter((e) => e.type === 'SupervisorEscalated');
    // Nested (id = the team's agent id) twice — once per incarnation — then the parent.
    expect(escalations.map((e) => e.supervisorId)).toEqual([team.id, team.id, supervisor.id]);
    expect(workerRuns).toBe(4); // 2 runs per incarnation, 2 incarnations
    const teamFailures = all.filter((e) => e.type === 'AgentFailed' && e.id === team.id);
    expect(teamFailures).toHaveLength(2);
    expect((teamFailures[0] as KernelEvent & { error: string }).error).toMatch(
      /escalated.*worker broke/,
    );
    expect(
      new Set(
        all
          .filter((e) => e.type === 'AgentCreated' && e.name === 'worker')
          .map((e) => (e as { id: string }).id),
      ).size,
    ).toBe(2);
    await supervisor.close();
  });

  it('a nested supervisor with auto_shutdown all_significant completes when its significant children have exited, and lists them under it', async () => {
    const control = controllable();
    const { supervisor } = harness();
    const team = await supervisor.spawn({
      name: 'team',
      supervisor: {
        autoShutdown: 'all_significant',
        children: [
          { name: 'x', significant: true, run: control.run },
          { name: 'y', run: control.run },
        ],
      },
    });
    const listed = supervisor.list();
    expect(listed.map((a) => [a.name, a.kind, a.supervisorId === team.id])).toEqual([
      ['team', 'supervisor', false],
      ['x', 'function', true],
      ['y', 'function', true],
    ]);
    const y = listed[2]!;
    const yDone = supervisor.wait(y.id);
    control.finish('x', 1);
    expect(await team.wait()).toMatchObject({ reason: 'completed' });
    expect(await yDone).toMatchObject({ reason: 'stopped' });
    await supervisor.close();
  });

  it('close stops nested children too, in reverse order', async () => {
    const control = controllable();
    const { supervisor, events: all } = harness({
      children: [
        parked('first', control),
        {
          name: 'team',
          supervisor: { children: [parked('inner1', control), parked('inner2', control)] },
        },
        parked('last', control),
      ],
    });
    await supervisor.start();
    await supervisor.close();
    expect(story(all, namesOf(all)).filter((l) => l.startsWith('AgentStopped'))).toEqual([
      'AgentStopped:last',
      'AgentStopped:inner2',
      'AgentStopped:inner1',
      'AgentStopped:team',
      'AgentStopped:first',
    ]);
  });
});

describe('recovery policy', () => {
  it('builds the failure signal from the error and carries the spec (with patch) to the policy', async () => {
    const failures: AgentFailure[] = [];
    const patch = async (): Promise<void> => undefined;
    const { supervisor } = harness({
      recovery: async (failure) => {
        failures.push(failure);
        return { action: 'default' };
      },
    });
    const outcome = await supervisor.run({
      name: 'flaky',
      config: { v: 1 },
      patch,
      run: (ctx) => {
        if (ctx.attempt === 1)
          throw Object.assign(new Error('test failed: timeout'), { stage: 'test', flaky: true });
        return 'ok';
      },
    });
    expect(outcome.result).toBe('ok');
    expect(failures).toHaveLength(1);
    const f = failures[0]!;
    expect(f.signal).toEqual({
      stage: 'test',
      message: 'test failed: timeout',
      exit_code: null,
      flaky_hint: true,
    });
    expect(f).toMatchObject({ attempt: 1, restarts: 0, config: { v: 1 } });
    expect(f.spec.patch).toBe(patch);
    expect(f.agent).toMatchObject({
      name: 'flaky',
      status: 'failed',
      lastError: 'test failed: timeout',
    });
    await supervisor.close();
  });

  it('rollback restarts with a replaced config after an explicit delay', async () => {
    const { supervisor, bus, clock } = harness({
      recovery: async () => ({ action: 'rollback', delayMs: 250, config: { version: 'v1' } }),
    });
    const configs: unknown[] = [];
    const restart = nextEvent(bus, 'AgentRestarted');
    const agent = await supervisor.spawn({
      name: 'deployer',
      restart: 'temporary',
      config: { version: 'v2' },
      run: (ctx) => {
        configs.push(ctx.config);
        if (ctx.config.version === 'v2') throw new Error('v2 is broken');
        return 'ok on v1';
      },
    });
    const restarted = await restart;
    expect(restarted.delayMs).toBe(250);
    clock.advance(249);
    await Promise.resolve();
    expect(configs).toHaveLength(1);
    clock.advance(1);
    expect(await agent.wait()).toMatchObject({ reason: 'completed', result: 'ok on v1' });
    expect(configs).toEqual([{ version: 'v2' }, { version: 'v1' }]);
  });

  it('give_up ends a permanent child; policy-directed restarts still count towards intensity', async () => {
    const stopper = harness({ recovery: async () => ({ action: 'give_up' }) });
    const stopped = await stopper.supervisor.run({
      name: 'p',
      restart: 'permanent',
      run: () => {
        throw new Error('no');
      },
    });
    expect(stopped).toMatchObject({ reason: 'failed', restarts: 0 });

    const restarter = harness({
      intensity: { maxRestarts: 3, periodMs: 1_000 },
      recovery: async (): Promise<FailureDecision> => ({ action: 'retry' }),
    });
    const escalated = nextEvent(restarter.bus, 'SupervisorEscalated');
    const outcome = await restarter.supervisor.run({
      name: 't',
      restart: 'temporary',
      run: () => {
        throw new Error('again');
      },
    });
    await escalated;
    expect(outcome).toMatchObject({ reason: 'failed', restarts: 3 });
  });

  it('a throwing policy falls back to the restart rules; a kill during the decision cancels it', async () => {
    let calls = 0;
    const { supervisor, bus } = harness({
      recovery: async (failure) => {
        calls++;
        if (calls === 1) throw new Error('policy bug');
        return new Promise((resolve) =>
          failure.cancel.addEventListener('abort', () => resolve({ action: 'retry' })),
        );
      },
    });
    // After the policy throws, the default rules restart the transient agent; it fails again.
    const twoFailures = events(bus, 'AgentFailed', 2);
    const agent = await supervisor.spawn({
      name: 'x',
      run: () => {
        throw new Error('fail');
      },
    });
    await twoFailures;
    const outcome = await agent.kill();
    expect(outcome).toMatchObject({ reason: 'stopped', restarts: 1 });
    expect(calls).toBe(2);
    await supervisor.close();
  });
});

describe('groups', () => {
  it('runs members, publishes group events and reports each member', async () => {
    const { supervisor, events: all } = harness();
    const result = await supervisor.group([
      { name: 'a', run: () => 'A' },
      { name: 'b', restart: 'temporary', run: () => Promise.reject(new Error('b failed')) },
      { name: 'c', run: async () => 'C' },
    ]);
    expect(result.succeeded).toBe(2);
    expect(result.failed).toBe(1);
    expect(result.members.map((m) => [m.name, m.success, m.result ?? m.error])).toEqual([
      ['a', true, 'A'],
      ['b', false, 'b failed'],
      ['c', true, 'C'],
    ]);
    const created = all.find((e) => e.type === 'AgentGroupCreated');
    expect(created).toEqual({ type: 'AgentGroupCreated', groupId: result.groupId, agentCount: 3 });
    const completed = all.filter((e) => e.type === 'AgentGroupMemberCompleted');
    expect(completed).toHaveLength(3);
    expect(
      completed
        .map((e) => [(e as { agentId: string }).agentId, (e as { success: boolean }).success])
        .sort(),
    ).toEqual(result.members.map((m) => [m.agentId, m.success]).sort());
    await supervisor.close();
  });

  it('spawns N copies of one spec; aborting kills the members still running', async () => {
    const { supervisor } = harness();
    const ac = new AbortController();
    const control = controllable();
    let started = 0;
    const pending = supervisor.group(
      {
        name: 'copy',
        run: (ctx) => {
          started++;
          if (started === 1) return 'quick';
          if (started === 4) queueMicrotask(() => ac.abort());
          return control.run(ctx);
        },
      },
      { count: 4, signal: ac.signal },
    );
    const result = await pending;
    expect(result.members).toHaveLength(4);
    expect(result.succeeded).toBe(1);
    expect(result.members.slice(1).every((m) => m.reason === 'stopped')).toBe(true);
    await expect(supervisor.group([{ name: 'x', run: () => 1 }], { count: 2 })).rejects.toSatisfy(
      (e) => isKernelError(e, 'INVALID_ARGUMENT'),
    );
    await supervisor.close();
  });
});

describe('finished agents', () => {
  it('are forgotten beyond keepFinished, while handles still resolve', async () => {
    const { supervisor } = harness({ keepFinished: 1 });
    const first = await supervisor.run({ name: 'one', run: () => 1 });
    const second = await supervisor.run({ name: 'two', run: () => 2 });
    expect(second.result).toBe(2);
    expect(supervisor.list().map((a) => a.name)).toEqual(['two']);
    await expect(supervisor.wait(first.id)).rejects.toSatisfy((e) =>
      isKernelError(e, 'UNKNOWN_AGENT'),
    );
    const group = await harness({ keepFinished: 0 }).supervisor.group(
      { name: 'g', run: (ctx) => ctx.attempt },
      { count: 3 },
    );
    expect(group.members.map((m) => m.result)).toEqual([1, 1, 1]);
    await supervisor.close();
  });
});

describe('disposal', () => {
  it('await using closes the supervisor', async () => {
    const control = controllable();
    let outer: ReturnType<typeof harness>['supervisor'] | undefined;
    {
      await using supervisor = harness().supervisor;
      outer = supervisor;
      await supervisor.spawn(parked('kept', control));
    }
    expect(outer.status).toBe('closed');
    expect(outer.list()[0]!.status).toBe('stopped');
  });
});

describe('OTP fidelity (issue 13)', () => {
  it('a temporary sibling is stopped and not restarted by one_for_all', async () => {
    const control = controllable();
    const { supervisor, events: all } = harness({ strategy: 'one_for_all' });
    const temp = await supervisor.spawn({ name: 'temp', restart: 'temporary', run: control.run });
    await supervisor.spawn({ name: 'worker', restart: 'permanent', run: control.run });
    control.fail('worker', new Error('crash'));
    expect(await temp.wait()).toMatchObject({ reason: 'stopped', restarts: 0 });
    expect(all.filter((e) => e.type === 'AgentStarted' && e.id === temp.id)).toHaveLength(1);
    await supervisor.close();
  });

  it('start() awaits a nested supervisor depth-first: [p1, sub(s1, s2), p3] starts s2 before p3', async () => {
    const control = controllable();
    const { supervisor, events: all } = harness({
      children: [
        parked('p1', control),
        {
          name: 'sub',
          restart: 'permanent',
          supervisor: { children: [parked('s1', control), parked('s2', control)] },
        },
        parked('p3', control),
      ],
    });
    await supervisor.start();
    const names = namesOf(all);
    expect(
      all.filter((e) => e.type === 'AgentStarted').map((e) => names.get((e as { id: string }).id)),
    ).toEqual(['p1', 's1', 's2', 'sub', 'p3']);
    await supervisor.close();
  });

  it('an empty permanent nested supervisor keeps running (no restart loop)', async () => {
    const { supervisor, events: all } = harness();
    const sub = await supervisor.spawn({
      name: 'empty',
      restart: 'permanent',
      supervisor: { children: [] },
    });
    expect(sub.info().status).toBe('running');
    expect(all.filter((e) => e.type === 'AgentRestarted')).toHaveLength(0);
    await supervisor.close();
  });

  it('a child failing before ready aborts start() with FAILED_TO_START_CHILD; no later sibling starts', async () => {
    const { supervisor, events: all } = harness({
      children: [
        {
          name: 'a',
          restart: 'permanent',
          run: (ctx) => new Promise((r) => ctx.signal.addEventListener('abort', r)),
        },
        {
          name: 'b',
          awaitReady: true,
          run: async () => {
            throw new Error('no database');
          },
        },
        { name: 'c', run: () => 'never' },
      ],
    });
    await expect(supervisor.start()).rejects.toSatisfy((e) =>
      isKernelError(e, 'FAILED_TO_START_CHILD'),
    );
    expect(supervisor.status).toBe('failed');
    expect(namesOf(all).size).toBe(2);
    expect(all.filter((e) => e.type === 'AgentRestarted')).toHaveLength(0);
  });

  it('an abandoned function is reported as AgentAbandoned and counted', async () => {
    const { supervisor, bus, clock } = harness();
    const asked = deferred<unknown>();
    const agent = await supervisor.spawn({
      name: 'stubborn',
      shutdownMs: 100,
      run: (ctx) =>
        new Promise(() => ctx.signal.addEventListener('abort', () => asked.resolve(undefined))),
    });
    const abandoned = nextEvent(bus, 'AgentAbandoned');
    const killed = agent.kill();
    await asked.promise;
    clock.advance(100);
    expect(await abandoned).toEqual({ type: 'AgentAbandoned', id: agent.id, graceMs: 100 });
    await killed;
    expect(supervisor.stats().abandoned).toBe(1);
  });

  it('a root supervisor that gives up resolves escalated and calls onEscalated', async () => {
    let seen: unknown;
    const { supervisor } = harness({
      intensity: { maxRestarts: 0, periodMs: 1_000 },
      onEscalated: (e) => (seen = e),
    });
    await supervisor.spawn({ name: 'x', run: () => Promise.reject(new Error('boom')) });
    const error = await supervisor.escalated;
    expect(isKernelError(error, 'SUPERVISOR_ESCALATED')).toBe(true);
    expect(seen).toBe(error);
  });

  it('rejects unknown spec keys, duplicate childIds; terminate/restart/delete/count children', async () => {
    const control = controllable();
    const { supervisor } = harness();
    await expect(
      supervisor.spawn({ name: 'x', run: () => 1, signifcant: true } as unknown as AgentSpec),
    ).rejects.toThrow(/unknown key "signifcant".*allowed: name/);
    const w = await supervisor.spawn({
      name: 'w',
      childId: 'w1',
      restart: 'permanent',
      run: control.run,
    });
    await expect(
      supervisor.spawn({ name: 'w', childId: 'w1', run: control.run }),
    ).rejects.toSatisfy((e) => isKernelError(e, 'CONFLICT'));
    await supervisor.terminateChild('w1');
    expect(supervisor.countChildren()).toEqual({ specs: 1, active: 0, supervisors: 0, workers: 1 });
    await supervisor.restartChild(w.id);
    expect(supervisor.countChildren().active).toBe(1);
    await expect(supervisor.deleteChild(w.id)).rejects.toSatisfy((e) =>
      isKernelError(e, 'CONFLICT'),
    );
    await supervisor.terminateChild(w.id);
    await supervisor.deleteChild(w.id);
    expect(supervisor.countChildren().specs).toBe(0);
    await supervisor.close();
  });
});

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { KernelEvent, KernelEventType } from '../../src/model/kernel-event.js';
import { createKernel, type Kernel } from '../../src/kernel.js';
import { readRecoveryArtifact } from '../../src/recovery/recovery-artifact.js';
import { agentConfigKeys } from '../../src/recovery/self-healing.js';
import type { AgentPatchContext } from '../../src/supervisor/agent.js';
import { ManualClock, sleep } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { seededRandom } from '../../src/util/random.js';
import { tempDir } from '../helpers/stores.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function kernelFor(store?: string, dir?: string) {
  const t = tempDir('kerno-heal-');
  const stateDir = dir ?? t.dir;
  const clock = new ManualClock(Date.UTC(2026, 4, 14, 10));
  const kernel = await createKernel({
    store: store ?? 'memory:',
    stateDir,
    recoveryDir: join(stateDir, 'recovery'),
    clock,
    random: seededRandom(11),
    logger: silentLogger,
    registryKey: 'heal test key',
    registryScryptCost: 1024,
    backoff: { baseMs: 0, jitter: 0 },
    intensity: { maxRestarts: 20, periodMs: 60_000 },
    healthyAfterMs: 1000,
  });
  cleanups.push(async () => {
    await kernel.close();
    if (dir === undefined) t.cleanup();
  });
  return { kernel, clock, dir: stateDir };
}

/** Resolves with the first event of `type` matching `pred` published from now on. */
function next<T extends KernelEventType>(
  kernel: Kernel,
  type: T,
  pred: (e: Extract<KernelEvent, { type: T }>) => boolean = () => true,
) {
  return new Promise<Extract<KernelEvent, { type: T }>>((resolve) => {
    const off = kernel.bus.on(type, (e) => {
      if (pred(e as Extract<KernelEvent, { type: T }>)) {
        off();
        resolve(e as Extract<KernelEvent, { type: T }>);
      }
    });
  });
}

/** Lets promise chains settle (hook calls, storage writes) without advancing the clock. */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

class StageError extends Error {
  constructor(
    readonly stage: string,
    message: string,
    readonly flaky = false,
  ) {
    super(message);
  }
}

describe('self-healing through the kernel', () => {
  it('retries a flaky test failure, records the recovery everywhere', async () => {
    const { kernel, clock, dir } = await kernelFor();
    let runs = 0;
    const decided = next(kernel, 'RecoveryDecided');
    const learned = next(kernel, 'MemoryStored');
    const handle = await kernel.spawn({
      name: 'flaky',
      run: async () => {
        runs++;
        if (runs === 1)
          throw new StageError('test', 'test failed: timeout talking to staging', true);
        return 'ok';
      },
    });
    expect(await decided).toMatchObject({ action: 'retry', failureClass: 'test', attempt: 1 });
    await settle();
    clock.advance(0);
    const outcome = await handle.wait();
    expect(outcome).toMatchObject({ reason: 'completed', result: 'ok', restarts: 1 });
    await learned;
    const [run] = await kernel.recoveries.forAgent('flaky');
    expect(run).toMatchObject({
      outcome: 'recovered',
      attempts_used: 1,
      decisions: [{ action: 'retry' }],
    });
    expect(await readRecoveryArtifact(run!.run_id, join(dir, 'recovery'))).toEqual(run);
    const [outcomeRec] = await kernel.ledger.query({ kinds: ['OutcomeRecorded'] });
    expect(outcomeRec!.envelope.event).toMatchObject({
      data: { chain_id: run!.run_id, passed: true, backend: 'kerno-recovery' },
    });
    expect(kernel.learning.getPatternsByDomain('recovery')[0]).toMatchObject({
      success_rate: 1,
      use_count: 1,
    });
    expect(kernel.learning.getTrajectoriesByOutcome('success')).toHaveLength(1);
  });

  it('patches forward a build failure with the agent’s patch hook and restarts with the patched config', async () => {
    const { kernel, clock } = await kernelFor();
    const seen: unknown[] = [];
    const learned = next(kernel, 'MemoryStored');
    const handle = await kernel.spawn<{ flags: string[] }>({
      name: 'builder',
      config: { flags: [] },
      run: async (ctx) => {
        seen.push(ctx.config);
        if (!ctx.config.flags.includes('--fix'))
          throw new StageError('build', 'compilation error in main.rs');
        return 'built';
      },
      patch: async (ctx: AgentPatchContext<{ flags: string[] }>) => ({
        config: { flags: [...ctx.config.flags, '--fix'] },
      }),
    });
    await settle();
    clock.advance(0);
    expect(await handle.wait()).toMatchObject({ reason: 'completed', result: 'built' });
    expect(seen).toEqual([{ flags: [] }, { flags: ['--fix'] }]);
    await learned;
    await settle();
    const [run] = await kernel.recoveries.forAgent('builder');
    expect(run).toMatchObject({
      outcome: 'recovered',
      decisions: [{ action: 'patch_forward', failure_class: 'build' }],
    });
    expect(await kernel.registry.getConfig(agentConfigKeys.knownGood('builder'))).toEqual({
      flags: ['--fix'],
    });
  });

  it('rolls a runtime failure back to the last known-good config from the registry', async () => {
    const { kernel, clock } = await kernelFor();
    await kernel.registry.setConfig(agentConfigKeys.knownGood('worker'), { version: 1 });
    const seen: unknown[] = [];
    const handle = await kernel.spawn<{ version: number }>({
      name: 'worker',
      config: { version: 2 },
      run: async (ctx) => {
        seen.push(ctx.config.version);
        if (ctx.config.version === 2) throw new StageError('runtime', 'panic: index out of range');
        return 'served';
      },
    });
    await settle();
    clock.advance(0);
    expect(await handle.wait()).toMatchObject({ reason: 'completed', result: 'served' });
    expect(seen).toEqual([2, 1]);
    await settle();
    expect((await kernel.recoveries.forAgent('worker'))[0]).toMatchObject({
      outcome: 'recovered',
      decisions: [{ action: 'rollback' }],
    });
  });

  it('escalates to a human when healing is not possible; approval restarts the agent, rejection stops it', async () => {
    const { kernel, clock } = await kernelFor();
    let runs = 0;
    const requested = next(kernel, 'ApprovalRequested');
    const handle = await kernel.spawn({
      name: 'crasher',
      run: async () => {
        runs++;
        if (runs < 3) throw new StageError('integration', 'dependency unavailable: payments API');
        return 'finally';
      },
      recovery: { allow_rollback: false },
    });
    const req = await requested;
    expect(req.resource).toBe('crasher');
    await settle();
    const [gate] = kernel.approvals.list();
    expect(gate).toMatchObject({ origin: 'escalation', agentName: 'crasher' });
    await kernel.approvals.approve(gate!.id, { by: 'ops' });
    await settle();
    clock.advance(0);
    // the approved re-run fails again → a new incident → escalates again; reject stops it
    await next(kernel, 'ApprovalRequested');
    await settle();
    const [second] = kernel.approvals.list();
    await kernel.approvals.reject(second!.id, { by: 'ops', reason: 'stop it' });
    await settle();
    clock.advance(0);
    expect(await handle.wait()).toMatchObject({ reason: 'failed' });
    expect(runs).toBe(2);
    const logs = await kernel.recoveries.forAgent('crasher');
    expect(logs.map((l) => l.outcome)).toEqual(['failed', 'failed']);
    // no fix held the first time (a human decided): not a regression, the class rule escalates
    expect(logs[1]!.decisions[0]).toMatchObject({
      action: 'escalate',
      rationale: 'no safe automated action available under policy',
    });
    const decisions = await kernel.ledger.query({ kinds: ['GateDecisionRecorded'] });
    expect(decisions).toHaveLength(2);
  });

  it('a flaky agent failing now and then is retried every time its retry held, never escalated', async () => {
    const { kernel, clock } = await kernelFor();
    let suites = 0;
    await kernel.spawn({
      name: 'flaky-suite',
      restart: 'permanent',
      run: async (ctx) => {
        for (;;) {
          suites++;
          await sleep(clock, 400, ctx.signal);
          if (suites % 4 === 0)
            throw new StageError('test', `test failed: flaky timeout in suite #${suites}`, true);
        }
      },
    });
    for (let i = 0; i < 400 && suites < 41; i++) {
      clock.advance(100);
      await settle();
    }
    expect(suites).toBeGreaterThanOrEqual(41);
    const logs = await kernel.recoveries.forAgent('flaky-suite');
    expect(logs.length).toBeGreaterThanOrEqual(9);
    for (const log of logs) {
      expect(log).toMatchObject({ outcome: 'recovered', decisions: [{ action: 'retry' }] });
    }
    expect(kernel.approvals.list()).toEqual([]);
    expect(kernel.supervisor.list().find((a) => a.name === 'flaky-suite')?.status).toBe('running');
  });

  it('rollback without a known-good config is not possible: the run escalates', async () => {
    const { kernel } = await kernelFor();
    const requested = next(kernel, 'ApprovalRequested');
    await kernel.spawn({
      name: 'fresh',
      config: { version: 2 },
      run: async () => {
        throw new StageError('runtime', 'panic: index out of range');
      },
    });
    await requested;
    await settle();
    const [log] = await kernel.recoveries.forAgent('fresh');
    expect(log!.decisions.map((d) => d.action)).toEqual(['rollback', 'escalate']);
    expect(log!.outcome).toBe('failed');
    expect(log!.final_failure?.message).toBe(
      'rollback not possible: no known-good config to roll back to',
    );
    expect(kernel.approvals.list()).toMatchObject([{ origin: 'escalation', agentName: 'fresh' }]);
  });

  it('a regression of a recovered failure tries another action first', async () => {
    const { kernel, clock } = await kernelFor();
    await kernel.registry.setConfig(agentConfigKeys.knownGood('svc'), { safe: true });
    const make = () => {
      let failed = false;
      return kernel.spawn<{ safe?: boolean }>({
        name: 'svc',
        config: {},
        run: async (ctx) => {
          if (!failed && ctx.config.safe !== true) {
            failed = true;
            throw new StageError('test', 'assertion failed: expected 2 got 3');
          }
          return 'ok';
        },
        patch: async () => ({ config: { safe: true } }),
      });
    };
    const first = await make();
    await settle();
    clock.advance(0);
    await first.wait();
    await settle();
    const second = await make();
    await settle();
    clock.advance(0);
    await second.wait();
    await settle();
    const logs = await kernel.recoveries.forAgent('svc');
    expect(logs.map((l) => l.decisions[0]!.action)).toEqual(['patch_forward', 'rollback']);
    expect(logs[1]!.decisions[0]!.rationale).toMatch(/regression/);
  });

  it('an escalation pending across a kernel restart re-runs the agent when approved later', async () => {
    const t = tempDir('kerno-heal-restart-');
    const url = `sqlite:${join(t.dir, 'k.db')}`;
    const first = await kernelFor(url, t.dir);
    await first.kernel.spawn({
      name: 'nightly',
      run: async () => {
        throw new StageError('deploy', 'unclassifiable failure');
      },
    });
    await next(first.kernel, 'ApprovalRequested');
    await settle();
    expect(first.kernel.approvals.list()).toHaveLength(1);
    await first.kernel.close();
    cleanups.pop();

    const second = await kernelFor(url, t.dir);
    cleanups.push(async () => t.cleanup());
    const [gate] = second.kernel.approvals.list();
    expect(gate).toMatchObject({ origin: 'escalation', agentName: 'nightly', status: 'pending' });
    let reran = false;
    // the kernel learns the spec again (as `kerno up` does at start) but the agent is not running
    await second.kernel.spawn({ name: 'nightly', run: async () => 'not yet', recovery: false });
    await settle();
    const started = next(second.kernel, 'AgentStarted');
    await second.kernel.approvals.approve(gate!.id);
    await started;
    reran = true;
    expect(reran).toBe(true);
    expect(existsSync(join(t.dir, 'recovery'))).toBe(true);
  });

  it('kernel.supervisor.spawn tracks known-good configs like kernel.spawn: a run healthy for healthyAfterMs', async () => {
    const { kernel, clock } = await kernelFor();
    const key = agentConfigKeys.knownGood('steady');
    const handle = await kernel.supervisor.spawn({
      name: 'steady',
      config: { version: 3 },
      run: (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
    });
    const recorded = next(kernel, 'ConfigChanged', (e) => e.key === key);
    clock.advance(999);
    await settle();
    expect(await kernel.registry.tryGetConfig(key)).toBeUndefined();
    clock.advance(1);
    await recorded;
    expect(await kernel.registry.getConfig(key)).toEqual({ version: 3 });
    await handle.kill();
  });
});

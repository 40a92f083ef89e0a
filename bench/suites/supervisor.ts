import { spawn } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createMemoryBus, createSupervisor, type AgentContext } from '../../src/index.js';
import { percentile, type BenchRow, type BenchSuite } from '../harness.js';

const RESTARTS = 5_000;
const IDLE_AGENTS = 10_000;
const SPAWNS = 500;
const COMMAND = '/bin/true';

/** A full GC, with or without `--expose-gc`. */
function gcFunction(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function settledHeap(gc: () => void): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

/** Fail → running again, for an in-process agent with no backoff. */
async function restartLatencies(): Promise<number[]> {
  const bus = createMemoryBus();
  const supervisor = createSupervisor({
    bus,
    backoff: { baseMs: 0 },
    intensity: { maxRestarts: Number.MAX_SAFE_INTEGER, periodMs: 1_000 },
  });
  let fail: (error: Error) => void = () => undefined;
  let running: () => void = () => undefined;
  bus.on('AgentStarted', () => running());
  const agent = await supervisor.spawn({
    name: 'phoenix',
    restart: 'permanent',
    run: (ctx: AgentContext) =>
      new Promise((resolve, reject) => {
        fail = reject;
        ctx.signal.addEventListener('abort', resolve, { once: true });
      }),
  });
  const error = new Error('boom');
  const samples: number[] = [];
  for (let i = 0; i < RESTARTS + 500; i++) {
    const back = new Promise<void>((r) => (running = r));
    const t0 = performance.now();
    fail(error);
    await back;
    if (i >= 500) samples.push(performance.now() - t0); // the first 500 warm the JIT
  }
  if (agent.info().restarts !== RESTARTS + 500) throw new Error('restarts were lost');
  await supervisor.close();
  return samples;
}

/** Heap bytes per idle in-process agent, with 10 000 of them. */
async function idleAgentBytes(): Promise<number> {
  const gc = gcFunction();
  const supervisor = createSupervisor({ bus: createMemoryBus(), keepFinished: 0 });
  const idle = (ctx: AgentContext): Promise<unknown> => {
    ctx.idle();
    return new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
  };
  // One agent first, so module-level caches and JIT code do not count as per-agent memory.
  await supervisor.spawn({ name: 'idle', run: idle });
  const before = await settledHeap(gc);
  for (let i = 0; i < IDLE_AGENTS; i++) await supervisor.spawn({ name: 'idle', run: idle });
  const after = await settledHeap(gc);
  if (supervisor.list().filter((a) => a.status === 'idle').length !== IDLE_AGENTS + 1)
    throw new Error('agents are not idle');
  await supervisor.close();
  return (after - before) / IDLE_AGENTS;
}

function bareSpawn(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(COMMAND, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.once('error', reject);
    child.once('close', () => resolve());
  });
}

/**
 * Spawn+exit rates (per second) of process agents and of bare spawns. The two alternate run by
 * run, so that both see the same machine load (process creation time drifts a lot on a shared
 * machine).
 */
async function spawnRates(): Promise<{ kerno: number; bare: number }> {
  const supervisor = createSupervisor({ keepFinished: 10 });
  const kernoOnce = async (): Promise<void> => {
    const outcome = await supervisor.run({ name: 'true', restart: 'temporary', command: COMMAND });
    if (outcome.reason !== 'completed')
      throw new Error(`agent failed: ${outcome.failure?.message}`);
  };
  for (let i = 0; i < 20; i++) {
    await kernoOnce();
    await bareSpawn();
  }
  let kernoMs = 0;
  let bareMs = 0;
  for (let i = 0; i < SPAWNS; i++) {
    const t0 = performance.now();
    await kernoOnce();
    const t1 = performance.now();
    await bareSpawn();
    kernoMs += t1 - t0;
    bareMs += performance.now() - t1;
  }
  await supervisor.close();
  return { kerno: (SPAWNS / kernoMs) * 1000, bare: (SPAWNS / bareMs) * 1000 };
}

/** Supervisor: restart latency, memory per idle agent, process spawn overhead. */
export const supervisorSuite: BenchSuite = {
  name: 'supervisor',
  async run(): Promise<BenchRow[]> {
    const latencies = await restartLatencies();
    const bytes = await idleAgentBytes();
    const rates = await spawnRates();
    return [
      {
        group: 'supervisor',
        name: 'restart latency p50 (in-process, no backoff)',
        value: percentile(latencies, 50),
        unit: 'ms',
        lowerIsBetter: true,
      },
      {
        group: 'supervisor',
        name: 'restart latency p99 (in-process, no backoff)',
        value: percentile(latencies, 99),
        unit: 'ms',
        goal: { kind: 'max', value: 1 },
        lowerIsBetter: true,
        note: `fail → AgentStarted again, ${RESTARTS} restarts of one permanent agent`,
      },
      {
        group: 'supervisor',
        name: `memory per idle agent (${IDLE_AGENTS / 1000}k in-process)`,
        value: bytes / 1024,
        unit: 'KiB',
        goal: { kind: 'max', value: 20 },
        lowerIsBetter: true,
        note: 'heap delta after full GC, bus attached, no registry port',
      },
      {
        group: 'supervisor',
        name: `process agent spawn+exit (${COMMAND})`,
        value: rates.kerno,
        unit: 'spawns/s',
        peer: { name: 'child_process.spawn', value: rates.bare },
        goal: { kind: 'ratio-min', value: 0.8 },
        note: `${SPAWNS} sequential runs of each, alternating one by one`,
      },
    ];
  },
};

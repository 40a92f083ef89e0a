import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  createMemoryBus,
  createSupervisor,
  createUuidV7,
  ManualClock,
  seededRandom,
  type AgentContext,
  type EventBus,
  type KernelEvent,
  type KernelEventOf,
  type KernelEventType,
  type Supervisor,
  type SupervisorOptions,
} from '../../src/index.js';

/** Absolute path of a fixture agent. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/agents/${name}`, import.meta.url));
}

/** A supervisor on a manual clock, seeded randomness and a memory bus, with every event recorded. */
export function harness(options: SupervisorOptions = {}): {
  supervisor: Supervisor;
  bus: EventBus;
  clock: ManualClock;
  events: KernelEvent[];
} {
  const clock = new ManualClock();
  const random = seededRandom(7);
  const bus = createMemoryBus();
  const events: KernelEvent[] = [];
  bus.on('*', (e) => events.push(e));
  const supervisor = createSupervisor({
    bus,
    clock,
    random,
    ids: createUuidV7({ clock, random }),
    backoff: { baseMs: 0 },
    ...options,
  });
  return { supervisor, bus, clock, events };
}

/** Resolves with the first event of `type` (published from now on) that satisfies `match`. */
export function nextEvent<T extends KernelEventType>(
  bus: EventBus,
  type: T,
  match: (event: KernelEventOf<T>) => boolean = () => true,
): Promise<KernelEventOf<T>> {
  return new Promise((resolve) => {
    const off = bus.on(type, (event) => {
      const e = event as KernelEventOf<T>;
      if (!match(e)) return;
      off();
      resolve(e);
    });
  });
}

/** Resolves once `count` events of `type` matching `match` have been published from now on. */
export function events<T extends KernelEventType>(
  bus: EventBus,
  type: T,
  count: number,
  match: (event: KernelEventOf<T>) => boolean = () => true,
): Promise<KernelEventOf<T>[]> {
  const seen: KernelEventOf<T>[] = [];
  return new Promise((resolve) => {
    const off = bus.on(type, (event) => {
      const e = event as KernelEventOf<T>;
      if (!match(e)) return;
      seen.push(e);
      if (seen.length === count) {
        off();
        resolve(seen);
      }
    });
  });
}

/** `type:name` (or `type`) of each lifecycle event, with agent ids replaced by names. */
export function story(all: readonly KernelEvent[], names: ReadonlyMap<string, string>): string[] {
  const name = (id: string): string => names.get(id) ?? id;
  const out: string[] = [];
  for (const e of all) {
    switch (e.type) {
      case 'AgentStarted':
      case 'AgentStopped':
        out.push(`${e.type}:${name(e.id)}`);
        break;
      case 'AgentFailed':
        out.push(`AgentFailed:${name(e.id)}`);
        break;
      case 'AgentRestarted':
        out.push(`AgentRestarted:${name(e.id)}#${e.restarts}`);
        break;
      case 'SupervisorEscalated':
        out.push('SupervisorEscalated');
        break;
      default:
        break;
    }
  }
  return out;
}

/** Id → name of every agent created so far. */
export function namesOf(all: readonly KernelEvent[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const e of all) if (e.type === 'AgentCreated') names.set(e.id, e.name);
  return names;
}

/**
 * Agents the test ends by hand: each run parks until `fail(name)` / `finish(name)` (or its
 * signal aborts), so failures happen exactly when the test says.
 */
export function controllable(): {
  run: (ctx: AgentContext) => Promise<unknown>;
  fail(name: string, error?: unknown): void;
  finish(name: string, value?: unknown): void;
  attempts(name: string): number;
} {
  const live = new Map<string, { resolve(v: unknown): void; reject(e: unknown): void }>();
  const counts = new Map<string, number>();
  return {
    run: (ctx) =>
      new Promise((resolve, reject) => {
        counts.set(ctx.name, ctx.attempt);
        live.set(ctx.name, { resolve, reject });
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), {
          once: true,
        });
      }),
    fail(name, error = new Error(`${name} crashed`)) {
      const entry = live.get(name);
      if (entry === undefined) throw new Error(`${name} is not running`);
      live.delete(name);
      entry.reject(error);
    },
    finish(name, value) {
      const entry = live.get(name);
      if (entry === undefined) throw new Error(`${name} is not running`);
      live.delete(name);
      entry.resolve(value);
    },
    attempts: (name) => counts.get(name) ?? 0,
  };
}

/**
 * Whether a process exists and is not a zombie (`process.kill(pid, 0)` alone counts zombies as
 * alive, and this container's init does not reap orphans).
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Waits until `pid` is gone. A SIGKILLed process vanishes within moments but there is no event
 * to wait for, so this polls (bounded) rather than sleeping a fixed time.
 */
export async function gone(pid: number, withinMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

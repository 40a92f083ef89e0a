/**
 * Concurrency and rate limits: the N+1th run is `queued` (with its position) and starts when one
 * finishes, priority then FIFO order, a token bucket on an injected clock, steps taking a slot on
 * a key, queued runs surviving a restart, and two kernels on one PostgreSQL store never running
 * more than the limit between them.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isKernelError } from '../../src/errors.js';
import { createKernel, type Kernel } from '../../src/kernel.js';
import type { AgentDefinition } from '../../src/runs/run-engine.js';
import { ManualClock } from '../../src/util/clock.js';
import { createStderrLogger, silentLogger } from '../../src/util/logger.js';
import { dropSchema, freshSchema, pgAvailable, pgSkipReason, pgUrl } from '../helpers/postgres.js';
import { tempDir } from '../helpers/stores.js';

/** An agent whose runs block in a step until released; counts how many are inside at once. */
function gated(name = 'work', stepLimitKey?: string) {
  const state = {
    active: 0,
    maxActive: 0,
    started: [] as string[],
    releases: new Map<string, () => void>(),
  };
  const agent: AgentDefinition<{ tag: string }, unknown> = {
    name,
    run: async (ctx, input) =>
      ctx.step(
        'work',
        async () => {
          state.active++;
          state.maxActive = Math.max(state.maxActive, state.active);
          state.started.push(input.tag);
          await new Promise<void>((resolve) => state.releases.set(input.tag, resolve));
          state.active--;
          return input.tag;
        },
        stepLimitKey === undefined ? {} : { limitKey: stepLimitKey },
      ),
  };
  const release = (tag: string): void => {
    const r = state.releases.get(tag);
    if (r === undefined) throw new Error(`${tag} is not running`);
    state.releases.delete(tag);
    r();
  };
  return { agent, state, release };
}

function open(
  store: string,
  dir: string,
  define: AgentDefinition<never, unknown>[],
  extra: { clock?: ManualClock; runOwner?: string } = {},
): Promise<Kernel> {
  return createKernel({
    store,
    stateDir: dir,
    logger: process.env['DEBUG_LIMITS'] ? createStderrLogger('debug') : silentLogger,
    registryKey: 'limits test key',
    registryScryptCost: 1024,
    runRetention: false,
    define,
    ...extra,
  });
}

/** Turns the event loop until `ok()` (a bound on real time, in case it never happens). */
async function until(ok: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`never reached: ${what}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Waits on real time (PostgreSQL followers poll). */
async function waitFor(ok: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 10));
  }
}

function statusOf(k: Kernel, id: string): string | undefined {
  return k.runs.list({ limit: 10_000 }).find((r) => r.id === id)?.status;
}

describe('limits', () => {
  it('queues the run past maxConcurrent and starts it when one finishes', async () => {
    const { dir, cleanup } = tempDir('kerno-limits-');
    const g = gated();
    const k = await open('memory:', dir, [g.agent]);
    try {
      await k.policies.set('limit', 'work-2', { agent: 'work', maxConcurrent: 2 });
      const a = await k.start('work', { tag: 'a' });
      const b = await k.start('work', { tag: 'b' });
      const c = await k.start('work', { tag: 'c' });
      await until(() => g.state.active === 2, 'two running');
      expect(statusOf(k, c.id)).toBe('queued');
      expect(k.runs.list({ status: 'queued' }).map((r) => r.id)).toEqual([c.id]);
      const [q] = k.limits.queues();
      expect(q).toMatchObject({ limit: 'work-2', inUse: 2 });
      expect(q!.queued).toEqual([{ runId: c.id, agent: 'work', priority: 0, position: 1 }]);
      expect(k.limits.positionOf(c.id)).toEqual([{ limit: 'work-2', position: 1 }]);
      expect(await k.runs.get(c.id)).toMatchObject({
        status: 'queued',
        queue: [{ limit: 'work-2', position: 1 }],
      });
      g.release('a');
      expect(await a.result()).toBe('a');
      await until(() => g.state.started.includes('c'), 'c started');
      expect(g.state.maxActive).toBe(2);
      g.release('b');
      g.release('c');
      expect(await c.result()).toBe('c');
      await b.result();
      expect(k.limits.queues()[0]!.inUse).toBe(0);
    } finally {
      await k.close();
      cleanup();
    }
  });

  it('starts queued runs in priority order, then FIFO', async () => {
    const { dir, cleanup } = tempDir('kerno-limits-');
    const g = gated();
    const k = await open('memory:', dir, [g.agent]);
    try {
      await k.policies.set('limit', 'one', { agent: 'work', maxConcurrent: 1 });
      await k.start('work', { tag: 'first' });
      await until(() => g.state.active === 1);
      await k.start('work', { tag: 'low-1' });
      await k.start('work', { tag: 'high' }, { priority: 5 });
      await k.start('work', { tag: 'low-2' });
      await k.start('work', { tag: 'mid' }, { priority: 1 });
      await until(() => k.runs.list({ status: 'queued' }).length === 4);
      expect(k.limits.queues()[0]!.queued.map((e) => [e.priority, e.position])).toEqual([
        [5, 1],
        [1, 2],
        [0, 3],
        [0, 4],
      ]);
      for (const tag of ['first', 'high', 'mid', 'low-1']) {
        await until(() => g.state.releases.has(tag), `${tag} running`);
        g.release(tag);
      }
      await until(() => g.state.releases.has('low-2'));
      g.release('low-2');
      expect(g.state.started).toEqual(['first', 'high', 'mid', 'low-1', 'low-2']);
      expect(g.state.maxActive).toBe(1);
    } finally {
      await k.close();
      cleanup();
    }
  });

  it('meters starts with a token bucket on the injected clock', async () => {
    const { dir, cleanup } = tempDir('kerno-limits-');
    const clock = new ManualClock(Date.UTC(2026, 11, 4, 12));
    const done: string[] = [];
    const agent: AgentDefinition<{ tag: string }, unknown> = {
      name: 'call',
      run: (_ctx, input) => {
        done.push(input.tag);
        return input.tag;
      },
    };
    const k = await open('memory:', dir, [agent], { clock });
    try {
      await k.policies.set('limit', 'calls', { agent: 'call', ratePerSec: 0.5, burst: 2 });
      for (const tag of ['a', 'b', 'c', 'd']) await k.start('call', { tag });
      await until(() => done.length === 2, 'the burst');
      await until(() => k.runs.list({ status: 'queued' }).length === 2);
      clock.advance(1999);
      for (let i = 0; i < 50; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      expect(done).toEqual(['a', 'b']);
      clock.advance(1);
      await until(() => done.length === 3, 'one token after 2 s');
      clock.advance(2000);
      await until(() => done.length === 4, 'the next after 2 s more');
      expect(done).toEqual(['a', 'b', 'c', 'd']);
    } finally {
      await k.close();
      cleanup();
    }
  });

  it('lets steps take a slot on a key', async () => {
    const { dir, cleanup } = tempDir('kerno-limits-');
    const g = gated('model', 'openai');
    const k = await open('memory:', dir, [g.agent]);
    try {
      await k.policies.set('limit', 'openai', { key: 'openai', maxConcurrent: 1 });
      const a = await k.start('model', { tag: 'a' });
      const b = await k.start('model', { tag: 'b' });
      await until(() => g.state.active === 1);
      // Both runs run; b's step waits for the key's slot.
      expect(statusOf(k, b.id)).toBe('running');
      await until(() => k.limits.queues()[0]!.queued.length === 1);
      expect(k.limits.queues()[0]!.queued[0]).toMatchObject({ runId: b.id, step: 'work#1' });
      g.release('a');
      await a.result();
      await until(() => g.state.releases.has('b'));
      g.release('b');
      await b.result();
      expect(g.state.maxActive).toBe(1);
    } finally {
      await k.close();
      cleanup();
    }
  });

  it("lets a step on the key its run holds a slot on use the run's slot", async () => {
    const { dir, cleanup } = tempDir('kerno-limits-');
    const g = gated('model', 'openai');
    const k = await open('memory:', dir, [g.agent]);
    try {
      await k.policies.set('limit', 'openai', { key: 'openai', maxConcurrent: 1 });
      const a = await k.start('model', { tag: 'a' }, { limitKey: 'openai' });
      const b = await k.start('model', { tag: 'b' }, { limitKey: 'openai' });
      // a's step runs on a's own slot (no second claim, so no deadlock); b queues as a run.
      await until(() => g.state.active === 1, "a's step running");
      expect(statusOf(k, b.id)).toBe('queued');
      expect(k.limits.queues()[0]).toMatchObject({ inUse: 1 });
      g.release('a');
      expect(await a.result()).toBe('a');
      await until(() => g.state.releases.has('b'), "b's step running");
      g.release('b');
      expect(await b.result()).toBe('b');
      expect(g.state.maxActive).toBe(1);
      expect(k.limits.queues()[0]!.inUse).toBe(0);
    } finally {
      await k.close();
      cleanup();
    }
  });

  it('keeps queued runs across a restart and starts them in priority order', async () => {
    const { dir, cleanup } = tempDir('kerno-limits-');
    const store = `sqlite:${join(dir, 'kerno.db')}`;
    const holder: AgentDefinition<{ tag: string }, unknown> = {
      name: 'work',
      run: async (ctx, input) => {
        if (input.tag === 'hold') await ctx.waitForSignal('go');
        return ctx.step('record', () => input.tag);
      },
    };
    try {
      const a = await open(store, dir, [holder]);
      await a.policies.set('limit', 'one', { agent: 'work', maxConcurrent: 1 });
      const hold = await a.start('work', { tag: 'hold' });
      await until(() => statusOf(a, hold.id) === 'waiting');
      const low = await a.start('work', { tag: 'low' });
      const high = await a.start('work', { tag: 'high' }, { priority: 3 });
      await until(() => a.runs.list({ status: 'queued' }).length === 2);
      await a.close();

      const order: string[] = [];
      const b = await open(store, dir, [holder]);
      try {
        b.runs.onStatus((r) => {
          if (r.status === 'completed') order.push(r.id);
        });
        // The holder keeps its slot; the others are queued again.
        await until(() => b.runs.list({ status: 'queued' }).length === 2, 'requeued');
        expect(b.limits.queues()[0]!.queued.map((e) => e.runId)).toEqual([high.id, low.id]);
        await b.signal(hold.id, 'go');
        await until(() => order.length === 3, 'all done').catch((e: unknown) => {
          throw new Error(
            `${String(e)}; completed ${JSON.stringify(order)}; ${JSON.stringify(b.runs.list())}; ${JSON.stringify(b.limits.queues())}`,
          );
        });
        expect(order).toEqual([hold.id, high.id, low.id]);
      } finally {
        await b.close();
      }
    } finally {
      cleanup();
    }
  });

  it('does not charge a rate token again for a run admitted before a restart', async () => {
    const { dir, cleanup } = tempDir('kerno-limits-');
    const store = `sqlite:${join(dir, 'kerno.db')}`;
    const clock = new ManualClock(Date.UTC(2026, 11, 4, 12));
    const agent: AgentDefinition<unknown, unknown> = {
      name: 'work',
      run: async (ctx) => ctx.waitForSignal('go'),
    };
    try {
      const a = await open(store, dir, [agent], { clock });
      // One start per 1000 s.
      await a.policies.set('limit', 'slow', { agent: 'work', ratePerSec: 0.001, burst: 1 });
      const first = await a.start('work');
      await until(() => statusOf(a, first.id) === 'waiting');
      await a.close();
      const b = await open(store, dir, [agent], { clock });
      try {
        // Admitted again with the token it took: not queued behind an empty bucket.
        await until(() => statusOf(b, first.id) === 'waiting', 'first waits again');
        const second = await b.start('work');
        await until(() => statusOf(b, second.id) === 'queued', 'second queued');
        await b.signal(first.id, 'go');
        await b.runs.wait(first.id);
        expect(statusOf(b, second.id)).toBe('queued');
        clock.advance(1_000_000);
        await until(() => statusOf(b, second.id) === 'waiting', 'second admitted after 1000 s');
      } finally {
        await b.close();
      }
    } finally {
      cleanup();
    }
  });

  it('refuses bad limits and start options with what to write', async () => {
    const { dir, cleanup } = tempDir('kerno-limits-');
    const k = await open('memory:', dir, []);
    const refusal = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
      } catch (error) {
        expect(isKernelError(error, 'INVALID_ARGUMENT'), String(error)).toBe(true);
        return (error as Error).message;
      }
      throw new Error('expected a refusal');
    };
    try {
      expect(await refusal(k.policies.set('limit', 'x', { maxConcurrent: 1 }))).toContain(
        'A limit needs exactly one of "agent" and "key"',
      );
      expect(await refusal(k.policies.set('limit', 'x', { agent: 'a' }))).toContain(
        'A limit needs "maxConcurrent", "ratePerSec" or both',
      );
      expect(
        await refusal(k.policies.set('limit', 'x', { agent: 'a', maxConcurrent: 0 })),
      ).toContain('"maxConcurrent" is a whole number from 1 to 10000, got 0');
      expect(await refusal(k.policies.set('limit', 'x', { key: 'k', ratePerSec: -1 }))).toContain(
        '"ratePerSec" is a number above 0',
      );
      expect(
        await refusal(k.policies.set('limit', 'x', { key: 'k', maxConcurrent: 1, burst: 2 })),
      ).toContain('"burst" only applies with "ratePerSec"');
      const v = await k.policies.set('limit', 'x', { key: 'openai', ratePerSec: 2.5 });
      expect(v.spec).toEqual({ key: 'openai', ratePerSec: 2.5, burst: 3 });
    } finally {
      await k.close();
      cleanup();
    }
  });
});

describe.skipIf(!pgAvailable)(`limits on PostgreSQL${pgSkipReason}`, () => {
  it('two kernels share one limit: never more than maxConcurrent between them', async () => {
    const schema = freshSchema();
    const url = pgUrl(schema);
    const { dir, cleanup } = tempDir('kerno-limits-');
    // One counter across both kernels: the agents run in this process.
    const g = gated();
    const a = await open(url, join(dir, 'a'), [g.agent], { runOwner: 'a' });
    const b = await open(url, join(dir, 'b'), [g.agent], { runOwner: 'b' });
    try {
      await a.policies.set('limit', 'shared', { agent: 'work', maxConcurrent: 2 });
      await waitFor(() => b.policies.get('limit', 'shared') !== undefined, 'b sees the limit');
      const tags = ['a1', 'a2', 'a3', 'b1', 'b2', 'b3'];
      const handles = [];
      for (const tag of tags)
        handles.push(await (tag.startsWith('a') ? a : b).start('work', { tag }));
      await waitFor(() => g.state.active === 2, 'two running');
      await waitFor(
        () =>
          a.runs.list({ status: 'queued' }).length + b.runs.list({ status: 'queued' }).length === 4,
        'four queued',
      );
      const released = new Set<string>();
      while (released.size < tags.length) {
        await waitFor(() => g.state.releases.size > 0, 'a run in its step');
        expect(g.state.active).toBeLessThanOrEqual(2);
        const [tag] = [...g.state.releases.keys()];
        released.add(tag!);
        g.release(tag!);
      }
      for (const h of handles) await h.result();
      expect(g.state.maxActive).toBe(2);
      expect(g.state.started.sort()).toEqual([...tags].sort());
    } finally {
      await a.close();
      await b.close();
      await dropSchema(schema);
      cleanup();
    }
  });
});

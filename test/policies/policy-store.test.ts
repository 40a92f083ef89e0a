import { describe, expect, it } from 'vitest';
import { createAuditTrail } from '../../src/audit/audit-trail.js';
import { isKernelError, KernelError, ManualClock } from '../../src/index.js';
import { createPolicyStore, type PolicyVersion } from '../../src/policies/policy-store.js';
import { BACKENDS } from '../helpers/stores.js';

interface Cap {
  readonly agent: string;
  readonly costMicros: number;
}

function parseCap(spec: unknown): Cap {
  const s = spec as Partial<Cap> | null;
  if (typeof s?.agent !== 'string' || typeof s.costMicros !== 'number' || s.costMicros < 0)
    throw new KernelError('INVALID_ARGUMENT', 'a cap needs agent and costMicros >= 0');
  return { agent: s.agent, costMicros: s.costMicros };
}

async function rejects(p: Promise<unknown>, code: string): Promise<KernelError> {
  try {
    await p;
  } catch (error) {
    expect(isKernelError(error, code as never), String(error)).toBe(true);
    return error as KernelError;
  }
  throw new Error(`expected ${code}`);
}

describe.each(Object.entries(BACKENDS))('policy store on %s', (_name, backend) => {
  it('versions, validates, audits, lists, deletes and keeps history', async () => {
    const h = await backend.open();
    const clock = new ManualClock(Date.UTC(2026, 11, 4, 12));
    const audit = createAuditTrail({ log: h.storage.log, clock });
    const store = createPolicyStore({ log: h.storage.log, audit, clock });
    store.register('budget', parseCap);
    await store.start();
    const changes: PolicyVersion<unknown>[] = [];
    store.onChange((c) => changes.push(c));

    const v1 = await store.set<Cap>(
      'budget',
      'daily',
      { agent: 'r', costMicros: 5 },
      { by: 'ops' },
    );
    expect(v1).toMatchObject({ version: 1, spec: { agent: 'r', costMicros: 5 }, updatedBy: 'ops' });
    clock.advance(1000);
    const v2 = await store.set(
      'budget',
      'daily',
      { agent: 'r', costMicros: 7 },
      { reason: 'more' },
    );
    expect(v2).toMatchObject({ version: 2, updatedBy: 'library', reason: 'more' });
    expect(store.get('budget', 'daily')?.spec).toEqual({ agent: 'r', costMicros: 7 });
    expect(changes.map((c) => c.version)).toEqual([1, 2]);

    // Bad specs, names and kinds are refused before anything is stored.
    await rejects(store.set('budget', 'daily', { agent: 'r', costMicros: -1 }), 'INVALID_ARGUMENT');
    await rejects(store.set('budget', '../x', { agent: 'r', costMicros: 1 }), 'INVALID_ARGUMENT');
    await rejects(store.set('rule', 'x', {}), 'INVALID_ARGUMENT');
    await rejects(store.set('nope' as never, 'x', {}), 'INVALID_ARGUMENT');
    // A stale expected version is a conflict.
    const stale = await rejects(
      store.set('budget', 'daily', { agent: 'r', costMicros: 9 }, { expectedVersion: 1 }),
      'CONFLICT',
    );
    expect(stale.message).toContain('version 2');

    await store.set('budget', 'other', { agent: 'q', costMicros: 1 }, { expectedVersion: 0 });
    expect(store.list('budget').map((p) => p.name)).toEqual(['daily', 'other']);
    expect(store.list('rule')).toEqual([]);

    const gone = await store.delete('budget', 'daily', { by: 'ops', reason: 'done' });
    expect(gone).toMatchObject({ version: 3, spec: null });
    expect(store.get('budget', 'daily')).toBeUndefined();
    await rejects(store.delete('budget', 'daily'), 'NOT_FOUND');
    // Re-creating after a delete keeps counting versions.
    expect((await store.set('budget', 'daily', { agent: 'r', costMicros: 1 })).version).toBe(4);

    const history = await store.history('budget', 'daily');
    expect(history.map((v) => [v.version, v.spec === null])).toEqual([
      [1, false],
      [2, false],
      [3, true],
      [4, false],
    ]);
    expect(history[1]!.updatedAt).toBe(Date.UTC(2026, 11, 4, 12) + 1000);

    await audit.flush();
    const entries = await audit.entries({});
    const changed = entries.filter((e) => e.resource === 'policy/budget/daily');
    expect(changed).toHaveLength(4);
    expect(changed[0]!.actor).toBe('ops');
    expect(changed[2]!.metadata).toMatchObject({ version: 3, change: 'delete', reason: 'done' });
    expect((await audit.verify()).ok).toBe(true);

    await store.close();
    audit.close();
    await h.close();
  });

  it('a second store on the same log sees the policies, and two writers of one version conflict', async () => {
    const h = await backend.open();
    const a = createPolicyStore({ log: h.storage.log, pollMs: 10 });
    const b = createPolicyStore({ log: h.storage.log, pollMs: 10 });
    for (const s of [a, b]) s.register('budget', parseCap);
    await a.start();
    await a.set('budget', 'daily', { agent: 'r', costMicros: 5 });
    await b.start();
    expect(b.get('budget', 'daily')?.version).toBe(1);

    // Two kernels write the next version at the same moment: one wins, the other is told.
    const both = await Promise.allSettled([
      a.set('budget', 'daily', { agent: 'r', costMicros: 6 }),
      b.set('budget', 'daily', { agent: 'r', costMicros: 99 }),
    ]);
    expect(both.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    const lost = (both[1] as PromiseRejectedResult).reason as unknown;
    expect(isKernelError(lost, 'CONFLICT'), String(lost)).toBe(true);
    // The loser learns the winner's version by following the log.
    await new Promise<void>((resolve) => {
      if (b.get('budget', 'daily')?.version === 2) return resolve();
      const off = b.onChange((c) => {
        if (c.version === 2) {
          off();
          resolve();
        }
      });
    });
    expect(b.get('budget', 'daily')?.spec).toEqual({ agent: 'r', costMicros: 6 });
    // What was stored is a's version, not the loser's.
    expect((await a.history('budget', 'daily')).map((v) => (v.spec as Cap).costMicros)).toEqual([
      5, 6,
    ]);
    for (const s of [a, b]) await s.close();
    await h.close();
  });

  it('a stored spec that no longer validates is ignored, not applied', async () => {
    const h = await backend.open();
    const a = createPolicyStore({ log: h.storage.log });
    a.register('budget', (s) => s as Cap);
    await a.start();
    await a.set('budget', 'loose', { agent: 'r', costMicros: -5 });
    await a.close();
    const strict = createPolicyStore({ log: h.storage.log });
    strict.register('budget', parseCap);
    await strict.start();
    expect(strict.get('budget', 'loose')).toBeUndefined();
    await strict.close();
    await h.close();
  });
});

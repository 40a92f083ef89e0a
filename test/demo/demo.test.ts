/**
 * The demo at a fast pace: the flaky agent heals itself cycle after cycle (no escalation, no
 * gate from it), and every other story plays out and keeps going.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDemo } from '../../src/demo/demo-agents.js';
import { RESEARCH_AGENT } from '../../src/demo/demo-research.js';
import { createKernel, type Kernel } from '../../src/kernel.js';
import type { KernelEvent, KernelEventType } from '../../src/model/kernel-event.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from '../helpers/stores.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Resolves with the `count`-th event of `type` matching `pred` published from now on. */
function nth<T extends KernelEventType>(
  kernel: Kernel,
  type: T,
  count: number,
  pred: (e: Extract<KernelEvent, { type: T }>) => boolean = () => true,
): Promise<Extract<KernelEvent, { type: T }>> {
  return new Promise((resolve) => {
    let seen = 0;
    const off = kernel.bus.on(type, (e) => {
      const event = e as Extract<KernelEvent, { type: T }>;
      if (pred(event) && ++seen === count) {
        off();
        resolve(event);
      }
    });
  });
}

/** Resolves once the approval gate matching `pred` is pending, with it. */
async function gate(
  kernel: Kernel,
  pred: (g: { agentName: string | null; origin: string }) => boolean,
) {
  for (;;) {
    const found = kernel.approvals.list().find(pred);
    if (found !== undefined) return found;
    await nth(kernel, 'ApprovalRequested', 1);
  }
}

const output = (kernel: Kernel, name: string, text: string) =>
  nth(kernel, 'AgentOutput', 1, (e) => {
    const agent = kernel.supervisor.list().find((a) => a.id === e.agentId);
    return agent?.name === name && e.output.includes(text);
  });

describe('kerno up --demo', () => {
  it('heals the flaky agent every time and plays every other story', async () => {
    const t = tempDir('kerno-demo-');
    const kernel = await createKernel({
      store: 'memory:',
      stateDir: t.dir,
      logger: silentLogger,
      registryKey: 'demo test key',
      registryScryptCost: 1024,
      // The pace is 20× the real one; the supervisor's limits are scaled with it.
      intensity: { maxRestarts: 1000, periodMs: 1000 },
      backoff: { baseMs: 5, jitter: 0, resetMs: 100 },
    });
    cleanups.push(() => t.cleanup());
    cleanups.push(() => kernel.close());
    const agentId = (name: string) => kernel.supervisor.list().find((a) => a.name === name)?.id;
    const decisions: KernelEvent[] = [];
    kernel.bus.on('RecoveryDecided', (e) => void decisions.push(e));
    const trace = join(t.dir, 'research.log');
    const flakyHealed = nth(
      kernel,
      'RecoveryDecided',
      12,
      (e) => e.agentId === agentId('flaky-tests'),
    );
    const paymentsResumed = output(kernel, 'payments-sync', 'resumed after operator approval');
    const pricedWithGood = output(kernel, 'pricing-service', 'with rules v1.3');
    const stop = await startDemo(kernel, { pace: 0.05, researchTrace: trace });
    cleanups.push(stop);

    // The escalation: a gate a human approves, and the agent resumes.
    const escalation = await gate(
      kernel,
      (g) => g.origin === 'escalation' && g.agentName === 'payments-sync',
    );
    expect(escalation.reason).toContain('handshake timed out');
    await kernel.approvals.approve(escalation.id, { by: 'test' });
    await paymentsResumed;
    // The agent asking for approval itself.
    const deploy = await gate(kernel, (g) => g.agentName === 'release-manager');
    await kernel.approvals.approve(deploy.id, { by: 'test' });
    // The rollback: v1.4 panics, v1.3 (the known-good config) serves.
    await pricedWithGood;
    // The durable research run asks to publish; approved, it completes.
    const publish = await gate(kernel, (g) => g.agentName === RESEARCH_AGENT);
    const [research] = kernel.runs.list({ agent: RESEARCH_AGENT, status: ['running', 'waiting'] });
    await kernel.approvals.approve(publish.id, { by: 'test' });
    const done = await kernel.runs.wait(research!.id);

    // Twelve flaky failures in, each one retried; no gate, no escalation for it.
    await flakyHealed;
    const flakyId = agentId('flaky-tests');
    const flakyDecisions = decisions.filter(
      (d) => d.type === 'RecoveryDecided' && d.agentId === flakyId,
    );
    expect(flakyDecisions.map((d) => d.type === 'RecoveryDecided' && d.action)).toEqual(
      Array<string>(flakyDecisions.length).fill('retry'),
    );
    expect(kernel.approvals.list().filter((g) => g.agentName === 'flaky-tests')).toEqual([]);
    const flakyLogs = await kernel.recoveries.forAgent('flaky-tests');
    expect(flakyLogs.length).toBeGreaterThanOrEqual(10);
    expect(new Set(flakyLogs.map((l) => l.outcome))).toEqual(new Set(['recovered']));

    const pricing = await kernel.recoveries.forAgent('pricing-service');
    expect(pricing[0]).toMatchObject({ outcome: 'recovered', decisions: [{ action: 'rollback' }] });

    expect(done.status).toBe('completed');
    expect(done.result).toMatchObject({ topic: 'durable AI agents', published: true });
    // 12 steps, one of them (a flaky source) failed once and ran again after a self-healing retry
    expect(done.steps.filter((s) => s.superseded !== true)).toHaveLength(12);
    expect(done.recovery).toMatchObject([{ action: 'retry', step: 'read:vendors.example' }]);
    expect(done.resumes[0]).toMatchObject({
      by: 'self-healing',
      ran: expect.arrayContaining(['read:vendors.example']) as string[],
    });
    const llm = await kernel.ledger.query({ tenantId: 'demo', kinds: ['OutcomeRecorded'] });
    const calls = llm.filter((r) => r.envelope.correlation_id === research!.id);
    expect(calls.length).toBe(8);
    const spent = calls.reduce(
      (sum, r) => sum + (r.envelope.event.data as { tokens: number }).tokens,
      0,
    );
    expect(done.usage.tokens).toBe(spent);
    expect(done.usage.costMicrodollars).toBe(spent * 2);
    expect(kernel.runs.list({ tenant: 'demo', agent: RESEARCH_AGENT })[0]?.tenant).toBe('demo');
    expect(calls.every((r) => (r.envelope.event.data as { tokens: number }).tokens > 0)).toBe(true);
    const traced = readFileSync(trace, 'utf8').trim().split('\n');
    expect(traced.filter((l) => l.startsWith(`${research!.id} `))).toHaveLength(done.steps.length);

    // Still working, all of them: nothing has ended (the flaky one may be between two runs).
    const byName = Object.fromEntries(kernel.supervisor.list().map((a) => [a.name, a]));
    for (const name of [
      'ticker',
      'flaky-tests',
      'pricing-service',
      'payments-sync',
      'summarizer',
      'researcher-market',
      'researcher-competitors',
      'researcher-pricing',
    ]) {
      expect({ name, outcome: byName[name]?.outcome }).toEqual({ name, outcome: null });
      if (name !== 'flaky-tests') expect(byName[name]?.status).toBe('running');
    }
    expect(byName['release-manager']).toMatchObject({ status: 'stopped', outcome: 'completed' });
  }, 60_000);
});

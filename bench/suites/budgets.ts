/**
 * Budgets (issue 19): the budget check a run makes before each step — part of the admission
 * decision, whose goal is p99 ≤ 50 µs in-process with 1 000 rules. Here: 1 000 budget policies
 * (one per agent, sliding daily windows, plus per-run, per-tenant and global budgets), 20 000
 * usage events already projected from the ledger, and the time of one `budgets.check` for a run
 * of one agent in one tenant (four scope keys looked up; O(1) per applicable budget).
 *
 * Standalone: `npx tsx bench/suites/budgets.ts` (knob: `KERNO_BENCH_BUDGET_CHECKS`, default
 * 200 000).
 */
import { pathToFileURL } from 'node:url';
import { createKernel } from '../../src/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { percentile, type BenchRow, type BenchSuite } from '../harness.js';

const GROUP = 'budgets';
const POLICIES = 1_000;
const EVENTS = 20_000;
const CHECKS = Number(process.env['KERNO_BENCH_BUDGET_CHECKS'] ?? 200_000);

export const budgetsSuite: BenchSuite = {
  name: 'budgets',
  async run(): Promise<BenchRow[]> {
    const clock = new ManualClock(Date.UTC(2026, 11, 4));
    const kernel = await createKernel({
      store: 'memory:',
      agents: false,
      clock,
      logger: silentLogger,
    });
    try {
      const set = (name: string, spec: object): Promise<unknown> =>
        kernel.policies.set('budget', name, spec);
      for (let i = 0; i < POLICIES - 3; i++) {
        await set(`agent-${i}-daily`, {
          agent: `agent-${i}`,
          costMicros: 1_000_000_000_000,
          tokens: 1_000_000_000_000,
          windowMs: 86_400_000,
        });
      }
      await set('per-run', { costMicros: 1_000_000_000_000, perRun: true });
      await set('tenant-t1', { tenant: 't1', calls: 1_000_000_000, windowMs: 3_600_000 });
      await set('global', { costMicros: 1_000_000_000_000, windowMs: 86_400_000 });
      for (let i = 0; i < EVENTS; i++) {
        await kernel.budgets.report(
          { agent: `agent-${i % 100}`, tenant: `t${i % 3}`, runId: `run-${i % 500}` },
          { tokens: 100 + (i % 50), costMicros: 2_000 + i },
        );
        if (i % 1000 === 0) clock.advance(60_000);
      }
      await kernel.budgets.settled();
      const subject = { agent: 'agent-7', tenant: 't1', runId: 'run-7' };
      // agent-7-daily (2 limits), per-run, tenant-t1 and global apply to this subject
      const applicable = 4;
      for (let i = 0; i < 10_000; i++) kernel.budgets.check(subject); // warm up
      const samples = new Float64Array(CHECKS);
      let breaches = 0;
      for (let i = 0; i < CHECKS; i++) {
        if (i % 10_000 === 0) clock.advance(1_000); // windows slide while checking
        const t0 = performance.now();
        if (kernel.budgets.check(subject) !== null) breaches++;
        samples[i] = performance.now() - t0;
      }
      if (breaches !== 0) throw new Error(`budgets: ${breaches} unexpected breaches`);
      const us = [...samples].map((ms) => ms * 1000);
      return [
        {
          group: GROUP,
          name: `budget check p99 (${POLICIES} budget policies, ${applicable} apply)`,
          value: percentile(us, 99),
          unit: 'µs',
          lowerIsBetter: true,
          goal: { kind: 'max', value: 50 },
          note: `p50 ${percentile(us, 50).toFixed(2)} µs over ${CHECKS} checks; ${EVENTS} usage events projected`,
        },
      ];
    } finally {
      await kernel.close();
    }
  },
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const row of await budgetsSuite.run()) console.log(JSON.stringify(row));
}

import { fileURLToPath } from 'node:url';
import { createPolicyStore } from '../../src/policies/policy-store.js';
import {
  compileSchedule,
  createScheduler,
  parseScheduleSpec,
} from '../../src/policies/schedules.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';
import { ManualClock } from '../../src/util/clock.js';
import type { BenchRow, BenchSuite } from '../harness.js';

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Sydney'];

/** 10 000 schedule specs: half cron in five zones, half intervals. */
function specs(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) =>
    i % 2 === 0
      ? { agent: 'report', cron: `${i % 60} ${i % 24} * * *`, timeZone: ZONES[i % ZONES.length] }
      : { agent: 'report', everyMs: 60_000 * (1 + (i % 90)) },
  );
}

function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

/**
 * Issue 19 item 7: scheduling 10 000 schedules costs one timer. Rows: the time to compute the
 * next due time of all 10 000 (what a kernel does at open), the heap per loaded schedule (policy
 * version, compiled schedule, heap entry), and the timers held.
 * `KERNO_BENCH_SCHEDULES` sizes it (default 10 000).
 */
export const schedulingSuite: BenchSuite = {
  name: 'scheduling',
  async run(): Promise<BenchRow[]> {
    const N = Number(process.env['KERNO_BENCH_SCHEDULES'] ?? 10_000);
    const all = specs(N).map((s) => compileSchedule(parseScheduleSpec(s)));
    const now = Date.UTC(2026, 11, 4, 12);
    // Warm the time-zone formatters and the JIT.
    for (const c of all.slice(0, 200)) c.next(now);
    const rounds = 5;
    let best = Infinity;
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      let sink = 0;
      for (const c of all) sink += c.next(now + r * 1000) ?? 0;
      best = Math.min(best, performance.now() - t);
      if (sink === 0) throw new Error('no due times');
    }

    const clock = new ManualClock(now);
    const log = createMemoryLog();
    const policies = createPolicyStore({ log, clock });
    policies.register('schedule', parseScheduleSpec);
    await policies.start();
    const scheduler = createScheduler({
      policies,
      log,
      clock,
      runs: { start: (_a, _i, { id }) => Promise.resolve({ id }), definitions: () => ['report'] },
    });
    await scheduler.start();
    const before = heapUsed();
    const list = specs(N);
    for (let i = 0; i < N; i += 500) {
      await Promise.all(
        list.slice(i, i + 500).map((s, j) => policies.set('schedule', `s${i + j}`, s)),
      );
    }
    const after = heapUsed();
    const timers = scheduler.timers;
    await scheduler.close();
    await policies.close();
    return [
      {
        group: 'schedules (issue 19)',
        name: `next due time of ${N} schedules (cron in 5 zones + intervals)`,
        value: best,
        unit: 'ms',
        lowerIsBetter: true,
      },
      {
        group: 'schedules (issue 19)',
        name: 'heap per loaded schedule (policy + compiled + heap entry, memory log)',
        value: Math.round((after - before) / N),
        unit: 'bytes',
        lowerIsBetter: true,
        note: (globalThis as { gc?: unknown }).gc === undefined ? 'without --expose-gc' : undefined,
      },
      {
        group: 'schedules (issue 19)',
        name: `timers held for ${N} schedules`,
        value: timers,
        unit: 'timers',
        goal: { kind: 'max', value: 1 },
        lowerIsBetter: true,
      },
    ];
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const row of await schedulingSuite.run()) console.log(row.name, row.value, row.unit);
}

/**
 * Issue 19 item 7: an admission decision by the approval rules with 1,000 rules, p99 against the
 * 50 µs goal — through `kernel.rules.evaluate` on the policy store, so what is measured is what
 * `ctx.authorize` pays before it journals the decision. The peer is the same rules checked one
 * by one in precedence order (no index), measured in the same run.
 *
 * Standalone: `npx tsx bench/suites/rules.ts` (`KERNO_BENCH_RULES_DECISIONS` sizes it).
 */
import { pathToFileURL } from 'node:url';
import { createPolicyStore } from '../../src/policies/policy-store.js';
import {
  createApprovalRules,
  parseRuleSpec,
  type AuthorizeRequest,
  type RuleSpec,
} from '../../src/policies/rules.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';
import { percentile, renderTable, type BenchRow, type BenchSuite } from '../harness.js';

const GROUP = 'issue 19: approval rules';
const RULES = 1000;

/** 1,000 rules of every shape: exact actions, globs, allow-lists, tools, resources, tenants. */
function ruleSet(): Record<string, RuleSpec> {
  const rules: Record<string, RuleSpec> = {};
  const effects = ['allow', 'deny', 'ask'] as const;
  for (let i = 0; i < RULES; i++) {
    const effect = effects[i % 3]!;
    const shape = i % 5;
    const match =
      shape === 0
        ? { action: `action-${i}`, tool: `tool-${i % 40}` }
        : shape === 1
          ? { action: `ns-${i % 50}.*`, resource: `res-${i % 30}/*` }
          : shape === 2
            ? { action: [`action-${i}`, `action-${i + 1}`, `alt-${i}`], agent: `agent-${i % 20}` }
            : shape === 3
              ? { tool: [`tool-${i % 40}`, `tool-${(i + 7) % 40}`], tenant: `tenant-${i % 10}` }
              : { action: `action-${i}`, resource: `res-${i % 30}/item-*` };
    rules[`rule-${String(i).padStart(4, '0')}`] = {
      effect,
      priority: i % 7,
      match,
      ...(effect === 'ask' ? { approval: { approvers: 1 + (i % 2) } } : {}),
    };
  }
  return rules;
}

/** Requests that hit exact rules, glob rules, allow-lists, and nothing (the default). */
function requests(n: number): AuthorizeRequest[] {
  const out: AuthorizeRequest[] = [];
  for (let i = 0; i < n; i++) {
    const k = (i * 7919) % RULES;
    const kind = i % 4;
    out.push(
      kind === 0
        ? { action: `action-${k}`, tool: `tool-${k % 40}`, agent: `agent-${k % 20}` }
        : kind === 1
          ? { action: `ns-${k % 50}.call`, resource: `res-${k % 30}/x`, tenant: `tenant-${k % 10}` }
          : kind === 2
            ? { action: `alt-${k}`, agent: `agent-${k % 20}`, tool: `tool-${k % 40}` }
            : { action: `unmatched-${k}`, tool: 'none', resource: 'none' },
    );
  }
  return out;
}

/** The peer: every rule checked in precedence order until one matches (no index). */
function linearScan(rules: Record<string, RuleSpec>): (q: AuthorizeRequest) => string | null {
  const rank = { deny: 0, ask: 1, allow: 2 } as const;
  const glob = (p: string): RegExp =>
    new RegExp(
      `^${p
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
  const field = (p: string | readonly string[] | undefined): ((v?: string | null) => boolean) => {
    if (p === undefined) return () => true;
    const res = (typeof p === 'string' ? [p] : p).map(glob);
    return (v) => v != null && res.some((r) => r.test(v));
  };
  const compiled = Object.entries(rules)
    .sort(
      ([an, a], [bn, b]) =>
        (b.priority ?? 0) - (a.priority ?? 0) ||
        rank[a.effect] - rank[b.effect] ||
        (an < bn ? -1 : 1),
    )
    .map(([name, r]) => {
      const m = r.match ?? {};
      const fs = [
        field(m.action),
        field(m.tool),
        field(m.resource),
        field(m.agent),
        field(m.tenant),
      ];
      return { name, fs };
    });
  return (q) => {
    const vals = [q.action, q.tool, q.resource, q.agent, q.tenant];
    for (const r of compiled) if (r.fs.every((f, i) => f(vals[i]))) return r.name;
    return null;
  };
}

function latencies(n: number, reqs: AuthorizeRequest[], fn: (q: AuthorizeRequest) => unknown) {
  const samples: number[] = [];
  for (let i = 0; i < Math.min(2000, n); i++) fn(reqs[i % reqs.length]!); // warm up
  for (let i = 0; i < n; i++) {
    const q = reqs[i % reqs.length]!;
    const t0 = performance.now();
    fn(q);
    samples.push((performance.now() - t0) * 1000);
  }
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

export const rulesSuite: BenchSuite = {
  name: 'rules',
  async run(): Promise<BenchRow[]> {
    const n = Number(process.env['KERNO_BENCH_RULES_DECISIONS'] ?? 200_000);
    const log = createMemoryLog();
    const policies = createPolicyStore({ log });
    const rules = createApprovalRules({ policies });
    await policies.start();
    const specs = ruleSet();
    for (const [name, spec] of Object.entries(specs)) await policies.set('rule', name, spec);
    if (rules.list().length !== RULES) throw new Error('rules were not all stored');
    const reqs = requests(4096);
    // the index and the scan must agree before their speeds are compared
    const scan = linearScan(
      Object.fromEntries(Object.entries(specs).map(([k, v]) => [k, parseRuleSpec(v)])),
    );
    for (const q of reqs) {
      if (rules.evaluate(q).rule !== scan(q))
        throw new Error(`index and scan disagree on ${q.action}`);
    }
    const kerno = latencies(n, reqs, (q) => rules.evaluate(q));
    const peer = latencies(Math.min(n, 50_000), reqs, scan);
    await policies.close();
    return [
      {
        group: GROUP,
        name: `kerno rules.evaluate, ${RULES} rules: p99 admission decision`,
        value: kerno.p99,
        unit: 'µs',
        lowerIsBetter: true,
        peer: { name: 'linear scan, no index', value: peer.p99 },
        goal: { kind: 'max', value: 50 },
        note: `p50 ${kerno.p50.toFixed(2)} µs over ${n} decisions (peer p50 ${peer.p50.toFixed(2)} µs)`,
      },
    ];
  },
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(renderTable(await rulesSuite.run()));
}

/**
 * `kerno budgets [ls]` (use vs limit per budget; `--agent`, `--tenant`, `--run`, `--json`) and
 * `kerno budgets raise|stop <gate>`: decide a budget gate (raise the limit, optionally to a new
 * value, and the run resumes; or stop the run). Against the daemon, or a store with `--store`.
 * The budget policies themselves are set with `kerno policies set budget <name> …`.
 *
 * @module
 */
import type { Command } from 'commander';
import type { ApprovalSnapshot } from '../../approvals/approval-gate.js';
import { KernelError } from '../../errors.js';
import { formatMicros, type BudgetUsage } from '../../policies/budgets.js';
import { STORE_OPTION, localPrincipal, opts, print, viaStoreOrDaemon } from '../common.js';
import type { CliContext } from '../output.js';

function shown(row: BudgetUsage, v: number): string {
  return row.resource === 'costMicros' ? formatMicros(v) : v.toLocaleString('en-US');
}

function period(row: BudgetUsage): string {
  if (row.period === 'run') return row.run === undefined ? 'per run' : `run ${row.run}`;
  const ms = row.windowMs ?? 0;
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d window`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h window`;
  return `${Math.round(ms / 1000)}s window`;
}

/** A whole number ≥ 0 from an option, or a dollar amount (`10`, `10.50`, `$10`) in micro-dollars. */
function parseAmount(text: string, what: string, dollars: boolean): number {
  const t = dollars ? text.replace(/^\$/, '') : text;
  const ok = dollars ? /^\d+(\.\d{1,6})?$/.test(t) : /^\d+$/.test(t);
  const n = dollars ? Math.round(Number(t) * 1_000_000) : Number(t);
  if (!ok || !Number.isSafeInteger(n)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      dollars
        ? `${what} is an amount in dollars, e.g. 10 or 7.50, got ${JSON.stringify(text)}`
        : `${what} is a whole number ≥ 0, got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** Registers the `budgets` commands. */
export function registerBudgetCommands(program: Command, ctx: CliContext): void {
  const budgets = program
    .command('budgets')
    .description('budget use vs limit per agent, tenant or in all; raise or stop at a budget gate');
  budgets
    .command('ls', { isDefault: true })
    .description('use vs limit of every budget (one row per limit and period)')
    .option('--agent <name>', 'only budgets that apply to this agent')
    .option('--tenant <id>', 'only this tenant’s budgets')
    .option('--run <id>', 'per-run budgets: this run’s usage (default: the run that spent most)')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ agent?: string; tenant?: string; run?: string; store?: string }>(cmd);
      const query = {
        ...(o.agent === undefined ? {} : { agent: o.agent }),
        ...(o.tenant === undefined ? {} : { tenant: o.tenant }),
        ...(o.run === undefined ? {} : { run: o.run }),
      };
      const rows = await viaStoreOrDaemon(
        o,
        async (k) => {
          await k.budgets.settled();
          return k.budgets.usage(query);
        },
        async (d) =>
          (
            await d.json<{ budgets: BudgetUsage[] }>(
              'GET',
              `/api/budgets?${new URLSearchParams(query).toString()}`,
            )
          ).budgets,
      );
      print(ctx, o, rows, () =>
        rows.length === 0
          ? 'no budgets (set one: kerno policies set budget <name> --json \'{"agent":"research","costMicros":5000000,"windowMs":86400000}\')\n'
          : {
              headers: ['budget', 'scope', 'period', 'used', 'limit', '%'],
              rows: rows.map((r) => [
                r.budget,
                r.scope,
                period(r),
                `${shown(r, r.used)}${r.resource === 'costMicros' ? '' : ` ${r.resource}`}`,
                shown(r, r.limit),
                `${r.percent.toFixed(1)}%${r.breached ? ' (reached)' : ''}`,
              ]),
            },
      );
    });

  for (const verb of ['raise', 'stop'] as const) {
    const c = budgets
      .command(`${verb} <gate>`)
      .description(
        verb === 'raise'
          ? 'approve a budget gate: raise the limit (default: × the budget’s raise factor) and resume the run'
          : 'reject a budget gate: the run stops (budget exceeded)',
      )
      .option('--reason <text>', 'why (kept with the decision and the policy version)')
      .option(...STORE_OPTION)
      .option('--json', 'print JSON');
    if (verb === 'raise') {
      c.option('--cost <dollars>', 'the new cost limit in dollars, e.g. 10 or 7.50')
        .option('--tokens <n>', 'the new token limit')
        .option('--calls <n>', 'the new call limit');
    }
    c.action(async (gate: string, _o: unknown, cmd: Command) => {
      const o = opts<{
        reason?: string;
        cost?: string;
        tokens?: string;
        calls?: string;
        store?: string;
      }>(cmd);
      const limits = {
        ...(o.cost === undefined ? {} : { costMicros: parseAmount(o.cost, '--cost', true) }),
        ...(o.tokens === undefined ? {} : { tokens: parseAmount(o.tokens, '--tokens', false) }),
        ...(o.calls === undefined ? {} : { calls: parseAmount(o.calls, '--calls', false) }),
      };
      const body = {
        approve: verb === 'raise',
        ...(Object.keys(limits).length === 0 ? {} : { limits }),
        ...(o.reason === undefined ? {} : { reason: o.reason }),
      };
      const g = await viaStoreOrDaemon(
        o,
        (k) => k.budgets.decide(gate, { ...body, by: localPrincipal() }),
        (d) =>
          d.json<ApprovalSnapshot>('POST', `/api/budgets/gates/${encodeURIComponent(gate)}`, body),
      );
      print(
        ctx,
        o,
        g,
        () =>
          `${g.status === 'approved' ? 'raised' : g.status === 'rejected' ? 'stopped' : g.status}: ${g.request.summary}\n`,
      );
    });
  }
}

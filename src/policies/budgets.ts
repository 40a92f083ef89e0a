/**
 * Budgets: policies of kind `budget` that cap what agents spend — tokens, cost (micro-dollars)
 * and calls — per agent, per tenant or globally, over a sliding window and/or per run.
 *
 * Usage is never counted a second time: it is a projection of the ledger. Every
 * `OutcomeRecorded` experience event (its `tokens` and `cost_microdollars`; one call each) feeds
 * it, whoever appended it — `ctx.reportUsage` in a durable run, a process agent's `usage`
 * message, an import, another kernel sharing the store. The projection replays the ledger when it
 * starts (so usage survives a restart) and then follows it (so kernels on one PostgreSQL store
 * see the same usage).
 *
 * A window sum is a ring of {@link WINDOW_BUCKETS} buckets per (scope, window): adding usage and
 * reading the sum cost O(1) amortised (a bucket that slides out is subtracted once), and usage
 * ages out in steps of `windowMs / 64`. A check looks up the budgets of four scope keys (global,
 * the agent, the tenant, agent-in-tenant) and compares each one's sums: O(1) per applicable
 * budget, whatever the number of other budgets.
 *
 * On a breach a durable run pauses before its next step and an approval gate asks to raise the
 * budget or stop (`runs/run-context.ts` records the wait on the run's journal); approving raises
 * the limit (a new policy version, audited) and the run resumes; rejecting cancels it with
 * `budget exceeded`.
 *
 * @example
 * await kernel.policies.set('budget', 'research-daily', {
 *   agent: 'research', costMicros: 5_000_000, windowMs: 86_400_000,
 * });
 * kernel.budgets.usage({ agent: 'research' }); // [{ budget: 'research-daily', used: 1_250_000, limit: 5_000_000, percent: 25, … }]
 *
 * @module
 */
import * as z from 'zod';
import type { ApprovalGate, ApprovalSnapshot } from '../approvals/approval-gate.js';
import { KernelError, errorMessage, isKernelError } from '../errors.js';
import type { Ledger, LedgerRecord } from '../ledger/ledger.js';
import type { Clock } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import type { PolicyStore } from './policy-store.js';
import type { RunBudgetHost } from '../runs/run-context.js';

/** Buckets per sliding window: usage ages out in steps of `windowMs / 64`. */
export const WINDOW_BUCKETS = 64;

/** What a budget limits. */
export type BudgetResource = 'tokens' | 'costMicros' | 'calls';

/** Every budget resource. */
export const BUDGET_RESOURCES: readonly BudgetResource[] = ['tokens', 'costMicros', 'calls'];

/** A budget policy (`kernel.policies.set('budget', name, spec)`). */
export interface BudgetSpec {
  /** Only this agent's usage (default: every agent). */
  readonly agent?: string;
  /** Only this tenant's usage (default: every tenant). */
  readonly tenant?: string;
  /** Tokens allowed. */
  readonly tokens?: number;
  /** Cost allowed, in micro-dollars (5 000 000 = $5.00). */
  readonly costMicros?: number;
  /** Model calls allowed (one per usage report). */
  readonly calls?: number;
  /** The limits hold over a sliding window this long (86 400 000: a day). */
  readonly windowMs?: number;
  /** The limits hold for each run. */
  readonly perRun?: boolean;
  /** On a breach: pause the run and ask to raise the budget (default), or stop the run. */
  readonly onBreach?: 'ask' | 'stop';
  /** An approved raise without a new limit multiplies the breached limit by this (default 1.5). */
  readonly raiseFactor?: number;
  /** How long the raise-or-stop question waits before it stops the run (default 7 days). */
  readonly askTimeoutMs?: number;
}

const DEFAULT_RAISE_FACTOR = 1.5;
const DEFAULT_ASK_TIMEOUT_MS = 7 * 86_400_000;

const limit = (what: string): z.ZodOptional<z.ZodNumber> =>
  z
    .number({ error: `${what} is a whole number ≥ 0` })
    .int(`${what} is a whole number ≥ 0`)
    .min(0, `${what} is a whole number ≥ 0`)
    .max(Number.MAX_SAFE_INTEGER)
    .optional();

const scopeName = z
  .string({ error: 'is a name (1–128 characters)' })
  .min(1, 'is a name (1–128 characters)')
  .max(128, 'is a name (1–128 characters)')
  // eslint-disable-next-line no-control-regex -- the point: refuse control characters
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'holds no control characters');

const budgetSchema = z.strictObject({
  agent: scopeName.optional(),
  tenant: scopeName.optional(),
  tokens: limit('tokens'),
  costMicros: limit('costMicros (micro-dollars: 5000000 is $5.00)'),
  calls: limit('calls'),
  windowMs: z
    .number({ error: 'windowMs is a duration in ms ≥ 1000, e.g. 86400000 for a day' })
    .int('windowMs is a duration in ms ≥ 1000, e.g. 86400000 for a day')
    .min(1000, 'windowMs is a duration in ms ≥ 1000, e.g. 86400000 for a day')
    .max(366 * 86_400_000, 'windowMs is at most a year')
    .optional(),
  perRun: z.boolean({ error: 'perRun is true or false' }).optional(),
  onBreach: z.enum(['ask', 'stop'], { error: 'onBreach is "ask" or "stop"' }).optional(),
  raiseFactor: z
    .number({ error: 'raiseFactor is a number > 1, e.g. 1.5' })
    .gt(1, 'raiseFactor is a number > 1, e.g. 1.5')
    .max(1000)
    .optional(),
  askTimeoutMs: z
    .number({ error: 'askTimeoutMs is a duration in ms ≥ 1000' })
    .int()
    .min(1000, 'askTimeoutMs is a duration in ms ≥ 1000')
    .optional(),
});

/** Checks a budget spec given by a user; throws `INVALID_ARGUMENT` saying what to write. */
export function parseBudget(spec: unknown): BudgetSpec {
  const parsed = budgetSchema.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length === 0 ? 'A budget' : `Budget field ${issue.path.join('.')}`;
    throw new KernelError(
      'INVALID_ARGUMENT',
      issue.code === 'unrecognized_keys'
        ? `A budget has no field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}; its fields are agent, tenant, tokens, costMicros, calls, windowMs, perRun, onBreach, raiseFactor, askTimeoutMs`
        : `${where}: ${issue.message}`,
    );
  }
  const b = parsed.data;
  if (b.tokens === undefined && b.costMicros === undefined && b.calls === undefined) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      'A budget needs at least one limit: tokens, costMicros (micro-dollars) or calls, e.g. { "agent": "research", "costMicros": 5000000, "windowMs": 86400000 }',
    );
  }
  if (b.windowMs === undefined && b.perRun !== true) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      'A budget needs a period: "windowMs": 86400000 for a sliding day, and/or "perRun": true for each run',
    );
  }
  return b as BudgetSpec;
}

/** Usage sums. */
export interface UsageTotals {
  tokens: number;
  costMicros: number;
  calls: number;
}

/** Usage as an agent reports it (`ctx.reportUsage`). */
export interface UsageReport {
  readonly tokens?: number | undefined;
  readonly costMicros?: number | undefined;
  /** The model (or provider/model) the usage was for. */
  readonly model?: string | undefined;
}

/** Checks a usage report; throws `INVALID_ARGUMENT`. */
export function parseUsageReport(value: unknown): UsageReport {
  if (typeof value !== 'object' || value === null) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      'reportUsage needs { tokens?, costMicros?, model? }, e.g. { tokens: 1200, costMicros: 3400, model: "gpt-4o" }',
    );
  }
  const { tokens, costMicros, model } = value as Record<string, unknown>;
  for (const [name, v] of [
    ['tokens', tokens],
    ['costMicros', costMicros],
  ] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || (v as number) < 0)) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `reportUsage: ${name} is a whole number ≥ 0 (costMicros in micro-dollars: 1000000 is $1.00), got ${JSON.stringify(v)}`,
      );
    }
  }
  if (model !== undefined && (typeof model !== 'string' || model.length > 200)) {
    throw new KernelError('INVALID_ARGUMENT', 'reportUsage: model is a string of ≤ 200 characters');
  }
  return {
    ...(tokens === undefined ? {} : { tokens: tokens as number }),
    ...(costMicros === undefined ? {} : { costMicros: costMicros as number }),
    ...(model === undefined ? {} : { model }),
  };
}

/** Who spends: the run (if any), its agent and tenant. */
export interface BudgetSubject {
  readonly runId?: string | undefined;
  readonly agent: string;
  readonly tenant?: string | null | undefined;
}

/** One budget limit as {@link Budgets.usage} shows it. */
export interface BudgetUsage {
  readonly budget: string;
  readonly version: number;
  /** `global`, `agent research`, `tenant acme`, `agent research in tenant acme`. */
  readonly scope: string;
  readonly agent: string | null;
  readonly tenant: string | null;
  /** `window` (sliding, `windowMs`) or `run` (the run that spent most). */
  readonly period: 'window' | 'run';
  readonly windowMs: number | null;
  readonly resource: BudgetResource;
  readonly used: number;
  readonly limit: number;
  /** `used / limit` in percent (rounded to 0.1). */
  readonly percent: number;
  readonly breached: boolean;
  /** For `run` rows: the run that spent most (or the run asked about). */
  readonly run?: string;
}

/** A budget a spender has reached. */
export interface BudgetBreach {
  readonly budget: string;
  readonly version: number;
  readonly resource: BudgetResource;
  readonly period: 'window' | 'run';
  readonly used: number;
  readonly limit: number;
  readonly onBreach: 'ask' | 'stop';
  /** In plain words: "research spent $5.02 of its $5.00 daily budget". */
  readonly reason: string;
}

/** Options for {@link createBudgets}. */
export interface BudgetsOptions {
  readonly ledger: Ledger;
  readonly policies: PolicyStore;
  readonly approvals?: ApprovalGate | undefined;
  readonly clock: Clock;
  readonly logger?: Logger | undefined;
  /** Runs remembered for per-run budgets (default 100 000; the oldest are forgotten first). */
  readonly maxRuns?: number | undefined;
}

/** The decision on a budget gate ({@link Budgets.decide}). */
export interface BudgetDecisionInput {
  readonly approve: boolean;
  /** With `approve`: the new limits (default: the breached limit × the budget's raise factor). */
  readonly limits?: Partial<Record<BudgetResource, number>> | undefined;
  readonly by?: string | undefined;
  readonly reason?: string | undefined;
}

/** The `action` of a budget gate. */
export const BUDGET_GATE_ACTION = 'budget.raise';

/** A ring of buckets: the sums of one (scope, window). */
class WindowSum {
  readonly #width: number;
  readonly #tokens = new Float64Array(WINDOW_BUCKETS);
  readonly #cost = new Float64Array(WINDOW_BUCKETS);
  readonly #calls = new Float64Array(WINDOW_BUCKETS);
  #head = -Infinity;
  readonly totals: UsageTotals = { tokens: 0, costMicros: 0, calls: 0 };

  constructor(readonly windowMs: number) {
    this.#width = Math.max(1, Math.ceil(windowMs / WINDOW_BUCKETS));
  }

  /** Slides the window so its newest bucket is the one of `atMs`. */
  #advance(bucket: number): void {
    if (bucket <= this.#head) return;
    if (bucket - this.#head >= WINDOW_BUCKETS) {
      this.#tokens.fill(0);
      this.#cost.fill(0);
      this.#calls.fill(0);
      this.totals.tokens = 0;
      this.totals.costMicros = 0;
      this.totals.calls = 0;
    } else {
      for (let b = this.#head + 1; b <= bucket; b++) {
        const i = b % WINDOW_BUCKETS;
        this.totals.tokens -= this.#tokens[i]!;
        this.totals.costMicros -= this.#cost[i]!;
        this.totals.calls -= this.#calls[i]!;
        this.#tokens[i] = 0;
        this.#cost[i] = 0;
        this.#calls[i] = 0;
      }
    }
    this.#head = bucket;
  }

  add(atMs: number, tokens: number, cost: number, calls: number, nowMs: number): void {
    const bucket = Math.floor(atMs / this.#width);
    this.#advance(Math.floor(nowMs / this.#width));
    // Aged out already, or stamped in the future (the ledger bounds how far): the newest bucket.
    if (bucket <= this.#head - WINDOW_BUCKETS) return;
    const i = Math.min(bucket, this.#head) % WINDOW_BUCKETS;
    this.#tokens[i] = this.#tokens[i]! + tokens;
    this.#cost[i] = this.#cost[i]! + cost;
    this.#calls[i] = this.#calls[i]! + calls;
    this.totals.tokens += tokens;
    this.totals.costMicros += cost;
    this.totals.calls += calls;
  }

  at(nowMs: number): UsageTotals {
    this.#advance(Math.floor(nowMs / this.#width));
    return this.totals;
  }
}

interface RunUsage extends UsageTotals {
  readonly run: string;
  readonly agent: string | null;
  readonly tenant: string | null;
}

interface ActiveBudget {
  readonly name: string;
  readonly version: number;
  readonly spec: BudgetSpec;
  readonly scopeKey: string;
  readonly window: WindowSum | undefined;
}

/** One usage event read from the ledger. */
interface UsageEvent {
  readonly position: number;
  readonly atMs: number;
  readonly agent: string | null;
  readonly tenant: string | null;
  readonly run: string | null;
  readonly tokens: number;
  readonly cost: number;
}

function scopeKeyOf(agent: string | null | undefined, tenant: string | null | undefined): string {
  if (agent != null && tenant != null) return `at:${agent}\u0000${tenant}`;
  if (agent != null) return `a:${agent}`;
  if (tenant != null) return `t:${tenant}`;
  return 'g';
}

function scopeLabel(spec: BudgetSpec): string {
  if (spec.agent !== undefined && spec.tenant !== undefined)
    return `agent ${spec.agent} in tenant ${spec.tenant}`;
  if (spec.agent !== undefined) return `agent ${spec.agent}`;
  if (spec.tenant !== undefined) return `tenant ${spec.tenant}`;
  return 'global';
}

/** `$5.02` for 5 020 000 micro-dollars. */
export function formatMicros(micros: number): string {
  const dollars = micros / 1_000_000;
  if (dollars >= 100) return `$${dollars.toFixed(0)}`;
  // Below a dime, four places: $0.0152 of $0.0150 says more than $0.02 of $0.02.
  if (dollars < 0.1 && dollars !== 0) return `$${dollars.toFixed(4)}`;
  return `$${dollars.toFixed(2)}`;
}

function periodWords(period: 'window' | 'run', windowMs: number | undefined): string {
  if (period === 'run') return 'per-run';
  const named: Record<number, string> = {
    3_600_000: 'hourly',
    86_400_000: 'daily',
    604_800_000: 'weekly',
    2_592_000_000: '30-day',
  };
  const ms = windowMs ?? 0;
  if (named[ms] !== undefined) return named[ms];
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}-day`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}-hour`;
  if (ms % 60_000 === 0) return `${ms / 60_000}-minute`;
  return `${ms / 1000}-second`;
}

function breachReason(
  spec: BudgetSpec,
  resource: BudgetResource,
  period: 'window' | 'run',
  used: number,
  max: number,
): string {
  const who =
    spec.agent ?? (spec.tenant !== undefined ? `tenant ${spec.tenant}` : 'all agents together');
  const its = spec.agent === undefined && spec.tenant === undefined ? 'the' : 'its';
  const what = periodWords(period, spec.windowMs);
  const n = (v: number): string => v.toLocaleString('en-US');
  if (resource === 'costMicros')
    return `${who} spent ${formatMicros(used)} of ${its} ${formatMicros(max)} ${what} budget`;
  if (resource === 'tokens') return `${who} used ${n(used)} of ${its} ${n(max)} ${what} tokens`;
  return `${who} made ${n(used)} of ${its} ${n(max)} ${what} model calls`;
}

/** Creates the budget engine (call {@link Budgets.start} before use). */
export function createBudgets(options: BudgetsOptions): Budgets {
  return new Budgets(options);
}

/** The budget engine: the usage projection, the checks, and the raise-or-stop decisions. */
export class Budgets {
  readonly #ledger: Ledger;
  readonly #policies: PolicyStore;
  readonly #approvals: ApprovalGate | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxRuns: number;
  /** scope key → the budgets of that scope. */
  #byScope = new Map<string, ActiveBudget[]>();
  /** `scopeKey|windowMs` → its sums (shared by budgets of one scope and window; kept across raises). */
  readonly #windows = new Map<string, WindowSum>();
  /** {@link runKey}(tenant, run) → its usage: an event counts toward a run of its own tenant only. */
  readonly #runs = new Map<string, RunUsage>();
  /** Positions fed directly at append, which the follow then skips. */
  readonly #fed = new Set<number>();
  /** The highest ledger position the follow has delivered. */
  #position = 0;
  #backfills = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  #started: Promise<void> | undefined;
  #follower: Promise<void> | undefined;
  #detach: (() => void) | undefined;

  constructor(options: BudgetsOptions) {
    this.#ledger = options.ledger;
    this.#policies = options.policies;
    this.#approvals = options.approvals;
    this.#clock = options.clock;
    this.#logger = options.logger ?? silentLogger;
    this.#maxRuns = options.maxRuns ?? 100_000;
  }

  /** Replays the ledger's usage, then follows it. Idempotent. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      await this.#policies.start();
      this.#detach = this.#policies.onChange((change) => {
        if (change.kind === 'budget') this.#reindex();
      });
      this.#reindex(false);
      const follow = this.#ledger.subscribe({
        signal: this.#stop.signal,
        filter: { kinds: ['OutcomeRecorded'] },
      });
      this.#follower = (async () => {
        try {
          for await (const record of follow) {
            if (record.position > this.#position) this.#position = record.position;
            if (this.#fed.delete(record.position)) continue;
            const event = usageEvent(record, this.#clock.now());
            if (event !== undefined) this.#ingest(event);
          }
        } catch (error) {
          if (!this.#stop.signal.aborted) {
            this.#logger.error('The budget projection stopped following the ledger', {
              error: errorMessage(error),
            });
          }
        }
      })();
      await follow.caughtUp;
    })();
    return this.#started;
  }

  /** Rebuilds the scope index from the current budget policies; new windows are backfilled. */
  #reindex(backfill = true): void {
    const byScope = new Map<string, ActiveBudget[]>();
    const used = new Set<string>();
    for (const p of this.#policies.list<BudgetSpec>('budget')) {
      const spec = p.spec as BudgetSpec;
      const scopeKey = scopeKeyOf(spec.agent, spec.tenant);
      let window: WindowSum | undefined;
      if (spec.windowMs !== undefined) {
        const id = `${scopeKey}|${spec.windowMs}`;
        used.add(id);
        window = this.#windows.get(id);
        if (window === undefined) {
          window = new WindowSum(spec.windowMs);
          this.#windows.set(id, window);
          if (backfill) this.#backfill(window, spec);
        }
      }
      const list = byScope.get(scopeKey);
      const active: ActiveBudget = { name: p.name, version: p.version, spec, scopeKey, window };
      if (list === undefined) byScope.set(scopeKey, [active]);
      else list.push(active);
    }
    for (const id of [...this.#windows.keys()]) if (!used.has(id)) this.#windows.delete(id);
    this.#byScope = byScope;
  }

  /** Fills a new window from the ledger records the follow has already passed. */
  #backfill(window: WindowSum, spec: BudgetSpec): void {
    const through = this.#position;
    const fed = new Set(this.#fed);
    const now = this.#clock.now();
    const task = (async () => {
      const records = await this.#ledger.query({
        kinds: ['OutcomeRecorded'],
        timeRange: { start: now - window.windowMs },
        // The budget's tenant only; its agent is checked below (the ledger has no agent filter).
        ...(spec.tenant === undefined ? {} : { tenantId: spec.tenant }),
      });
      for (const record of records) {
        if (record.position > through && !fed.has(record.position)) continue;
        const e = usageEvent(record, now);
        if (e === undefined) continue;
        if (spec.agent !== undefined && e.agent !== spec.agent) continue;
        window.add(e.atMs, e.tokens, e.cost, 1, this.#clock.now());
      }
    })()
      .catch((error: unknown) => {
        this.#logger.error('A budget window could not be filled from the ledger', {
          error: errorMessage(error),
        });
      })
      .finally(() => this.#backfills.delete(task));
    this.#backfills.add(task);
  }

  /** Resolves once every window created by a policy change holds its past usage. */
  async settled(): Promise<void> {
    await this.start();
    while (this.#backfills.size > 0) await Promise.all([...this.#backfills]);
  }

  #ingest(e: UsageEvent): void {
    const now = this.#clock.now();
    for (const key of scopeKeys(e.agent, e.tenant)) {
      const list = this.#byScope.get(key);
      if (list === undefined) continue;
      const done = new Set<WindowSum>();
      for (const b of list) {
        if (b.window === undefined || done.has(b.window)) continue;
        done.add(b.window);
        b.window.add(e.atMs, e.tokens, e.cost, 1, now);
      }
    }
    if (e.run !== null) {
      const key = runKey(e.tenant, e.run);
      let run = this.#runs.get(key);
      if (run === undefined) {
        if (this.#runs.size >= this.#maxRuns) {
          const oldest = this.#runs.keys().next();
          if (oldest.done !== true) this.#runs.delete(oldest.value);
        }
        run = { run: e.run, agent: e.agent, tenant: e.tenant, tokens: 0, costMicros: 0, calls: 0 };
        this.#runs.set(key, run);
      }
      run.tokens += e.tokens;
      run.costMicros += e.cost;
      run.calls += 1;
    }
  }

  /**
   * Records usage in the ledger (an `OutcomeRecorded` event with the spender's tenant, its agent
   * in `metadata.agent`, the run as correlation id) and counts it at once. `eventId` makes a
   * report idempotent (a replayed run reports the same ids again).
   */
  async report(
    subject: BudgetSubject,
    usage: UsageReport,
    options: { eventId?: string } = {},
  ): Promise<void> {
    const u = parseUsageReport(usage);
    await this.start();
    const record = await this.#ledger.append(
      {
        type: 'OutcomeRecorded',
        data: {
          // Its own chain, apart from the run's outcome chain (runs/run-outcomes.ts).
          chain_id: `usage:${subject.runId ?? subject.agent}`,
          step: 'Evaluation',
          passed: true,
          stop_reason: null,
          latency_ms: null,
          tokens: u.tokens ?? null,
          cost_microdollars: u.costMicros ?? null,
          backend: u.model ?? null,
          metadata: {
            agent: subject.agent,
            source: 'kerno.usage',
            ...(subject.runId === undefined ? {} : { run: subject.runId }),
          },
        },
      },
      {
        ...(options.eventId === undefined ? {} : { eventId: options.eventId }),
        tenantId: subject.tenant ?? null,
        correlationId: subject.runId ?? null,
      },
    );
    // Counted now (the follow skips it), unless the follow has already delivered it.
    if (record.position > this.#position && !this.#fed.has(record.position)) {
      this.#fed.add(record.position);
      const event = usageEvent(record, this.#clock.now());
      if (event !== undefined) this.#ingest(event);
    }
  }

  /**
   * The first budget the subject has reached (used ≥ limit), or `null`. O(1) per budget that
   * applies to the subject.
   */
  check(subject: BudgetSubject): BudgetBreach | null {
    const now = this.#clock.now();
    const tenant = subject.tenant ?? null;
    const run =
      subject.runId === undefined ? undefined : this.#runs.get(runKey(tenant, subject.runId));
    for (const key of scopeKeys(subject.agent, tenant)) {
      const list = this.#byScope.get(key);
      if (list === undefined) continue;
      for (const b of list) {
        if (b.window !== undefined) {
          const breach = this.#over(b, 'window', b.window.at(now));
          if (breach !== null) return breach;
        }
        if (b.spec.perRun === true && run !== undefined) {
          const breach = this.#over(b, 'run', run);
          if (breach !== null) return breach;
        }
      }
    }
    return null;
  }

  #over(b: ActiveBudget, period: 'window' | 'run', used: UsageTotals): BudgetBreach | null {
    for (const resource of BUDGET_RESOURCES) {
      const max = b.spec[resource];
      if (max === undefined || used[resource] < max) continue;
      return {
        budget: b.name,
        version: b.version,
        resource,
        period,
        used: used[resource],
        limit: max,
        onBreach: b.spec.onBreach ?? 'ask',
        reason: breachReason(b.spec, resource, period, used[resource], max),
      };
    }
    return null;
  }

  /**
   * Use vs limit of every budget (one row per limit and period), or of those that apply to
   * `agent` / `tenant` (a budget of another tenant is never shown for a tenant). A per-run row
   * shows `run`'s usage when given, else the run that spent most.
   */
  usage(query: { agent?: string; tenant?: string; run?: string } = {}): BudgetUsage[] {
    const now = this.#clock.now();
    const out: BudgetUsage[] = [];
    for (const p of this.#policies.list<BudgetSpec>('budget')) {
      const spec = p.spec as BudgetSpec;
      if (query.agent !== undefined && spec.agent !== undefined && spec.agent !== query.agent)
        continue;
      if (query.tenant !== undefined && spec.tenant !== query.tenant) continue;
      const scopeKey = scopeKeyOf(spec.agent, spec.tenant);
      const rows: { period: 'window' | 'run'; used: UsageTotals; run?: string }[] = [];
      if (spec.windowMs !== undefined) {
        const window = this.#windows.get(`${scopeKey}|${spec.windowMs}`);
        rows.push({
          period: 'window',
          used: window?.at(now) ?? { tokens: 0, costMicros: 0, calls: 0 },
        });
      }
      if (spec.perRun === true) rows.push(this.#topRun(spec, query.run, query.tenant));
      for (const row of rows) {
        for (const resource of BUDGET_RESOURCES) {
          const max = spec[resource];
          if (max === undefined) continue;
          const used = row.used[resource];
          out.push({
            budget: p.name,
            version: p.version,
            scope: scopeLabel(spec),
            agent: spec.agent ?? null,
            tenant: spec.tenant ?? null,
            period: row.period,
            windowMs: row.period === 'window' ? (spec.windowMs ?? null) : null,
            resource,
            used,
            limit: max,
            percent: max === 0 ? (used > 0 ? 100 : 0) : Math.round((used / max) * 1000) / 10,
            breached: used >= max,
            ...(row.run === undefined ? {} : { run: row.run }),
          });
        }
      }
    }
    return out;
  }

  #topRun(
    spec: BudgetSpec,
    runId: string | undefined,
    tenant: string | undefined,
  ): { period: 'run'; used: UsageTotals; run?: string } {
    // A tenant's query sees only its own tenant's runs.
    const only = tenant ?? spec.tenant;
    if (runId !== undefined && only !== undefined) {
      const run = this.#runs.get(runKey(only, runId));
      return {
        period: 'run',
        used: run ?? { tokens: 0, costMicros: 0, calls: 0 },
        run: runId,
      };
    }
    let top: RunUsage | undefined;
    const weight = (u: UsageTotals): number =>
      Math.max(
        spec.costMicros ? u.costMicros / spec.costMicros : 0,
        spec.tokens ? u.tokens / spec.tokens : 0,
        spec.calls ? u.calls / spec.calls : 0,
      );
    for (const run of this.#runs.values()) {
      if (runId !== undefined && run.run !== runId) continue;
      if (spec.agent !== undefined && run.agent !== spec.agent) continue;
      if (only !== undefined && run.tenant !== only) continue;
      if (top === undefined || weight(run) > weight(top)) top = run;
    }
    if (top === undefined) {
      return {
        period: 'run',
        used: { tokens: 0, costMicros: 0, calls: 0 },
        ...(runId === undefined ? {} : { run: runId }),
      };
    }
    return { period: 'run', used: top, run: top.run };
  }

  /** The budget gate's request for a breach: plain words, with what approving does. */
  gateRequest(breach: BudgetBreach): {
    summary: string;
    rationale: string;
    action: string;
    resource: string;
    timeoutSecs: number;
  } {
    const spec = this.#policies.get<BudgetSpec>('budget', breach.budget)?.spec;
    const factor = spec?.raiseFactor ?? DEFAULT_RAISE_FACTOR;
    const raised = raisedLimit(breach.limit, breach.used, factor);
    const show = (v: number): string =>
      breach.resource === 'costMicros' ? formatMicros(v) : v.toLocaleString('en-US');
    return {
      summary: `${breach.reason}: raise the budget or stop the run?`,
      rationale: `Budget ${breach.budget} (version ${breach.version}) is at its ${breach.resource} limit. Approve to raise it to ${show(raised)} (×${factor}; or decide with a new limit) and resume; reject to stop the run (budget exceeded).`,
      action: BUDGET_GATE_ACTION,
      resource: `budget/${breach.budget}@${breach.version}/${breach.resource}`,
      timeoutSecs: Math.ceil((spec?.askTimeoutMs ?? DEFAULT_ASK_TIMEOUT_MS) / 1000),
    };
  }

  /**
   * Opens (or finds, by `key`) the gate that asks to raise the budget or stop the run; resolves
   * with its id and its decision if it has one.
   */
  async openGate(
    key: string,
    subject: BudgetSubject & { runId: string },
    breach: BudgetBreach,
  ): Promise<{ gate: string; decision: ApprovalSnapshot['decision'] }> {
    if (this.#approvals === undefined) {
      throw new KernelError(
        'SERVICE_UNAVAILABLE',
        'This kernel has no approval gate to ask about a budget; open it with createKernel',
      );
    }
    const request = this.gateRequest(breach);
    const gate = await this.#approvals.open({
      agentId: subject.runId,
      agentName: subject.agent,
      key,
      origin: 'agent',
      correlationId: subject.runId,
      tenantId: subject.tenant ?? null,
      // Raising a budget is the operator's call, never the spending tenant's.
      adminOnly: true,
      summary: request.summary,
      rationale: request.rationale,
      action: request.action,
      resource: request.resource,
      reason: breach.reason,
      context: [
        { label: 'budget', value: breach.budget },
        { label: 'used', value: String(breach.used) },
        { label: 'limit', value: String(breach.limit) },
        { label: 'resource', value: breach.resource },
      ],
      timeout: { timeout_secs: request.timeoutSecs, action: 'Reject' },
    });
    return { gate: gate.id, decision: gate.decision };
  }

  /**
   * After a budget gate was approved: raises the breached limit if nobody has yet (the budget is
   * still at the version the gate asked about) by the budget's raise factor. Two kernels doing
   * this at once: one version wins, the other sees `CONFLICT` and leaves it.
   */
  async applyApproval(gateId: string): Promise<void> {
    const gate = this.#approvals?.get(gateId);
    if (gate === undefined || gate.decision?.approved !== true) return;
    const target = parseGateResource(gate);
    if (target === undefined) return;
    await this.#raise(target, undefined, {
      by: gate.decision.decidedBy,
      reason: `raised by ${gate.decision.decidedBy}, approving budget gate ${gate.gateId}`,
    });
  }

  async #raise(
    target: GateTarget,
    limits: Partial<Record<BudgetResource, number>> | undefined,
    change: { by: string; reason: string },
  ): Promise<boolean> {
    const { budget: name, version: fromVersion, resource } = target;
    const current = this.#policies.get<BudgetSpec>('budget', name);
    if (current === undefined || current.version !== fromVersion) return false;
    const spec = current.spec as BudgetSpec;
    const next: Record<string, unknown> = { ...spec };
    if (limits !== undefined && Object.keys(limits).length > 0) Object.assign(next, limits);
    else {
      const max = spec[resource];
      if (max === undefined) return false;
      // Above what was spent, as the gate said: the window's sum and, for a per-run budget,
      // what the gate's own run spent (the run that asked; its window may hold less).
      const window = spec.windowMs === undefined ? undefined : this.#windowOf(spec);
      const run =
        spec.perRun === true ? this.#runs.get(runKey(target.tenant, target.run)) : undefined;
      const used = Math.max(window?.[resource] ?? 0, run?.[resource] ?? 0);
      next[resource] = raisedLimit(max, used, spec.raiseFactor ?? DEFAULT_RAISE_FACTOR);
    }
    try {
      await this.#policies.set('budget', name, next, {
        by: change.by,
        reason: change.reason,
        expectedVersion: fromVersion,
      });
      return true;
    } catch (error) {
      if (isKernelError(error, 'CONFLICT')) return false;
      throw error;
    }
  }

  #windowOf(spec: BudgetSpec): UsageTotals | undefined {
    return this.#windows
      .get(`${scopeKeyOf(spec.agent, spec.tenant)}|${spec.windowMs}`)
      ?.at(this.#clock.now());
  }

  /**
   * Decides a budget gate: approve (raising the limit to `limits`, or by the raise factor) or
   * reject (the run stops: budget exceeded). `NOT_FOUND` for an unknown gate, `INVALID_ARGUMENT`
   * for a gate that is not a budget's.
   */
  async decide(gateId: string, input: BudgetDecisionInput): Promise<ApprovalSnapshot> {
    const approvals = this.#approvals;
    const gate = approvals?.get(gateId);
    if (approvals === undefined || gate === undefined) {
      throw new KernelError(
        'NOT_FOUND',
        `No approval gate ${gateId}; list them with kerno approvals ls`,
      );
    }
    const target = parseGateResource(gate);
    if (target === undefined) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `Gate ${gateId} is not a budget gate; decide it with kerno approvals approve|reject`,
      );
    }
    const by = input.by ?? 'operator';
    if (input.approve) {
      if (input.limits !== undefined) {
        for (const [k, v] of Object.entries(input.limits)) {
          if (
            !(BUDGET_RESOURCES as readonly string[]).includes(k) ||
            !Number.isSafeInteger(v) ||
            v < 0
          ) {
            throw new KernelError(
              'INVALID_ARGUMENT',
              `A raised limit is tokens, costMicros or calls, a whole number ≥ 0; got ${k}: ${JSON.stringify(v)}`,
            );
          }
        }
      }
      // A decided gate raises nothing: approving it again is the gate's own error.
      if (gate.decision === null) {
        await this.#raise(target, input.limits, {
          by,
          reason: input.reason ?? `raised by ${by}, approving budget gate ${gate.gateId}`,
        });
      }
      await approvals.approve(gate.id, {
        by,
        ...(input.reason === undefined ? {} : { note: input.reason }),
      });
    } else {
      await approvals.reject(gate.id, { by, reason: input.reason ?? 'budget exceeded' });
    }
    return approvals.get(gate.id)!;
  }

  /** The budget hooks of one run (the run engine's `budgets`). */
  hostFor(run: { id: string; agent: string; tenant: string | null }): RunBudgetHost {
    const subject = { runId: run.id, agent: run.agent, tenant: run.tenant };
    return {
      check: () => this.check(subject),
      open: async (key, breach) => {
        // The breach is the one `check` returned (a BudgetBreach).
        const { gate, decision } = await this.openGate(key, subject, breach as BudgetBreach);
        return {
          gate,
          decision:
            decision === null
              ? null
              : {
                  approved: decision.approved,
                  reason: decision.reason,
                  decidedBy: decision.decidedBy,
                },
        };
      },
      approved: (gate) => this.applyApproval(gate),
      report: (usage, eventId) => this.report(subject, usage, { eventId }),
    };
  }

  /** Stops following the ledger. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#detach?.();
    await this.#follower;
    await Promise.allSettled([...this.#backfills]);
  }
}

/** The limit after a raise: × factor until it is above what was used. */
export function raisedLimit(max: number, used: number, factor: number): number {
  let next = Math.max(1, Math.ceil(max * factor));
  while (next <= used) next = Math.ceil(next * factor);
  return next;
}

/** What a budget gate asked about: the budget version and limit, and the run that spent. */
interface GateTarget {
  readonly budget: string;
  readonly version: number;
  readonly resource: BudgetResource;
  /** The run the gate was opened for (its `agentId`) and that run's tenant. */
  readonly run: string;
  readonly tenant: string | null;
}

function parseGateResource(gate: ApprovalSnapshot): GateTarget | undefined {
  if (gate.action !== BUDGET_GATE_ACTION) return undefined;
  const m = /^budget\/(.+)@(\d+)\/(tokens|costMicros|calls)$/.exec(gate.resource);
  if (m === null) return undefined;
  return {
    budget: m[1]!,
    version: Number(m[2]),
    resource: m[3] as BudgetResource,
    run: gate.request.agent_id,
    tenant: gate.tenantId,
  };
}

/** The key of a run's usage: its tenant and its id (another tenant's event never counts). */
function runKey(tenant: string | null, run: string): string {
  return JSON.stringify([tenant, run]);
}

/** The scope keys whose budgets apply to a spender. */
function scopeKeys(agent: string | null, tenant: string | null): string[] {
  const keys = ['g'];
  if (agent !== null) keys.push(`a:${agent}`);
  if (tenant !== null) keys.push(`t:${tenant}`);
  if (agent !== null && tenant !== null) keys.push(`at:${agent}\u0000${tenant}`);
  return keys;
}

function usageEvent(record: LedgerRecord, nowMs: number): UsageEvent | undefined {
  const env = record.envelope;
  const event = env.event as { type: string; data?: Record<string, unknown> };
  if (event.type !== 'OutcomeRecorded' || event.data === undefined) return undefined;
  const d = event.data;
  // A finished run's summary (runs/run-outcomes.ts): its steps' usage was counted as they ran.
  if (d.backend === 'kerno-runs') return undefined;
  const tokens = typeof d.tokens === 'number' ? d.tokens : 0;
  const cost = typeof d.cost_microdollars === 'number' ? d.cost_microdollars : 0;
  const meta = (d.metadata ?? {}) as Record<string, string>;
  const t = Date.parse(env.occurred_at);
  return {
    position: record.position,
    atMs: Number.isFinite(t) ? t : nowMs,
    agent: typeof meta.agent === 'string' ? meta.agent : null,
    tenant: env.tenant_id,
    run: env.correlation_id ?? (typeof meta.run === 'string' ? meta.run : null),
    tokens,
    cost,
  };
}

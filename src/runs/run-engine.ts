/**
 * Durable runs: `define` an agent, `start` a run of it, and the engine drives the run to its end
 * through every crash and restart. The run index and each run's journal live on the log
 * (`journal.ts`); the engine keeps only a projection of the index in memory (which runs exist,
 * where they stand) and the executions in flight.
 *
 * When the engine opens it replays the index and resumes every unfinished run it owns whose
 * agent is defined (and, for an agent defined later, at `define`). A resumed run executes its
 * function again from the top; the journal answers every call it had already made.
 *
 * A waiting run (a long sleep, a signal, an approval) is suspended: one wake-up entry in a
 * time-ordered queue behind a single timer, nothing else in memory.
 *
 * @module
 */
import { KernelError, errorMessage } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { IdGenerator } from '../util/ids.js';
import type { Logger } from '../util/logger.js';
import type { KernelEvent } from '../model/kernel-event.js';
import type { FailureSignal, RecoveryPolicy } from '../model/failure.js';
import type { LogStore } from '../storage/log.js';
import type { LogView } from '../storage/log-view.js';
import type { RunTracer, TracedRun } from '../telemetry/telemetry.js';
import { checkTraceHeaders } from '../util/trace-context.js';
import {
  fromJsonText,
  journalStream,
  journalView,
  ownerBeatsView,
  endedKey,
  ownerKey,
  RUN_INDEX_STREAM,
  readJournal,
  recordError,
  runIndexView,
  supersededBudgetGates,
  toJsonText,
  type JournalEntry,
  type RecordTrace,
  type RunParentTrace,
  type RecordedError,
  type RunIndexEntry,
  type RunRecoveryAction,
  type RunStatus,
  type StepUsage,
  type StoredJournalEntry,
  type StoredRunIndexEntry,
} from './journal.js';
import type { RuleDecision } from '../policies/rules.js';
import {
  BudgetExceededError,
  RunExecution,
  type RunBudgetHost,
  type ExecutionHost,
  type RunApprovalDecision,
  type RunApprovalRequest,
  type RunAuthorizeRequest,
  type RunContext,
  type Suspension,
} from './run-context.js';

/** A durable agent: a name, a version, and the function a run executes. */
export interface AgentDefinition<I = unknown, O = unknown> {
  readonly name: string;
  /** Recorded with every run (default `'1'`), so a replay under other code can be told apart. */
  readonly version?: string;
  readonly run: (ctx: RunContext, input: I) => Promise<O> | O;
  /**
   * Self-healing for this agent's failed runs (off when absent or `false`): `true` for the
   * kernel's recovery policy, or overrides of it. A failed step is retried (resume), patched
   * forward (`patch`), rolled back to the last known-good config, or escalated to a human.
   */
  readonly recovery?: boolean | Partial<RecoveryPolicy>;
  /** Patch-forward: the config a failed run resumes with (`undefined`: keep it). */
  readonly patch?: (ctx: RunPatchContext) => Promise<RunPatchResult> | RunPatchResult;
}

/** What a run's `patch` hook gets. */
export interface RunPatchContext {
  readonly runId: string;
  readonly agent: string;
  /** The failed step's key. */
  readonly step: string;
  /** The config the run failed with. */
  readonly config: unknown;
  readonly failure: FailureSignal;
  /** The recovery attempt, from 1. */
  readonly attempt: number;
}

/** What a `patch` hook returns: the config to resume with, or nothing to keep it. */
export type RunPatchResult = { readonly config: unknown } | undefined | void;

/** A started run. */
export interface RunHandle<O = unknown> {
  readonly id: string;
  /** The run's result once it completed; rejects with `RUN_FAILED` / `RUN_CANCELLED`. */
  result(): Promise<O>;
}

/** A step as `runs.get` shows it. */
export interface RunStepInfo {
  readonly key: string;
  readonly status: 'completed' | 'failed';
  readonly attempts: number;
  /** When the step's record was written (it finished). */
  readonly atMs: number;
  /** When its first attempt started, and how long it took (steps recorded by this version on). */
  readonly startedAtMs?: number;
  readonly durationMs?: number;
  /** The resume it ran in (0: the first execution). */
  readonly resume: number;
  /** A failure a later resume ran again (the step's later record follows it). */
  readonly superseded?: boolean;
  /** Copied from the run it was forked from: it replayed, it did not run here. */
  readonly copied?: boolean;
  /** What it spent (its `usage` option). */
  readonly usage?: StepUsage;
  readonly result?: unknown;
  readonly error?: RecordedError;
}

/** One `kernel.runs.resume` of a run, with what it replayed and what ran again. */
export interface RunResumeInfo {
  readonly n: number;
  readonly by: string;
  readonly reason?: string;
  readonly config?: unknown;
  readonly at: string;
  /** Step keys recorded before this resume that it replayed (completed ones). */
  readonly replayed: readonly string[];
  /** Step keys that ran in this resume. */
  readonly ran: readonly string[];
}

/** One execution of a run from its journal in a new process, as `runs.get` shows it. */
export interface RunReopenInfo {
  readonly n: number;
  /** The kernel that executed it. */
  readonly owner: string;
  readonly at: string;
  /** Step keys recorded before it (completed), which replayed without running. */
  readonly replayed: readonly string[];
  /** Step keys that ran after it (until the next reopening). */
  readonly ran: readonly string[];
}

/** One self-healing decision about a failed run, as `runs.get` shows it. */
export interface RunRecoveryNote {
  readonly n: number;
  readonly action: RunRecoveryAction;
  readonly step?: string;
  readonly failureClass?: string;
  readonly rationale: string;
  readonly recoveryRunId: string;
  readonly gate?: string;
  readonly by?: string;
  readonly at: string;
}

/** Where a forked run came from. */
export interface RunForkOf {
  readonly runId: string;
  /** The key of the first step that ran live in the fork. */
  readonly fromStep: string;
}

/** What a run is waiting for. */
export type RunWait =
  | { readonly kind: 'sleep'; readonly until: string }
  | { readonly kind: 'signal'; readonly name: string; readonly until: string | null }
  | { readonly kind: 'approval'; readonly gate: string };

/** A run as the kernel knows it. */
export interface RunInfo {
  readonly id: string;
  readonly agent: string;
  readonly version: string;
  readonly status: RunStatus;
  readonly input: unknown;
  readonly result?: unknown;
  readonly error?: RecordedError;
  readonly owner: string;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly steps: readonly RunStepInfo[];
  readonly waitingFor?: RunWait;
  /** The config the run has now (`ctx.config`). */
  readonly config?: unknown;
  readonly tenant?: string;
  readonly resumeCount?: number;
  readonly forkOf?: RunForkOf;
  readonly rerunOf?: string;
  /** Every resume, oldest first. */
  readonly resumes: readonly RunResumeInfo[];
  /** The runs forked from this one, oldest first. */
  readonly forks: readonly string[];
  /**
   * What the run spent: the sums of its steps' `usage` (failed attempts included; steps a fork
   * copied spent nothing here), and how many steps ran here and were copied.
   */
  readonly usage: {
    readonly tokens: number;
    readonly costMicrodollars: number;
    readonly stepsRan: number;
    readonly stepsCopied: number;
  };
  /** From start to end (or to now, while it runs), in ms. */
  readonly durationMs: number;
  /**
   * Executions from the journal after a restart, a crash (`kill -9`) or a takeover, oldest
   * first (absent: none): which recorded steps replayed and which steps ran after.
   */
  readonly reopens?: readonly RunReopenInfo[];
  /** Self-healing's decisions about the run's failures, oldest first (absent: none). */
  readonly recovery?: readonly RunRecoveryNote[];
  /** Records in the run's journal. */
  readonly journalLength: number;
  /** Retention removed the journal (`steps` is then empty). */
  readonly journalPruned?: boolean;
  /** A `queued` run's place in the queue of each limit it waits for (1: next). */
  readonly queue?: readonly { readonly limit: string; readonly position: number }[];
}

/** One row of `runs.list`. */
export interface RunSummary {
  readonly id: string;
  readonly agent: string;
  readonly version: string;
  readonly status: RunStatus;
  readonly owner: string;
  readonly startedAt: string;
  readonly priority?: number;
  readonly limitKey?: string;
  readonly endedAt?: string;
  readonly error?: RecordedError;
  /** The tenant the run belongs to (absent: none). */
  readonly tenant?: string;
  /** Times resumed. */
  readonly resumeCount?: number;
  readonly forkOf?: RunForkOf;
  readonly rerunOf?: string;
  /** How many runs were forked from this one (absent: none). */
  readonly forkCount?: number;
}

/** Options for `kernel.start`. */
export interface RunStartOptions {
  /** The run id (starting the same id again returns the existing run). */
  readonly id?: string;
  /** The tenant the run belongs to: tenant tokens see and act only on their tenant's runs. */
  readonly tenant?: string;
  /** JSON config the run sees as `ctx.config` (a resume may replace it). */
  readonly config?: unknown;
  /** The caller's W3C trace context: the run's root span becomes its child. */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** Under a concurrency or rate limit, higher priorities start first (default 0). */
  readonly priority?: number;
  /** A limit key the run takes a slot on besides its agent's limits (e.g. `'openai'`). */
  readonly limitKey?: string;
  /**
   * @internal The scheduler's firing: only it may start a run whose id starts with
   * {@link SCHEDULED_RUN_PREFIX}.
   */
  readonly scheduled?: boolean;
}

/** Run ids starting with this are the scheduler's (`sched-<schedule>-<due time>`). */
export const SCHEDULED_RUN_PREFIX = 'sched-';

/** Options for `kernel.runs.resume`. */
export interface RunResumeOptions {
  /** The config the run continues with (`ctx.config`); absent: the one it had. */
  readonly config?: unknown;
  /** Why (recorded on the journal). */
  readonly reason?: string;
  /** Who resumes it (recorded on the journal; default `'library'`). */
  readonly by?: string;
}

/** Options for `kernel.runs.fork`. */
export interface RunForkOptions {
  /**
   * The first step that runs live: a step key (`plan#1`) or its 0-based position among the
   * run's recorded steps. The steps before it are copied and replay without running.
   */
  readonly fromStep: string | number;
  /** The fork's config (default: the parent's). */
  readonly config?: unknown;
  /** The fork's input (default: the parent's). The copied steps keep their recorded results. */
  readonly input?: unknown;
  /** The fork's id (default: a new UUIDv7). */
  readonly id?: string;
  /** The caller's W3C trace context: the fork's root span becomes its child. */
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** Filters for `runs.list`. */
export interface RunListQuery {
  readonly agent?: string;
  readonly status?: RunStatus | readonly RunStatus[];
  /** Only this tenant's runs. */
  readonly tenant?: string;
  /** Started at or after (epoch ms). */
  readonly sinceMs?: number;
  /** Started before (epoch ms). */
  readonly untilMs?: number;
  /** Case-insensitive text in the run id or agent name. */
  readonly q?: string;
  /** Runs older than this run id (the previous page's `nextCursor`). */
  readonly before?: string;
  /** Newest first; default 100. */
  readonly limit?: number;
}

/** Options for {@link createRunEngine}. */
export interface RunEngineOptions {
  readonly log: LogStore;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly logger: Logger;
  /**
   * How long finished runs keep their journals: older than `maxAgeMs` (default 7 days), or
   * beyond the newest `keepFinished` (default 10 000), a journal is pruned (its run's start and
   * end records stay). Applied at open and every `everyMs` (default 1 h); `false` keeps all.
   */
  readonly retention?: RunRetention | false;
  /**
   * Take over the runs of kernels that died (several kernels on one PostgreSQL store): this
   * kernel says it is alive every `leaseMs / 3` and takes over unfinished runs whose owner has
   * not for `leaseMs` — each takeover is a unique `run.owner` record, so one kernel wins it. A
   * kernel that cannot say it is alive for `leaseMs` stops executing. Needs a unique `owner`.
   */
  readonly leaseMs?: number;
  /** Who owns the runs this engine starts; it resumes only its own (default `'local'`). */
  readonly owner?: string;
  /** Longest sleep kept in memory; longer ones suspend the run (default 5000 ms). */
  readonly holdMs?: number;
  /** The approval gates `ctx.requestApproval` opens. */
  readonly approvals?: RunApprovals;
  /** The approval rules `ctx.authorize` (and a step with `action`/`tool`/`resource`) asks. */
  readonly rules?: RunRules;
  /**
   * Where a step's execution is announced: `ToolExecutionStarted` before its first attempt and
   * `ToolExecutionFinished` once its record is on the journal (oxios 1.43's tool events; a
   * replayed step announces nothing). Publishing never fails a run: an error is logged.
   */
  readonly bus?: { publish(event: KernelEvent): void };
  /**
   * Whether self-healing handles a failure of this agent's runs: then a failed run's `wait` and
   * `result` wait for its resume (or for a `rejected` / `gave_up` recovery note).
   */
  readonly heals?: (agent: string) => boolean;
  /**
   * Spans of runs, steps and attempts (`telemetry/`); absent when tracing is off, and then the
   * engine builds no span at all.
   */
  readonly tracer?: RunTracer | undefined;
  /** Concurrency and rate limits: a limited run is `queued` until it is admitted. */
  readonly admission?: RunAdmission;
  /**
   * The budgets every run is held to: checked before each step (a run over one pauses on a
   * raise-or-stop gate), and where `ctx.reportUsage` records usage.
   */
  readonly budgets?: RunBudgets;
}

/** A run waiting for admission, as the engine hands it to {@link RunAdmission}. */
export interface AdmissionRequest {
  readonly id: string;
  readonly agent: string;
  readonly priority: number;
  readonly limitKey: string | undefined;
  /** Position of its start record: FIFO order within a priority. */
  readonly order: number;
}

/** Concurrency and rate limits on runs (and on steps with a `limitKey`). */
export interface RunAdmission {
  /** Whether any limit applies to this run (a run nothing limits executes at once). */
  limited(run: AdmissionRequest): boolean;
  /** Queues a limited run: call `admit(run.id)` once it holds its slots. */
  enqueue(run: AdmissionRequest, admit: (id: string) => void): void;
  /** Where a queued run stands in the queue of each limit it waits for (1: next). */
  positionOf?(runId: string): { limit: string; position: number }[];
  /** Waits for a slot on `limitKey` for one step of a run; resolves with its release. */
  acquireStep(
    limitKey: string,
    holder: { runId: string; key: string; priority: number },
    signal: AbortSignal,
  ): Promise<() => void>;
}

/** What the engine needs of the budgets (`policies/budgets.ts`); `run` is the spender. */
export interface RunBudgets {
  hostFor(run: {
    readonly id: string;
    readonly agent: string;
    readonly tenant: string | null;
  }): RunBudgetHost;
}

/** Retention of finished runs' journals. */
export interface RunRetention {
  readonly maxAgeMs?: number;
  readonly keepFinished?: number;
  readonly everyMs?: number;
}

/** What the engine needs of the approval gate. */
export interface RunApprovals {
  open(
    key: string,
    run: { id: string; agent: string; tenant?: string | undefined },
    request: RunApprovalRequest,
  ): Promise<{ gate: string; decision: RunApprovalDecision | null }>;
  decision(gate: string): RunApprovalDecision | null;
  /** Calls back with a gate id once it is decided; returns the unsubscribe. */
  onDecision(listener: (gate: string) => void): () => void;
}

/** What the engine needs of the approval rules (src/policies/rules.ts). */
export interface RunRules {
  /** Decides and audits; `step` names the step it guards. */
  decide(
    run: { id: string; agent: string; tenant?: string | undefined },
    request: RunAuthorizeRequest,
    step: string | undefined,
  ): Promise<RuleDecision>;
  /** Audits how an `ask` decision's gate was decided. */
  outcome?(
    run: { id: string; agent: string; tenant?: string | undefined },
    request: RunAuthorizeRequest,
    decision: RuleDecision,
    outcome: RunApprovalDecision,
  ): Promise<void>;
}

/** The runs API (`kernel.runs`). */
export interface Runs {
  get(id: string): Promise<RunInfo>;
  /** The run's summary, or `undefined` when there is no such run (no journal read). */
  find(id: string): RunSummary | undefined;
  list(query?: RunListQuery): RunSummary[];
  cancel(id: string, reason?: string): Promise<RunSummary>;
  /**
   * Continues a failed or cancelled run under the same id: its failed steps run again (with
   * `config`, if given, as `ctx.config`), its completed steps replay from the journal.
   */
  resume(id: string, options?: RunResumeOptions): Promise<RunSummary>;
  /** A new run whose journal holds the parent's steps before `fromStep`; it continues live. */
  fork(id: string, options: RunForkOptions): Promise<RunHandle>;
  /** A fresh run of the same agent with the same input, config and tenant. */
  rerun(
    id: string,
    options?: { id?: string; traceparent?: string; tracestate?: string },
  ): Promise<RunHandle>;
  /** Resolves with the run once it has ended. */
  wait(id: string, options?: { signal?: AbortSignal }): Promise<RunInfo>;
  /** Calls `listener` whenever a run changes status in this kernel. */
  onStatus(listener: (run: RunSummary) => void): () => void;
}

interface RunState {
  id: string;
  agent: string;
  version: string;
  owner: string;
  startedAtMs: number;
  status: RunStatus;
  /** Its end record — without a result longer than {@link INLINE_RESULT_CHARS} (`resultOnLog`). */
  ended?: Extract<RunIndexEntry, { type: 'run.ended' }> | undefined;
  /** The end record's result was too long to keep in memory: read it back from the index. */
  resultOnLog?: boolean;
  execution?: RunExecution | undefined;
  priority: number;
  limitKey: string | undefined;
  /** Position of its start record. */
  order: number;
  /** Holds its limit slots (or nothing limits it): it may execute. */
  admitted: boolean;
  /** Set when something arrived for the run while it was executing: execute again at suspend. */
  dirty: boolean;
  /** Retention removed its journal. */
  pruned?: boolean;
  /** How many times the run was taken over (its latest `run.owner` generation). */
  gen: number;
  tenant?: string | undefined;
  /** JSON text of the config the run has now. */
  config?: string | undefined;
  /** Times resumed (the latest `run.resumed` n). */
  resumes: number;
  resumeLog: Extract<RunIndexEntry, { type: 'run.resumed' }>[];
  forkOf?: RunForkOf | undefined;
  rerunOf?: string | undefined;
  forks: string[];
  /** Self-healing's notes about the run's failures (`run.recovery`), oldest first. */
  recovery: Extract<RunIndexEntry, { type: 'run.recovery' }>[];
  /**
   * The run failed and self-healing claimed the failure: `wait` / `result` wait on (for the
   * resume, or the decision that nothing more is tried).
   */
  healing?: boolean;
  /** Executions from the journal after a restart, crash or takeover (`run.reopened`). */
  reopens: Extract<RunIndexEntry, { type: 'run.reopened' }>[];
  /** The approval gate a parked (escalated) failed run waits on. */
  parkedOn?: string | undefined;
  /** The input, while this kernel just started the run (its journal is known to be empty). */
  fresh?: { input: string } | undefined;
  suspension?: Suspension | undefined;
  waiters: { done(): void; fail(error: unknown): void }[];
  /** The trace context recorded in `run.started` (tracing on), and the caller's span. */
  trace?: (RecordTrace & RunParentTrace) | undefined;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A finished run keeps its result's JSON text in memory up to this length; a longer one stays
 * on the log only (its end record) and is read back when asked for, so the results of all the
 * runs a kernel has seen do not pile up in its heap.
 */
const INLINE_RESULT_CHARS = 1024;

/** The durable-run engine. */
export class RunEngine implements Runs {
  readonly #log: LogStore;
  readonly #clock: Clock;
  readonly #ids: IdGenerator;
  readonly #logger: Logger;
  readonly #owner: string;
  readonly #holdMs: number;
  readonly #approvals: RunApprovals | undefined;
  readonly #rules: RunRules | undefined;
  readonly #bus: { publish(event: KernelEvent): void } | undefined;
  readonly #healsAgent: ((agent: string) => boolean) | undefined;
  /** Runs executed in this process (their next executions are no reopening). */
  readonly #executedHere = new Set<string>();
  readonly #tracer: RunTracer | undefined;
  readonly #admission: RunAdmission | undefined;
  readonly #budgets: RunBudgets | undefined;
  readonly #index: LogView<RunIndexEntry, StoredRunIndexEntry>;
  readonly #definitions = new Map<string, AgentDefinition<never, unknown>>();
  readonly #runs = new Map<string, RunState>();
  readonly #journals = new Map<string, LogView<JournalEntry, StoredJournalEntry>>();
  /** Wake-ups, earliest first. */
  #wakeups: { atMs: number; id: string }[] = [];
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  readonly #follow = new AbortController();
  #opened = false;
  #closed = false;
  #detachApprovals: (() => void) | undefined;
  readonly #inflight = new Set<Promise<void>>();
  readonly #listeners = new Set<(run: RunSummary) => void>();
  readonly #retention: Required<RunRetention> | undefined;
  readonly #leaseMs: number | undefined;
  readonly #beats: ReturnType<typeof ownerBeatsView>;
  /** Last time (their clock) each kernel that takes over runs said it was alive. */
  readonly #lastSeen = new Map<string, number>();
  #lastBeatOkMs = 0;
  /** This kernel could not say it is alive for too long: it stops executing runs. */
  #fenced = false;
  #leaseTimer: TimerHandle | undefined;
  #retentionTimer: TimerHandle | undefined;

  constructor(options: RunEngineOptions) {
    this.#log = options.log;
    this.#clock = options.clock;
    this.#healsAgent = options.heals;
    this.#ids = options.ids;
    this.#logger = options.logger;
    this.#owner = options.owner ?? 'local';
    this.#holdMs = options.holdMs ?? 5000;
    this.#approvals = options.approvals;
    this.#rules = options.rules;
    this.#bus = options.bus;
    this.#tracer = options.tracer;
    this.#admission = options.admission;
    this.#budgets = options.budgets;
    this.#index = runIndexView(options.log);
    this.#beats = ownerBeatsView(options.log);
    this.#leaseMs = options.leaseMs;
    if (
      this.#leaseMs !== undefined &&
      (!Number.isSafeInteger(this.#leaseMs) || this.#leaseMs < 30)
    ) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `leaseMs must be an integer ≥ 30, got ${String(this.#leaseMs)}`,
      );
    }
    const r = options.retention;
    this.#retention =
      r === false
        ? undefined
        : {
            maxAgeMs: r?.maxAgeMs ?? 7 * 24 * 3_600_000,
            keepFinished: r?.keepFinished ?? 10_000,
            everyMs: r?.everyMs ?? 3_600_000,
          };
    for (const [k, v] of Object.entries(this.#retention ?? {})) {
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          `retention.${k} must be an integer ≥ 0, got ${String(v)}`,
        );
      }
    }
  }

  /** Replays the run index, then follows it; resumes the defined agents' unfinished runs. */
  async open(): Promise<void> {
    const live = this.#index.follow({ signal: this.#follow.signal });
    const caughtUp = live.caughtUp;
    void (async () => {
      try {
        for await (const entry of live) this.#apply(entry);
      } catch (error) {
        if (!this.#closed) {
          this.#logger.error('The run index follower stopped', { error: errorMessage(error) });
        }
      }
    })();
    await caughtUp;
    this.#detachApprovals = this.#approvals?.onDecision((gate) => {
      for (const run of this.#runs.values()) {
        if (run.suspension?.kind === 'approval' && run.suspension.gate === gate) this.#wake(run);
      }
    });
    this.#opened = true;
    for (const run of this.#runs.values()) this.#resumeIfMine(run);
    if (this.#retention !== undefined) this.#scheduleRetention(0);
    if (this.#leaseMs !== undefined) await this.#startLeases(this.#leaseMs);
  }

  async #startLeases(leaseMs: number): Promise<void> {
    const live = this.#beats.follow({ signal: this.#follow.signal });
    const caughtUp = live.caughtUp;
    void (async () => {
      try {
        for await (const beat of live) {
          const seen = this.#lastSeen.get(beat.owner) ?? 0;
          if (beat.atMs > seen) this.#lastSeen.set(beat.owner, beat.atMs);
        }
      } catch (error) {
        if (!this.#closed)
          this.#logger.error('The run owner follower stopped', { error: errorMessage(error) });
      }
    })();
    await caughtUp;
    await this.#beat();
    this.#leaseTick(leaseMs);
  }

  #leaseTick(leaseMs: number): void {
    if (this.#closed) return;
    this.#leaseTimer = this.#clock.setTimeout(
      () => {
        void this.#beat().then(() => {
          this.#takeOver(leaseMs);
          this.#leaseTick(leaseMs);
        });
      },
      Math.floor(leaseMs / 3),
    );
  }

  /** Says this kernel is alive; fences itself when it could not for a whole lease. */
  async #beat(): Promise<void> {
    const now = this.#clock.now();
    try {
      const [stored] = await this.#beats.append([{ owner: this.#owner, atMs: now }]);
      this.#lastBeatOkMs = now;
      if (this.#fenced) {
        this.#fenced = false;
        this.#logger.warn('Run owner is alive again; resuming its runs', { owner: this.#owner });
        for (const run of this.#runs.values()) this.#resumeIfMine(run);
      }
      // Keep the liveness stream short: only recent beats matter.
      if (stored !== undefined && stored.seq % 256 === 0)
        await this.#log.prune(this.#beats.stream, stored.seq - 128);
    } catch (error) {
      if (this.#closed) return;
      this.#logger.warn('Could not record that this kernel is alive', {
        error: errorMessage(error),
      });
      if (!this.#fenced && now - this.#lastBeatOkMs >= (this.#leaseMs ?? 0) * (2 / 3)) {
        this.#fenced = true;
        this.#logger.error(
          "Stopping this kernel's run executions: it could not say it is alive, so another kernel may take its runs",
          { owner: this.#owner },
        );
        for (const run of this.#runs.values()) {
          if (run.owner !== this.#owner || run.execution === undefined) continue;
          run.execution.abort(new KernelError('CLOSED', 'This kernel lost its lease'));
          run.execution = undefined;
          run.status = 'pending';
        }
      }
    }
  }

  /** Takes over unfinished runs whose owner has not said it is alive for a lease. */
  #takeOver(leaseMs: number): void {
    if (this.#fenced || this.#closed) return;
    const now = this.#clock.now();
    for (const run of this.#runs.values()) {
      if (run.ended !== undefined || run.owner === this.#owner) continue;
      if (!this.#definitions.has(run.agent)) continue;
      const seen = this.#lastSeen.get(run.owner);
      if (seen === undefined || now - seen < leaseMs) continue;
      const gen = run.gen + 1;
      this.#index
        .append([
          { type: 'run.owner', id: run.id, agent: run.agent, owner: this.#owner, gen, atMs: now },
        ])
        .then(
          ([stored]) => {
            this.#logger.warn('Took over a run whose kernel stopped', {
              run: run.id,
              from: run.owner,
            });
            this.#apply(stored!);
          },
          (error: unknown) => {
            // CONFLICT: another kernel took it first (its record reaches the projection).
            if (!(error instanceof KernelError && error.code === 'CONFLICT')) {
              this.#logger.warn('Taking over a run failed', {
                run: run.id,
                error: errorMessage(error),
              });
            }
          },
        );
    }
  }

  #scheduleRetention(ms: number): void {
    if (this.#closed || this.#retention === undefined) return;
    this.#retentionTimer = this.#clock.setTimeout(() => {
      this.prune().then(
        () => this.#scheduleRetention(this.#retention!.everyMs),
        (error: unknown) => {
          this.#logger.warn('Pruning finished runs failed; it is tried again later', {
            error: errorMessage(error),
          });
          this.#scheduleRetention(this.#retention!.everyMs);
        },
      );
    }, ms);
  }

  /**
   * Prunes the journals of finished runs past the retention policy (or `policy`): the oldest
   * beyond `keepFinished`, and any that ended more than `maxAgeMs` ago. A pruned run keeps its
   * start and end records (result, error, and the journal's final head); `get` shows no steps.
   */
  async prune(policy: RunRetention = {}): Promise<{ runs: number; records: number }> {
    const maxAgeMs = policy.maxAgeMs ?? this.#retention?.maxAgeMs ?? Infinity;
    const keep = policy.keepFinished ?? this.#retention?.keepFinished ?? Infinity;
    const now = this.#clock.now();
    const finished = [...this.#runs.values()].filter(
      (r) => r.ended !== undefined && r.pruned !== true,
    );
    finished.sort((a, b) => b.ended!.atMs - a.ended!.atMs);
    let runs = 0;
    let records = 0;
    for (let i = 0; i < finished.length; i++) {
      const run = finished[i]!;
      const ended = run.ended!;
      if (i < keep && now - ended.atMs <= maxAgeMs) continue;
      if (this.#closed) break;
      const removed = await this.#log.prune(journalStream(run.id), ended.journal.seq);
      try {
        const [stored] = await this.#index.append([
          { type: 'run.pruned', id: run.id, agent: run.agent, removed, atMs: this.#clock.now() },
        ]);
        this.#apply(stored!);
      } catch (error) {
        if (!(error instanceof KernelError && error.code === 'CONFLICT')) throw error;
        run.pruned = true; // another kernel pruned it first
      }
      this.#journals.delete(run.id);
      runs++;
      records += removed;
    }
    return { runs, records };
  }

  #apply(entry: StoredRunIndexEntry): void {
    if (entry.type === 'run.started') {
      if (this.#runs.has(entry.id)) return;
      this.#runs.set(entry.id, {
        id: entry.id,
        agent: entry.agent,
        version: entry.version,
        owner: entry.owner,
        startedAtMs: entry.atMs,
        status: 'pending',
        priority: entry.priority ?? 0,
        limitKey: entry.limitKey,
        order: entry.seq,
        admitted: false,
        dirty: false,
        waiters: [],
        gen: 0,
        tenant: entry.tenant,
        config: entry.config,
        resumes: 0,
        resumeLog: [],
        recovery: [],
        reopens: [],
        forkOf: entry.forkOf,
        rerunOf: entry.rerunOf,
        forks: [],
        ...(entry.traceparent === undefined
          ? {}
          : {
              trace: {
                traceparent: entry.traceparent,
                tracestate: entry.tracestate,
                parent: entry.parent,
              },
            }),
      });
      if (entry.forkOf !== undefined) this.#runs.get(entry.forkOf.runId)?.forks.push(entry.id);
      this.#changed(this.#runs.get(entry.id)!);
      return;
    }
    const run = this.#runs.get(entry.id);
    if (run === undefined) return;
    if (entry.type === 'run.pruned') {
      run.pruned = true;
      return;
    }
    if (entry.type === 'run.recovery') {
      this.#applyRecovery(run, entry);
      return;
    }
    if (entry.type === 'run.reopened') {
      if (entry.n === run.reopens.length + 1) run.reopens.push(entry);
      return;
    }
    if (entry.type === 'run.resumed') {
      if (entry.n !== run.resumes + 1 || run.ended === undefined) return;
      run.parkedOn = undefined;
      run.resumes = entry.n;
      run.resumeLog.push(entry);
      if (entry.config !== undefined) run.config = entry.config;
      run.ended = undefined;
      run.resultOnLog = false;
      run.status = 'pending';
      run.suspension = undefined;
      run.admitted = false; // a resumed run takes its limit slots again
      this.#changed(run);
      this.#resumeIfMine(run);
      return;
    }
    if (run.ended !== undefined) return;
    if (entry.type === 'run.ended' && (entry.n ?? 0) !== run.resumes) return; // an earlier end
    if (entry.type === 'run.owner') {
      if (entry.gen <= run.gen) return;
      const lost = run.owner === this.#owner && entry.owner !== this.#owner;
      run.owner = entry.owner;
      run.gen = entry.gen;
      if (lost) {
        // Fenced: another kernel took the run over; stop executing it here.
        run.execution?.abort(
          new KernelError('CONFLICT', `Run ${run.id} was taken over by ${entry.owner}`),
        );
        run.execution = undefined;
        run.suspension = undefined;
        run.status = 'pending';
      }
      this.#changed(run);
      this.#resumeIfMine(run);
      return;
    }
    if (entry.type === 'run.nudge') {
      if (run.owner === this.#owner) this.#wake(run);
      return;
    }
    this.#finish(run, entry);
  }

  #finish(run: RunState, ended: Extract<RunIndexEntry, { type: 'run.ended' }>): void {
    run.resultOnLog = ended.result !== undefined && ended.result.length > INLINE_RESULT_CHARS;
    run.ended = run.resultOnLog ? { ...ended, result: undefined } : ended;
    run.status = ended.status;
    this.#tracer?.forget(run.id);
    run.suspension = undefined;
    run.execution?.abort(new KernelError('RUN_CANCELLED', `Run ${run.id} ended: ${ended.status}`));
    run.execution = undefined;
    run.healing = ended.status === 'failed' && run.owner === this.#owner && this.#heals(run.agent);
    this.#changed(run);
    if (run.healing !== true) for (const w of run.waiters.splice(0)) w.done();
  }

  /** A self-healing note: parks an escalated run, settles one nothing more is tried for. */
  #applyRecovery(run: RunState, note: Extract<RunIndexEntry, { type: 'run.recovery' }>): void {
    if (note.n !== run.recovery.length + 1) return;
    run.recovery.push(note);
    if (run.ended?.status !== 'failed') return;
    if (note.action === 'escalate' && note.gate !== undefined) {
      run.parkedOn = note.gate;
      run.status = 'waiting';
      run.healing = true;
    } else if (note.action === 'rejected' || note.action === 'gave_up') {
      run.parkedOn = undefined;
      run.status = 'failed';
      run.healing = false;
      for (const w of run.waiters.splice(0)) w.done();
    } else return;
    this.#changed(run);
  }

  /**
   * Records self-healing's decision about a failed run (`run.recovery` on the index): for
   * `escalate` with a gate the run is parked (status `waiting`) until a resume; `rejected` and
   * `gave_up` leave it failed for good (its `wait` resolves).
   */
  async recordRecovery(
    id: string,
    note: Omit<
      Extract<RunIndexEntry, { type: 'run.recovery' }>,
      'type' | 'id' | 'agent' | 'n' | 'atMs'
    >,
  ): Promise<void> {
    this.#assertOpen();
    const run = this.#require(id);
    const entry: RunIndexEntry = {
      type: 'run.recovery',
      id,
      agent: run.agent,
      n: run.recovery.length + 1,
      ...note,
      atMs: this.#clock.now(),
    };
    const [stored] = await this.#index.append([entry]);
    this.#apply(stored!);
  }

  /** Whether self-healing claims a failure of `agent`'s runs (see `RunEngineOptions.heals`). */
  #heals(agent: string): boolean {
    try {
      return this.#healsAgent?.(agent) === true;
    } catch {
      return false;
    }
  }

  #resumeIfMine(run: RunState): void {
    if (run.ended !== undefined || run.execution !== undefined || run.owner !== this.#owner) return;
    if (run.suspension !== undefined) return;
    if (!this.#definitions.has(run.agent)) return;
    if (!run.admitted && this.#admission !== undefined) {
      const request: AdmissionRequest = {
        id: run.id,
        agent: run.agent,
        priority: run.priority,
        limitKey: run.limitKey,
        order: run.order,
      };
      if (this.#admission.limited(request)) {
        if (run.status === 'queued') return;
        run.status = 'queued';
        this.#changed(run);
        this.#admission.enqueue(request, (id) => this.#admit(id));
        return;
      }
    }
    run.admitted = true;
    this.#execute(run);
  }

  #admit(id: string): void {
    const run = this.#runs.get(id);
    if (run === undefined || run.ended !== undefined || this.#closed) return;
    run.admitted = true;
    if (run.status === 'queued') run.status = 'pending';
    this.#resumeIfMine(run);
  }

  /** Whether the run has ended (or is unknown here). */
  hasEnded(id: string): boolean {
    const run = this.#runs.get(id);
    return run === undefined || run.ended !== undefined;
  }

  /** Calls `listener` whenever a run changes status here (started, suspended, resumed, ended). */
  onStatus(listener: (run: RunSummary) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(run: RunState): void {
    if (this.#listeners.size === 0) return;
    const summary = this.#summary(run);
    for (const l of this.#listeners) {
      try {
        l(summary);
      } catch (error) {
        this.#logger.warn('A run status listener threw', { error: errorMessage(error) });
      }
    }
  }

  /** Defines (or redefines) an agent; its unfinished runs owned here resume. */
  define<I, O>(definition: AgentDefinition<I, O>): void {
    if (typeof definition !== 'object' || definition === null) {
      throw new KernelError('INVALID_ARGUMENT', 'define needs { name, run }');
    }
    if (
      typeof definition.name !== 'string' ||
      !/^[A-Za-z0-9][\w.-]{0,127}$/.test(definition.name)
    ) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `An agent name is 1-128 letters, digits, '.', '_' or '-', got ${JSON.stringify(definition.name)}`,
      );
    }
    if (typeof definition.run !== 'function') {
      throw new KernelError('INVALID_ARGUMENT', `Agent '${definition.name}' needs a run function`);
    }
    if (definition.version !== undefined && typeof definition.version !== 'string') {
      throw new KernelError('INVALID_ARGUMENT', `Agent '${definition.name}': version is a string`);
    }
    this.#definitions.set(definition.name, definition);
    if (!this.#opened) return;
    for (const run of this.#runs.values())
      if (run.agent === definition.name) this.#resumeIfMine(run);
  }

  /** The names of the defined agents. */
  definitions(): string[] {
    return [...this.#definitions.keys()];
  }

  /** Starts a run. With `id`, starting the same id again returns the existing run. */
  async start<O = unknown>(
    agent: string,
    input?: unknown,
    options: RunStartOptions = {},
  ): Promise<RunHandle<O>> {
    return this.#start<O>(agent, input, options, {});
  }

  async #start<O>(
    agent: string,
    input: unknown,
    options: RunStartOptions,
    link: {
      forkOf?: RunForkOf;
      rerunOf?: string;
      /** Journal records to write before the run is started (a fork's copied prefix). */
      prefix?: JournalEntry[];
    },
  ): Promise<RunHandle<O>> {
    this.#assertOpen();
    const parent = checkTraceHeaders(options.traceparent, options.tracestate, 'start');
    const { priority, limitKey } = options;
    if (options.id?.startsWith(SCHEDULED_RUN_PREFIX) === true && options.scheduled !== true) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `Run ids starting with '${SCHEDULED_RUN_PREFIX}' are reserved for schedules; choose another id, got ${JSON.stringify(options.id)}`,
      );
    }
    if (priority !== undefined && (!Number.isSafeInteger(priority) || Math.abs(priority) > 1e6)) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `priority is a whole number from -1000000 to 1000000 (higher starts first), got ${String(priority)}`,
      );
    }
    if (
      limitKey !== undefined &&
      (typeof limitKey !== 'string' || !/^[A-Za-z0-9][\w.:-]{0,127}$/.test(limitKey))
    ) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `limitKey is 1-128 letters, digits, '.', '_', ':' or '-' (e.g. 'openai'), got ${JSON.stringify(limitKey)}`,
      );
    }
    const definition = this.#definitions.get(agent);
    if (definition === undefined) {
      throw new KernelError(
        'UNKNOWN_AGENT',
        `No agent '${agent}' is defined here; define it with kernel.define({ name: '${agent}', run }) first`,
      );
    }
    const text = toJsonText(input ?? null, 'The run input') ?? 'null';
    const config = toJsonText(options.config, 'The run config');
    const tenant = checkTenant(options.tenant);
    if (options.id !== undefined && (typeof options.id !== 'string' || options.id === '')) {
      throw new KernelError('INVALID_ARGUMENT', 'A run id is a non-empty string');
    }
    const id = options.id ?? this.#ids();
    const existing = this.#runs.get(id);
    if (existing !== undefined) {
      // The same fork or rerun again (a retried request) finds it; another run's id is taken.
      const same =
        existing.forkOf?.runId === link.forkOf?.runId &&
        existing.forkOf?.fromStep === link.forkOf?.fromStep &&
        existing.rerunOf === link.rerunOf &&
        existing.agent === agent &&
        existing.tenant === tenant;
      if (!same) {
        throw new KernelError(
          'CONFLICT',
          `Run id ${id} is taken by another run; start this one with another id (or none)`,
        );
      }
      return this.#handle<O>(id);
    }
    if (link.prefix !== undefined && link.prefix.length > 0) {
      // The copied prefix first: the run never executes without it.
      const journal = this.#journal(id);
      if ((await journal.head()).seq === 0) await journal.append(link.prefix);
    }
    const atMs = this.#clock.now();
    const version = definition.version ?? '1';
    const entry: RunIndexEntry = {
      type: 'run.started',
      id,
      agent,
      version,
      input: text,
      owner: this.#owner,
      atMs,
      ...(priority === undefined || priority === 0 ? {} : { priority }),
      ...(limitKey === undefined ? {} : { limitKey }),
      ...(tenant === undefined ? {} : { tenant }),
      ...(config === undefined ? {} : { config }),
      ...(link.forkOf === undefined ? {} : { forkOf: link.forkOf }),
      ...(link.rerunOf === undefined ? {} : { rerunOf: link.rerunOf }),
      ...(parent === undefined || this.#tracer === undefined ? {} : { parent }),
      ...this.#tracer?.started({ id, agent, version, startedAtMs: atMs, parent }),
    };
    try {
      const [stored] = await this.#index.append([entry]);
      const created = !this.#runs.has(id);
      this.#apply(stored!);
      if (created && stored!.seq > 0 && link.prefix === undefined) {
        this.#runs.get(id)!.fresh = { input: text };
      }
      // Started here: its first execution is no reopening (a fork's copied prefix included).
      if (created) this.#executedHere.add(id);
    } catch (error) {
      this.#tracer?.forget(id);
      if (!(error instanceof KernelError && error.code === 'CONFLICT')) throw error;
      const stored = await this.#index.get(`${id}:started`);
      if (stored !== undefined) this.#apply(stored);
    }
    const run = this.#runs.get(id)!;
    this.#resumeIfMine(run);
    return this.#handle<O>(id);
  }

  #handle<O>(id: string): RunHandle<O> {
    return { id, result: () => this.#result<O>(id) };
  }

  /** The run's result from its end record (no journal read). */
  async #result<O>(id: string): Promise<O> {
    const run = this.#require(id);
    if (run.ended === undefined || run.healing === true) await this.#ended(run);
    const ended = run.ended!;
    if (ended.status === 'completed') return fromJsonText(await this.#resultText(run)) as O;
    if (ended.status === 'cancelled') {
      throw new KernelError(
        'RUN_CANCELLED',
        `Run ${id} was cancelled: ${ended.error?.message ?? ''}`,
      );
    }
    throw new KernelError(
      'RUN_FAILED',
      `Run ${id} failed: ${ended.error?.name ?? 'Error'}: ${ended.error?.message ?? 'unknown error'}`,
    );
  }

  /** The JSON text of a finished run's result: in memory, or read back from its end record. */
  async #resultText(run: RunState): Promise<string | undefined> {
    const ended = run.ended!;
    if (run.resultOnLog !== true) return ended.result;
    const stored = await this.#index.get(endedKey(run.id, ended.n ?? 0));
    if (stored?.type !== 'run.ended' || stored.result === undefined) {
      throw new KernelError(
        'CORRUPT_VALUE',
        `Run ${run.id}'s end record is missing from the run index; verify the log (kerno audit verify)`,
      );
    }
    return stored.result;
  }

  #ended(run: RunState, signal?: AbortSignal): Promise<void> {
    if (run.ended !== undefined && run.healing !== true) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = run.waiters.indexOf(waiter);
        if (i >= 0) run.waiters.splice(i, 1);
        reject(asError(signal?.reason));
      };
      const waiter = {
        done: (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: (error: unknown): void => {
          signal?.removeEventListener('abort', onAbort);
          reject(asError(error));
        },
      };
      if (signal?.aborted === true) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      run.waiters.push(waiter);
    });
  }

  async #inputOf(id: string): Promise<string> {
    const started = await this.#index.get(`${id}:started`);
    if (started?.type !== 'run.started') {
      throw new KernelError('NOT_FOUND', `Run ${id} has no start record in the run index`);
    }
    return started.input;
  }

  #journal(id: string): LogView<JournalEntry, StoredJournalEntry> {
    let view = this.#journals.get(id);
    if (view === undefined) {
      view = journalView(this.#log, id, () => this.#clock.now());
      this.#journals.set(id, view);
    }
    return view;
  }

  #execute(run: RunState): void {
    const definition = this.#definitions.get(run.agent);
    if (definition === undefined) return;
    run.status = 'running';
    run.suspension = undefined;
    run.dirty = false;
    this.#changed(run);
    const task = this.#drive(run, definition).finally(() => this.#inflight.delete(task));
    this.#inflight.add(task);
  }

  async #drive(run: RunState, definition: AgentDefinition<never, unknown>): Promise<void> {
    const journal = this.#journal(run.id);
    // The owner generation this execution runs under: its journal appends are fenced on the
    // next one, so once another kernel claims the run, nothing this execution writes commits.
    const gen = run.gen;
    let execution: RunExecution | undefined;
    try {
      // A run this kernel has just started has an empty journal and its input in hand: no reads.
      const fresh = run.fresh;
      run.fresh = undefined;
      const [entries, inputText]: [StoredJournalEntry[], string] =
        fresh !== undefined
          ? [[], fresh.input]
          : await Promise.all([readJournal(journal), this.#inputOf(run.id)]);
      if (run.ended !== undefined || this.#closed) return;
      if (fresh === undefined && !this.#executedHere.has(run.id))
        await this.#reopened(run, entries);
      else this.#executedHere.add(run.id);
      const fence =
        this.#leaseMs === undefined
          ? undefined
          : { unlessKey: { stream: RUN_INDEX_STREAM, key: ownerKey(run.id, gen + 1) } };
      const resumed = run.resumeLog[run.resumeLog.length - 1];
      if (
        resumed !== undefined &&
        !entries.some((e) => e.type === 'resumed' && e.n === resumed.n)
      ) {
        // The resume on the journal (who, why, which config), before anything it runs.
        const entry: JournalEntry = {
          type: 'resumed',
          key: String(resumed.n),
          n: resumed.n,
          by: resumed.by,
          ...(resumed.reason === undefined ? {} : { reason: resumed.reason }),
          ...(resumed.config === undefined ? {} : { config: resumed.config }),
          atMs: resumed.atMs,
        };
        try {
          entries.push(...(await journal.append([entry], fence)));
        } catch (error) {
          if (!(error instanceof KernelError && error.code === 'CONFLICT')) throw error;
        }
        if (run.ended !== undefined || this.#closed || run.resumes !== resumed.n) return;
      }
      const suspended: { s?: Suspension } = {};
      let resolveSuspend!: () => void;
      const suspendedP = new Promise<void>((resolve) => (resolveSuspend = resolve));
      execution = new RunExecution({
        runId: run.id,
        agent: run.agent,
        journal,
        entries,
        resumes: run.resumes,
        config: fromJsonText(run.config),
        host: {
          clock: this.#clock,
          holdMs: this.#holdMs,
          openApproval: (key, request) => this.#openApproval(key, run, request),
          approvalDecision: (gate) => this.#approvals?.decision(gate) ?? null,
          owns: () => run.owner === this.#owner && !this.#fenced,
          ...(this.#admission === undefined
            ? {}
            : {
                acquire: (limitKey: string, key: string, signal: AbortSignal) =>
                  this.#admission!.acquireStep(
                    limitKey,
                    { runId: run.id, key, priority: run.priority },
                    signal,
                  ),
              }),
          ...(this.#rules === undefined ? {} : this.#rulesHost(run)),
          ...(this.#bus === undefined ? {} : { publish: (event) => this.#publish(event) }),
          ...(this.#tracer === undefined ? {} : { trace: this.#tracer.execution(traced(run)) }),
          budget: this.#budgets?.hostFor({
            id: run.id,
            agent: run.agent,
            tenant: run.tenant ?? null,
          }),
          fence: () =>
            this.#leaseMs === undefined
              ? undefined
              : { stream: RUN_INDEX_STREAM, key: ownerKey(run.id, gen + 1) },
        },
        onSuspend: (s) => {
          suspended.s = s;
          resolveSuspend();
        },
      });
      run.execution = execution;
      const input = fromJsonText(inputText) as never;
      const outcome = await Promise.race([
        Promise.resolve()
          .then(() => definition.run(execution!, input))
          .then(
            (value) => ({ kind: 'returned' as const, value }),
            (error: unknown) => ({ kind: 'threw' as const, error }),
          ),
        suspendedP.then(() => ({ kind: 'suspended' as const })),
        aborted(execution.signal).then(() => ({ kind: 'aborted' as const })),
      ]);
      if (run.execution !== execution || run.ended !== undefined || this.#closed) return;
      run.execution = undefined;
      if (outcome.kind === 'aborted' && suspended.s === undefined) return;
      if (outcome.kind === 'suspended' || outcome.kind === 'aborted') {
        this.#suspend(run, suspended.s!);
        return;
      }
      if (outcome.kind === 'returned') {
        let text: string | undefined;
        try {
          text = toJsonText(outcome.value, `The result of run ${run.id}`);
        } catch (error) {
          await this.#end(run, 'failed', undefined, recordError(error), execution.head);
          return;
        }
        await this.#end(run, 'completed', text, undefined, execution.head);
        return;
      }
      // A budget stopped the run (its raise was rejected): cancelled, not failed.
      const status = outcome.error instanceof BudgetExceededError ? 'cancelled' : 'failed';
      await this.#end(run, status, undefined, recordError(outcome.error), execution.head);
    } catch (error) {
      if (run.execution === execution) run.execution = undefined;
      if (this.#closed || run.ended !== undefined) return;
      // The journal or index could not be read or written: the run is not lost, it resumes on
      // the next open (or the next wake-up).
      run.status = 'pending';
      this.#changed(run);
      this.#logger.error('A durable run stopped on a storage error; it is tried again in 1 s', {
        run: run.id,
        agent: run.agent,
        error: errorMessage(error),
      });
      // The journal keeps what it finished: try again (a store that is still down fails again).
      this.#clock.setTimeout(() => {
        if (!this.#closed) this.#resumeIfMine(run);
      }, 1000);
    }
  }

  /**
   * The first execution here of a run that has a journal (after a restart, a crash, a takeover):
   * a `run.reopened` note with the journal's head, so the run shows what replayed and what ran.
   */
  async #reopened(run: RunState, entries: readonly StoredJournalEntry[]): Promise<void> {
    this.#executedHere.add(run.id);
    const last = entries[entries.length - 1];
    if (last === undefined) return;
    const entry: RunIndexEntry = {
      type: 'run.reopened',
      id: run.id,
      agent: run.agent,
      n: run.reopens.length + 1,
      owner: this.#owner,
      journalSeq: last.seq,
      atMs: this.#clock.now(),
    };
    try {
      const [stored] = await this.#index.append([entry]);
      this.#apply(stored!);
    } catch (error) {
      // Only the run view's replay markers are lost: the run goes on.
      this.#logger.warn('Could not record that a run was reopened', {
        run: run.id,
        error: errorMessage(error),
      });
    }
  }

  #publish(event: KernelEvent): void {
    try {
      this.#bus?.publish(event);
    } catch (error) {
      this.#logger.warn('A run step event could not be published', {
        event: event.type,
        error: errorMessage(error),
      });
    }
  }

  #rulesHost(run: RunState): Pick<ExecutionHost, 'authorize' | 'authorizeOutcome'> {
    const rules = this.#rules!;
    const who = { id: run.id, agent: run.agent, tenant: run.tenant };
    return {
      authorize: (request, step) => rules.decide(who, request, step),
      authorizeOutcome: async (request, decision, outcome) =>
        rules.outcome?.(who, request, decision, outcome),
    };
  }

  async #openApproval(
    key: string,
    run: RunState,
    request: RunApprovalRequest,
  ): Promise<{ gate: string; decision: RunApprovalDecision | null }> {
    if (this.#approvals === undefined) {
      throw new KernelError(
        'SERVICE_UNAVAILABLE',
        'This kernel has no approval gate; open it with createKernel to use ctx.requestApproval',
      );
    }
    return this.#approvals.open(key, { id: run.id, agent: run.agent, tenant: run.tenant }, request);
  }

  #suspend(run: RunState, s: Suspension): void {
    run.suspension = s;
    if (s.kind === 'retry') {
      run.suspension = s;
      run.status = 'pending';
      this.#logger.error('A durable run could not write its journal; it is tried again in 1 s', {
        run: run.id,
        agent: run.agent,
        error: s.error,
      });
      this.#changed(run);
      this.#schedule(run.id, s.atMs);
      return;
    }
    run.status = s.kind === 'sleep' ? 'sleeping' : 'waiting';
    this.#changed(run);
    if (s.kind === 'sleep') this.#schedule(run.id, s.wakeAtMs);
    else if (s.kind === 'wait' && s.deadlineMs !== null) this.#schedule(run.id, s.deadlineMs);
    else if (s.kind === 'approval' && this.#approvals?.decision(s.gate) != null) run.dirty = true;
    if (run.dirty) this.#wake(run);
  }

  #wake(run: RunState): void {
    if (run.ended !== undefined || this.#closed) return;
    if (run.execution !== undefined) {
      run.dirty = true;
      return;
    }
    if (run.owner !== this.#owner) return;
    if (!run.admitted && this.#admission !== undefined) {
      this.#resumeIfMine(run);
      return;
    }
    this.#execute(run);
  }

  #schedule(id: string, atMs: number): void {
    const list = this.#wakeups;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.atMs <= atMs) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, { atMs, id });
    this.#arm();
  }

  #arm(): void {
    const next = this.#wakeups[0];
    if (next === undefined || this.#closed) return;
    if (this.#timer !== undefined && this.#timerAt <= next.atMs) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = next.atMs;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next.atMs - this.#clock.now()));
    this.#timer = this.#clock.setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#clock.now();
    let due = 0;
    while (due < this.#wakeups.length && this.#wakeups[due]!.atMs <= now) due++;
    const fired = this.#wakeups.splice(0, due);
    for (const { id, atMs } of fired) {
      const run = this.#runs.get(id);
      const s = run?.suspension;
      if (run === undefined || s === undefined) continue;
      const at =
        s.kind === 'sleep'
          ? s.wakeAtMs
          : s.kind === 'wait'
            ? s.deadlineMs
            : s.kind === 'retry'
              ? s.atMs
              : null;
      if (at === atMs) this.#wake(run);
    }
    this.#arm();
  }

  async #end(
    run: RunState,
    status: 'completed' | 'failed' | 'cancelled',
    result: string | undefined,
    error: RecordedError | undefined,
    known?: { seq: number; hash: string },
  ): Promise<void> {
    const head = known ?? (await this.#journal(run.id).head());
    const entry: RunIndexEntry = {
      type: 'run.ended',
      id: run.id,
      agent: run.agent,
      status,
      ...(result === undefined ? {} : { result }),
      ...(error === undefined ? {} : { error }),
      journal: { seq: head.seq, hash: head.hash },
      atMs: this.#clock.now(),
      ...(run.resumes === 0 ? {} : { n: run.resumes }),
    };
    try {
      const [stored] = await this.#index.append([entry]);
      this.#tracer?.ended(traced(run), status, error, entry.atMs);
      this.#apply(stored!);
    } catch (e) {
      if (!(e instanceof KernelError && e.code === 'CONFLICT')) throw e;
      const stored = await this.#index.get(endedKey(run.id, run.resumes));
      if (stored !== undefined) this.#apply(stored);
    }
  }

  /** Sends a durable signal into a run (queued until a `waitForSignal` takes it). */
  async signal(
    id: string,
    name: string,
    payload?: unknown,
    options: { id?: string } = {},
  ): Promise<void> {
    this.#assertOpen();
    const run = this.#require(id);
    if (typeof name !== 'string' || name === '') {
      throw new KernelError('INVALID_ARGUMENT', 'A signal needs a non-empty name');
    }
    if (run.ended !== undefined) {
      throw new KernelError(
        'ILLEGAL_TRANSITION',
        `Run ${id} has already ended (${run.ended.status}); only a running or waiting run takes signals`,
      );
    }
    const text = toJsonText(payload, `The payload of signal '${name}'`);
    const key = options.id ?? this.#ids();
    const journal = this.#journal(id);
    try {
      await journal.append([
        {
          type: 'signal',
          key,
          name,
          ...(text === undefined ? {} : { payload: text }),
          atMs: this.#clock.now(),
        },
      ]);
    } catch (error) {
      // The same signal id again (a retried request): delivered once, unless it says otherwise.
      if (!(error instanceof KernelError && error.code === 'CONFLICT')) throw error;
      const stored = await journal.get(`signal:${key}`);
      if (stored?.type !== 'signal' || stored.name !== name || stored.payload !== text) {
        throw new KernelError(
          'CONFLICT',
          `Signal id ${key} was already sent to run ${id} with another name or payload; use a new id`,
        );
      }
      return;
    }
    if (run.owner === this.#owner) this.#wake(run);
    else {
      await this.#index.append([
        { type: 'run.nudge', id, agent: run.agent, atMs: this.#clock.now() },
      ]);
    }
  }

  async cancel(id: string, reason = 'cancelled'): Promise<RunSummary> {
    this.#assertOpen();
    const run = this.#require(id);
    if (run.ended === undefined) {
      await this.#end(run, 'cancelled', undefined, { name: 'RunCancelled', message: reason });
    }
    return this.#summary(run);
  }

  async resume(id: string, options: RunResumeOptions = {}): Promise<RunSummary> {
    this.#assertOpen();
    const run = this.#require(id);
    if (typeof options !== 'object' || options === null) {
      throw new KernelError('INVALID_ARGUMENT', 'resume options are { config?, reason?, by? }');
    }
    if (run.ended === undefined || run.ended.status === 'completed') {
      throw new KernelError(
        'ILLEGAL_TRANSITION',
        `Run ${id} is ${run.status}; only a failed or cancelled run resumes — rerun or fork a completed one`,
      );
    }
    if (run.pruned === true) {
      throw new KernelError(
        'ILLEGAL_TRANSITION',
        `Run ${id}'s journal was removed by retention, so it cannot resume; rerun it instead`,
      );
    }
    const reason = optionalText(options.reason, 'reason', 1000);
    const by = optionalText(options.by, 'by', 200) ?? 'library';
    const config = toJsonText(options.config, 'The resume config');
    const n = run.resumes + 1;
    const entry: RunIndexEntry = {
      type: 'run.resumed',
      id,
      agent: run.agent,
      n,
      by,
      ...(reason === undefined ? {} : { reason }),
      ...(config === undefined ? {} : { config }),
      atMs: this.#clock.now(),
    };
    try {
      const [stored] = await this.#index.append([entry]);
      this.#apply(stored!);
    } catch (error) {
      if (!(error instanceof KernelError && error.code === 'CONFLICT')) throw error;
      throw new KernelError(
        'CONFLICT',
        `Run ${id} was resumed by someone else at the same time; look at it with kernel.runs.get('${id}')`,
      );
    }
    return this.#summary(run);
  }

  async fork(id: string, options: RunForkOptions): Promise<RunHandle> {
    this.#assertOpen();
    const parent = this.#require(id);
    if (typeof options !== 'object' || options === null) {
      throw new KernelError('INVALID_ARGUMENT', 'fork needs { fromStep, config?, input? }');
    }
    if (parent.pruned === true) {
      throw new KernelError(
        'ILLEGAL_TRANSITION',
        `Run ${id}'s journal was removed by retention, so it cannot be forked; rerun it instead`,
      );
    }
    const entries = await readJournal(this.#journal(id));
    const { fromStep, prefix } = forkPrefix(id, entries, parent.resumes, options.fromStep);
    const input =
      options.input !== undefined ? options.input : fromJsonText(await this.#inputOf(id));
    const config = options.config !== undefined ? options.config : fromJsonText(parent.config);
    return this.#start(
      parent.agent,
      input,
      {
        ...(options.id === undefined ? {} : { id: options.id }),
        ...(parent.tenant === undefined ? {} : { tenant: parent.tenant }),
        ...(config === undefined ? {} : { config }),
        // The same limits as the parent: a fork or rerun does not escape them.
        ...(parent.priority === 0 ? {} : { priority: parent.priority }),
        ...(parent.limitKey === undefined ? {} : { limitKey: parent.limitKey }),
        ...(options.traceparent === undefined ? {} : { traceparent: options.traceparent }),
        ...(options.tracestate === undefined ? {} : { tracestate: options.tracestate }),
      },
      { forkOf: { runId: id, fromStep }, prefix },
    );
  }

  async rerun(
    id: string,
    options: { id?: string; traceparent?: string; tracestate?: string } = {},
  ): Promise<RunHandle> {
    this.#assertOpen();
    const parent = this.#require(id);
    const input = fromJsonText(await this.#inputOf(id));
    const config = fromJsonText(parent.config);
    return this.#start(
      parent.agent,
      input,
      {
        ...(options.id === undefined ? {} : { id: options.id }),
        ...(parent.tenant === undefined ? {} : { tenant: parent.tenant }),
        ...(config === undefined ? {} : { config }),
        // The same limits as the parent: a fork or rerun does not escape them.
        ...(parent.priority === 0 ? {} : { priority: parent.priority }),
        ...(parent.limitKey === undefined ? {} : { limitKey: parent.limitKey }),
        ...(options.traceparent === undefined ? {} : { traceparent: options.traceparent }),
        ...(options.tracestate === undefined ? {} : { tracestate: options.tracestate }),
      },
      { rerunOf: id },
    );
  }

  #require(id: string): RunState {
    const run = this.#runs.get(id);
    if (run === undefined) {
      throw new KernelError('NOT_FOUND', `No run ${id}; list the runs with kernel.runs.list()`);
    }
    return run;
  }

  #summary(run: RunState): RunSummary {
    return {
      id: run.id,
      agent: run.agent,
      version: run.version,
      status: run.status,
      owner: run.owner,
      startedAt: new Date(run.startedAtMs).toISOString(),
      ...(run.priority === 0 ? {} : { priority: run.priority }),
      ...(run.limitKey === undefined ? {} : { limitKey: run.limitKey }),
      ...(run.ended === undefined ? {} : { endedAt: new Date(run.ended.atMs).toISOString() }),
      ...(run.ended?.error === undefined ? {} : { error: run.ended.error }),
      ...(run.tenant === undefined ? {} : { tenant: run.tenant }),
      ...(run.resumes === 0 ? {} : { resumeCount: run.resumes }),
      ...(run.forkOf === undefined ? {} : { forkOf: run.forkOf }),
      ...(run.rerunOf === undefined ? {} : { rerunOf: run.rerunOf }),
      ...(run.forks.length === 0 ? {} : { forkCount: run.forks.length }),
    };
  }

  find(id: string): RunSummary | undefined {
    const run = this.#runs.get(id);
    return run === undefined ? undefined : this.#summary(run);
  }

  list(query: RunListQuery = {}): RunSummary[] {
    const statuses =
      query.status === undefined
        ? undefined
        : new Set<RunStatus>(typeof query.status === 'string' ? [query.status] : query.status);
    const limit = query.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `limit must be a positive integer, got ${String(limit)}`,
      );
    }
    const q = query.q?.toLowerCase();
    const out: RunSummary[] = [];
    const all = [...this.#runs.values()];
    let i = all.length - 1;
    if (query.before !== undefined) {
      // The index order (runs start in it once) is stable under inserts: a page resumes after
      // its last run whatever started since.
      while (i >= 0 && all[i]!.id !== query.before) i--;
      if (i < 0) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          `No run ${query.before} to page from; pass the nextCursor of the previous page`,
        );
      }
      i--;
    }
    for (; i >= 0 && out.length < limit; i--) {
      const run = all[i]!;
      if (query.agent !== undefined && run.agent !== query.agent) continue;
      if (statuses !== undefined && !statuses.has(run.status)) continue;
      if (query.tenant !== undefined && run.tenant !== query.tenant) continue;
      if (query.sinceMs !== undefined && run.startedAtMs < query.sinceMs) continue;
      if (query.untilMs !== undefined && run.startedAtMs >= query.untilMs) continue;
      if (
        q !== undefined &&
        !run.id.toLowerCase().includes(q) &&
        !run.agent.toLowerCase().includes(q)
      ) {
        continue;
      }
      out.push(this.#summary(run));
    }
    return out;
  }

  async get(id: string): Promise<RunInfo> {
    const run = this.#require(id);
    const [started, entries] = await Promise.all([
      this.#index.get(`${id}:started`),
      readJournal(this.#journal(id)),
    ]);
    const steps: RunStepInfo[] = [];
    const stepSeqs: number[] = [];
    // A fork's copied steps are the records before its first live step's call.
    const firstLive =
      run.forkOf === undefined
        ? undefined
        : entries.find(
            (e) =>
              (e.type === 'step' || e.type === 'step.failed') && e.key === run.forkOf!.fromStep,
          );
    const copiedBefore = run.forkOf === undefined ? -1 : (firstLive?.seq ?? Infinity);
    for (const e of entries) {
      if (e.type !== 'step' && e.type !== 'step.failed') continue;
      const resume = e.resume ?? 0;
      stepSeqs.push(e.seq);
      steps.push({
        key: e.key,
        status: e.type === 'step' ? 'completed' : 'failed',
        attempts: e.attempts,
        atMs: e.atMs,
        ...(e.startedAtMs === undefined
          ? {}
          : { startedAtMs: e.startedAtMs, durationMs: Math.max(0, e.atMs - e.startedAtMs) }),
        resume,
        ...(e.type === 'step.failed' && resume < run.resumes ? { superseded: true } : {}),
        ...(e.seq < copiedBefore ? { copied: true } : {}),
        ...(e.type === 'step' && e.usage !== undefined ? { usage: e.usage } : {}),
        ...(e.type === 'step'
          ? e.result === undefined
            ? {}
            : { result: fromJsonText(e.result) }
          : { error: e.error }),
      });
    }
    const usage = { tokens: 0, costMicrodollars: 0, stepsRan: 0, stepsCopied: 0 };
    for (const st of steps) {
      if (st.copied === true) {
        usage.stepsCopied++;
        continue;
      }
      usage.stepsRan++;
      usage.tokens += st.usage?.tokens ?? 0;
      usage.costMicrodollars += st.usage?.costMicrodollars ?? 0;
    }
    const resumes: RunResumeInfo[] = run.resumeLog.map((r) => ({
      n: r.n,
      by: r.by,
      ...(r.reason === undefined ? {} : { reason: r.reason }),
      ...(r.config === undefined ? {} : { config: fromJsonText(r.config) }),
      at: new Date(r.atMs).toISOString(),
      replayed: steps
        .filter((st) => st.resume < r.n && st.status === 'completed')
        .map((st) => st.key),
      ran: steps.filter((st) => st.resume === r.n).map((st) => st.key),
    }));
    // A run not executing here (another kernel's, or read by a kernel without agents): where
    // its journal shows it stopped to wait.
    const s: Suspension | undefined =
      run.parkedOn !== undefined
        ? { kind: 'approval', gate: run.parkedOn }
        : (run.suspension ??
          (run.ended === undefined && run.execution === undefined ? lastWait(entries) : undefined));
    const waitingFor: RunWait | undefined =
      s === undefined
        ? undefined
        : s.kind === 'sleep'
          ? { kind: 'sleep', until: new Date(s.wakeAtMs).toISOString() }
          : s.kind === 'wait'
            ? {
                kind: 'signal',
                name: s.name,
                until: s.deadlineMs === null ? null : new Date(s.deadlineMs).toISOString(),
              }
            : s.kind === 'approval'
              ? { kind: 'approval', gate: s.gate }
              : undefined;
    const ended = run.ended;
    const resultText = ended?.status === 'completed' ? await this.#resultText(run) : undefined;
    const summary = this.#summary(run);
    return {
      ...summary,
      ...(s !== undefined && run.suspension === undefined && summary.status === 'pending'
        ? { status: s.kind === 'sleep' ? ('sleeping' as const) : ('waiting' as const) }
        : {}),
      input: started?.type === 'run.started' ? fromJsonText(started.input) : null,
      ...(resultText === undefined ? {} : { result: fromJsonText(resultText) }),
      steps,
      ...(waitingFor === undefined ? {} : { waitingFor }),
      ...(run.config === undefined ? {} : { config: fromJsonText(run.config) }),
      resumes,
      forks: [...run.forks],
      usage,
      durationMs: Math.max(0, (run.ended?.atMs ?? this.#clock.now()) - run.startedAtMs),
      ...(run.reopens.length === 0
        ? {}
        : {
            reopens: run.reopens.map((r, i) => {
              const until = run.reopens[i + 1]?.journalSeq ?? Infinity;
              return {
                n: r.n,
                owner: r.owner,
                at: new Date(r.atMs).toISOString(),
                replayed: steps
                  .filter((st, j) => stepSeqs[j]! <= r.journalSeq && st.status === 'completed')
                  .map((st) => st.key),
                ran: steps
                  .filter((_, j) => stepSeqs[j]! > r.journalSeq && stepSeqs[j]! <= until)
                  .map((st) => st.key),
              };
            }),
          }),
      ...(run.recovery.length === 0
        ? {}
        : {
            recovery: run.recovery.map((r) => ({
              n: r.n,
              action: r.action,
              ...(r.step === undefined ? {} : { step: r.step }),
              ...(r.failureClass === undefined ? {} : { failureClass: r.failureClass }),
              rationale: r.rationale,
              recoveryRunId: r.recoveryRunId,
              ...(r.gate === undefined ? {} : { gate: r.gate }),
              ...(r.by === undefined ? {} : { by: r.by }),
              at: new Date(r.atMs).toISOString(),
            })),
          }),
      journalLength: entries.length,
      ...(run.pruned === true ? { journalPruned: true } : {}),
      ...(run.status === 'queued' && this.#admission?.positionOf !== undefined
        ? { queue: this.#admission.positionOf(run.id) }
        : {}),
    };
  }

  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<RunInfo> {
    const run = this.#require(id);
    await this.#ended(run, options.signal);
    return this.get(id);
  }

  #assertOpen(): void {
    if (this.#closed) throw new KernelError('CLOSED', 'The kernel is closed');
    if (!this.#opened) throw new KernelError('CLOSED', 'The run engine is not open yet');
  }

  /**
   * Stops: executions in flight are abandoned where they stand (their journal keeps what they
   * finished; they resume on the next open), timers are cleared, pending `wait`s reject.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#follow.abort();
    this.#detachApprovals?.();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    if (this.#retentionTimer !== undefined) this.#clock.clearTimeout(this.#retentionTimer);
    if (this.#leaseTimer !== undefined) this.#clock.clearTimeout(this.#leaseTimer);
    const closed = new KernelError(
      'CLOSED',
      'The kernel closed; the run resumes when it opens again',
    );
    for (const run of this.#runs.values()) {
      run.execution?.abort(closed);
      run.execution = undefined;
      for (const w of run.waiters.splice(0)) w.fail(closed);
    }
    await Promise.allSettled([...this.#inflight]);
  }
}

/** A run as its tracer is told about it. */
function traced(run: RunState): TracedRun {
  return {
    id: run.id,
    agent: run.agent,
    version: run.version,
    startedAtMs: run.startedAtMs,
    trace:
      run.trace?.traceparent === undefined
        ? undefined
        : {
            traceparent: run.trace.traceparent,
            ...(run.trace.tracestate === undefined ? {} : { tracestate: run.trace.tracestate }),
          },
    parent: run.trace?.parent,
  };
}

/** The wait the journal's last call left open, if any. */
function lastWait(entries: readonly StoredJournalEntry[]): Suspension | undefined {
  let last: Exclude<StoredJournalEntry, { type: 'signal' | 'resumed' }> | undefined;
  let resolved = false;
  for (const e of entries) {
    if (e.type === 'signal' || e.type === 'resumed') continue;
    if (last === undefined || e.call > last.call) {
      last = e;
      resolved = false;
    } else if (e.call === last.call && (e.type === 'wait.done' || e.type === 'approval.done')) {
      resolved = true;
    }
  }
  if (last === undefined || resolved) return undefined;
  if (last.type === 'sleep') return { kind: 'sleep', wakeAtMs: last.wakeAtMs };
  if (last.type === 'wait') return { kind: 'wait', name: last.name, deadlineMs: last.deadlineMs };
  if (last.type === 'approval') return { kind: 'approval', gate: last.gate };
  return undefined;
}

function checkTenant(tenant: unknown): string | undefined {
  if (tenant === undefined) return undefined;
  if (typeof tenant !== 'string' || tenant === '' || tenant.length > 200) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `A run's tenant is a string of 1-200 characters, got ${JSON.stringify(tenant)}`,
    );
  }
  return tenant;
}

function optionalText(value: unknown, what: string, max: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || value.length > max) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `${what} is a string of 1-${String(max)} characters, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The steps a run's journal shows, in call order: a superseded failure is left out. */
function currentSteps(
  entries: readonly StoredJournalEntry[],
  resumes: number,
): Extract<StoredJournalEntry, { type: 'step' | 'step.failed' }>[] {
  const byCall = new Map<number, Extract<StoredJournalEntry, { type: 'step' | 'step.failed' }>>();
  for (const e of entries) {
    if (e.type !== 'step' && e.type !== 'step.failed') continue;
    if (e.type === 'step.failed' && (e.resume ?? 0) < resumes) continue;
    if (!byCall.has(e.call)) byCall.set(e.call, e);
  }
  return [...byCall.values()].sort((a, b) => a.call - b.call);
}

/**
 * The journal a fork of a run from `fromStep` starts with: every record of a call before that
 * step's (superseded failures left out, later resumes' steps under their plain keys), and the
 * signals its waits took (renumbered for the new journal).
 */
export function forkPrefix(
  runId: string,
  entries: readonly StoredJournalEntry[],
  resumes: number,
  fromStep: unknown,
): { fromStep: string; prefix: JournalEntry[] } {
  const steps = currentSteps(entries, resumes);
  const named = steps.map((e) => e.key);
  const valid =
    named.length === 0
      ? 'it has no recorded steps yet'
      : `its steps are ${named.map((k, i) => `${String(i)}: ${JSON.stringify(k)}`).join(', ')}`;
  let target: (typeof steps)[number] | undefined;
  if (typeof fromStep === 'number' && Number.isSafeInteger(fromStep) && fromStep >= 0) {
    target = steps[fromStep];
  } else if (typeof fromStep === 'string' && fromStep !== '') {
    target = steps.find((e) => e.key === fromStep);
  } else {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `fromStep is a step key or a 0-based step position; for run ${runId} ${valid}`,
    );
  }
  if (target === undefined) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `Run ${runId} has no step ${JSON.stringify(fromStep)}; ${valid}`,
    );
  }
  const signals = new Map<number, StoredJournalEntry>();
  for (const e of entries) if (e.type === 'signal') signals.set(e.seq, e);
  const prefix: JournalEntry[] = [];
  const superseded = supersededBudgetGates(entries);
  const strip = <T extends StoredJournalEntry>(e: T): JournalEntry => {
    const { seq: _seq, hash: _hash, ...rest } = e;
    return rest as unknown as JournalEntry;
  };
  for (const e of entries) {
    if (e.type === 'signal' || e.type === 'resumed') continue;
    if (e.call >= target.call) continue;
    if (e.type === 'step.failed' && (e.resume ?? 0) < resumes) continue;
    if ((e.type === 'approval' || e.type === 'approval.done') && superseded.has(e.key)) continue;
    if (e.type === 'step' || e.type === 'step.failed') {
      const { resume: _r, ...plain } = strip(e) as Extract<
        JournalEntry,
        { type: 'step' | 'step.failed' }
      >;
      prefix.push(plain);
      continue;
    }
    if (e.type === 'wait.done' && e.signal !== null) {
      const signal = signals.get(e.signal);
      if (signal === undefined) continue; // corrupt; the fork re-waits
      prefix.push(strip(signal));
      // Records are numbered from 1 in the fork's fresh journal, in this order.
      prefix.push({
        ...(strip(e) as Extract<JournalEntry, { type: 'wait.done' }>),
        signal: prefix.length,
      });
      continue;
    }
    prefix.push(strip(e));
  }
  return { fromStep: target.key, prefix };
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new KernelError('CLOSED', String(reason));
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** Creates (and opens) a run engine. */
export async function createRunEngine(options: RunEngineOptions): Promise<RunEngine> {
  const engine = new RunEngine(options);
  await engine.open();
  return engine;
}

/**
 * One execution of a durable run: the `ctx` an agent's `run` function gets. Every kernel call
 * (`step`, `sleep`, `waitForSignal`, `requestApproval`) takes the next *call position*; on a
 * replay the journal's record at that position answers it — a finished step returns its
 * recorded result without running again. A call that finds a different record at its position
 * fails the run with `NONDETERMINISM`, naming both.
 *
 * A run that must wait (a sleep longer than `holdMs`, a signal, an approval) is *suspended*: its
 * wait is on the journal, the call's promise never settles, and the execution is dropped, so a
 * waiting run holds no memory beyond its records. The engine runs the function again from the
 * top when the wait is over; the journal carries it back to where it stopped.
 *
 * @module
 */
import { KernelError } from '../errors.js';
import { deniedError, describe, type RuleApproval, type RuleDecision } from '../policies/rules.js';
import type { KernelEvent } from '../model/kernel-event.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { LogView } from '../storage/log-view.js';
import type { LogKeyRef } from '../storage/log.js';
import type { ExecutionTrace, StepTrace } from '../telemetry/telemetry.js';
import {
  fromJsonText,
  journalKey,
  recordError,
  supersededBudgetGates,
  toJsonText,
  type JournalEntry,
  type RecordedError,
  type StepUsage,
  type StoredJournalEntry,
} from './journal.js';

/** What a step's function is handed. */
export interface StepScope {
  /**
   * `<runId>:<stepKey>`: the same on every attempt and every replay. Pass it to the side effect
   * that must happen exactly once (a payment API's idempotency key, a unique row id).
   */
  readonly idempotencyKey: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Aborted when the step times out, the run is cancelled or the kernel closes. */
  readonly signal: AbortSignal;
  /**
   * The W3C trace context of this attempt's span when tracing is on: pass it on (an HTTP
   * `traceparent` header, a child process's `TRACEPARENT`) so the work shows under the step.
   */
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
}

/** How a step retries. */
export interface StepRetryPolicy {
  /** Attempts in all, the first included (default 1: no retry). */
  readonly attempts?: number;
  /** Wait before the second attempt (default 100 ms); multiplied by `factor` after each. */
  readonly backoffMs?: number;
  readonly factor?: number;
  /** Longest wait between attempts (default 30 s). */
  readonly maxBackoffMs?: number;
  /** Which errors are retried (default: all but the kernel's own typed errors). */
  readonly retryIf?: (error: unknown) => boolean;
}

/** Options for `ctx.step`. */
export interface StepOptions {
  /** An explicit step key (default: `<name>#<occurrence>`, so a step in a loop gets one per turn). */
  readonly key?: string;
  readonly retry?: StepRetryPolicy;
  /**
   * Take a slot (and a rate token) on this limit key before the step runs, e.g. `'openai'`: the
   * step waits while the key's `limit` policies are at their cap; the slot is freed once its
   * record is on the journal. A replayed step takes nothing.
   */
  readonly limitKey?: string;
  /** Fails the attempt with `TIMEOUT` after this many ms (its signal is aborted). */
  readonly timeoutMs?: number;
  /**
   * What the step spent, from its result (e.g. `(r) => ({ tokens: r.usage.total })`): recorded
   * with the step, summed per run (`kernel.runs.get(id).usage`) and compared between a run and
   * its forks. A replayed step spends nothing.
   */
  readonly usage?: (result: never) => StepUsage;
  /** The caller's W3C trace context: the step's span becomes its child (default: the run's). */
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
  /**
   * With `action`, `tool` or `resource`, the approval rules decide before the step's function
   * runs (as `ctx.authorize({ action: action ?? name, tool, resource })`): a deny throws
   * `DENIED`, an ask waits on a gate.
   */
  readonly action?: string;
  readonly tool?: string;
  readonly resource?: string;
}

/** What `ctx.authorize` asks the approval rules about. */
export interface RunAuthorizeRequest {
  readonly action: string;
  readonly tool?: string | undefined;
  readonly resource?: string | undefined;
}

/** An approval a run asks for. */
export interface RunApprovalRequest {
  readonly summary: string;
  readonly rationale?: string;
  readonly action?: string;
  readonly resource?: string;
  readonly tool?: string;
  /** Who decides, how many approvers, what a timeout does (from an `ask` rule). */
  readonly approval?: RuleApproval;
}

/** The decision a run gets back. */
export interface RunApprovalDecision {
  readonly approved: boolean;
  readonly reason: string | null;
  readonly decidedBy: string;
}

/** Usage an agent reports after calling a model (`ctx.reportUsage`). */
export interface RunUsageReport {
  readonly tokens?: number;
  /** Cost in micro-dollars (1 000 000 = $1.00). */
  readonly costMicros?: number;
  readonly model?: string;
}

/** A budget the run has reached, as the engine's budget hook reports it. */
export interface RunBudgetBreach {
  readonly budget: string;
  /** Plain words: "research spent $5.02 of its $5.00 daily budget". */
  readonly reason: string;
  /** `ask`: pause and open a raise-or-stop gate; `stop`: cancel the run. */
  readonly onBreach: 'ask' | 'stop';
}

/** The budget hooks of one run (`policies/budgets.ts` behind them). */
export interface RunBudgetHost {
  /** The first budget the run has reached, or `null` (synchronous: O(1) per budget). */
  check(): RunBudgetBreach | null;
  /** Opens (or finds, by key) the raise-or-stop gate. */
  open(
    key: string,
    breach: RunBudgetBreach,
  ): Promise<{ gate: string; decision: RunApprovalDecision | null }>;
  /** After an approved gate: raises the budget unless someone already did. */
  approved(gate: string): Promise<void>;
  /** Records usage in the ledger (idempotent by `eventId`). */
  report(usage: RunUsageReport, eventId: string): Promise<void>;
}

/** A run stopped by a budget (a rejected raise, or a budget with `onBreach: 'stop'`). */
export class BudgetExceededError extends KernelError {
  constructor(message: string) {
    super('RUN_CANCELLED', message, { details: { budgetExceeded: true } });
  }
}

/** The context a durable run's function gets. */
export interface RunContext {
  readonly runId: string;
  readonly agent: string;
  /**
   * The run's config: the latest `kernel.runs.resume(id, { config })`'s, else the one it was
   * started (or forked) with; `undefined` when none was given.
   */
  readonly config: unknown;
  /** How many times the run was resumed (0 on its first execution). */
  readonly resumes: number;
  /**
   * Aborted when the run is cancelled, the kernel closes, or the run suspends to wait (its
   * execution is then over; the run goes on in a new execution when the wait ends).
   */
  readonly signal: AbortSignal;
  /**
   * The W3C trace context of the run's span in this execution, when tracing is on (a process
   * agent gets it as `TRACEPARENT` / `TRACESTATE`).
   */
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
  /** Runs `fn` once, records its JSON result, and returns it; a replay returns the record. */
  step<T>(
    name: string,
    fn: (scope: StepScope) => Promise<T> | T,
    options?: StepOptions,
  ): Promise<T>;
  /** Sleeps durably: the run wakes at the recorded time even across restarts. */
  sleep(ms: number): Promise<void>;
  /** Sleeps durably until `at`. */
  sleepUntil(at: Date | number): Promise<void>;
  /**
   * Waits for `kernel.signal(runId, name, payload)` and returns the payload. Signals are queued:
   * one sent before the wait is taken by it. With `timeoutMs`, rejects with `TIMEOUT` after it.
   */
  waitForSignal<T = unknown>(name: string, options?: { readonly timeoutMs?: number }): Promise<T>;
  /** Opens an approval gate and waits (durably) for its decision. */
  requestApproval(request: RunApprovalRequest): Promise<RunApprovalDecision>;
  /**
   * Reports what a model call cost (tokens, micro-dollars, model): recorded in the ledger as an
   * `OutcomeRecorded` event with the run's agent and tenant, so the run's budgets count it.
   * Budgets are checked before each step; a run over one pauses there and asks.
   */
  reportUsage(usage: RunUsageReport): Promise<void>;
  /**
   * Asks the approval rules whether the run may take `action` (on `tool` / `resource`): resolves
   * when allowed, throws `DENIED` when denied (or when the gate an `ask` rule opened is
   * rejected), and waits durably on that gate otherwise. The decision is on the journal (a
   * replay gets the same one) and in the audit trail.
   */
  authorize(request: RunAuthorizeRequest): Promise<void>;
}

/** Why an execution stopped without ending the run. */
export type Suspension =
  | { readonly kind: 'sleep'; readonly wakeAtMs: number }
  | { readonly kind: 'wait'; readonly name: string; readonly deadlineMs: number | null }
  | { readonly kind: 'approval'; readonly gate: string }
  /** The journal could not be written (a storage error): try the run again at `atMs`. */
  | { readonly kind: 'retry'; readonly atMs: number; readonly error: string };

/** What an execution needs from the engine. */
export interface ExecutionHost {
  readonly clock: Clock;
  /** Sleeps at most this long in memory; a longer wait suspends the run. */
  readonly holdMs: number;
  /** Opens (or finds) the run's keyed approval gate; resolves with its id and decision if any. */
  openApproval(
    key: string,
    request: RunApprovalRequest,
  ): Promise<{ gate: string; decision: RunApprovalDecision | null }>;
  /** The decision of a gate, once decided. */
  approvalDecision(gate: string): RunApprovalDecision | null;
  /** Whether this kernel still owns the run (another kernel may have taken it over). */
  owns(): boolean;
  /**
   * Decides (and audits) an authorization with the approval rules; absent: everything is
   * allowed. `step` names the step it guards.
   */
  authorize?(request: RunAuthorizeRequest, step: string | undefined): Promise<RuleDecision>;
  /** Audits how the gate of an `ask` decision was decided (called once, not on a replay). */
  authorizeOutcome?(
    request: RunAuthorizeRequest,
    decision: RuleDecision,
    outcome: RunApprovalDecision,
  ): Promise<void>;
  /** Announces a step's execution (`ToolExecutionStarted` / `ToolExecutionFinished`); never throws. */
  publish?(event: KernelEvent): void;
  /**
   * The fence of this execution's journal appends (the key of the next owner generation's
   * claim), when runs can be taken over; an append after a takeover then fails with `FENCED`.
   */
  fence?(): LogKeyRef | undefined;
  /** This execution's tracing, when it is on (spans for the run, its steps and attempts). */
  readonly trace?: ExecutionTrace | undefined;
  /** Waits for a slot on a limit key for step `key`; resolves with its release. */
  acquire?(limitKey: string, key: string, signal: AbortSignal): Promise<() => void>;
  /** The run's budgets (checked before each step; `reportUsage` records through it). */
  budget?: RunBudgetHost | undefined;
}

/** A step that failed after its attempts, as the run's code sees it (live and on replay alike). */
export class StepFailedError extends Error {
  override readonly name = 'StepFailedError';
  readonly code = 'STEP_FAILED';
  constructor(
    readonly stepKey: string,
    readonly recorded: RecordedError,
    options?: { cause?: unknown },
  ) {
    super(`Step '${stepKey}' failed: ${recorded.name}: ${recorded.message}`, options);
  }
}

/**
 * A promise that never settles: what a call of a suspended execution returns. A fresh one each
 * time — the frames awaiting a promise are its reactions, so one shared promise would keep
 * every suspended execution (its function's frame, its `ctx`, its journal entries) alive for
 * good.
 */
function never(): Promise<never> {
  return new Promise<never>(() => undefined);
}

/**
 * The step announcements runs made (`ToolExecutionStarted` / `ToolExecutionFinished`), by
 * identity: their step is recorded on the run's own journal, so the audit trail does not copy
 * them ({@link isRunStepAnnouncement}). Weak: an event is forgotten once every bus handler has
 * let go of it.
 */
const announced = new WeakSet<KernelEvent>();

/**
 * Whether `event` is a run step's announcement, published by a run on this process: what it
 * says is on the run's journal (hash-chained, verified and pruned with the run), so the kernel's
 * audit trail leaves it to the journal and to live feeds. An equal event built anywhere else (an
 * agent's own tool events, a remote kernel's) is not one.
 */
export function isRunStepAnnouncement(event: KernelEvent): boolean {
  return announced.has(event);
}

const FAMILY: Record<JournalEntry['type'], string> = {
  step: 'step',
  'step.failed': 'step',
  sleep: 'sleep',
  wait: 'wait',
  'wait.done': 'wait',
  signal: 'signal',
  approval: 'approval',
  'approval.done': 'approval',
  resumed: 'resumed',
};

function describeCall(entry: { type: JournalEntry['type']; key: string }): string {
  return `${FAMILY[entry.type]} '${entry.key}'`;
}

/** One execution of a run over its journal. */
export class RunExecution implements RunContext {
  readonly runId: string;
  readonly agent: string;
  readonly config: unknown;
  readonly resumes: number;
  readonly #journal: LogView<JournalEntry, StoredJournalEntry>;
  readonly #host: ExecutionHost;
  readonly #abort = new AbortController();
  readonly #byCall = new Map<number, StoredJournalEntry[]>();
  readonly #signals: StoredJournalEntry[] = [];
  readonly #consumed = new Set<number>();
  readonly #occurrences = new Map<string, number>();
  /** Usage reports per call position in this execution (their ledger ids). */
  readonly #usageAt = new Map<number, number>();
  readonly #onSuspend: (s: Suspension) => void;
  /** Budget gates rejected before the latest resume: not replayed (the budget is checked again). */
  readonly #supersededGates: Set<string>;
  #calls = 0;
  #suspended = false;
  /** The journal's last record known here (what the run's end anchors). */
  head: { seq: number; hash: string } = { seq: 0, hash: '0'.repeat(64) };
  /** Steps this execution ran (not replayed). */
  executedSteps = 0;

  constructor(options: {
    runId: string;
    agent: string;
    journal: LogView<JournalEntry, StoredJournalEntry>;
    entries: readonly StoredJournalEntry[];
    host: ExecutionHost;
    onSuspend: (s: Suspension) => void;
    /** The run's resume count: failed steps recorded before it run again. */
    resumes?: number;
    config?: unknown;
  }) {
    this.runId = options.runId;
    this.agent = options.agent;
    this.resumes = options.resumes ?? 0;
    this.config = options.config;
    this.#journal = options.journal;
    this.#host = options.host;
    this.#onSuspend = options.onSuspend;
    this.#supersededGates = supersededBudgetGates(options.entries);
    for (const e of options.entries) this.#index(e);
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get traceparent(): string | undefined {
    return this.#host.trace?.headers.traceparent;
  }

  get tracestate(): string | undefined {
    return this.#host.trace?.headers.tracestate;
  }

  /** Stops the execution (cancel or kernel close): pending calls never settle, steps are aborted. */
  abort(reason: unknown): void {
    this.#suspended = true;
    this.#abort.abort(reason);
  }

  #index(e: StoredJournalEntry): void {
    if (e.seq > this.head.seq) this.head = { seq: e.seq, hash: e.hash };
    if (e.type === 'signal') {
      this.#signals.push(e);
      return;
    }
    if (e.type === 'resumed') return;
    // A failure recorded before the latest resume: the step runs again.
    if (e.type === 'step.failed' && (e.resume ?? 0) < this.resumes) return;
    if ((e.type === 'approval' || e.type === 'approval.done') && this.#supersededGates.has(e.key))
      return;
    if (e.type === 'wait.done' && e.signal !== null) this.#consumed.add(e.signal);
    const list = this.#byCall.get(e.call);
    if (list === undefined) this.#byCall.set(e.call, [e]);
    else list.push(e);
  }

  /** Takes the next call position; checks that the journal recorded the same call there. */
  #next(family: string, key: string): { call: number; recorded: StoredJournalEntry[] } {
    const call = this.#calls++;
    const recorded = this.#byCall.get(call) ?? [];
    const first = recorded[0];
    if (first !== undefined && (FAMILY[first.type] !== family || first.key !== key)) {
      throw new KernelError(
        'NONDETERMINISM',
        `Run ${this.runId} asked for ${family} '${key}' at call ${String(call)}, but its journal recorded ${describeCall(first)} there: the agent's code changed or does not make the same calls in the same order on a replay`,
      );
    }
    return { call, recorded };
  }

  #occurrence(name: string): number {
    const n = (this.#occurrences.get(name) ?? 0) + 1;
    this.#occurrences.set(name, n);
    return n;
  }

  async #append(entry: JournalEntry): Promise<StoredJournalEntry> {
    try {
      const fence = this.#host.fence?.();
      const [stored] = await this.#journal.append(
        [entry],
        fence === undefined ? undefined : { unlessKey: fence },
      );
      this.#index(stored!);
      return stored!;
    } catch (error) {
      // The same key with other content: another execution of this run recorded it first
      // (a step still in flight when the run was woken again). The first record wins.
      if (error instanceof KernelError && error.code === 'CONFLICT') {
        const stored = await this.#journal.get(journalKey(entry));
        if (stored !== undefined) return stored;
      }
      if (error instanceof KernelError && error.code === 'FENCED') {
        // Another kernel took the run over: this execution stops, writing nothing more.
        this.abort(error);
        return never();
      }
      if (
        error instanceof KernelError &&
        error.code !== 'STORAGE_ERROR' &&
        error.code !== 'CLOSED'
      ) {
        throw error;
      }
      // The store failed (or closed) under the run: that is not the run's failure. Stop this
      // execution; the engine tries the run again, and the journal keeps what it finished.
      return this.#suspend({
        kind: 'retry',
        atMs: this.#host.clock.now() + 1000,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  #live(): Promise<never> | undefined {
    return this.#suspended ? never() : undefined;
  }

  #suspend(s: Suspension): Promise<never> {
    if (!this.#suspended) {
      this.#suspended = true;
      this.#onSuspend(s);
      // The execution is over: a process agent behind it stops, steps in flight are told.
      this.#abort.abort(new KernelError('CLOSED', `Run ${this.runId} is suspended (${s.kind})`));
    }
    return never();
  }

  async step<T>(
    name: string,
    fn: (scope: StepScope) => Promise<T> | T,
    options: StepOptions = {},
  ): Promise<T> {
    const stopped = this.#live();
    if (stopped !== undefined) return stopped;
    if (typeof name !== 'string' || name === '') {
      throw new KernelError('INVALID_ARGUMENT', 'ctx.step needs a non-empty name');
    }
    // Budgets first: a gate recorded here (a replay), or a budget reached now, before the step.
    if (this.#budgetDue()) {
      await this.#budgetGate();
      if (this.#suspended) return never();
    }
    let guard: Promise<void> | undefined;
    if (
      options.action !== undefined ||
      options.tool !== undefined ||
      options.resource !== undefined
    ) {
      // The rules decide before the side effect runs (and before a replay returns its result).
      // Both call positions (the decision's, then the step's) are taken now, synchronously, so
      // steps started together get the same positions on every execution.
      guard = this.#authorize(
        { action: options.action ?? name, tool: options.tool, resource: options.resource },
        options.key ?? name,
      );
      guard.catch(() => undefined);
    }
    const key = options.key ?? `${name}#${String(this.#occurrence(name))}`;
    const { call, recorded } = this.#next('step', key);
    if (guard !== undefined) {
      await guard;
      if (this.#suspended) return never();
    }
    const done = recorded.find((e) => e.type === 'step' || e.type === 'step.failed');
    if (done !== undefined) {
      this.#host.trace?.replayed(key);
      return this.#replayStep<T>(done);
    }

    if (!this.#host.owns()) {
      // Taken over by another kernel: this execution stops before running anything.
      this.abort(new KernelError('CONFLICT', `Run ${this.runId} is now owned by another kernel`));
      return never();
    }
    const attempts = Math.max(1, Math.floor(options.retry?.attempts ?? 1));
    const toolCallId = `${this.runId}:${key}`;
    const startedAt = this.#host.clock.now();
    const trace = this.#host.trace?.step(
      name,
      key,
      options.traceparent === undefined
        ? undefined
        : {
            traceparent: options.traceparent,
            ...(options.tracestate === undefined ? {} : { tracestate: options.tracestate }),
          },
    );
    this.#announce({
      type: 'ToolExecutionStarted',
      sessionId: this.runId,
      toolName: name,
      toolCallId,
      toolArgs: {},
      ...trace?.headers,
    });
    const finished = (stored: StoredJournalEntry): void => {
      this.#announce({
        type: 'ToolExecutionFinished',
        sessionId: this.runId,
        toolCallId,
        toolName: name,
        durationMs: Math.max(
          0,
          ('atMs' in stored ? stored.atMs : this.#host.clock.now()) - startedAt,
        ),
        isError: stored.type === 'step.failed',
        // Never the result or the message (they may hold secrets): the error's kind only.
        outputSummary:
          stored.type === 'step.failed'
            ? stored.error.name + (stored.error.code === undefined ? '' : ` (${stored.error.code})`)
            : '',
        ...trace?.headers,
      });
      trace?.end(
        stored.type === 'step.failed' || stored.type === 'step' ? stored.attempts : 1,
        stored.type === 'step.failed' ? stored.error : undefined,
      );
    };
    const release =
      options.limitKey === undefined || this.#host.acquire === undefined
        ? undefined
        : await this.#host.acquire(options.limitKey, key, this.signal);
    try {
      return await this.#runStep(key, call, fn, options, attempts, finished, startedAt, trace);
    } finally {
      release?.();
    }
  }

  /** Publishes a step announcement, marked as one ({@link isRunStepAnnouncement}). */
  #announce(event: KernelEvent): void {
    if (this.#host.publish === undefined) return;
    announced.add(event);
    this.#host.publish(event);
  }

  async #runStep<T>(
    key: string,
    call: number,
    fn: (scope: StepScope) => Promise<T> | T,
    options: StepOptions,
    attempts: number,
    finished: (stored: StoredJournalEntry) => void,
    startedAt: number,
    trace: StepTrace | undefined,
  ): Promise<T> {
    let attempt = 0;
    for (;;) {
      attempt++;
      let value: T;
      const attemptTrace = trace?.attempt(attempt);
      try {
        value = await this.#attempt(key, fn, attempt, options.timeoutMs, attemptTrace?.headers);
        attemptTrace?.end();
      } catch (error) {
        attemptTrace?.end(recordError(error));
        if (this.#suspended) return never();
        if (attempt < attempts && retryable(error, options.retry)) {
          await this.#backoff(attempt, options.retry);
          if (this.#suspended) return never();
          continue;
        }
        const stored = await this.#append({
          type: 'step.failed',
          key,
          call,
          error: recordError(error),
          attempts: attempt,
          atMs: this.#host.clock.now(),
          startedAtMs: startedAt,
          ...(this.resumes === 0 ? {} : { resume: this.resumes }),
          ...trace?.headers,
        });
        finished(stored);
        if (stored.type === 'step.failed') {
          throw new StepFailedError(key, stored.error, { cause: error });
        }
        return this.#replayStep<T>(stored);
      }
      const text = toJsonText(value, `The result of step '${key}'`);
      const usage = options.usage === undefined ? undefined : checkUsage(key, options.usage, value);
      if (usage !== undefined && this.#host.budget !== undefined) {
        // The step's usage counts against the run's budgets: on the ledger, once per attempt.
        await this.#host.budget.report(
          {
            ...(usage.tokens === undefined ? {} : { tokens: Math.round(usage.tokens) }),
            ...(usage.costMicrodollars === undefined
              ? {}
              : { costMicros: Math.round(usage.costMicrodollars) }),
          },
          `${this.runId}:step:${key}:${String(attempt)}`,
        );
      }
      this.executedSteps++;
      const stored = await this.#append({
        type: 'step',
        key,
        call,
        ...(text === undefined ? {} : { result: text }),
        attempts: attempt,
        atMs: this.#host.clock.now(),
        startedAtMs: startedAt,
        ...(this.resumes === 0 ? {} : { resume: this.resumes }),
        ...(usage === undefined ? {} : { usage }),
        ...trace?.headers,
      });
      finished(stored);
      if (stored.type === 'step' && stored.result === text) return value;
      return this.#replayStep<T>(stored);
    }
  }

  /** Whether a budget gate comes before the next call (synchronous, so call order is kept). */
  #budgetDue(): boolean {
    const budget = this.#host.budget;
    if (budget === undefined) return false;
    const here = this.#byCall.get(this.#calls)?.[0];
    if (here !== undefined) return here.type === 'approval' && here.key.startsWith('budget#');
    return budget.check() !== null;
  }

  /**
   * The budget gates before a step: each is an approval call on the journal (key `budget#<n>`),
   * so a replay meets the same gates at the same positions. Approved: the budget is raised and
   * the check runs again; rejected (or `onBreach: 'stop'`): the run stops, budget exceeded.
   */
  async #budgetGate(): Promise<void> {
    const budget = this.#host.budget!;
    for (;;) {
      const here = this.#byCall.get(this.#calls)?.[0];
      const recordedGate = here?.type === 'approval' && here.key.startsWith('budget#');
      let breach: RunBudgetBreach | null = null;
      if (!recordedGate) {
        if (here !== undefined) return;
        breach = budget.check();
        if (breach === null) return;
        if (breach.onBreach === 'stop')
          throw new BudgetExceededError(`budget exceeded: ${breach.reason}`);
      }
      // A gate opened live after a resume gets the resume's number: a new gate, never the key (and
      // approval) of one rejected before it.
      const n = String(this.#occurrence('\u0000budget'));
      const key =
        recordedGate && here.type === 'approval'
          ? here.key
          : `budget#${n}${this.resumes === 0 ? '' : `@${String(this.resumes)}`}`;
      const { call, recorded } = this.#next('approval', key);
      let decision: RunApprovalDecision | null;
      let gate: string;
      const done = recorded.find((e) => e.type === 'approval.done');
      const opened = recorded.find((e) => e.type === 'approval');
      if (opened?.type === 'approval') {
        gate = opened.gate;
        decision =
          done?.type === 'approval.done'
            ? { approved: done.approved, reason: done.reason, decidedBy: done.decidedBy }
            : this.#host.approvalDecision(gate);
      } else {
        ({ gate, decision } = await budget.open(`${this.runId}:${key}`, breach!));
        await this.#append({ type: 'approval', key, call, gate });
      }
      if (decision === null) {
        void this.#suspend({ kind: 'approval', gate });
        return;
      }
      if (done === undefined) {
        await this.#append({
          type: 'approval.done',
          key,
          call,
          approved: decision.approved,
          reason: decision.reason,
          decidedBy: decision.decidedBy,
          atMs: this.#host.clock.now(),
        });
      }
      if (!decision.approved) {
        throw new BudgetExceededError(
          `budget exceeded: the raise was rejected by ${decision.decidedBy}${decision.reason === null ? '' : ` (${decision.reason})`}`,
        );
      }
      await budget.approved(gate);
    }
  }

  async reportUsage(usage: RunUsageReport): Promise<void> {
    if (this.#suspended) return;
    const budget = this.#host.budget;
    if (budget === undefined) {
      throw new KernelError(
        'SERVICE_UNAVAILABLE',
        'This kernel records no usage; open it with createKernel to use ctx.reportUsage',
      );
    }
    // Its ledger id is its place in the run (call position, then order there), so a replay
    // that reports the same usage again records it once.
    const position = this.#calls;
    const n = (this.#usageAt.get(position) ?? 0) + 1;
    this.#usageAt.set(position, n);
    await budget.report(usage, `${this.runId}:usage:${String(position)}:${String(n)}`);
  }

  #replayStep<T>(entry: StoredJournalEntry): T {
    if (entry.type === 'step') return fromJsonText(entry.result) as T;
    if (entry.type === 'step.failed') throw new StepFailedError(entry.key, entry.error);
    throw new KernelError('INTERNAL', `Journal entry ${String(entry.seq)} is not a step`);
  }

  async #attempt<T>(
    key: string,
    fn: (scope: StepScope) => Promise<T> | T,
    attempt: number,
    timeoutMs: number | undefined,
    trace: { traceparent: string; tracestate?: string } | undefined,
  ): Promise<T> {
    // The attempt's signal is made only when `fn` reads it: most steps never do, and an
    // AbortController with a listener on the execution's signal per attempt is a measurable
    // share of a step's cost. Aborts before that are remembered and applied when it is made.
    const execution = this.#abort.signal;
    let controller: AbortController | undefined;
    let abortedWith: { reason: unknown } | undefined;
    let settled = false;
    const abort = (reason: unknown): void => {
      if (abortedWith !== undefined) return;
      // An execution aborted before the signal was read aborted the attempt first.
      abortedWith = {
        reason: controller === undefined && execution.aborted ? execution.reason : reason,
      };
      controller?.abort(abortedWith.reason);
    };
    const onAbort = (): void => abort(execution.reason);
    const scope: StepScope = {
      idempotencyKey: `${this.runId}:${key}`,
      attempt,
      get signal(): AbortSignal {
        if (controller === undefined) {
          controller = new AbortController();
          if (abortedWith === undefined && execution.aborted)
            abortedWith = { reason: execution.reason };
          if (abortedWith !== undefined) controller.abort(abortedWith.reason);
          // Read after the attempt ended: a signal that no longer follows the execution, as a
          // signal read during the attempt stops following it when the attempt ends.
          else if (!settled) execution.addEventListener('abort', onAbort, { once: true });
        }
        return controller.signal;
      },
      ...trace,
    };
    let timer: TimerHandle | undefined;
    try {
      const work = Promise.resolve().then(() => fn(scope));
      if (timeoutMs === undefined) return await work;
      return await new Promise<T>((resolve, reject) => {
        timer = this.#host.clock.setTimeout(() => {
          const error = new KernelError(
            'TIMEOUT',
            `Step '${key}' took longer than ${String(timeoutMs)} ms (attempt ${String(attempt)})`,
          );
          abort(error);
          reject(error);
        }, timeoutMs);
        work.then(resolve, reject);
      });
    } finally {
      settled = true;
      if (timer !== undefined) this.#host.clock.clearTimeout(timer);
      if (controller !== undefined) execution.removeEventListener('abort', onAbort);
    }
  }

  #backoff(attempt: number, policy: StepRetryPolicy | undefined): Promise<void> {
    const base = policy?.backoffMs ?? 100;
    const factor = policy?.factor ?? 2;
    const ms = Math.min(policy?.maxBackoffMs ?? 30_000, base * factor ** (attempt - 1));
    return this.#wait(ms);
  }

  /** An in-memory wait that ends early (without error) when the execution is aborted. */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#abort.signal;
      const done = (): void => {
        this.#host.clock.clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = this.#host.clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  sleep(ms: number): Promise<void> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      return Promise.reject(
        new KernelError(
          'INVALID_ARGUMENT',
          `ctx.sleep needs a duration in ms ≥ 0, got ${String(ms)}`,
        ),
      );
    }
    return this.#sleep(() => this.#host.clock.now() + ms);
  }

  sleepUntil(at: Date | number): Promise<void> {
    const ms = at instanceof Date ? at.getTime() : at;
    if (typeof ms !== 'number' || !Number.isFinite(ms)) {
      return Promise.reject(
        new KernelError('INVALID_ARGUMENT', 'ctx.sleepUntil needs a Date or epoch milliseconds'),
      );
    }
    return this.#sleep(() => ms);
  }

  async #sleep(wakeAt: () => number): Promise<void> {
    const stopped = this.#live();
    if (stopped !== undefined) return stopped;
    const key = `sleep#${String(this.#occurrence('\u0000sleep'))}`;
    const { call, recorded } = this.#next('sleep', key);
    let wakeAtMs: number;
    const rec = recorded[0];
    if (rec?.type === 'sleep') wakeAtMs = rec.wakeAtMs;
    else {
      wakeAtMs = Math.round(wakeAt());
      const stored = await this.#append({
        type: 'sleep',
        key,
        call,
        wakeAtMs,
        ...this.#host.trace?.headers,
      });
      if (stored.type === 'sleep') wakeAtMs = stored.wakeAtMs;
    }
    const remaining = wakeAtMs - this.#host.clock.now();
    if (remaining <= 0) return;
    if (remaining <= this.#host.holdMs) {
      await this.#wait(remaining);
      if (this.#suspended) return never();
      return;
    }
    return this.#suspend({ kind: 'sleep', wakeAtMs });
  }

  async waitForSignal<T = unknown>(
    name: string,
    options: { readonly timeoutMs?: number } = {},
  ): Promise<T> {
    const stopped = this.#live();
    if (stopped !== undefined) return stopped;
    if (typeof name !== 'string' || name === '') {
      throw new KernelError('INVALID_ARGUMENT', 'ctx.waitForSignal needs a non-empty signal name');
    }
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs < 0)) {
      throw new KernelError('INVALID_ARGUMENT', `timeoutMs must be ≥ 0, got ${String(timeoutMs)}`);
    }
    const key = `${name}#${String(this.#occurrence(`\u0000signal:${name}`))}`;
    const { call, recorded } = this.#next('wait', key);
    const done = recorded.find((e) => e.type === 'wait.done');
    if (done?.type === 'wait.done') return this.#signalOutcome<T>(key, done.signal);
    const started = recorded.find((e) => e.type === 'wait');
    let deadlineMs: number | null;
    if (started?.type === 'wait') deadlineMs = started.deadlineMs;
    else {
      deadlineMs = timeoutMs === undefined ? null : this.#host.clock.now() + timeoutMs;
      await this.#append({
        type: 'wait',
        key,
        call,
        name,
        deadlineMs,
        ...this.#host.trace?.headers,
      });
    }
    const signal = this.#signals.find(
      (s) => s.type === 'signal' && s.name === name && !this.#consumed.has(s.seq),
    );
    if (signal !== undefined) {
      this.#consumed.add(signal.seq);
      const stored = await this.#append({
        type: 'wait.done',
        key,
        call,
        signal: signal.seq,
        atMs: this.#host.clock.now(),
      });
      return this.#signalOutcome<T>(key, stored.type === 'wait.done' ? stored.signal : signal.seq);
    }
    if (deadlineMs !== null && deadlineMs <= this.#host.clock.now()) {
      const stored = await this.#append({
        type: 'wait.done',
        key,
        call,
        signal: null,
        atMs: this.#host.clock.now(),
      });
      return this.#signalOutcome<T>(key, stored.type === 'wait.done' ? stored.signal : null);
    }
    return this.#suspend({ kind: 'wait', name, deadlineMs });
  }

  #signalOutcome<T>(key: string, seq: number | null): T {
    if (seq === null) {
      throw new KernelError('TIMEOUT', `No signal for wait '${key}' arrived before its timeout`);
    }
    const signal = this.#signals.find((s) => s.seq === seq);
    if (signal?.type !== 'signal') {
      throw new KernelError(
        'CORRUPT_VALUE',
        `Run ${this.runId}: wait '${key}' took signal #${String(seq)}, which its journal does not hold`,
      );
    }
    return fromJsonText(signal.payload) as T;
  }

  async requestApproval(request: RunApprovalRequest): Promise<RunApprovalDecision> {
    const stopped = this.#live();
    if (stopped !== undefined) return stopped;
    if (typeof request !== 'object' || request === null || typeof request.summary !== 'string') {
      throw new KernelError('INVALID_ARGUMENT', 'ctx.requestApproval needs { summary: string }');
    }
    const key = `approval#${String(this.#occurrence('\u0000approval'))}`;
    const { call, recorded } = this.#next('approval', key);
    return this.#approval(call, recorded, key, request);
  }

  /** The gate of call `call` (keyed `key`): opened once, then waited for durably. */
  async #approval(
    call: number,
    recorded: readonly StoredJournalEntry[],
    key: string,
    request: RunApprovalRequest,
  ): Promise<RunApprovalDecision> {
    const done = recorded.find((e) => e.type === 'approval.done');
    if (done?.type === 'approval.done') {
      return { approved: done.approved, reason: done.reason, decidedBy: done.decidedBy };
    }
    const opened = recorded.find((e) => e.type === 'approval');
    let gate: string;
    let decision: RunApprovalDecision | null;
    if (opened?.type === 'approval') {
      gate = opened.gate;
      decision = this.#host.approvalDecision(gate);
    } else {
      ({ gate, decision } = await this.#host.openApproval(`${this.runId}:${key}`, request));
      await this.#append({ type: 'approval', key, call, gate, ...this.#host.trace?.headers });
    }
    if (decision === null) return this.#suspend({ kind: 'approval', gate });
    const stored = await this.#append({
      type: 'approval.done',
      key,
      call,
      approved: decision.approved,
      reason: decision.reason,
      decidedBy: decision.decidedBy,
      atMs: this.#host.clock.now(),
      ...this.#host.trace?.headers,
    });
    if (stored.type === 'approval.done') {
      return { approved: stored.approved, reason: stored.reason, decidedBy: stored.decidedBy };
    }
    return decision;
  }

  async authorize(request: RunAuthorizeRequest): Promise<void> {
    const stopped = this.#live();
    if (stopped !== undefined) return stopped;
    return this.#authorize(request, undefined);
  }

  async #authorize(request: RunAuthorizeRequest, step: string | undefined): Promise<void> {
    if (typeof request !== 'object' || request === null) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        'ctx.authorize needs { action: string, tool?: string, resource?: string }',
      );
    }
    const { action, tool, resource } = request;
    if (typeof action !== 'string' || action === '') {
      throw new KernelError('INVALID_ARGUMENT', 'ctx.authorize needs a non-empty action');
    }
    for (const [field, v] of [
      ['tool', tool],
      ['resource', resource],
    ] as const) {
      if (v !== undefined && typeof v !== 'string') {
        throw new KernelError('INVALID_ARGUMENT', `ctx.authorize: ${field} must be a string`);
      }
    }
    const q: RunAuthorizeRequest = {
      action,
      ...(tool === undefined ? {} : { tool }),
      ...(resource === undefined ? {} : { resource }),
    };
    // The decision is journaled as a step, so a replay (after a restart, or once a gate is
    // decided) gets the decision made the first time, whatever the rules say now.
    const key = `authorize:${action}#${String(this.#occurrence('\u0000authorize'))}`;
    const { call, recorded } = this.#next('step', key);
    const done = recorded.find((e) => e.type === 'step');
    let d: RuleDecision;
    if (done?.type === 'step') d = fromJsonText(done.result) as RuleDecision;
    else {
      if (!this.#host.owns()) {
        this.abort(new KernelError('CONFLICT', `Run ${this.runId} is now owned by another kernel`));
        return never();
      }
      const decided: RuleDecision =
        this.#host.authorize === undefined
          ? { effect: 'allow', rule: null, version: null, reason: 'no approval rules' }
          : await this.#host.authorize(q, step);
      const text = toJsonText(decided, `The decision of '${key}'`);
      const stored = await this.#append({
        type: 'step',
        key,
        call,
        ...(text === undefined ? {} : { result: text }),
        attempts: 1,
        atMs: this.#host.clock.now(),
      });
      d = stored.type === 'step' ? (fromJsonText(stored.result) as RuleDecision) : decided;
    }
    if (d.effect === 'allow') return;
    if (d.effect === 'deny') throw deniedError(q, d);
    // ask: a keyed gate on the journal at the decision's own call position (so the positions a
    // run takes never depend on how long the rules took to answer).
    const atCall = this.#byCall.get(call) ?? [];
    const replayed = atCall.some((e) => e.type === 'approval.done');
    const by = d.rule === null ? 'the default' : `rule ${d.rule}@${String(d.version)}`;
    const decision = await this.#approval(call, atCall, key, {
      summary: `${describe(q)}? (asked by ${by})`,
      rationale: d.reason,
      action,
      ...(resource === undefined ? {} : { resource }),
      ...(tool === undefined ? {} : { tool }),
      ...(d.approval === undefined ? {} : { approval: d.approval }),
    });
    if (!replayed) await this.#host.authorizeOutcome?.(q, d, decision);
    if (!decision.approved) {
      throw deniedError(
        q,
        d,
        `the approval was rejected by ${decision.decidedBy}${decision.reason === null ? '' : ` (${decision.reason})`}`,
      );
    }
  }
}

function checkUsage(
  key: string,
  usage: (result: never) => StepUsage,
  value: unknown,
): StepUsage | undefined {
  const u = usage(value as never) as StepUsage | undefined;
  if (u === undefined) return undefined;
  const out: { tokens?: number; costMicrodollars?: number } = {};
  for (const field of ['tokens', 'costMicrodollars'] as const) {
    const v: unknown = u[field];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `Step '${key}': usage.${field} is a finite number ≥ 0, got ${JSON.stringify(v) ?? typeof v}`,
      );
    }
    out[field] = v;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function retryable(error: unknown, policy: StepRetryPolicy | undefined): boolean {
  if (policy?.retryIf !== undefined) return policy.retryIf(error);
  return !(error instanceof KernelError) || error.code === 'TIMEOUT';
}

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
import type { LogStore } from '../storage/log.js';
import type { LogView } from '../storage/log-view.js';
import {
  fromJsonText,
  journalStream,
  journalView,
  ownerBeatsView,
  ownerKey,
  RUN_INDEX_STREAM,
  readJournal,
  recordError,
  runIndexView,
  toJsonText,
  type JournalEntry,
  type RecordedError,
  type RunIndexEntry,
  type RunStatus,
  type StoredJournalEntry,
  type StoredRunIndexEntry,
} from './journal.js';
import type { RuleDecision } from '../policies/rules.js';
import {
  RunExecution,
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
}

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
  readonly atMs: number;
  readonly result?: unknown;
  readonly error?: RecordedError;
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
  /** Records in the run's journal. */
  readonly journalLength: number;
  /** Retention removed the journal (`steps` is then empty). */
  readonly journalPruned?: boolean;
}

/** One row of `runs.list`. */
export interface RunSummary {
  readonly id: string;
  readonly agent: string;
  readonly version: string;
  readonly status: RunStatus;
  readonly owner: string;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly error?: RecordedError;
}

/** Filters for `runs.list`. */
export interface RunListQuery {
  readonly agent?: string;
  readonly status?: RunStatus | readonly RunStatus[];
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
    run: { id: string; agent: string },
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
    run: { id: string; agent: string },
    request: RunAuthorizeRequest,
    step: string | undefined,
  ): Promise<RuleDecision>;
  /** Audits how an `ask` decision's gate was decided. */
  outcome?(
    run: { id: string; agent: string },
    request: RunAuthorizeRequest,
    decision: RuleDecision,
    outcome: RunApprovalDecision,
  ): Promise<void>;
}

/** The runs API (`kernel.runs`). */
export interface Runs {
  get(id: string): Promise<RunInfo>;
  list(query?: RunListQuery): RunSummary[];
  cancel(id: string, reason?: string): Promise<RunSummary>;
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
  ended?: Extract<RunIndexEntry, { type: 'run.ended' }>;
  execution?: RunExecution | undefined;
  /** Set when something arrived for the run while it was executing: execute again at suspend. */
  dirty: boolean;
  /** Retention removed its journal. */
  pruned?: boolean;
  /** How many times the run was taken over (its latest `run.owner` generation). */
  gen: number;
  /** The input, while this kernel just started the run (its journal is known to be empty). */
  fresh?: { input: string } | undefined;
  suspension?: Suspension | undefined;
  waiters: { done(): void; fail(error: unknown): void }[];
}

const MAX_TIMER_MS = 2 ** 31 - 1;

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
    this.#ids = options.ids;
    this.#logger = options.logger;
    this.#owner = options.owner ?? 'local';
    this.#holdMs = options.holdMs ?? 5000;
    this.#approvals = options.approvals;
    this.#rules = options.rules;
    this.#bus = options.bus;
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
        dirty: false,
        waiters: [],
        gen: 0,
      });
      this.#changed(this.#runs.get(entry.id)!);
      return;
    }
    const run = this.#runs.get(entry.id);
    if (run === undefined) return;
    if (entry.type === 'run.pruned') {
      run.pruned = true;
      return;
    }
    if (run.ended !== undefined) return;
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
    run.ended = ended;
    run.status = ended.status;
    run.suspension = undefined;
    run.execution?.abort(new KernelError('RUN_CANCELLED', `Run ${run.id} ended: ${ended.status}`));
    run.execution = undefined;
    this.#changed(run);
    for (const w of run.waiters.splice(0)) w.done();
  }

  #resumeIfMine(run: RunState): void {
    if (run.ended !== undefined || run.execution !== undefined || run.owner !== this.#owner) return;
    if (run.suspension !== undefined) return;
    if (!this.#definitions.has(run.agent)) return;
    this.#execute(run);
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
    options: { readonly id?: string } = {},
  ): Promise<RunHandle<O>> {
    this.#assertOpen();
    const definition = this.#definitions.get(agent);
    if (definition === undefined) {
      throw new KernelError(
        'UNKNOWN_AGENT',
        `No agent '${agent}' is defined here; define it with kernel.define({ name: '${agent}', run }) first`,
      );
    }
    const text = toJsonText(input ?? null, 'The run input') ?? 'null';
    const id = options.id ?? this.#ids();
    const existing = this.#runs.get(id);
    if (existing !== undefined) return this.#handle<O>(id);
    const entry: RunIndexEntry = {
      type: 'run.started',
      id,
      agent,
      version: definition.version ?? '1',
      input: text,
      owner: this.#owner,
      atMs: this.#clock.now(),
    };
    try {
      const [stored] = await this.#index.append([entry]);
      const created = !this.#runs.has(id);
      this.#apply(stored!);
      if (created && stored!.seq > 0) this.#runs.get(id)!.fresh = { input: text };
    } catch (error) {
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
    if (run.ended === undefined) await this.#ended(run);
    const ended = run.ended!;
    if (ended.status === 'completed') return fromJsonText(ended.result) as O;
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

  #ended(run: RunState, signal?: AbortSignal): Promise<void> {
    if (run.ended !== undefined) return Promise.resolve();
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
      const [entries, inputText] =
        fresh !== undefined
          ? [[], fresh.input]
          : await Promise.all([readJournal(journal), this.#inputOf(run.id)]);
      if (run.ended !== undefined || this.#closed) return;
      const suspended: { s?: Suspension } = {};
      let resolveSuspend!: () => void;
      const suspendedP = new Promise<void>((resolve) => (resolveSuspend = resolve));
      execution = new RunExecution({
        runId: run.id,
        agent: run.agent,
        journal,
        entries,
        host: {
          clock: this.#clock,
          holdMs: this.#holdMs,
          openApproval: (key, request) => this.#openApproval(key, run, request),
          approvalDecision: (gate) => this.#approvals?.decision(gate) ?? null,
          owns: () => run.owner === this.#owner && !this.#fenced,
          ...(this.#rules === undefined ? {} : this.#rulesHost(run)),
          ...(this.#bus === undefined ? {} : { publish: (event) => this.#publish(event) }),
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
      await this.#end(run, 'failed', undefined, recordError(outcome.error), execution.head);
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
    const who = { id: run.id, agent: run.agent };
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
    return this.#approvals.open(key, { id: run.id, agent: run.agent }, request);
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
    };
    try {
      const [stored] = await this.#index.append([entry]);
      this.#apply(stored!);
    } catch (e) {
      if (!(e instanceof KernelError && e.code === 'CONFLICT')) throw e;
      const stored = await this.#index.get(`${run.id}:ended`);
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
      ...(run.ended === undefined ? {} : { endedAt: new Date(run.ended.atMs).toISOString() }),
      ...(run.ended?.error === undefined ? {} : { error: run.ended.error }),
    };
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
    const out: RunSummary[] = [];
    const all = [...this.#runs.values()];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const run = all[i]!;
      if (query.agent !== undefined && run.agent !== query.agent) continue;
      if (statuses !== undefined && !statuses.has(run.status)) continue;
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
    for (const e of entries) {
      if (e.type === 'step') {
        steps.push({
          key: e.key,
          status: 'completed',
          attempts: e.attempts,
          atMs: e.atMs,
          ...(e.result === undefined ? {} : { result: fromJsonText(e.result) }),
        });
      } else if (e.type === 'step.failed') {
        steps.push({
          key: e.key,
          status: 'failed',
          attempts: e.attempts,
          atMs: e.atMs,
          error: e.error,
        });
      }
    }
    // A run not executing here (another kernel's, or read by a kernel without agents): where
    // its journal shows it stopped to wait.
    const s =
      run.suspension ??
      (run.ended === undefined && run.execution === undefined ? lastWait(entries) : undefined);
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
    const summary = this.#summary(run);
    return {
      ...summary,
      ...(s !== undefined && run.suspension === undefined && summary.status === 'pending'
        ? { status: s.kind === 'sleep' ? ('sleeping' as const) : ('waiting' as const) }
        : {}),
      input: started?.type === 'run.started' ? fromJsonText(started.input) : null,
      ...(ended?.result === undefined ? {} : { result: fromJsonText(ended.result) }),
      steps,
      ...(waitingFor === undefined ? {} : { waitingFor }),
      journalLength: entries.length,
      ...(run.pruned === true ? { journalPruned: true } : {}),
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

/** The wait the journal's last call left open, if any. */
function lastWait(entries: readonly StoredJournalEntry[]): Suspension | undefined {
  let last: Exclude<StoredJournalEntry, { type: 'signal' }> | undefined;
  let resolved = false;
  for (const e of entries) {
    if (e.type === 'signal') continue;
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

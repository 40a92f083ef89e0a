/**
 * The supervisor: starts agents (in-process functions, external processes, nested supervisors),
 * keeps their status and registry module state current, publishes every transition on the bus,
 * and restarts them by OTP rules — strategy, restart type, restart intensity with escalation,
 * exponential backoff with jitter on the injected clock. On a failure it asks a recovery policy
 * (the kernel's self-healing) what to do, and reports each run that proved healthy.
 *
 * @example
 * const supervisor = createSupervisor({ bus, strategy: 'one_for_one' });
 * const agent = await supervisor.spawn({
 *   name: 'researcher',
 *   restart: 'transient',
 *   run: async (ctx) => {
 *     ctx.output('working');
 *     return 42;
 *   },
 * });
 * const outcome = await agent.wait(); // { reason: 'completed', result: 42, … }
 * await supervisor.close();
 *
 * @module
 */
import type { EventBus } from '../bus/event-bus.js';
import type { KernelEvent, ModuleState } from '../model/kernel-event.js';
import { KernelError, errorMessage } from '../errors.js';
import { createFailureSignal, type FailureSignal } from '../model/failure.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { deferred, type Deferred } from '../util/deferred.js';
import { createUuidV7, type IdGenerator } from '../util/ids.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { systemRandom, type Random } from '../util/random.js';
import {
  moduleStateOf,
  type AgentContext,
  type AgentEndReason,
  type AgentHealthReport,
  type AgentInfo,
  type AgentKind,
  type AgentOutcome,
  type AgentRef,
  type AgentSpec,
  type AgentStatus,
  type AutoShutdown,
  type FailureDecision,
  type FailurePolicy,
  type FunctionAgentSpec,
  type ModuleStatePort,
  type NestedSupervisorSpec,
  type ProcessAgentSpec,
  type SupervisorChildSpec,
  type SupervisorHealthListener,
  type SupervisorServices,
} from './agent.js';
import {
  runAgentGroup,
  type AgentGroupInput,
  type AgentGroupOptions,
  type AgentGroupResult,
} from './agent-group.js';
import type { ProcessGroupRecorder } from './process-groups.js';
import { createOutputLimiter, type OutputLimiter, type OutputLimits } from './output-limiter.js';
import { validateAgentSpec } from './agent-spec.js';
import { resolveAgentSecrets, type SecretResolver } from './agent-secrets.js';
import { startFunctionRun } from './function-agent.js';
import { startProcessRun } from './process-agent.js';
import {
  RESTART_STRATEGIES,
  backoffDelay,
  createRestartIntensity,
  resolveBackoff,
  resolveIntensity,
  restartScope,
  shouldRestart,
  type BackoffPolicy,
  type RestartIntensity,
  type RestartIntensityCounter,
  type RestartStrategy,
  type RestartType,
} from './restart-strategy.js';
import type { RunHandle, RunHost, RunOutcome } from './run.js';

/** Options for {@link createSupervisor}. */
export interface SupervisorOptions {
  /** The supervisor's id (`SupervisorEscalated.supervisorId`; default: a new UUIDv7). */
  readonly id?: string | undefined;
  /** A name for diagnostics (default `supervisor`). */
  readonly name?: string | undefined;
  /** Default `one_for_one`. */
  readonly strategy?: RestartStrategy | undefined;
  /** Default: 3 restarts in 5 s. */
  readonly intensity?: Partial<RestartIntensity> | undefined;
  /** Default: 100 ms doubling to 30 s, 20 % jitter. */
  readonly backoff?: Partial<BackoffPolicy> | undefined;
  /** Children started, in order, by {@link Supervisor.start}. */
  readonly children?: readonly AgentSpec[] | undefined;
  /** Where transitions are published (none: nothing is published). */
  readonly bus?: EventBus | undefined;
  readonly clock?: Clock | undefined;
  /** Jitter and ids. */
  readonly random?: Random | undefined;
  readonly ids?: IdGenerator | undefined;
  readonly logger?: Logger | undefined;
  /**
   * Where a process spec's `secrets` are fetched at spawn time (the kernel reads its registry's
   * encrypted config and audits each grant); none: a spec with secrets is refused.
   */
  readonly secrets?: SecretResolver | undefined;
  /** Approvals and ledger for agents (the kernel provides them). */
  readonly services?: SupervisorServices | undefined;
  /** Where each agent's module state is kept (the kernel's registry). */
  readonly modules?: ModuleStatePort | undefined;
  /** Asked on every failure what to do (the kernel's self-healing); none: the restart rules. */
  readonly recovery?: FailurePolicy | undefined;
  /** Told when a run proved healthy and when an agent finished for good. */
  readonly onHealth?: SupervisorHealthListener | undefined;
  /** A run up this long is reported healthy, unless its spec says otherwise (default 10 s). */
  readonly healthyAfterMs?: number | undefined;
  /** Default stop grace for children that set none (default 5000 ms). */
  readonly shutdownMs?: number | undefined;
  /** Finished agents kept for `list`/`wait` before the oldest are forgotten (default 1000). */
  readonly keepFinished?: number | undefined;
  /** When the supervisor closes itself after significant children exit (default `never`). */
  readonly autoShutdown?: AutoShutdown | undefined;
  /** Called once if the supervisor gives up (see {@link Supervisor.escalated}). */
  readonly onEscalated?: ((error: KernelError) => void) | undefined;
  /**
   * Per-agent limits on output before it becomes `AgentOutput` events (see
   * {@link createOutputLimiter}; defaults: 256 KiB/s, 1 MiB burst, 16 KiB lines), or `false`
   * for none. Lost output is reported as `OutputTruncated`.
   */
  readonly outputLimits?: OutputLimits | false | undefined;
  /** Told each process agent's group as it starts and ends (the kernel records them in a file). */
  readonly processGroups?: ProcessGroupRecorder | undefined;
}

/** Counts a supervisor tree keeps (see {@link Supervisor.stats}). */
export interface SupervisorStats {
  /** Runs of in-process agents abandoned after ignoring their abort signal past the grace. */
  readonly abandoned: number;
}

/** OTP's `count_children`: this supervisor's own children that are not finished. */
export interface ChildCounts {
  /** Children known (running, starting, waiting to restart or terminated). */
  readonly specs: number;
  /** Children with a run in progress. */
  readonly active: number;
  /** Nested supervisors among `specs`. */
  readonly supervisors: number;
  /** Agents (functions and processes) among `specs`. */
  readonly workers: number;
}

/** Options of {@link Supervisor.spawn}. */
export interface SpawnOptions {
  /** The agent id of a nested supervisor to start the agent under (a dynamic child). */
  readonly under?: string | undefined;
}

/** A supervisor's own state (`failed`: its start was aborted, see {@link Supervisor.start}). */
export type SupervisorStatus = 'running' | 'escalated' | 'failed' | 'closing' | 'closed';

/** A started agent. */
export interface AgentHandle<R = unknown> {
  readonly id: string;
  readonly name: string;
  /** The agent now. */
  info(): AgentInfo;
  /** Resolves when the agent has finished for good (never rejects). */
  wait(): Promise<AgentOutcome<R>>;
  /** Stops the agent for good (no restart). */
  kill(): Promise<AgentOutcome<R>>;
}

/** Creates a supervisor. Call {@link Supervisor.start} to start `options.children`. */
export function createSupervisor(options: SupervisorOptions = {}): Supervisor {
  return new Supervisor(options);
}

interface Shared {
  readonly bus: EventBus | undefined;
  readonly clock: Clock;
  readonly random: Random;
  readonly ids: IdGenerator;
  readonly logger: Logger;
  readonly services: SupervisorServices | undefined;
  readonly secrets: SecretResolver | undefined;
  readonly modules: ModuleStatePort | undefined;
  readonly recovery: FailurePolicy | undefined;
  readonly onHealth: SupervisorHealthListener | undefined;
  readonly healthyAfterMs: number;
  readonly shutdownMs: number;
  readonly keepFinished: number;
  readonly stats: { abandoned: number };
  readonly outputLimits: OutputLimits | false;
  readonly processGroups: ProcessGroupRecorder | undefined;
}

/**
 * Set just before a nested supervisor is constructed, so that it shares its parent's bus, clock,
 * services and hook without a public constructor parameter for it.
 */
let inheritedShared: Shared | undefined;

const LIVE: ReadonlySet<AgentStatus> = new Set(['starting', 'running', 'idle']);

/** One supervised child and its state across runs. */
class Child {
  status: AgentStatus = 'starting';
  moduleState: ModuleState | undefined;
  attempt = 0;
  restarts = 0;
  /** Restarts since the last run that lasted `resetMs`: the backoff exponent. */
  consecutive = 0;
  generation = 0;
  /** The generation of the run in progress (0: none); later reports from other runs are ignored. */
  activeGen = 0;
  /** Secrets granted at spawn (variable → value); never published, kept for restarts. */
  secretEnv: Readonly<Record<string, string>> | undefined;
  /** Rate-limits and coalesces this child's output (made on its first output). */
  output: OutputLimiter | undefined;
  /** The pending delayed restart this child is part of. */
  restartTimer: TimerHandle | undefined;
  lastFailure: FailureSignal | null = null;
  result: unknown = undefined;
  pid: number | null = null;
  startedAtMs: number | null = null;
  stoppedAtMs: number | null = null;
  run: RunHandle | undefined;
  /** A stop is in progress: the run's end is the stopper's to handle. */
  stopping = false;
  /** Set when the heartbeat timed out: the run's end is this failure. */
  heartbeatFailure: FailureSignal | undefined;
  heartbeatTimer: TimerHandle | undefined;
  /** Fires when the run has been up `healthyAfterMs`. */
  healthTimer: TimerHandle | undefined;
  /** Aborts the pending recovery decision (kill, close). */
  hookCancel: AbortController | undefined;
  nested: Supervisor | undefined;
  /** The generation whose run said it is ready (`awaitReady`), or has started. */
  readyGen = 0;
  readyWait: Deferred<void> | undefined;
  /** The first start is in progress: a failure before ready aborts it (OTP start semantics). */
  initialStart = true;
  startFailure: FailureSignal | undefined;
  /** Stopped by `terminateChild`: kept, not restarted, until `restartChild` or `deleteChild`. */
  terminated = false;
  outcome: AgentOutcome | undefined;
  ended: Deferred<AgentOutcome> | undefined;
  moduleWrite: Promise<void> | undefined;

  constructor(
    readonly id: string,
    readonly spec: AgentSpec,
    readonly kind: AgentKind,
    readonly restart: RestartType,
    public config: unknown,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  /** Starts only once it says it is ready (a nested supervisor: once its children started). */
  get awaitsReady(): boolean {
    return this.kind === 'supervisor' || this.spec.awaitReady === true;
  }

  ref(): AgentRef {
    return { id: this.id, name: this.spec.name, attempt: this.attempt, restarts: this.restarts };
  }
}

function bad(message: string): KernelError {
  return new KernelError('INVALID_ARGUMENT', message);
}

function checkStrategy(strategy: unknown): RestartStrategy {
  if (!RESTART_STRATEGIES.includes(strategy as RestartStrategy))
    throw bad(`strategy must be one of ${RESTART_STRATEGIES.join(', ')}, got ${String(strategy)}`);
  return strategy as RestartStrategy;
}

/**
 * A supervisor of agents. Children start in order and stop in reverse; failures are handled
 * one at a time, in order, like an OTP supervisor's mailbox.
 */
export class Supervisor implements AsyncDisposable {
  /** The supervisor's id (a nested supervisor has its child entry's id). */
  readonly id: string;
  readonly name: string;
  readonly #shared: Shared;
  readonly #strategy: RestartStrategy;
  readonly #backoff: BackoffPolicy;
  readonly #resetMs: number;
  readonly #intensityPolicy: RestartIntensity;
  readonly #intensity: RestartIntensityCounter;
  readonly #initial: readonly AgentSpec[];
  readonly #children: Child[] = [];
  readonly #byId = new Map<string, Child>();
  readonly #finished: Child[] = [];
  readonly #timers = new Set<TimerHandle>();
  /** The spec each name was last spawned with (for a re-run after a late approval). */
  readonly #specs = new Map<string, AgentSpec>();
  #queue: Promise<void> = Promise.resolve();
  #status: SupervisorStatus = 'running';
  #started = false;
  #closing: Promise<void> | undefined;
  /** Set for a nested supervisor: settles when it is done (closed, shut down, or escalated). */
  #completion: Deferred<KernelError | undefined> | undefined;
  readonly #autoShutdown: AutoShutdown;
  #autoShut = false;
  #template: AgentSpec | undefined;
  readonly #escalated = deferred<KernelError>();
  readonly #onEscalated: ((error: KernelError) => void) | undefined;

  /** Prefer {@link createSupervisor}. */
  constructor(options: SupervisorOptions = {}) {
    const shared = inheritedShared;
    inheritedShared = undefined;
    const clock = shared?.clock ?? options.clock ?? systemClock;
    const random = shared?.random ?? options.random ?? systemRandom;
    const shutdownMs = options.shutdownMs ?? 5_000;
    if (typeof shutdownMs !== 'number' || !(shutdownMs >= 0))
      throw bad('shutdownMs must be a number ≥ 0');
    const keepFinished = options.keepFinished ?? 1_000;
    if (!Number.isSafeInteger(keepFinished) || keepFinished < 0)
      throw bad('keepFinished must be an integer ≥ 0');
    if (options.recovery !== undefined && typeof options.recovery !== 'function')
      throw bad('recovery must be an async function returning a FailureDecision');
    if (options.onHealth !== undefined && typeof options.onHealth !== 'function')
      throw bad('onHealth must be a function');
    const healthyAfterMs = options.healthyAfterMs ?? 10_000;
    if (!(typeof healthyAfterMs === 'number' && healthyAfterMs >= 0))
      throw bad('healthyAfterMs must be a number of ms ≥ 0');
    this.#shared = shared ?? {
      bus: options.bus,
      clock,
      random,
      ids: options.ids ?? createUuidV7({ clock, random }),
      logger: options.logger ?? silentLogger,
      services: options.services,
      secrets: options.secrets,
      modules: options.modules,
      recovery: options.recovery,
      onHealth: options.onHealth,
      healthyAfterMs,
      shutdownMs,
      keepFinished,
      stats: { abandoned: 0 },
      outputLimits: options.outputLimits ?? {},
      processGroups: options.processGroups,
    };
    this.id = options.id ?? this.#shared.ids();
    this.name = options.name ?? 'supervisor';
    this.#strategy = checkStrategy(options.strategy ?? 'one_for_one');
    this.#intensityPolicy = resolveIntensity(options.intensity);
    this.#intensity = createRestartIntensity(this.#intensityPolicy, clock);
    this.#backoff = resolveBackoff(options.backoff);
    this.#resetMs = this.#backoff.resetMs ?? this.#intensityPolicy.periodMs;
    const initial = options.children ?? [];
    for (const spec of initial) validateAgentSpec(spec);
    this.#initial = initial;
    const autoShutdown = options.autoShutdown ?? 'never';
    if (!['never', 'any_significant', 'all_significant'].includes(autoShutdown))
      throw bad('autoShutdown must be one of never, any_significant, all_significant');
    this.#autoShutdown = autoShutdown;
    if (options.onEscalated !== undefined && typeof options.onEscalated !== 'function')
      throw bad('onEscalated must be a function');
    this.#onEscalated = options.onEscalated;
  }

  /**
   * `running`, `escalated` (gave up after too many restarts), `failed` (a child failed to
   * start), `closing` or `closed`.
   */
  get status(): SupervisorStatus {
    return this.#status;
  }

  /**
   * Resolves with the `SUPERVISOR_ESCALATED` error if this supervisor gives up (restart
   * intensity exceeded); pending while it runs. The kernel's root supervisor giving up leaves
   * the kernel unable to start agents: react to it (the daemon exits non-zero).
   */
  get escalated(): Promise<KernelError> {
    return this.#escalated.promise;
  }

  /** Counts kept across the supervisor tree. */
  stats(): SupervisorStats {
    return { abandoned: this.#shared.stats.abandoned };
  }

  /**
   * Starts `options.children` in order, each once it is started (ready, for `awaitReady`
   * children; a nested supervisor once its own children are). A child that fails before it is
   * started aborts the start as OTP does: no later child is started, the earlier ones are
   * stopped in reverse order, the status is `failed` and this rejects with
   * `FAILED_TO_START_CHILD`. Later calls do nothing.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    for (const spec of this.#initial) {
      const child = this.#add(spec);
      const failure = await this.#enqueue(() => this.#startChild(child));
      if (failure !== undefined) {
        await this.#enqueue(() => this.#abortStart());
        throw failedToStart(this, child, failure, 'no later child was started');
      }
    }
  }

  /**
   * Starts an agent after the existing children; resolves once it is started (ready, for
   * `awaitReady`) or has ended. One that fails before it is started is not kept: this rejects
   * with `FAILED_TO_START_CHILD`. `options.under` starts it under a nested supervisor.
   */
  async spawn<C = unknown, R = unknown>(
    spec: AgentSpec<C, R>,
    options: SpawnOptions = {},
  ): Promise<AgentHandle<R>> {
    if (options.under !== undefined) return this.#nestedById(options.under).spawn(spec);
    this.#assertOpen();
    const kind = validateAgentSpec(spec as AgentSpec);
    const secretEnv =
      kind === 'process'
        ? await resolveAgentSecrets(
            spec.name,
            (spec as ProcessAgentSpec).secrets,
            this.#shared.secrets,
          )
        : undefined;
    const child = this.#add(spec as AgentSpec, secretEnv);
    const failure = await this.#enqueue(() => this.#startChild(child));
    if (failure !== undefined) {
      await this.#enqueue(() => this.#end(child, 'failed'));
      this.#forget(child);
      throw failedToStart(this, child, failure, 'it was not kept');
    }
    return this.#handle<R>(child);
  }

  /**
   * Starts one more child of a nested supervisor from its `template` (OTP's
   * `simple_one_for_one`), with `overrides` (a name, a config) applied.
   */
  startChild<R = unknown>(
    under: string,
    overrides: { readonly name?: string; readonly config?: unknown } = {},
  ): Promise<AgentHandle<R>> {
    const nested = this.#nestedById(under);
    const template = nested.#template;
    if (template === undefined)
      return Promise.reject(
        bad(
          `Nested supervisor ${under} has no template; give its spec supervisor.template, or spawn a full spec with { under }`,
        ),
      );
    return nested.spawn({ ...template, ...overrides } as AgentSpec) as Promise<AgentHandle<R>>;
  }

  /**
   * OTP's `terminate_child`: stops a child (by agent id or `childId`) without forgetting it; it is
   * not restarted until {@link Supervisor.restartChild}. A temporary child is finished instead.
   */
  async terminateChild(id: string): Promise<void> {
    const { owner, child } = this.#lookup(id);
    await owner.#enqueue(() => owner.#terminate(child));
  }

  /** OTP's `restart_child`: starts a terminated child again; `CONFLICT` while it runs. */
  async restartChild<R = unknown>(id: string): Promise<AgentHandle<R>> {
    const { owner, child } = this.#lookup(id);
    const refused = await owner.#enqueue(async () => {
      if (!child.terminated) return notTerminated(child, 'restartChild');
      child.terminated = false;
      await owner.#startChild(child);
      return undefined;
    });
    if (refused !== undefined) throw refused;
    return owner.#handle<R>(child);
  }

  /**
   * OTP's `delete_child`: forgets a terminated child (its waiters get a `stopped` outcome);
   * `CONFLICT` while it runs.
   */
  async deleteChild(id: string): Promise<void> {
    const { owner, child } = this.#lookup(id);
    const refused = await owner.#enqueue(async () => {
      if (!child.terminated) return notTerminated(child, 'deleteChild');
      await owner.#end(child, 'stopped');
      owner.#forget(child);
      return undefined;
    });
    if (refused !== undefined) throw refused;
  }

  /** OTP's `count_children` for this supervisor's own children. */
  countChildren(): ChildCounts {
    const known = this.#children.filter((c) => c.outcome === undefined);
    const supervisors = known.filter((c) => c.kind === 'supervisor').length;
    return {
      specs: known.length,
      active: known.filter((c) => c.run !== undefined).length,
      supervisors,
      workers: known.length - supervisors,
    };
  }

  /** Starts an agent and waits until it has finished for good. */
  async run<C = unknown, R = unknown>(spec: AgentSpec<C, R>): Promise<AgentOutcome<R>> {
    return (await this.spawn(spec)).wait();
  }

  /** Starts a group of agents and waits for all of them (see {@link runAgentGroup}). */
  group<R = unknown>(
    input: AgentGroupInput,
    options: AgentGroupOptions = {},
  ): Promise<AgentGroupResult<R>> {
    return runAgentGroup<R>(
      {
        ids: this.#shared.ids,
        publish: (event) => this.#publish(event),
        validate: (spec) => void validateAgentSpec(spec),
        spawn: (spec) => this.spawn(spec),
      },
      input,
      options,
    );
  }

  /** Resolves when the agent has finished for good; `UNKNOWN_AGENT` for an unknown id. */
  wait<R = unknown>(id: string): Promise<AgentOutcome<R>> {
    const found = this.#find(id);
    if (found === undefined) return Promise.reject(unknownAgent(id));
    return waitFor<R>(found.child);
  }

  /** Stops an agent for good (SIGTERM, then SIGKILL after its grace, for a process). */
  kill<R = unknown>(id: string): Promise<AgentOutcome<R>> {
    const found = this.#find(id);
    if (found === undefined) return Promise.reject(unknownAgent(id));
    return found.owner.#kill<R>(found.child);
  }

  #nestedById(id: string): Supervisor {
    const nested = this.#find(id)?.child.nested;
    if (nested === undefined)
      throw new KernelError(
        'UNKNOWN_AGENT',
        `No running nested supervisor with id "${id}"; list() shows the agents (kind "supervisor")`,
        { details: { agentId: id } },
      );
    return nested;
  }

  /** Finds a child by agent id (anywhere in the tree) or by `childId` (among own children). */
  #lookup(id: string): { owner: Supervisor; child: Child } {
    const found =
      this.#find(id) ??
      this.#children
        .filter((c) => c.outcome === undefined && c.spec.childId === id)
        .map((child) => ({ owner: this as Supervisor, child }))[0];
    if (found === undefined) throw unknownAgent(id);
    return found;
  }

  async #terminate(child: Child): Promise<void> {
    if (child.outcome !== undefined || child.terminated) return;
    if (child.restart === 'temporary') {
      child.hookCancel?.abort();
      await this.#end(child, 'stopped');
      return;
    }
    this.#clearRestartTimer(child);
    await this.#stopRun(child);
    child.terminated = true;
    this.#setStatus(child, 'stopped');
  }

  #forget(child: Child): void {
    this.#byId.delete(child.id);
    for (const list of [this.#children, this.#finished]) {
      const at = list.indexOf(child);
      if (at !== -1) list.splice(at, 1);
    }
  }

  #kill<R>(child: Child): Promise<AgentOutcome<R>> {
    if (child.outcome !== undefined) return waitFor<R>(child);
    child.hookCancel?.abort();
    return this.#enqueue(() => this.#end(child, 'stopped')).then(() => waitFor<R>(child));
  }

  /** The spec an agent of this name was last spawned with here, or undefined. */
  lastSpec(name: string): AgentSpec | undefined {
    return this.#specs.get(name);
  }

  /** One agent (this supervisor's or a nested one's), or undefined. */
  get(id: string): AgentInfo | undefined {
    const found = this.#find(id);
    return found === undefined ? undefined : found.owner.#info(found.child);
  }

  /** Every agent, in start order, each nested supervisor followed by its own children. */
  list(): AgentInfo[] {
    const out: AgentInfo[] = [];
    for (const child of this.#children) {
      out.push(this.#info(child));
      if (child.nested !== undefined) out.push(...child.nested.list());
    }
    return out;
  }

  /** Stops every child in reverse start order (no restarts), then waits for registry writes. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Same as {@link Supervisor.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    if (this.#status === 'running') this.#status = 'closing';
    this.#cancelTimers();
    for (const child of this.#children) child.hookCancel?.abort();
    await this.#enqueue(() => this.#stopAll());
    await Promise.all(this.#children.map((c) => c.moduleWrite ?? Promise.resolve()));
    this.#status = 'closed';
    this.#completion?.resolve(undefined);
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────

  #find(id: string): { owner: Supervisor; child: Child } | undefined {
    const child = this.#byId.get(id);
    if (child !== undefined) return { owner: this, child };
    for (const c of this.#children) {
      if (c.nested === undefined) continue;
      const found = c.nested.#find(id);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  #handle<R>(child: Child): AgentHandle<R> {
    return {
      id: child.id,
      name: child.name,
      info: () => this.#info(child),
      wait: () => waitFor<R>(child),
      kill: () => this.#kill<R>(child),
    };
  }

  #info(child: Child): AgentInfo {
    return {
      id: child.id,
      name: child.name,
      kind: child.kind,
      status: child.status,
      restart: child.restart,
      restarts: child.restarts,
      lastError: child.lastFailure?.message ?? null,
      pid: child.pid,
      startedAtMs: child.startedAtMs,
      stoppedAtMs: child.stoppedAtMs,
      supervisorId: this.id,
      outcome:
        child.outcome === undefined
          ? null
          : child.outcome.reason === 'stopped'
            ? 'killed'
            : child.outcome.reason,
    };
  }

  #assertOpen(): void {
    if (this.#status === 'escalated')
      throw new KernelError(
        'SUPERVISOR_ESCALATED',
        `Supervisor "${this.name}" gave up after exceeding its restart intensity; close it and create a new one`,
        { details: { supervisorId: this.id } },
      );
    if (this.#status !== 'running')
      throw new KernelError('CLOSED', `Supervisor "${this.name}" is closed; create a new one`);
  }

  /** Adds a child (not yet started). */
  #add(spec: AgentSpec, secretEnv?: Readonly<Record<string, string>>): Child {
    this.#assertOpen();
    const kind = validateAgentSpec(spec);
    const secrets = (spec as ProcessAgentSpec).secrets;
    if (
      kind === 'process' &&
      secrets !== undefined &&
      secrets.length > 0 &&
      secretEnv === undefined
    )
      throw bad(
        `Agent "${spec.name}" asks for secrets: start it with spawn() (secrets are resolved and granted at spawn time)`,
      );
    const key = spec.childId;
    if (
      key !== undefined &&
      this.#children.some((c) => c.outcome === undefined && c.spec.childId === key)
    )
      throw new KernelError(
        'CONFLICT',
        `Supervisor "${this.name}" already has a child with childId "${key}"; deleteChild it first or use another childId`,
        { details: { supervisorId: this.id, childId: key } },
      );
    const restart = spec.restart ?? 'transient';
    const child = new Child(this.#shared.ids(), spec, kind, restart, spec.config);
    child.secretEnv = secretEnv;
    this.#children.push(child);
    this.#byId.set(child.id, child);
    this.#specs.set(spec.name, spec);
    this.#publish({ type: 'AgentCreated', id: child.id, name: child.name });
    this.#writeModule(child, 'starting');
    return child;
  }

  #enqueue<T>(task: () => Promise<T> | T): Promise<T> {
    const next = this.#queue.then(task);
    this.#queue = next.then(
      () => undefined,
      (error: unknown) =>
        this.#shared.logger.error('Supervisor task failed', {
          supervisorId: this.id,
          error: errorMessage(error),
        }),
    );
    return next;
  }

  #publish(event: KernelEvent): void {
    const bus = this.#shared.bus;
    if (bus === undefined) return;
    try {
      bus.publish(event);
    } catch (error) {
      // The bus closes before the supervisor during a kernel shutdown.
      this.#shared.logger.debug('Supervisor event not published', {
        type: event.type,
        error: errorMessage(error),
      });
    }
  }

  #setStatus(child: Child, status: AgentStatus): void {
    child.status = status;
    this.#writeModule(child, moduleStateOf(status));
  }

  #writeModule(child: Child, state: ModuleState): void {
    const port = this.#shared.modules;
    if (port === undefined || child.moduleState === state) return;
    const first = child.moduleState === undefined;
    child.moduleState = state;
    const write = first
      ? () =>
          port.upsertModule(
            {
              id: child.id,
              name: child.name,
              version: child.spec.version ?? '0.0.0',
              kind: 'native',
              description: child.spec.description ?? null,
            },
            state,
          )
      : () => port.setModuleState(child.id, state);
    child.moduleWrite = (child.moduleWrite ?? Promise.resolve()).then(write).then(
      () => undefined,
      (error: unknown) =>
        this.#shared.logger.warn('Agent module state not recorded', {
          agentId: child.id,
          state,
          error: errorMessage(error),
        }),
    );
  }

  #grace(child: Child): number {
    if (child.spec.shutdownMs !== undefined) return child.spec.shutdownMs;
    return child.kind === 'supervisor' ? Number.POSITIVE_INFINITY : this.#shared.shutdownMs;
  }

  /**
   * Starts one run; resolves once it is started (ready, for a child that awaits readiness) or
   * has ended. Resolves with the failure when the child's first start failed before that.
   */
  async #startChild(child: Child): Promise<FailureSignal | undefined> {
    if (child.outcome !== undefined || child.run !== undefined || this.#status !== 'running')
      return undefined;
    const gen = ++child.generation;
    child.activeGen = gen;
    child.attempt++;
    child.heartbeatFailure = undefined;
    child.pid = null;
    child.startedAtMs = this.#shared.clock.now();
    this.#setStatus(child, 'starting');
    const ready = deferred<void>();
    child.readyWait = ready;
    const host = this.#host(child, gen);
    let run: RunHandle;
    if (child.kind === 'process') {
      run = startProcessRun(child.spec as ProcessAgentSpec, host);
    } else {
      const fn =
        child.kind === 'function'
          ? (child.spec as FunctionAgentSpec).run
          : this.#nestedRun(child, (child.spec as SupervisorChildSpec).supervisor);
      run = startFunctionRun(fn, host, this.#grace(child));
    }
    child.run = run;
    void run.done.then((outcome) => this.#onRunEnd(child, gen, outcome));
    this.#armHeartbeat(child, gen);
    await Promise.race([ready.promise, run.done]);
    child.readyWait = undefined;
    child.initialStart = false;
    const failure = child.startFailure;
    child.startFailure = undefined;
    return failure;
  }

  /** A child failed to start: stop the children started so far, in reverse; `failed`. */
  async #abortStart(): Promise<void> {
    if (this.#status !== 'running') return;
    this.#status = 'failed';
    this.#cancelTimers();
    for (let i = this.#children.length - 1; i >= 0; i--) {
      const c = this.#children[i];
      if (c !== undefined) {
        c.hookCancel?.abort();
        await this.#end(c, c.status === 'failed' ? 'failed' : 'stopped');
      }
    }
  }

  /** The child's output gate: every line goes through it to `AgentOutput`. */
  #output(child: Child): OutputLimiter {
    if (child.output !== undefined) return child.output;
    const emit = (text: string): void =>
      this.#publish({
        type: 'AgentOutput',
        sessionId: child.spec.sessionId ?? child.id,
        agentId: child.id,
        output: text,
      });
    const limits = this.#shared.outputLimits;
    child.output =
      limits === false
        ? { write: emit, close: () => undefined, waitMs: () => 0 }
        : createOutputLimiter({
            clock: this.#shared.clock,
            limits,
            emit,
            onTruncated: (loss) => {
              this.#publish({ type: 'OutputTruncated', agentId: child.id, ...loss });
              this.#shared.logger.warn('Agent output over its limits was dropped', {
                agentId: child.id,
                ...loss,
              });
            },
          });
    return child.output;
  }

  /** The supervisor's side of one run; reports from an older run are ignored. */
  #host(child: Child, gen: number): RunHost {
    return {
      ref: child.ref(),
      config: child.config,
      clock: this.#shared.clock,
      services: this.#shared.services,
      logger: this.#shared.logger,
      secretEnv: child.secretEnv,
      started: (pid) => {
        if (gen !== child.activeGen) return;
        child.pid = pid;
        if (pid !== null && 'command' in child.spec) this.#shared.processGroups?.started(pid);
        if (!child.awaitsReady) this.#onReady(child, gen);
      },
      ready: () => {
        if (child.awaitsReady) this.#onReady(child, gen);
      },
      abandoned: (graceMs) => {
        this.#shared.stats.abandoned++;
        this.#publish({
          type: 'AgentAbandoned',
          id: child.id,
          graceMs: Math.min(0xffff_ffff, Math.round(graceMs)),
        });
        this.#shared.logger.warn(
          'An in-process agent ignored its abort signal and was abandoned; it may still be running',
          { agentId: child.id, name: child.name, graceMs },
        );
      },
      output: (text) => {
        if (gen !== child.activeGen) return;
        this.#output(child).write(text);
        this.#armHeartbeat(child, gen);
      },
      outputWaitMs: () => (gen === child.activeGen ? this.#output(child).waitMs() : 0),
      alive: () => {
        if (gen === child.activeGen) this.#armHeartbeat(child, gen);
      },
      setIdle: (idle) => {
        if (gen !== child.activeGen) return;
        if (idle && child.status === 'running') this.#setStatus(child, 'idle');
        else if (!idle && child.status === 'idle') this.#setStatus(child, 'running');
      },
    };
  }

  #nestedRun(child: Child, spec: NestedSupervisorSpec): (ctx: AgentContext) => Promise<undefined> {
    return async (ctx) => {
      inheritedShared = this.#shared;
      const nested = new Supervisor({
        id: child.id,
        name: child.name,
        strategy: spec.strategy,
        intensity: { ...this.#intensityPolicy, ...spec.intensity },
        backoff: { ...this.#backoff, ...spec.backoff },
        children: spec.children,
        autoShutdown: spec.autoShutdown,
      });
      const completion = deferred<KernelError | undefined>();
      nested.#completion = completion;
      nested.#template = spec.template;
      child.nested = nested;
      const stop = (): void => void nested.close();
      ctx.signal.addEventListener('abort', stop, { once: true });
      try {
        await nested.start();
        ctx.ready();
        const escalation = await completion.promise;
        if (escalation !== undefined) throw escalation;
        return undefined;
      } finally {
        ctx.signal.removeEventListener('abort', stop);
      }
    };
  }

  #onReady(child: Child, gen: number): void {
    if (gen !== child.activeGen || child.readyGen === gen) return;
    child.readyGen = gen;
    child.readyWait?.resolve();
    if (child.stopping) return;
    this.#setStatus(child, 'running');
    this.#publish({ type: 'AgentStarted', id: child.id });
    this.#armHealth(child, gen);
  }

  /** A run still up after `healthyAfterMs` is reported healthy. */
  #armHealth(child: Child, gen: number): void {
    if (this.#shared.onHealth === undefined) return;
    this.#clearHealth(child);
    const ms = child.spec.healthyAfterMs ?? this.#shared.healthyAfterMs;
    child.healthTimer = this.#shared.clock.setTimeout(() => {
      child.healthTimer = undefined;
      if (gen === child.activeGen && !child.stopping) this.#report(child, 'healthy');
    }, ms);
  }

  #clearHealth(child: Child): void {
    if (child.healthTimer === undefined) return;
    this.#shared.clock.clearTimeout(child.healthTimer);
    child.healthTimer = undefined;
  }

  #report(child: Child, kind: AgentHealthReport['kind']): void {
    const listener = this.#shared.onHealth;
    if (listener === undefined) return;
    try {
      listener({ kind, agent: this.#info(child), spec: child.spec, config: child.config });
    } catch (error) {
      this.#shared.logger.error('The health listener failed', {
        agentId: child.id,
        error: errorMessage(error),
      });
    }
  }

  #armHeartbeat(child: Child, gen: number): void {
    const ms = child.spec.heartbeatTimeoutMs;
    if (ms === undefined) return;
    const clock = this.#shared.clock;
    if (child.heartbeatTimer !== undefined) clock.clearTimeout(child.heartbeatTimer);
    child.heartbeatTimer = clock.setTimeout(() => {
      child.heartbeatTimer = undefined;
      const run = child.run;
      if (gen !== child.activeGen || run === undefined || child.stopping) return;
      child.heartbeatFailure = createFailureSignal(
        'runtime',
        `Agent "${child.name}" sent no heartbeat for ${ms} ms`,
      );
      void run.stop(this.#grace(child));
    }, ms);
  }

  #clearHeartbeat(child: Child): void {
    if (child.heartbeatTimer === undefined) return;
    this.#shared.clock.clearTimeout(child.heartbeatTimer);
    child.heartbeatTimer = undefined;
  }

  #onRunEnd(child: Child, gen: number, ended: RunOutcome): void {
    if (gen !== child.activeGen) return;
    child.output?.close(); // its last coalesced lines and any loss notice, before its exit event
    if (child.pid !== null) this.#shared.processGroups?.ended(child.pid);
    const now = this.#shared.clock.now();
    child.activeGen = 0;
    child.run = undefined;
    child.pid = null;
    child.stoppedAtMs = now;
    this.#clearHeartbeat(child);
    this.#clearHealth(child);
    if (child.stopping || child.outcome !== undefined || this.#status !== 'running') return;
    if (child.startedAtMs !== null && now - child.startedAtMs >= this.#resetMs)
      child.consecutive = 0;
    const outcome: RunOutcome =
      child.heartbeatFailure === undefined
        ? ended
        : {
            ok: false,
            failure: child.heartbeatFailure,
            error: new KernelError('HEARTBEAT_TIMEOUT', child.heartbeatFailure.message),
          };
    if (!outcome.ok && child.initialStart && child.readyGen !== gen) {
      // Failed before it started: the starter aborts (OTP `failed_to_start_child`), no restart.
      child.lastFailure = outcome.failure;
      child.startFailure = outcome.failure;
      this.#setStatus(child, 'failed');
      this.#publish({ type: 'AgentFailed', id: child.id, error: outcome.failure.message });
      return;
    }
    if (outcome.ok) {
      child.result = outcome.value;
      this.#report(child, 'healthy');
      if (child.restart === 'permanent') {
        this.#setStatus(child, 'stopped');
        this.#publish({ type: 'AgentStopped', id: child.id, success: true });
        void this.#enqueue(() => this.#restart(child, gen, undefined));
      } else {
        void this.#enqueue(() => this.#end(child, 'completed'));
      }
      return;
    }
    child.lastFailure = outcome.failure;
    this.#setStatus(child, 'failed');
    this.#publish({ type: 'AgentFailed', id: child.id, error: outcome.failure.message });
    void this.#afterFailure(child, gen, outcome.failure, outcome.error);
  }

  /** Asks the recovery policy (outside the queue: it may wait for a human), then applies. */
  async #afterFailure(
    child: Child,
    gen: number,
    signal: FailureSignal,
    error: unknown,
  ): Promise<void> {
    let decision: FailureDecision = { action: 'default' };
    const policy = this.#shared.recovery;
    if (policy !== undefined) {
      const cancel = new AbortController();
      child.hookCancel = cancel;
      try {
        decision = checkDecision(
          await policy({
            agent: this.#info(child),
            spec: child.spec,
            config: child.config,
            signal,
            error,
            attempt: child.attempt,
            restarts: child.restarts,
            cancel: cancel.signal,
          }),
        );
        if (decision.action === 'escalate')
          decision = (await decision.approved) ? { action: 'retry' } : { action: 'give_up' };
      } catch (policyError) {
        this.#shared.logger.error('The recovery policy failed; applying the restart rules', {
          agentId: child.id,
          error: errorMessage(policyError),
        });
        decision = { action: 'default' };
      } finally {
        if (child.hookCancel === cancel) child.hookCancel = undefined;
      }
    }
    await this.#enqueue(() => this.#decide(child, gen, decision));
  }

  async #decide(child: Child, gen: number, decision: FailureDecision): Promise<void> {
    if (
      gen !== child.generation ||
      child.run !== undefined ||
      child.outcome !== undefined ||
      this.#status !== 'running'
    )
      return;
    switch (decision.action) {
      case 'give_up':
        await this.#end(child, 'failed');
        return;
      case 'patch_forward':
      case 'rollback':
        child.config = decision.config;
        await this.#restart(child, gen, decision.delayMs);
        return;
      case 'retry':
        await this.#restart(child, gen, decision.delayMs);
        return;
      default:
        if (shouldRestart(child.restart, true)) await this.#restart(child, gen, undefined);
        else await this.#end(child, 'failed');
    }
  }

  async #restart(child: Child, gen: number, delayMs: number | undefined): Promise<void> {
    if (gen !== child.generation || child.outcome !== undefined || this.#status !== 'running')
      return;
    if (!this.#intensity.tryRecord()) {
      await this.#escalate(child);
      return;
    }
    const index = this.#children.indexOf(child);
    let scope = restartScope(
      this.#strategy,
      index,
      this.#children.map((c) => c.outcome === undefined && !c.terminated),
    ).map((i) => this.#children[i]!);
    // Stopped in reverse order; a temporary sibling is never restarted: it is finished (OTP).
    for (let i = scope.length - 1; i >= 0; i--) {
      const sibling = scope[i]!;
      if (sibling === child) continue;
      if (sibling.restart === 'temporary') {
        sibling.hookCancel?.abort();
        await this.#end(sibling, 'stopped');
      } else await this.#stopRun(sibling);
    }
    scope = scope.filter((c) => c.outcome === undefined);
    const delay = Math.min(
      0xffff_ffff,
      Math.round(delayMs ?? backoffDelay(this.#backoff, child.consecutive, this.#shared.random)),
    );
    child.consecutive++;
    for (const c of scope) {
      this.#clearRestartTimer(c);
      c.restarts++;
      this.#publish({ type: 'AgentRestarted', id: c.id, restarts: c.restarts, delayMs: delay });
    }
    const startAll = async (): Promise<void> => {
      for (const c of scope) await this.#startChild(c);
    };
    if (delay <= 0) {
      await startAll();
      return;
    }
    const timer = this.#shared.clock.setTimeout(() => {
      this.#timers.delete(timer);
      for (const c of scope) if (c.restartTimer === timer) c.restartTimer = undefined;
      void this.#enqueue(startAll);
    }, delay);
    this.#timers.add(timer);
    for (const c of scope) c.restartTimer = timer;
  }

  #clearRestartTimer(child: Child): void {
    const timer = child.restartTimer;
    if (timer === undefined) return;
    child.restartTimer = undefined;
    // A timer shared by a group restart stays armed while another member still waits on it.
    if (this.#children.some((c) => c.restartTimer === timer)) return;
    this.#shared.clock.clearTimeout(timer);
    this.#timers.delete(timer);
  }

  /** Stops a child's current run without finishing it (it is about to restart). */
  async #stopRun(child: Child): Promise<void> {
    child.hookCancel?.abort();
    const run = child.run;
    const wasLive = LIVE.has(child.status);
    if (run !== undefined) {
      child.stopping = true;
      try {
        await run.stop(this.#grace(child));
      } finally {
        child.stopping = false;
      }
    }
    if (wasLive) {
      this.#setStatus(child, 'stopped');
      this.#publish({ type: 'AgentStopped', id: child.id, success: false });
    }
    // A pending decision about its own failure is now stale.
    child.generation++;
  }

  /** Finishes a child for good. */
  async #end(child: Child, reason: AgentEndReason): Promise<void> {
    if (child.outcome !== undefined) return;
    this.#clearRestartTimer(child);
    const wasLive = LIVE.has(child.status);
    const run = child.run;
    if (run !== undefined) {
      child.stopping = true;
      await run.stop(this.#grace(child));
    }
    const status = reason === 'failed' ? 'failed' : 'stopped';
    this.#setStatus(child, status);
    if (wasLive && status === 'stopped') {
      this.#publish({ type: 'AgentStopped', id: child.id, success: reason === 'completed' });
    }
    const outcome: AgentOutcome = {
      id: child.id,
      name: child.name,
      reason,
      status,
      result: child.result,
      failure: reason === 'completed' ? null : child.lastFailure,
      restarts: child.restarts,
    };
    child.outcome = outcome;
    child.nested = undefined;
    child.ended?.resolve(outcome);
    child.ended = undefined;
    this.#report(child, 'ended');
    this.#forgetOld(child);
    if (child.spec.significant === true && reason !== 'stopped') this.#checkAutoShutdown();
  }

  /** OTP's `auto_shutdown`: a significant child exited; close when the rule says so. */
  #checkAutoShutdown(): void {
    if (this.#autoShutdown === 'never' || this.#autoShut || this.#status !== 'running') return;
    const all = this.#children.filter((c) => c.spec.significant === true);
    if (this.#autoShutdown === 'all_significant' && all.some((c) => c.outcome === undefined))
      return;
    this.#autoShut = true;
    // Called inside a queued task: close() queues its stop after it.
    void this.close();
  }

  #forgetOld(child: Child): void {
    this.#finished.push(child);
    while (this.#finished.length > this.#shared.keepFinished) {
      const old = this.#finished.shift()!;
      this.#byId.delete(old.id);
      const at = this.#children.indexOf(old);
      if (at !== -1) this.#children.splice(at, 1);
    }
  }

  async #stopAll(): Promise<void> {
    for (let i = this.#children.length - 1; i >= 0; i--) {
      const child = this.#children[i];
      if (child !== undefined) await this.#end(child, 'stopped');
    }
  }

  async #escalate(child: Child): Promise<void> {
    this.#status = 'escalated';
    this.#cancelTimers();
    const { maxRestarts, periodMs } = this.#intensityPolicy;
    const reason =
      `restart intensity exceeded: more than ${maxRestarts} restart(s) in ${periodMs} ms; ` +
      `last failure of "${child.name}": ${child.lastFailure?.message ?? 'exited'}`;
    for (let i = this.#children.length - 1; i >= 0; i--) {
      const c = this.#children[i];
      if (c !== undefined) {
        c.hookCancel?.abort();
        await this.#end(c, c.status === 'failed' ? 'failed' : 'stopped');
      }
    }
    this.#publish({ type: 'SupervisorEscalated', supervisorId: this.id, reason });
    this.#shared.logger.warn('Supervisor escalated', { supervisorId: this.id, reason });
    const error = new KernelError(
      'SUPERVISOR_ESCALATED',
      `Supervisor "${this.name}" escalated: ${reason}`,
      { details: { supervisorId: this.id } },
    );
    this.#completion?.resolve(error);
    this.#escalated.resolve(error);
    try {
      this.#onEscalated?.(error);
    } catch (hookError) {
      this.#shared.logger.error('onEscalated failed', { error: errorMessage(hookError) });
    }
  }

  #cancelTimers(): void {
    for (const timer of this.#timers) this.#shared.clock.clearTimeout(timer);
    this.#timers.clear();
  }
}

function waitFor<R>(child: Child): Promise<AgentOutcome<R>> {
  if (child.outcome !== undefined) return Promise.resolve(child.outcome as AgentOutcome<R>);
  child.ended ??= deferred<AgentOutcome>();
  return child.ended.promise as Promise<AgentOutcome<R>>;
}

function failedToStart(
  supervisor: Supervisor,
  child: Child,
  failure: FailureSignal,
  consequence: string,
): KernelError {
  return new KernelError(
    'FAILED_TO_START_CHILD',
    `Supervisor "${supervisor.name}" could not start "${child.name}": it failed before it was started (${failure.message}); ${consequence}. Fix the agent, or have it call ready() only once it can work`,
    { details: { supervisorId: supervisor.id, agentId: child.id } },
  );
}

function notTerminated(child: Child, what: string): KernelError {
  return new KernelError(
    'CONFLICT',
    `Agent "${child.name}" is ${child.outcome === undefined ? child.status : 'finished'}, not terminated; terminateChild it before ${what}`,
    { details: { agentId: child.id } },
  );
}

function unknownAgent(id: string): KernelError {
  return new KernelError(
    'UNKNOWN_AGENT',
    `No agent with id "${id}" under this supervisor; list() shows the agents it knows (finished ones are forgotten after keepFinished)`,
    { details: { agentId: id } },
  );
}

const DECISIONS: ReadonlySet<unknown> = new Set([
  'retry',
  'patch_forward',
  'rollback',
  'escalate',
  'give_up',
  'default',
]);

function checkDecision(value: unknown): FailureDecision {
  const d = value as Partial<{ action: unknown; delayMs: unknown; approved: unknown }> | null;
  if (typeof d !== 'object' || d === null || !DECISIONS.has(d.action))
    throw bad(
      `The recovery policy must resolve to { action: ${[...DECISIONS].join(' | ')} }, got ${JSON.stringify(value) ?? String(value)}`,
    );
  if (
    d.delayMs !== undefined &&
    !(typeof d.delayMs === 'number' && Number.isFinite(d.delayMs) && d.delayMs >= 0)
  )
    throw bad('A decision’s delayMs must be a finite number ≥ 0');
  if (d.action === 'escalate' && !(d.approved instanceof Promise))
    throw bad('An escalate decision needs `approved`: a promise of the human’s answer');
  return d as FailureDecision;
}

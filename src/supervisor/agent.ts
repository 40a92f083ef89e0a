/**
 * What a supervised agent is: its spec (an in-process function, an external process speaking
 * JSON lines, or a nested supervisor), the context an in-process agent runs with, its statuses,
 * and the ports the kernel plugs in (approvals and ledger, module states, the recovery policy).
 *
 * @example
import type { AgentSpec } from 'kerno';
 * const researcher: AgentSpec = {
 *   name: 'researcher',
 *   restart: 'transient',
 *   run: async (ctx) => {
 *     ctx.output('searching…');
 *     return 42;
 *   },
 * };
 *
 * @module
 */
import type { ModuleState } from '../model/kernel-event.js';
import type { AgentSecretRef } from './agent-secrets.js';
import { KernelError, errorMessage } from '../errors.js';
import type { ContextItem, ExperienceEvent } from '../formats/converge-experience-event.js';
import type { UserExperienceEvent } from '../formats/converge-user-event.js';
import type { LedgerAppendOptions } from '../ledger/ledger.js';
import { createFailureSignal, type FailureSignal, type RecoveryPolicy } from '../model/failure.js';
import type { Clock } from '../util/clock.js';
import type {
  BackoffPolicy,
  RestartIntensity,
  RestartStrategy,
  RestartType,
} from './restart-strategy.js';

/** Agent statuses (oxios `AgentStatus`, lower-case). */
export const AGENT_STATUSES = ['starting', 'running', 'idle', 'stopped', 'failed'] as const;
/** Where an agent is in its life. `idle` is `running`, waiting for work. */
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/** The registry state an agent status maps to (running and idle are both `running`). */
export function moduleStateOf(status: AgentStatus): ModuleState {
  return status === 'idle' ? 'running' : status;
}

/** What kind of child a spec describes. */
export type AgentKind = 'function' | 'process' | 'supervisor';

/** Who an agent is, as the services and hooks see it. */
export interface AgentRef {
  readonly id: string;
  readonly name: string;
  /** The run, from 1 (the first start is attempt 1). */
  readonly attempt: number;
  /** Restarts so far. */
  readonly restarts: number;
}

/** What an agent asks a human (maps onto the approval gate's request). */
export interface AgentApprovalRequest {
  /** One line a human can decide on. */
  readonly summary: string;
  readonly rationale?: string | null | undefined;
  /** The action needing approval and the resource involved. */
  readonly action?: string | undefined;
  readonly resource?: string | undefined;
  /** Labelled facts shown with the request. */
  readonly context?: readonly ContextItem[] | undefined;
  /**
   * A stable key (e.g. `deploy:v42`): a restarted agent asking again with the same key finds
   * the same gate, or its decision.
   */
  readonly key?: string | undefined;
}

/** A human's answer to an {@link AgentApprovalRequest}. */
export interface AgentApprovalDecision {
  readonly approved: boolean;
  readonly reason?: string | null | undefined;
}

/** Envelope options an agent may pass with a ledger event. */
export type AgentLedgerOptions = Pick<
  LedgerAppendOptions,
  'eventId' | 'tenantId' | 'correlationId'
>;

/**
 * The kernel services agents reach through their context (in-process) or the protocol
 * (processes). The kernel injects them; without them, calls fail with `SERVICE_UNAVAILABLE`.
 */
export interface SupervisorServices {
  /** Opens an approval gate for `agent` and waits for the decision (or `signal`). */
  requestApproval(
    agent: AgentRef,
    request: AgentApprovalRequest,
    signal: AbortSignal,
  ): Promise<AgentApprovalDecision>;
  /** Appends an experience event on the agent's behalf. */
  appendLedger(
    agent: AgentRef,
    event: ExperienceEvent | UserExperienceEvent,
    options: AgentLedgerOptions,
  ): Promise<unknown>;
}

/** What a module registry must offer to track agents (the kerno `Registry` fits as is). */
export interface ModuleStatePort {
  /** Registers (or re-registers) a module with a state. */
  upsertModule(
    module: {
      readonly id: string;
      readonly name: string;
      readonly version: string;
      readonly kind: 'native' | 'wasm';
      readonly description?: string | null | undefined;
    },
    state: ModuleState,
  ): Promise<unknown>;
  /** Moves a registered module to `state`. */
  setModuleState(id: string, state: ModuleState): Promise<void>;
}

/** The context an in-process agent runs with. */
export interface AgentContext<C = unknown> {
  readonly agentId: string;
  readonly name: string;
  /** This run, from 1. */
  readonly attempt: number;
  /** Restarts before this run. */
  readonly restarts: number;
  /** Aborted when the supervisor stops this run; stop promptly when it fires. */
  readonly signal: AbortSignal;
  /** The agent's config (a rollback may replace it between runs). */
  readonly config: C;
  /** The supervisor's clock. */
  readonly clock: Clock;
  /** Publishes `AgentOutput`. */
  output(text: string): void;
  /** Tells the supervisor the agent is alive (resets the heartbeat timeout). */
  heartbeat(): void;
  /** Marks the agent `idle` (waiting for work) until {@link AgentContext.busy}. */
  idle(): void;
  /** Marks the agent `running` again. */
  busy(): void;
  /**
   * Says the agent is ready: with `awaitReady`, the supervisor counts it as started only now
   * (a failure before this aborts the start). Without `awaitReady` it does nothing.
   */
  ready(): void;
  /** Asks a human; `SERVICE_UNAVAILABLE` when the kernel provides no approval service. */
  requestApproval(request: AgentApprovalRequest): Promise<AgentApprovalDecision>;
  /**
   * Records an experience event (engine- or user-side); `SERVICE_UNAVAILABLE` when no ledger
   * service is injected.
   */
  appendLedger(
    event: ExperienceEvent | UserExperienceEvent,
    options?: AgentLedgerOptions,
  ): Promise<unknown>;
}

/** What a patch-forward step gets (the kernel's recovery wiring calls `spec.patch`). */
export interface AgentPatchContext<C = unknown> {
  readonly agentId: string;
  readonly name: string;
  readonly config: C;
  readonly failure: FailureSignal;
  readonly attempt: number;
  readonly signal: AbortSignal;
  readonly clock: Clock;
}

/** What a patch may hand back: a config to run the next attempt with. */
export interface AgentPatchResult<C = unknown> {
  readonly config?: C;
}

/** Fields every child spec shares. */
export interface AgentSpecBase<C = unknown> {
  /** A human name (need not be unique). */
  readonly name: string;
  /**
   * A key unique among the supervisor's children (OTP's child id); a second child with the same
   * `childId` is refused while the first is known. The supervisor's child functions
   * (`terminateChild`, `restartChild`, `deleteChild`) take it as well as the agent id.
   */
  readonly childId?: string | undefined;
  /**
   * Counts as started only once it says it is ready (`ctx.ready()`, or a `{"type":"ready"}`
   * line from a process). A failure before that aborts the start (`FAILED_TO_START_CHILD`).
   */
  readonly awaitReady?: boolean | undefined;
  /**
   * A significant child: its exit (normal, or after it is no longer restarted) can shut its
   * supervisor down, by the supervisor's `autoShutdown` (OTP 24's significant children). Only a
   * `transient` or `temporary` child can be significant.
   */
  readonly significant?: boolean | undefined;
  /** When to restart (default `transient`: only after a failure). */
  readonly restart?: RestartType | undefined;
  /** Handed to the agent (`ctx.config`, or `KERNO_AGENT_CONFIG` for processes). */
  readonly config?: C | undefined;
  /** The module version recorded in the registry (default `0.0.0`). */
  readonly version?: string | undefined;
  readonly description?: string | undefined;
  /** Fail the run when the agent is silent this long (no heartbeat, output or message). */
  readonly heartbeatTimeoutMs?: number | undefined;
  /**
   * How long a stop waits: for a process, between SIGTERM and SIGKILL; for a function, for it
   * to settle after its signal aborts before it is abandoned. Default: the supervisor's.
   */
  readonly shutdownMs?: number | undefined;
  /** `AgentOutput.sessionId` (default: the agent's id). */
  readonly sessionId?: string | undefined;
  /**
   * Self-healing (read by the kernel's recovery policy): overrides of the recovery policy
   * defaults, or `false` for plain OTP restarts without the recovery loop.
   */
  readonly recovery?: Partial<RecoveryPolicy> | false | undefined;
  /**
   * A run that keeps running this long is reported healthy (a restarted one counts as recovered,
   * its config becomes the known-good one). Default: the supervisor's (10 s).
   */
  readonly healthyAfterMs?: number | undefined;
  /** A patch-forward step, carried to the recovery policy (the supervisor never calls it). */
  readonly patch?: ((ctx: AgentPatchContext<C>) => Promise<AgentPatchResult<C> | void>) | undefined;
}

/** An in-process agent: an async function of its context. */
export interface FunctionAgentSpec<C = unknown, R = unknown> extends AgentSpecBase<C> {
  readonly run: (ctx: AgentContext<C>) => Promise<R> | R;
}

/** An external agent: a process speaking JSON lines on stdio (see docs/agent-protocol.md). */
export interface ProcessAgentSpec<C = unknown> extends AgentSpecBase<C> {
  readonly command: string;
  readonly args?: readonly string[] | undefined;
  /** Added to the environment (after the inherited allow-list, unless `inheritEnv` is false). */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /**
   * Whether the process inherits the allow-listed part of this process's environment (PATH,
   * HOME, LANG, LC_*, TZ, TMPDIR, USER, SHELL, TERM; never `KERNO_*` / `OXIDE_*`), default true.
   */
  readonly inheritEnv?: boolean | undefined;
  /**
   * Registry config keys passed to this agent alone as environment variables, resolved at
   * spawn time (`'api_token'` → `API_TOKEN`, or `{ name, env }` to choose the variable).
   */
  readonly secrets?: readonly AgentSecretRef[] | undefined;
  readonly cwd?: string | undefined;
  /** Bytes of stderr kept for the failure message (default 8 KiB). */
  readonly stderrLimit?: number | undefined;
}

/** Options of a nested supervisor. */
export interface NestedSupervisorSpec {
  /** Default `one_for_one`. */
  readonly strategy?: RestartStrategy | undefined;
  /** Fields not given are the parent's. */
  readonly intensity?: Partial<RestartIntensity> | undefined;
  /** Fields not given are the parent's. */
  readonly backoff?: Partial<BackoffPolicy> | undefined;
  /** Started in order, stopped in reverse. */
  readonly children: readonly AgentSpec[];
  /**
   * When the supervisor shuts itself down (a normal exit towards its parent): `never` (default,
   * as OTP: it runs, even empty, until stopped or it gives up), `any_significant` (when one
   * significant child has exited), `all_significant` (when every significant child has).
   */
  readonly autoShutdown?: AutoShutdown | undefined;
  /**
   * The spec dynamic children start from (OTP's `simple_one_for_one`):
   * `supervisor.startChild(nestedId, { config })` starts one more copy.
   */
  readonly template?: AgentSpec | undefined;
}

/** OTP's `auto_shutdown` values, camel-free as in OTP. */
export const AUTO_SHUTDOWNS = ['never', 'any_significant', 'all_significant'] as const;
/** When a supervisor shuts itself down after its significant children exit. */
export type AutoShutdown = (typeof AUTO_SHUTDOWNS)[number];

/**
 * A nested supervisor as a child: it runs until its `autoShutdown` rule ends it (a normal exit),
 * it is stopped, or it exceeds its restart intensity (a failure its parent handles).
 */
export interface SupervisorChildSpec extends AgentSpecBase<undefined> {
  readonly supervisor: NestedSupervisorSpec;
}

/** Any child spec. */
export type AgentSpec<C = unknown, R = unknown> =
  FunctionAgentSpec<C, R> | ProcessAgentSpec<C> | SupervisorChildSpec;

/** Why an agent finished for good. */
export type AgentEndReason = 'completed' | 'failed' | 'stopped';

/** How an agent ended (what `wait` resolves with). */
export interface AgentOutcome<R = unknown> {
  readonly id: string;
  readonly name: string;
  /** `completed`: the last run succeeded; `failed`: it failed and will not restart; `stopped`: killed. */
  readonly reason: AgentEndReason;
  readonly status: 'stopped' | 'failed';
  /** The last successful run's result (a process's last `result` message). */
  readonly result: R | undefined;
  /** The last failure, when the agent did not complete. */
  readonly failure: FailureSignal | null;
  readonly restarts: number;
}

/** An agent as `list()` shows it. */
export interface AgentInfo {
  readonly id: string;
  readonly name: string;
  readonly kind: AgentKind;
  readonly status: AgentStatus;
  readonly restart: RestartType;
  readonly restarts: number;
  /** The message of the last failure, if any. */
  readonly lastError: string | null;
  /** The OS process id of a running process agent. */
  readonly pid: number | null;
  /** Epoch ms of the latest start, and of the latest stop/exit. */
  readonly startedAtMs: number | null;
  readonly stoppedAtMs: number | null;
  /** The supervisor the agent belongs to. */
  readonly supervisorId: string;
  /**
   * How the agent finished for good: `completed` (its last run succeeded), `killed` (stopped by
   * kill, a group stop or close) or `failed` (it failed and will not restart); `null` while it
   * lives. `status` says `stopped` for the first two, as oxios does.
   */
  readonly outcome: AgentInfoOutcome | null;
}

/** How a finished agent ended, in the words {@link AgentInfo.outcome} uses. */
export type AgentInfoOutcome = 'completed' | 'killed' | 'failed';

/** What the recovery policy learns about a failed child. */
export interface AgentFailure {
  readonly agent: AgentInfo;
  /** The spec (with `patch`, if any). */
  readonly spec: AgentSpec;
  /** The config the failed run used. */
  readonly config: unknown;
  readonly signal: FailureSignal;
  /** The thrown error (in-process) or undefined (process). */
  readonly error: unknown;
  /** The failed run's number, from 1. */
  readonly attempt: number;
  readonly restarts: number;
  /** Aborted when the agent is killed or the supervisor closes while the decision is pending. */
  readonly cancel: AbortSignal;
}

/**
 * What to do about a failed child. `retry`, `patch_forward` and `rollback` restart it (the last
 * two with a new config); `escalate` keeps it down until `approved` settles (true: restart);
 * `give_up` finishes it as failed; `default` applies the plain OTP restart rules.
 */
export type FailureDecision =
  | {
      readonly action: 'retry';
      /** Overrides the backoff delay. */
      readonly delayMs?: number | undefined;
    }
  | {
      readonly action: 'patch_forward' | 'rollback';
      /** The config the next run uses (and every run after it). */
      readonly config: unknown;
      readonly delayMs?: number | undefined;
    }
  | { readonly action: 'escalate'; readonly approved: Promise<boolean> }
  | { readonly action: 'give_up' }
  | { readonly action: 'default' };

/**
 * The recovery policy the supervisor asks on every failure: failure in, decision out (the
 * kernel's self-healing). A rejection applies the OTP restart rules.
 */
export type FailurePolicy = (failure: AgentFailure) => Promise<FailureDecision>;

/** What the supervisor reports about a child's health (see {@link SupervisorHealthListener}). */
export interface AgentHealthReport {
  /**
   * `healthy`: the run stayed up `healthyAfterMs`, or completed; `ended`: the agent finished for
   * good (after a `healthy` report when it completed).
   */
  readonly kind: 'healthy' | 'ended';
  readonly agent: AgentInfo;
  readonly spec: AgentSpec;
  /** The config of the run reported on. */
  readonly config: unknown;
}

/** Told when a run proved healthy and when an agent finished (the kernel's self-healing). */
export type SupervisorHealthListener = (report: AgentHealthReport) => void;

/** The error `ctx.requestApproval` / `ctx.appendLedger` throw when the kernel gave no service. */
export function serviceUnavailable(what: 'requestApproval' | 'appendLedger'): KernelError {
  return new KernelError(
    'SERVICE_UNAVAILABLE',
    `ctx.${what}() needs the kernel's ${what === 'requestApproval' ? 'approval gate' : 'ledger'}: ` +
      'run the agent under kernel.supervisor, or pass `services` to createSupervisor()',
  );
}

/**
 * The failure signal of an in-process run: stage from `error.stage` (default `runtime`), the
 * error's message, no exit code, `flaky_hint` from `error.flaky === true`.
 */
export function failureFromError(error: unknown): FailureSignal {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    stage?: unknown;
    flaky?: unknown;
  };
  return createFailureSignal(
    typeof e.stage === 'string' ? e.stage : 'runtime',
    errorMessage(error),
    { exit_code: null, flaky_hint: e.flaky === true },
  );
}

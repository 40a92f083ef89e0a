/**
 * The composition root: `createKernel(options)` opens the store, the bus and every part on them,
 * wires them together, and gives one object to use and to close.
 *
 * Settings left out come from {@link resolveConfig} (environment, then defaults). With
 * `agents: false` the kernel opens the same storage, bus, audit trail, ledger, approvals,
 * registry and learning store but no supervisor: what a tool working on a store needs.
 *
 * @example
 * const kernel = await createKernel({ store: 'sqlite:.kerno/kerno.db' });
 * await kernel.ledger.append(event, { tenantId: 't1' });
 * await kernel.close();
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createProcessGroupFile, reapProcessGroups } from './supervisor/process-groups.js';
import { createApprovalGate, type ApprovalGate } from './approvals/approval-gate.js';
import { createAuditTrail, type AuditTrail } from './audit/audit-trail.js';
import type { EventBus } from './bus/event-bus.js';
import { openBus } from './bus/open-bus.js';
import { prepareStateDir, resolveConfig, type KernoConfig } from './config.js';
import { errorMessage } from './errors.js';
import type { LearningStore } from './learning/learning-store.js';
import { openLearning } from './learning/open-learning.js';
import { createLedger, type Ledger } from './ledger/ledger.js';
import { createRecoveryLogStore, type RecoveryLogStore } from './recovery/recovery-store.js';
import {
  createPolicyStore,
  type PolicyStore,
  type PolicyVersion,
} from './policies/policy-store.js';
import { createLimiter, parseLimitSpec, type Limiter } from './policies/limits.js';
import {
  createScheduler,
  parseScheduleSpec,
  scheduleSpecOf,
  type Scheduler,
  type ScheduleOptions,
  type ScheduleSpec,
} from './policies/schedules.js';
import { createBudgets, parseBudget, type Budgets } from './policies/budgets.js';
import {
  createApprovalRules,
  type ApprovalRules,
  type RuleApproval,
  type RuleEffect,
} from './policies/rules.js';
import { openRegistry, type Registry } from './registry/registry.js';
import { createSelfHealing, type SelfHealing } from './recovery/self-healing.js';
import { createRunHealing, type RunHealing } from './recovery/run-healing.js';
import type { RecoveryPolicy } from './recovery/recovery-types.js';
import type { AgentSpec } from './supervisor/agent.js';
import { createSupervisor, type AgentHandle, type Supervisor } from './supervisor/supervisor.js';
import type { BackoffPolicy, RestartIntensity } from './supervisor/restart-strategy.js';
import { openStorage } from './storage/open-storage.js';
import type { Storage } from './storage/storage.js';
import type { ChainAcceptance } from './storage/log.js';
import type { LogAcceptOptions } from './storage/log-view.js';
import {
  createRunEngine,
  type AgentDefinition,
  type RunApprovals,
  type RunEngine,
  type RunHandle,
  type RunRetention,
  type RunStartOptions,
  type Runs,
} from './runs/run-engine.js';
import {
  definitionsView,
  isProcessDefinition,
  loadDefinitions,
  storeDefinition,
} from './runs/definitions.js';
import { processRun, type ProcessAgentDefinition } from './runs/process-run.js';
import { attachRunOutcomes } from './runs/run-outcomes.js';
import { isRunStepAnnouncement } from './runs/run-context.js';
import { openTelemetry, type Telemetry, type TelemetryOptions } from './telemetry/telemetry.js';
import { systemClock, type Clock } from './util/clock.js';
import { createUuidV7, type IdGenerator } from './util/ids.js';
import { createStderrLogger, type Logger } from './util/logger.js';
import { systemRandom, type Random } from './util/random.js';

/** Options for {@link createKernel}. */
export interface KernelOptions {
  /**
   * Storage URL (`memory:`, `sqlite:<path>`, `postgres://…`) or an open storage. Default:
   * `KERNO_STORE`, else `sqlite:<stateDir>/kerno.db`.
   */
  readonly store?: string | Storage;
  /**
   * Whether to run agents (default `true`). `false` opens every part on the store but no
   * supervisor or self-healing: the kernel a tool (the CLI's `--store`) works through.
   */
  readonly agents?: boolean;
  /** Bus URL (`memory`, `nats://host:4222?tenant=…`; default `KERNO_BUS`, else memory) or a bus. */
  readonly bus?: string | EventBus;
  /** Folder for kerno's files (token, learning file, recovery artifacts). Default: `KERNO_HOME`, else `.kerno`. */
  readonly stateDir?: string;
  /**
   * Keep learning in this RVLS file instead of the store; `null` keeps it in memory only.
   * Default: in the store (an old `<stateDir>/learning.rvls` is imported once, then renamed).
   */
  readonly learningFile?: string | null;
  /** Where recovery artifacts are written. Default: `<stateDir>/recovery`, none for a `memory:` store. */
  readonly recoveryDir?: string;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
  /** How long after a change the learning store is persisted (default 1000 ms). */
  readonly learningPersistDelayMs?: number;
  /** The registry's key string (default: `KERNO_REGISTRY_KEY`). */
  readonly registryKey?: string;
  /** An encrypted oxide-k registry's key string (default: `OXIDE_REGISTRY_KEY`). */
  readonly oxideRegistryKey?: string;
  /** scrypt cost for a registry key created now (tests lower it). */
  readonly registryScryptCost?: number;
  /** Recovery policy defaults for every agent (each agent's `recovery` overrides them). */
  readonly recoveryPolicy?: Partial<RecoveryPolicy>;
  /** A restarted agent healthy this long counts as recovered (default 10 s). */
  readonly healthyAfterMs?: number;
  /** The kernel supervisor's restart intensity (default 3 in 5 s) and backoff. */
  readonly intensity?: Partial<RestartIntensity>;
  readonly backoff?: Partial<BackoffPolicy>;
  /**
   * Durable agents to define at open, so their unfinished runs resume at once (the same as
   * calling `kernel.define` for each right after).
   */
  readonly define?: readonly AgentDefinition<never, unknown>[];
  /**
   * Who owns the runs this kernel starts (default `'local'`). A kernel resumes only its own
   * unfinished runs: give each kernel sharing one PostgreSQL store its own stable owner.
   */
  readonly runOwner?: string;
  /** Longest durable sleep kept in memory; longer ones suspend the run (default 5000 ms). */
  readonly runHoldMs?: number;
  /**
   * Retention of finished runs' journals (default: 7 days, at most the newest 10 000, checked
   * hourly); `false` keeps them all.
   */
  readonly runRetention?: RunRetention | false;
  /**
   * Several kernels on one PostgreSQL store: take over the unfinished runs of a kernel that has
   * not said it is alive for this long (ms). Give each kernel its own `runOwner`.
   */
  readonly runLeaseMs?: number;
  /**
   * Traces and metrics (OpenTelemetry). Default: the program's global `@opentelemetry/api`
   * TracerProvider when one is registered, else OTLP/HTTP JSON export as the `OTEL_*` variables
   * configure it, else nothing (no cost). `env` replaces `process.env` as the variables read;
   * `false` turns telemetry off whatever the environment says.
   */
  readonly telemetry?: false | Pick<TelemetryOptions, 'env' | 'sink'>;
  /** A schedule's due time older than this when the kernel gets to it counts as missed (default 60 000 ms). */
  readonly scheduleGraceMs?: number;
  /** The effect of `ctx.authorize` when no approval rule matches (default `allow`). */
  readonly defaultRuleEffect?: RuleEffect;
}

/** A chain {@link KernelCore.acceptChain} can anchor. */
export type ChainTarget = 'ledger' | 'audit';

/** A kernel without agents (`agents: false`): every part on the store, no supervisor. */
export interface KernelCore extends AsyncDisposable {
  /** The resolved configuration (secrets in it are not enumerable). */
  readonly config: KernoConfig;
  readonly stateDir: string;
  readonly storage: Storage;
  readonly bus: EventBus;
  readonly audit: AuditTrail;
  readonly ledger: Ledger;
  readonly approvals: ApprovalGate;
  readonly recoveries: RecoveryLogStore;
  readonly learning: LearningStore;
  readonly registry: Registry;
  /** Versioned kernel policies (budgets, approval rules, schedules, limits) on the log. */
  readonly policies: PolicyStore;
  /** Concurrency and rate limits (`limit` policies): slots in use and queued runs. */
  readonly limits: Limiter;
  /** Schedules with their next fire times (a kernel with agents fires them). */
  readonly schedules: Scheduler;
  /**
   * Stores the schedule `name` (a `schedule` policy): a cron expression or `{ everyMs }` that
   * starts a run of `options.agent` with `input` at each due time.
   */
  schedule(
    name: string,
    timing: string | { readonly everyMs: number },
    input: unknown,
    options: ScheduleOptions,
  ): Promise<PolicyVersion<ScheduleSpec>>;
  /** Budgets: usage (from the ledger) vs limit per budget policy; raise-or-stop decisions. */
  readonly budgets: Budgets;
  /** The approval rules (policy kind `rule`): `evaluate`, `decide` (audited), `list`. */
  readonly rules: ApprovalRules;
  /** Durable runs: get, list, wait, cancel (a kernel without agents reads them, runs none). */
  readonly runs: Runs;
  /** Where recovery artifacts are written; `undefined` when they are not (a `memory:` store). */
  readonly recoveryDir: string | undefined;
  readonly clock: Clock;
  readonly random: Random;
  readonly ids: IdGenerator;
  readonly logger: Logger;
  /**
   * Traces and metrics when configured (see {@link KernelOptions.telemetry}), else `undefined`.
   * `telemetry.exportMetrics(collect)` exports metrics via OTLP (the daemon gives it `/metrics`).
   */
  readonly telemetry: Telemetry | undefined;
  /** Persists the learning store now if it has unsaved changes. */
  persistLearning(): Promise<void>;
  /**
   * The repair path for a chain with known breaks (see {@link LogView.accept}): appends an
   * acceptance anchor for the ledger or the audit trail through `throughSeq`, then records who
   * accepted what, and why, in the audit trail. Nothing is updated or deleted.
   */
  acceptChain(target: ChainTarget, options: LogAcceptOptions): Promise<ChainAcceptance>;
  /** Stops everything in order and releases the store. Idempotent. */
  close(): Promise<void>;
}

/** A running kernel. */
export interface Kernel extends KernelCore {
  /** The kernel's top supervisor: self-healing, approvals and ledger are wired in. */
  readonly supervisor: Supervisor;
  readonly selfHealing: SelfHealing;
  /** Starts an agent under the kernel supervisor (the same as `supervisor.spawn`). */
  spawn<C = unknown, R = unknown>(spec: AgentSpec<C, R>): Promise<AgentHandle<R>>;
  /**
   * Defines a process agent (`{ name, version?, process: { command, args?, env?, cwd? } }`):
   * stored on the log, so every later open of the store defines it again and resumes its
   * unfinished runs. Resolves once stored and defined.
   */
  define(definition: ProcessAgentDefinition): Promise<void>;
  /** Defines a durable agent; its unfinished runs owned by this kernel resume. */
  define<I, O>(definition: AgentDefinition<I, O>): void;
  /**
   * Starts a durable run of a defined agent (with `id`, idempotently; `tenant` confines it to
   * that tenant's tokens; `config` is what the run sees as `ctx.config`).
   */
  start<O = unknown>(
    agent: string,
    input?: unknown,
    /** `traceparent` / `tracestate` (W3C trace context): the run's root span's parent. */
    options?: RunStartOptions,
  ): Promise<RunHandle<O>>;
  /** Sends a durable signal into a run (`ctx.waitForSignal(name)` takes it). */
  signal(runId: string, name: string, payload?: unknown, options?: { id?: string }): Promise<void>;
}

/** Opens a kernel without agents (see {@link KernelOptions.agents}). */
export async function createKernel(options: KernelOptions & { agents: false }): Promise<KernelCore>;
/** Opens a kernel. */
export async function createKernel(options?: KernelOptions): Promise<Kernel>;
export async function createKernel(options: KernelOptions = {}): Promise<Kernel | KernelCore> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const logger = options.logger ?? createStderrLogger('warn');
  const ids = createUuidV7({ clock, random });
  const config = resolveConfig({
    home: options.stateDir,
    store: typeof options.store === 'object' ? options.store.url : options.store,
    bus: typeof options.bus === 'object' ? undefined : options.bus,
    recoveryDir: options.recoveryDir,
    registryKey: options.registryKey,
    oxideRegistryKey: options.oxideRegistryKey,
  });
  const stateDir = config.home;
  // Decided once: without configuration there is no telemetry object, and no part builds a span.
  const telemetry =
    options.telemetry === false
      ? undefined
      : await openTelemetry({ clock, logger, ...options.telemetry });
  const storage =
    typeof options.store === 'object' ? options.store : await openStorage(config.store, { logger });
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const bus: EventBus =
      typeof options.bus === 'object' ? options.bus : await openBus(config.bus, { logger });
    cleanups.push(() => bus.close());

    const audit = createAuditTrail({ log: storage.log, clock, logger });
    // A run's steps are recorded once, on its journal: their announcements reach live feeds only.
    const detachAudit = audit.attach(bus, { skip: isRunStepAnnouncement });
    cleanups.push(async () => {
      detachAudit();
      await audit.flush();
    });
    const ledger = createLedger({
      log: storage.log,
      clock,
      ids,
      maxFutureMs: config.ledgerMaxFutureMs,
    });
    const approvals = createApprovalGate({ log: storage.log, bus, ledger, clock, ids, logger });
    await approvals.start();
    cleanups.push(() => approvals.close());
    const policies = createPolicyStore({ log: storage.log, audit, clock, logger });
    policies.register('schedule', parseScheduleSpec);
    policies.register('limit', parseLimitSpec);
    policies.register('budget', parseBudget);
    // Registers the `rule` validator before the stored rules are read back.
    const rules = createApprovalRules({
      policies,
      audit,
      logger,
      ...(options.defaultRuleEffect === undefined
        ? {}
        : { defaultEffect: options.defaultRuleEffect }),
    });
    cleanups.push(async () => rules.close());
    await policies.start();
    cleanups.push(() => policies.close());
    if (telemetry?.traces !== undefined) {
      const offDecision = approvals.onDecision((gate, decision) =>
        telemetry.approvalDecided(gate, decision),
      );
      const offBus = bus.on('RecoveryDecided', (event) => telemetry.observe(event));
      cleanups.push(() => {
        offDecision();
        offBus();
        return Promise.resolve();
      });
    }
    const budgets = createBudgets({ ledger, policies, approvals, clock, logger });
    await budgets.start();
    cleanups.push(() => budgets.close());
    const recoveries = createRecoveryLogStore(storage.log);
    const registry = await openRegistry({
      storage,
      bus,
      clock,
      random,
      ...(config.registryKey === undefined ? {} : { key: config.registryKey }),
      ...(config.oxideRegistryKey === undefined ? {} : { oxideKey: config.oxideRegistryKey }),
      ...(options.registryScryptCost === undefined
        ? {}
        : { scryptCost: options.registryScryptCost }),
    });
    cleanups.push(() => registry.close());

    const runApprovals: RunApprovals = {
      open: async (key, run, request) => {
        const gate = await approvals.open({
          agentId: run.id,
          agentName: run.agent,
          key,
          origin: 'agent',
          correlationId: run.id,
          ...(run.tenant === undefined ? {} : { tenantId: run.tenant }),
          summary: request.summary,
          ...(request.rationale === undefined ? {} : { rationale: request.rationale }),
          ...(request.action === undefined ? {} : { action: request.action }),
          ...(request.resource === undefined ? {} : { resource: request.resource }),
          ...(request.tool === undefined ? {} : { tool: request.tool }),
          ...gatePolicy(request.approval),
        });
        return { gate: gate.id, decision: runDecision(gate.decision) };
      },
      decision: (gate) => runDecision(approvals.get(gate)?.decision ?? null),
      onDecision: (listener) => approvals.onDecision((gate) => listener(gate.id)),
    };
    // Run healing is wired below with the parts it needs; the engine asks it from then on.
    const healer: { current?: RunHealing } = {};
    const limits = createLimiter({ policies, log: storage.log, clock, logger });
    cleanups.push(() => limits.close());
    const runs: RunEngine = await createRunEngine({
      heals: (agent) => healer.current?.heals(agent) ?? false,
      log: storage.log,
      clock,
      ids,
      logger,
      approvals: runApprovals,
      admission: limits,
      rules: {
        decide: (run, request, step) =>
          rules.decide(
            { ...request, agent: run.agent, tenant: run.tenant ?? null },
            { runId: run.id, step },
          ),
        outcome: (run, request, decision, outcome) =>
          rules.audit({ ...request, agent: run.agent, tenant: run.tenant ?? null }, decision, {
            runId: run.id,
            outcome: outcome.approved ? 'approved' : 'rejected',
          }),
      },
      bus,
      ...(telemetry?.runs === undefined ? {} : { tracer: telemetry.runs }),
      budgets,
      ...(options.runOwner === undefined ? {} : { owner: options.runOwner }),
      ...(options.runHoldMs === undefined ? {} : { holdMs: options.runHoldMs }),
      ...(options.runRetention === undefined ? {} : { retention: options.runRetention }),
      ...(options.runLeaseMs === undefined ? {} : { leaseMs: options.runLeaseMs }),
    });
    cleanups.push(() => runs.close());
    await limits.start(runs);
    const schedules = createScheduler({
      policies,
      log: storage.log,
      clock,
      logger,
      ...(options.agents === false ? {} : { runs }),
      ...(options.scheduleGraceMs === undefined ? {} : { graceMs: options.scheduleGraceMs }),
    });
    cleanups.push(() => schedules.close());

    const learning = await openLearning({
      storage,
      ...(options.learningFile === undefined ? {} : { file: options.learningFile }),
      migrateFile: join(stateDir, 'learning.rvls'),
      ...(options.learningPersistDelayMs === undefined
        ? {}
        : { autosaveMs: options.learningPersistDelayMs }),
      clock,
      logger,
      ids,
    });
    cleanups.push(() => learning.close());

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        for (const cleanup of [...cleanups].reverse()) {
          try {
            await cleanup();
          } catch (error) {
            logger.error('A kernel part failed to close cleanly', { error: errorMessage(error) });
          }
        }
        // Spans and metrics still queued are flushed (bounded by the export timeout).
        await telemetry?.close();
        await storage.close();
      })());
    const core: KernelCore = {
      config,
      stateDir,
      storage,
      bus,
      audit,
      ledger,
      approvals,
      recoveries,
      learning,
      registry,
      policies,
      schedules,
      limits,
      schedule: (name, timing, input, opts) =>
        policies.set<ScheduleSpec>('schedule', name, scheduleSpecOf(timing, input, opts), {
          by: opts?.by,
          reason: opts?.reason,
        }),
      budgets,
      rules,
      runs,
      recoveryDir: config.recoveryDir,
      clock,
      random,
      ids,
      logger,
      telemetry,
      persistLearning: () => learning.flush(),
      acceptChain: async (target, acceptOptions) => {
        const anchor =
          target === 'ledger'
            ? await ledger.accept(acceptOptions)
            : await audit.accept(acceptOptions);
        await audit.append(
          'system',
          {
            type: 'Other',
            data: {
              detail: `${target} chain accepted through seq ${anchor.through.seq} (${anchor.breaks.length} known breaks)`,
            },
          },
          `log:${anchor.stream}`,
          {
            chainAccepted: {
              stream: anchor.stream,
              anchorSeq: anchor.anchorSeq,
              through: anchor.through,
              breaks: anchor.breaks.length,
              by: anchor.by,
              reason: anchor.reason,
            },
          },
        );
        return anchor;
      },
      close,
      [Symbol.asyncDispose]: close,
    };
    if (options.agents === false) {
      await schedules.start();
      return core;
    }
    prepareStateDir(config);
    // Fork families' outcomes: ledger events on one chain, and which variant won (learning).
    const outcomes = attachRunOutcomes({
      runs,
      ledger,
      learning,
      bus,
      logger,
      owner: options.runOwner ?? 'local',
    });
    cleanups.push(async () => {
      outcomes.detach();
      await outcomes.settled();
    });

    const selfHealing = createSelfHealing({
      bus,
      ledger,
      learning,
      recoveries,
      approvals,
      registry,
      artifactsDir: config.recoveryDir,
      clock,
      ids,
      logger,
      ...(options.recoveryPolicy === undefined ? {} : { policy: options.recoveryPolicy }),
    });
    // Agents a crashed predecessor (kill -9: no exit hook ran) left running are reaped first.
    const groupsFile = join(stateDir, 'agent-groups.json');
    const processGroups = existsSync(stateDir)
      ? (reapProcessGroups(groupsFile, logger), createProcessGroupFile(groupsFile, logger))
      : undefined;
    const supervisor = createSupervisor({
      name: 'kernel',
      processGroups,
      bus,
      clock,
      random,
      ids,
      logger,
      modules: registry,
      // Per-agent secrets come from the registry's encrypted config; the grant is audited by
      // name (agent, secret, variable), never with the value.
      secrets: async ({ agentName, secret, env }) => {
        const value = await registry.getConfig(secret);
        await audit.append(
          agentName,
          { type: 'Other', data: { detail: `secret "${secret}" granted as ${env}` } },
          `secret:${secret}`,
          { secretGranted: { agent: agentName, secret, env } },
        );
        return typeof value === 'string' ? value : JSON.stringify(value);
      },
      recovery: selfHealing.policy,
      onHealth: selfHealing.onHealth,
      healthyAfterMs: options.healthyAfterMs,
      ...(options.intensity === undefined ? {} : { intensity: options.intensity }),
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      services: {
        requestApproval: async (agent, request, signal) => {
          const d = await approvals.request(
            { agentId: agent.id, agentName: agent.name, origin: 'agent', ...request },
            { signal },
          );
          return { approved: d.approved, reason: d.reason };
        },
        appendLedger: (agent, event, opts) =>
          ledger.append(event, { ...opts, correlationId: opts.correlationId ?? agent.id }),
      },
    });
    const detachHealing = selfHealing.attach(supervisor);
    const runHealing = createRunHealing({
      runs,
      approvals,
      recoveries,
      registry,
      bus,
      ledger,
      learning,
      audit,
      artifactsDir: config.recoveryDir,
      clock,
      ids,
      logger,
      policy: options.recoveryPolicy,
    });
    healer.current = runHealing;
    cleanups.push(() => runHealing.close());
    const spawn = <C, R>(spec: AgentSpec<C, R>): Promise<AgentHandle<R>> => supervisor.spawn(spec);
    cleanups.push(async () => {
      detachHealing();
      await supervisor.close();
      await selfHealing.close();
    });

    for (const definition of options.define ?? []) {
      runHealing.register(definition);
      runs.define(definition);
    }
    // Process agents defined through the API or CLI before a restart: defined again, so their
    // unfinished runs resume with no user action.
    const definitions = definitionsView(storage.log);
    const defineProcess = (definition: ProcessAgentDefinition): void =>
      runs.define({
        name: definition.name,
        ...(definition.version === undefined ? {} : { version: definition.version }),
        run: processRun(definition),
      });
    for (const definition of await loadDefinitions(definitions, (name, error) =>
      logger.warn('A stored agent definition is invalid; it is skipped', {
        agent: name,
        error: errorMessage(error),
      }),
    ))
      defineProcess(definition);
    // Schedules fire once the agents given at open are defined.
    await schedules.start();
    const define = ((definition: AgentDefinition<unknown, unknown> | ProcessAgentDefinition) => {
      if (!isProcessDefinition(definition)) {
        runHealing.register(definition);
        runs.define(definition);
        return;
      }
      return storeDefinition(definitions, definition, clock.now()).then(defineProcess);
    }) as Kernel['define'];
    return {
      ...core,
      supervisor,
      selfHealing,
      spawn,
      define,
      start: (agent, input, opts) => runs.start(agent, input, opts),
      signal: (runId, name, payload, opts) => runs.signal(runId, name, payload, opts),
    };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await telemetry?.close();
    await storage.close();
    throw error;
  }
}

function runDecision(
  decision: { approved: boolean; reason: string | null; decidedBy: string } | null,
): { approved: boolean; reason: string | null; decidedBy: string } | null {
  return decision === null
    ? null
    : { approved: decision.approved, reason: decision.reason, decidedBy: decision.decidedBy };
}

/** The gate settings of an `ask` rule's approval (who decides, n of m, timeout, escalation). */
function gatePolicy(approval: RuleApproval | undefined): {
  approvers?: { group?: string; required?: number; escalateTo?: string };
  timeout?: { timeout_secs: number; action: 'Reject' | 'Approve' | 'Escalate' };
} {
  if (approval === undefined) return {};
  const action =
    approval.onTimeout === 'approve'
      ? 'Approve'
      : approval.onTimeout === 'escalate'
        ? 'Escalate'
        : 'Reject';
  return {
    approvers: {
      ...(approval.group === undefined ? {} : { group: approval.group }),
      ...(approval.approvers === undefined ? {} : { required: approval.approvers }),
      ...(approval.escalateTo === undefined ? {} : { escalateTo: approval.escalateTo }),
    },
    timeout: { timeout_secs: approval.timeoutSecs ?? 1800, action },
  };
}

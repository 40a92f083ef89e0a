/**
 * Self-healing: the kernel's recovery policy for supervised agents. The supervisor asks it on
 * every failure (`policy`: failure in, decision out) and tells it which runs proved healthy
 * (`onHealth`). Each incident — from the first failure until the agent is healthy again, or a
 * human decided — is one {@link RecoveryRun}: every failure is its next attempt; retry restarts,
 * patch forward restarts with the config the agent's `patch` hook returns, rollback restarts
 * with the last known-good config, escalate asks a human (approval restarts, rejection gives
 * up). A failure seen and handled before goes through the regression policy first.
 *
 * Every incident is recorded (`recordRecoveryOutcome`) and each decision is published as
 * `RecoveryDecided`. A healthy run outside an incident makes its config the known-good one.
 *
 * @example
 * const healing = createSelfHealing({ bus, ledger, learning, recoveries, approvals, registry });
 * const supervisor = createSupervisor({ recovery: healing.policy, onHealth: healing.onHealth });
 * const detach = healing.attach(supervisor); // re-runs agents whose late escalation is approved
 *
 * @module
 */
import type { ApprovalGate } from '../approvals/approval-gate.js';
import type { EventBus } from '../bus/event-bus.js';
import { errorMessage } from '../errors.js';
import type { LearningStore } from '../learning/learning-store.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Registry } from '../registry/registry.js';
import type {
  AgentFailure,
  AgentHealthReport,
  AgentSpecBase,
  FailureDecision,
  FailurePolicy,
  SupervisorHealthListener,
} from '../supervisor/agent.js';
import { systemClock, type Clock } from '../util/clock.js';
import { createUuidV7, type IdGenerator } from '../util/ids.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { classifyFailure } from './classify.js';
import { createKnownGoodConfigs } from './known-good.js';
import { rerunOnLateApproval, type RerunTarget } from './late-escalation.js';
import { RECOVERY_STAGE, RecoveryRun } from './recovery-loop.js';
import { recordRecoveryOutcome } from './recovery-outcome.js';
import type { RecoveryLogStore } from './recovery-store.js';
import {
  DEFAULT_RECOVERY_POLICY,
  createRecoveryPolicy,
  type RecoveryAction,
  type RecoveryLog,
  type RecoveryPolicy,
} from './recovery-types.js';
import { regressionPolicy } from './regression-policy.js';

export { agentConfigKeys } from './known-good.js';

/** What self-healing works with. */
export interface SelfHealingOptions {
  readonly bus: EventBus;
  readonly ledger: Ledger;
  readonly learning: LearningStore;
  readonly recoveries: RecoveryLogStore;
  readonly approvals: ApprovalGate;
  readonly registry: Registry;
  /** Where recovery artifacts are written (none when undefined). */
  readonly artifactsDir?: string | undefined;
  readonly clock?: Clock;
  readonly ids?: IdGenerator;
  readonly logger?: Logger;
  /** Kernel-wide policy defaults (each agent's `recovery` overrides them). */
  readonly policy?: Partial<RecoveryPolicy>;
}

/** The recovery policy and health listener to plug into a supervisor, plus bookkeeping. */
export interface SelfHealing {
  /** Plug into the supervisor as `recovery`. */
  readonly policy: FailurePolicy;
  /** Plug into the supervisor as `onHealth`. */
  readonly onHealth: SupervisorHealthListener;
  /** Records a healthy run's config as the agent's known-good rollback target. */
  rememberKnownGood(name: string, config: unknown): Promise<void>;
  /**
   * Re-runs an agent of `supervisor` whose escalation is approved when nobody here waits for
   * the decision any more (it was asked before a restart of the kernel). Returns the detacher.
   */
  attach(supervisor: RerunTarget): () => void;
  /** Incidents in progress (agent ids). */
  activeIncidents(): string[];
  /** Whether this process is waiting for a human to decide on the agent's escalation. */
  awaitingEscalation(name: string): boolean;
  /**
   * Forgets incidents in progress (they end without a record) and waits for the records of
   * finished ones being written (ledger, recovery log, artifact file).
   */
  close(): Promise<void>;
}

interface Incident {
  readonly agentId: string;
  readonly agentName: string;
  readonly startedMs: number;
  readonly run: RecoveryRun;
  /** The config the next run uses. */
  config: unknown;
}

/** Creates the kernel's self-healing recovery policy. */
export function createSelfHealing(options: SelfHealingOptions): SelfHealing {
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? createUuidV7({ clock });
  const logger = options.logger ?? silentLogger;
  const { bus, recoveries, approvals } = options;
  const knownGood = createKnownGoodConfigs(options.registry);
  const sinks = { ...options, clock };
  const incidents = new Map<string, Incident>();
  const escalating = new Map<string, number>();

  /** Set by `close`: nothing is recorded or remembered after it. */
  let closed = false;

  const rememberKnownGood = (name: string, config: unknown): Promise<void> =>
    knownGood.remember(name, config);

  const remember = (name: string, config: unknown): void => {
    if (closed) return;
    rememberKnownGood(name, config).catch((error: unknown) =>
      logger.warn('Could not record a known-good config', {
        agent: name,
        error: errorMessage(error),
      }),
    );
  };

  /** Records being written: `close` waits for them, so nothing is written after it. */
  const recording = new Set<Promise<void>>();
  const record = (inc: Incident, log: RecoveryLog): Promise<void> => {
    // After close an incident ends without a record (a policy still deciding may get here).
    if (closed) return Promise.resolve();
    const done: Promise<void> = recordRecoveryOutcome(sinks, log, inc)
      .catch((error: unknown) =>
        logger.error('Could not record a recovery run', {
          run: log.run_id,
          error: errorMessage(error),
        }),
      )
      .finally(() => recording.delete(done));
    recording.add(done);
    return done;
  };

  async function begin(failure: AgentFailure): Promise<Incident> {
    const spec = failure.spec;
    const policy = createRecoveryPolicy({
      ...DEFAULT_RECOVERY_POLICY,
      ...options.policy,
      ...(spec.recovery === false ? {} : (spec.recovery ?? {})),
    });
    let prior: RecoveryLog[] = [];
    try {
      prior = await recoveries.forAgent(failure.agent.name, 20);
    } catch (error) {
      logger.warn('Could not read earlier recovery runs for the regression check', {
        error: errorMessage(error),
      });
    }
    const runId = `recovery-${failure.agent.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${ids()}`;
    return {
      agentId: failure.agent.id,
      agentName: failure.agent.name,
      startedMs: clock.now(),
      run: new RecoveryRun(runId, failure.signal, policy, {
        clock,
        decideAction: regressionPolicy(failure.signal, prior, policy, {
          canPatch: spec.patch !== undefined,
          nowMs: clock.now(),
        }),
      }),
      config: failure.config,
    };
  }

  /** The decision for an action, or throws when it cannot be applied. */
  async function prepare(
    inc: Incident,
    action: Exclude<RecoveryAction, 'escalate'>,
    failure: AgentFailure,
    attempt: number,
  ): Promise<FailureDecision> {
    switch (action) {
      case 'retry':
        return { action: 'retry' };
      case 'patch_forward': {
        // Every spec kind carries the same optional hook; its config type is the spec's.
        const patch = (failure.spec as AgentSpecBase).patch;
        if (patch === undefined) throw new Error('the agent has no patch hook');
        const result = await patch({
          agentId: failure.agent.id,
          name: failure.agent.name,
          config: inc.config,
          failure: inc.run.current,
          attempt,
          signal: failure.cancel,
          clock,
        });
        if (result !== undefined && result !== null && 'config' in result)
          inc.config = result.config;
        return { action: 'patch_forward', config: inc.config };
      }
      case 'rollback': {
        const good = await knownGood.get(failure.agent.name);
        if (good === undefined) throw new Error('no known-good config to roll back to');
        inc.config = good;
        return { action: 'rollback', config: good };
      }
    }
  }

  /** Ends the incident as failed and asks a human whether to restart the agent. */
  async function escalate(inc: Incident, failure: AgentFailure): Promise<FailureDecision> {
    incidents.delete(inc.agentId);
    const log = inc.run.finish('failed');
    await record(inc, log);
    if (failure.cancel.aborted) return { action: 'give_up' };
    const name = failure.agent.name;
    const last = log.final_failure ?? failure.signal;
    escalating.set(name, (escalating.get(name) ?? 0) + 1);
    const approved = approvals
      .request(
        {
          agentId: failure.agent.id,
          agentName: name,
          key: `escalation:${log.run_id}`,
          origin: 'escalation',
          summary: `Agent ${name} keeps failing (${classifyFailure(log.initial_failure)} failure: ${log.initial_failure.message.slice(0, 120)}): restart it?`,
          rationale: log.decisions
            .map((d) => `#${d.attempt} ${d.failure_class} → ${d.action}: ${d.rationale}`)
            .join('\n'),
          action: 'restart',
          resource: name,
          reason: last.message.slice(0, 500),
          context: [
            { label: 'run', value: log.run_id },
            { label: 'stage', value: last.stage },
            { label: 'attempts', value: String(log.attempts_used) },
          ],
          correlationId: log.run_id,
        },
        { signal: failure.cancel },
      )
      .then(
        (decision) => decision.approved,
        () => false,
      )
      .finally(() => {
        const n = (escalating.get(name) ?? 1) - 1;
        if (n <= 0) escalating.delete(name);
        else escalating.set(name, n);
      });
    return { action: 'escalate', approved };
  }

  const policy: FailurePolicy = async (failure) => {
    if (failure.spec.recovery === false) return { action: 'default' };
    let inc = incidents.get(failure.agent.id);
    if (inc === undefined) {
      inc = await begin(failure);
      incidents.set(inc.agentId, inc);
    } else {
      // The next attempt of an incident in progress: the last action did not hold.
      inc.run.failed(failure.signal);
    }
    for (;;) {
      const decision = inc.run.decide();
      if (decision === undefined || decision.action === 'escalate') return escalate(inc, failure);
      bus.publish({
        type: 'RecoveryDecided',
        agentId: inc.agentId,
        runId: inc.run.runId,
        attempt: decision.attempt,
        failureClass: decision.failure_class,
        action: decision.action,
        rationale: decision.rationale,
      });
      try {
        return await prepare(inc, decision.action, failure, decision.attempt);
      } catch (error) {
        // The action cannot be applied (no patch hook, nothing to roll back to): that attempt failed.
        inc.run.failed({
          stage: RECOVERY_STAGE,
          message: `${decision.action} not possible: ${errorMessage(error)}`,
          exit_code: null,
          flaky_hint: false,
        });
      }
    }
  };

  const onHealth = (report: AgentHealthReport): void => {
    const inc = incidents.get(report.agent.id);
    if (report.kind === 'ended') {
      // Killed or closed while an incident was open: it ends without a decision.
      incidents.delete(report.agent.id);
      return;
    }
    if (inc === undefined) {
      if (report.spec.recovery !== false && report.agent.kind !== 'supervisor')
        remember(report.agent.name, report.config);
      return;
    }
    incidents.delete(inc.agentId);
    void record(inc, inc.run.finish('recovered')).then(() =>
      remember(inc.agentName, report.config),
    );
  };

  return {
    policy,
    onHealth,
    rememberKnownGood,
    attach: (supervisor) =>
      rerunOnLateApproval({
        approvals,
        supervisor,
        awaiting: (name) => escalating.has(name),
        logger,
      }),
    activeIncidents: () => [...incidents.keys()],
    awaitingEscalation: (name) => escalating.has(name),
    async close() {
      closed = true;
      incidents.clear();
      await Promise.all(recording);
    },
  };
}

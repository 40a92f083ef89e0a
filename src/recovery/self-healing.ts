/**
 * Self-healing: the kernel's answer when a supervised agent fails. Each incident (from the first
 * failure until the agent is healthy again, or a human decided) is one run of the recovery loop
 * (`executeRecoveryLoop`): every failure is the next attempt; the loop's decision is applied —
 * retry → restart; patch forward → the agent's `patch` hook, then restart with the patched
 * config (escalate when it has none); rollback → restart with the last known-good config from
 * the registry (escalate when there is none); escalate → a human approval gate, whose approval
 * restarts the agent and whose rejection stops it. A failure that regressed (seen and recovered
 * before) tries another action first, or escalates at once.
 *
 * Every incident writes its recovery artifact (`<dir>/<run_id>/recovery.json` + digest), keeps its
 * log in storage (for later regression checks), appends an `OutcomeRecorded` to the ledger,
 * learns a pattern (from `recoveryLogToMemoryFields`) and a trajectory, and publishes each
 * decision as `RecoveryDecided`.
 *
 * @module
 */
import type { ApprovalGate } from '../approvals/approval-gate.js';
import type { EventBus } from '../bus/event-bus.js';
import { errorMessage } from '../errors.js';
import type { LearningStore } from '../learning/learning-store.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Registry } from '../registry/registry.js';
import type { AgentFailure, FailureDirective, FailureHook } from '../supervisor/agent.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { createUuidV7, type IdGenerator } from '../util/ids.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { formatChrono, parseRfc3339 } from '../util/time.js';
import { classifyFailure } from './classify.js';
import { recoveryLogToMemoryFields } from './memory-fields.js';
import { writeRecoveryArtifact } from './recovery-artifact.js';
import { executeRecoveryLoop, type RecoveryDecisionContext } from './recovery-loop.js';
import type { RecoveryLogStore } from './recovery-store.js';
import {
  DEFAULT_RECOVERY_POLICY,
  createRecoveryPolicy,
  type FailureSignal,
  type RecoveryAction,
  type RecoveryAttemptResult,
  type RecoveryLog,
  type RecoveryPolicy,
} from './recovery-types.js';
import { checkRegression } from './regression.js';
import type { RecoveryChoice } from './classify.js';

/** Where an agent's configs live in the registry. */
export const agentConfigKeys = {
  /** The config of the agent's latest healthy run. */
  knownGood: (name: string): string => `agents/${name}/known-good-config`,
} as const;

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
  /** A restarted run healthy this long ends the incident as recovered (default 10 s). */
  readonly healthyAfterMs?: number;
}

/** The failure hook plus bookkeeping the kernel needs. */
export interface SelfHealing {
  /** Plug into the supervisor as `onFailure`. */
  readonly hook: FailureHook;
  /** Records a healthy run's config as the agent's known-good rollback target. */
  rememberKnownGood(name: string, config: unknown): Promise<void>;
  /**
   * Follows an agent's runs: a run that stays healthy for the healthy window (or ends without
   * failing) makes its config the known-good rollback target.
   */
  track(agentId: string, name: string, config: unknown, healthyAfterMs?: number): void;
  /** Incidents in progress (agent ids). */
  activeIncidents(): string[];
  /** Whether this process is waiting for a human to decide on the agent's escalation. */
  awaitingEscalation(name: string): boolean;
  /** Stops listening; incidents in progress end without a decision. */
  close(): void;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

interface Incident {
  readonly runId: string;
  readonly agentId: string;
  readonly agentName: string;
  readonly startedMs: number;
  /** The directive the waiting hook call will return. */
  directive: Deferred<FailureDirective>;
  /** How the last applied action turned out: the next failure, or healthy. */
  outcome: Deferred<RecoveryAttemptResult> | undefined;
  healthyTimer: TimerHandle | undefined;
  healthyAfterMs: number;
  failure: AgentFailure;
  config: unknown;
  /** The agent was killed or the supervisor closed: end quietly, no approval gate. */
  cancelled: boolean;
}

/** Creates the self-healing failure hook. */
export function createSelfHealing(options: SelfHealingOptions): SelfHealing {
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? createUuidV7({ clock });
  const logger = options.logger ?? silentLogger;
  const { bus, ledger, learning, recoveries, approvals, registry } = options;
  const incidents = new Map<string, Incident>();
  const tracked = new Map<
    string,
    { name: string; config: unknown; healthyAfterMs: number; timer: TimerHandle | undefined }
  >();
  const healthyWindow = options.healthyAfterMs ?? 10_000;
  const escalating = new Map<string, number>();

  const settleHealthy = (inc: Incident): void => {
    if (inc.healthyTimer !== undefined) clock.clearTimeout(inc.healthyTimer);
    inc.healthyTimer = undefined;
    inc.outcome?.resolve({ success: true, next_failure: null });
  };
  const markGood = (id: string): void => {
    const t = tracked.get(id);
    if (t === undefined || incidents.has(id)) return;
    if (t.timer !== undefined) clock.clearTimeout(t.timer);
    t.timer = undefined;
    rememberKnownGood(t.name, t.config).catch((error: unknown) =>
      logger.warn('Could not record a known-good config', {
        agent: t.name,
        error: errorMessage(error),
      }),
    );
  };
  const offTracked = bus.on(['AgentStarted', 'AgentStopped', 'AgentFailed'], (e) => {
    const t = tracked.get(e.id);
    if (t === undefined) return;
    if (t.timer !== undefined) clock.clearTimeout(t.timer);
    t.timer = undefined;
    if (e.type === 'AgentStarted')
      t.timer = clock.setTimeout(() => markGood(e.id), t.healthyAfterMs);
    else if (e.type === 'AgentStopped') {
      markGood(e.id);
      tracked.delete(e.id);
    }
  });
  const offStarted = bus.on('AgentStarted', (e) => {
    const inc = incidents.get(e.id);
    if (inc === undefined || inc.outcome === undefined) return;
    if (inc.healthyTimer !== undefined) clock.clearTimeout(inc.healthyTimer);
    inc.healthyTimer = clock.setTimeout(() => settleHealthy(inc), inc.healthyAfterMs);
  });
  const offStopped = bus.on('AgentStopped', (e) => {
    const inc = incidents.get(e.id);
    if (inc !== undefined) settleHealthy(inc); // ended without failing: the fix held
  });

  async function prepare(
    inc: Incident,
    action: RecoveryAction,
    signal: FailureSignal,
    attempt: number,
  ): Promise<FailureDirective> {
    const f = inc.failure;
    switch (action) {
      case 'retry':
        return { action: 'restart' };
      case 'patch_forward': {
        const patch = f.spec.patch;
        if (patch === undefined) throw new Error('the agent has no patch hook');
        const result = await patch({
          agentId: f.agent.id,
          name: f.agent.name,
          config: inc.config as never,
          failure: signal,
          attempt,
          signal: f.cancel,
          clock,
        });
        if (result !== undefined && result !== null && 'config' in result)
          inc.config = result.config;
        return { action: 'restart', config: inc.config };
      }
      case 'rollback': {
        const good = await registry.tryGetConfig(agentConfigKeys.knownGood(f.agent.name));
        if (good === undefined) throw new Error('no known-good config to roll back to');
        inc.config = good;
        return { action: 'restart', config: good };
      }
      case 'escalate':
        return { action: 'default' }; // never applied: the loop ends before
    }
  }

  function runIncident(inc: Incident, policy: RecoveryPolicy, priorLogs: RecoveryLog[]): void {
    const f = inc.failure;
    const regression = checkRegression(f.signal, priorLogs);
    const decide = (ctx: RecoveryDecisionContext): RecoveryChoice => {
      let choice: RecoveryChoice = ctx.proposed;
      if (ctx.attempt === 1 && regression.is_regression) {
        if (regression.recommendation === 'escalate_immediately') {
          choice = {
            action: 'escalate',
            rationale: `regression: this ${ctx.failureClass} failure recurred after run ${regression.prior_run_id ?? '?'} (${regression.prior_outcome ?? '?'}); escalating immediately`,
          };
        } else if (regression.recommendation === 'try_alternate_action') {
          const prior = priorLogs.find((l) => l.run_id === regression.prior_run_id);
          const used = prior?.decisions[prior.decisions.length - 1]?.action;
          const alternates: RecoveryAction[] = ['patch_forward', 'rollback', 'retry'];
          const alternate = alternates.find(
            (a) =>
              a !== used &&
              (a !== 'patch_forward' ||
                (policy.allow_patch_forward && f.spec.patch !== undefined)) &&
              (a !== 'rollback' || policy.allow_rollback),
          );
          choice =
            alternate === undefined
              ? {
                  action: 'escalate',
                  rationale: 'regression: no alternate action allowed; escalating',
                }
              : {
                  action: alternate,
                  rationale: `regression: ${used ?? 'the previous action'} did not hold last time (run ${regression.prior_run_id ?? '?'}); trying ${alternate}`,
                };
        }
      }
      bus.publish({
        type: 'RecoveryDecided',
        agentId: inc.agentId,
        runId: inc.runId,
        attempt: ctx.attempt,
        failureClass: ctx.failureClass,
        action: choice.action,
        rationale: choice.rationale,
      });
      return choice;
    };
    const apply = async (
      attempt: number,
      action: RecoveryAction,
      signal: FailureSignal,
    ): Promise<RecoveryAttemptResult> => {
      if (inc.cancelled) return { success: false, next_failure: null };
      let directive: FailureDirective;
      try {
        directive = await prepare(inc, action, signal, attempt);
      } catch (error) {
        // The action cannot be applied (no patch hook, nothing to roll back to): that attempt failed.
        return {
          success: false,
          next_failure: {
            stage: 'recovery',
            message: `${action} not possible: ${errorMessage(error)}`,
            exit_code: null,
            flaky_hint: false,
          },
        };
      }
      inc.outcome = deferred();
      inc.directive.resolve(directive);
      return inc.outcome.promise;
    };
    void executeRecoveryLoop(inc.runId, f.signal, policy, apply, {
      clock,
      decideAction: decide,
    }).then(
      (log) => finish(inc, log),
      (error: unknown) => {
        logger.error('The recovery loop failed', {
          agent: inc.agentName,
          error: errorMessage(error),
        });
        incidents.delete(inc.agentId);
        inc.directive.resolve({ action: 'default' });
      },
    );
  }

  async function finish(inc: Incident, log: RecoveryLog): Promise<void> {
    incidents.delete(inc.agentId);
    if (inc.healthyTimer !== undefined) clock.clearTimeout(inc.healthyTimer);
    await record(inc, log).catch((error: unknown) =>
      logger.error('Could not record a recovery run', {
        run: log.run_id,
        error: errorMessage(error),
      }),
    );
    if (log.outcome === 'recovered') {
      const t = tracked.get(inc.agentId);
      if (t !== undefined) t.config = inc.config;
      await rememberKnownGood(inc.agentName, inc.config).catch(() => undefined);
      return;
    }
    if (inc.cancelled) return;
    // Failed: a hook call is waiting for what to do. Ask a human.
    const f = inc.failure;
    const last = log.final_failure ?? f.signal;
    escalating.set(f.agent.name, (escalating.get(f.agent.name) ?? 0) + 1);
    try {
      const decision = await approvals.request(
        {
          agentId: f.agent.id,
          agentName: f.agent.name,
          key: `escalation:${log.run_id}`,
          origin: 'escalation',
          summary: `Agent ${f.agent.name} keeps failing (${classifyFailure(log.initial_failure)} failure: ${log.initial_failure.message.slice(0, 120)}): restart it?`,
          rationale: log.decisions
            .map((d) => `#${d.attempt} ${d.failure_class} → ${d.action}: ${d.rationale}`)
            .join('\n'),
          action: 'restart',
          resource: f.agent.name,
          reason: last.message.slice(0, 500),
          context: [
            { label: 'run', value: log.run_id },
            { label: 'stage', value: last.stage },
            { label: 'attempts', value: String(log.attempts_used) },
          ],
          correlationId: log.run_id,
        },
        { signal: f.cancel },
      );
      inc.directive.resolve(decision.approved ? { action: 'restart' } : { action: 'stop' });
    } catch {
      inc.directive.resolve({ action: 'stop' });
    } finally {
      const n = (escalating.get(f.agent.name) ?? 1) - 1;
      if (n <= 0) escalating.delete(f.agent.name);
      else escalating.set(f.agent.name, n);
    }
  }

  async function record(inc: Incident, log: RecoveryLog): Promise<void> {
    await recoveries.record(inc.agentName, log);
    if (options.artifactsDir !== undefined) await writeRecoveryArtifact(log, options.artifactsDir);
    const evaluated = parseRfc3339(log.evaluated_at)?.ms ?? clock.now();
    const recovered = log.outcome === 'recovered';
    await ledger.append(
      {
        type: 'OutcomeRecorded',
        data: {
          chain_id: log.run_id,
          step: 'Evaluation',
          passed: recovered,
          stop_reason: recovered
            ? null
            : {
                Error: {
                  message: (log.final_failure?.message ?? 'recovery failed').slice(0, 1000),
                  category: 'Internal',
                },
              },
          latency_ms: Math.max(0, Math.round(evaluated - inc.startedMs)),
          tokens: null,
          cost_microdollars: null,
          backend: 'kerno-recovery',
          metadata: {
            agent: inc.agentName,
            agent_id: inc.agentId,
            run_id: log.run_id,
            attempts: String(log.attempts_used),
            actions: log.decisions.map((d) => d.action).join(','),
            failure_class: classifyFailure(log.initial_failure),
          },
        },
      } as never,
      { eventId: `recovery-outcome-${log.run_id}`, correlationId: log.run_id },
    );
    const { summary, tags } = recoveryLogToMemoryFields(log);
    const lastAction = log.decisions[log.decisions.length - 1]?.action ?? 'none';
    const id = `recovery:${classifyFailure(log.initial_failure)}:${log.initial_failure.stage}:${lastAction}`;
    const prior = learning.getPattern(id);
    const uses = (prior?.use_count ?? 0) + 1;
    const successes =
      (prior === undefined ? 0 : prior.success_rate * prior.use_count) + (recovered ? 1 : 0);
    learning.savePattern({
      id,
      strategy: `${summary} [${tags.join(' ')}]`,
      embedding_weights: {},
      success_rate: successes / uses,
      use_count: uses,
      domain: 'recovery',
      quality: recovered ? Math.max(0.1, 1 - (log.attempts_used - 1) * 0.25) : 0.1,
      is_long_term: uses >= 3,
      last_used: formatChrono(evaluated),
    });
    learning.recordTrajectory({
      steps: log.decisions.map((d) => ({
        input: `${d.failure_class} failure (attempt ${d.attempt})`,
        output: `${d.action}: ${d.rationale}`,
        duration_ms: 0,
        confidence: recovered ? 1 : 0.5,
      })),
      outcome: recovered ? 'success' : 'failure',
      domain: 'recovery',
      durationMs: Math.max(0, Math.round(evaluated - inc.startedMs)),
    });
    bus.publish({ type: 'MemoryStored', id, memoryType: 'pattern', source: 'recovery' });
  }

  async function rememberKnownGood(name: string, config: unknown): Promise<void> {
    if (config === undefined) return;
    await registry.setConfig(agentConfigKeys.knownGood(name), config);
  }

  /** A kill or shutdown while the hook runs ends the incident without a decision. */
  function onCancel(inc: Incident, failure: AgentFailure): void {
    failure.cancel.addEventListener(
      'abort',
      () => {
        if (incidents.get(inc.agentId) !== inc) return;
        inc.cancelled = true;
        incidents.delete(inc.agentId);
        inc.directive.resolve({ action: 'stop' });
        inc.outcome?.resolve({ success: false, next_failure: null });
      },
      { once: true },
    );
  }

  const hook: FailureHook = async (failure) => {
    const spec = failure.spec;
    if (spec.recovery === false) return { action: 'default' };
    const existing = incidents.get(failure.agent.id);
    if (existing !== undefined) {
      // The next attempt of an incident in progress: report the failure to the loop.
      existing.failure = failure;
      existing.directive = deferred();
      onCancel(existing, failure);
      if (existing.healthyTimer !== undefined) clock.clearTimeout(existing.healthyTimer);
      existing.healthyTimer = undefined;
      const outcome = existing.outcome;
      existing.outcome = undefined;
      outcome?.resolve({ success: false, next_failure: failure.signal });
      return existing.directive.promise;
    }
    const policy = createRecoveryPolicy({
      ...DEFAULT_RECOVERY_POLICY,
      ...options.policy,
      ...(spec.recovery ?? {}),
    });
    const inc: Incident = {
      runId: `recovery-${failure.agent.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${ids()}`,
      agentId: failure.agent.id,
      agentName: failure.agent.name,
      startedMs: clock.now(),
      directive: deferred(),
      outcome: undefined,
      healthyTimer: undefined,
      healthyAfterMs: spec.healthyAfterMs ?? healthyWindow,
      failure,
      config: failure.config,
      cancelled: false,
    };
    incidents.set(inc.agentId, inc);
    onCancel(inc, failure);
    let prior: RecoveryLog[] = [];
    try {
      prior = await recoveries.forAgent(failure.agent.name, 20);
    } catch (error) {
      logger.warn('Could not read earlier recovery runs for the regression check', {
        error: errorMessage(error),
      });
    }
    runIncident(inc, policy, prior);
    return inc.directive.promise;
  };

  return {
    hook,
    rememberKnownGood,
    track(agentId, name, config, healthyAfterMs) {
      const window = healthyAfterMs ?? healthyWindow;
      // The agent is running when it is handed over: its first healthy window starts now.
      const timer = clock.setTimeout(() => markGood(agentId), window);
      tracked.set(agentId, { name, config, healthyAfterMs: window, timer });
    },
    activeIncidents: () => [...incidents.keys()],
    awaitingEscalation: (name) => escalating.has(name),
    close() {
      offStarted();
      offStopped();
      offTracked();
      for (const t of tracked.values()) if (t.timer !== undefined) clock.clearTimeout(t.timer);
      tracked.clear();
      for (const inc of incidents.values()) {
        if (inc.healthyTimer !== undefined) clock.clearTimeout(inc.healthyTimer);
        inc.directive.resolve({ action: 'stop' });
      }
      incidents.clear();
    },
  };
}

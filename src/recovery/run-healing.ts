/**
 * Self-healing for durable runs: a failed *step* is what heals. When a run of an agent defined
 * with `recovery` fails, its failure (the failed step's key as the stage, the step's error as the
 * message, `flaky` from the error) goes through the same recovery run and regression policy as a
 * supervised agent's, and each decision acts on the run:
 *
 * - `retry`: resume the run — finished steps replay from the journal, the failed step runs again;
 * - `patch_forward`: resume it with the config the definition's `patch` hook returns;
 * - `rollback`: resume it with the agent's last known-good config (the config of its latest
 *   completed run, in the registry under `runs/<agent>/known-good-config`);
 * - `escalate` (or no attempt left): park the run on an approval gate (status `waiting`, the gate
 *   naming the step and the error); approving resumes it from that step, rejecting leaves it
 *   failed with the reason.
 *
 * A flaky step failure (`error.flaky === true`, or a step `TIMEOUT`) is retried while the flaky
 * budget lasts, whatever its class. Every decision is a `run.recovery` note on the run (shown by
 * `runs.get` as `recovery`), an audit entry, and — when the incident ends — a recovery log in the
 * recovery store (regression checks, `kerno recovery ls`), an `OutcomeRecorded` in the ledger and
 * a learned pattern.
 *
 * @module
 */
import type { ApprovalGate } from '../approvals/approval-gate.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { EventBus } from '../bus/event-bus.js';
import { errorMessage } from '../errors.js';
import type { LearningStore } from '../learning/learning-store.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Registry } from '../registry/registry.js';
import type { RunRecoveryAction } from '../runs/journal.js';
import type { AgentDefinition, RunEngine, RunInfo, RunSummary } from '../runs/run-engine.js';
import type { Clock } from '../util/clock.js';
import type { IdGenerator } from '../util/ids.js';
import type { Logger } from '../util/logger.js';
import { agentConfigKeys, createKnownGoodConfigs } from './known-good.js';
import { RECOVERY_STAGE, RecoveryRun, type DecideRecoveryAction } from './recovery-loop.js';
import { recordRecoveryOutcome } from './recovery-outcome.js';
import type { RecoveryLogStore } from './recovery-store.js';
import {
  DEFAULT_RECOVERY_POLICY,
  createRecoveryPolicy,
  type FailureSignal,
  type RecoveryAction,
  type RecoveryLog,
  type RecoveryPolicy,
} from './recovery-types.js';
import { regressionPolicy } from './regression-policy.js';

/** What run healing works with. */
export interface RunHealingOptions {
  readonly runs: Pick<RunEngine, 'get' | 'resume' | 'recordRecovery' | 'onStatus'>;
  readonly approvals: ApprovalGate;
  readonly recoveries: RecoveryLogStore;
  readonly registry: Pick<Registry, 'setConfig' | 'tryGetConfig'>;
  readonly bus: EventBus;
  readonly ledger: Ledger;
  readonly learning: LearningStore;
  readonly audit: Pick<AuditTrail, 'append'>;
  readonly artifactsDir?: string | undefined;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly logger: Logger;
  /** Kernel-wide policy defaults (each definition's `recovery` overrides them). */
  readonly policy?: Partial<RecoveryPolicy> | undefined;
}

/** Run healing, as the kernel wires it. */
export interface RunHealing {
  /** Takes note of a definition's `recovery` and `patch` (call it with every `define`). */
  register(definition: AgentDefinition<never, unknown>): void;
  /** Whether failed runs of `agent` are healed (the run engine's `heals`). */
  heals(agent: string): boolean;
  /** Stops following runs and gates; waits for the records being written. */
  close(): Promise<void>;
}

interface Incident {
  readonly runId: string;
  readonly agent: string;
  readonly startedMs: number;
  readonly run: RecoveryRun;
  /** The step that failed first. */
  readonly step: string;
  /** The latest failure of a step (not of a recovery action). */
  stepFailure: FailureSignal;
}

/** Notes after which a failed run is not healed again until it is resumed. */
const FINAL: ReadonlySet<RunRecoveryAction> = new Set(['escalate', 'rejected', 'gave_up']);

/** The key prefix of healing gates. */
const GATE_KEY = 'heal';

/** The failed step's key of a failed run and its failure signal (stage: the step's name). */
export function runFailureSignal(info: RunInfo): { step: string; signal: FailureSignal } {
  const failed = [...info.steps].reverse().find((s) => s.status === 'failed' && !s.superseded);
  const error = failed?.error ?? info.error;
  const step = failed?.key ?? 'run';
  const message = error === undefined ? 'the run failed' : `${error.name}: ${error.message}`;
  return {
    step,
    signal: {
      // The step's name (`read`, not `read#2`): a step in a loop is the same step each turn.
      stage: step.replace(/#\d+$/, ''),
      message: message.slice(0, 2000),
      exit_code: null,
      flaky_hint: error?.flaky === true || error?.code === 'TIMEOUT',
    },
  };
}

/** Flaky step failures are retried within the flaky budget whatever their class. */
const flakyFirst =
  (next: DecideRecoveryAction): DecideRecoveryAction =>
  (ctx) => {
    if (ctx.signal.flaky_hint && ctx.flakyRetriesUsed < ctx.policy.max_flaky_retries)
      return {
        action: 'retry',
        rationale: 'flaky step failure; bounded retry permitted (the step runs again)',
      };
    return next(ctx);
  };

/** Creates run healing and starts following the engine's runs and the healing gates. */
export function createRunHealing(options: RunHealingOptions): RunHealing {
  const { runs, approvals, recoveries, clock, logger } = options;
  const knownGood = createKnownGoodConfigs(options.registry, agentConfigKeys.runKnownGood);
  const definitions = new Map<string, AgentDefinition<never, unknown>>();
  const incidents = new Map<string, Incident>();
  /** One decision at a time per run. */
  const queues = new Map<string, Promise<void>>();
  const pending = new Set<Promise<void>>();
  let closed = false;

  const heals = (agent: string): boolean => {
    const r = definitions.get(agent)?.recovery;
    return r !== undefined && r !== false;
  };

  const serial = (runId: string, task: () => Promise<void>): void => {
    const prev = queues.get(runId) ?? Promise.resolve();
    const next: Promise<void> = prev
      .then(() => (closed ? undefined : task()))
      .catch((error: unknown) =>
        logger.error('Self-healing could not act on a failed run', {
          run: runId,
          error: errorMessage(error),
        }),
      )
      .finally(() => {
        pending.delete(next);
        if (queues.get(runId) === next) queues.delete(runId);
      });
    queues.set(runId, next);
    pending.add(next);
  };

  const policyFor = (agent: string): RecoveryPolicy => {
    const r = definitions.get(agent)?.recovery;
    return createRecoveryPolicy({
      ...DEFAULT_RECOVERY_POLICY,
      ...options.policy,
      ...(typeof r === 'object' ? r : {}),
    });
  };

  const note = async (
    runId: string,
    agent: string,
    inc: Incident,
    action: RunRecoveryAction,
    rationale: string,
    extra: { gate?: string; by?: string; failureClass?: string } = {},
  ): Promise<void> => {
    await runs.recordRecovery(runId, {
      action,
      step: inc.step,
      rationale,
      recoveryRunId: inc.run.runId,
      ...extra,
    });
    await options.audit.append(
      'self-healing',
      {
        type: 'Other',
        data: { detail: `run ${runId} (${agent}), step ${inc.step}: ${action} — ${rationale}` },
      },
      `run:${runId}`,
      {
        runRecovery: {
          run: runId,
          agent,
          step: inc.step,
          action,
          rationale,
          recoveryRun: inc.run.runId,
          ...extra,
        },
      },
    );
  };

  const record = (inc: Incident, log: RecoveryLog): Promise<void> =>
    recordRecoveryOutcome(options, log, {
      agentId: inc.runId,
      agentName: inc.agent,
      startedMs: inc.startedMs,
    });

  async function begin(info: RunInfo, step: string, signal: FailureSignal): Promise<Incident> {
    const policy = policyFor(info.agent);
    let prior: RecoveryLog[] = [];
    try {
      prior = await recoveries.forAgent(info.agent, 20);
    } catch (error) {
      logger.warn('Could not read earlier recovery runs for the regression check', {
        error: errorMessage(error),
      });
    }
    const canPatch = definitions.get(info.agent)?.patch !== undefined;
    return {
      runId: info.id,
      agent: info.agent,
      startedMs: clock.now(),
      step,
      stepFailure: signal,
      run: new RecoveryRun(
        `recovery-run-${info.agent.replace(/[^A-Za-z0-9_.-]/g, '_')}-${options.ids()}`,
        signal,
        policy,
        {
          clock,
          decideAction: flakyFirst(
            regressionPolicy(signal, prior, policy, { canPatch, nowMs: clock.now() }),
          ),
        },
      ),
    };
  }

  /** The config an action resumes with (`undefined`: the run's own), or throws when impossible. */
  async function prepare(
    info: RunInfo,
    inc: Incident,
    action: Exclude<RecoveryAction, 'escalate'>,
    attempt: number,
  ): Promise<{ config?: unknown }> {
    switch (action) {
      case 'retry':
        return {};
      case 'patch_forward': {
        const patch = definitions.get(info.agent)?.patch;
        if (patch === undefined) throw new Error('the agent has no patch hook');
        const result = await patch({
          runId: info.id,
          agent: info.agent,
          step: inc.step,
          config: info.config,
          failure: inc.run.current,
          attempt,
        });
        return result !== undefined && result !== null && 'config' in result
          ? { config: result.config }
          : {};
      }
      case 'rollback': {
        const good = await knownGood.get(info.agent);
        if (good === undefined) throw new Error('no known-good config to roll back to');
        return { config: good };
      }
    }
  }

  async function escalate(info: RunInfo, inc: Incident): Promise<void> {
    incidents.delete(info.id);
    const log = inc.run.finish('failed');
    await record(inc, log);
    const last = inc.stepFailure;
    const gate = await approvals.open({
      agentId: info.id,
      agentName: info.agent,
      key: `${GATE_KEY}:${info.id}:${String(info.resumes.length)}`,
      origin: 'escalation',
      summary: `Run ${info.id} of ${info.agent} failed at step '${inc.step}' (${last.message.slice(0, 160)}) and self-healing could not fix it: resume it from that step?`,
      rationale: log.decisions
        .map(
          (d) => `attempt ${d.attempt}: ${d.failure_class} failure → ${d.action} (${d.rationale})`,
        )
        .join('\n'),
      action: 'resume run',
      resource: `run ${info.id}`,
      reason: `Step '${inc.step}' failed: ${last.message.slice(0, 400)}`,
      context: [
        { label: 'run', value: info.id },
        { label: 'step', value: inc.step },
        { label: 'attempts', value: String(log.attempts_used) },
      ],
      correlationId: info.id,
    });
    await note(
      info.id,
      info.agent,
      inc,
      'escalate',
      `step '${inc.step}' still fails after ${log.attempts_used} attempt(s); waiting for a human to resume it`,
      { gate: gate.id },
    );
    if (gate.decision !== null) await decided(gate.id, gate.decision.approved, gate.decision);
  }

  async function onFailed(summary: RunSummary): Promise<void> {
    const info = await runs.get(summary.id);
    if (info.status !== 'failed') return;
    // Already decided for this failure (a rejected escalation, nothing more to try): a note
    // that acts (retry, patch, rollback, approved) is followed by a resume, the others are final.
    const lastNote = info.recovery?.[info.recovery.length - 1];
    if (lastNote !== undefined && FINAL.has(lastNote.action)) return;
    const { step, signal } = runFailureSignal(info);
    let inc = incidents.get(info.id);
    if (inc === undefined) {
      inc = await begin(info, step, signal);
      incidents.set(info.id, inc);
    } else {
      inc.run.failed(signal);
      inc.stepFailure = signal;
    }
    for (;;) {
      const decision = inc.run.decide();
      if (decision === undefined || decision.action === 'escalate') return escalate(info, inc);
      try {
        const { config } = await prepare(info, inc, decision.action, decision.attempt);
        await note(info.id, info.agent, inc, decision.action, decision.rationale, {
          failureClass: decision.failure_class,
        });
        await runs.resume(info.id, {
          by: 'self-healing',
          reason: `${decision.action.replace('_', ' ')} of step '${step}' after ${signal.message.slice(0, 200)} (${decision.rationale})`,
          ...(config === undefined ? {} : { config }),
        });
        return;
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
  }

  async function onCompleted(summary: RunSummary): Promise<void> {
    const inc = incidents.get(summary.id);
    const info = await runs.get(summary.id);
    if (info.config !== undefined) await knownGood.remember(info.agent, info.config);
    if (inc !== undefined) {
      incidents.delete(summary.id);
      await record(inc, inc.run.finish('recovered'));
    }
  }

  async function decided(
    gateId: string,
    approved: boolean,
    decision: { reason: string | null; decidedBy: string },
  ): Promise<void> {
    const gate = approvals.get(gateId);
    const runId = gate?.request.agent_id;
    if (gate === undefined || runId === undefined) return;
    let info: RunInfo;
    try {
      info = await runs.get(runId);
    } catch {
      return;
    }
    const parked = info.recovery?.[info.recovery.length - 1];
    if (info.status !== 'waiting' || parked?.action !== 'escalate' || parked.gate !== gateId)
      return;
    const inc: Incident = {
      runId,
      agent: info.agent,
      startedMs: clock.now(),
      step: parked.step ?? 'run',
      stepFailure: runFailureSignal(info).signal,
      run: new RecoveryRun(
        parked.recoveryRunId,
        runFailureSignal(info).signal,
        policyFor(info.agent),
      ),
    };
    if (approved) {
      await note(runId, info.agent, inc, 'approved', `approved by ${decision.decidedBy}`, {
        gate: gateId,
        by: decision.decidedBy,
      });
      await runs.resume(runId, {
        by: decision.decidedBy,
        reason: `escalation approved by ${decision.decidedBy}: step '${inc.step}' runs again`,
      });
    } else {
      await note(
        runId,
        info.agent,
        inc,
        'rejected',
        `rejected by ${decision.decidedBy}${decision.reason === null ? '' : `: ${decision.reason}`}; the run stays failed`,
        { gate: gateId, by: decision.decidedBy },
      );
    }
  }

  const offStatus = runs.onStatus((summary) => {
    if (closed || !heals(summary.agent)) return;
    if (summary.status === 'failed')
      serial(summary.id, () =>
        onFailed(summary).catch(async (error: unknown) => {
          // Healing itself broke (a store error, a throwing patch hook): say so on the run and
          // let it stay failed, so nobody waits on it for ever.
          await runs
            .recordRecovery(summary.id, {
              action: 'gave_up',
              rationale: `self-healing could not act: ${errorMessage(error)}`,
              recoveryRunId: incidents.get(summary.id)?.run.runId ?? 'none',
            })
            .catch(() => undefined);
          incidents.delete(summary.id);
          throw error;
        }),
      );
    else if (summary.status === 'completed') serial(summary.id, () => onCompleted(summary));
  });
  const offDecision = approvals.onDecision((gate, decision) => {
    if (closed || gate.origin !== 'escalation' || gate.agentName === null) return;
    if (!heals(gate.agentName)) return;
    const runId = gate.request.agent_id;
    serial(runId, () => decided(gate.id, decision.approved, decision));
  });

  return {
    register(definition) {
      if (definition.recovery === undefined || definition.recovery === false) {
        definitions.delete(definition.name);
        return;
      }
      if (typeof definition.recovery === 'object') createRecoveryPolicy(definition.recovery);
      definitions.set(definition.name, definition);
    },
    heals,
    async close() {
      closed = true;
      offStatus();
      offDecision();
      incidents.clear();
      await Promise.all([...pending]);
    },
  };
}

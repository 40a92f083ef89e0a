/**
 * Recording a finished recovery run: its log in storage (for later regression checks), its
 * artifact on disk, an `OutcomeRecorded` in the experience ledger, a learned pattern and
 * trajectory, and a `MemoryStored` event.
 *
 * @example
 * await recordRecoveryOutcome(deps, log, { agentId, agentName, startedMs });
 *
 * @module
 */
import type { EventBus } from '../bus/event-bus.js';
import type { LearningStore } from '../learning/learning-store.js';
import type { ExperienceEventOf } from '../formats/converge-experience-event.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Clock } from '../util/clock.js';
import { formatChrono, parseRfc3339 } from '../util/time.js';
import { classifyFailure } from './classify.js';
import { recoveryLogToMemoryFields } from './memory-fields.js';
import { writeRecoveryArtifact } from './recovery-artifact.js';
import type { RecoveryLogStore } from './recovery-store.js';
import type { RecoveryLog } from './recovery-types.js';

/** Where a recovery outcome is recorded. */
export interface RecoveryOutcomeSinks {
  readonly bus: EventBus;
  readonly ledger: Ledger;
  readonly learning: LearningStore;
  readonly recoveries: RecoveryLogStore;
  /** Where recovery artifacts are written (none when undefined). */
  readonly artifactsDir?: string | undefined;
  readonly clock: Clock;
}

/** Which agent a recovery run was about, and when it began. */
export interface RecoveryIncidentInfo {
  readonly agentId: string;
  readonly agentName: string;
  readonly startedMs: number;
}

/** The ledger event of a finished recovery run. */
export function recoveryOutcomeEvent(
  log: RecoveryLog,
  incident: RecoveryIncidentInfo,
  evaluatedMs: number,
): ExperienceEventOf<'OutcomeRecorded'> {
  const recovered = log.outcome === 'recovered';
  return {
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
      latency_ms: Math.max(0, Math.round(evaluatedMs - incident.startedMs)),
      tokens: null,
      cost_microdollars: null,
      backend: 'kerno-recovery',
      metadata: {
        agent: incident.agentName,
        agent_id: incident.agentId,
        run_id: log.run_id,
        attempts: String(log.attempts_used),
        actions: log.decisions.map((d) => d.action).join(','),
        failure_class: classifyFailure(log.initial_failure),
      },
    },
  };
}

/** Records a finished recovery run everywhere it belongs. */
export async function recordRecoveryOutcome(
  sinks: RecoveryOutcomeSinks,
  log: RecoveryLog,
  incident: RecoveryIncidentInfo,
): Promise<void> {
  const { bus, ledger, learning, recoveries, clock } = sinks;
  await recoveries.record(incident.agentName, log);
  if (sinks.artifactsDir !== undefined) await writeRecoveryArtifact(log, sinks.artifactsDir);
  const evaluated = parseRfc3339(log.evaluated_at)?.ms ?? clock.now();
  const recovered = log.outcome === 'recovered';
  await ledger.append(recoveryOutcomeEvent(log, incident, evaluated), {
    eventId: `recovery-outcome-${log.run_id}`,
    correlationId: log.run_id,
  });
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
    durationMs: Math.max(0, Math.round(evaluated - incident.startedMs)),
  });
  bus.publish({ type: 'MemoryStored', id, memoryType: 'pattern', source: 'recovery' });
}

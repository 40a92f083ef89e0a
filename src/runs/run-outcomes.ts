/**
 * Runs side by side, and what a kernel remembers of forks. {@link compareRuns} puts two runs'
 * outcomes and steps next to each other and names the winner by one rule:
 *
 * 1. a completed run beats one that is not (failed or cancelled);
 * 2. then the lower cost (`usage.costMicrodollars`), then fewer tokens;
 * 3. then the shorter duration;
 * 4. otherwise (or while either has not finished) there is no winner.
 *
 * {@link attachRunOutcomes} records, for every run of a fork family (a run forked from another,
 * or one that was forked) that ends here: an `OutcomeRecorded` ledger event with the family's
 * `chain_id` (the id of the run the family started from), so the variants read as one chain;
 * and, once a fork and the run it was forked from have both finished, a learning pattern
 * (domain `runs`) saying which variant won and why.
 *
 * @module
 */
import { errorMessage } from '../errors.js';
import type { EventBus } from '../bus/event-bus.js';
import type { LearningStore } from '../learning/learning-store.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../util/logger.js';
import { formatChrono } from '../util/time.js';
import { FINAL_STATUSES, type RecordedError, type RunStatus } from './journal.js';
import type { RunInfo, Runs, RunSummary } from './run-engine.js';

/** One run's outcome, as compared. */
export interface RunOutcome {
  readonly id: string;
  readonly status: RunStatus;
  readonly finished: boolean;
  readonly durationMs: number;
  readonly tokens: number;
  readonly costMicrodollars: number;
  readonly stepsRan: number;
  readonly stepsCopied: number;
  readonly error?: RecordedError;
}

/** One step position, in either run. */
export interface StepComparison {
  readonly key: string;
  readonly a?: { readonly status: string; readonly result?: unknown; readonly copied?: boolean };
  readonly b?: { readonly status: string; readonly result?: unknown; readonly copied?: boolean };
  /** Both completed with equal results. */
  readonly same: boolean;
}

/** Two runs side by side. */
export interface RunComparison {
  readonly a: RunOutcome;
  readonly b: RunOutcome;
  /** The winning run's id; `null` while either runs, or on a tie. */
  readonly winner: string | null;
  /** Why, in words. */
  readonly reason: string;
  readonly steps: readonly StepComparison[];
}

/** A run's outcome from its info. */
export function runOutcome(info: RunInfo): RunOutcome {
  return {
    id: info.id,
    status: info.status,
    finished: FINAL_STATUSES.has(info.status),
    durationMs: info.durationMs,
    tokens: info.usage.tokens,
    costMicrodollars: info.usage.costMicrodollars,
    stepsRan: info.usage.stepsRan,
    stepsCopied: info.usage.stepsCopied,
    ...(info.error === undefined ? {} : { error: info.error }),
  };
}

/** Which of two finished runs won, by the module's rule. */
export function pickWinner(
  a: RunOutcome,
  b: RunOutcome,
): { winner: string | null; reason: string } {
  if (!a.finished || !b.finished) {
    return { winner: null, reason: 'not both finished yet' };
  }
  const ok = (o: RunOutcome): boolean => o.status === 'completed';
  if (ok(a) !== ok(b)) {
    const [w, l] = ok(a) ? [a, b] : [b, a];
    return { winner: w.id, reason: `completed; the other ${l.status}` };
  }
  const rules: [string, (o: RunOutcome) => number, string][] = [
    ['cost', (o) => o.costMicrodollars, 'µ$'],
    ['tokens', (o) => o.tokens, ' tokens'],
    ['duration', (o) => o.durationMs, ' ms'],
  ];
  for (const [name, value, unit] of rules) {
    if (value(a) === value(b)) continue;
    const [w, l] = value(a) < value(b) ? [a, b] : [b, a];
    return {
      winner: w.id,
      reason: `both ${a.status}; lower ${name} (${String(value(w))}${unit} vs ${String(value(l))}${unit})`,
    };
  }
  return { winner: null, reason: `a tie: both ${a.status}, same cost, tokens and duration` };
}

/** Two runs' outcomes and steps side by side. */
export function compareRuns(a: RunInfo, b: RunInfo): RunComparison {
  const oa = runOutcome(a);
  const ob = runOutcome(b);
  const current = (info: RunInfo) => {
    const map = new Map<string, RunInfo['steps'][number]>();
    for (const s of info.steps) if (s.superseded !== true) map.set(s.key, s);
    return map;
  };
  const sa = current(a);
  const sb = current(b);
  const keys = [...sa.keys()];
  for (const k of sb.keys()) if (!sa.has(k)) keys.push(k);
  const side = (s: RunInfo['steps'][number]): NonNullable<StepComparison['a']> => ({
    status: s.status,
    ...(s.result === undefined ? {} : { result: s.result }),
    ...(s.copied === true ? { copied: true } : {}),
  });
  const steps = keys.map((key): StepComparison => {
    const x = sa.get(key);
    const y = sb.get(key);
    return {
      key,
      ...(x === undefined ? {} : { a: side(x) }),
      ...(y === undefined ? {} : { b: side(y) }),
      same:
        x?.status === 'completed' &&
        y?.status === 'completed' &&
        JSON.stringify(x.result) === JSON.stringify(y.result),
    };
  });
  return { a: oa, b: ob, ...pickWinner(oa, ob), steps };
}

/** Where {@link attachRunOutcomes} records. */
export interface RunOutcomeSinks {
  readonly runs: Runs;
  readonly ledger: Ledger;
  readonly learning: LearningStore;
  readonly bus: EventBus;
  readonly logger: Logger;
  /** Only runs this kernel owns are recorded (each kernel records its own). */
  readonly owner: string;
}

/**
 * Records fork families' outcomes as their runs end (see the module doc). Returns the detach;
 * `settled()` resolves once every recording started so far is done (for tests and close).
 */
export function attachRunOutcomes(sinks: RunOutcomeSinks): {
  detach: () => void;
  settled: () => Promise<void>;
} {
  const pending = new Set<Promise<void>>();
  const off = sinks.runs.onStatus((run) => {
    if (!FINAL_STATUSES.has(run.status) || run.owner !== sinks.owner) return;
    const task = record(sinks, run)
      .catch((error: unknown) =>
        sinks.logger.warn('A run outcome could not be recorded', {
          run: run.id,
          error: errorMessage(error),
        }),
      )
      .finally(() => pending.delete(task));
    pending.add(task);
  });
  return {
    detach: off,
    settled: async () => {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}

/** The run's outcome on the ledger, on the family's chain (once per run and resume). */
async function recordOutcome(ledger: Ledger, info: RunInfo, chain: string): Promise<void> {
  const outcome = runOutcome(info);
  const resume = info.resumeCount ?? 0;
  try {
    await ledger.append(
      {
        type: 'OutcomeRecorded',
        data: {
          chain_id: chain,
          step: 'Evaluation',
          passed: info.status === 'completed',
          stop_reason:
            info.status === 'completed'
              ? null
              : {
                  Error: {
                    message:
                      `${info.error?.name ?? 'Error'}: ${info.error?.message ?? info.status}`.slice(
                        0,
                        1000,
                      ),
                    category: 'Internal',
                  },
                },
          latency_ms: outcome.durationMs,
          tokens: outcome.tokens,
          cost_microdollars: outcome.costMicrodollars,
          backend: 'kerno-runs',
          metadata: {
            run_id: info.id,
            agent: info.agent,
            status: info.status,
            ...(info.forkOf === undefined
              ? {}
              : { fork_of: info.forkOf.runId, from_step: info.forkOf.fromStep }),
            steps_ran: String(outcome.stepsRan),
            steps_copied: String(outcome.stepsCopied),
          },
        },
      },
      {
        eventId: `run-outcome-${info.id}-${String(resume)}`,
        correlationId: info.id,
        ...(info.tenant === undefined ? {} : { tenantId: info.tenant }),
      },
    );
  } catch (error) {
    // Recorded already (another kernel of the family, or a replayed status): once is enough.
    if ((error as { code?: unknown }).code !== 'CONFLICT') throw error;
  }
}

/** The id of the run a fork family started from. */
function familyRoot(runs: Runs, run: RunSummary): string {
  let root = run;
  for (let i = 0; i < 1000 && root.forkOf !== undefined; i++) {
    const parent = runs.find(root.forkOf.runId);
    if (parent === undefined) break;
    root = parent;
  }
  return root.id;
}

async function record(sinks: RunOutcomeSinks, run: RunSummary): Promise<void> {
  const { runs, learning, bus } = sinks;
  // Most runs are no fork family's: decided from the summary, without reading the journal.
  if (run.forkOf === undefined && run.forkCount === undefined) return;
  const info = await runs.get(run.id);
  if (info.forkOf === undefined && info.forks.length === 0) return;
  const chain = familyRoot(runs, run);
  await recordOutcome(sinks.ledger, info, chain);
  // A parent that ended before it was forked joins the chain now.
  const parentInfo = info.forkOf === undefined ? undefined : await runs.get(info.forkOf.runId);
  if (parentInfo !== undefined && FINAL_STATUSES.has(parentInfo.status)) {
    await recordOutcome(sinks.ledger, parentInfo, chain);
  }
  // Each finished fork/parent pair: which variant won.
  const pairs: [string, string][] = [];
  if (info.forkOf !== undefined) pairs.push([info.id, info.forkOf.runId]);
  for (const fork of info.forks) pairs.push([fork, info.id]);
  for (const [forkId, parentId] of pairs) {
    const fork = forkId === info.id ? info : await runs.get(forkId);
    const parent =
      parentId === info.id
        ? info
        : parentId === parentInfo?.id
          ? parentInfo
          : await runs.get(parentId);
    if (!FINAL_STATUSES.has(fork.status) || !FINAL_STATUSES.has(parent.status)) continue;
    const cmp = compareRuns(fork, parent);
    const forkWon = cmp.winner === fork.id;
    const id = `run-fork:${fork.id}`;
    const verdict = cmp.winner === null ? 'tied with' : forkWon ? 'beat' : 'lost to';
    learning.savePattern({
      id,
      strategy: `Agent ${fork.agent}: a fork from step ${fork.forkOf?.fromStep ?? '?'} with config ${JSON.stringify(fork.config ?? null).slice(0, 300)} ${verdict} the run it was forked from (config ${JSON.stringify(parent.config ?? null).slice(0, 300)}): ${cmp.reason}`,
      embedding_weights: {},
      success_rate: forkWon ? 1 : cmp.winner === null ? 0.5 : 0,
      use_count: 1,
      domain: 'runs',
      quality: forkWon ? 0.8 : 0.4,
      is_long_term: false,
      last_used: formatChrono(Date.parse(fork.endedAt ?? fork.startedAt)),
    });
    bus.publish({ type: 'MemoryStored', id, memoryType: 'pattern', source: 'runs' });
  }
}

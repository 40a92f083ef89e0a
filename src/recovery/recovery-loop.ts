/**
 * The bounded, policy-controlled recovery loop (aivcs-core `execute_recovery_loop`), with an
 * asynchronous repair callback, an injected clock, and an optional hook to override decisions.
 *
 * @example
 * import { createFailureSignal, createRecoveryPolicy, executeRecoveryLoop } from 'kerno';
 * const log = await executeRecoveryLoop(
 *   'run-42',
 *   createFailureSignal('build', 'linker error'),
 *   createRecoveryPolicy(),
 *   async (attempt, action, signal) => ({ success: await repair(action, signal), next_failure: null }),
 * );
 * log.outcome; // 'recovered' | 'failed'
 *
 * @module
 */
import { RECOVERY_ACTIONS } from '../model/failure.js';
import { KernelError, errorMessage } from '../errors.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { formatChrono } from '../util/time.js';
import { classifyFailure, decideRecoveryAction } from './classify.js';
import type { RecoveryChoice } from './classify.js';
import {
  parseFailureSignal,
  parseRecoveryAttemptResult,
  parseRecoveryPolicy,
} from '../formats/aivcs-recovery.js';
import type {
  FailureClass,
  FailureSignal,
  RecoveryAction,
  RecoveryAttemptResult,
  RecoveryDecision,
  RecoveryLog,
  RecoveryOutcome,
  RecoveryPolicy,
} from './recovery-types.js';

/**
 * Performs one repair attempt. `attempt` counts from 1; `signal` is the failure being repaired.
 * A rejection is not fatal to the loop: see {@link executeRecoveryLoop}.
 */
export type ApplyRecoveryAction = (
  attempt: number,
  action: RecoveryAction,
  signal: FailureSignal,
) => Promise<RecoveryAttemptResult>;

/** What a {@link DecideRecoveryAction} hook sees for one attempt. */
export interface RecoveryDecisionContext {
  /** The attempt number, from 1. */
  readonly attempt: number;
  /** The class of the current failure. */
  readonly failureClass: FailureClass;
  /** The current failure. */
  readonly signal: FailureSignal;
  /** The loop's policy. */
  readonly policy: RecoveryPolicy;
  /** Flaky retries spent so far. */
  readonly flakyRetriesUsed: number;
  /** What the reference rule ({@link decideRecoveryAction}) would do. */
  readonly proposed: RecoveryChoice;
}

/**
 * Overrides a decision: return a choice to use it, or `undefined` to keep `proposed`. Lets a
 * supervisor act on a regression check, e.g. escalate at once, or avoid the action that already
 * failed to hold. The overridden choice is recorded in the log like any other decision (its
 * `action` and `rationale` only). Anything else — `null`, a non-object, an unknown action, a
 * rationale that is not a string — is a bug in the hook, not a decision: the loop throws
 * `INVALID_ARGUMENT` instead of guessing (it does not silently keep `proposed` or escalate).
 */
export type DecideRecoveryAction = (context: RecoveryDecisionContext) => RecoveryChoice | undefined;

/** Options of {@link executeRecoveryLoop}. */
export interface RecoveryLoopOptions {
  /** The source of `evaluated_at` (default {@link systemClock}). */
  readonly clock?: Clock;
  /** Decision override; see {@link DecideRecoveryAction}. */
  readonly decideAction?: DecideRecoveryAction;
}

/** The stage of the failure recorded when a repair attempt throws or returns garbage. */
export const RECOVERY_STAGE = 'recovery';

/**
 * One recovery run, one attempt at a time: the state of {@link executeRecoveryLoop}, for a caller
 * that learns each attempt's result later (the kernel's self-healing learns it from the
 * supervisor). Call {@link RecoveryRun.decide} for the next action, {@link RecoveryRun.failed}
 * when it did not hold, and {@link RecoveryRun.finish} for the log.
 */
export class RecoveryRun {
  readonly runId: string;
  readonly initial: FailureSignal;
  readonly policy: RecoveryPolicy;
  readonly #clock: Clock;
  readonly #decideAction: DecideRecoveryAction | undefined;
  readonly #decisions: RecoveryDecision[] = [];
  #current: FailureSignal;
  #flakyRetriesUsed = 0;
  #attemptsUsed = 0;

  /** Throws `INVALID_ARGUMENT` for an invalid run id, failure or policy. */
  constructor(
    runId: string,
    initialFailure: FailureSignal,
    policy: RecoveryPolicy,
    options: RecoveryLoopOptions = {},
  ) {
    if (typeof runId !== 'string') {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `A recovery run needs a string run id, got ${typeof runId}.`,
      );
    }
    this.runId = runId;
    this.initial = parseFailureSignal(initialFailure, 'initial failure');
    this.policy = parseRecoveryPolicy(policy);
    this.#clock = options.clock ?? systemClock;
    this.#decideAction = options.decideAction;
    this.#current = this.initial;
  }

  /** The failure being repaired now. */
  get current(): FailureSignal {
    return this.#current;
  }

  /**
   * Decides and records the next attempt's action; `undefined` when no attempt is left. After
   * an `escalate` decision the run is over (finish it as `failed`).
   */
  decide(): RecoveryDecision | undefined {
    if (this.#attemptsUsed >= this.policy.max_attempts) return undefined;
    const attempt = ++this.#attemptsUsed;
    const failureClass = classifyFailure(this.#current);
    const proposed = decideRecoveryAction(
      failureClass,
      this.#current,
      this.policy,
      this.#flakyRetriesUsed,
    );
    const override = this.#decideAction?.({
      attempt,
      failureClass,
      signal: this.#current,
      policy: this.policy,
      flakyRetriesUsed: this.#flakyRetriesUsed,
      proposed,
    });
    const choice = override === undefined ? proposed : checkChoice(override);
    if (choice.action === 'retry' && this.#current.flaky_hint) this.#flakyRetriesUsed++;
    const decision: RecoveryDecision = {
      attempt,
      failure_class: failureClass,
      action: choice.action,
      rationale: choice.rationale,
    };
    this.#decisions.push(decision);
    return decision;
  }

  /** The last attempt did not hold; `next` (when given) is the failure to repair now. */
  failed(next: FailureSignal | null): void {
    if (next !== null) this.#current = next;
  }

  /** The run's log: `recovered` (no final failure) or `failed` (the current failure). */
  finish(outcome: RecoveryOutcome): RecoveryLog {
    return {
      run_id: this.runId,
      policy: this.policy,
      initial_failure: this.initial,
      decisions: [...this.#decisions],
      outcome,
      attempts_used: this.#attemptsUsed,
      final_failure: outcome === 'recovered' ? null : this.#current,
      evaluated_at: formatChrono(Math.floor(this.#clock.now()), 'Z'),
    };
  }
}

/**
 * Runs at most `policy.max_attempts` attempts. Each attempt classifies the current failure,
 * decides an action and records the decision; `escalate` ends the loop as `failed` without
 * calling `applyAction`; a successful attempt ends it as `recovered`; otherwise `next_failure`
 * (when given) becomes the current failure. A retry of a flaky failure spends the flaky budget.
 *
 * If `applyAction` rejects (or resolves to something that is not a RecoveryAttemptResult), the
 * attempt counts as failed and the next failure is `{ stage: 'recovery', message: '<action>
 * attempt <n> threw: <error>', exit_code: null, flaky_hint: false }`, so the loop goes on and the
 * log shows what happened instead of losing it.
 *
 * Throws `INVALID_ARGUMENT` for an invalid failure or policy, or a hook returning anything but
 * `undefined` or a valid choice (see {@link DecideRecoveryAction}).
 */
export async function executeRecoveryLoop(
  runId: string,
  initialFailure: FailureSignal,
  policy: RecoveryPolicy,
  applyAction: ApplyRecoveryAction,
  options: RecoveryLoopOptions = {},
): Promise<RecoveryLog> {
  const run = new RecoveryRun(runId, initialFailure, policy, options);
  for (let decision = run.decide(); decision !== undefined; decision = run.decide()) {
    if (decision.action === 'escalate') return run.finish('failed');
    let result: RecoveryAttemptResult;
    try {
      result = parseRecoveryAttemptResult(
        await applyAction(decision.attempt, decision.action, run.current),
      );
    } catch (error) {
      result = {
        success: false,
        next_failure: {
          stage: RECOVERY_STAGE,
          message: `${decision.action} attempt ${decision.attempt} threw: ${errorMessage(error)}`,
          exit_code: null,
          flaky_hint: false,
        },
      };
    }
    if (result.success) return run.finish('recovered');
    run.failed(result.next_failure);
  }
  return run.finish('failed');
}

/** The hook's choice, or `INVALID_ARGUMENT` when it is not one (see {@link DecideRecoveryAction}). */
function checkChoice(choice: unknown): RecoveryChoice {
  const c = choice as Partial<RecoveryChoice> | null;
  if (
    typeof c !== 'object' ||
    c === null ||
    !(RECOVERY_ACTIONS as readonly unknown[]).includes(c.action) ||
    typeof c.rationale !== 'string'
  ) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `decideAction returned ${errorMessage(choice)}; return { action: ${RECOVERY_ACTIONS.join(' | ')}, rationale: string } or undefined.`,
    );
  }
  return { action: c.action!, rationale: c.rationale };
}

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
import { RECOVERY_ACTIONS } from '../bus/kernel-event.js';
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
} from './recovery-codec.js';
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
 * failed to hold. The overridden choice is recorded in the log like any other decision.
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
 * Throws `INVALID_ARGUMENT` for an invalid failure or policy, or a hook returning an unknown action.
 */
export async function executeRecoveryLoop(
  runId: string,
  initialFailure: FailureSignal,
  policy: RecoveryPolicy,
  applyAction: ApplyRecoveryAction,
  options: RecoveryLoopOptions = {},
): Promise<RecoveryLog> {
  if (typeof runId !== 'string') {
    throw new KernelError('INVALID_ARGUMENT', 'executeRecoveryLoop needs a string run id.');
  }
  const initial = parseFailureSignal(initialFailure, 'initial failure');
  const checkedPolicy = parseRecoveryPolicy(policy);
  const clock = options.clock ?? systemClock;
  let current = initial;
  const decisions: RecoveryDecision[] = [];
  let flakyRetriesUsed = 0;
  let attemptsUsed = 0;

  const finish = (outcome: RecoveryOutcome, finalFailure: FailureSignal | null): RecoveryLog => ({
    run_id: runId,
    policy: checkedPolicy,
    initial_failure: initial,
    decisions,
    outcome,
    attempts_used: attemptsUsed,
    final_failure: finalFailure,
    evaluated_at: formatChrono(Math.floor(clock.now()), 'Z'),
  });

  for (let attempt = 1; attempt <= checkedPolicy.max_attempts; attempt++) {
    attemptsUsed = attempt;
    const failureClass = classifyFailure(current);
    const proposed = decideRecoveryAction(failureClass, current, checkedPolicy, flakyRetriesUsed);
    const choice =
      options.decideAction === undefined
        ? proposed
        : checkChoice(
            options.decideAction({
              attempt,
              failureClass,
              signal: current,
              policy: checkedPolicy,
              flakyRetriesUsed,
              proposed,
            }) ?? proposed,
          );
    if (choice.action === 'retry' && current.flaky_hint) flakyRetriesUsed++;
    decisions.push({
      attempt,
      failure_class: failureClass,
      action: choice.action,
      rationale: choice.rationale,
    });
    if (choice.action === 'escalate') return finish('failed', current);

    let result: RecoveryAttemptResult;
    try {
      result = parseRecoveryAttemptResult(await applyAction(attempt, choice.action, current));
    } catch (error) {
      result = {
        success: false,
        next_failure: {
          stage: RECOVERY_STAGE,
          message: `${choice.action} attempt ${attempt} threw: ${errorMessage(error)}`,
          exit_code: null,
          flaky_hint: false,
        },
      };
    }
    if (result.success) return finish('recovered', null);
    if (result.next_failure !== null) current = result.next_failure;
  }
  return finish('failed', current);
}

function checkChoice(choice: RecoveryChoice): RecoveryChoice {
  if (
    typeof choice !== 'object' ||
    choice === null ||
    !(RECOVERY_ACTIONS as readonly unknown[]).includes(choice.action) ||
    typeof choice.rationale !== 'string'
  ) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `decideAction returned ${errorMessage(choice)}; return { action: ${RECOVERY_ACTIONS.join(' | ')}, rationale: string } or undefined.`,
    );
  }
  return { action: choice.action, rationale: choice.rationale };
}

/**
 * The demo's budget: a daily cost cap on the demo's durable `research` agent, small enough that
 * the demo reaches it after a few runs — the run then pauses before its next step and the
 * approvals inbox asks "research spent $0.0152 of its $0.0150 daily budget: raise the budget or
 * stop the run?". Approve raises it (×1.5, a new policy version) and the run resumes; reject
 * stops the run. Set once: a raise (or an edit) made by the user is kept across restarts.
 *
 * @module
 */
import { errorMessage } from '../errors.js';
import type { Kernel } from '../kernel.js';

/** The demo budget's name. */
export const DEMO_BUDGET = 'demo-research-daily';

/** Sets the demo budget unless it exists (or existed: a deleted one stays deleted). */
export async function setDemoBudget(kernel: Kernel): Promise<void> {
  if ((await kernel.policies.history('budget', DEMO_BUDGET)).length > 0) return;
  try {
    await kernel.policies.set(
      'budget',
      DEMO_BUDGET,
      { agent: 'research', costMicros: 15_000, windowMs: 86_400_000 },
      {
        by: 'demo',
        reason: 'the demo caps its research agent at $0.015 a day',
        expectedVersion: 0,
      },
    );
  } catch (error) {
    kernel.logger.warn('The demo could not set its budget', { error: errorMessage(error) });
  }
}

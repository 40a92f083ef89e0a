/**
 * The late-approval rule: an escalation approved when nobody in this process waits for it any
 * more (it was asked before the kernel restarted) re-runs the agent, with the spec it was last
 * spawned with, unless it is running.
 *
 * @example
 * const detach = rerunOnLateApproval({ approvals, supervisor, awaiting: () => false, logger });
 *
 * @module
 */
import type { ApprovalGate } from '../approvals/approval-gate.js';
import { errorMessage } from '../errors.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { Logger } from '../util/logger.js';

/** What the rule needs of the supervisor. */
export type RerunTarget = Pick<Supervisor, 'list' | 'lastSpec' | 'spawn'>;

/** Options of {@link rerunOnLateApproval}. */
export interface LateApprovalOptions {
  readonly approvals: Pick<ApprovalGate, 'onDecision'>;
  readonly supervisor: RerunTarget;
  /** Whether this process still waits for the agent's escalation (then it restarts it itself). */
  readonly awaiting: (name: string) => boolean;
  readonly logger: Logger;
}

const LIVE = new Set(['starting', 'running', 'idle']);

/** Follows escalation decisions; returns the function that stops following. */
export function rerunOnLateApproval(options: LateApprovalOptions): () => void {
  const { supervisor, logger } = options;
  return options.approvals.onDecision((gate, decision) => {
    const name = gate.agentName;
    if (gate.origin !== 'escalation' || !decision.approved || name === null) return;
    const spec = supervisor.lastSpec(name);
    const running = supervisor.list().some((a) => a.name === name && LIVE.has(a.status));
    if (spec === undefined || running || options.awaiting(name)) return;
    supervisor.spawn(spec).catch((error: unknown) =>
      logger.error('Could not re-run an agent after its escalation was approved', {
        agent: name,
        error: errorMessage(error),
      }),
    );
  });
}

/**
 * The governed artifact lifecycle (converge-core `governed_artifact::validate_transition`):
 *
 * ```
 * Draft       → Approved | Deprecated
 * Approved    → Active | Quarantined | RolledBack
 * Active      → Quarantined | Deprecated | RolledBack
 * Quarantined → Active | RolledBack | Deprecated
 * Deprecated, RolledBack: terminal
 * ```
 *
 * @example
 * import { assertTransition, allowedTransitions } from 'kerno';
 * allowedTransitions('Approved'); // ['Active', 'Quarantined', 'RolledBack']
 * assertTransition('Active', 'Draft'); // throws KernelError ILLEGAL_TRANSITION
 *
 * @module
 */
import { KernelError } from '../errors.js';
import {
  GOVERNED_ARTIFACT_STATES,
  type GovernedArtifactState,
} from '../formats/converge-experience-event.js';

/** Every allowed transition, by source state. Terminal states map to an empty list. */
export const GOVERNED_ARTIFACT_TRANSITIONS: Readonly<
  Record<GovernedArtifactState, readonly GovernedArtifactState[]>
> = Object.freeze({
  Draft: Object.freeze(['Approved', 'Deprecated'] as const),
  Approved: Object.freeze(['Active', 'Quarantined', 'RolledBack'] as const),
  Active: Object.freeze(['Quarantined', 'Deprecated', 'RolledBack'] as const),
  Quarantined: Object.freeze(['Active', 'RolledBack', 'Deprecated'] as const),
  Deprecated: Object.freeze([] as const),
  RolledBack: Object.freeze([] as const),
});

/** Whether `value` is a governed artifact state. */
export function isGovernedArtifactState(value: unknown): value is GovernedArtifactState {
  return (
    typeof value === 'string' && (GOVERNED_ARTIFACT_STATES as readonly string[]).includes(value)
  );
}

function checkState(value: unknown, role: 'from' | 'to'): GovernedArtifactState {
  if (!isGovernedArtifactState(value)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `Unknown governed artifact state ${JSON.stringify(value)} (${role}); use one of ${GOVERNED_ARTIFACT_STATES.join(', ')}`,
    );
  }
  return value;
}

/** The states reachable from `from` in one step (empty for a terminal state). */
export function allowedTransitions(from: GovernedArtifactState): readonly GovernedArtifactState[] {
  return GOVERNED_ARTIFACT_TRANSITIONS[checkState(from, 'from')];
}

/** Whether `state` is terminal (`Deprecated` or `RolledBack`): nothing follows it. */
export function isTerminalState(state: GovernedArtifactState): boolean {
  return allowedTransitions(state).length === 0;
}

/** Whether `from → to` is an allowed transition. */
export function canTransition(from: GovernedArtifactState, to: GovernedArtifactState): boolean {
  return allowedTransitions(from).includes(checkState(to, 'to'));
}

/**
 * Throws KernelError `ILLEGAL_TRANSITION` (details `{ from, to, allowed }`) unless `from → to`
 * is allowed; the message lists the allowed targets, or says that `from` is terminal.
 */
export function assertTransition(from: GovernedArtifactState, to: GovernedArtifactState): void {
  const allowed = allowedTransitions(from);
  if (allowed.includes(checkState(to, 'to'))) return;
  const message =
    allowed.length === 0
      ? `Illegal artifact state transition ${from} → ${to}: ${from} is terminal, no transition leaves it. Register a new artifact version instead.`
      : `Illegal artifact state transition ${from} → ${to}: from ${from} the allowed transitions are ${allowed.join(', ')}.`;
  throw new KernelError('ILLEGAL_TRANSITION', message, {
    details: { from, to, allowed: [...allowed] },
  });
}

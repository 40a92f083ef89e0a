import { describe, expect, it } from 'vitest';
import {
  GOVERNED_ARTIFACT_STATES,
  GOVERNED_ARTIFACT_TRANSITIONS,
  allowedTransitions,
  assertTransition,
  canTransition,
  isKernelError,
  isTerminalState,
  type GovernedArtifactState,
} from '../../src/index.js';

// Written out independently of the implementation, from converge's validate_transition.
const ALLOWED = new Set([
  'Draft>Approved',
  'Draft>Deprecated',
  'Approved>Active',
  'Approved>Quarantined',
  'Approved>RolledBack',
  'Active>Quarantined',
  'Active>Deprecated',
  'Active>RolledBack',
  'Quarantined>Active',
  'Quarantined>RolledBack',
  'Quarantined>Deprecated',
]);

const PAIRS = GOVERNED_ARTIFACT_STATES.flatMap((from) =>
  GOVERNED_ARTIFACT_STATES.map(
    (to) => [from, to] as [GovernedArtifactState, GovernedArtifactState],
  ),
);
const allowedPairs = PAIRS.filter(([f, t]) => ALLOWED.has(`${f}>${t}`));
const forbiddenPairs = PAIRS.filter(([f, t]) => !ALLOWED.has(`${f}>${t}`));

describe('governed artifact lifecycle', () => {
  it('knows all six states and 11 allowed transitions', () => {
    expect(GOVERNED_ARTIFACT_STATES).toEqual([
      'Draft',
      'Approved',
      'Active',
      'Quarantined',
      'Deprecated',
      'RolledBack',
    ]);
    expect(allowedPairs).toHaveLength(11);
    expect(forbiddenPairs).toHaveLength(25);
    expect(Object.isFrozen(GOVERNED_ARTIFACT_TRANSITIONS)).toBe(true);
    expect(Object.isFrozen(GOVERNED_ARTIFACT_TRANSITIONS.Active)).toBe(true);
  });

  it.each(allowedPairs)('allows %s → %s', (from, to) => {
    expect(() => assertTransition(from, to)).not.toThrow();
    expect(canTransition(from, to)).toBe(true);
    expect(allowedTransitions(from)).toContain(to);
  });

  it.each(forbiddenPairs)('forbids %s → %s with ILLEGAL_TRANSITION', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    let thrown: unknown;
    try {
      assertTransition(from, to);
    } catch (error) {
      thrown = error;
    }
    expect(isKernelError(thrown, 'ILLEGAL_TRANSITION')).toBe(true);
    const error = thrown as { message: string; details: Record<string, unknown> };
    const expected = GOVERNED_ARTIFACT_STATES.filter((s) => ALLOWED.has(`${from}>${s}`));
    expect(error.details).toEqual({ from, to, allowed: allowedTransitions(from) });
    expect([...(error.details.allowed as string[])].sort()).toEqual([...expected].sort());
    expect(error.message).toContain(`${from} → ${to}`);
    if (expected.length === 0) {
      expect(error.message).toContain(`${from} is terminal`);
    } else {
      for (const s of expected) expect(error.message).toContain(s);
    }
  });

  it('treats exactly Deprecated and RolledBack as terminal', () => {
    expect(GOVERNED_ARTIFACT_STATES.filter((s) => isTerminalState(s))).toEqual([
      'Deprecated',
      'RolledBack',
    ]);
  });

  it('rejects unknown states with INVALID_ARGUMENT', () => {
    expect(() => assertTransition('Retired' as GovernedArtifactState, 'Active')).toThrow(
      /Unknown governed artifact state "Retired"/,
    );
    try {
      canTransition('Draft', 'draft' as GovernedArtifactState);
      expect.unreachable();
    } catch (error) {
      expect(isKernelError(error, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});

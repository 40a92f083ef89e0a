/**
 * The state a crash-test child writes for version `v`: a pure function of `v`, so the parent can
 * tell which complete version a file holds.
 */
import {
  canonicalTimestamp,
  defaultEwcState,
  type LearningSnapshot,
  type PatternRecord,
} from '../../src/index.js';

export function patternCountFor(v: number): number {
  return 1500 + (v % 5) * 400;
}

export function patternFor(v: number, i: number): PatternRecord {
  return {
    id: `p-${i}`,
    strategy: `version ${v} pattern ${i}: retry the flaky step with exponential backoff and jitter`,
    embedding_weights: { version: v, pattern: i / 7 },
    success_rate: ((v + i) % 100) / 100,
    use_count: v,
    domain: `d-${i % 7}`,
    quality: ((v * 3 + i) % 100) / 100,
    is_long_term: (v + i) % 2 === 0,
    last_used: canonicalTimestamp(new Date(Date.UTC(2026, 0, 1) + v * 1000 + i).toISOString())!,
  };
}

export function snapshotFor(v: number): LearningSnapshot {
  const patterns: PatternRecord[] = [];
  for (let i = 0; i < patternCountFor(v); i++) patterns.push(patternFor(v, i));
  return { patterns, trajectories: [], ewc: { ...defaultEwcState(), tasks_learned: v } };
}

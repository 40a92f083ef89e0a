/** Learning-store records the tests share. */
import type { LearningSnapshot, PatternRecord } from '../../src/index.js';

/** A long-term pattern with a nanosecond `last_used` (RVLS keeps all nine digits). */
export function pattern(id: string, strategy = `strategy ${id}`): PatternRecord {
  return {
    id,
    strategy,
    embedding_weights: { [id]: 0.5 },
    success_rate: 0.5,
    use_count: 1,
    domain: 'd',
    quality: 1,
    is_long_term: true,
    last_used: '2026-05-14T10:00:00.000000001Z',
  };
}

/** Two patterns, one trajectory and an EWC state. */
export const SNAPSHOT: LearningSnapshot = {
  patterns: [pattern('a'), pattern('b')],
  trajectories: [
    {
      id: 't',
      steps: [{ input: 'i', output: 'o', duration_ms: 3, confidence: 0.25 }],
      outcome: 'partial',
      duration_ms: 3,
      domain: 'd',
      created_at: '2026-05-14T10:00:00Z',
    },
  ],
  ewc: { tasks_learned: 1, protection_strength: 1000, task_weights: { x: [0.5] } },
};

/**
 * The experience events the ledger benchmarks append (SQLite and PostgreSQL alike): three kinds
 * in turn, so kind filters and indexes see a realistic mix.
 */
import type {
  ExperienceEvent,
  ExperienceEventKind,
} from '../src/formats/converge-experience-event.js';

/** The kinds {@link benchEvent} cycles through, in order. */
export const BENCH_KINDS: readonly ExperienceEventKind[] = [
  'OutcomeRecorded',
  'BudgetExceeded',
  'FactPromoted',
];

/** The `i`-th benchmark event on decision chain `chain`. */
export function benchEvent(i: number, chain: string): ExperienceEvent {
  switch (i % 3) {
    case 0:
      return {
        type: 'OutcomeRecorded',
        data: {
          chain_id: chain,
          step: 'Planning',
          passed: i % 2 === 0,
          stop_reason: null,
          latency_ms: i % 997,
          tokens: 420,
          cost_microdollars: 12,
          backend: 'local',
        },
      };
    case 1:
      return {
        type: 'BudgetExceeded',
        data: { chain_id: chain, resource: 'Tokens', limit: '1024', observed: '2048' },
      };
    default:
      return {
        type: 'FactPromoted',
        data: {
          proposal_id: `p-${i}`,
          fact_id: `f-${i}`,
          promoted_by: 'engine',
          reason: 'validated',
          requires_human: false,
        },
      };
  }
}

import { describe, expect, it } from 'vitest';
import {
  createLearningStore,
  createMemoryLearningPersistence,
  isKernelError,
  seededRandom,
  tokenize,
  type LearningStore,
  type PatternRecord,
} from '../../src/index.js';

function pattern(id: string, strategy: string, over: Partial<PatternRecord> = {}): PatternRecord {
  return {
    id,
    strategy,
    embedding_weights: {},
    success_rate: 1,
    use_count: 1,
    domain: 'general',
    quality: 1,
    is_long_term: false,
    last_used: '2026-05-14T10:00:00Z',
    ...over,
  };
}

function storeWith(...patterns: PatternRecord[]): LearningStore {
  const store = createLearningStore();
  for (const p of patterns) store.savePattern(p);
  return store;
}

const ids = (hits: { pattern: PatternRecord }[]): string[] => hits.map((h) => h.pattern.id);

describe('recall', () => {
  it('tokenizes into lower-cased runs of letters and digits', () => {
    expect(tokenize('Retry the FLAKY test-suite, 3× (über)!')).toEqual([
      'retry',
      'the',
      'flaky',
      'test',
      'suite',
      '3',
      'über',
    ]);
  });

  it('ranks by TF-IDF cosine similarity', () => {
    const store = storeWith(
      pattern('https', 'Use HTTPS for every outbound call'),
      pattern('flaky', 'Retry flaky tests with exponential backoff'),
      pattern('tdd', 'Write a failing test before fixing a bug'),
    );
    expect(ids(store.recall('flaky tests keep failing', { k: 3 }))).toEqual(['flaky', 'tdd']);
    expect(ids(store.recall('outbound https'))).toEqual(['https']);
    expect(store.recall('nothing matches here')).toEqual([]);
    expect(store.recall('  ')).toEqual([]);
  });

  it('computes exactly the documented formula', () => {
    const store = storeWith(
      pattern('a', 'alpha beta', { success_rate: 0.5, quality: 0.25 }),
      pattern('b', 'alpha gamma'),
    );
    const [hit] = store.recall('beta');
    const idfBeta = Math.log(3 / 2) + 1; // N = 2, df(beta) = 1; idf(alpha) = ln(3/3) + 1 = 1
    const similarity = (idfBeta * idfBeta) / (idfBeta * Math.sqrt(1 + idfBeta ** 2));
    expect(hit!.similarity).toBeCloseTo(similarity, 12);
    expect(hit!.score).toBeCloseTo(similarity * (0.5 + 0.25) * (0.5 + 0.125), 12);
  });

  it('weights similarity by success rate and quality', () => {
    const store = storeWith(
      pattern('weak', 'deploy with canary releases', { success_rate: 0.2, quality: 0.9 }),
      pattern('strong', 'deploy with canary releases', { success_rate: 0.9, quality: 0.9 }),
      pattern('sloppy', 'deploy with canary releases', { success_rate: 0.9, quality: 0 }),
    );
    const hits = store.recall('canary deploy', { k: 3 });
    // 0.95·0.95 > 0.6·0.95 (weak) > 0.95·0.5 (sloppy)
    expect(ids(hits)).toEqual(['strong', 'weak', 'sloppy']);
    expect(hits[0]!.similarity).toBe(hits[2]!.similarity);
    expect(hits[1]!.score / hits[0]!.score).toBeCloseTo((0.6 * 0.95) / (0.95 * 0.95), 12);
  });

  it('uses embedding_weights when a pattern has them (keys matched case-insensitively)', () => {
    const store = storeWith(
      pattern('k8s', 'roll out carefully', {
        embedding_weights: { Kubernetes: 0.9, rollout: 0.4 },
      }),
      pattern('text', 'kubernetes rollout rollout rollout'),
    );
    const hits = store.recall('kubernetes');
    expect(ids(hits)).toEqual(['k8s', 'text']);
    expect(ids(store.recall('carefully'))).toEqual([]); // its strategy text is not indexed
  });

  it('filters by domain and honours k', () => {
    const store = storeWith(
      pattern('a', 'cache the results', { domain: 'perf' }),
      pattern('b', 'cache the results again', { domain: 'ops' }),
      pattern('c', 'cache everything', { domain: 'perf' }),
    );
    expect(ids(store.recall('cache', { domain: 'perf', k: 5 })).sort()).toEqual(['a', 'c']);
    expect(store.recall('cache', { k: 1 })).toHaveLength(1);
    for (const k of [0, -1, 1.5]) {
      try {
        store.recall('cache', { k });
        expect.unreachable();
      } catch (e) {
        expect(isKernelError(e, 'INVALID_ARGUMENT')).toBe(true);
      }
    }
  });

  it('breaks ties by recency (fraction-aware), then by id', () => {
    const store = storeWith(
      pattern('b-old', 'same words', { last_used: '2026-05-14T10:00:00Z' }),
      pattern('z-new', 'same words', { last_used: '2026-05-14T10:00:00.500Z' }),
      pattern('a-old', 'same words', { last_used: '2026-05-14T10:00:00Z' }),
      pattern('m-mid', 'same words', { last_used: '2026-05-14T10:00:00.000000001Z' }),
    );
    expect(ids(store.recall('same words', { k: 10 }))).toEqual([
      'z-new',
      'm-mid',
      'a-old',
      'b-old',
    ]);
  });

  it('follows saves and removals after the index is built', () => {
    const store = storeWith(pattern('a', 'rotate the logs'), pattern('b', 'compress old logs'));
    expect(ids(store.recall('logs', { k: 5 })).sort()).toEqual(['a', 'b']);
    store.removePattern('a');
    expect(ids(store.recall('rotate logs', { k: 5 }))).toEqual(['b']);
    store.savePattern(pattern('b', 'vacuum the database'));
    expect(store.recall('logs')).toEqual([]);
    expect(ids(store.recall('database'))).toEqual(['b']);
    store.savePattern(pattern('c', 'rotate keys'));
    expect(ids(store.recall('rotate'))).toEqual(['c']);
  });

  it('depends only on the stored patterns and the query, not on history', async () => {
    const random = seededRandom(21);
    const words = Array.from({ length: 300 }, (_, i) => `w${(i * 7919) % 1000}`);
    const make = (i: number): PatternRecord =>
      pattern(
        `p${i}`,
        Array.from(
          { length: 3 + (i % 7) },
          () => words[Math.floor(random.float() ** 2 * words.length)]!,
        ).join(' '),
        {
          success_rate: (i % 10) / 10,
          quality: ((i * 3) % 10) / 10,
          domain: `d${Math.floor(i / 3) % 3}`,
          last_used: new Date(Date.UTC(2026, 0, 1) + (i % 50) * 1000).toISOString(),
          ...(i % 4 === 0
            ? { embedding_weights: { [words[i % words.length]!]: 0.5 + (i % 5) / 10 } }
            : {}),
        },
      );
    const all = Array.from({ length: 6000 }, (_, i) => make(i));
    const keep = all.filter((_, i) => i % 3 === 0);

    // a: only the kept patterns, in order
    const a = createLearningStore();
    for (const p of keep) a.savePattern(p);
    // b: everything in reverse, index built early, then removing two thirds (which compacts the
    // index), then saving some again
    const persistence = createMemoryLearningPersistence();
    const b = createLearningStore({ persistence });
    b.recall('warm');
    for (const p of [...all].reverse()) b.savePattern(p);
    for (let i = 0; i < all.length; i++) if (i % 3 !== 0) b.removePattern(`p${i}`);
    for (const p of keep.slice(0, 500)) b.savePattern(p);
    await b.persist();
    // c: b reloaded
    const c = createLearningStore({ persistence });
    await c.load();

    const queries = Array.from(
      { length: 40 },
      (_, i) => `${words[i * 7]!} ${words[(i * 13) % 300]!} ${words[i]!}`,
    );
    for (const q of queries) {
      for (const options of [{ k: 10 }, { k: 3, domain: 'd1' }]) {
        const expected = a.recall(q, options).map((h) => [h.pattern.id, h.score]);
        expect(expected.length).toBeGreaterThan(0);
        expect(b.recall(q, options).map((h) => [h.pattern.id, h.score])).toEqual(expected);
        expect(c.recall(q, options).map((h) => [h.pattern.id, h.score])).toEqual(expected);
      }
    }
  });
});

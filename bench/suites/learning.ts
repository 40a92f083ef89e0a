import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLearningStore,
  openFileLearningPersistence,
  openLearningStore,
  seededRandom,
  tokenize,
  type PatternRecord,
  type Random,
} from '../../src/index.js';
import { median, percentile, type BenchRow, type BenchSuite } from '../harness.js';

const N = 100_000;

/** Deterministic, realistic-looking patterns: half carry embedding weights, half do not. */
export function benchPatterns(n: number, random: Random = seededRandom(7)): PatternRecord[] {
  const vocab = Array.from({ length: 5000 }, (_, i) => word(i));
  const pick = (): string => vocab[Math.floor(random.float() ** 2 * vocab.length)]!; // Zipf-like
  const domains = Array.from({ length: 20 }, (_, i) => `domain-${i}`);
  const out: PatternRecord[] = [];
  for (let i = 0; i < n; i++) {
    const words = Array.from({ length: 6 + Math.floor(random.float() * 9) }, pick);
    const weights: Record<string, number> = {};
    if (i % 2 === 0)
      for (const w of words.slice(0, 6)) weights[w] = Math.round(random.float() * 1e6) / 1e6;
    const ms = Date.UTC(2026, 0, 1) + Math.floor(random.float() * 1e10);
    const frac = ['', '.123', '.123456', '.123456789'][i % 4]!;
    out.push({
      id: `pattern-${i.toString(36).padStart(6, '0')}`,
      strategy: words.join(' '),
      embedding_weights: weights,
      success_rate: Math.fround(random.float()),
      use_count: Math.floor(random.float() * 1000),
      domain: domains[i % domains.length]!,
      quality: Math.round(random.float() * 100) / 100,
      is_long_term: i % 3 === 0,
      last_used: new Date(ms).toISOString().slice(0, 19) + frac + 'Z',
    });
  }
  return out;
}

function word(i: number): string {
  const syll = ['ka', 'to', 'ri', 'mon', 'sel', 'vu', 'dan', 'pe', 'lor', 'qi', 'tes', 'ret'];
  let s = '';
  let x = i + 12;
  while (x > 0) {
    s += syll[x % syll.length]!;
    x = Math.floor(x / syll.length);
  }
  return s;
}

/** Median times of `a` and `b`, run alternately so that both see the same machine load. */
async function timePair(
  rounds: number,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
): Promise<[number, number]> {
  await a();
  await b();
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let t0 = performance.now();
    await a();
    ta.push(performance.now() - t0);
    t0 = performance.now();
    await b();
    tb.push(performance.now() - t0);
  }
  return [median(ta), median(tb)];
}

/** Load, persist and recall over 100 000 patterns, each beside a raw peer. */
export const learningSuite: BenchSuite = {
  name: 'learning',
  async run(): Promise<BenchRow[]> {
    const dir = await mkdtemp(join(tmpdir(), 'kerno-bench-learning-'));
    try {
      const patterns = benchPatterns(N);
      const file = join(dir, 'learning.rvls');
      const seed = createLearningStore({
        persistence: await openFileLearningPersistence({ path: file }),
      });
      for (const p of patterns) seed.savePattern(p);
      await seed.persist();
      await seed.close();

      // Load: kerno's streaming, validating load vs readFile + split + JSON.parse per line.
      const [loadMs, rawLoadMs] = await timePair(
        7,
        async () => {
          const store = await openLearningStore(file, { readOnly: true });
          if (store.stats().patternCount !== N) throw new Error('load lost patterns');
          await store.close();
        },
        async () => {
          const lines = (await readFile(file)).toString('utf8').split('\n');
          let n = 0;
          for (let i = 1; i < lines.length - 1; i++) {
            if (lines[i] !== '') n += JSON.parse(lines[i]!) === null ? 0 : 1;
          }
          if (n !== N + 1) throw new Error('raw load miscounted');
        },
      );

      // Persist: temp file + fsync + rename + folder fsync vs stringify + writeFile + fsync.
      const store = await openLearningStore(file);
      const rawFile = join(dir, 'raw.jsonl');
      const [persistMs, rawPersistMs] = await timePair(
        7,
        () => store.persist(),
        async () => {
          let text = 'RVLS\n';
          for (const p of patterns) text += JSON.stringify({ type: 'pattern', data: p }) + '\n';
          await writeFile(rawFile, text + 'REND');
          const fh = await open(rawFile, 'r+');
          await fh.sync();
          await fh.close();
        },
      );
      await store.close();

      // Recall: p99 latency over 100 000 patterns.
      const mem = createLearningStore();
      for (const p of patterns) mem.savePattern(p);
      const t0 = performance.now();
      mem.recall('warm up the index', { k: 5 });
      const buildMs = performance.now() - t0;
      const random = seededRandom(11);
      const queries = Array.from({ length: 1000 }, (_, i) => {
        const p = patterns[Math.floor(random.float() * N)]!;
        const words = p.strategy.split(' ');
        return {
          text: words.slice(0, 2 + (i % 4)).join(' ') + ' extra words',
          domain: i % 5 === 0 ? p.domain : undefined,
        };
      });
      for (const q of queries.slice(0, 100)) mem.recall(q.text, { k: 10 });
      const latencies: number[] = [];
      for (const q of queries) {
        const s = performance.now();
        mem.recall(q.text, q.domain === undefined ? { k: 10 } : { k: 10, domain: q.domain });
        latencies.push(performance.now() - s);
      }
      const p99 = percentile(latencies, 99);
      // the hardest query: the most common terms, whose posting lists are longest
      const freq = new Map<string, number>();
      for (const p of patterns)
        for (const t of tokenize(p.strategy)) freq.set(t, (freq.get(t) ?? 0) + 1);
      const common = [...freq]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([t]) => t)
        .join(' ');
      const worst: number[] = [];
      for (let i = 0; i < 50; i++) {
        const s = performance.now();
        mem.recall(common, { k: 10 });
        worst.push(performance.now() - s);
      }

      return [
        {
          group: 'learning',
          name: 'load 100k patterns (stream, validate)',
          value: (N / loadMs) * 1000,
          unit: 'patterns/s',
          peer: { name: 'readFile+split+JSON.parse', value: (N / rawLoadMs) * 1000 },
          goal: { kind: 'ratio-min', value: 0.5 },
          note: `kerno ${loadMs.toFixed(0)} ms, raw ${rawLoadMs.toFixed(0)} ms (median of 7, alternating)`,
        },
        {
          group: 'learning',
          name: 'persist 100k patterns (crash-safe)',
          value: (N / persistMs) * 1000,
          unit: 'patterns/s',
          peer: { name: 'JSON.stringify+writeFile+fsync', value: (N / rawPersistMs) * 1000 },
          goal: { kind: 'ratio-min', value: 0.5 },
          note: `kerno ${persistMs.toFixed(0)} ms, raw ${rawPersistMs.toFixed(0)} ms (median of 7, alternating)`,
        },
        {
          group: 'learning',
          name: 'recall p99 over 100k patterns (k=10)',
          value: p99,
          unit: 'ms',
          goal: { kind: 'max', value: 20 },
          lowerIsBetter: true,
          note: `median ${percentile(latencies, 50).toFixed(2)} ms; 8 most common terms ${median(worst).toFixed(1)} ms; index build on first recall ${buildMs.toFixed(0)} ms`,
        },
      ];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

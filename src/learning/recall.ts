/**
 * Recall: which stored patterns fit a task description. Patterns are ranked by the cosine
 * similarity of sparse TF-IDF vectors, weighted by how well each pattern worked.
 *
 * The formula, with N the number of patterns and df(t) the number of patterns whose vector has
 * term t:
 *
 * - terms: the lower-cased runs of letters and digits (`\p{L}`, `\p{N}`) of a text;
 * - idf(t) = ln((1 + N) / (1 + df(t))) + 1;
 * - query vector: q_t = count of t in the query × idf(t);
 * - pattern vector: the pattern's `embedding_weights` as given (keys lower-cased) when it has a
 *   non-zero weight, else d_t = count of t in its `strategy` × idf(t);
 * - similarity = Σ q_t·d_t / (‖q‖·‖d‖);
 * - score = similarity × (0.5 + 0.5·s) × (0.5 + 0.5·q), where s = `success_rate` and
 *   q = `quality`, each clamped to [0, 1] — an untried pattern keeps a quarter of its similarity.
 *
 * Only patterns with similarity > 0 are returned, best score first; equal scores go to the more
 * recently used pattern (`last_used`), then to the smaller id. The result depends only on the
 * stored patterns and the query (sums run in a fixed order), never on insertion history.
 *
 * The index is inverted (term → patterns) and kept up to date on save and remove; pattern norms
 * depend on N and df, so they are refreshed once, lazily, by the first recall after a change
 * (a pass over all postings, a few milliseconds for 100 000 patterns). The index itself is built
 * on the first recall.
 *
 * @example
 * store.recall('flaky test keeps timing out', { k: 3, domain: 'testing' });
 * // → [{ pattern, score, similarity }, …], best first
 *
 * @module
 */
import type { PatternRecord } from '../formats/learning-records.js';
import { timestampKey } from '../formats/learning-records.js';

/** One recalled pattern. */
export interface RecallHit {
  readonly pattern: PatternRecord;
  /** similarity × success and quality weights (see the module documentation). */
  readonly score: number;
  /** Cosine similarity of the TF-IDF vectors, in (0, 1] for non-negative weights. */
  readonly similarity: number;
}

const TERM = /[\p{L}\p{N}]+/gu;

/** The terms of a text: lower-cased runs of letters and digits, in order, repeats kept. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(TERM) ?? [];
}

interface Posting {
  slots: number[];
  weights: number[];
}

/** An inverted TF-IDF index over patterns. @internal */
export class RecallIndex {
  readonly #termIds = new Map<string, number>();
  readonly #postings: Posting[] = [];
  #df: number[] = [];
  #idf = new Float64Array(0);
  readonly #slotOf = new Map<string, number>();
  #patterns: (PatternRecord | undefined)[] = [];
  /** 1: weights are term counts, scaled by idf; 0: fixed embedding weights. */
  #tfidf: number[] = [];
  #norms: number[] = [];
  #offset: number[] = [];
  #length: number[] = [];
  #terms = new Int32Array(1024);
  #weights = new Float64Array(1024);
  #used = 0;
  #live = 0;
  #deadPostings = 0;
  #stale = true;
  #acc = new Float64Array(0);
  #mark = new Uint8Array(0);

  /** How many patterns are indexed. */
  get size(): number {
    return this.#live;
  }

  /** An index of `patterns` (ids must be distinct). */
  static of(patterns: Iterable<PatternRecord>): RecallIndex {
    const index = new RecallIndex();
    for (const p of patterns) index.#insert(p);
    return index;
  }

  /** Indexes `pattern`, replacing any pattern with the same id. */
  add(pattern: PatternRecord): void {
    this.remove(pattern.id);
    this.#insert(pattern);
  }

  #insert(pattern: PatternRecord): void {
    const slot = this.#patterns.length;
    const vector = vectorOf(pattern);
    const n = vector.terms.length;
    this.#ensureFlat(this.#used + n);
    this.#offset.push(this.#used);
    this.#length.push(n);
    this.#patterns.push(pattern);
    this.#tfidf.push(vector.tfidf ? 1 : 0);
    let norm2 = 0;
    for (let i = 0; i < n; i++) {
      const id = this.#termId(vector.terms[i]!);
      const w = vector.weights[i]!;
      this.#terms[this.#used + i] = id;
      this.#weights[this.#used + i] = w;
      this.#df[id]!++;
      const post = this.#postings[id]!;
      post.slots.push(slot);
      post.weights.push(w);
      norm2 += w * w;
    }
    this.#used += n;
    this.#norms.push(vector.tfidf ? 0 : Math.sqrt(norm2));
    this.#slotOf.set(pattern.id, slot);
    this.#live++;
    this.#stale = true;
  }

  /** Removes the pattern with this id; returns whether it was indexed. */
  remove(id: string): boolean {
    const slot = this.#slotOf.get(id);
    if (slot === undefined) return false;
    this.#slotOf.delete(id);
    const off = this.#offset[slot]!;
    const len = this.#length[slot]!;
    for (let i = 0; i < len; i++) this.#df[this.#terms[off + i]!]!--;
    this.#patterns[slot] = undefined;
    this.#live--;
    this.#deadPostings += len;
    this.#stale = true;
    if (this.#deadPostings > 4096 && this.#deadPostings * 2 > this.#used) this.#compact();
    return true;
  }

  /** The best `k` patterns for `query` (optionally in one domain). */
  query(query: string, k: number, domain?: string): RecallHit[] {
    const counts = new Map<string, number>();
    for (const t of tokenize(query)) counts.set(t, (counts.get(t) ?? 0) + 1);
    if (counts.size === 0 || this.#live === 0) return [];
    this.#refresh();
    const n = this.#live;
    const unknownIdf = Math.log(1 + n) + 1;
    // A fixed term order makes every pattern's dot product the same sum, whatever the history.
    const terms = [...counts.keys()].sort();
    let q2 = 0;
    const acc = this.#acc;
    const mark = this.#mark;
    const touched: number[] = [];
    for (const term of terms) {
      const c = counts.get(term)!;
      const id = this.#termIds.get(term);
      if (id === undefined || this.#df[id] === 0) {
        q2 += (c * unknownIdf) ** 2;
        continue;
      }
      const idf = this.#idf[id]!;
      const qw = c * idf;
      q2 += qw * qw;
      const { slots, weights } = this.#postings[id]!;
      const patterns = this.#patterns;
      const tfidf = this.#tfidf;
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i]!;
        if (patterns[slot] === undefined) continue;
        const w = weights[i]!;
        acc[slot] = acc[slot]! + qw * (tfidf[slot] === 1 ? w * idf : w);
        if (mark[slot] === 0) {
          mark[slot] = 1;
          touched.push(slot);
        }
      }
    }
    const qNorm = Math.sqrt(q2);
    const top = new TopK(k);
    for (const slot of touched) {
      const dot = acc[slot]!;
      acc[slot] = 0;
      mark[slot] = 0;
      const pattern = this.#patterns[slot]!;
      if (domain !== undefined && pattern.domain !== domain) continue;
      const norm = this.#norms[slot]!;
      if (!(dot > 0) || norm === 0) continue;
      const similarity = dot / (qNorm * norm);
      const score =
        similarity *
        (0.5 + 0.5 * clamp01(pattern.success_rate)) *
        (0.5 + 0.5 * clamp01(pattern.quality));
      top.offer(pattern, score, similarity);
    }
    return top.result();
  }

  #termId(term: string): number {
    let id = this.#termIds.get(term);
    if (id === undefined) {
      id = this.#postings.length;
      this.#termIds.set(term, id);
      this.#postings.push({ slots: [], weights: [] });
      this.#df.push(0);
    }
    return id;
  }

  #ensureFlat(size: number): void {
    if (size <= this.#terms.length) return;
    let cap = this.#terms.length;
    while (cap < size) cap *= 2;
    const terms = new Int32Array(cap);
    terms.set(this.#terms.subarray(0, this.#used));
    const weights = new Float64Array(cap);
    weights.set(this.#weights.subarray(0, this.#used));
    this.#terms = terms;
    this.#weights = weights;
  }

  /** Recomputes idf and the TF-IDF patterns' norms after changes. */
  #refresh(): void {
    const slots = this.#patterns.length;
    if (this.#acc.length < slots) {
      this.#acc = new Float64Array(Math.max(slots, this.#acc.length * 2));
      this.#mark = new Uint8Array(this.#acc.length);
    }
    if (!this.#stale) return;
    const n = this.#live;
    const termCount = this.#postings.length;
    if (this.#idf.length < termCount)
      this.#idf = new Float64Array(Math.max(termCount, this.#idf.length * 2));
    const idf = this.#idf;
    const df = this.#df;
    for (let t = 0; t < termCount; t++) idf[t] = Math.log((1 + n) / (1 + df[t]!)) + 1;
    const terms = this.#terms;
    const weights = this.#weights;
    for (let slot = 0; slot < slots; slot++) {
      if (this.#tfidf[slot] !== 1 || this.#patterns[slot] === undefined) continue;
      const off = this.#offset[slot]!;
      const end = off + this.#length[slot]!;
      let norm2 = 0;
      for (let i = off; i < end; i++) {
        const w = weights[i]! * idf[terms[i]!]!;
        norm2 += w * w;
      }
      this.#norms[slot] = Math.sqrt(norm2);
    }
    this.#stale = false;
  }

  /** Drops removed patterns from every structure (slot numbers change; results do not). */
  #compact(): void {
    const live = this.#patterns.filter((p): p is PatternRecord => p !== undefined);
    this.#termIds.clear();
    this.#postings.length = 0;
    this.#df = [];
    this.#slotOf.clear();
    this.#patterns = [];
    this.#tfidf = [];
    this.#norms = [];
    this.#offset = [];
    this.#length = [];
    this.#used = 0;
    this.#live = 0;
    this.#deadPostings = 0;
    for (const p of live) this.#insert(p);
  }
}

interface Vector {
  readonly terms: string[];
  readonly weights: number[];
  readonly tfidf: boolean;
}

function vectorOf(pattern: PatternRecord): Vector {
  const ew = pattern.embedding_weights;
  const fixed = new Map<string, number>();
  let nonZero = false;
  for (const key of Object.keys(ew)) {
    const w = ew[key]!;
    if (w !== 0) nonZero = true;
    const term = key.toLowerCase();
    fixed.set(term, (fixed.get(term) ?? 0) + w);
  }
  if (nonZero) {
    const terms: string[] = [];
    const weights: number[] = [];
    for (const [t, w] of fixed) {
      if (w === 0) continue;
      terms.push(t);
      weights.push(w);
    }
    return { terms, weights, tfidf: false };
  }
  const counts = new Map<string, number>();
  for (const t of tokenize(pattern.strategy)) counts.set(t, (counts.get(t) ?? 0) + 1);
  return { terms: [...counts.keys()], weights: [...counts.values()], tfidf: true };
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Whether hit a ranks before hit b: score, then recency, then id. */
function before(
  aPattern: PatternRecord,
  aScore: number,
  bPattern: PatternRecord,
  bScore: number,
): boolean {
  if (aScore !== bScore) return aScore > bScore;
  if (aPattern.last_used !== bPattern.last_used) {
    const ak = timestampKey(aPattern.last_used);
    const bk = timestampKey(bPattern.last_used);
    if (ak !== bk) return ak > bk;
  }
  return aPattern.id < bPattern.id;
}

/** A bounded min-heap (worst hit at the root) that keeps the best k hits. */
class TopK {
  readonly #k: number;
  readonly #heap: RecallHit[] = [];

  constructor(k: number) {
    this.#k = k;
  }

  offer(pattern: PatternRecord, score: number, similarity: number): void {
    const heap = this.#heap;
    if (heap.length < this.#k) {
      heap.push({ pattern, score, similarity });
      this.#up(heap.length - 1);
      return;
    }
    const worst = heap[0]!;
    if (!before(pattern, score, worst.pattern, worst.score)) return;
    heap[0] = { pattern, score, similarity };
    this.#down(0);
  }

  result(): RecallHit[] {
    return this.#heap.sort((a, b) => (before(a.pattern, a.score, b.pattern, b.score) ? -1 : 1));
  }

  /** Whether heap entry i is worse than entry j (the root holds the worst). */
  #worse(i: number, j: number): boolean {
    const a = this.#heap[i]!;
    const b = this.#heap[j]!;
    return before(b.pattern, b.score, a.pattern, a.score);
  }

  #up(i: number): void {
    const heap = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#worse(i, parent)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #down(i: number): void {
    const heap = this.#heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let worst = i;
      if (l < heap.length && this.#worse(l, worst)) worst = l;
      if (r < heap.length && this.#worse(r, worst)) worst = r;
      if (worst === i) return;
      [heap[i], heap[worst]] = [heap[worst]!, heap[i]!];
      i = worst;
    }
  }
}

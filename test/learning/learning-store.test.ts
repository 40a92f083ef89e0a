import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  createLearningStore,
  createMemoryLogger,
  createUuidV7,
  decodeRvls,
  isKernelError,
  openFileLearningPersistence,
  openLearningStore,
  seededRandom,
  type LearningPersistence,
  type PatternRecord,
  type TrajectoryRecord,
} from '../../src/index.js';

const FIXTURE = new URL('../fixtures/learning/oxios-sample.rvls', import.meta.url);

function pattern(
  id: string,
  strategy: string,
  domain: string,
  over: Partial<PatternRecord> = {},
): PatternRecord {
  return {
    id,
    strategy,
    embedding_weights: {},
    success_rate: 0.9,
    use_count: 5,
    domain,
    quality: 0.85,
    is_long_term: false,
    last_used: '2026-05-14T10:00:00Z',
    ...over,
  };
}

function trajectory(
  id: string,
  outcome: string,
  createdAt = '2026-05-14T10:00:00Z',
): TrajectoryRecord {
  return {
    id,
    steps: [{ input: 'test input', output: 'test output', duration_ms: 100, confidence: 0.8 }],
    outcome,
    duration_ms: 200,
    domain: 'testing',
    created_at: createdAt,
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kerno-learning-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('learning store: the reference behaviour', () => {
  it('starts empty and clean', () => {
    const store = createLearningStore();
    expect(store.stats()).toEqual({
      patternCount: 0,
      trajectoryCount: 0,
      ewcTasksLearned: 0,
      isDirty: false,
      skippedRecords: 0,
      duplicateRecords: 0,
    });
    expect(store.getEwc()).toEqual({
      tasks_learned: 0,
      protection_strength: 1000,
      task_weights: {},
    });
  });

  it('saves patterns and filters them by domain', () => {
    const store = createLearningStore();
    store.savePattern(pattern('p1', 'Use HTTPS', 'security'));
    store.savePattern(pattern('p2', 'Write tests', 'testing'));
    expect(store.getAllPatterns()).toHaveLength(2);
    expect(store.getPatternsByDomain('security').map((p) => p.id)).toEqual(['p1']);
    expect(store.getPattern('p2')?.strategy).toBe('Write tests');
  });

  it('upserts patterns by id, keeping their place', () => {
    const store = createLearningStore();
    store.savePattern(pattern('p1', 'Original', 'testing'));
    store.savePattern(pattern('p2', 'Other', 'testing'));
    store.savePattern(pattern('p1', 'Updated', 'testing', { quality: 0.99 }));
    expect(store.getAllPatterns().map((p) => [p.id, p.strategy])).toEqual([
      ['p1', 'Updated'],
      ['p2', 'Other'],
    ]);
  });

  it('removes patterns and says whether one was removed', () => {
    const store = createLearningStore();
    store.savePattern(pattern('p1', 'Test 1', 'testing'));
    store.savePattern(pattern('p2', 'Test 2', 'testing'));
    expect(store.removePattern('p1')).toBe(true);
    expect(store.getAllPatterns().map((p) => p.id)).toEqual(['p2']);
    expect(store.removePattern('p1')).toBe(false);
  });

  it('saves trajectories, filters by outcome and lists the most recent first', () => {
    const store = createLearningStore();
    store.saveTrajectory(trajectory('t1', 'success', '2026-05-14T10:00:00.5Z'));
    store.saveTrajectory(trajectory('t2', 'failure', '2026-05-14T10:00:00Z'));
    store.saveTrajectory(trajectory('t3', 'success', '2026-05-14T10:00:00.000000001Z'));
    store.saveTrajectory(trajectory('t4', 'partial', '2026-05-14T10:00:00.500Z'));
    expect(store.getAllTrajectories()).toHaveLength(4);
    expect(store.getTrajectoriesByOutcome('success').map((t) => t.id)).toEqual(['t1', 't3']);
    // .5 s is later than 1 ns although "…00.5…" < "…00Z" as text; equal times keep insertion order
    expect(store.recentTrajectories(3).map((t) => t.id)).toEqual(['t1', 't4', 't3']);
    expect(store.recentTrajectories(0)).toEqual([]);
    store.saveTrajectory(trajectory('t2', 'success', '2026-05-15T00:00:00Z'));
    expect(store.recentTrajectories(1).map((t) => t.id)).toEqual(['t2']);
    expect(store.getAllTrajectories()).toHaveLength(4);
  });

  it('records EWC tasks: weights stored, tasks_learned counted', () => {
    const store = createLearningStore();
    store.recordEwcTask('task-1', [0.1, 0.2, 0.3]);
    expect(store.getEwc()).toEqual({
      tasks_learned: 1,
      protection_strength: 1000,
      task_weights: { 'task-1': [0.1, 0.2, 0.3] },
    });
    store.recordEwcTask('task-1', [0.5]);
    expect(store.getEwc()).toEqual({
      tasks_learned: 2,
      protection_strength: 1000,
      task_weights: { 'task-1': [0.5] },
    });
    store.saveEwc({ tasks_learned: 9, protection_strength: 50, task_weights: {} });
    expect(store.stats().ewcTasksLearned).toBe(9);
  });

  it('persists and loads back (magic bytes at both ends)', async () => {
    const path = join(dir, 'test.rvls');
    const store = await openLearningStore(path);
    store.savePattern(pattern('p1', 'Use HTTPS', 'security'));
    store.saveTrajectory(trajectory('t1', 'success'));
    store.recordEwcTask('task-1', [0.5]);
    await store.persist();
    await store.close();
    const bytes = await readFile(path);
    expect(bytes.subarray(0, 5).toString()).toBe('RVLS\n');
    expect(bytes.subarray(-4).toString()).toBe('REND');
    const again = await openLearningStore(path);
    expect(again.stats()).toMatchObject({
      patternCount: 1,
      trajectoryCount: 1,
      ewcTasksLearned: 1,
      isDirty: false,
    });
    expect(again.getAllPatterns()[0]).toEqual(pattern('p1', 'Use HTTPS', 'security'));
    await again.close();
  });

  it('starts fresh when the file does not exist, and creates folders on persist', async () => {
    const path = join(dir, 'a', 'b', 'missing.rvls');
    const store = await openLearningStore(path);
    expect(store.stats().patternCount).toBe(0);
    await store.persist();
    expect((await readFile(path, 'utf8')).startsWith('RVLS\n')).toBe(true);
    await store.close();
  });

  it('refuses a file with a bad header with a typed error naming it', async () => {
    const path = join(dir, 'bad.rvls');
    await writeFile(path, 'INVALID\nsome data\nREND');
    const error = await openLearningStore(path).catch((e: unknown) => e);
    expect(isKernelError(error, 'INVALID_RVLS_FILE')).toBe(true);
    expect((error as Error).message).toContain(path);
    // the failed open released the lock
    const fresh = await openLearningStore(join(dir, 'other.rvls'));
    await fresh.close();
    await writeFile(path, 'RVLS\nREND');
    await (await openLearningStore(path)).close();
  });
});

describe('learning store: beyond the reference', () => {
  it('is dirty after a change and clean after a successful persist', async () => {
    const store = createLearningStore();
    store.savePattern(pattern('p1', 's', 'd'));
    expect(store.stats().isDirty).toBe(true);
    await store.persist();
    expect(store.stats().isDirty).toBe(false);
    expect(store.removePattern('nope')).toBe(false);
    expect(store.stats().isDirty).toBe(false);
    store.recordEwcTask('t', []);
    expect(store.stats().isDirty).toBe(true);
  });

  it('stays dirty when a change lands while a persist is writing', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inner = await openFileLearningPersistence({ path: join(dir, 'slow.rvls') });
    const slow: LearningPersistence = {
      ...inner,
      location: inner.location,
      readOnly: false,
      load: () => inner.load(),
      close: () => inner.close(),
      save: async (s) => {
        await gate;
        await inner.save(s);
      },
    };
    const store = createLearningStore({ persistence: slow });
    store.savePattern(pattern('p1', 's', 'd'));
    const p = store.persist();
    await Promise.resolve();
    store.savePattern(pattern('p2', 's', 'd'));
    release();
    await p;
    expect(store.stats().isDirty).toBe(true);
    await store.persist();
    expect(store.stats().isDirty).toBe(false);
    await store.close();
  });

  it('serialises persists: no overlap, later calls join the queued one, the file ends current', async () => {
    const inner = await openFileLearningPersistence({ path: join(dir, 'serial.rvls') });
    let active = 0;
    let maxActive = 0;
    let saves = 0;
    const counting: LearningPersistence = {
      location: inner.location,
      readOnly: false,
      load: () => inner.load(),
      close: () => inner.close(),
      async save(s) {
        active++;
        saves++;
        maxActive = Math.max(maxActive, active);
        try {
          await inner.save(s);
        } finally {
          active--;
        }
      },
    };
    const store = createLearningStore({ persistence: counting });
    const pending: Promise<void>[] = [];
    const random = seededRandom(4);
    for (let i = 0; i < 30; i++) {
      // vary the interleaving: sometimes let the running save make progress first
      const turns = Math.floor(random.float() * 4);
      for (let t = 0; t < turns; t++) await new Promise((r) => setImmediate(r));
      store.savePattern(pattern(`p${i}`, `strategy ${i}`, 'd'));
      const expected = i + 1;
      pending.push(
        store.persist().then(async () => {
          // once a call resolves, the file holds at least the state at the time of the call
          const r = decodeRvls(await readFile(inner.location));
          expect(r.patterns.length).toBeGreaterThanOrEqual(expected);
        }),
      );
    }
    await Promise.all(pending);
    expect(maxActive).toBe(1);
    expect(saves).toBeGreaterThan(1);
    expect(saves).toBeLessThan(30); // calls made while one was queued shared it
    expect(decodeRvls(await readFile(inner.location)).patterns).toHaveLength(30);
    await store.close();
  });

  it('round-trips a file kerno wrote byte for byte', async () => {
    const path = join(dir, 'kerno.rvls');
    const store = await openLearningStore(path);
    const random = seededRandom(3);
    for (let i = 0; i < 200; i++) {
      store.savePattern(
        pattern(`p${i}`, `strategy ${i} ünï "q" \\ \n`, `d${i % 3}`, {
          success_rate: random.float(),
          quality: random.float() * 1000,
          embedding_weights: {
            [`w${i}`]: random.float(),
            big: random.float() * 1e20,
            tiny: random.float() * 1e-9,
          },
          last_used: new Date(Date.UTC(2026, 0, 1) + i * 1001).toISOString(),
        }),
      );
    }
    store.recordTrajectory({
      steps: [{ input: 'a', output: 'b', duration_ms: 5, confidence: random.float() }],
      outcome: 'success',
      domain: 'x',
    });
    store.recordEwcTask('task', [random.float(), 1e-30, 3e38]);
    await store.persist();
    await store.close();
    const first = await readFile(path);
    const again = await openLearningStore(path);
    expect(again.stats().skippedRecords).toBe(0);
    await again.persist();
    await again.close();
    expect((await readFile(path)).equals(first)).toBe(true);
  });

  it('round-trips an oxios file byte for byte through the store', async () => {
    const path = join(dir, 'oxios.rvls');
    await copyFile(FIXTURE, path);
    const store = await openLearningStore(path);
    expect(store.stats()).toMatchObject({
      patternCount: 3,
      trajectoryCount: 2,
      ewcTasksLearned: 2,
      skippedRecords: 0,
    });
    await store.persist();
    await store.close();
    expect((await readFile(path)).equals(await readFile(FIXTURE))).toBe(true);
  });

  it('skips malformed records with a warning each and counts them', async () => {
    const path = join(dir, 'mixed.rvls');
    const good = JSON.stringify({ type: 'pattern', data: pattern('p1', 's', 'd') });
    await writeFile(path, `RVLS\n${good}\n{oops\n{"type":"gadget","data":{}}\nREND`);
    const logger = createMemoryLogger();
    const store = await openLearningStore(path, { logger });
    expect(store.stats()).toMatchObject({ patternCount: 1, skippedRecords: 2 });
    const warnings = logger.lines.filter((l) => l.level === 'warn');
    expect(warnings.map((w) => w.fields?.['line'])).toEqual([3, 4]);
    expect(warnings[1]!.fields?.['reason']).toMatch(/gadget/);
    expect(warnings[0]!.fields?.['location']).toBe(path);
    await store.close();
  });

  it('keeps the later of two records with the same id, and says so', async () => {
    const path = join(dir, 'dup.rvls');
    const a = JSON.stringify({ type: 'pattern', data: pattern('p1', 'first', 'd') });
    const b = JSON.stringify({ type: 'pattern', data: pattern('p2', 'other', 'd') });
    const c = JSON.stringify({ type: 'pattern', data: pattern('p1', 'second', 'd') });
    await writeFile(path, `RVLS\n${a}\n${b}\n${c}\nREND`);
    const logger = createMemoryLogger();
    const store = await openLearningStore(path, { logger });
    expect(store.getAllPatterns().map((p) => [p.id, p.strategy])).toEqual([
      ['p1', 'second'],
      ['p2', 'other'],
    ]);
    expect(store.stats().duplicateRecords).toBe(1);
    expect(
      logger.lines.some((l) => l.level === 'warn' && /Duplicate pattern/.test(l.message)),
    ).toBe(true);
    await store.close();
  });

  it('leaves the store as it was when a load fails', async () => {
    const path = join(dir, 'flip.rvls');
    const store = await openLearningStore(path);
    store.savePattern(pattern('keep', 's', 'd'));
    await writeFile(path, 'RVLS\n{"truncated":');
    const error = await store.load().catch((e: unknown) => e);
    expect(isKernelError(error, 'INVALID_RVLS_FILE')).toBe(true);
    expect(store.getAllPatterns().map((p) => p.id)).toEqual(['keep']);
    expect(store.stats().isDirty).toBe(true);
    await store.close();
  });

  it('normalises what it saves: f32 fields, timestamps, private copies', () => {
    const store = createLearningStore();
    const weights: Record<string, number> = { a: 1 };
    const saved = store.savePattern(
      pattern('p', 's', 'd', {
        success_rate: 1 / 3,
        last_used: '2026-05-14T12:00:00.120+02:00',
        embedding_weights: weights,
      }),
    );
    expect(saved.success_rate).toBe(0.33333334);
    expect(saved.last_used).toBe('2026-05-14T10:00:00.120Z');
    weights['b'] = 2;
    expect(store.getPattern('p')!.embedding_weights).toEqual({ a: 1 });
  });

  it('refuses invalid records with INVALID_ARGUMENT and a reason', () => {
    const store = createLearningStore();
    const bad: [Partial<PatternRecord>, RegExp][] = [
      [{ use_count: -1 }, /use_count/],
      [{ use_count: 1.5 }, /use_count/],
      [{ success_rate: Number.NaN }, /success_rate/],
      [{ quality: 1e39 }, /quality/],
      [{ last_used: 'soon' }, /last_used/],
      [{ strategy: '\ud800' }, /surrogate/],
      [{ embedding_weights: { x: Infinity } }, /embedding_weights/],
    ];
    for (const [over, reason] of bad) {
      try {
        store.savePattern(pattern('p', 's', 'd', over));
        expect.unreachable();
      } catch (e) {
        expect(isKernelError(e, 'INVALID_ARGUMENT')).toBe(true);
        expect((e as Error).message).toMatch(reason);
      }
    }
    expect(store.stats().patternCount).toBe(0);
    expect(() => store.recentTrajectories(-1)).toThrow(/limit/);
    expect(() => store.recordEwcTask('t', [Number.NaN])).toThrow(/f32/);
  });

  it('records trajectories with the injected clock and ids', () => {
    const clock = new ManualClock(Date.UTC(2026, 4, 14, 10, 0, 0, 250));
    const ids = createUuidV7({ clock, random: seededRandom(9) });
    const expectedId = createUuidV7({ clock, random: seededRandom(9) })();
    const store = createLearningStore({ clock, ids });
    const t = store.recordTrajectory({
      steps: [
        { input: 'plan', output: 'ok', duration_ms: 40, confidence: 0.9 },
        { input: 'act', output: 'done', duration_ms: 60, confidence: 0.7 },
      ],
      outcome: 'success',
      domain: 'supervisor',
    });
    expect(t).toEqual({
      id: expectedId,
      steps: [
        { input: 'plan', output: 'ok', duration_ms: 40, confidence: 0.9 },
        { input: 'act', output: 'done', duration_ms: 60, confidence: 0.7 },
      ],
      outcome: 'success',
      duration_ms: 100,
      domain: 'supervisor',
      created_at: '2026-05-14T10:00:00.250Z',
    });
    clock.advance(750);
    const u = store.recordTrajectory({
      steps: [],
      outcome: 'failure',
      domain: 'supervisor',
      durationMs: 5,
    });
    expect(u.created_at).toBe('2026-05-14T10:00:01Z');
    expect(u.duration_ms).toBe(5);
    expect(store.recentTrajectories(2).map((x) => x.id)).toEqual([u.id, t.id]);
  });

  it('reports I/O failures as STORAGE_ERROR naming the file, and stays dirty', async () => {
    const path = join(dir, 'target.rvls');
    const store = await openLearningStore(path);
    store.savePattern(pattern('p', 's', 'd'));
    await mkdir(path); // a folder where the file should go: the rename fails
    const error = await store.persist().catch((e: unknown) => e);
    expect(isKernelError(error, 'STORAGE_ERROR')).toBe(true);
    expect((error as Error).message).toContain(path);
    expect(store.stats().isDirty).toBe(true);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const loadError = await store.load().catch((e: unknown) => e);
    expect(isKernelError(loadError, 'STORAGE_ERROR')).toBe(true);
    await store.close();
  });

  it('refuses work after close', async () => {
    const store = createLearningStore();
    await store.close();
    expect(() => store.savePattern(pattern('p', 's', 'd'))).toThrow(/closed/);
    await expect(store.persist()).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(store.load()).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('opens read-only without a lock and refuses to persist', async () => {
    const path = join(dir, 'ro.rvls');
    await copyFile(FIXTURE, path);
    const writer = await openLearningStore(path);
    const reader = await openLearningStore(path, { readOnly: true });
    expect(reader.stats().patternCount).toBe(3);
    await expect(reader.persist()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await reader.close();
    await writer.close();
  });
});

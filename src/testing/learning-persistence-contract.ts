/**
 * The learning persistence contract: every {@link LearningPersistence} (standalone memory, an
 * RVLS file, each storage backend's learning records) keeps it, and every storage adds the
 * writer lock, read-only readers and records that outlive a reopen.
 *
 * @module
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLearningStore,
  defaultEwcState,
  type LearningPersistence,
  type LearningSnapshot,
  type PatternRecord,
} from '../index.js';
import type { Storage } from '../storage/storage.js';
import type { BackendHarness } from './harness.js';

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

const plain = (s: LearningSnapshot | undefined) =>
  s === undefined ? undefined : { patterns: s.patterns, trajectories: s.trajectories, ewc: s.ewc };

/** The contract every learning persistence keeps (standalone memory, an RVLS file, every storage). */
export function learningPersistenceContract(
  name: string,
  open: () => Promise<LearningPersistence>,
): void {
  describe(`learning persistence contract: ${name}`, () => {
    it('loads nothing before the first save', async () => {
      const p = await open();
      expect(await p.load()).toBeUndefined();
      await p.close();
    });

    it('loads what was saved, and the last save wins', async () => {
      const p = await open();
      await p.save(SNAPSHOT);
      const loaded = await p.load();
      expect(loaded).toMatchObject({ skippedCount: 0, skipped: [] });
      expect(plain(loaded)).toEqual(SNAPSHOT);
      const smaller: LearningSnapshot = {
        patterns: [pattern('c')],
        trajectories: [],
        ewc: defaultEwcState(),
      };
      await p.save(smaller);
      expect(plain(await p.load())).toEqual(smaller);
      const empty = { patterns: [], trajectories: [], ewc: defaultEwcState() };
      await p.save(empty);
      expect(plain(await p.load())).toEqual(empty);
      await p.close();
    });

    it('keeps the store’s order through changes, removals and a new order', async () => {
      const p = await open();
      await p.save({ ...SNAPSHOT, patterns: ['a', 'b', 'c'].map((id) => pattern(id)) });
      const changed = {
        ...SNAPSHOT,
        patterns: [pattern('a'), pattern('b', 'better'), pattern('d')],
      };
      await p.save(changed);
      expect(plain(await p.load())).toEqual(changed);
      const reordered = { ...SNAPSHOT, patterns: ['d', 'a', 'b'].map((id) => pattern(id)) };
      await p.save(reordered);
      expect(plain(await p.load())).toEqual(reordered);
      await p.close();
    });

    it('refuses work after close; close is idempotent', async () => {
      const p = await open();
      await p.close();
      await p.close();
      await expect(p.load()).rejects.toMatchObject({ code: 'CLOSED' });
      await expect(p.save(SNAPSHOT)).rejects.toMatchObject({ code: 'CLOSED' });
    });
  });
}

/** What every storage adds (and the persistence contract on its learning records): exclusive writer, read-only readers, and records that outlive a reopen. */
export function storageLearningContract(
  name: string,
  durable: boolean,
  open: () => Promise<BackendHarness>,
): void {
  describe(`storage learning: ${name}`, () => {
    const harnesses: BackendHarness[] = [];
    const harness = async (): Promise<BackendHarness> => {
      const h = await open();
      harnesses.push(h);
      return h;
    };
    afterEach(async () => {
      for (const h of harnesses.splice(0)) await h.close();
    });

    learningPersistenceContract(`${name} storage`, async () =>
      (await harness()).storage.openLearning(),
    );

    it('lets one writer hold the learning records; a second gets STORE_LOCKED until it closes', async () => {
      const { storage } = await harness();
      const writer = await storage.openLearning();
      await expect(storage.openLearning()).rejects.toMatchObject({
        code: 'STORE_LOCKED',
        message: expect.stringMatching(/read-only/) as unknown,
      });
      const reader = await storage.openLearning({ readOnly: true });
      expect(reader.readOnly).toBe(true);
      await writer.save(SNAPSHOT);
      expect(plain(await reader.load())).toEqual(SNAPSHOT);
      await expect(reader.save(SNAPSHOT)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await writer.close();
      const next = await storage.openLearning();
      expect(plain(await next.load())).toEqual(SNAPSHOT);
      await next.close();
      await reader.close();
    });

    it.runIf(durable)(
      'keeps the records across a reopen, and closing the storage releases the lock',
      async () => {
        const h = await harness();
        const writer = await h.storage.openLearning();
        const snapshot = { ...SNAPSHOT, patterns: ['p3', 'p1', 'p2'].map((id) => pattern(id)) };
        await writer.save(snapshot);
        const reopened: Storage = await h.reopen!();
        const again = await reopened.openLearning();
        expect(plain(await again.load())).toEqual(snapshot);
        await again.close();
      },
    );

    it('backs a learning store: learn, persist, reopen read-only, recall', async () => {
      const { storage } = await harness();
      const store = createLearningStore({ persistence: await storage.openLearning() });
      await store.load();
      store.savePattern(pattern('flaky', 'retry flaky tests with backoff'));
      store.recordTrajectory({
        steps: [{ input: 'retry flaky tests', output: 'ok', duration_ms: 5, confidence: 0.9 }],
        outcome: 'success',
        domain: 'ci',
      });
      await store.close(); // no autosave: nothing persisted yet
      const unsaved = createLearningStore({ persistence: await storage.openLearning() });
      expect((await unsaved.load()).patternCount).toBe(0);
      unsaved.savePattern(pattern('flaky', 'retry flaky tests with backoff'));
      await unsaved.persist();
      await unsaved.close();
      const again = createLearningStore({
        persistence: await storage.openLearning({ readOnly: true }),
      });
      expect(await again.load()).toMatchObject({ patternCount: 1, isDirty: false });
      expect(again.recall('flaky tests', { k: 1 })[0]?.pattern.id).toBe('flaky');
      await again.close();
    });
  });
}

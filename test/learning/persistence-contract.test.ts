import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMemoryLearningPersistence,
  defaultEwcState,
  openFileLearningPersistence,
  type LearningPersistence,
  type LearningSnapshot,
  type PatternRecord,
} from '../../src/index.js';

function pattern(id: string): PatternRecord {
  return {
    id,
    strategy: `strategy ${id}`,
    embedding_weights: { [id]: 0.5 },
    success_rate: 0.5,
    use_count: 1,
    domain: 'd',
    quality: 1,
    is_long_term: true,
    last_used: '2026-05-14T10:00:00.000000001Z',
  };
}

const SNAPSHOT: LearningSnapshot = {
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

/** The contract every learning persistence keeps (memory now, PostgreSQL later). */
function testLearningPersistence(name: string, open: () => Promise<LearningPersistence>): void {
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
      expect({
        patterns: loaded?.patterns,
        trajectories: loaded?.trajectories,
        ewc: loaded?.ewc,
      }).toEqual(SNAPSHOT);
      const smaller: LearningSnapshot = {
        patterns: [pattern('c')],
        trajectories: [],
        ewc: defaultEwcState(),
      };
      await p.save(smaller);
      expect(await p.load()).toMatchObject(smaller);
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

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

testLearningPersistence('memory', () => Promise.resolve(createMemoryLearningPersistence()));
testLearningPersistence('RVLS file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kerno-persistence-'));
  dirs.push(dir);
  return openFileLearningPersistence({ path: join(dir, 'store.rvls') });
});

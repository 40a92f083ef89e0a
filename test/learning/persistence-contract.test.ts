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
} from '../../src/index.js';
import { SNAPSHOT, pattern } from '../helpers/learning.js';

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

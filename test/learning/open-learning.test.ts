import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  createMemoryLogger,
  encodeRvls,
  type LearningPersistence,
  type LearningSnapshot,
} from '../../src/index.js';
import { openLearning } from '../../src/learning/open-learning.js';
import type { Storage } from '../../src/storage/storage.js';
import { SNAPSHOT, pattern } from '../helpers/learning.js';
import { BACKENDS, tempDir, type BackendHarness } from '../helpers/stores.js';

const MIGRATED = 'Imported the learning file into the store (once); renamed it';

describe('openLearning', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const harness = async (name: string): Promise<BackendHarness> => {
    const h = await BACKENDS[name]!.open();
    cleanups.push(() => h.close());
    return h;
  };
  const stateDir = (): string => {
    const { dir, cleanup } = tempDir('kerno-learning-');
    cleanups.push(cleanup);
    return dir;
  };

  for (const name of Object.keys(BACKENDS).filter((n) => BACKENDS[n]!.durable)) {
    it(`${name}: imports an old learning.rvls once, with a log line, then renames it`, async () => {
      const h = await harness(name);
      const dir = stateDir();
      const file = join(dir, 'learning.rvls');
      await writeFile(file, encodeRvls(SNAPSHOT));
      const logger = createMemoryLogger();
      const first = await openLearning({ storage: h.storage, migrateFile: file, logger });
      expect(first.getAllPatterns().map((p) => p.id)).toEqual(['a', 'b']);
      expect(first.getAllTrajectories().map((t) => t.id)).toEqual(['t']);
      expect(first.getEwc()).toEqual(SNAPSHOT.ewc);
      expect(existsSync(file)).toBe(false);
      expect(existsSync(file + '.migrated')).toBe(true);
      expect(logger.lines.filter((l) => l.message === MIGRATED)).toHaveLength(1);
      expect(logger.lines.find((l) => l.message === MIGRATED)?.fields).toMatchObject({
        file,
        patterns: 2,
        trajectories: 1,
      });
      // a change after the migration must survive the next open: the file is not read again
      first.removePattern('a');
      await first.close(); // persists on close

      const reopened: Storage = await h.reopen!();
      const second = await openLearning({ storage: reopened, migrateFile: file, logger });
      expect(second.getAllPatterns().map((p) => p.id)).toEqual(['b']);
      expect(logger.lines.filter((l) => l.message === MIGRATED)).toHaveLength(1);
      await second.close();
    });
  }

  it('leaves the old file alone on a memory store (it would be lost)', async () => {
    const h = await harness('memory');
    const file = join(stateDir(), 'learning.rvls');
    await writeFile(file, encodeRvls(SNAPSHOT));
    const store = await openLearning({ storage: h.storage, migrateFile: file });
    expect(store.stats().patternCount).toBe(0);
    expect(existsSync(file)).toBe(true);
    await store.close();
  });

  it('persists itself on its interval (on the injected clock), and not before', async () => {
    const h = await harness('sqlite');
    const clock = new ManualClock();
    let saved: (snapshot: LearningSnapshot) => void = () => undefined;
    const storage: Pick<Storage, 'kind' | 'url' | 'openLearning'> = {
      kind: h.storage.kind,
      url: h.storage.url,
      openLearning: async (options) => {
        const real = await h.storage.openLearning(options);
        const observed: LearningPersistence = {
          location: real.location,
          readOnly: real.readOnly,
          load: () => real.load(),
          save: async (snapshot) => {
            await real.save(snapshot);
            saved(snapshot);
          },
          close: () => real.close(),
        };
        return observed;
      },
    };
    const store = await openLearning({ storage, autosaveMs: 500, clock });
    const next = () => new Promise<LearningSnapshot>((resolve) => (saved = resolve));
    store.savePattern(pattern('x'));
    const first = next();
    clock.advance(499);
    expect(store.stats().isDirty).toBe(true);
    clock.advance(1);
    expect((await first).patterns.map((p) => p.id)).toEqual(['x']);
    await store.close();
    const reader = await h.storage.openLearning({ readOnly: true });
    expect((await reader.load())?.patterns.map((p) => p.id)).toEqual(['x']);
    await reader.close();
  });

  it('reads the store and learns in memory when another kernel writes it', async () => {
    const h = await harness('sqlite');
    const writer = await h.storage.openLearning();
    await writer.save(SNAPSHOT);
    const logger = createMemoryLogger();
    const store = await openLearning({ storage: h.storage, logger });
    expect(store.stats().patternCount).toBe(2);
    expect(
      logger.lines.some((l) => l.level === 'warn' && /holds the shared learning/.test(l.message)),
    ).toBe(true);
    store.savePattern(pattern('mine'));
    await store.flush(); // read-only: kept in memory, nothing thrown
    await store.close();
    expect((await writer.load())?.patterns.map((p) => p.id)).toEqual(['a', 'b']);
    await writer.close();
  });
});

import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openFileLearningPersistence } from '../../src/learning/file-persistence.js';

describe('learning file folders', () => {
  it.runIf(process.platform !== 'win32')('creates a missing folder owner-only (0700)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kerno-mode-'));
    const path = join(root, 'fresh', 'deeper', 'learning.rvls');
    const persistence = await openFileLearningPersistence({ path });
    await persistence.close();
    expect((await stat(join(root, 'fresh', 'deeper'))).mode & 0o777).toBe(0o700);
  });
});

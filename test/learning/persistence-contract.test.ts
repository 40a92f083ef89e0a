import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { createMemoryLearningPersistence, openFileLearningPersistence } from '../../src/index.js';
import {
  learningPersistenceContract,
  storageLearningContract,
} from '../../src/testing/learning-persistence-contract.js';
import { BACKENDS } from '../helpers/stores.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

learningPersistenceContract('standalone memory', () =>
  Promise.resolve(createMemoryLearningPersistence()),
);
learningPersistenceContract('RVLS file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kerno-persistence-'));
  dirs.push(dir);
  return openFileLearningPersistence({ path: join(dir, 'store.rvls') });
});
for (const [name, backend] of Object.entries(BACKENDS))
  storageLearningContract(name, backend.durable, backend.open);

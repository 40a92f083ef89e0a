/**
 * The in-memory storage backend (`memory:`): the reference implementation of every port.
 * Nothing survives the process.
 *
 * @module
 */
import type { Storage } from '../storage.js';
import { createMemoryLearning } from './memory-learning.js';
import { createMemoryLog, type MemoryLogOptions } from './memory-log.js';
import { createMemoryRegistry } from './memory-registry.js';

/** Options for {@link createMemoryStorage}. */
export interface MemoryStorageOptions {
  readonly log?: MemoryLogOptions;
}

/** Creates an in-memory storage. */
export function createMemoryStorage(options: MemoryStorageOptions = {}): Storage {
  const log = createMemoryLog(options.log);
  const registry = createMemoryRegistry();
  const learning = createMemoryLearning({ location: 'memory:#learning' });
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await log.close();
    await registry.close();
    learning.close();
  };
  return {
    kind: 'memory',
    url: 'memory:',
    log,
    registry,
    openLearning: (learningOptions) => Promise.resolve().then(() => learning.open(learningOptions)),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * The in-memory storage backend (`memory:`): the reference implementation of every port.
 * Nothing survives the process.
 *
 * @module
 */
import type { Storage } from '../storage.js';
import { createMemoryLog, type MemoryLogOptions } from './memory-log.js';

/** Options for {@link createMemoryStorage}. */
export interface MemoryStorageOptions {
  readonly log?: MemoryLogOptions;
}

/** Creates an in-memory storage. */
export function createMemoryStorage(options: MemoryStorageOptions = {}): Storage {
  const log = createMemoryLog(options.log);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await log.close();
  };
  return { kind: 'memory', url: 'memory:', log, close, [Symbol.asyncDispose]: close };
}

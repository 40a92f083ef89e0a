/**
 * Learning records in one RVLS file, oxios-compatible, written crash-safely: a temp file in the
 * same folder, fsync, rename over the old file, fsync the folder. A `kill -9` at any moment
 * leaves either the old or the new complete file. Opening for writing takes `<file>.lock`.
 *
 * @example
 * const persistence = await openFileLearningPersistence({ path: '.kerno/learning.rvls' });
 * const store = createLearningStore({ persistence });
 *
 * @module
 */
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { KernelError, errorMessage, isKernelError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { acquireFileLock, type FileLock } from '../storage/file-lock.js';
import type { LearningPersistence, LoadedLearning } from '../storage/learning.js';
import { createRvlsDecoder, encodeRvlsChunks, type LearningSnapshot } from '../formats/rvls.js';

/** Options for {@link openFileLearningPersistence}. */
export interface FileLearningPersistenceOptions {
  /** The `.rvls` file. Its folder is created on the first save. */
  readonly path: string;
  /** Read without taking the lock; `save` is refused. */
  readonly readOnly?: boolean;
  /** Receives warnings (stale lock takeovers, leftover temp files). */
  readonly logger?: Logger;
  /** Used to judge the age of an unreadable lock file. */
  readonly clock?: Clock;
  /** Lines longer than this are skipped without being held in memory (default 64 Mi chars). */
  readonly maxLineLength?: number;
}

const READ_CHUNK = 1 << 20;

/**
 * Opens an RVLS file for a learning store. Unless read-only, takes `<path>.lock` (throws
 * `STORE_LOCKED` when another live process holds it) and removes temp files that a crashed
 * writer left behind.
 */
export async function openFileLearningPersistence(
  options: FileLearningPersistenceOptions,
): Promise<LearningPersistence> {
  const path = resolve(options.path);
  const logger = options.logger ?? silentLogger;
  const readOnly = options.readOnly === true;
  let lock: FileLock | undefined;
  if (!readOnly) {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((e: unknown) => {
      throw storageError(`Cannot create the folder of ${path}`, e);
    });
    lock = await acquireFileLock(`${path}.lock`, path, {
      logger,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    await removeLeftoverTemps(path, logger);
  }
  return new FileLearningPersistence(path, readOnly, lock, options.maxLineLength);
}

function tempPrefix(path: string): string {
  return `.${basename(path)}.`;
}

async function removeLeftoverTemps(path: string, logger: Logger): Promise<void> {
  const prefix = tempPrefix(path);
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    // We hold the lock, so no live writer owns these.
    await unlink(join(dirname(path), name)).catch(() => undefined);
    logger.warn('Removed a temp file left by an interrupted persist', {
      file: join(dirname(path), name),
    });
  }
}

let tempCounter = 0;

class FileLearningPersistence implements LearningPersistence {
  readonly location: string;
  readonly readOnly: boolean;
  readonly #lock: FileLock | undefined;
  readonly #maxLineLength: number | undefined;
  #closed = false;

  constructor(
    path: string,
    readOnly: boolean,
    lock: FileLock | undefined,
    maxLineLength: number | undefined,
  ) {
    this.location = path;
    this.readOnly = readOnly;
    this.#lock = lock;
    this.#maxLineLength = maxLineLength;
  }

  async load(): Promise<LoadedLearning | undefined> {
    this.#assertOpen();
    const path = this.location;
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storageError(`Failed to read RVLS file: ${path}`, e);
    }
    try {
      const decoder = createRvlsDecoder({
        source: path,
        ...(this.#maxLineLength === undefined ? {} : { maxLineLength: this.#maxLineLength }),
      });
      // The decoder copies what it keeps, so one buffer serves every read.
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, null);
        if (bytesRead === 0) break;
        decoder.push(buf.subarray(0, bytesRead));
      }
      return decoder.end();
    } catch (e) {
      if (isKernelError(e)) throw e;
      throw storageError(`Failed to read RVLS file: ${path}`, e);
    } finally {
      await fh.close();
    }
  }

  async save(snapshot: LearningSnapshot): Promise<void> {
    this.#assertOpen();
    if (this.readOnly) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `${this.location} was opened read-only; open it without readOnly to persist.`,
      );
    }
    const path = this.location;
    const dir = dirname(path);
    const temp = join(dir, `${tempPrefix(path)}${process.pid}.${++tempCounter}.tmp`);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const mode = await stat(path).then(
        (s) => s.mode & 0o777,
        () => 0o644,
      );
      const fh = await open(temp, 'wx', mode);
      try {
        for (const chunk of encodeRvlsChunks(snapshot))
          await writeAll(fh, Buffer.from(chunk, 'utf8'));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(temp, path);
    } catch (e) {
      await unlink(temp).catch(() => undefined);
      if (isKernelError(e)) throw e;
      throw storageError(`Failed to write RVLS file: ${path}`, e);
    }
    await syncDirectory(dir).catch((e: unknown) => {
      throw storageError(`Wrote ${path} but could not fsync its folder`, e);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lock?.release();
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new KernelError(
        'CLOSED',
        `The learning file ${this.location} is closed; open it again.`,
      );
    }
  }
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

/** Makes a rename durable: fsync the folder that holds the entry (not possible on Windows). */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function storageError(message: string, cause: unknown): KernelError {
  return new KernelError('STORAGE_ERROR', `${message}: ${errorMessage(cause)}`, { cause });
}

/**
 * A lock file next to a data file, so that a second process opening the same file for writing
 * gets a clear error instead of silently overwriting the first one's work.
 *
 * The lock is `<file>.lock`, created with `O_CREAT | O_EXCL` (`wx`) and holding the owner's pid.
 * A lock whose pid is no longer running (the owner crashed) is stale and is taken over: it is
 * first renamed aside, and only removed if it is still the same stale lock, so two processes
 * racing for a stale lock cannot both win.
 *
 * @example
 * const lock = await acquireFileLock('data.rvls.lock', 'data.rvls');
 * try { … } finally { await lock.release(); }
 *
 * @module
 */
import { open, readFile, rename, stat, unlink, link } from 'node:fs/promises';
import { unlinkSync } from 'node:fs';
import { KernelError, errorMessage } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';

/** A held lock. */
export interface FileLock {
  /** The lock file's path. */
  readonly path: string;
  /** Removes the lock file (if it is still ours). Idempotent. */
  release(): Promise<void>;
}

/** Options for {@link acquireFileLock}. */
export interface FileLockOptions {
  /** Reports stale-lock takeovers. */
  readonly logger?: Logger;
  /** Used to judge how old an unreadable lock file is. */
  readonly clock?: Clock;
  /** Whether a process is running (default: `process.kill(pid, 0)`). */
  readonly isAlive?: (pid: number) => boolean;
  /** An unreadable lock file (no pid yet) older than this is stale (default 10 s). */
  readonly unreadableStaleMs?: number;
}

const held = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A process that exits without closing its store leaves no lock behind.
  process.on('exit', () => {
    for (const path of held) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  });
}

/** Whether a process with this pid is running (EPERM: it runs under another user). */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock `lockPath` for this process, or throws `STORE_LOCKED` naming the holder's pid.
 * `target` names the protected file in messages.
 */
export async function acquireFileLock(
  lockPath: string,
  target: string,
  options: FileLockOptions = {},
): Promise<FileLock> {
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const isAlive = options.isAlive ?? processIsAlive;
  const unreadableStaleMs = options.unreadableStaleMs ?? 10_000;
  const content = `${process.pid}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fh = await open(lockPath, 'wx', 0o644);
      try {
        await fh.writeFile(content);
        await fh.sync();
      } finally {
        await fh.close();
      }
      held.add(lockPath);
      installExitHook();
      return makeLock(lockPath, content);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new KernelError(
          'STORAGE_ERROR',
          `Cannot create the lock file ${lockPath}: ${errorMessage(e)}. Check that its folder exists and is writable.`,
          { cause: e },
        );
      }
    }
    const seen = await readLock(lockPath);
    if (seen === undefined) continue; // removed meanwhile: try again
    const pid = parsePid(seen);
    if (pid !== undefined && isAlive(pid)) throw lockedError(target, lockPath, pid);
    if (pid === undefined && !(await olderThan(lockPath, unreadableStaleMs, clock))) {
      throw lockedError(target, lockPath, undefined); // probably being written right now
    }
    // Stale: move it aside, then make sure what we moved is the lock we judged stale.
    const aside = `${lockPath}.stale-${process.pid}-${attempt}`;
    try {
      await rename(lockPath, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new KernelError(
        'STORAGE_ERROR',
        `Cannot take over the stale lock ${lockPath}: ${errorMessage(e)}`,
        {
          cause: e,
        },
      );
    }
    const moved = await readLock(aside);
    if (moved !== seen) {
      // Someone replaced the stale lock with a live one between our read and our rename: put it back.
      await link(aside, lockPath).catch(() => undefined);
      await unlink(aside).catch(() => undefined);
      throw lockedError(target, lockPath, moved === undefined ? undefined : parsePid(moved));
    }
    await unlink(aside).catch(() => undefined);
    logger.warn('Took over a stale lock left by a process that is no longer running', {
      lock: lockPath,
      stalePid: pid,
    });
  }
  throw lockedError(target, lockPath, undefined);
}

function makeLock(path: string, content: string): FileLock {
  let released = false;
  return Object.freeze({
    path,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      held.delete(path);
      if ((await readLock(path)) === content) await unlink(path).catch(() => undefined);
    },
  });
}

async function readLock(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KernelError(
      'STORAGE_ERROR',
      `Cannot read the lock file ${path}: ${errorMessage(e)}`,
      { cause: e },
    );
  }
}

async function olderThan(path: string, ms: number, clock: Clock): Promise<boolean> {
  try {
    return clock.now() - (await stat(path)).mtimeMs > ms;
  } catch {
    return false;
  }
}

function parsePid(text: string): number | undefined {
  const m = /^(\d{1,10})\s*$/.exec(text);
  if (m === null) return undefined;
  const pid = Number(m[1]);
  return pid > 0 ? pid : undefined;
}

function lockedError(
  target: string,
  lockPath: string,
  pid: number | undefined,
): KernelError<'STORE_LOCKED'> {
  const who = pid === undefined ? 'another process' : `process ${pid}`;
  return new KernelError(
    'STORE_LOCKED',
    `${target} is open for writing by ${who} (lock file ${lockPath}). Close the other store first, open this one read-only, or — if that process is gone — delete the lock file.`,
    { details: { path: target, lock: lockPath, ...(pid === undefined ? {} : { pid }) } },
  );
}

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
import { readFileSync, unlinkSync } from 'node:fs';
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

/**
 * Whether a process with this pid is running (EPERM: it runs under another user). A zombie — a
 * process killed (say `kill -9` of a daemon) whose parent has not reaped it yet — still answers
 * `kill(pid, 0)` but is dead: on Linux its `/proc/<pid>/stat` state (`Z`/`X`) says so, so a
 * restart right after a crash takes the lock over instead of failing `STORE_LOCKED`.
 */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = procStat(pid);
  return stat === undefined || (stat.state !== 'Z' && stat.state !== 'X');
}

/** State and start time (clock ticks since boot) of a process, from Linux's /proc; else undefined. */
function procStat(pid: number): { state: string; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const start = fields[19];
  return state === undefined || start === undefined ? undefined : { state, start };
}

/**
 * Whether the lock's owner still runs: the pid is alive and, when the lock recorded the
 * owner's start time, the process with that pid now is the same one (not a reused pid).
 */
function ownerIsAlive(
  owner: { pid: number; start: string | undefined },
  isAlive: (pid: number) => boolean,
): boolean {
  if (!isAlive(owner.pid)) return false;
  if (owner.start === undefined) return true;
  const now = procStat(owner.pid);
  return now === undefined || now.start === owner.start;
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
  const start = procStat(process.pid)?.start;
  const content = start === undefined ? `${process.pid}\n` : `${process.pid} ${start}\n`;
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
    const owner = parseOwner(seen);
    const pid = owner?.pid;
    if (owner !== undefined && ownerIsAlive(owner, isAlive)) {
      throw lockedError(target, lockPath, owner.pid);
    }
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
      throw lockedError(target, lockPath, moved === undefined ? undefined : parseOwner(moved)?.pid);
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

/** The owner a lock file names: `<pid>` or `<pid> <start time>` (older locks hold the pid only). */
function parseOwner(text: string): { pid: number; start: string | undefined } | undefined {
  const m = /^(\d{1,10})(?: (\d{1,20}))?\s*$/.exec(text);
  if (m === null) return undefined;
  const pid = Number(m[1]);
  return pid > 0 ? { pid, start: m[2] } : undefined;
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

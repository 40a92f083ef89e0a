/**
 * The process groups of a kernel's process agents, recorded in a file in the state folder so
 * that the next start can reap what a crash left running: on `kill -9` of the daemon no exit
 * hook runs, and its agents (each the leader of its own group, `detached`) keep running.
 *
 * Each entry holds the group id and its leader's start time (Linux `/proc/<pid>/stat`, field
 * 22), so a pid reused by an unrelated process is never signalled.
 *
 * @module
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { errorMessage } from '../errors.js';
import type { Logger } from '../util/logger.js';

/** Where a supervisor reports its process agents' groups. */
export interface ProcessGroupRecorder {
  started(pgid: number): void;
  ended(pgid: number): void;
}

interface Entry {
  readonly pgid: number;
  readonly start: string | null;
}

/** A process's start time in clock ticks since boot (Linux), or null where unknown. */
export function processStartTime(pid: number): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readEntries(path: string): Entry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (e): e is Entry =>
        typeof e === 'object' &&
        e !== null &&
        Number.isSafeInteger((e as Entry).pgid) &&
        (e as Entry).pgid > 1,
    );
  } catch {
    return [];
  }
}

/**
 * Kills (SIGKILL) the groups recorded in `path` by a previous kernel that are still running and
 * still led by the same process (or leaderless); answers the reaped group ids. Empties the file.
 */
export function reapProcessGroups(path: string, logger: Logger): number[] {
  const reaped: number[] = [];
  for (const e of readEntries(path)) {
    if (!groupExists(e.pgid)) continue;
    const now = processStartTime(e.pgid);
    if (now !== null && e.start !== null && now !== e.start) continue; // pid reused: not ours
    try {
      process.kill(-e.pgid, 'SIGKILL');
      reaped.push(e.pgid);
    } catch (error) {
      logger.warn('Could not reap a process agent left by a crashed kernel', {
        pgid: e.pgid,
        error: errorMessage(error),
      });
    }
  }
  if (reaped.length > 0) {
    logger.warn('Reaped process agents left running by a kernel that crashed', { pgids: reaped });
  }
  write(path, new Map());
  return reaped;
}

function write(path: string, live: ReadonlyMap<number, Entry>): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify([...live.values()]), { mode: 0o600 });
  renameSync(tmp, path);
}

/** A recorder that keeps `path` listing the live groups (rewritten on each change; small). */
export function createProcessGroupFile(path: string, logger: Logger): ProcessGroupRecorder {
  const live = new Map<number, Entry>();
  const save = (): void => {
    try {
      write(path, live);
    } catch (error) {
      logger.warn('Could not record process agent groups', { path, error: errorMessage(error) });
    }
  };
  return {
    started(pgid) {
      live.set(pgid, { pgid, start: processStartTime(pgid) });
      save();
    },
    ended(pgid) {
      if (live.delete(pgid)) save();
    },
  };
}

/**
 * Stale locks after a crash: a restart right after `kill -9` must not fail `STORE_LOCKED`
 * because the dead owner is a not-yet-reaped zombie, or because its pid was reused.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireFileLock, processIsAlive } from '../../src/storage/file-lock.js';

const linux = process.platform === 'linux';
let dir: string | undefined;
const stop: (() => void)[] = [];
afterEach(async () => {
  for (const s of stop.splice(0)) s();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** A zombie: `sleep 0` exits at once, and its parent (exec'd into `sleep 30`) never reaps it. */
async function zombiePid(): Promise<number> {
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: 'pipe' });
  stop.push(() => parent.kill('SIGKILL'));
  const pid = await new Promise<number>((resolve) =>
    parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
  );
  // wait until it has exited and is a zombie (its state in /proc)
  for (;;) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (/\) Z /.test(stat)) return pid;
    await new Promise((r) => setImmediate(r));
  }
}

describe.skipIf(!linux)('file lock after a crash', () => {
  it('treats a zombie owner as dead and takes its lock over', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kerno-lock-'));
    const pid = await zombiePid();
    expect(processIsAlive(pid)).toBe(false);
    const lockPath = join(dir, 'kerno.db.lock');
    await writeFile(lockPath, `${pid}\n`);
    const lock = await acquireFileLock(lockPath, 'kerno.db');
    expect(await readFile(lockPath, 'utf8')).toMatch(new RegExp(`^${process.pid} \\d+\\n$`));
    await lock.release();
  });

  it('treats a live pid with another start time (a reused pid) as a stale owner', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kerno-lock-'));
    const lockPath = join(dir, 'kerno.db.lock');
    await writeFile(lockPath, `${process.pid} 1\n`); // our pid, but not our start time
    const lock = await acquireFileLock(lockPath, 'kerno.db');
    await lock.release();
  });

  it('still refuses a lock held by a live owner', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kerno-lock-'));
    const lockPath = join(dir, 'kerno.db.lock');
    const held = await acquireFileLock(lockPath, 'kerno.db');
    await expect(acquireFileLock(lockPath, 'kerno.db')).rejects.toMatchObject({
      code: 'STORE_LOCKED',
    });
    await held.release();
  });
});

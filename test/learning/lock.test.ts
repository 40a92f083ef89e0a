import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  acquireFileLock,
  createMemoryLogger,
  isKernelError,
  openLearningStore,
} from '../../src/index.js';

const CHILD = fileURLToPath(new URL('./lock-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Starts the child and resolves once it holds the lock. */
function lockingChild(
  file: string,
): Promise<{ child: ChildProcessWithoutNullStreams; pid: number; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file], { cwd: ROOT });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /locked (\d+)\n/.exec(out);
      if (m !== null) resolve({ child, pid: Number(m[1]), output: () => out });
    });
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`child exited early (${code}): ${err}`)));
  });
}

function exited(child: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.on('close', () => resolve());
  });
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kerno-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('single writer lock', () => {
  it('refuses a second process while the first holds the file, then lets it in after a clean close', async () => {
    const file = join(dir, 'shared.rvls');
    const { child, pid, output } = await lockingChild(file);
    try {
      const error = await openLearningStore(file).catch((e: unknown) => e);
      expect(isKernelError(error, 'STORE_LOCKED')).toBe(true);
      expect((error as Error).message).toContain(`process ${pid}`);
      expect((error as Error).message).toContain(file);
      expect((error as { details?: Record<string, unknown> }).details?.['pid']).toBe(pid);
      expect(await readFile(`${file}.lock`, 'utf8')).toMatch(new RegExp(`^${pid}( \\d+)?\\n$`));
      // reading does not need the lock
      const reader = await openLearningStore(file, { readOnly: true });
      expect(reader.stats().ewcTasksLearned).toBe(1);
      await reader.close();
    } finally {
      child.stdin.end();
      await exited(child);
    }
    expect(output()).toContain('closed');
    await expect(stat(`${file}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
    const logger = createMemoryLogger();
    const store = await openLearningStore(file, { logger });
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([]);
    await store.close();
  }, 30_000);

  it('takes over the lock of a writer that was killed', async () => {
    const file = join(dir, 'crashed.rvls');
    const { child, pid } = await lockingChild(file);
    child.kill('SIGKILL');
    await exited(child);
    expect(await readFile(`${file}.lock`, 'utf8')).toMatch(new RegExp(`^${pid}( \\d+)?\\n$`)); // left behind
    const logger = createMemoryLogger();
    const store = await openLearningStore(file, { logger });
    expect(store.stats().ewcTasksLearned).toBe(1);
    expect(logger.lines.find((l) => /stale lock/.test(l.message))?.fields?.['stalePid']).toBe(pid);
    expect(await readFile(`${file}.lock`, 'utf8')).toMatch(
      new RegExp(`^${process.pid}( \\d+)?\\n$`),
    );
    await store.close();
    expect(await readdir(dir)).toEqual(['crashed.rvls']);
  }, 30_000);

  it('refuses a second writer in the same process too', async () => {
    const file = join(dir, 'twice.rvls');
    const first = await openLearningStore(file);
    await expect(openLearningStore(file)).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    await first.close();
    const second = await openLearningStore(file);
    await second.close();
  });

  it('treats an unreadable lock as held while fresh and as stale once old', async () => {
    const lock = join(dir, 'odd.rvls.lock');
    await writeFile(lock, '');
    const clock = new ManualClock(Date.now());
    await expect(acquireFileLock(lock, 'odd.rvls', { clock })).rejects.toMatchObject({
      code: 'STORE_LOCKED',
    });
    clock.advance(60_000);
    const held = await acquireFileLock(lock, 'odd.rvls', { clock });
    expect(await readFile(lock, 'utf8')).toMatch(new RegExp(`^${process.pid}( \\d+)?\\n$`));
    await held.release();
    await held.release();
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('takes over a lock whose pid is not running', async () => {
    const lock = join(dir, 'ghost.rvls.lock');
    await writeFile(lock, '4242\n');
    const logger = createMemoryLogger();
    const held = await acquireFileLock(lock, 'ghost.rvls', {
      logger,
      isAlive: (pid) => pid !== 4242,
    });
    expect(logger.lines[0]?.fields?.['stalePid']).toBe(4242);
    await held.release();
  });
});

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeRvls, encodeRvls, openLearningStore, seededRandom } from '../../src/index.js';
import { snapshotFor } from './crash-state.js';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Round {
  readonly persisting: number[];
  readonly persisted: number[];
}

/**
 * Runs the child from `first`; once it announces its `target`-th persist, kills it with SIGKILL
 * after `delayOf(typical persist time)` ms. Resolves with everything it announced.
 */
function crashRound(
  file: string,
  first: number,
  target: number,
  delayOf: (persistMs: number) => number,
): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, String(first)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const persisting: number[] = [];
    const persisted: number[] = [];
    const started = new Map<number, number>();
    let durations: number[] = [];
    let buffered = '';
    let stderr = '';
    let killScheduled = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const [what, v] = buffered.slice(0, nl).split(' ') as [string, string];
        buffered = buffered.slice(nl + 1);
        const version = Number(v);
        if (what === 'persisting') {
          persisting.push(version);
          started.set(version, performance.now());
          if (persisting.length === target && !killScheduled) {
            killScheduled = true;
            const typical =
              durations.length === 0 ? 40 : durations.reduce((a, b) => a + b) / durations.length;
            setTimeout(() => child.kill('SIGKILL'), delayOf(typical));
          }
        } else if (what === 'persisted') {
          persisted.push(version);
          durations = [...durations, performance.now() - started.get(version)!];
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL')
        reject(new Error(`child ended without being killed (code ${code}): ${stderr}`));
      else resolve({ persisting, persisted });
    });
  });
}

describe('crash safety', () => {
  it('leaves the old or the new complete file when killed at random points of persists', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kerno-crash-'));
    try {
      const file = join(dir, 'learning.rvls');
      const random = seededRandom(1234);
      let onDisk = 0; // version 0: no file yet
      let killedMidPersist = 0;
      for (let round = 0; round < 22; round++) {
        const first = onDisk + 1;
        const target = 1 + Math.floor(random.float() * 3);
        const r = await crashRound(
          file,
          first,
          target,
          (typical) => random.float() * typical * 1.3,
        );
        const lastDone = r.persisted.at(-1) ?? onDisk;
        const inFlight = r.persisting.at(-1)!;
        if (inFlight !== lastDone) killedMidPersist++;

        const bytes = await readFile(file).catch(() => undefined);
        if (bytes === undefined) {
          expect(lastDone).toBe(0); // killed before the very first rename
          continue;
        }
        const decoded = decodeRvls(bytes, file); // a torn file throws here
        const version = decoded.ewc.tasks_learned;
        expect(decoded.skippedCount).toBe(0);
        expect([lastDone, inFlight]).toContain(version);
        expect(bytes.toString('utf8')).toBe(encodeRvls(snapshotFor(version)));
        onDisk = version;
      }
      // the kills really landed inside persists, not only between them
      expect(killedMidPersist).toBeGreaterThan(5);

      // the last child died holding the lock: it is stale, so a new writer takes over and tidies up
      const store = await openLearningStore(file);
      expect(store.stats().ewcTasksLearned).toBe(onDisk);
      expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      await store.close();
      expect(await readdir(dir)).toEqual(['learning.rvls']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

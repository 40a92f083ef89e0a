/**
 * Durable runs survive kill -9: a 50-step run is killed at random points, round after round;
 * each restart resumes it from its journal. Every recorded step keeps its first recorded
 * result, each step's side effect happens once plus once more for every kill that caught it
 * in flight, the journal verifies after every round, and the run completes.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { journalView, readJournal, runIndexView } from '../../src/runs/journal.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { seededRandom } from '../../src/util/random.js';
import { tempDir } from '../helpers/stores.js';

const CHILD = join(import.meta.dirname, 'fixtures/run-crash-child.ts');
const KILLS = 12;

interface Round {
  readonly killed: boolean;
  readonly done?: { steps: number; nonces: string[] };
}

/**
 * Runs the child; kills it `delayMs` after its `killAfter`-th side effect of the round (never,
 * when undefined), so the kill lands at a random point: inside a step, in a commit, between steps.
 */
function round(args: string[], killAfter: number | undefined, delayMs: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let effects = 0;
    let pending = '';
    let stderr = '';
    let done: Round['done'];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('effect ')) {
          effects++;
          if (killAfter !== undefined && effects === killAfter) {
            setTimeout(() => child.kill('SIGKILL'), delayMs);
          }
        } else if (line.startsWith('done ')) done = JSON.parse(line.slice(5)) as Round['done'];
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ killed: true });
      else if (code === 0) resolve({ killed: false, ...(done === undefined ? {} : { done }) });
      else reject(new Error(`child exited with ${String(code)}: ${stderr}`));
    });
  });
}

function effectLines(file: string): string[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text === '' ? [] : text.trimEnd().split('\n');
}

describe('durable runs under kill -9', () => {
  it(`resumes a 50-step run across ${KILLS} kills without redoing recorded steps`, async () => {
    const { dir, cleanup } = tempDir('kerno-run-crash-');
    const db = join(dir, 'kerno.db');
    const effectsFile = join(dir, 'effects.txt');
    const args = [`sqlite:${db}`, join(dir, 'home'), effectsFile];
    const random = seededRandom(20261202);
    const firstRecorded = new Map<string, string>();
    const inFlight = new Map<string, number>();
    let kills = 0;
    try {
      let result: Round['done'];
      for (let r = 0; r <= KILLS && result === undefined; r++) {
        const killAfter = r < KILLS ? 1 + Math.floor(random.float() * 3) : undefined;
        const before = effectLines(effectsFile).length;
        const outcome = await round(args, killAfter, Math.floor(random.float() * 3));
        result = outcome.done;
        if (outcome.killed) kills++;
        const thisRound = effectLines(effectsFile).slice(before);

        const storage = await openStorage(`sqlite:${db}`);
        try {
          const journal = journalView(storage.log, 'crash-run', () => Date.now());
          const verify = await journal.verify();
          expect(verify.ok, `round ${r}: journal verifies`).toBe(true);
          const keys = new Set<string>();
          for (const e of await readJournal(journal)) {
            if (e.type !== 'step') continue;
            expect(keys.has(e.key), `round ${r}: ${e.key} recorded once`).toBe(false);
            keys.add(e.key);
            const nonce = (JSON.parse(e.result!) as { nonce: string }).nonce;
            const earlier = firstRecorded.get(e.key);
            if (earlier !== undefined)
              expect(nonce, `round ${r}: ${e.key} kept its result`).toBe(earlier);
            firstRecorded.set(e.key, nonce);
          }
          expect((await runIndexView(storage.log).verify()).ok).toBe(true);
          // a step whose side effect happened this round but is not recorded was in flight at the kill
          for (const line of thisRound) {
            const key = `s${line.split(' ')[0]!}#1`;
            if (!keys.has(key)) inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
          }
        } finally {
          await storage.close();
        }
      }
      expect(result, 'the run completed').toBeDefined();
      expect(result!.steps).toBe(50);
      // the result carries each step's first recorded value
      for (let i = 0; i < 50; i++) {
        const recorded = firstRecorded.get(`s${i}#1`);
        if (recorded !== undefined) expect(result!.nonces[i]).toBe(recorded);
      }
      expect(kills).toBeGreaterThanOrEqual(10);
      const counts = new Map<string, number>();
      const lines = effectLines(effectsFile);
      for (const line of lines) {
        const i = line.split(' ')[0]!;
        counts.set(i, (counts.get(i) ?? 0) + 1);
      }
      expect(counts.size).toBe(50);
      // exactly once, plus once more for each kill that caught the step in flight: a recorded
      // step never ran again
      for (let i = 0; i < 50; i++) {
        expect(counts.get(String(i)), `side effects of step ${i}`).toBe(
          1 + (inFlight.get(`s${i}#1`) ?? 0),
        );
      }
      const nonceOf = new Map(lines.map((l) => [l.split(' ')[1]!, l.split(' ')[0]!]));
      for (let i = 0; i < 50; i++) expect(nonceOf.get(result!.nonces[i]!)).toBe(String(i));
    } finally {
      cleanup();
    }
  }, 180_000);
});

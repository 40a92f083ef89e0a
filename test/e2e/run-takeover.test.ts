/**
 * Three kernels on one PostgreSQL store: the owner of a run is killed with SIGKILL mid-run; once
 * its lease expires exactly one of the other two takes the run over and finishes it from the
 * journal. No recorded step runs again, and after the kill no step ran on two kernels at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { journalView, readJournal } from '../../src/runs/journal.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { dropSchema, freshSchema, pgAvailable, pgSkipReason, pgUrl } from '../helpers/postgres.js';
import { tempDir } from '../helpers/stores.js';

const CHILD = join(import.meta.dirname, 'fixtures/run-takeover-child.ts');

function startKernel(args: string[], onLine: (line: string) => void): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  return child;
}

describe.skipIf(!pgAvailable)(`run takeover on PostgreSQL${pgSkipReason}`, () => {
  it('finishes a run on another kernel after its owner is killed -9', async () => {
    const schema = freshSchema('kerno_takeover');
    const store = pgUrl(schema);
    const { dir, cleanup } = tempDir('kerno-takeover-');
    const effects = join(dir, 'effects.txt');
    const children: ChildProcess[] = [];
    try {
      // the owner starts the run and is killed once it is a few steps in
      const killed = new Promise<void>((resolve, reject) => {
        const owner = startKernel([store, join(dir, 'k1'), effects, 'k1', 'start'], (line) => {
          if (line === 'effect 5') owner.kill('SIGKILL');
        });
        children.push(owner);
        owner.on('exit', (_code, signal) =>
          signal === 'SIGKILL' ? resolve() : reject(new Error('the owner exited by itself')),
        );
      });
      await killed;
      const done = ['k2', 'k3'].map(
        (name) =>
          new Promise<string>((resolve) => {
            const child = startKernel([store, join(dir, name), effects, name], (line) => {
              if (line.startsWith('done ')) resolve(line.slice(5));
            });
            children.push(child);
          }),
      );
      expect(await Promise.race(done)).toBe('completed');

      const lines = existsSync(effects) ? readFileSync(effects, 'utf8').trim().split('\n') : [];
      const after = lines.slice(lines.findIndex((l) => l === 'start 5 k1') + 1);
      // exactly one kernel took over
      const takers = new Set(after.map((l) => l.split(' ')[2]));
      expect(takers.size).toBe(1);
      expect(takers.has('k1')).toBe(false);
      // no two executions of a step overlapped after the kill, and none ran twice there
      const open = new Set<string>();
      for (const l of after) {
        const [what, step] = l.split(' ');
        if (what === 'start') {
          expect(open.size, `step ${step} started while another ran`).toBe(0);
          open.add(step!);
        } else open.delete(step!);
      }
      const storage = await openStorage(store);
      try {
        const journal = journalView(storage.log, 'relay-run', () => Date.now());
        expect((await journal.verify()).ok).toBe(true);
        const steps = (await readJournal(journal)).filter((e) => e.type === 'step');
        expect(steps.map((e) => e.key)).toEqual(Array.from({ length: 20 }, (_, i) => `s${i}#1`));
        const recordedBy = steps.map(
          (e) => JSON.parse(e.type === 'step' ? e.result! : '""') as string,
        );
        // steps 0-4 were recorded by the killed owner and never ran again
        expect(recordedBy.slice(0, 5)).toEqual(['k1', 'k1', 'k1', 'k1', 'k1']);
        for (let i = 0; i < 5; i++) {
          expect(lines.filter((l) => l.startsWith(`start ${i} `))).toHaveLength(1);
        }
      } finally {
        await storage.close();
      }
    } finally {
      for (const c of children) c.kill('SIGKILL');
      await dropSchema(schema).catch(() => undefined);
      cleanup();
    }
  }, 120_000);
});

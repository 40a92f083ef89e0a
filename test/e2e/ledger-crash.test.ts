import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLedger } from '../../src/ledger/ledger.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { seededRandom } from '../../src/util/random.js';
import { tempDir } from '../helpers/stores.js';

const CHILD = join(import.meta.dirname, 'fixtures/ledger-crash-child.ts');
const ROUNDS = 12;

/** Runs the child until it has acknowledged `minAcks` appends plus a random extra wait, then kill -9. */
function crashRound(file: string, seed: number, delayMs: number): Promise<{ acked: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, String(seed)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: string[] = [];
    let pending = '';
    let stderr = '';
    let armed = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? ''; // a line cut by the kill has no newline: not acknowledged to us
      for (const line of lines) {
        if (line === 'ready') continue;
        acked.push(line);
        if (!armed) {
          armed = true; // appends are flowing: kill at a random moment from here
          setTimeout(() => child.kill('SIGKILL'), delayMs);
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ acked });
      else reject(new Error(`child exited on its own (code ${code}): ${stderr}`));
    });
  });
}

describe('ledger crash safety (kill -9 while 32 producers append)', () => {
  it(`keeps every acknowledged append across ${ROUNDS} kills, with no torn record, hole or broken link`, async () => {
    const { dir, cleanup } = tempDir('kerno-crash-');
    const file = join(dir, 'ledger.db');
    const random = seededRandom(20261122);
    const allAcked: string[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const delay = Math.floor(random.float() * 400);
        const { acked } = await crashRound(file, 1000 + round, delay);
        expect(acked.length).toBeGreaterThan(0);
        allAcked.push(...acked);

        const storage = await openStorage(`sqlite:${file}`);
        try {
          const ledger = createLedger({ log: storage.log });
          const head = await ledger.head();
          // every acknowledged id is there
          const missing: string[] = [];
          for (const line of allAcked) {
            const [tenantId, id] = line.split(' ') as [string, string];
            if ((await ledger.get(id, { tenantId })) === undefined) missing.push(line);
          }
          expect(missing, `round ${round}: acknowledged but lost`).toEqual([]);
          // positions 1..head without holes, every body whole, the chain intact
          const verify = await ledger.verify();
          expect(verify, `round ${round}`).toMatchObject({ ok: true, verified: head.seq });
          let expected = 1;
          for await (const env of ledger.envelopes()) {
            expect(env.event.type).toBe('OutcomeRecorded');
            expected++;
          }
          expect(expected - 1).toBe(head.seq);
          expect(head.seq).toBeGreaterThanOrEqual(allAcked.length);
        } finally {
          await storage.close();
        }
      }
    } finally {
      cleanup();
    }
  }, 180_000);
});

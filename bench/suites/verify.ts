import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createLedger } from '../../src/ledger/ledger.js';
import { createLogView } from '../../src/storage/log-view.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { throughput, type BenchRow, type BenchSuite } from '../harness.js';

const DIR = join(tmpdir(), 'kerno-bench-verify');

/**
 * Issue 17 item 3: SQLite verify on worker threads against the sequential loop, and NDJSON
 * export handing stored bodies through against re-encoding them, each pair in the same run.
 * `KERNO_BENCH_VERIFY_RECORDS` sizes the chain (default 1M).
 */
export const verifySuite: BenchSuite = {
  name: 'verify',
  async run(): Promise<BenchRow[]> {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR, { recursive: true });
    const N = Number(process.env['KERNO_BENCH_VERIFY_RECORDS'] ?? 1_000_000);
    const storage = await openStorage(`sqlite:${join(DIR, 'verify.db')}`);
    try {
      const view = createLogView<number, number>({
        log: storage.log,
        stream: 'verify',
        codec: {
          encode: (n) => ({
            timeMs: 1_700_000_000_000 + n,
            body: `{"actor":"agent-${n % 50}","n":${n},"what":"step completed"}`,
            kind: 'step',
          }),
          decode: (r) => r.seq,
        },
      });
      const B = 5000;
      const pending: Promise<void>[] = [];
      for (let i = 0; i < N; i += B) {
        pending.push(view.write(Array.from({ length: Math.min(B, N - i) }, (_, j) => i + j)));
        if (pending.length >= 8) await pending.shift();
      }
      await Promise.all(pending);
      const check = (r: { ok: boolean; verified: number }): void => {
        if (!r.ok || r.verified !== N) throw new Error('verify failed in benchmark');
      };
      const sequential = await throughput(
        N,
        async () => check(await view.verify({ parallel: false })),
        { rounds: 1, warmup: 0 },
      );
      const parallel = await throughput(
        N,
        async () => check(await view.verify({ parallel: { minRecords: 0 } })),
        { rounds: 1, warmup: 0 },
      );

      const M = Math.min(N, 200_000);
      const ledger = createLedger({ log: storage.log });
      const lines: string[] = [];
      for (let i = 0; i < M; i++) {
        lines.push(
          JSON.stringify({
            event_id: `e-${i}`,
            occurred_at: '2026-01-01T00:00:00Z',
            tenant_id: 't',
            correlation_id: null,
            event: {
              type: 'BudgetExceeded',
              data: {
                chain_id: `c${i % 100}`,
                resource: 'Tokens',
                limit: '1024',
                observed: '2048',
              },
            },
          }) + '\n',
        );
      }
      await ledger.importNdjson(Readable.from(lines));
      const exportRate = (form: 'envelope' | 'stored') =>
        throughput(
          M,
          async () => {
            let n = 0;
            for await (const line of ledger.exportNdjson({ form })) n += line.length > 0 ? 1 : 0;
            if (n !== M) throw new Error('export lost lines in benchmark');
          },
          { rounds: 3, warmup: 1 },
        );
      const encoded = await exportRate('envelope');
      const stored = await exportRate('stored');
      const millions = N >= 1_000_000 ? `${N / 1_000_000}M` : `${N / 1000}k`;
      return [
        {
          group: 'issue 17',
          name: `verify, SQLite ${millions} records (parallel, worker threads)`,
          value: parallel,
          unit: 'records/s',
          peer: { name: 'sequential verify, same chain', value: sequential },
          goal: { kind: 'min', value: 1_000_000 },
          note: 'wall time; gains need free cores (the workers boot through tsx under the bench)',
        },
        {
          group: 'issue 17',
          name: `export NDJSON, SQLite ${M / 1000}k envelopes (stored form, no parse)`,
          value: stored,
          unit: 'lines/s',
          peer: { name: 'converge envelope form (parse + re-encode)', value: encoded },
        },
      ];
    } finally {
      await storage.close();
      rmSync(DIR, { recursive: true, force: true });
    }
  },
};

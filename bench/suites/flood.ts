/**
 * Fair durable writes (issue 14, item 5): ledger appends through the API while one process
 * agent floods stdout, against the unloaded rate in the same run. Agent output goes through
 * the per-agent limiter (rate, line length, coalescing) before the audit trail, so the flood
 * costs the shared writer a few appends per tick instead of one per line.
 */
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createKernel } from '../../src/kernel.js';
import { createServer } from '../../src/server/app.js';
import { silentLogger } from '../../src/util/logger.js';
import type { BenchRow, BenchSuite } from '../harness.js';
import { TOKEN, load } from './api.js';

/** A process agent printing lines as fast as its pipe takes them, until killed. */
const FLOOD = `
const line = 'flood '.padEnd(120, '.') + '\\n';
const chunk = line.repeat(500);
function go() { while (process.stdout.write(chunk)); process.stdout.once('drain', go); }
go();
`;

export const floodSuite: BenchSuite = {
  name: 'flood',
  async run(): Promise<BenchRow[]> {
    const dir = mkdtempSync(join(tmpdir(), 'kerno-bench-flood-'));
    const kernel = await createKernel({
      store: `sqlite:${join(dir, 'k.db')}`,
      stateDir: dir,
      logger: silentLogger,
      registryKey: 'bench',
      registryScryptCost: 1024,
    });
    const server = await createServer(kernel, { token: TOKEN });
    const { port } = await server.listen({ port: 0 });
    await load(port, '/api/ledger', 1, 32); // warm up
    const unloaded = await load(port, '/api/ledger', 4, 32);
    const agent = await kernel.supervisor.spawn({
      name: 'flood',
      restart: 'temporary',
      command: process.execPath,
      args: ['-e', FLOOD],
    });
    const auditBefore = (await kernel.audit.head()).seq;
    const loaded = await load(port, '/api/ledger', 4, 32);
    const auditAfter = (await kernel.audit.head()).seq;
    await agent.kill();
    await server.close();
    await kernel.close();
    rmSync(dir, { recursive: true, force: true });
    return [
      {
        group: 'fairness',
        name: 'ledger append through the API while an agent floods output',
        value: loaded,
        unit: 'req/s',
        peer: { name: 'the same, no flood (same run)', value: unloaded },
        goal: { kind: 'ratio-min', value: 0.5 },
        note: `flooding agent limited to 256 KiB/s per agent, coalesced per tick; ${auditAfter - auditBefore} audit entries written during the loaded run`,
      },
    ];
  },
};

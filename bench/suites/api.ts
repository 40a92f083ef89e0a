import http from 'node:http';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import Fastify from 'fastify';
import { createKernel } from '../../src/kernel.js';
import { createServer } from '../../src/server/app.js';
import { silentLogger } from '../../src/util/logger.js';
import type { BenchRow, BenchSuite } from '../harness.js';

export const TOKEN = 'kerno_bench_token_0123456789abcdef0123';
const BODY = JSON.stringify({
  event: {
    type: 'BudgetExceeded',
    data: { chain_id: 'c', resource: 'Tokens', limit: '1024', observed: '2048' },
  },
  tenantId: 't1',
});

/** Keep-alive POST load: `concurrency` requests in flight for `seconds`; returns requests/s. */
export async function load(
  port: number,
  path: string,
  seconds: number,
  concurrency: number,
): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let done = 0;
  const end = Date.now() + seconds * 1000;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${TOKEN}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(BODY),
          },
        },
        (res) => {
          if (res.statusCode !== 201) reject(new Error(`status ${res.statusCode}`));
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end(BODY);
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        await one();
        done++;
      }
    }),
  );
  agent.destroy();
  return (done / (performance.now() - t0)) * 1000;
}

/** The HTTP API (issue 7): ledger append through the API vs a bare Fastify route; SSE fan-out. */
export const apiSuite: BenchSuite = {
  name: 'api',
  async run(): Promise<BenchRow[]> {
    const dir = mkdtempSync(join(tmpdir(), 'kerno-bench-api-'));
    const kernel = await createKernel({
      store: `sqlite:${join(dir, 'k.db')}`,
      stateDir: dir,
      logger: silentLogger,
      registryKey: 'bench',
      registryScryptCost: 1024,
    });
    const server = await createServer(kernel, { token: TOKEN });
    const { port } = await server.listen({ port: 0 });

    const bare = Fastify({ logger: false });
    bare.post('/api/ledger', async (req, reply) => {
      const b = req.body as { event?: unknown };
      if (typeof b.event !== 'object') return reply.code(400).send();
      return reply.code(201).send({ ok: true });
    });
    await bare.listen({ host: '127.0.0.1', port: 0 });
    const barePort = (bare.server.address() as { port: number }).port;

    await load(port, '/api/ledger', 1, 32); // warm up
    await load(barePort, '/api/ledger', 1, 32);
    const kerno = await load(port, '/api/ledger', 5, 32);
    const peer = await load(barePort, '/api/ledger', 5, 32);
    await bare.close();

    // SSE fan-out: 50 clients, 20k events.
    const CLIENTS = 50;
    const EVENTS = 20_000;
    const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
    const head = (await kernel.audit.head()).seq;
    let delivered = 0;
    const target = head + EVENTS;
    const done: Promise<void>[] = [];
    const reqs: http.ClientRequest[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      done.push(
        new Promise((resolve) => {
          const req = http.get(
            {
              host: '127.0.0.1',
              port,
              path: '/api/events',
              headers: { authorization: `Bearer ${TOKEN}` },
            },
            (res) => {
              res.setEncoding('latin1');
              let tail = '';
              res.on('data', (chunk: string) => {
                const text = tail + chunk;
                let at = text.indexOf('id: ');
                while (at !== -1) {
                  delivered++;
                  at = text.indexOf('id: ', at + 4);
                }
                tail = text.slice(-64);
                const lastAt = text.lastIndexOf('id: ');
                if (
                  lastAt !== -1 &&
                  Number(text.slice(lastAt + 4, text.indexOf('\n', lastAt))) >= target
                )
                  resolve();
              });
            },
          );
          reqs.push(req);
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    for (let i = 0; i < EVENTS; i++) kernel.bus.publish({ type: 'AgentStarted', id: ID });
    await Promise.all(done);
    const fanout = (CLIENTS * EVENTS) / ((performance.now() - t0) / 1000);
    for (const r of reqs) r.destroy();
    await server.close();
    await kernel.close();
    rmSync(dir, { recursive: true, force: true });
    void delivered;
    return [
      {
        group: 'daemon',
        name: 'ledger append through the API (keep-alive, 32 in flight)',
        value: kerno,
        unit: 'req/s',
        peer: { name: 'bare Fastify route', value: peer },
        goal: { kind: 'ratio-min', value: 0.5 },
        note: 'kerno: auth, validation, durable SQLite append (group commit); the bare route parses JSON and answers 201',
      },
      {
        group: 'daemon',
        name: `SSE fan-out (${CLIENTS} clients, ${EVENTS} events)`,
        value: fanout,
        unit: 'deliveries/s',
      },
    ];
  },
};

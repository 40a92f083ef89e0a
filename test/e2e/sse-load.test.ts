import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKernel } from '../../src/kernel.js';
import { createServer } from '../../src/server/app.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

const CHILD = join(import.meta.dirname, 'fixtures/sse-clients.ts');
const SECONDS = Number(process.env['KERNO_LOAD_SECONDS'] ?? 30);
const CLIENTS = 200;
const RATE = 5000;
const TOKEN = 'kerno_load_test_token_0123456789abcdef';
const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';

describe('event stream under load', () => {
  it(
    `${CLIENTS} SSE clients while ${RATE} events/s are published for ${SECONDS} s: nobody who keeps up misses an event; a stalled client is cut off; memory stays bounded`,
    async () => {
      const { dir, cleanup } = tempDir('kerno-load-');
      const kernel = await createKernel({
        store: `sqlite:${join(dir, 'k.db')}`,
        stateDir: dir,
        logger: silentLogger,
        registryKey: 'k',
        registryScryptCost: 1024,
      });
      const server = await createServer(kernel, {
        token: TOKEN,
        feed: { stallTimeoutMs: 2000, maxBufferedBytes: 1024 * 1024 },
      });
      const { url, port } = await server.listen({ port: 0 });
      try {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', CHILD, url, TOKEN, String(CLIENTS)],
          { stdio: ['pipe', 'pipe', 'inherit'] },
        );
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        await new Promise<void>((resolve, reject) => {
          const t = setInterval(() => {
            if (out.includes('connected')) {
              clearInterval(t);
              resolve();
            }
          }, 20);
          child.once('exit', (code) => reject(new Error(`clients exited early (${code})`)));
        });

        // A client that asks for the stream and never reads it.
        const stalled = net.connect(port, '127.0.0.1');
        stalled.write(
          `GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
        );
        stalled.pause();
        stalled.on('error', () => undefined);

        const heapBefore = process.memoryUsage().heapUsed;
        let heapMax = heapBefore;
        const startSeq = (await kernel.audit.head()).seq;
        let published = 0;
        const started = Date.now();
        await new Promise<void>((resolve) => {
          const tick = setInterval(() => {
            const due = Math.floor(((Date.now() - started) / 1000) * RATE);
            for (; published < due && published < RATE * SECONDS; published++) {
              kernel.bus.publish({ type: 'AgentStarted', id: ID });
            }
            heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
            if (published >= RATE * SECONDS) {
              clearInterval(tick);
              resolve();
            }
          }, 10);
        });
        await kernel.audit.flush();
        const endSeq = (await kernel.audit.head()).seq;
        expect(endSeq - startSeq).toBe(RATE * SECONDS);
        // wait until the feed has followed the audit trail to the end, then every client read it
        await waitFor(
          () => server.feed.stats().headSeq >= endSeq,
          'the feed to reach the head',
          30_000,
        );
        const drained = new Promise<void>((resolve) => {
          const onData = (): void => {
            if (out.includes('drained\n')) {
              child.stdout.off('data', onData);
              resolve();
            }
          };
          child.stdout.on('data', onData);
        });
        child.stdin.write(`drained ${endSeq}\n`);
        await drained;
        // the stalled client's socket fills up and the feed cuts it off
        await waitFor(
          () => server.feed.stats().cutOff >= 1,
          'the stalled client to be cut off',
          30_000,
        );

        child.stdin.write('report\n');
        const report = await new Promise<
          { first: number; last: number; received: number; gaps: number; closed: boolean }[]
        >((resolve) => {
          child.stdout.on('data', () => {
            const line = out.split('\n').find((l) => l.startsWith('['));
            if (line !== undefined) resolve(JSON.parse(line) as never);
          });
        });
        const complete = report.filter(
          (c) => !c.closed && c.gaps === 0 && c.first === startSeq + 1 && c.last === endSeq,
        );
        expect(report).toHaveLength(CLIENTS);
        expect(report.filter((c) => c.gaps > 0)).toEqual([]);
        expect(complete.length).toBe(CLIENTS);
        // the stalled client was cut off; everyone else is still connected
        expect(server.feed.stats().cutOff).toBe(1);
        expect(server.feed.stats().clients).toBe(CLIENTS);
        expect(heapMax - heapBefore).toBeLessThan(300 * 1024 * 1024);
        stalled.destroy();
      } finally {
        await server.close();
        await kernel.close();
        cleanup();
      }
    },
    (SECONDS + 120) * 1000,
  );
});

/**
 * The unauthenticated metrics port: GET /metrics only (the main API's lines), loopback unless
 * allowed otherwise; the main port still wants a token for /metrics.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app.js';
import { isLoopback, listenMetricsPort } from '../../src/server/metrics-port.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_metrics_port_token_0123456789';
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe('metrics port', () => {
  it('serves /metrics without a token on loopback, nothing else; the main port needs one', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(k.cleanup, () => server.close());
    const main = await server.listen({ port: 0 });
    const metrics = await listenMetricsPort(server.app, TOKEN, { port: 0 });
    cleanups.push(metrics.close);
    expect(metrics.url).toBe(`http://127.0.0.1:${String(metrics.port)}/metrics`);
    const res = await fetch(metrics.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toContain('kerno_bus_published_total');
    const other = await fetch(`http://127.0.0.1:${String(metrics.port)}/api/runs`);
    expect(other.status).toBe(404);
    expect(await other.text()).not.toContain('runs');
    expect((await fetch(`${main.url}/metrics`)).status).toBe(401);
  });

  it('refuses a non-loopback host unless allowed', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(k.cleanup, () => server.close());
    await expect(
      listenMetricsPort(server.app, TOKEN, { port: 0, host: '0.0.0.0' }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('--metrics-public') as unknown,
    });
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
  });
});

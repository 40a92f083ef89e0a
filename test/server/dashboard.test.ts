import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app.js';
import { testKernel } from '../helpers/kernel.js';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup() {
  const k = await testKernel();
  const server = await createServer(k.kernel, { token: 'kerno_test_admin_token_0123456789' });
  cleanups.push(k.cleanup, () => server.close());
  return server;
}

describe('dashboard files', () => {
  it('sends anti-framing, no-sniff and CSP headers with every file', async () => {
    const server = await setup();
    for (const url of ['/', '/ui/app.js', '/ui/style.css', '/favicon.ico']) {
      const res = await server.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['x-frame-options'], url).toBe('DENY');
      expect(res.headers['x-content-type-options'], url).toBe('nosniff');
      expect(res.headers['content-security-policy'], url).toContain("frame-ancestors 'none'");
    }
  });

  it('answers 404 problem details for names that exist only on Object.prototype', async () => {
    const server = await setup();
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'nope.js']) {
      const res = await server.app.inject({ method: 'GET', url: `/ui/${name}` });
      expect(res.statusCode, name).toBe(404);
      expect(res.headers['content-type'], name).toContain('application/problem+json');
    }
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_HINTS, KERNEL_ERROR_CODES, KernelError } from '../../src/errors.js';
import { createToken } from '../../src/server/auth.js';
import { createServer } from '../../src/server/app.js';
import { HTTP_STATUS, problemFor } from '../../src/server/problem.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_problem_test_token_0123456789';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe('problem details for every error code', () => {
  it.each(KERNEL_ERROR_CODES)('%s has a status and an answer that says what to do', (code) => {
    const problem = problemFor(new KernelError(code, `the ${code} message`, { details: { n: 1 } }));
    expect(problem.status).toBe(HTTP_STATUS[code]);
    expect(problem.code).toBe(code);
    expect(problem.hint).toBe(ERROR_HINTS[code]);
    expect(ERROR_HINTS[code].length).toBeGreaterThan(20);
    if (code === 'INTERNAL') {
      // An internal failure never leaks its message (it may name internals); the log has it.
      expect(problem.status).toBe(500);
      expect(problem.detail).not.toContain('INTERNAL message');
      expect(problem).not.toHaveProperty('details');
    } else {
      expect(problem.status).toBeGreaterThanOrEqual(400);
      expect(problem.status).toBeLessThan(600);
      expect(problem.status).not.toBe(500);
      expect(problem.detail).toBe(`the ${code} message`);
      expect(problem.details).toEqual({ n: 1 });
    }
  });

  it('maps the codes clients act on to the statuses they expect', () => {
    expect(HTTP_STATUS.WRONG_KEY).toBe(503);
    expect(HTTP_STATUS.KEY_REQUIRED).toBe(503);
    expect(HTTP_STATUS.SCHEMA_TOO_NEW).toBe(503);
    expect(HTTP_STATUS.UNKNOWN_AGENT).toBe(404);
    expect(HTTP_STATUS.DECRYPT_FAILED).toBe(409);
    expect(ERROR_HINTS.DECRYPT_FAILED).toContain('KERNO_REGISTRY_KEY');
    expect(ERROR_HINTS.WRONG_KEY).toContain('KERNO_REGISTRY_KEY');
  });
});

describe('registry errors reach an HTTP client', () => {
  async function setup(options: { registryKey?: string } = {}) {
    const k = await testKernel(options);
    const server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(k.cleanup, () => server.close());
    return { ...k, server, auth: { authorization: `Bearer ${TOKEN}` } };
  }

  it('a secret that no longer decrypts is a 409 DECRYPT_FAILED that names the key to pass', async () => {
    const { kernel, server, dir } = await setup();
    await kernel.registry.setConfig('api_token', 'tok_123', { secret: true });
    const stored = (await kernel.storage.registry.getConfig('api_token'))!;
    const last = stored.value.at(-2) === 'A' ? 'B' : 'A';
    await kernel.storage.registry.setConfig({
      ...stored,
      value: stored.value.slice(0, -2) + last + stored.value.slice(-1),
    });
    const { token } = createToken(dir, { scope: 'reveal' });
    const res = await server.app.inject({
      method: 'GET',
      url: '/api/config/api_token?reveal=true',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const body = res.json<{ code: string; detail: string; hint: string }>();
    expect(body.code).toBe('DECRYPT_FAILED');
    expect(body.detail).toContain('api_token');
    expect(body.detail).not.toContain('see its log');
    expect(body.hint).toContain('KERNO_REGISTRY_KEY');
    expect(JSON.stringify(body)).not.toContain('tok_123');
  });

  it('a secret without a registry key is a 503 KEY_REQUIRED; an unknown key a 404', async () => {
    const { server, auth } = await setup({ registryKey: '' });
    const put = await server.app.inject({
      method: 'PUT',
      url: '/api/config/api_token',
      headers: auth,
      payload: { value: 'tok', secret: true },
    });
    expect(put.statusCode).toBe(503);
    expect(put.json()).toMatchObject({ code: 'KEY_REQUIRED', hint: ERROR_HINTS.KEY_REQUIRED });
    const missing = await server.app.inject({
      method: 'GET',
      url: '/api/config/nope',
      headers: auth,
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'CONFIG_NOT_FOUND' });
  });
});

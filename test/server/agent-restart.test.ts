import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_test_admin_token_0123456789';
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup() {
  const k = await testKernel();
  const server = await createServer(k.kernel, { token: TOKEN });
  cleanups.push(k.cleanup, () => server.close());
  return { ...k, server, auth: { authorization: `Bearer ${TOKEN}` } };
}

describe('POST /api/agents/:id/restart', () => {
  it('stops a running agent and starts it again', async () => {
    const { kernel, server, auth } = await setup();
    let starts = 0;
    const handle = await kernel.supervisor.spawn({
      name: 'looper',
      restart: 'permanent',
      run: (ctx) =>
        new Promise<void>((resolve) => {
          starts++;
          ctx.signal.addEventListener('abort', () => resolve());
        }),
    });
    expect(starts).toBe(1);
    const res = await server.app.inject({
      method: 'POST',
      url: `/api/agents/${handle.id}/restart`,
      headers: auth,
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ id: handle.id, name: 'looper', status: 'running' });
    expect(starts).toBe(2);
  });

  it('restarts a running temporary agent from its last spec', async () => {
    const { kernel, server, auth } = await setup();
    let starts = 0;
    const handle = await kernel.supervisor.spawn({
      name: 'sleeper',
      restart: 'temporary',
      run: (ctx) =>
        new Promise<void>((resolve) => {
          starts++;
          ctx.signal.addEventListener('abort', () => resolve());
        }),
    });
    const res = await server.app.inject({
      method: 'POST',
      url: `/api/agents/${handle.id}/restart`,
      headers: auth,
    });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ name: 'sleeper', status: 'running' });
    expect(starts).toBe(2);
  });

  it('starts a finished agent again from its last spec', async () => {
    const { kernel, server, auth } = await setup();
    let runs = 0;
    const handle = await kernel.supervisor.spawn({
      name: 'once',
      restart: 'temporary',
      run: () => {
        runs++;
        return 'done';
      },
    });
    await handle.wait();
    const res = await server.app.inject({
      method: 'POST',
      url: `/api/agents/${handle.id}/restart`,
      headers: auth,
    });
    expect(res.statusCode).toBe(202);
    const body = res.json<{ id: string; name: string }>();
    expect(body.name).toBe('once');
    expect(body.id).not.toBe(handle.id);
    expect(runs).toBe(2);
  });

  it('answers 404 for an unknown agent and 401 without a token', async () => {
    const { server, auth } = await setup();
    const missing = await server.app.inject({
      method: 'POST',
      url: '/api/agents/nope/restart',
      headers: auth,
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'NOT_FOUND' });
    const anon = await server.app.inject({ method: 'POST', url: '/api/agents/nope/restart' });
    expect(anon.statusCode).toBe(401);
  });
});

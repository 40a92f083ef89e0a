/**
 * /api/runs: define a process agent, start, list, show, signal and cancel runs; a strictly
 * validated definition; unknown statuses refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_test_admin_token_0123456789';
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const WAITER = `
  const rl = require('node:readline').createInterface({ input: process.stdin });
  let n = 0;
  rl.on('line', (l) => {
    const m = JSON.parse(l);
    if (m.type === 'run') process.stdout.write(JSON.stringify({ type: 'wait', name: 'go' }) + '\\n');
    if (m.type === 'signal') process.stdout.write(JSON.stringify({ type: 'result', value: m.payload }) + '\\n');
  });`;

describe('runs API', () => {
  it('defines, starts, signals, shows and lists a process run; cancels another', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
    cleanups.push(k.cleanup, () => server.close());
    const headers = { authorization: `Bearer ${TOKEN}` };
    const call = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
      server.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });

    const bad = await call('POST', '/api/runs/agents', {
      name: 'w',
      process: { command: 'x', shell: true },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });

    const defined = await call('POST', '/api/runs/agents', {
      name: 'w',
      process: { command: process.execPath, args: ['-e', WAITER] },
    });
    expect(defined.statusCode).toBe(201);
    const started = await call('POST', '/api/runs', { agent: 'w', input: { a: 1 } });
    expect(started.statusCode).toBe(201);
    const { id } = started.json<{ id: string }>();
    await new Promise<void>((resolve) => {
      const off = k.kernel.runs.onStatus((r) => {
        if (r.id === id && r.status === 'waiting') {
          off();
          resolve();
        }
      });
    });
    expect(
      (await call('POST', `/api/runs/${id}/signal`, { name: 'go', payload: 7 })).statusCode,
    ).toBe(202);
    await k.kernel.runs.wait(id);
    const shown = (await call('GET', `/api/runs/${id}`)).json<{
      status: string;
      result: unknown;
      input: unknown;
    }>();
    expect(shown).toMatchObject({ status: 'completed', result: 7, input: { a: 1 } });

    const second = (await call('POST', '/api/runs', { agent: 'w' })).json<{ id: string }>();
    const cancelled = await call('POST', `/api/runs/${second.id}/cancel`, {});
    expect(cancelled.json()).toMatchObject({ id: second.id, status: 'cancelled' });

    const list = (await call('GET', '/api/runs?status=completed')).json<{
      runs: { id: string }[];
    }>();
    expect(list.runs.map((r) => r.id)).toEqual([id]);
    expect((await call('GET', '/api/runs?status=nope')).statusCode).toBe(400);
    expect((await call('GET', '/api/runs/none')).statusCode).toBe(404);
  });
});

/**
 * GET /api/queues, the `queued` run status in /api/runs, POST /api/runs with priority and
 * limitKey, and `kerno queues` / `kerno runs start --priority` / `kerno runs show` through the
 * daemon.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentDefinition } from '../../src/runs/run-engine.js';
import { createServer } from '../../src/server/app.js';
import { cli } from '../helpers/cli.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_test_admin_token_0123456789';
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function until(ok: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('never reached');
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

describe('queues API and CLI', () => {
  it('shows queued runs by limit with their position', async () => {
    const releases: (() => void)[] = [];
    const agent: AgentDefinition<unknown, unknown> = {
      name: 'work',
      run: (ctx) =>
        ctx.step(
          'hold',
          () => new Promise<string>((resolve) => releases.push(() => resolve('ok'))),
        ),
    };
    const k = await testKernel({ define: [agent] });
    const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
    cleanups.push(k.cleanup, () => server.close());
    const { url } = await server.listen({ port: 0 });
    const base = ['--url', url, '--token', TOKEN, '--home', k.dir];
    const headers = { authorization: `Bearer ${TOKEN}` };

    const put = await server.app.inject({
      method: 'PUT',
      url: '/api/policies/limit/one-at-a-time',
      headers,
      payload: { agent: 'work', maxConcurrent: 1 },
    });
    expect(put.statusCode, put.body).toBe(201);
    const start = (payload: Record<string, unknown>) =>
      server.app.inject({ method: 'POST', url: '/api/runs', headers, payload });
    const first = (await start({ agent: 'work' })).json<{ id: string }>().id;
    await until(() => releases.length === 1);
    const low = (await start({ agent: 'work' })).json<{ id: string }>().id;
    const high = await cli(
      ...base,
      'runs',
      'start',
      'work',
      '--priority',
      '7',
      '--limit-key',
      'openai',
    );
    expect(high.code, high.stderr).toBe(0);
    const highId = high.stdout.trim();
    expect((await start({ agent: 'work', priority: 1.5 })).statusCode).toBe(400);

    await until(() => k.kernel.runs.list({ status: 'queued' }).length === 2);
    const queues = await server.app.inject({ method: 'GET', url: '/api/queues', headers });
    expect(queues.statusCode).toBe(200);
    expect(queues.json()).toEqual({
      queues: [
        {
          limit: 'one-at-a-time',
          spec: { agent: 'work', maxConcurrent: 1 },
          inUse: 1,
          queued: [
            { runId: highId, agent: 'work', priority: 7, position: 1 },
            { runId: low, agent: 'work', priority: 0, position: 2 },
          ],
        },
      ],
    });
    const listed = await server.app.inject({
      method: 'GET',
      url: '/api/runs?status=queued',
      headers,
    });
    expect(
      listed.json<{ runs: { id: string; priority?: number; limitKey?: string }[] }>().runs,
    ).toEqual([
      expect.objectContaining({ id: highId, status: 'queued', priority: 7, limitKey: 'openai' }),
      expect.objectContaining({ id: low, status: 'queued' }),
    ]);

    const table = await cli(...base, 'queues');
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain('agent work, max 1');
    expect(table.stdout).toContain(highId);
    const json = JSON.parse((await cli(...base, 'queues', '--json')).stdout) as unknown[];
    expect(json).toEqual(queues.json<{ queues: unknown[] }>().queues);
    const show = await cli(...base, 'runs', 'show', low);
    expect(show.stdout).toContain('status   queued');
    expect(show.stdout).toContain('queued   #2 under one-at-a-time');
    const bad = await cli(...base, 'runs', 'start', 'work', '--priority', 'high');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--priority is a whole number');

    releases.shift()!();
    await until(() => releases.length === 1);
    expect((await k.kernel.runs.get(first)).status).toBe('completed');
    expect((await k.kernel.runs.get(highId)).status).toBe('running');
    releases.shift()!();
    await until(() => releases.length === 1);
    releases.shift()!();
    await k.kernel.runs.wait(low);
  });
});

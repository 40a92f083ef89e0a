/**
 * A durable process agent under the real daemon survives `kill -9` of the daemon: the Node
 * example is defined and started through the API, the daemon is killed once the journal shows
 * two steps, started again on the same state dir, and the run completes by itself (its stored
 * definition came back) with each step's side effect done at most twice.
 */
import { existsSync, readFileSync } from 'node:fs';
import { waitFor } from '../helpers/wait.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/stores.js';

const EXAMPLE = join(import.meta.dirname, '../../examples/agents/durable-steps.mjs');

async function api<T>(d: Daemon, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(d.url + path, {
    method,
    headers: {
      authorization: `Bearer ${d.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

interface Run {
  status: string;
  steps: { key: string }[];
  result?: unknown;
}

function poll(d: Daemon, id: string, ok: (r: Run) => boolean, ms = 60_000): Promise<Run> {
  return waitFor(
    async () => {
      const run = await api<Run>(d, 'GET', `/api/runs/${id}`);
      return ok(run) ? run : undefined;
    },
    `run ${id} to reach the expected state`,
    ms,
  );
}

describe('durable process agent under kerno up', () => {
  it('completes after kill -9 of the daemon without redoing finished steps', async () => {
    const { dir, cleanup } = tempDir('kerno-proc-daemon-');
    const out = join(dir, 'steps.txt');
    let d = await startDaemon(['--home', dir]);
    try {
      await api(d, 'POST', '/api/runs/agents', {
        name: 'steps',
        process: {
          command: process.execPath,
          args: [EXAMPLE],
          env: { DURABLE_STEPS_FILE: out, DURABLE_STEPS: '5', DURABLE_WORK_MS: '300' },
        },
      });
      const { id } = await api<{ id: string }>(d, 'POST', '/api/runs', { agent: 'steps' });
      await poll(d, id, (r) => r.steps.length >= 2);
      d.child.kill('SIGKILL');
      await new Promise((r) => d.child.once('exit', r));

      d = await startDaemon(['--home', dir]);
      const run = await poll(d, id, (r) => r.status === 'completed');
      expect(run.steps.map((s) => s.key)).toEqual([
        'step-1',
        'step-2',
        'step-3',
        'step-4',
        'step-5',
      ]);
      expect(run.result).toMatchObject({ steps: 5 });
      const lines = existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n') : [];
      for (let i = 1; i <= 5; i++) {
        const n = lines.filter((l) => l.startsWith(`step-${i} `)).length;
        expect(n).toBeGreaterThanOrEqual(1);
        expect(n).toBeLessThanOrEqual(2);
      }
      expect(lines.filter((l) => l.startsWith('step-1 '))).toHaveLength(1);
    } finally {
      await d.stop();
      cleanup();
    }
  }, 120_000);
});

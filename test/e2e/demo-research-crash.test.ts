/**
 * The demo's durable research run survives `kill -9` of the daemon: started again with the same
 * home, it resumes at its next step — the steps finished before the kill replay from the journal
 * and are not executed again (the demo traces every step it executes to
 * `<home>/demo-research.log`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/stores.js';

// Half the real pace: faster, and the demo's restarts stay within the root supervisor's
// default intensity (3 in 5 s) even right after the restart, when pricing-service regresses.
const ENV = { KERNO_DEMO_PACE: '0.5', KERNO_REGISTRY_KEY: 'demo crash test key' };

/** Polls `probe` until it returns a value (the daemon is another process: no events to await). */
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined) {
  const deadline = Date.now() + 60_000;
  let lastError: unknown;
  for (;;) {
    // A keep-alive socket the daemon closed as it was reused fails one request: ask again.
    const value = await Promise.resolve()
      .then(probe)
      .catch((error: unknown) => void (lastError = error));
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}`, { cause: lastError });
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lines = (file: string): string[] =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];

async function api<T>(daemon: Daemon, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${daemon.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${daemon.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

describe('kerno up --demo: the research run after kill -9', () => {
  it('resumes at its next step; the steps before it are replayed, not executed again', async () => {
    const { dir, cleanup } = tempDir('kerno-demo-crash-');
    const trace = join(dir, 'demo-research.log');
    let daemon: Daemon | undefined;
    try {
      daemon = await startDaemon(['--demo', '--home', dir, '--log-level', 'error'], ENV);
      // Step 5 of the run (the second source being read) has started: kill the daemon.
      const N = 5;
      await until('step 5 in the trace', () => (lines(trace).length >= N ? true : undefined));
      const first = daemon;
      const killed = new Promise((r) => first.child.once('exit', r));
      first.child.kill('SIGKILL');
      await killed;
      const before = lines(trace);
      const runId = before[0]!.split(' ')[0]!;
      const info0 = await (async () => {
        daemon = await startDaemon(['--demo', '--home', dir, '--log-level', 'error'], ENV);
        return api<{ steps: { key: string }[] }>(daemon, 'GET', `/api/runs/${runId}`);
      })();
      // The journal kept the steps finished before the kill.
      expect(info0.steps.length).toBeGreaterThanOrEqual(N - 1);
      const running = daemon;
      // The run asks to publish: approve it, as a human would in the dashboard.
      const gate = await until('the publish gate', async () => {
        const { approvals } = await api<{
          approvals: { id: string; agentName: string | null; request: { agent_id: string } }[];
        }>(running, 'GET', '/api/approvals');
        return approvals.find((g) => g.request.agent_id === runId);
      });
      await api(running, 'POST', `/api/approvals/${gate.id}/approve`, { note: 'e2e' });
      const done = await until('the run to complete', async () => {
        const run = await api<{
          status: string;
          result?: { published: boolean };
          steps: { key: string; superseded?: boolean }[];
          reopens?: { replayed: string[]; ran: string[] }[];
        }>(running, 'GET', `/api/runs/${runId}`);
        return run.status === 'completed' ? run : undefined;
      });
      expect(done.result).toMatchObject({ published: true });
      const keys = done.steps.filter((s) => s.superseded !== true).map((s) => s.key);
      expect(keys).toHaveLength(12);
      // Executed once each: every step finished before the kill (the one in flight may have run
      // twice — at least once, as the journal promises for a step cut off mid-way).
      const executed = lines(trace)
        .filter((l) => l.startsWith(`${runId} `))
        .map((l) => l.slice(runId.length + 1));
      const finishedBefore = before
        .slice(0, before.length - 1)
        .map((l) => l.slice(runId.length + 1));
      for (const key of finishedBefore) {
        expect({ key, times: executed.filter((k) => k === key).length }).toEqual({ key, times: 1 });
      }
      // The run view says so: reopened once, the finished steps replayed, the rest ran.
      expect(done.reopens).toHaveLength(1);
      expect(done.reopens![0]!.replayed).toEqual(expect.arrayContaining(finishedBefore));
      expect(done.reopens![0]!.ran).toContain('publish');
      // …and the steps after the kill ran in the second daemon.
      expect(executed.length).toBeGreaterThan(before.length);
      expect(executed).toContain('publish');
    } finally {
      await daemon?.stop();
      cleanup();
    }
  }, 180_000);
});

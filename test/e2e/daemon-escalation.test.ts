/**
 * When the root supervisor gives up, `kerno up` must not linger unable to start agents: it
 * exits with code 1 so a process manager restarts it (issue 13).
 */
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/stores.js';

describe('kerno up when the root supervisor gives up', () => {
  it('exits by itself with code 1 (the 503 on /health is pinned in test/server/api.test.ts)', async () => {
    const { dir, cleanup } = tempDir('kerno-escalate-');
    try {
      const daemon = await startDaemon(
        ['--home', dir, '--store', 'memory', '--log-level', 'error'],
        {
          KERNO_REGISTRY_KEY: 'escalation test key',
        },
      );
      const exited = new Promise<number | null>((resolve) => {
        if (daemon.child.exitCode !== null) resolve(daemon.child.exitCode);
        else daemon.child.once('exit', (code) => resolve(code));
      });
      const healthBefore = await fetch(`${daemon.url}/health`);
      expect(healthBefore.status).toBe(200);
      // A permanent agent that crashes at once: the root exceeds its intensity within its window.
      const spawned = await fetch(`${daemon.url}/api/agents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${daemon.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'crasher',
          command: process.execPath,
          args: ['-e', 'process.exit(3)'],
          restart: 'permanent',
          recovery: false,
        }),
      });
      expect(spawned.status).toBeLessThan(300);
      // The daemon's own reaction is the event waited on: it exits by itself, code 1.
      expect(await exited).toBe(1);
      expect(daemon.output()).toContain('escalated: stopping agents');
      expect(daemon.output()).toContain('kerno stopped cleanly.');
    } finally {
      cleanup();
    }
  }, 60_000);
});

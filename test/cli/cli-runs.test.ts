/**
 * `kerno runs …` against a daemon: ls (filters, paging, --json), show, resume, fork, rerun,
 * compare, cancel, signal, tail (exit code from the run's end); `kerno tokens revoke`;
 * `kerno recovery ls`. Agent-controlled text is escaped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type KernoServer } from '../../src/server/app.js';
import type { Kernel } from '../../src/kernel.js';
import type { RunContext } from '../../src/runs/run-context.js';
import { cli } from '../helpers/cli.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_cli_runs_token_0123456789abcdef';
let server: KernoServer;
let kernel: Kernel;
let cleanup: () => Promise<void>;
let base: string[];
let dir: string;
const calls: Record<string, number> = {};

beforeAll(async () => {
  const k = await testKernel({
    define: [
      {
        name: 'writer',
        run: async (ctx: RunContext, input: { topic: string }) => {
          const bump = (key: string): number => (calls[key] = (calls[key] ?? 0) + 1);
          const plan = await ctx.step('plan', () => (bump('plan'), `plan:${input.topic}`), {
            usage: () => ({ tokens: 100, costMicrodollars: 10 }),
          });
          const words = (ctx.config as { words?: number } | undefined)?.words ?? 0;
          const draft = await ctx.step(
            'draft',
            () => {
              bump('draft');
              if (words === 0) throw new Error('no words\u001b[31m');
              return `${plan}:${String(words)}`;
            },
            { usage: () => ({ tokens: words, costMicrodollars: words }) },
          );
          return draft;
        },
      },
      {
        name: 'waiter',
        run: async (ctx: RunContext) => {
          await ctx.step('first', () => 1);
          return ctx.waitForSignal<string>('go');
        },
      },
    ],
  });
  kernel = k.kernel;
  dir = k.dir;
  cleanup = k.cleanup;
  server = await createServer(kernel, { token: TOKEN });
  const { url } = await server.listen({ port: 0 });
  base = ['--url', url, '--token', TOKEN, '--home', dir];
});
afterAll(async () => {
  await server.close();
  await cleanup();
});

describe('kerno runs', () => {
  it('starts, lists, shows, resumes, forks, reruns and compares runs', async () => {
    const started = await cli(
      ...base,
      'runs',
      'start',
      'writer',
      '--input',
      '{"topic":"t"}',
      '--tenant',
      'acme',
    );
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    await kernel.runs.wait(id);

    const tail = await cli(...base, 'runs', 'tail', id);
    expect(tail.code).toBe(1); // failed
    expect(tail.stdout).toContain('✗ draft#1');
    expect(tail.stdout).toContain('no words\\u001b[31m'); // escaped, not a colour
    expect(tail.stdout).not.toContain('\u001b');

    const resumed = await cli(
      ...base,
      'runs',
      'resume',
      id,
      '--config',
      '{"words":5}',
      '--reason',
      'more words',
    );
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('resumed (resume 1)');
    const tailed = await cli(...base, 'runs', 'tail', id, '--interval', '10');
    expect(tailed.code).toBe(0);
    expect(calls).toEqual({ plan: 1, draft: 2 });

    const shown = await cli(...base, 'runs', 'show', id);
    expect(shown.stdout).toContain('tenant   acme');
    expect(shown.stdout).toMatch(/resume 1 .* by daemon token: more words/);
    expect(shown.stdout).toContain('replayed plan#1; ran draft#1');
    expect(shown.stdout).toContain('↻ draft#1');

    const fork = await cli(...base, 'runs', 'fork', id, '--from', '1', '--config', '{"words":2}');
    expect(fork.code).toBe(0);
    const forkId = fork.stdout.split('\n')[0]!;
    expect(fork.stdout).toContain(`fork of ${id} from step draft#1`);
    await kernel.runs.wait(forkId);
    expect(calls).toEqual({ plan: 1, draft: 3 });

    const compare = await cli(...base, 'runs', 'compare', forkId, id);
    expect(compare.code).toBe(0);
    expect(compare.stdout).toContain(
      `winner: ${forkId} (both completed; lower cost (2µ$ vs 15µ$))`,
    );
    expect(compare.stdout).toMatch(/= plan#1\s+✓ copied/);
    const cmpJson = JSON.parse(
      (await cli(...base, 'runs', 'compare', forkId, id, '--json')).stdout,
    ) as {
      winner: string;
    };
    expect(cmpJson.winner).toBe(forkId);

    const badFork = await cli(...base, 'runs', 'fork', id, '--from', 'nope');
    expect(badFork.code).toBe(2);
    expect(badFork.stderr).toContain('0: "plan#1", 1: "draft#1"');

    const rerun = await cli(...base, 'runs', 'rerun', forkId, '--json');
    const rerunId = (JSON.parse(rerun.stdout) as { id: string }).id;
    await kernel.runs.wait(rerunId);
    expect(calls).toEqual({ plan: 2, draft: 4 });

    const ls = await cli(...base, 'runs', 'ls', '--tenant', 'acme');
    expect(ls.stdout).toMatch(/^id\s+agent\s+status\s+tenant/);
    expect(ls.stdout).toContain(`fork of ${id} @ draft#1`);
    expect(ls.stdout).toContain(`rerun of ${forkId}`);
    const page = await cli(...base, 'runs', 'list', '--tenant', 'acme', '--limit', '2', '--json');
    const first = JSON.parse(page.stdout) as { id: string }[];
    expect(first.map((r) => r.id)).toEqual([rerunId, forkId]);
    const cursor = /more: --cursor (\S+)/.exec(page.stderr)?.[1];
    expect(cursor).toBe(forkId);
    const next = await cli(
      ...base,
      'runs',
      'ls',
      '--tenant',
      'acme',
      '--cursor',
      cursor!,
      '--json',
    );
    expect((JSON.parse(next.stdout) as { id: string }[]).map((r) => r.id)).toEqual([id]);
    expect(next.stderr).toBe('');
    const none = await cli(...base, 'runs', 'ls', '-q', 'nothing-like-this');
    expect(none.stdout).toBe('no runs\n');
    const badSince = await cli(...base, 'runs', 'ls', '--since', 'yesterday');
    expect(badSince.code).toBe(2);
  });

  it('tails a live run until a signal ends it; cancel ends another with exit code 1', async () => {
    const { id } = await kernel.start('waiter');
    const waiting = new Promise<void>((resolve) => {
      const off = kernel.runs.onStatus((r) => {
        if (r.id === id && r.status === 'waiting') {
          off();
          resolve();
        }
      });
      if (kernel.runs.find(id)?.status === 'waiting') resolve();
    });
    await waiting;
    const tail = cli(...base, 'runs', 'tail', id, '--interval', '10');
    const sent = await cli(...base, 'runs', 'signal', id, 'go', 'yes');
    expect(sent.code).toBe(0);
    const done = await tail;
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('✓ first#1');
    expect(done.stdout).toContain('completed');

    const other = await kernel.start('waiter');
    const cancelled = await cli(...base, 'runs', 'cancel', other.id, '--reason', 'stop');
    expect(cancelled.stdout).toBe(`${other.id} cancelled\n`);
    expect((await cli(...base, 'runs', 'tail', other.id)).code).toBe(1);
  });
});

describe('kerno tokens revoke and recovery ls', () => {
  it('revokes a token by id or label; the daemon refuses it at once', async () => {
    const created = JSON.parse(
      (await cli(...base, 'tokens', 'create', '--tenant', 'acme', '--label', 'ci', '--json'))
        .stdout,
    ) as { token: string };
    const asTenant = ['--url', base[1]!, '--token', created.token, '--home', dir];
    expect((await cli(...asTenant, 'runs', 'ls', '--json')).code).toBe(0);
    const listed = JSON.parse((await cli(...base, 'tokens', 'ls', '--json')).stdout) as {
      id: string;
      label: string;
    }[];
    const ci = listed.find((t) => t.label === 'ci')!;
    expect(ci.id).toMatch(/^[0-9a-f]{12}$/);
    const missing = await cli(...base, 'tokens', 'revoke', 'no-such-label');
    expect(missing.code).toBe(2);
    const revoked = await cli(...base, 'tokens', 'revoke', 'ci');
    expect(revoked.stdout).toBe(`revoked ${ci.id} (ci)\n`);
    const refused = await cli(...asTenant, 'runs', 'ls');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('not valid');
    expect((await cli(...base, 'tokens', 'revoke', ci.id)).code).toBe(2);
  });

  it('kerno up refuses an unauthenticated metrics port off loopback', async () => {
    const r = await cli('--home', dir, 'up', '--metrics-port', '9', '--metrics-host', '0.0.0.0');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--metrics-public');
    const bad = await cli('--home', dir, 'up', '--metrics-port', 'x');
    expect(bad.code).toBe(2);
  });

  it('recovery ls answers through the daemon', async () => {
    const r = await cli(...base, 'recovery', 'ls');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('no recovery runs\n');
    expect(JSON.parse((await cli(...base, 'recovery', 'ls', '--json')).stdout)).toEqual([]);
  });
});

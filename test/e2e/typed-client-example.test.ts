/**
 * The README's typed-client example runs as written against a real daemon: it appends and
 * queries the ledger, reports a typed NOT_FOUND, and approves the gate it sees requested on the
 * event feed. Needs dist/ (`npx tsc -p tsconfig.build.json`): it imports `kerno/client`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app.js';
import { testKernel } from '../helpers/kernel.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = join(import.meta.dirname, '../..');
const EXAMPLE = join(ROOT, 'examples/typed-client.mjs');
const TOKEN = 'kerno_test_admin_token_0123456789';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe('README typed-client example', () => {
  it('is the file the README shows', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('```js\n' + readFileSync(EXAMPLE, 'utf8') + '```');
  });

  it('runs against a daemon: ledger, a typed error, and an approval from the event feed', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(k.cleanup, () => server.close());
    const { url } = await server.listen({ port: 0 });
    const child = spawn(process.execPath, [EXAMPLE], {
      cwd: ROOT,
      env: { ...process.env, KERNO_URL: url, KERNO_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    cleanups.push(async () => {
      child.kill();
      await exited;
    });
    await waitFor(
      () => server.feed.stats().clients === 1,
      'the example to follow the feed',
      20_000,
    );
    const decision = await k.kernel.approvals.request({ agentId: 'a', summary: 'Ship it?' });
    expect(await exited, err).toBe(0);
    expect(decision).toMatchObject({ approved: true, note: 'approved by the example' });
    expect(out).toContain('records of c1: 1');
    expect(out).toContain('404 NOT_FOUND: ');
    expect(out).toContain(`approved ${decision.id} as daemon token`);
  }, 60_000);
});

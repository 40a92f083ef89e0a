// Each command opens and closes the store (a SQLite store starts a worker thread): seconds each
// on a loaded machine, hence the long timeouts.

/**
 * Every CLI command that reads or changes state works on a store with --store, without a
 * daemon, through the kernel (issue 15): config, modules, approvals, runs, recovery — on SQLite
 * and PostgreSQL — and an oxide-k database through the CLI (read-only without its key, plain
 * rows encrypted in place).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKernel } from '../../src/kernel.js';
import { executeRecoveryLoop } from '../../src/recovery/recovery-loop.js';
import { createFailureSignal, DEFAULT_RECOVERY_POLICY } from '../../src/recovery/recovery-types.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { cli } from '../helpers/cli.js';
import { addPlainOxideRows, writeOxideDatabase } from '../helpers/oxide.js';
import { dropSchema, freshSchema, pgAvailable, pgUrl } from '../helpers/postgres.js';
import { tempDir } from '../helpers/stores.js';

const KEY = 'cli store test registry key';
let dir: string;
let cleanup: () => void;
const schemas: string[] = [];
const savedEnv = { ...process.env };

beforeAll(() => {
  ({ dir, cleanup } = tempDir('kerno-cli-store-'));
});
afterAll(async () => {
  cleanup();
  for (const s of schemas) await dropSchema(s);
});
afterEach(() => {
  for (const name of ['KERNO_REGISTRY_KEY', 'OXIDE_REGISTRY_KEY'])
    if (savedEnv[name] === undefined) delete process.env[name];
    else process.env[name] = savedEnv[name];
});

function json<T>(r: { code: number; stdout: string; stderr: string }): T {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

const stores: [string, () => string][] = [
  ['SQLite', () => `sqlite:${join(dir, `store-${Math.random().toString(36).slice(2)}.db`)}`],
];
if (pgAvailable)
  stores.push([
    'PostgreSQL',
    () => {
      const schema = freshSchema('kerno_cli_store');
      schemas.push(schema);
      return pgUrl(schema);
    },
  ]);

describe.each(stores)('kerno CLI with --store on %s', (_name, newStore) => {
  it('config: set, ls, get (masked, --reveal with the key), delete, encrypt, rotate-key', async () => {
    const url = newStore();
    process.env.KERNO_REGISTRY_KEY = KEY;
    expect((await cli('config', 'set', 'max_threads', '8', '--store', url)).stdout).toBe(
      'set max_threads\n',
    );
    const secretFile = join(dir, 'secret.txt');
    writeFileSync(secretFile, 'sk-live-CLI-STORE-0042\n');
    const set = await cli(
      'config',
      'set',
      'api_token',
      '--secret',
      '--file',
      secretFile,
      '--store',
      url,
    );
    expect(set.stdout).toBe('set api_token (secret)\n');
    await cli('config', 'set', 'region', 'eu-west', '--store', url);

    const ls = json<{ key: string; secret: boolean }[]>(
      await cli('config', 'ls', '--store', url, '--json'),
    );
    expect(ls.map((c) => [c.key, c.secret])).toEqual([
      ['api_token', true],
      ['max_threads', false],
      ['region', false],
    ]);
    const table = await cli('config', 'ls', '--store', url);
    expect(table.stdout).toMatch(/^key\s+secret\s+updated/);
    expect(table.stdout).not.toContain('sk-live');

    // The same shape the daemon answers: a secret masked unless revealed.
    const masked = json<Record<string, unknown>>(
      await cli('config', 'get', 'api_token', '--store', url, '--json'),
    );
    expect(masked).toMatchObject({ key: 'api_token', secret: true, value: null, revealed: false });
    expect(Object.keys(masked).sort()).toEqual(['key', 'revealed', 'secret', 'updatedAt', 'value']);
    const maskedText = await cli('config', 'get', 'api_token', '--store', url);
    expect(maskedText.stdout).toContain('is a secret');
    expect(maskedText.stdout).not.toContain('sk-live');
    const revealed = await cli('config', 'get', 'api_token', '--reveal', '--store', url);
    expect(revealed.stdout).toBe('"sk-live-CLI-STORE-0042"\n');
    expect(json(await cli('config', 'get', 'max_threads', '--store', url, '--json'))).toMatchObject(
      {
        value: 8,
        secret: false,
      },
    );

    // Without the key: the secret cannot be revealed (exit 2, names the variable).
    delete process.env.KERNO_REGISTRY_KEY;
    const noKey = await cli('config', 'get', 'api_token', '--reveal', '--store', url);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('KEY_REQUIRED');
    expect(noKey.stderr).toContain('KERNO_REGISTRY_KEY');
    process.env.KERNO_REGISTRY_KEY = KEY;

    const missing = await cli('config', 'get', 'nope', '--store', url);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('CONFIG_NOT_FOUND');

    expect(json(await cli('config', 'encrypt', 'region', '--store', url, '--json'))).toEqual({
      encrypted: 1,
      keys: ['region'],
    });
    const usage = await cli('config', 'encrypt', '--store', url);
    expect(usage.code).toBe(2);
    expect((await cli('config', 'encrypt', '--all-plain', '--store', url)).stdout).toBe(
      'encrypted 1 value(s): max_threads\n',
    );
    expect((await cli('config', 'encrypt', '--all-plain', '--store', url)).stdout).toBe(
      'no plain values to encrypt\n',
    );

    const keyFile = join(dir, 'new.key');
    writeFileSync(keyFile, 'the next registry key\n');
    const rotated = json<{ reencrypted: number; keyVersion: number }>(
      await cli('config', 'rotate-key', '--new-key-file', keyFile, '--store', url, '--json'),
    );
    expect(rotated).toEqual({ reencrypted: 3, keyVersion: 2 });
    process.env.KERNO_REGISTRY_KEY = 'the next registry key';
    expect((await cli('config', 'get', 'region', '--reveal', '--store', url)).stdout).toBe(
      '"eu-west"\n',
    );

    expect((await cli('config', 'delete', 'region', '--store', url)).stdout).toBe(
      'deleted region\n',
    );
    const again = await cli('config', 'delete', 'region', '--store', url);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('no value region\n');

    // Every change is on the store's audit trail, without values.
    const exported = await cli('audit', 'export', '--store', url);
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain('api_token');
    expect(exported.stdout).not.toContain('sk-live');
    expect(exported.stdout).not.toContain('eu-west');
  }, 300_000);

  it('modules ls, approvals ls/approve/reject, runs list/show, recovery ls/get', async () => {
    const url = newStore();
    // State left by a kernel that ran on this store earlier.
    const kernel = await createKernel({
      store: url,
      bus: 'memory',
      learningFile: null,
      logger: silentLogger,
      registryKey: KEY,
      registryScryptCost: 1024,
    });
    let gates: string[];
    let runId: string;
    try {
      await kernel.registry.upsertModule(
        { id: 'mirror', name: 'Mirror', version: '0.1.0', kind: 'native' },
        'running',
      );
      gates = [
        (await kernel.approvals.open({ agentId: 'agent-a', summary: 'Deploy to prod?' })).id,
        (await kernel.approvals.open({ agentId: 'agent-b', summary: 'Drop the table?' })).id,
      ];
      kernel.define({
        name: 'echo',
        run: async (ctx, input: unknown) => ctx.step('copy', () => input),
      });
      const run = await kernel.start('echo', { n: 1 });
      runId = run.id;
      await run.result();
      const log = await executeRecoveryLoop(
        'recovery-run-1',
        createFailureSignal('test', 'assertion failed'),
        DEFAULT_RECOVERY_POLICY,
        async () => ({ success: true, next_failure: null }),
        { clock: new ManualClock() },
      );
      await kernel.recoveries.record('mirror', log);
    } finally {
      await kernel.close();
    }

    const modules = json<{ id: string; state: string }[]>(
      await cli('modules', 'ls', '--store', url, '--json'),
    );
    expect(modules.map((m) => [m.id, m.state])).toEqual([['mirror', 'running']]);
    expect((await cli('modules', 'ls', '--store', url)).stdout).toMatch(
      /^id\s+name\s+version\s+kind\s+state\s+updated\n.*mirror\s+Mirror\s+0\.1\.0\s+native\s+running/s,
    );

    const pending = json<{ id: string; request: { summary: string } }[]>(
      await cli('approvals', 'ls', '--store', url, '--json'),
    );
    expect(pending.map((g) => g.request.summary).sort()).toEqual([
      'Deploy to prod?',
      'Drop the table?',
    ]);
    expect((await cli('approvals', 'ls', '--store', url)).stdout).toContain('Deploy to prod?');
    const approved = await cli('approvals', 'approve', gates[0]!, '--note', 'ok', '--store', url);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(/^approved .* by cli --store \(/);
    const rejected = json<{ approved: boolean; reason: string }>(
      await cli(
        'approvals',
        'reject',
        gates[1]!,
        '--reason',
        'not today',
        '--store',
        url,
        '--json',
      ),
    );
    expect(rejected).toMatchObject({ approved: false, reason: 'not today' });
    const twice = await cli('approvals', 'approve', gates[0]!, '--store', url);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('CONFLICT');
    expect((await cli('approvals', 'ls', '--store', url)).stdout).toBe('no pending approvals\n');
    const all = json<{ status: string }[]>(
      await cli('approvals', 'ls', '--all', '--store', url, '--json'),
    );
    expect(all.map((g) => g.status).sort()).toEqual(['approved', 'rejected']);
    // The decisions are in the ledger the daemon would use.
    const ledger = json<{ event: { type: string } }[]>(
      await cli('ledger', 'query', '--kinds', 'GateDecisionRecorded', '--store', url, '--json'),
    );
    expect(ledger).toHaveLength(2);

    const runs = json<{ id: string; status: string }[]>(
      await cli('runs', 'list', '--store', url, '--json'),
    );
    expect(runs).toMatchObject([{ id: runId!, status: 'completed' }]);
    expect((await cli('runs', 'list', '--status', 'failed', '--store', url)).stdout).toBe(
      'no runs\n',
    );
    const badStatus = await cli('runs', 'list', '--status', 'nope', '--store', url);
    expect(badStatus.code).toBe(2);
    const shown = await cli('runs', 'show', runId!, '--store', url);
    expect(shown.stdout).toContain('status   completed');
    expect(shown.stdout).toContain('✓ copy');

    const recoveries = json<{ agent: string; log: { run_id: string } }[]>(
      await cli('recovery', 'ls', '--store', url, '--json'),
    );
    expect(recoveries.map((r) => [r.agent, r.log.run_id])).toEqual([['mirror', 'recovery-run-1']]);
    expect(
      json<unknown[]>(await cli('recovery', 'ls', '--agent', 'other', '--store', url, '--json')),
    ).toEqual([]);
    const got = await cli('recovery', 'get', 'recovery-run-1', '--store', url);
    expect(got.stdout).toContain('agent      mirror');
    expect(got.stdout).toContain('outcome    recovered');
    const none = await cli('recovery', 'get', 'no-such-run', '--store', url);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('NOT_FOUND');
  }, 300_000);
});

describe('kerno CLI on an oxide-k database with --store', () => {
  const OXIDE_KEY = 'oxide cli key';

  function rawConfig(file: string): Record<string, string> {
    const db = new Database(file, { readonly: true });
    const rows = db.prepare('SELECT key, value FROM config ORDER BY key').all() as {
      key: string;
      value: string;
    }[];
    db.close();
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  it('is read-only for config without its key, and encrypts plain rows in place with it', async () => {
    const file = join(dir, 'oxide.db');
    writeOxideDatabase(file, OXIDE_KEY);
    addPlainOxideRows(file, { legacy_threads: '4' });
    const url = `sqlite:${file}`;
    delete process.env.OXIDE_REGISTRY_KEY;
    delete process.env.KERNO_REGISTRY_KEY;

    const ls = json<{ key: string; secret: boolean }[]>(
      await cli('config', 'ls', '--store', url, '--json'),
    );
    expect(Object.fromEntries(ls.map((c) => [c.key, c.secret]))).toEqual({
      api_token: true,
      legacy_threads: false,
      max_threads: true,
    });
    expect((await cli('config', 'get', 'legacy_threads', '--store', url)).stdout).toBe('4\n');
    const before = rawConfig(file);
    for (const args of [
      ['config', 'set', 'api_token', 'plain-over-cipher'],
      ['config', 'delete', 'max_threads'],
    ]) {
      const r = await cli(...args, '--store', url);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('KEY_REQUIRED');
      expect(r.stderr).toContain('OXIDE_REGISTRY_KEY');
      expect(r.stderr).toContain('read-only');
    }
    expect(rawConfig(file)).toEqual(before);
    const noKey = await cli('config', 'encrypt', '--all-plain', '--store', url);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('OXIDE_REGISTRY_KEY');

    process.env.OXIDE_REGISTRY_KEY = OXIDE_KEY;
    expect((await cli('config', 'get', 'api_token', '--reveal', '--store', url)).stdout).toBe(
      '"my-super-secret-token"\n',
    );
    expect(json(await cli('config', 'encrypt', '--all-plain', '--store', url, '--json'))).toEqual({
      encrypted: 1,
      keys: ['legacy_threads'],
    });
    expect(json(await cli('config', 'encrypt', '--all-plain', '--store', url, '--json'))).toEqual({
      encrypted: 0,
      keys: [],
    });
    const after = rawConfig(file);
    expect(after.api_token).toBe(before.api_token);
    expect(after.legacy_threads).not.toBe('4');
    expect((await cli('config', 'get', 'legacy_threads', '--reveal', '--store', url)).stdout).toBe(
      '4\n',
    );
    expect(
      json<{ secret: boolean }[]>(await cli('config', 'ls', '--store', url, '--json')).every(
        (c) => c.secret,
      ),
    ).toBe(true);
    // With the key the database is writable again, in oxide-k's format.
    expect((await cli('config', 'set', 'max_threads', '16', '--store', url)).code).toBe(0);
    expect(
      json<{ id: string }[]>(await cli('modules', 'ls', '--store', url, '--json')).map((m) => m.id),
    ).toEqual(['mirror']);
  }, 300_000);
});

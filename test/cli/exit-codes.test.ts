import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, EXIT_CODES, exitCodeFor } from '../../src/cli/exit-codes.js';
import { ERROR_HINTS, KERNEL_ERROR_CODES, KernelError } from '../../src/errors.js';
import { createServer, type KernoServer } from '../../src/server/app.js';
import { createToken } from '../../src/server/auth.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { cli } from '../helpers/cli.js';
import { testKernel } from '../helpers/kernel.js';
import type { Kernel } from '../../src/kernel.js';

describe('exit codes for every error code', () => {
  it.each(KERNEL_ERROR_CODES)('%s has an exit code', (code) => {
    expect(Object.values(EXIT)).toContain(EXIT_CODES[code]);
    expect(exitCodeFor(new KernelError(code, 'm'))).toBe(EXIT_CODES[code]);
  });

  it('maps bad input to 2, what cannot be reached or opened to 3, found failures to 1', () => {
    expect(EXIT_CODES.WRONG_KEY).toBe(EXIT.USAGE);
    expect(EXIT_CODES.KEY_REQUIRED).toBe(EXIT.USAGE);
    expect(EXIT_CODES.UNKNOWN_AGENT).toBe(EXIT.USAGE);
    expect(EXIT_CODES.SCHEMA_TOO_NEW).toBe(EXIT.UNREACHABLE);
    expect(EXIT_CODES.DECRYPT_FAILED).toBe(EXIT.FAILURE_FOUND);
    expect(exitCodeFor(new Error('not ours'))).toBe(EXIT.FAILURE_FOUND);
  });
});

describe('a CLI user gets the exit code and a message that says what to do', () => {
  const TOKEN = 'kerno_exit_test_token_0123456789abcdef';
  let kernel: Kernel;
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: KernoServer;
  let url: string;

  beforeAll(async () => {
    const k = await testKernel();
    ({ kernel, dir, cleanup } = k);
    server = await createServer(kernel, { token: TOKEN });
    ({ url } = await server.listen({ port: 0 }));
  });
  afterAll(async () => {
    await server.close();
    await cleanup();
  });

  it('DECRYPT_FAILED from the daemon: exit 1, names the secret and the key variable', async () => {
    await kernel.registry.setConfig('db_password', 'hunter2', { secret: true });
    const stored = (await kernel.storage.registry.getConfig('db_password'))!;
    const flip = stored.value.at(-2) === 'A' ? 'B' : 'A';
    await kernel.storage.registry.setConfig({
      ...stored,
      value: stored.value.slice(0, -2) + flip + stored.value.slice(-1),
    });
    const { token } = createToken(dir, { scope: 'reveal' });
    const r = await cli('--url', url, '--token', token, 'config', 'get', 'db_password', '--reveal');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DECRYPT_FAILED');
    expect(r.stderr).toContain('db_password');
    expect(r.stderr).toContain('KERNO_REGISTRY_KEY');
    expect(r.stderr).not.toContain('see its log');
    expect(r.stderr).not.toContain('hunter2');
  });

  it('CONFIG_NOT_FOUND from the daemon: exit 2 with the hint', async () => {
    const r = await cli('--url', url, '--token', TOKEN, 'config', 'get', 'no_such_key');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CONFIG_NOT_FOUND');
    expect(r.stderr).toContain(ERROR_HINTS.CONFIG_NOT_FOUND);
  });

  it('SCHEMA_TOO_NEW from a store written by a newer kerno: exit 3, says to upgrade', async () => {
    const file = join(dir, 'newer.db');
    await (await openStorage(`sqlite:${file}`)).close();
    const db = new Database(file);
    const version = db.pragma('user_version', { simple: true }) as number;
    db.pragma(`user_version = ${version + 1}`);
    db.close();
    const r = await cli('ledger', 'query', '--store', `sqlite:${file}`);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('SCHEMA_TOO_NEW');
    expect(r.stderr).toMatch(/upgrade kerno/i);
  });
});

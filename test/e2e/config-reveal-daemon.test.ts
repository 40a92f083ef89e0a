/**
 * `kerno config get --reveal` against the real daemon (issue 15): a token without the reveal
 * scope gets exit 1 and the command that creates the right token, never `value: null` and exit
 * 0; a reveal-scope token gets the value; `config encrypt` works through the API; the daemon's own output never holds the secret.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/stores.js';

const BIN = join(import.meta.dirname, '../../bin/kerno.js');
const SECRET = 'sk-live-E2E-REVEAL-0042';

/** Runs the built binary; resolves with its exit code and output (never rejects on exit ≠ 0). */
function kerno(
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

describe('config get --reveal against kerno up', () => {
  it('exits 1 naming `kerno tokens create --reveal` without the scope; reveals with it', async () => {
    const { dir, cleanup } = tempDir('kerno-reveal-');
    const daemon = await startDaemon(
      ['--home', dir, '--store', `sqlite:${join(dir, 'kerno.db')}`, '--log-level', 'error'],
      { KERNO_REGISTRY_KEY: 'reveal e2e registry key' },
    );
    try {
      const base = ['--url', daemon.url, '--home', dir];
      const admin = [...base, '--token', daemon.token];
      const set = await kerno([...admin, 'config', 'set', 'api_token', '-', '--secret'], SECRET);
      expect(set.code, set.stderr).toBe(0);

      // config encrypt through the daemon: the same answer as with --store.
      expect((await kerno([...admin, 'config', 'set', 'region', 'eu-west'])).code).toBe(0);
      const encrypted = await kerno([...admin, 'config', 'encrypt', '--all-plain', '--json']);
      expect(encrypted.code, encrypted.stderr).toBe(0);
      expect(JSON.parse(encrypted.stdout)).toEqual({ encrypted: 1, keys: ['region'] });

      const masked = await kerno([...admin, 'config', 'get', 'api_token', '--json']);
      expect(masked.code).toBe(0);
      expect(JSON.parse(masked.stdout)).toMatchObject({ secret: true, value: null });

      const refused = await kerno([...admin, 'config', 'get', 'api_token', '--reveal']);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain('FORBIDDEN');
      expect(refused.stderr).toContain('kerno tokens create --reveal');
      expect(refused.stderr).not.toContain(SECRET);

      const created = await kerno([...base, 'tokens', 'create', '--reveal', '--json']);
      expect(created.code, created.stderr).toBe(0);
      const { token } = JSON.parse(created.stdout) as { token: string };
      const revealed = await kerno([
        ...base,
        '--token',
        token,
        'config',
        'get',
        'api_token',
        '--reveal',
      ]);
      expect(revealed.code, revealed.stderr).toBe(0);
      expect(revealed.stdout).toBe(`"${SECRET}"\n`);
    } finally {
      await daemon.stop();
      expect(daemon.output()).not.toContain(SECRET);
      cleanup();
    }
  }, 120_000);
});

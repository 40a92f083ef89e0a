/**
 * A read-only SQLite store is refused at open (so the daemon does not start and `doctor` says
 * the store fails), instead of a daemon that says "up" and 503s every write. Made read-only
 * with the immutable attribute (`chattr +i`), which holds even for root; skipped where that is
 * not available.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/open-storage.js';
import { cli } from '../helpers/cli.js';

function chattr(flag: '+i' | '-i', file: string): boolean {
  try {
    execFileSync('chattr', [flag, file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const probeDir = mkdtempSync(join(tmpdir(), 'kerno-ro-probe-'));
const probeFile = join(probeDir, 'p');
writeFileSync(probeFile, '');
const immutable = chattr('+i', probeFile) && chattr('-i', probeFile);
rmSync(probeDir, { recursive: true, force: true });

describe.skipIf(!immutable)('a read-only SQLite store', () => {
  let dir: string;
  let file: string;
  afterEach(() => {
    chattr('-i', file);
    chattr('-i', dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused at open with a clear STORAGE_ERROR, and doctor reports the store failing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kerno-ro-'));
    file = join(dir, 'k.db');
    const url = `sqlite:${file}`;
    const s = await openStorage(url);
    await s.log.append('audit', [{ timeMs: 1, body: '{}' }]);
    await s.close();
    expect(chattr('+i', file)).toBe(true);

    await expect(openStorage(url)).rejects.toMatchObject({
      code: 'STORAGE_ERROR',
      message: expect.stringMatching(/read-only/) as unknown as string,
    });
    const d = await cli('--home', dir, 'doctor', '--store', url, '--json');
    const { checks } = JSON.parse(d.stdout) as { checks: { check: string; status: string }[] };
    expect(checks.find((c) => c.check === 'store')?.status).toBe('fail');
  });
});

import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createAuditTrail, createMemoryLog } from '../../src/index.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/kerno.js');

async function kerno(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('kerno CLI (the built binary)', () => {
  it('prints its version and help', async () => {
    const v = await kerno('--version');
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const h = await kerno('--help');
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('Usage: kerno');
    expect(h.stdout).toContain('audit');
  });

  it('exits 2 on usage errors', async () => {
    expect((await kerno('no-such-command')).code).toBe(2);
    expect((await kerno()).code).toBe(2);
    expect((await kerno('audit', 'verify', '--head', 'not-a-head')).code).toBe(2);
    expect((await kerno('ledger', 'query', '--nope')).code).toBe(2);
  });

  it('exits 3 when no daemon answers', async () => {
    const res = await kerno('--url', 'http://127.0.0.1:9', 'audit', 'verify');
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('kerno up');
  });

  it('verifies a kerno audit export: 0 when intact, 1 when altered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kerno-cli-'));
    const trail = createAuditTrail({ log: createMemoryLog() });
    for (let i = 0; i < 3; i++)
      await trail.append('a', { type: 'Other', data: { detail: String(i) } }, 'r');
    const doc = await trail.export();
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(doc));
    const ok = await kerno('audit', 'verify', '--export', good);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('3 entries verify');
    const bad = join(dir, 'bad.json');
    const altered = JSON.parse(JSON.stringify(doc)) as { entries: { resource: string }[] };
    altered.entries[1]!.resource = 'x';
    writeFileSync(bad, JSON.stringify(altered));
    const broken = await kerno('audit', 'verify', '--export', bad, '--json');
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, seq: 2 });
    const missing = await kerno('audit', 'verify', '--oxios', join(dir, 'nope.json'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Cannot read');
  });
});

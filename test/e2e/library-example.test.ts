/**
 * The README's library example runs as written: the code block is extracted from the README,
 * saved as a file in a fresh project whose `node_modules/kerno` is this package (built), and run
 * with `node` — with a daemon of the default home up at the same time (no STORE_LOCKED).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/stores.js';

const ROOT = join(import.meta.dirname, '../..');

function readmeBlock(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('```js\n', readme.indexOf('## Library'));
  const end = readme.indexOf('```\n', start + 6);
  return readme.slice(start + 6, end);
}

function run(file: string, cwd: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, [file], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('README library example', () => {
  it('is examples/library.mjs', () => {
    expect(readmeBlock()).toBe(readFileSync(join(ROOT, 'examples/library.mjs'), 'utf8'));
  });

  it('runs as written with node, next to a running daemon', async () => {
    const project = tempDir('kerno-readme-');
    const home = tempDir('kerno-readme-home-');
    const daemon = await startDaemon(['--home', home.dir, '--log-level', 'error'], {
      KERNO_REGISTRY_KEY: 'readme test key',
    });
    try {
      mkdirSync(join(project.dir, 'node_modules'));
      symlinkSync(ROOT, join(project.dir, 'node_modules', 'kerno'), 'dir');
      writeFileSync(join(project.dir, 'example.mjs'), readmeBlock());
      // KERNO_HOME points at the daemon's home: the example must not need (or lock) it.
      const { code, out, err } = await run('example.mjs', project.dir, { KERNO_HOME: home.dir });
      expect({ code, err }).toEqual({ code: 0, err: '' });
      expect(out).toContain('agent: done');
      expect(out).toContain('t1 outcomes: 1');
      expect(out).toContain('ledger: OutcomeRecorded');
      expect(out).toContain('audit ok: true');
      expect(out).toContain('secret: true');
    } finally {
      await daemon.stop();
      home.cleanup();
      project.cleanup();
    }
  }, 60_000);
});

/**
 * The README's durable-run example runs as written: killed with SIGKILL after its second step,
 * run again, it finishes without doing the finished steps again.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/stores.js';

const ROOT = join(import.meta.dirname, '../..');
const EXAMPLE = join(ROOT, 'examples/durable-run.mjs');

/**
 * Runs the example in `cwd`; kills it `afterMs` after its output contains `killOn` (a point
 * inside the example's 3 s sleep, when the step before it is long recorded).
 */
function run(cwd: string, killOn?: string, afterMs = 0): Promise<{ out: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [EXAMPLE], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (killOn !== undefined && out.includes(killOn)) {
        killOn = undefined;
        setTimeout(() => child.kill('SIGKILL'), afterMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ out, killed: true });
      else if (code === 0) resolve({ out, killed: false });
      else reject(new Error(`example exited with ${String(code)}: ${err}`));
    });
  });
}

describe('README durable-run example', () => {
  it('is the file the README shows', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('```js\n' + readFileSync(EXAMPLE, 'utf8') + '```');
  });

  it('survives kill -9 and does not redo finished steps', async () => {
    const { dir, cleanup } = tempDir('kerno-example-');
    try {
      const first = await run(dir, 'reading 2 sources', 1000);
      expect(first.killed).toBe(true);
      expect(first.out).toContain('searching for durable agents');
      const second = await run(dir);
      expect(second.out).not.toContain('searching');
      expect(second.out).not.toContain('reading');
      expect(second.out).toContain('writing the report');
      expect(second.out).toContain("result: { topic: 'durable agents', lines: 2 }");
      expect(second.out).toContain('steps: search#1, read#1, write#1');
    } finally {
      cleanup();
    }
  }, 60_000);
});

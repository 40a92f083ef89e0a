/**
 * Process agents survive a `kill -9` of the daemon (no exit hook runs); the kernel records
 * their process groups in the state folder and the next start reaps them — never a group whose
 * leader pid now belongs to another process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createKernel } from '../../src/kernel.js';
import { processStartTime } from '../../src/supervisor/process-groups.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from '../helpers/stores.js';

const linux = process.platform === 'linux';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function survivor(): { child: ChildProcess; exited: Promise<NodeJS.Signals | null> } {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  cleanups.push(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  );
  return { child, exited };
}

async function kernelIn(dir: string) {
  const kernel = await createKernel({
    store: 'memory:',
    stateDir: dir,
    logger: silentLogger,
    registryKey: 'k',
    registryScryptCost: 1024,
  });
  cleanups.push(() => kernel.close());
  return kernel;
}

describe.skipIf(!linux)('process groups across a crash', () => {
  it('reaps on start the recorded groups a crashed kernel left running', async () => {
    const { dir, cleanup } = tempDir('kerno-pg-');
    cleanups.push(cleanup);
    const left = survivor();
    const pid = left.child.pid!;
    writeFileSync(
      join(dir, 'agent-groups.json'),
      JSON.stringify([{ pgid: pid, start: processStartTime(pid) }]),
    );
    await kernelIn(dir);
    expect(await left.exited).toBe('SIGKILL');
    expect(JSON.parse(readFileSync(join(dir, 'agent-groups.json'), 'utf8'))).toEqual([]);
  });

  it('leaves alone a group whose leader pid was reused (start time differs)', async () => {
    const { dir, cleanup } = tempDir('kerno-pg-');
    cleanups.push(cleanup);
    const other = survivor();
    const pid = other.child.pid!;
    writeFileSync(join(dir, 'agent-groups.json'), JSON.stringify([{ pgid: pid, start: '1' }]));
    await kernelIn(dir);
    expect(() => process.kill(pid, 0)).not.toThrow();
  });

  it('records a running process agent group and forgets it when the agent ends', async () => {
    const { dir, cleanup } = tempDir('kerno-pg-');
    cleanups.push(cleanup);
    const kernel = await kernelIn(dir);
    const agent = await kernel.supervisor.spawn({
      name: 'sleeper',
      restart: 'temporary',
      command: 'sleep',
      args: ['60'],
    });
    const file = join(dir, 'agent-groups.json');
    const pid = kernel.supervisor.get(agent.id)?.pid;
    expect(typeof pid).toBe('number');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([
      { pgid: pid, start: processStartTime(pid!) },
    ]);
    await agent.kill();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([]);
  });
});

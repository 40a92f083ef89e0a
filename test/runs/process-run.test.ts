/**
 * Durable runs of process agents (src/runs/process-run.ts) with real processes on a real SQLite
 * store: the examples run to the end, a process killed mid-step replays without redoing its
 * finished steps (and its definition comes back from the store), a long sleep suspends and
 * stops the process, a signal reaches it, and broken processes fail the run clearly.
 */
import { execFileSync } from 'node:child_process';
import { waitFor } from '../helpers/wait.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel.js';
import type { RunInfo } from '../../src/runs/run-engine.js';
import { validateProcessDefinition } from '../../src/runs/process-run.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from '../helpers/stores.js';

const EXAMPLES = join(import.meta.dirname, '../../examples/agents');

/** A Node script speaking the protocol: `recv()` awaits the next kernel message. */
function script(body: string): string[] {
  const prelude = `
    const rl = require('node:readline').createInterface({ input: process.stdin });
    const q = []; const w = [];
    rl.on('line', (l) => { const m = JSON.parse(l); const n = w.shift(); n ? n(m) : q.push(m); });
    const recv = () => q.length ? Promise.resolve(q.shift()) : new Promise((r) => w.push(r));
    const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
    const fs = require('node:fs');
    (async () => { ${body} })();`;
  return ['-e', prelude];
}

function hasPython(): boolean {
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Waits until `check` holds (for side effects in files). */
async function eventually(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  await waitFor(() => check(), what, ms);
}

/** Resolves once the kernel reports run `id` in `status`. */
function reaches(kernel: Kernel, id: string, status: string): Promise<void> {
  return new Promise((resolve) => {
    const off = kernel.runs.onStatus((run) => {
      if (run.id === id && run.status === status) {
        off();
        resolve();
      }
    });
  });
}

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('durable process agents', () => {
  let dir: string;
  let cleanup: () => void;
  let kernel: Kernel | undefined;
  const open = async (clock?: ManualClock): Promise<Kernel> => {
    kernel = await createKernel({
      store: `sqlite:${join(dir, 'kerno.db')}`,
      stateDir: dir,
      logger: silentLogger,
      registryKey: 'test registry key',
      registryScryptCost: 1024,
      ...(clock === undefined ? {} : { clock }),
    });
    return kernel;
  };

  beforeEach(() => {
    ({ dir, cleanup } = tempDir('kerno-process-run-'));
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    cleanup();
  });

  it('runs the Node example to the end, each step once, idempotency keys per step', async () => {
    const k = await open();
    const out = join(dir, 'steps.txt');
    await k.define({
      name: 'steps',
      process: {
        command: process.execPath,
        args: [join(EXAMPLES, 'durable-steps.mjs')],
        env: { DURABLE_STEPS_FILE: out, DURABLE_STEPS: '3', DURABLE_WORK_MS: '0' },
      },
    });
    const run = await k.start('steps', { topic: 'x' });
    expect(await run.result()).toEqual({ steps: 3, input: { topic: 'x' } });
    expect(lines(out)).toEqual([
      `step-1 ${run.id}:step-1`,
      `step-2 ${run.id}:step-2`,
      `step-3 ${run.id}:step-3`,
    ]);
    const info = await k.runs.get(run.id);
    expect(info.steps.map((s) => [s.key, s.status])).toEqual([
      ['step-1', 'completed'],
      ['step-2', 'completed'],
      ['step-3', 'completed'],
    ]);
  });

  it.skipIf(!hasPython())('runs the Python example to the end', async () => {
    const k = await open();
    const out = join(dir, 'py.txt');
    await k.define({
      name: 'py-steps',
      process: {
        command: 'python3',
        args: [join(EXAMPLES, 'durable-steps.py')],
        env: { DURABLE_STEPS_FILE: out, DURABLE_STEPS: '2', DURABLE_WORK_MS: '0' },
      },
    });
    const run = await k.start('py-steps', 7);
    expect(await run.result()).toEqual({ steps: 2, input: 7 });
    expect(lines(out)).toEqual([`step-1 ${run.id}:step-1`, `step-2 ${run.id}:step-2`]);
  });
  if (!hasPython()) console.warn('python3 is missing: the Python example test is skipped');

  it('a process killed mid-step replays after a restart: finished steps are not asked to run again', async () => {
    const out = join(dir, 'effects.txt');
    const once = join(dir, 'hung-once');
    // Step 2 hangs the first time (the kernel is then closed, killing the process).
    const body = `
      const run = await recv();
      const results = [];
      for (let i = 1; i <= 3; i++) {
        const key = 'step-' + i;
        send({ type: 'step', key });
        let r = await recv();
        if (r.type === 'step.run') {
          fs.appendFileSync(process.env.OUT, key + '\\n');
          if (i === 2 && !fs.existsSync(process.env.ONCE)) {
            fs.writeFileSync(process.env.ONCE, String(process.pid));
            await new Promise(() => {});
          }
          send({ type: 'step.result', key, result: key + '@' + run.attempt });
          r = await recv();
        }
        results.push(r.result);
      }
      send({ type: 'result', value: results });`;
    let k = await open();
    await k.define({
      name: 'replayer',
      process: { command: process.execPath, args: script(body), env: { OUT: out, ONCE: once } },
    });
    const { id } = await k.start('replayer');
    await eventually(() => existsSync(once) && readFileSync(once, 'utf8') !== '', 'step 2');
    const pid = Number(readFileSync(once, 'utf8'));
    await k.close();
    kernel = undefined;
    await eventually(() => !alive(pid), 'the process to be stopped');

    // No define: the stored definition comes back with the store, and the run resumes.
    k = await open();
    const info: RunInfo = await k.runs.wait(id);
    expect(info.status).toBe('completed');
    expect(info.result).toEqual(['step-1@1', 'step-2@1', 'step-3@1']);
    expect(lines(out)).toEqual(['step-1', 'step-2', 'step-2', 'step-3']);
  });

  it('a long sleep suspends the run and stops the process; the clock wakes it', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 1));
    const k = await open(clock);
    const out = join(dir, 'sleep.txt');
    const pids = join(dir, 'pids.txt');
    const body = `
      fs.appendFileSync(process.env.PIDS, process.pid + '\\n');
      await recv();
      send({ type: 'step', key: 'before' });
      let r = await recv();
      if (r.type === 'step.run') {
        fs.appendFileSync(process.env.OUT, 'before\\n');
        send({ type: 'step.result', key: 'before', result: 1 });
        r = await recv();
      }
      send({ type: 'sleep', ms: 3600000 });
      const s = await recv();
      send({ type: 'result', value: s.type });`;
    await k.define({
      name: 'sleeper',
      process: { command: process.execPath, args: script(body), env: { OUT: out, PIDS: pids } },
    });
    const { id } = await k.start('sleeper');
    await reaches(k, id, 'sleeping');
    const first = Number(lines(pids)[0]);
    await eventually(() => !alive(first), 'the sleeping process to be stopped');
    expect((await k.runs.get(id)).waitingFor?.kind).toBe('sleep');

    const done = k.runs.wait(id);
    clock.advance(3_600_000);
    const info = await done;
    expect(info.result).toBe('slept');
    expect(lines(out)).toEqual(['before']);
    expect(lines(pids)).toHaveLength(2);
  });

  it('delivers a signal to a waiting process, and a wait that times out says so', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 1));
    const k = await open(clock);
    const body = `
      await recv();
      send({ type: 'wait', name: 'go' });
      const a = await recv();
      send({ type: 'wait', name: 'late', timeoutMs: 60000 });
      const b = await recv();
      send({ type: 'result', value: [a, b] });`;
    await k.define({ name: 'waiter', process: { command: process.execPath, args: script(body) } });
    const { id } = await k.start('waiter');
    await reaches(k, id, 'waiting');
    // The second wait: the run executes again after the signal, then waits on 'late'.
    const again = new Promise<void>((resolve) => {
      let ran = false;
      const off = k.runs.onStatus((run) => {
        if (run.id !== id) return;
        if (run.status === 'running') ran = true;
        else if (ran && run.status === 'waiting') {
          off();
          resolve();
        }
      });
    });
    await k.signal(id, 'go', { answer: 42 });
    await again;
    const done = k.runs.wait(id);
    clock.advance(60_000);
    const info = await done;
    expect(info.result).toEqual([
      { type: 'signal', name: 'go', payload: { answer: 42 } },
      { type: 'wait.timeout', name: 'late' },
    ]);
  });

  it('a malformed line fails the run with a PROTOCOL_ERROR naming the line', async () => {
    const k = await open();
    const body = `
      await recv();
      send({ type: 'output', text: 'fine' });
      process.stdout.write('{"type":"step"\\n');
      await new Promise(() => {});`;
    await k.define({ name: 'broken', process: { command: process.execPath, args: script(body) } });
    const { id } = await k.start('broken');
    const info = await k.runs.wait(id);
    expect(info.status).toBe('failed');
    expect(info.error?.code).toBe('PROTOCOL_ERROR');
    expect(info.error?.message).toContain('stdout line 2: not JSON');
  });

  it('a non-zero exit fails the run with the escaped stderr tail; no KERNO_* variables leak', async () => {
    process.env['KERNO_TEST_SECRET'] = 'do-not-pass';
    try {
      const k = await open();
      const body = `
        await recv();
        process.stderr.write('secret=' + (process.env.KERNO_TEST_SECRET ?? 'none') + ' boom\\u001b[31m\\n');
        process.exit(3);`;
      await k.define({ name: 'crash', process: { command: process.execPath, args: script(body) } });
      const { id } = await k.start('crash');
      const info = await k.runs.wait(id);
      expect(info.status).toBe('failed');
      expect(info.error?.message).toContain('exited with code 3');
      expect(info.error?.message).toContain('secret=none boom\\u001b[31m');
      expect(info.error?.message).not.toContain('\u001b');
    } finally {
      delete process.env['KERNO_TEST_SECRET'];
    }
  });

  it('a step.error is recorded as the failed step and answered with step.failed', async () => {
    const k = await open();
    const body = `
      await recv();
      send({ type: 'step', key: 'charge' });
      await recv();
      send({ type: 'step.error', key: 'charge', error: { name: 'CardDeclined', message: 'no funds' } });
      const r = await recv();
      send({ type: 'result', value: r });`;
    await k.define({ name: 'failing', process: { command: process.execPath, args: script(body) } });
    const run = await k.start('failing');
    expect(await run.result()).toEqual({
      type: 'step.failed',
      key: 'charge',
      error: { name: 'CardDeclined', message: 'no funds' },
    });
    const info = await k.runs.get(run.id);
    expect(info.steps[0]).toMatchObject({ key: 'charge', status: 'failed' });
  });

  it('hands the run config to the process, records step usage, and a resume re-runs the failed step', async () => {
    const k = await open();
    await k.define({
      name: 'configured',
      process: {
        command: process.execPath,
        args: script(`
          const run = await recv();
          send({ type: 'step', key: 'ask' });
          const m = await recv();
          if (m.type === 'step.run') {
            if (!run.config || run.config.ok !== true) {
              send({ type: 'step.error', key: 'ask', error: { name: 'Nope', message: 'not ok' } });
            } else {
              send({ type: 'step.result', key: 'ask', result: run.resumes, usage: { tokens: 7, costMicrodollars: 3 } });
            }
          }
          const answer = m.type === 'step.recorded' ? m.result : await recv();
          if (answer.type === 'step.failed') { send({ type: 'error', message: 'failed' }); return; }
          send({ type: 'result', value: { config: run.config, answer: answer.result ?? answer } });
        `),
      },
    });
    const run = await k.start('configured', null, { config: { ok: false } });
    await expect(run.result()).rejects.toMatchObject({ code: 'RUN_FAILED' });
    await k.runs.resume(run.id, { config: { ok: true } });
    const info = await k.runs.wait(run.id);
    expect(info).toMatchObject({
      status: 'completed',
      result: { config: { ok: true }, answer: 1 },
    });
    expect(info.usage).toMatchObject({ tokens: 7, costMicrodollars: 3, stepsRan: 2 });
    expect(info.steps.map((s) => [s.key, s.status, s.usage ?? null])).toEqual([
      ['ask', 'failed', null],
      ['ask', 'completed', { tokens: 7, costMicrodollars: 3 }],
    ]);
  });

  it('validates definitions strictly', () => {
    expect(() =>
      validateProcessDefinition({ name: 'x', process: { command: 'a', shell: true } }),
    ).toThrow(/Unrecognized key|shell/);
    expect(() =>
      validateProcessDefinition({ name: 'bad name', process: { command: 'a' } }),
    ).toThrow(/name/);
    expect(validateProcessDefinition({ name: 'ok', process: { command: 'a' } })).toEqual({
      name: 'ok',
      process: { command: 'a' },
    });
  });
});

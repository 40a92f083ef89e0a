import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  createMemoryBus,
  createSupervisor,
  parseAgentMessage,
  parseApprovalRequest,
  type AgentFailure,
  type KernelEvent,
  type SupervisorOptions,
  type SupervisorServices,
} from '../../src/index.js';
import { events, fixture, gone, isAlive, nextEvent } from './helpers.js';

const NODE = process.execPath;
const HAS_PYTHON = spawnSync('python3', ['--version']).status === 0;

/** A supervisor on real time (processes run in real time), with its events recorded. */
function realHarness(options: SupervisorOptions = {}) {
  const bus = createMemoryBus();
  const all: KernelEvent[] = [];
  bus.on('*', (e) => all.push(e));
  const supervisor = createSupervisor({ bus, backoff: { baseMs: 0 }, ...options });
  return { supervisor, bus, all };
}

/** The agent's output lines (lines of one tick are coalesced into one event: split them back). */
const outputsOf = (all: readonly KernelEvent[], id: string): string[] =>
  all.flatMap((e) => (e.type === 'AgentOutput' && e.agentId === id ? e.output.split('\n') : []));

describe('protocol parsing', () => {
  it('reads every message type and treats anything else as output', () => {
    expect(parseAgentMessage('{"type":"output","text":"hi"}')).toEqual({
      type: 'output',
      text: 'hi',
    });
    expect(parseAgentMessage('{"type":"heartbeat"}')).toEqual({ type: 'heartbeat' });
    expect(parseAgentMessage('{"type":"result","value":[1,2]}')).toEqual({
      type: 'result',
      value: [1, 2],
    });
    expect(parseAgentMessage('{"type":"result"}')).toEqual({ type: 'result', value: null });
    expect(parseAgentMessage('{"type":"status","status":"idle"}')).toEqual({
      type: 'status',
      status: 'idle',
    });
    expect(
      parseAgentMessage(
        '{"type":"ledger","id":7,"event":{"type":"X"},"options":{"tenantId":"t","bogus":1}}',
      ),
    ).toEqual({
      type: 'ledger',
      id: 7,
      event: { type: 'X' },
      options: { tenantId: 't' },
    });
    expect(parseAgentMessage('{"type":"approval","request":{"summary":"s"}}')).toEqual({
      type: 'approval',
      request: { summary: 's' },
      id: undefined,
    });
    for (const junk of [
      'plain text',
      '{not json',
      '[1,2]',
      '{"type":"output","text":5}',
      '{"type":"status","status":"sleepy"}',
      '{"type":"approval"}',
      '{"no":"type"}',
      '{"type":"mystery"}',
    ])
      expect(parseAgentMessage(junk)).toEqual({ type: 'unknown', text: junk });
  });

  it('checks approval requests', () => {
    expect(
      parseApprovalRequest({ summary: 'Deploy?', context: [{ label: 'env', value: 'prod' }] }),
    ).toMatchObject({
      summary: 'Deploy?',
      rationale: null,
      context: [{ label: 'env', value: 'prod' }],
    });
    expect(parseApprovalRequest({ summary: '' })).toMatch(/summary/);
    expect(parseApprovalRequest({ summary: 's', context: [{ label: 1 }] })).toMatch(/context/);
    expect(parseApprovalRequest('x')).toMatch(/object/);
  });
});

describe('process agents', () => {
  it('speaks the JSON-lines protocol: output, junk, ledger, approval round trip, status, result', async () => {
    const calls: unknown[] = [];
    const services: SupervisorServices = {
      requestApproval: async (agent, request) => {
        calls.push(['approval', agent.name, request]);
        return { approved: true, reason: 'ship it' };
      },
      appendLedger: async (agent, event, options) => {
        calls.push(['ledger', agent.name, event.type, options]);
        return undefined;
      },
    };
    const { supervisor, all } = realHarness({ services });
    const outcome = await supervisor.run({
      name: 'proto',
      command: NODE,
      args: [fixture('protocol.mjs')],
      config: { summary: 'Deploy v42?' },
    });
    expect(outcome.reason).toBe('completed');
    expect(outcome.result).toEqual({ approved: true, config: { summary: 'Deploy v42?' } });
    expect(outputsOf(all, outcome.id).flatMap((o) => o.split('\n'))).toEqual([
      // lines of one tick are coalesced
      'hello from proto attempt 1',
      'this line is not JSON',
      '{"type":"mystery","detail":1}',
      'ack1=true ack2=false',
      'decision=true:ship it',
      'invalid=false:invalid approval request: request.summary must be a non-empty string',
    ]);
    expect(calls).toEqual([
      ['ledger', 'proto', 'OutcomeRecorded', {}],
      ['ledger', 'proto', 'UserApprovalGranted', {}],
      [
        'approval',
        'proto',
        expect.objectContaining({ summary: 'Deploy v42?', action: 'deploy', resource: 'prod' }),
      ],
    ]);
    await supervisor.close();
  });

  it('answers approvals with a rejection that says why when the kernel gave no services', async () => {
    const { supervisor, all } = realHarness();
    const outcome = await supervisor.run({
      name: 'proto',
      command: NODE,
      args: [fixture('protocol.mjs')],
    });
    expect(outcome.result).toMatchObject({ approved: false });
    const lines = outputsOf(all, outcome.id);
    expect(lines).toContain('ack1=false ack2=false');
    expect(lines.find((l) => l.startsWith('decision='))).toMatch(/decision=false:.*approval gate/);
    await supervisor.close();
  });

  it('runs agents in any language (bash), with the config in KERNO_AGENT_CONFIG', async () => {
    const { supervisor, all } = realHarness();
    const outcome = await supervisor.run({
      name: 'sh',
      command: fixture('echo.sh'),
      config: { n: 1, tags: ['a'] },
    });
    expect(outcome).toMatchObject({ reason: 'completed', result: { n: 1, tags: ['a'] } });
    expect(outputsOf(all, outcome.id)).toEqual(['bash agent sh']);
    await supervisor.close();
  });

  it('starts agents with an allow-listed environment: no KERNO_* / OXIDE_* of the daemon', async () => {
    const saved = { ...process.env };
    process.env['KERNO_REGISTRY_KEY'] = 'master-key-must-not-leak';
    process.env['KERNO_API_TOKEN'] = 'admin-token';
    process.env['OXIDE_SECRET'] = 'oxide';
    process.env['UNLISTED_DAEMON_VAR'] = 'daemon-only';
    process.env['LC_ALL'] = 'C';
    try {
      const { supervisor } = realHarness();
      const outcome = await supervisor.run({
        name: 'env',
        command: NODE,
        args: [
          '-e',
          'process.stdout.write(JSON.stringify({type:"result",value:process.env})+"\\n")',
        ],
        env: { CHOSEN: 'yes' },
      });
      expect(outcome.reason).toBe('completed');
      const seen = outcome.result as Record<string, string>;
      const kernoNames = Object.keys(seen).filter((k) => k.startsWith('KERNO_'));
      expect(kernoNames.sort()).toEqual([
        'KERNO_AGENT_ATTEMPT',
        'KERNO_AGENT_ID',
        'KERNO_AGENT_NAME',
        'KERNO_AGENT_RESTARTS',
      ]);
      expect(Object.keys(seen).filter((k) => k.startsWith('OXIDE_'))).toEqual([]);
      expect(seen['UNLISTED_DAEMON_VAR']).toBeUndefined();
      expect(JSON.stringify(seen)).not.toContain('master-key-must-not-leak');
      expect(seen).toMatchObject({ CHOSEN: 'yes', LC_ALL: 'C', PATH: process.env['PATH'] });
      await supervisor.close();
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('restarts a crashing process; the failure carries the stderr tail and the exit code', async () => {
    const failures: AgentFailure[] = [];
    const { supervisor } = realHarness({
      recovery: async (f) => {
        failures.push(f);
        return { action: 'default' };
      },
    });
    const outcome = await supervisor.run({
      name: 'crasher',
      command: NODE,
      args: [fixture('crash.mjs')],
      config: { succeedOn: 3, code: 7 },
      stderrLimit: 120,
    });
    expect(outcome).toMatchObject({ reason: 'completed', result: 3, restarts: 2 });
    expect(failures.map((f) => f.signal.exit_code)).toEqual([7, 7]);
    expect(failures.map((f) => f.signal.stage)).toEqual(['runtime', 'runtime']);
    expect(failures[1]!.signal.message).toMatch(/thread 'main' panicked at attempt 2$/);
    expect(failures[1]!.signal.message.length).toBeLessThanOrEqual(120);
    expect(failures[0]!.agent.pid).toBeNull();
    await supervisor.close();
  });

  it('reports a death by signal and a command that does not exist', async () => {
    const { supervisor } = realHarness();
    const killed = await supervisor.run({
      name: 'suicidal',
      restart: 'temporary',
      command: NODE,
      args: ['-e', 'process.kill(process.pid, "SIGKILL")'],
    });
    expect(killed.failure).toMatchObject({ exit_code: null, stage: 'runtime' });
    expect(killed.failure?.message).toMatch(/killed by SIGKILL/);
    // A process that cannot be spawned failed to start (OTP): spawn rejects, nothing restarts.
    await expect(
      supervisor.run({ name: 'ghost', restart: 'permanent', command: '/nonexistent/agent-binary' }),
    ).rejects.toThrow(/FAILED|could not start "ghost".*Could not start agent process.*ENOENT/);
    await supervisor.close();
  });

  it('kills a process that ignores SIGTERM with SIGKILL after the grace period', async () => {
    const { supervisor, bus } = realHarness();
    const ready = nextEvent(bus, 'AgentOutput', (e) => e.output === 'ready');
    const agent = await supervisor.spawn({
      name: 'stubborn',
      command: NODE,
      args: [fixture('ignore-term.mjs')],
      shutdownMs: 300,
    });
    const pid = agent.info().pid!;
    expect(isAlive(pid)).toBe(true);
    await ready;
    const ignored = nextEvent(bus, 'AgentOutput', (e) => e.output === 'ignoring SIGTERM');
    const t0 = Date.now();
    const outcome = await agent.kill();
    await ignored; // it really did get (and ignore) SIGTERM first
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(outcome.reason).toBe('stopped');
    expect(isAlive(pid)).toBe(false);
    await supervisor.close();
  });

  it('leaves no orphans after close(), grandchildren included', async () => {
    const { supervisor, bus } = realHarness({ shutdownMs: 200 });
    const reported = events(bus, 'AgentOutput', 2, (e) => e.output.startsWith('grandchild '));
    const a = await supervisor.spawn({
      name: 'a',
      command: NODE,
      args: [fixture('grandchild.mjs')],
    });
    const b = await supervisor.spawn({
      name: 'b',
      command: NODE,
      args: [fixture('grandchild.mjs')],
    });
    const pids = [a.info().pid!, b.info().pid!];
    const grandchildren = (await reported).map((e) => Number(e.output.split(' ')[1]));
    for (const pid of [...pids, ...grandchildren]) expect(isAlive(pid)).toBe(true);
    await supervisor.close();
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    for (const pid of grandchildren) expect(await gone(pid)).toBe(true);
    expect(supervisor.list().map((x) => x.status)).toEqual(['stopped', 'stopped']);
  });

  it.skipIf(!HAS_PYTHON)('fails a process that stops sending heartbeats (python)', async () => {
    const { supervisor, all } = realHarness();
    const outcome = await supervisor.run({
      name: 'py',
      restart: 'temporary',
      command: 'python3',
      args: [fixture('silent.py')],
      heartbeatTimeoutMs: 400,
      shutdownMs: 1_000,
    });
    expect(outcome.reason).toBe('failed');
    expect(outcome.failure?.message).toBe('Agent "py" sent no heartbeat for 400 ms');
    expect(outputsOf(all, outcome.id)).toEqual(['going quiet']);
    await supervisor.close();
  });
});

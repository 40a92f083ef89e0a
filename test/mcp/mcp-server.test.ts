/**
 * createMcpServer on the kernel clock (a ManualClock), through the SDK's in-memory transport:
 * request_approval's wait is capped, keys are per agent, a gate's timeout policy is the answer
 * on the next call, and a kernel without agents refuses runs with a typed error.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createKernel, type KernelCore } from '../../src/kernel.js';
import {
  DEFAULT_APPROVAL_WAIT_MS,
  MAX_APPROVAL_WAIT_MS,
  createMcpServer,
} from '../../src/mcp/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { testKernel } from '../helpers/kernel.js';
import { waitFor } from '../helpers/wait.js';

/** A ManualClock that records the delay of every timer set on it. */
class RecordingClock extends ManualClock {
  readonly delays: number[] = [];
  override setTimeout(fn: () => void, ms: number) {
    this.delays.push(ms);
    return super.setTimeout(fn, ms);
  }
  /** Resolves once one more timer of `ms` than now has been set. */
  nextTimer(ms: number, what: string): Promise<true> {
    const seen = this.delays.filter((d) => d === ms).length;
    return waitFor(() => this.delays.filter((d) => d === ms).length > seen, what);
  }
}

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function connect(
  kernel: Parameters<typeof createMcpServer>[0],
  options: Parameters<typeof createMcpServer>[1] = { identity: 'test' },
): Promise<Client> {
  const server = await createMcpServer(kernel, options);
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: 'kerno-test', version: '1.0.0' });
  await client.connect(b);
  cleanups.push(async () => {
    await client.close();
    await server.close();
  });
  return client;
}

interface ToolAnswer {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: { type: string; text?: string }[];
}

async function call(client: Client, name: string, args: Record<string, unknown>) {
  const r = (await client.callTool({ name, arguments: args })) as ToolAnswer;
  const data =
    r.isError === true ? {} : (JSON.parse(r.content[0]!.text!) as Record<string, unknown>);
  return { ...r, data };
}

describe('createMcpServer', () => {
  it('caps the approval wait, keys gates per agent, and answers the timeout policy on the next call', async () => {
    const clock = new RecordingClock(Date.UTC(2026, 11, 3, 12));
    const k = await testKernel({ clock });
    cleanups.push(k.cleanup);
    const client = await connect(k.kernel, { identity: 'ci-bot' });

    // Asked to wait "forever", the call answers pending after the cap.
    const capped = clock.nextTimer(MAX_APPROVAL_WAIT_MS, 'the capped wait');
    const long = call(client, 'request_approval', {
      key: 'k1',
      summary: 'Proceed?',
      waitMs: 10_000_000,
      timeoutSecs: 600,
    });
    await capped;
    clock.advance(MAX_APPROVAL_WAIT_MS);
    const pending = await long;
    expect(pending.data).toMatchObject({ status: 'pending', key: 'k1', agent: 'mcp' });
    expect(pending.data.next).toContain('"k1"');
    const id = pending.data.id as string;
    expect(k.kernel.approvals.get(id)?.request.agent_id).toBe('ci-bot');

    // The default wait, then the same key again: the same gate.
    const waiting = clock.nextTimer(DEFAULT_APPROVAL_WAIT_MS, 'the default wait');
    const defaulted = call(client, 'request_approval', { key: 'k1', summary: 'Proceed?' });
    await waiting;
    clock.advance(DEFAULT_APPROVAL_WAIT_MS);
    expect((await defaulted).data).toMatchObject({ status: 'pending', id });

    // The same key from another agent is another gate.
    const other = await call(client, 'request_approval', {
      key: 'k1',
      summary: 'Proceed?',
      agent: 'deployer',
      waitMs: 0,
    });
    expect(other.data).toMatchObject({ status: 'pending', agent: 'deployer' });
    expect(other.data.id).not.toBe(id);
    expect(other.data.next).toContain('"deployer"');

    // Nobody decides: the gate's timeout policy (600 s, reject) applies and is the answer.
    clock.advance(600_000);
    await waitFor(() => k.kernel.approvals.get(id)?.decision ?? undefined, 'the timeout');
    const after = await call(client, 'request_approval', { key: 'k1', summary: 'Proceed?' });
    expect(after.data).toMatchObject({
      status: 'rejected',
      id,
      decision: { approved: false, decidedBy: 'timeout', timedOut: true },
    });
    const listed = await call(client, 'approvals_list', {});
    // Only the deployer's gate (default policy: 1800 s) is still pending.
    expect((listed.data.approvals as { id: string }[]).map((g) => g.id)).toEqual([other.data.id]);

    const invalid = await call(client, 'request_approval', { key: '', summary: 'x' });
    expect(invalid.isError).toBe(true);
  });

  it('on a kernel without agents, refuses to start or signal runs with a typed error', async () => {
    const core: KernelCore = await createKernel({
      agents: false,
      store: 'memory:',
      bus: 'memory',
      logger: silentLogger,
      learningFile: null,
    });
    cleanups.push(() => core.close());
    const client = await connect(core);
    for (const [tool, args] of [
      ['run_start', { agent: 'a' }],
      ['run_signal', { id: 'r', name: 's' }],
    ] as const) {
      const r = await call(client, tool, args);
      expect(r.isError).toBe(true);
      expect(r.structuredContent).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    }
    const agents = await client.readResource({ uri: 'kerno://agents' });
    expect(JSON.parse((agents.contents[0] as { text: string }).text)).toEqual({
      supervised: [],
      durable: [],
    });
  });
});

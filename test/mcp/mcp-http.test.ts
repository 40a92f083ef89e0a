/**
 * The daemon's /mcp endpoint, driven by the MCP SDK's own client over streamable HTTP: a keyed
 * approval that answers pending, is decided through the API, and is answered on the next call
 * with the same key; tenant tokens confined to their ledger records; ledger append and query;
 * a durable run started, shown and signalled; errors as tool errors with kerno's code.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type KernoServer } from '../../src/server/app.js';
import { createToken } from '../../src/server/auth.js';
import { testKernel } from '../helpers/kernel.js';
import { waitFor } from '../helpers/wait.js';
import type { Kernel } from '../../src/kernel.js';

const TOKEN = 'kerno_test_admin_token_0123456789';
const budget = (chain: string) => ({
  type: 'BudgetExceeded',
  data: { chain_id: chain, resource: 'Tokens', limit: '1', observed: null },
});

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup(): Promise<{
  kernel: Kernel;
  server: KernoServer;
  url: string;
  dir: string;
}> {
  const k = await testKernel();
  const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
  cleanups.push(k.cleanup, () => server.close());
  const { url } = await server.listen({ port: 0 });
  return { kernel: k.kernel, server, url, dir: k.dir };
}

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'kerno-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  cleanups.push(() => client.close());
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

describe('MCP over streamable HTTP', () => {
  it('answers a keyed approval pending, then the human decision on the next call with the key', async () => {
    const { server, url, kernel } = await setup();
    const client = await connect(url, TOKEN);

    const first = await call(client, 'request_approval', {
      key: 'deploy:v42',
      summary: 'Deploy v42 to production?',
      waitMs: 20,
    });
    expect(first.isError).toBeFalsy();
    expect(first.data).toMatchObject({ status: 'pending', key: 'deploy:v42', agent: 'mcp' });
    const id = first.data.id as string;
    expect(kernel.approvals.list().map((g) => g.id)).toEqual([id]);

    // The client was cut off; a human approves through the API meanwhile.
    const approved = await server.app.inject({
      method: 'POST',
      url: `/api/approvals/${id}/approve`,
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { note: 'ship it' },
    });
    expect(approved.statusCode).toBe(200);

    const again = await call(client, 'request_approval', {
      key: 'deploy:v42',
      summary: 'Deploy v42 to production?',
    });
    expect(again.data).toMatchObject({
      status: 'approved',
      id,
      decision: { approved: true, decidedBy: 'daemon token', note: 'ship it' },
    });
    expect(kernel.approvals.list()).toEqual([]);
  });

  it('a client whose own call timed out asks again with the key and gets the decision', async () => {
    const { url, kernel } = await setup();
    const client = await connect(url, TOKEN);
    // The client gives up long before the server's wait ends (an MCP client's tool timeout).
    const cutOff = await client
      .callTool(
        {
          name: 'request_approval',
          arguments: { key: 'drop-table', summary: 'Drop it?', waitMs: 40_000 },
        },
        undefined,
        { timeout: 300 },
      )
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(cutOff?.message).toMatch(/timed out/i);
    const gate = await waitFor(() => kernel.approvals.list()[0], 'the gate');
    await kernel.approvals.approve(gate.id, { by: 'dba' });
    const again = await call(client, 'request_approval', {
      key: 'drop-table',
      summary: 'Drop it?',
    });
    expect(again.data).toMatchObject({
      status: 'approved',
      id: gate.id,
      decision: { decidedBy: 'dba' },
    });
  });

  it('keeps a waiting call open until the decision arrives', async () => {
    const { url, kernel } = await setup();
    const client = await connect(url, TOKEN);
    const waiting = call(client, 'request_approval', {
      key: 'rotate-keys',
      summary: 'Rotate the keys?',
      agent: 'ops-bot',
      waitMs: 40_000,
    });
    const gate = await waitFor(() => kernel.approvals.list()[0], 'the gate to open');
    expect(gate.agentName).toBe('mcp:ops-bot');
    await kernel.approvals.reject(gate.id, { by: 'alice', reason: 'not today' });
    const answer = await waiting;
    expect(answer.data).toMatchObject({
      status: 'rejected',
      decision: { approved: false, reason: 'not today', decidedBy: 'alice' },
    });
    const listed = await call(client, 'approvals_list', { status: 'all' });
    expect((listed.data.approvals as { id: string }[]).map((g) => g.id)).toEqual([gate.id]);
  });

  it('confines a tenant token to its own ledger records', async () => {
    const { url, dir } = await setup();
    const admin = await connect(url, TOKEN);
    const acme = await connect(url, createToken(dir, { scope: 'tenant', tenant: 'acme' }).token);

    const other = await call(admin, 'ledger_append', {
      event: budget('globex-secret-chain'),
      tenantId: 'globex',
      eventId: 'g-1',
    });
    expect(other.isError).toBeFalsy();
    const own = await call(acme, 'ledger_append', { event: budget('acme-chain') });
    expect(own.isError).toBeFalsy();
    const ownRecord = own.data.record as Record<string, unknown>;
    expect(ownRecord).not.toHaveProperty('position');
    expect(ownRecord).not.toHaveProperty('prevHash');
    expect(ownRecord).toMatchObject({ envelope: { tenant_id: 'acme' } });

    const seen = await call(acme, 'ledger_query', {});
    const records = seen.data.records as { envelope: { tenant_id: string } }[];
    expect(records.map((r) => r.envelope.tenant_id)).toEqual(['acme']);
    expect(JSON.stringify(seen.data)).not.toContain('globex');

    const forbidden = await call(acme, 'ledger_query', { tenantId: 'globex' });
    expect(forbidden.isError).toBe(true);
    expect(forbidden.structuredContent).toMatchObject({ error: { code: 'FORBIDDEN' } });
    const foreignWrite = await call(acme, 'ledger_append', {
      event: budget('x'),
      tenantId: 'globex',
    });
    expect(foreignWrite.structuredContent).toMatchObject({ error: { code: 'FORBIDDEN' } });

    // Only the ledger tools, and no resources, for a tenant session.
    const tools = (await acme.listTools()).tools.map((t) => t.name).sort();
    expect(tools).toEqual(['ledger_append', 'ledger_query']);
    const unknownTool = await acme.callTool({ name: 'approvals_list', arguments: {} }).then(
      (r) => r as ToolAnswer,
      (e: unknown) => e,
    );
    expect(unknownTool instanceof Error || (unknownTool as ToolAnswer).isError === true).toBe(true);

    // The admin sees both tenants.
    const all = await call(admin, 'ledger_query', {});
    expect(
      (all.data.records as { envelope: { tenant_id: string } }[])
        .map((r) => r.envelope.tenant_id)
        .sort(),
    ).toEqual(['acme', 'globex']);
  });

  it('appends and queries the ledger; errors carry kerno codes', async () => {
    const { url } = await setup();
    const client = await connect(url, TOKEN);
    const a = await call(client, 'ledger_append', {
      event: budget('c1'),
      eventId: 'e-1',
      correlationId: 'corr-1',
    });
    expect(a.data.record).toMatchObject({ position: 1, envelope: { event_id: 'e-1' } });
    await call(client, 'ledger_append', { event: budget('c2'), eventId: 'e-2' });
    const q = await call(client, 'ledger_query', { correlationId: 'corr-1' });
    expect(
      (q.data.records as { envelope: { event_id: string } }[]).map((r) => r.envelope.event_id),
    ).toEqual(['e-1']);
    const kinds = await call(client, 'ledger_query', { kinds: ['BudgetExceeded'], limit: 1 });
    expect((kinds.data.records as unknown[]).length).toBe(1);

    const conflict = await call(client, 'ledger_append', {
      event: budget('other'),
      eventId: 'e-1',
    });
    expect(conflict.isError).toBe(true);
    expect(conflict.structuredContent).toMatchObject({ error: { code: 'CONFLICT' } });
    expect(conflict.content[0]!.text).toMatch(/^CONFLICT: /);

    const bad = await call(client, 'ledger_append', { event: { type: 'NoSuchKind', data: {} } });
    expect(bad.isError).toBe(true);
  });

  it('starts, shows and signals a durable run of a defined agent', async () => {
    const { url, kernel } = await setup();
    kernel.define({
      name: 'greeter',
      run: async (ctx, input: { who: string }) => {
        const greeting = await ctx.step('greet', () => `hello ${input.who}`);
        const answer = await ctx.waitForSignal<string>('reply');
        return `${greeting} / ${answer}`;
      },
    });
    const client = await connect(url, TOKEN);
    const started = await call(client, 'run_start', {
      agent: 'greeter',
      input: { who: 'ada' },
      id: 'run-1',
    });
    expect(started.isError).toBeFalsy();
    expect(started.data.id).toBe('run-1');
    await waitFor(
      async () => (await kernel.runs.get('run-1')).status === 'waiting',
      'the run to wait for its signal',
    );
    const shown = await call(client, 'run_get', { id: 'run-1' });
    expect(shown.data.run).toMatchObject({
      status: 'waiting',
      waitingFor: { kind: 'signal', name: 'reply' },
      steps: [{ key: 'greet#1', status: 'completed', result: 'hello ada' }],
    });
    const signalled = await call(client, 'run_signal', {
      id: 'run-1',
      name: 'reply',
      payload: 'hi',
    });
    expect(signalled.data).toEqual({ id: 'run-1', signal: 'reply' });
    await kernel.runs.wait('run-1');
    const done = await call(client, 'run_get', { id: 'run-1' });
    expect(done.data.run).toMatchObject({ status: 'completed', result: 'hello ada / hi' });

    const missing = await call(client, 'run_get', { id: 'nope' });
    expect(missing.structuredContent).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const undefinedAgent = await call(client, 'run_start', { agent: 'ghost' });
    expect(undefinedAgent.structuredContent).toMatchObject({ error: { code: 'UNKNOWN_AGENT' } });
  });

  it('serves the audit head with its verification and the agent list as resources', async () => {
    const { url } = await setup();
    const client = await connect(url, TOKEN);
    const uris = (await client.listResources()).resources.map((r) => r.uri).sort();
    expect(uris).toEqual(['kerno://agents', 'kerno://audit']);
    const audit = await client.readResource({ uri: 'kerno://audit' });
    const body = JSON.parse((audit.contents[0] as { text: string }).text) as {
      head: { seq: number };
      verification: { ok: boolean };
    };
    expect(body.verification.ok).toBe(true);
    expect(typeof body.head.seq).toBe('number');
    const agents = await client.readResource({ uri: 'kerno://agents' });
    expect(JSON.parse((agents.contents[0] as { text: string }).text)).toMatchObject({
      supervised: [],
      durable: [],
    });
  });

  it('refuses a request without a valid token', async () => {
    const { server } = await setup();
    const res = await server.app.inject({
      method: 'POST',
      url: '/mcp',
      payload: { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    const get = await server.app.inject({
      method: 'GET',
      url: '/mcp',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(get.statusCode).toBe(405);
  });
});

/**
 * `kerno mcp` on stdio, driven by the MCP SDK's own client spawning the real binary (build
 * first: `npx tsc -p tsconfig.build.json`):
 *
 * - `--store`: a keyed approval answers pending, a human approves through another kernel on the
 *   same SQLite store, and the next call with the key gets the decision; ledger append and
 *   query; starting a run is a tool error naming the daemon (no agents run there).
 * - relay (no `--store`): the same tools through the daemon's /mcp with a tenant token, which
 *   is confined to its tenant's records.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExperienceEvent } from '../../src/formats/converge-experience-event.js';
import { createKernel } from '../../src/kernel.js';
import { createServer } from '../../src/server/app.js';
import { createToken } from '../../src/server/auth.js';
import { silentLogger } from '../../src/util/logger.js';
import { startDaemon } from '../helpers/daemon.js';
import { testKernel } from '../helpers/kernel.js';
import { tempDir } from '../helpers/stores.js';

const BIN = join(import.meta.dirname, '../../bin/kerno.js');
/** NODE_OPTIONS that make `@modelcontextprotocol/sdk` look uninstalled. */
const NO_SDK = `--import ${join(import.meta.dirname, '../fixtures/no-mcp-sdk/register.mjs')}`;
const TOKEN = 'kerno_test_admin_token_0123456789';
const budget = (chain: string) => ({
  type: 'BudgetExceeded',
  data: { chain_id: chain, resource: 'Tokens', limit: '1', observed: null },
});
const budgetEvent = (chain: string) => budget(chain) as unknown as ExperienceEvent;

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function spawnMcp(args: string[], home: string): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, '--home', home, 'mcp', ...args],
    env: { PATH: process.env['PATH'] ?? '', HOME: home },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'kerno-e2e', version: '1.0.0' });
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

describe('kerno mcp (stdio)', () => {
  it('--store: a cut-off approval request asked again with its key gets the human decision', async () => {
    const { dir, cleanup } = tempDir('kerno-mcp-stdio-');
    cleanups.push(cleanup);
    const store = `sqlite:${join(dir, 'kerno.db')}`;
    const client = await spawnMcp(['--store', store], dir);

    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(tools).toEqual([
      'approvals_list',
      'learning_recall',
      'ledger_append',
      'ledger_query',
      'request_approval',
      'run_get',
      'run_signal',
      'run_start',
    ]);

    const first = await call(client, 'request_approval', {
      key: 'deploy:v42',
      summary: 'Deploy v42?',
      waitMs: 50,
    });
    expect(first.data).toMatchObject({ status: 'pending', key: 'deploy:v42' });
    const id = first.data.id as string;

    // A human decides through another kernel on the same store (as the daemon or CLI would).
    const human = await createKernel({
      agents: false,
      store,
      stateDir: dir,
      bus: 'memory',
      logger: silentLogger,
    });
    try {
      expect(human.approvals.list().map((g) => g.id)).toEqual([id]);
      await human.approvals.approve(id, { by: 'alice' });
    } finally {
      await human.close();
    }

    const again = await call(client, 'request_approval', {
      key: 'deploy:v42',
      summary: 'Deploy v42?',
      waitMs: 20_000,
    });
    expect(again.data).toMatchObject({
      status: 'approved',
      id,
      decision: { approved: true, decidedBy: 'alice' },
    });

    const appended = await call(client, 'ledger_append', {
      event: budget('c1'),
      eventId: 'e-1',
      tenantId: 't1',
    });
    expect(appended.data.record).toMatchObject({ envelope: { event_id: 'e-1', tenant_id: 't1' } });
    const queried = await call(client, 'ledger_query', { tenantId: 't1' });
    expect(
      (queried.data.records as { envelope: { event_id: string } }[]).map(
        (r) => r.envelope.event_id,
      ),
    ).toEqual(['e-1']);

    const run = await call(client, 'run_start', { agent: 'anything' });
    expect(run.isError).toBe(true);
    expect(run.structuredContent).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    expect(run.content[0]!.text).toContain('/mcp');
  }, 60_000);

  it('relays to the daemon: a tenant token sees only its own ledger records', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(k.cleanup, () => server.close());
    const { url } = await server.listen({ port: 0 });
    await k.kernel.ledger.append(budgetEvent('globex-secret'), {
      tenantId: 'globex',
      eventId: 'g-1',
    });
    const tenantToken = createToken(k.dir, { scope: 'tenant', tenant: 'acme' }).token;

    const client = await spawnMcp(['--url', url, '--token', tenantToken], k.dir);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual([
      'ledger_append',
      'ledger_query',
    ]);
    const own = await call(client, 'ledger_append', { event: budget('acme-chain') });
    expect(own.data.record).toMatchObject({ envelope: { tenant_id: 'acme' } });
    const seen = await call(client, 'ledger_query', {});
    expect(
      (seen.data.records as { envelope: { tenant_id: string } }[]).map((r) => r.envelope.tenant_id),
    ).toEqual(['acme']);
    expect(JSON.stringify(seen.data)).not.toContain('globex');
    const forbidden = await call(client, 'ledger_query', { tenantId: 'globex' });
    expect(forbidden.structuredContent).toMatchObject({ error: { code: 'FORBIDDEN' } });

    // A refused token is the daemon's own answer, not a hang or "unreachable".
    const refused = await spawnMcp(['--url', url, '--token', 'kerno_not_a_token'], k.dir).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(refused?.message).toContain('UNAUTHORIZED: The API token is not valid');
  }, 60_000);

  it('without the optional SDK: the kernel and daemon still run, MCP says what to install', async () => {
    const { dir, cleanup } = tempDir('kerno-mcp-nosdk-');
    cleanups.push(cleanup);
    const env = { ...process.env, NODE_OPTIONS: NO_SDK };
    const failed = await promisify(execFile)(
      process.execPath,
      [BIN, '--home', dir, 'mcp', '--store', 'memory:'],
      { env },
    ).then(
      () => undefined,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain('DEPENDENCY_MISSING');
    expect(failed?.stderr).toContain('npm install @modelcontextprotocol/sdk');

    const d = await startDaemon(['--home', dir], { NODE_OPTIONS: NO_SDK });
    cleanups.push(async () => void (await d.stop()));
    const res = await fetch(`${d.url}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${d.token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: 'DEPENDENCY_MISSING' });
    const api = await fetch(`${d.url}/api/ledger`, {
      headers: { authorization: `Bearer ${d.token}` },
    });
    expect(api.status).toBe(200);
  }, 60_000);
});

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createToken } from '../../src/server/auth.js';
import { createServer } from '../../src/server/app.js';
import { testKernel } from '../helpers/kernel.js';
import { waitFor } from '../helpers/wait.js';

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

async function setup() {
  const k = await testKernel();
  const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
  cleanups.push(k.cleanup, () => server.close());
  const auth = { authorization: `Bearer ${TOKEN}` };
  return { ...k, server, auth };
}

/** An SSE frame as a client reads it: its id (none for an unrecorded event), type and data. */
interface SseFrame {
  readonly id: number | undefined;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

/**
 * Opens `GET path` on the daemon at `port` as an event stream and collects its frames until
 * `done(frames)` says so; then closes the connection and resolves with them.
 */
function readSse(
  port: number,
  path: string,
  headers: Record<string, string>,
  done: (frames: readonly SseFrame[]) => boolean,
): Promise<SseFrame[]> {
  return new Promise((resolve, reject) => {
    const frames: SseFrame[] = [];
    let finished = false;
    const req = http.get(
      {
        port,
        host: '127.0.0.1',
        path,
        headers: { authorization: `Bearer ${TOKEN}`, ...headers },
      },
      (res) => {
        expect(res.headers['content-type']).toContain('text/event-stream');
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let i: number;
          while (!finished && (i = buf.indexOf('\n\n')) !== -1) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const id = /^id: (\d+)$/m.exec(frame)?.[1];
            const type = /^event: (\w+)$/m.exec(frame)?.[1];
            const data = /^data: (.*)$/m.exec(frame)?.[1];
            if (type === undefined || data === undefined) continue;
            frames.push({
              id: id === undefined ? undefined : Number(id),
              type,
              data: JSON.parse(data) as Record<string, unknown>,
            });
            if (done(frames)) {
              finished = true;
              req.destroy();
              resolve(frames);
            }
          }
        });
      },
    );
    req.on('error', (e) => (finished ? undefined : reject(e)));
  });
}

describe('HTTP API', () => {
  it('POST /api/agents grants registry secrets by name; the agent sees no KERNO_* of the daemon', async () => {
    const saved = process.env['KERNO_REGISTRY_KEY'];
    process.env['KERNO_REGISTRY_KEY'] = 'daemon-master-key';
    try {
      const { server, auth, kernel } = await setup();
      await kernel.registry.setConfig('api_token', 'tok-value-1', { secret: true });
      const code =
        'const e=process.env;process.stdout.write(JSON.stringify({type:"result",value:{t:e.TOK,k:Object.keys(e).filter(n=>/^KERNO_(?!AGENT_)/.test(n))}})+"\\n")';
      const res = await server.app.inject({
        method: 'POST',
        url: '/api/agents',
        headers: auth,
        payload: {
          name: 'granted',
          command: process.execPath,
          args: ['-e', code],
          restart: 'temporary',
          secrets: [{ name: 'api_token', env: 'TOK' }],
        },
      });
      expect(res.statusCode).toBe(201);
      const outcome = await kernel.supervisor.wait(res.json<{ id: string }>().id);
      expect(outcome.result).toEqual({ t: 'tok-value-1', k: [] });
      const unknown = await server.app.inject({
        method: 'POST',
        url: '/api/agents',
        headers: auth,
        payload: { name: 'bad', command: process.execPath, secrets: ['missing'] },
      });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.body).not.toContain('tok-value-1');
    } finally {
      if (saved === undefined) delete process.env['KERNO_REGISTRY_KEY'];
      else process.env['KERNO_REGISTRY_KEY'] = saved;
    }
  });

  it('answers 503 unhealthy on /health once the root supervisor has given up', async () => {
    const { server, kernel } = await setup();
    await kernel.supervisor.spawn({
      name: 'crasher',
      restart: 'permanent',
      recovery: false,
      run: () => {
        throw new Error('always');
      },
    });
    await kernel.supervisor.escalated;
    const health = await server.app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toMatchObject({ status: 'unhealthy' });
  });

  it('serves /health without a token and refuses everything else without one', async () => {
    const { server } = await setup();
    const health = await server.app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ status: 'ok', version: '9.9.9', store: 'memory' });
    for (const [method, url] of [
      ['GET', '/api/ledger'],
      ['GET', '/metrics'],
      ['POST', '/api/ledger'],
      ['GET', '/api/openapi.json'],
    ] as const) {
      const res = await server.app.inject({ method, url });
      expect(res.statusCode, url).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    }
    const wrong = await server.app.inject({
      method: 'GET',
      url: '/api/ledger',
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.statusCode).toBe(401);
  });

  it('appends and queries the ledger', async () => {
    const { server, auth } = await setup();
    const created = await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers: auth,
      payload: { event: budget('c1'), tenantId: 't1' },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      position: 1,
      envelope: { tenant_id: 't1', event: { type: 'BudgetExceeded' } },
    });
    await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers: auth,
      payload: { event: budget('c2'), tenantId: 't2' },
    });
    const q = await server.app.inject({
      method: 'GET',
      url: '/api/ledger?tenant=t2&kinds=BudgetExceeded&limit=5',
      headers: auth,
    });
    expect(q.statusCode).toBe(200);
    expect(q.json<{ records: { position: number }[] }>().records.map((r) => r.position)).toEqual([
      2,
    ]);
  });

  it('appends converge 3.8+ user-side events with a Lamport time and queries them by kind', async () => {
    const { server, auth } = await setup();
    const approval = {
      type: 'UserApprovalGranted',
      data: {
        gate_request_id: 'hitl-1',
        actor: 'operator-1',
        policy_snapshot_hash: null,
        reason: null,
      },
    };
    const created = await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers: auth,
      payload: { event: approval, occurredAt: 'lamport:0', eventId: 'evt-1' },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      envelope: { event_id: 'evt-1', occurred_at: 'lamport:0', event: approval },
    });
    await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers: auth,
      payload: { event: budget('c1') },
    });
    const q = await server.app.inject({
      method: 'GET',
      url: '/api/ledger?kinds=UserApprovalGranted,UserOverrideIssued',
      headers: auth,
    });
    expect(
      q
        .json<{ records: { envelope: { event_id: string } }[] }>()
        .records.map((r) => r.envelope.event_id),
    ).toEqual(['evt-1']);
    const exp = await server.app.inject({
      method: 'GET',
      url: '/api/ledger/export?form=record',
      headers: auth,
    });
    expect(
      exp.body
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { kind: string }).kind),
    ).toEqual(['User', 'Engine']);
  });

  it('answers malformed and oversized bodies with problem details, storing nothing', async () => {
    const { server, auth, kernel } = await setup();
    const cases: [unknown, number, string][] = [
      ['{not json', 400, 'INVALID_ARGUMENT'],
      [{ event: { type: 'Nope', data: {} } }, 400, 'INVALID_EVENT'],
      [{ event: budget('c'), extra: 1 }, 400, 'INVALID_ARGUMENT'],
      [{}, 400, 'INVALID_ARGUMENT'],
      [{ event: budget('c'), occurredAt: '' }, 400, 'INVALID_EVENT'],
      [
        {
          event: {
            ...budget('c'),
            data: {
              chain_id: 'c',
              resource: 'Tokens',
              limit: 'x'.repeat(2_000_000),
              observed: null,
            },
          },
        },
        413,
        'PAYLOAD_TOO_LARGE',
      ],
    ];
    for (const [payload, status, code] of cases) {
      const res = await server.app.inject({
        method: 'POST',
        url: '/api/ledger',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
      expect(res.statusCode, JSON.stringify(payload).slice(0, 60)).toBe(status);
      expect(res.json()).toMatchObject({ status, code });
    }
    expect((await kernel.ledger.head()).seq).toBe(0);
    const badQuery = await server.app.inject({
      method: 'GET',
      url: '/api/ledger?kinds=Nope',
      headers: auth,
    });
    expect(badQuery.json()).toMatchObject({ status: 400, code: 'INVALID_QUERY' });
    const missing = await server.app.inject({ method: 'GET', url: '/api/nothing', headers: auth });
    expect(missing.json()).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('confines tenant tokens to their tenant', async () => {
    const { server, auth, dir, kernel } = await setup();
    const { token } = createToken(dir, { scope: 'tenant', tenant: 'acme' });
    const t = { authorization: `Bearer ${token}` };
    await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers: auth,
      payload: { event: budget('other'), tenantId: 'globex' },
    });
    const own = await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers: t,
      payload: { event: budget('mine') },
    });
    expect(own.statusCode).toBe(201);
    expect(own.json()).toMatchObject({ envelope: { tenant_id: 'acme' } });
    const foreign = await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers: t,
      payload: { event: budget('x'), tenantId: 'globex' },
    });
    expect(foreign.statusCode).toBe(403);
    const read = await server.app.inject({ method: 'GET', url: '/api/ledger', headers: t });
    expect(
      read
        .json<{ records: { envelope: { tenant_id: string } }[] }>()
        .records.map((r) => r.envelope.tenant_id),
    ).toEqual(['acme']);
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/ledger?tenant=globex', headers: t }))
        .statusCode,
    ).toBe(403);
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/audit', headers: t })).statusCode,
    ).toBe(403);
    const ndjson =
      JSON.stringify({
        event_id: 'e1',
        occurred_at: '2026-01-01T00:00:00Z',
        tenant_id: 'acme',
        correlation_id: null,
        event: budget('i'),
      }) +
      '\n' +
      JSON.stringify({
        event_id: 'e2',
        occurred_at: '2026-01-01T00:00:00Z',
        tenant_id: 'globex',
        correlation_id: null,
        event: budget('j'),
      }) +
      '\n';
    const imp = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { ...t, 'content-type': 'application/x-ndjson' },
      payload: ndjson,
    });
    expect(imp.statusCode).toBe(403);
    expect((await kernel.ledger.head()).seq).toBe(2);
    const exp = await server.app.inject({ method: 'GET', url: '/api/ledger/export', headers: t });
    expect(
      exp.body
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { tenant_id: string }).tenant_id),
    ).toEqual(['acme']);
    // The stored form hands each stored body through, still confined to the token's tenant.
    const stored = await server.app.inject({
      method: 'GET',
      url: '/api/ledger/export?form=stored',
      headers: t,
    });
    const bodies = (await kernel.storage.log.read(kernel.ledger.stream, 0, 10))
      .filter((r) => r.tenant === 'acme')
      .map((r) => r.body + '\n');
    expect(stored.body).toBe(bodies.join(''));
    expect(bodies).toHaveLength(1);
  });

  it('gives each tenant token its own event ids and shows it only tenant-local fields', async () => {
    const { server, auth, dir } = await setup();
    const alice = {
      authorization: `Bearer ${createToken(dir, { scope: 'tenant', tenant: 'alice' }).token}`,
    };
    const bob = {
      authorization: `Bearer ${createToken(dir, { scope: 'tenant', tenant: 'bob' }).token}`,
    };
    const append = (headers: Record<string, string>, chain: string) =>
      server.app.inject({
        method: 'POST',
        url: '/api/ledger',
        headers,
        payload: { event: budget(chain), eventId: 'order-1' },
      });
    const a = await append(alice, 'alice-secret-chain');
    expect(a.statusCode).toBe(201);
    // Bob takes the same id: no 409, so 201 vs 409 tells him nothing about Alice's ids
    const b = await append(bob, 'bob-chain');
    expect(b.statusCode).toBe(201);
    expect(Object.keys(b.json<object>()).sort()).toEqual(['envelope', 'hash']);
    expect(b.json()).toMatchObject({ envelope: { event_id: 'order-1', tenant_id: 'bob' } });
    expect(b.body).not.toContain(a.json<{ hash: string }>().hash);
    expect((await append(bob, 'bob-chain')).json()).toEqual(b.json());
    const conflict = await append(bob, 'bob-other');
    expect(conflict.statusCode).toBe(409);
    expect(conflict.body).not.toMatch(/alice/);
    // queries and imports by a tenant: the same key space, the same tenant-local shape
    const rows = (
      await server.app.inject({ method: 'GET', url: '/api/ledger', headers: bob })
    ).json<{ records: object[] }>().records;
    expect(rows).toEqual([b.json()]);
    const line = (tenant: string, eventId: string) =>
      JSON.stringify({
        event_id: eventId,
        occurred_at: '2026-01-01T00:00:00Z',
        tenant_id: tenant,
        correlation_id: null,
        event: budget('imported'),
      });
    const imp = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { ...alice, 'content-type': 'application/x-ndjson' },
      payload: `${line('alice', 'order-2')}\n`,
    });
    expect(imp.json()).toEqual({
      imported: 1,
      duplicates: 0,
      skipped: 0,
      conflicts: 0,
      rekeyed: 0,
    });
    const bobImport = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { ...bob, 'content-type': 'application/x-ndjson' },
      payload: `${line('bob', 'order-2')}\n`,
    });
    expect(bobImport.json()).toEqual({
      imported: 1,
      duplicates: 0,
      skipped: 0,
      conflicts: 0,
      rekeyed: 0,
    });
    // the admin still sees everything, positions and links included
    const all = (
      await server.app.inject({ method: 'GET', url: '/api/ledger', headers: auth })
    ).json<{ records: { position: number; prevHash: string; envelope: { tenant_id: string } }[] }>()
      .records;
    expect(all.map((r) => [r.position, r.envelope.tenant_id])).toEqual([
      [3, 'alice'],
      [4, 'bob'],
      [1, 'alice'],
      [2, 'bob'],
    ]);
    expect(all[0]!.prevHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('imports and exports NDJSON and RVLS, verifies and exports the audit trail', async () => {
    const { server, auth } = await setup();
    const ndjson = [1, 2, 3]
      .map((i) =>
        JSON.stringify({
          event_id: `e${i}`,
          occurred_at: '2026-01-01T00:00:00Z',
          tenant_id: null,
          correlation_id: null,
          event: budget(`c${i}`),
        }),
      )
      .join('\n');
    const imp = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { ...auth, 'content-type': 'application/x-ndjson' },
      payload: ndjson,
    });
    expect(imp.json()).toEqual({
      imported: 3,
      duplicates: 0,
      skipped: 0,
      conflicts: 0,
      rekeyed: 0,
    });
    const exp = await server.app.inject({
      method: 'GET',
      url: '/api/ledger/export',
      headers: auth,
    });
    expect(exp.headers['content-type']).toContain('application/x-ndjson');
    expect(exp.body.trim().split('\n')).toHaveLength(3);
    const rvls =
      'RVLS\n{"type":"pattern","data":{"id":"p1","strategy":"retry flaky tests once","embedding_weights":{},"success_rate":0.9,"use_count":3,"domain":"ci","quality":0.8,"is_long_term":false,"last_used":"2026-05-14T10:00:00Z"}}\n{"type":"ewc","data":{"tasks_learned":0,"protection_strength":1000.0,"task_weights":{}}}\nREND';
    const li = await server.app.inject({
      method: 'POST',
      url: '/api/learning/import',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      payload: rvls,
    });
    expect(li.json()).toMatchObject({ patterns: 1, trajectories: 0 });
    const recall = await server.app.inject({
      method: 'GET',
      url: '/api/learning/recall?q=flaky%20tests&k=3',
      headers: auth,
    });
    expect(recall.json<{ hits: { pattern: { id: string } }[] }>().hits[0]!.pattern.id).toBe('p1');
    const le = await server.app.inject({
      method: 'GET',
      url: '/api/learning/export',
      headers: auth,
    });
    expect(le.body.startsWith('RVLS\n')).toBe(true);
    expect(le.body.endsWith('REND')).toBe(true);
    const badRvls = await server.app.inject({
      method: 'POST',
      url: '/api/learning/import',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      payload: 'NOPE',
    });
    expect(badRvls.json()).toMatchObject({ status: 400, code: 'INVALID_RVLS_FILE' });
    const verify = await server.app.inject({
      method: 'GET',
      url: '/api/audit/verify',
      headers: auth,
    });
    expect(verify.json()).toMatchObject({ ok: true });
    const auditExport = await server.app.inject({
      method: 'GET',
      url: '/api/audit/export',
      headers: auth,
    });
    expect(auditExport.json()).toMatchObject({ format: 'kerno.audit' });
  });

  it('lists, approves and rejects approval gates; decided_by is the token, the body only a note', async () => {
    const { server, auth, kernel, dir } = await setup();
    const ops = createToken(dir, { scope: 'admin', label: 'ops-laptop' }).token;
    const waiting = kernel.approvals.request({ agentId: 'a', summary: 'Ship it?' });
    let list: { approvals: { id: string }[] } = { approvals: [] };
    for (let i = 0; i < 100 && list.approvals.length === 0; i++) {
      list = (
        await server.app.inject({ method: 'GET', url: '/api/approvals', headers: auth })
      ).json();
    }
    const id = list.approvals[0]!.id;
    const res = await server.app.inject({
      method: 'POST',
      url: `/api/approvals/${id}/approve`,
      headers: { authorization: `Bearer ${ops}` },
      payload: { by: 'the-ceo' },
    });
    expect(res.json()).toMatchObject({ approved: true, decidedBy: 'ops-laptop', note: 'the-ceo' });
    await expect(waiting).resolves.toMatchObject({ approved: true, decidedBy: 'ops-laptop' });
    const [recorded] = await kernel.ledger.query({ kinds: ['GateDecisionRecorded'] });
    expect(recorded?.envelope.event).toMatchObject({
      data: { decision: { decided_by: 'ops-laptop' } },
    });
    const second = kernel.approvals.request({ agentId: 'a', summary: 'And this?' });
    await waitFor(() => kernel.approvals.list().length === 1, 'the second gate');
    const rejected = await server.app.inject({
      method: 'POST',
      url: `/api/approvals/${kernel.approvals.list()[0]!.id}/reject`,
      headers: auth,
      payload: { note: 'see ticket 7', reason: 'not now' },
    });
    expect(rejected.json()).toMatchObject({
      approved: false,
      decidedBy: 'daemon token',
      note: 'see ticket 7',
      reason: 'not now',
    });
    await expect(second).resolves.toMatchObject({ approved: false });
    const again = await server.app.inject({
      method: 'POST',
      url: `/api/approvals/${id}/reject`,
      headers: auth,
      payload: {},
    });
    expect(again.json()).toMatchObject({ status: 409, code: 'CONFLICT' });
    const unknown = await server.app.inject({
      method: 'POST',
      url: '/api/approvals/nope/approve',
      headers: auth,
    });
    expect(unknown.json()).toMatchObject({ status: 404 });
  });

  it('serves Prometheus metrics and an OpenAPI description', async () => {
    const { server, auth } = await setup();
    const m = await server.app.inject({ method: 'GET', url: '/metrics', headers: auth });
    expect(m.headers['content-type']).toContain('text/plain');
    expect(m.body).toMatch(/^kerno_bus_published_total \d+$/m);
    expect(m.body).toMatch(/^kerno_approvals_pending 0$/m);
    const res = await server.app.inject({ method: 'GET', url: '/api/openapi.json', headers: auth });
    const doc = res.json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/ledger',
        '/api/events',
        '/api/approvals/{id}/approve',
        '/health',
      ]),
    );
  });

  it('answers HEAD /api/events with the stream headers and ends, without becoming a feed client', async () => {
    const { server, auth } = await setup();
    const { url } = await server.listen({ port: 0 });
    const res = await fetch(`${url}/api/events`, { method: 'HEAD', headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(await res.text()).toBe('');
    expect(server.feed.stats().clients).toBe(0);
    const bad = await fetch(`${url}/api/events?types=Nope`, { method: 'HEAD', headers: auth });
    expect(bad.status).toBe(400);
  });

  it('streams kernel events over SSE and resumes from Last-Event-ID', async () => {
    const { server, kernel } = await setup();
    const { port } = await server.listen({ port: 0 });
    const read = async (headers: Record<string, string>, want: number) =>
      (
        await readSse(
          port,
          '/api/events?types=AgentStarted,AgentStopped',
          headers,
          (f) => f.length === want,
        )
      ).map((f) => ({ id: f.id, type: f.type }));
    const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
    const live = read({}, 3);
    await waitFor(() => server.feed.stats().clients === 1, 'the SSE client to subscribe');
    kernel.bus.publish({ type: 'AgentStarted', id: ID });
    kernel.bus.publish({ type: 'AgentCreated', id: ID, name: 'filtered-out' });
    kernel.bus.publish({ type: 'AgentStopped', id: ID });
    kernel.bus.publish({ type: 'AgentStarted', id: ID });
    const events = await live;
    expect(events.map((e) => e.type)).toEqual(['AgentStarted', 'AgentStopped', 'AgentStarted']);
    const resumed = await read({ 'last-event-id': String(events[0]!.id) }, 2);
    expect(resumed).toEqual(events.slice(1));
  });

  it("streams a run's step announcements live without an id, records them only on the run's journal, and never re-sends them on a resume", async () => {
    const { server, kernel } = await setup();
    const { port } = await server.listen({ port: 0 });
    /** Frames until one of type `until` (ids or not), from `headers`' resume point. */
    const read = (headers: Record<string, string>, until: string): Promise<SseFrame[]> =>
      readSse(
        port,
        '/api/events?types=ToolExecutionStarted,ToolExecutionFinished,AgentStopped',
        headers,
        (f) => f.at(-1)?.type === until,
      );
    kernel.define({
      name: 'two-steps',
      version: '1',
      run: async (ctx) => {
        await ctx.step('fetch', () => 1);
        return ctx.step('store', () => 2);
      },
    });
    const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
    const live = read({}, 'AgentStopped');
    await waitFor(() => server.feed.stats().clients === 1, 'the SSE client to subscribe');
    const run = await kernel.start('two-steps', null);
    await expect(run.result()).resolves.toBe(2);
    // An agent's own tool event (not a run step's) is recorded like any other event.
    kernel.bus.publish({
      type: 'ToolExecutionStarted',
      sessionId: 'agent-session',
      toolName: 'search',
      toolCallId: 'call-1',
      toolArgs: {},
    });
    kernel.bus.publish({ type: 'AgentStopped', id: ID });
    const frames = await live;
    const steps = frames.filter((f) => f.data['sessionId'] === run.id);
    expect(steps.map((f) => [f.type, f.data['toolName'], f.id])).toEqual([
      ['ToolExecutionStarted', 'fetch', undefined],
      ['ToolExecutionFinished', 'fetch', undefined],
      ['ToolExecutionStarted', 'store', undefined],
      ['ToolExecutionFinished', 'store', undefined],
    ]);
    const recorded = frames.filter((f) => f.id !== undefined);
    expect(recorded.map((f) => f.type)).toEqual(['ToolExecutionStarted', 'AgentStopped']);
    expect(recorded[0]!.data['sessionId']).toBe('agent-session');
    // The audit trail holds the agent's tool event and not one of the run's steps; the run's
    // journal holds the steps.
    await kernel.audit.flush();
    const details = (await kernel.audit.entries()).map((e) => JSON.stringify(e.action));
    expect(details.filter((d) => d.includes('tool_started'))).toEqual([
      JSON.stringify({ type: 'Other', data: { detail: 'tool_started:search' } }),
    ]);
    expect(details.some((d) => d.includes('tool_finished'))).toBe(false);
    expect((await kernel.runs.get(run.id)).steps.map((s) => s.key)).toEqual(['fetch#1', 'store#1']);
    // A resume from the start replays the recorded events only.
    const resumed = await read({ 'last-event-id': '0' }, 'AgentStopped');
    expect(resumed.map((f) => [f.type, f.id === undefined])).toEqual([
      ['ToolExecutionStarted', false],
      ['AgentStopped', false],
    ]);
  });
});

describe('SSE feed after a resume from the store', () => {
  it("streams run steps' live events to a client that caught up from the store", async () => {
    const k = await testKernel();
    cleanups.push(k.cleanup);
    const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
    // Recorded before the feed starts: in the store only, so a resume reads them from there.
    for (let i = 0; i < 3; i++) k.kernel.bus.publish({ type: 'AgentStarted', id: ID });
    await k.kernel.audit.flush();
    const server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(() => server.close());
    const { port } = await server.listen({ port: 0 });
    k.kernel.define({ name: 'one', version: '1', run: (ctx) => ctx.step('only', () => 1) });
    const frames: SseFrame[] = [];
    const done = readSse(
      port,
      '/api/events?types=AgentStarted,ToolExecutionFinished,AgentStopped',
      { 'last-event-id': '1' },
      (f) => {
        frames.splice(0, frames.length, ...f);
        return f.at(-1)?.type === 'AgentStopped';
      },
    );
    // Caught up: the two recorded events after 1, from the store.
    await waitFor(() => frames.length === 2, 'the resumed events');
    const run = await k.kernel.start('one', null);
    await run.result();
    k.kernel.bus.publish({ type: 'AgentStopped', id: ID });
    expect((await done).map((f) => [f.id, f.type])).toEqual([
      [2, 'AgentStarted'],
      [3, 'AgentStarted'],
      [undefined, 'ToolExecutionFinished'],
      [4, 'AgentStopped'],
    ]);
  });
});

describe('registry over HTTP', () => {
  it('keeps secrets masked unless a reveal-scope token asks, and never leaks them', async () => {
    const { server, auth, dir, kernel } = await setup();
    const SECRET = 'sk-live-SUPER-SECRET-0042';
    const put = await server.app.inject({
      method: 'PUT',
      url: '/api/config/api_token',
      headers: auth,
      payload: { value: SECRET, secret: true },
    });
    expect(put.statusCode).toBe(204);
    await server.app.inject({
      method: 'PUT',
      url: '/api/config/max_threads',
      headers: auth,
      payload: { value: 8 },
    });
    const plain = await server.app.inject({
      method: 'GET',
      url: '/api/config/max_threads',
      headers: auth,
    });
    expect(plain.json()).toMatchObject({ value: 8, secret: false });
    const masked = await server.app.inject({
      method: 'GET',
      url: '/api/config/api_token',
      headers: auth,
    });
    expect(masked.json()).toMatchObject({ secret: true, value: null, revealed: false });
    // Asking to reveal without the scope is refused, saying which token to create.
    const refused = await server.app.inject({
      method: 'GET',
      url: '/api/config/api_token?reveal=true',
      headers: auth,
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toMatchObject({ code: 'FORBIDDEN' });
    expect(refused.json<{ detail: string }>().detail).toContain('kerno tokens create --reveal');
    expect(refused.body).not.toContain(SECRET);
    // A plain value reads with ?reveal=true whatever the token.
    const plainReveal = await server.app.inject({
      method: 'GET',
      url: '/api/config/max_threads?reveal=true',
      headers: auth,
    });
    expect(plainReveal.json()).toMatchObject({ value: 8, secret: false, revealed: false });
    const { token } = createToken(dir, { scope: 'reveal' });
    const revealed = await server.app.inject({
      method: 'GET',
      url: '/api/config/api_token?reveal=true',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(revealed.json()).toMatchObject({ value: SECRET, revealed: true });
    const list = await server.app.inject({ method: 'GET', url: '/api/config', headers: auth });
    expect(list.body).not.toContain(SECRET);
    const rotate = await server.app.inject({
      method: 'POST',
      url: '/api/config/rotate-key',
      headers: auth,
      payload: { newKey: 'another key string' },
    });
    expect(rotate.statusCode).toBe(403);
    await kernel.audit.flush();
    const audit = await server.app.inject({
      method: 'GET',
      url: '/api/audit?limit=1000',
      headers: auth,
    });
    expect(audit.body).toContain('api_token');
    expect(audit.body).not.toContain(SECRET);
    const del = await server.app.inject({
      method: 'DELETE',
      url: '/api/config/api_token',
      headers: auth,
    });
    expect(del.json()).toEqual({ deleted: true });
    const gone = await server.app.inject({
      method: 'GET',
      url: '/api/config/api_token',
      headers: auth,
    });
    expect(gone.json()).toMatchObject({ status: 404, code: 'CONFIG_NOT_FOUND' });
    const modules = await server.app.inject({ method: 'GET', url: '/api/modules', headers: auth });
    expect(modules.json()).toEqual({ modules: [] });
  });
});

describe('dashboard', () => {
  it('is served without a token, with a strict CSP, while the API stays protected', async () => {
    const { server } = await setup();
    const page = await server.app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script, 'index.html loads the built script (npm run build)').toBeDefined();
    const js = await server.app.inject({ method: 'GET', url: script! });
    expect(js.statusCode).toBe(200);
    const escape = await server.app.inject({ method: 'GET', url: '/ui/../package.json' });
    expect([401, 404]).toContain(escape.statusCode);
    expect(escape.body).not.toContain('"name": "kerno"');
    expect((await server.app.inject({ method: 'GET', url: '/ui/secrets.txt' })).statusCode).toBe(
      404,
    );
    expect((await server.app.inject({ method: 'GET', url: '/api/agents' })).statusCode).toBe(401);
  });
});

/**
 * kerno/client against a real daemon (createServer listening on a free port, the global fetch):
 * runs, the ledger (append, query, streamed export and import), approvals, config, audit verify,
 * problems as typed KernoApiErrors, tenant tokens confined, timeouts and an injected fetch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  KernoApiError,
  createClient,
  isKernoApiError,
  type KernoClient,
} from '../../src/client/index.js';
import { KernelError } from '../../src/errors.js';
import { createServer } from '../../src/server/app.js';
import { createToken } from '../../src/server/auth.js';
import { testKernel } from '../helpers/kernel.js';
import { pattern } from '../helpers/learning.js';
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

async function daemon(options: Parameters<typeof testKernel>[0] = {}) {
  const k = await testKernel(options);
  const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
  cleanups.push(k.cleanup, () => server.close());
  const { url } = await server.listen({ port: 0 });
  const client = createClient({ baseUrl: url, token: TOKEN });
  return { ...k, server, url, client };
}

/** The KernoApiError `promise` rejects with. */
async function apiError(promise: Promise<unknown>): Promise<KernoApiError> {
  try {
    await promise;
  } catch (error) {
    expect(isKernoApiError(error)).toBe(true);
    return error as KernoApiError;
  }
  throw new Error('expected a KernoApiError, got an answer');
}

const WAITER = `
  const rl = require('node:readline').createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    const m = JSON.parse(l);
    if (m.type === 'run') process.stdout.write(JSON.stringify({ type: 'wait', name: 'go' }) + '\\n');
    if (m.type === 'signal') process.stdout.write(JSON.stringify({ type: 'result', value: m.payload }) + '\\n');
  });`;

describe('kerno/client on a real daemon', () => {
  it('defines, starts, signals, shows, lists and cancels runs', async () => {
    const { client, kernel } = await daemon();
    expect(
      await client.runs.define({
        name: 'w',
        process: { command: process.execPath, args: ['-e', WAITER] },
      }),
    ).toEqual({ name: 'w', version: '1' });
    const { id } = await client.runs.start({ agent: 'w', input: { a: 1 }, id: 'run-1' });
    expect(id).toBe('run-1');
    // Starting again with the same id is idempotent.
    expect(await client.runs.start({ agent: 'w', input: { a: 1 }, id: 'run-1' })).toEqual({ id });
    await waitFor(async () => (await client.runs.get(id)).status === 'waiting', 'the run to wait');
    expect((await client.runs.get(id)).waitingFor).toEqual({
      kind: 'signal',
      name: 'go',
      until: null,
    });
    expect(await client.runs.signal(id, { name: 'go', payload: 7 })).toEqual({ id, signal: 'go' });
    await kernel.runs.wait(id);
    expect(await client.runs.get(id)).toMatchObject({
      status: 'completed',
      result: 7,
      input: { a: 1 },
    });
    const other = await client.runs.start({ agent: 'w' });
    expect(await client.runs.cancel(other.id, 'not needed')).toMatchObject({
      id: other.id,
      status: 'cancelled',
    });
    expect((await client.runs.list({ status: ['completed'] })).map((r) => r.id)).toEqual([id]);
    expect((await client.runs.list({ agent: 'w', limit: 1 })).length).toBe(1);

    const missing = await apiError(client.runs.get('nope'));
    expect(missing).toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
      request: 'GET /api/runs/nope',
    });
    expect(missing.problem?.code).toBe('NOT_FOUND');
    const badStatus = await apiError(client.runs.list({ status: 'nope' as 'running' }));
    expect(badStatus).toMatchObject({ code: 'INVALID_QUERY', status: 400 });
    expect(badStatus.detail).toContain('status must be one of');
  });

  it('appends and queries the ledger, and streams it out and into another daemon', async () => {
    const { client } = await daemon();
    const first = await client.ledger.append({ event: budget('c1'), tenantId: 't1' });
    expect(first).toMatchObject({ position: 1, envelope: { tenant_id: 't1' } });
    await client.ledger.append({ event: budget('c2'), correlationId: 'corr' });
    expect((await client.ledger.query()).length).toBe(2);
    expect((await client.ledger.query({ tenant: 't1' })).length).toBe(1);
    expect(
      (await client.ledger.query({ correlation: 'corr', kinds: ['BudgetExceeded'] })).length,
    ).toBe(1);
    expect((await client.ledger.verify()).ok).toBe(true);

    const lines: string[] = [];
    for await (const line of (await client.ledger.export()).lines()) lines.push(line);
    expect(lines.map((l) => (JSON.parse(l) as { event_id: string }).event_id)).toEqual(
      (await client.ledger.query()).map((r) => r.envelope.event_id),
    );

    // Streamed in from an async iterable (chunks cut mid-line), into a second daemon.
    const target = await daemon();
    const text = lines.join('\n') + '\n';
    async function* chunks(): AsyncGenerator<Uint8Array> {
      const bytes = new TextEncoder().encode(text);
      for (let i = 0; i < bytes.length; i += 37) yield bytes.slice(i, i + 37);
    }
    expect(await target.client.ledger.import(chunks())).toMatchObject({
      imported: 2,
      duplicates: 0,
    });
    expect(await target.client.ledger.import(text)).toMatchObject({ imported: 0, duplicates: 2 });
    const bad = await apiError(target.client.ledger.import('{"not":"an envelope"}\n'));
    expect(bad.status).toBe(400);
    expect(bad.detail).toContain('Line 1');
  });

  it('streams the learning store out as RVLS and into another daemon; recalls and lists patterns', async () => {
    const source = await daemon();
    source.kernel.learning.savePattern(pattern('p1', 'retry flaky network calls with backoff'));
    source.kernel.learning.savePattern(pattern('p2', 'cache the parsed config'));
    const rvls = await source.client.learning.export();
    expect(rvls.response.headers.get('content-type')).toBe('application/octet-stream');
    const target = await daemon();
    // The download's byte stream is the upload's body: streamed through, never held whole.
    expect(await target.client.learning.import(rvls.body)).toMatchObject({
      patterns: 2,
      skipped: 0,
    });
    expect(await target.client.learning.stats()).toMatchObject({ patternCount: 2 });
    const hits = await target.client.learning.recall('p1', { k: 1 });
    expect(hits.map((h) => h.pattern.id)).toEqual(['p1']);
    expect(await target.client.learning.patterns({ limit: 1 })).toMatchObject({ total: 2 });
    const bad = await apiError(target.client.learning.import('not rvls\n'));
    expect(bad).toMatchObject({ code: 'INVALID_RVLS_FILE', status: 400 });
  });

  it('spawns, lists, shows and stops a process agent; lists recovery runs', async () => {
    const { client } = await daemon();
    const agent = await client.agents.spawn({
      name: 'sleeper',
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      restart: 'temporary',
    });
    expect(agent).toMatchObject({ name: 'sleeper', kind: 'process' });
    await waitFor(async () => (await client.agents.get(agent.id)).pid !== null, 'the process');
    expect((await client.agents.list()).map((a) => a.id)).toContain(agent.id);
    expect(await client.agents.stop(agent.id)).toMatchObject({ id: agent.id });
    // A stopped agent starts again from its last spec.
    await waitFor(async () => (await client.agents.get(agent.id)).outcome != null, 'the stop');
    const restarted = await client.agents.restart(agent.id);
    expect(restarted).toMatchObject({ name: 'sleeper', kind: 'process', outcome: null });
    expect((await apiError(client.agents.restart('nope'))).code).toBe('NOT_FOUND');
    expect(await client.agents.stop(restarted.id)).toMatchObject({ id: restarted.id });
    expect((await apiError(client.agents.get('nope'))).code).toBe('NOT_FOUND');
    expect(await client.recovery.list({ limit: 5 })).toEqual([]);
    expect((await apiError(client.recovery.get('nope'))).code).toBe('NOT_FOUND');
  });

  it('lists and decides approvals; the decision names the token, not the body', async () => {
    const { client, kernel } = await daemon();
    const approved = kernel.approvals.request({ agentId: 'a', summary: 'Ship it?' });
    await waitFor(async () => (await client.approvals.list()).length === 1, 'the gate');
    const [gate] = await client.approvals.list();
    expect(gate).toMatchObject({ status: 'pending', request: { summary: 'Ship it?' } });
    const decision = await client.approvals.approve(gate!.id, { note: 'looks fine' });
    expect(decision).toMatchObject({
      approved: true,
      decidedBy: 'daemon token',
      note: 'looks fine',
    });
    expect((await approved).approved).toBe(true);

    const rejected = kernel.approvals.request({ agentId: 'a', summary: 'And this?' });
    await waitFor(async () => (await client.approvals.list()).length === 1, 'the second gate');
    const [second] = await client.approvals.list();
    expect(await client.approvals.reject(second!.id, { reason: 'no' })).toMatchObject({
      approved: false,
      reason: 'no',
    });
    expect((await rejected).approved).toBe(false);
    expect((await client.approvals.list({ status: 'decided' })).length).toBe(2);
    // Deciding again: a conflict, typed.
    expect(await apiError(client.approvals.approve(second!.id))).toMatchObject({
      code: 'CONFLICT',
      status: 409,
    });
  });

  it('sets, reads, lists and deletes config; a secret is revealed only to a reveal token', async () => {
    const { client, dir, url } = await daemon();
    await client.config.set('model', { name: 'm1' });
    await client.config.set('api/key', 'sk-1', { secret: true });
    expect(await client.config.get('model')).toMatchObject({
      value: { name: 'm1' },
      secret: false,
    });
    expect(await client.config.get('api/key')).toMatchObject({ value: null, secret: true });
    expect((await client.config.list()).map((c) => c.key).sort()).toEqual(['api/key', 'model']);
    const refused = await apiError(client.config.get('api/key', { reveal: true }));
    expect(refused).toMatchObject({ code: 'FORBIDDEN', status: 403 });
    expect(refused.details).toMatchObject({ scope: 'reveal' });
    expect(refused.hint).toContain('scope');
    const reveal = createClient({
      baseUrl: url,
      token: createToken(dir, { scope: 'reveal' }).token,
    });
    expect(await reveal.config.get('api/key', { reveal: true })).toMatchObject({
      value: 'sk-1',
      revealed: true,
    });
    expect(await client.config.delete('model')).toBe(true);
    expect(await client.config.delete('model')).toBe(false);
    expect((await apiError(client.config.get('model'))).code).toBe('CONFIG_NOT_FOUND');
  });

  it('stores, reads, guards and deletes versioned policies', async () => {
    const { client, kernel } = await daemon();
    kernel.policies.register('budget', (spec) => {
      const cost = (spec as { costMicros?: unknown }).costMicros;
      if (typeof cost !== 'number' || cost < 0)
        throw new KernelError('INVALID_ARGUMENT', 'costMicros must be a number >= 0');
      return { costMicros: cost };
    });
    const v1 = await client.policies.set('budget', 'daily', { costMicros: 5 }, { reason: 'cap' });
    expect(v1).toMatchObject({ version: 1, spec: { costMicros: 5 }, reason: 'cap' });
    expect(v1.updatedBy).toBe('daemon token');
    const v2 = await client.policies.set(
      'budget',
      'daily',
      { costMicros: 7 },
      { expectedVersion: 1 },
    );
    expect(v2.version).toBe(2);
    // A change on top of a version the caller did not read: CONFLICT, nothing stored.
    const stale = await apiError(
      client.policies.set('budget', 'daily', { costMicros: 9 }, { expectedVersion: 1 }),
    );
    expect(stale.code).toBe('CONFLICT');
    expect(await client.policies.get('budget', 'daily')).toMatchObject({
      version: 2,
      spec: { costMicros: 7 },
    });
    expect((await client.policies.list({ kind: 'budget' })).map((p) => p.name)).toEqual(['daily']);
    const invalid = await apiError(client.policies.set('budget', 'other', { costMicros: -1 }));
    expect(invalid).toMatchObject({ code: 'INVALID_ARGUMENT', status: 400 });
    expect(
      await client.policies.delete('budget', 'daily', { reason: 'done', expectedVersion: 2 }),
    ).toMatchObject({ version: 3, spec: null });
    expect((await client.policies.history('budget', 'daily')).map((v) => v.version)).toEqual([
      1, 2, 3,
    ]);
    expect((await apiError(client.policies.get('budget', 'daily'))).code).toBe('NOT_FOUND');
  });

  it('reads the audit trail, verifies it against a kept head, and answers health', async () => {
    const { client, kernel } = await daemon();
    kernel.bus.publish({ type: 'AgentStarted', id: '67e55044-10b1-426f-9247-bb680e5fe0c8' });
    const head = await waitFor(async () => {
      const h = await client.audit.head();
      return h.seq > 0 && h;
    }, 'the event to be audited');
    expect(await client.audit.verify({ expectedHead: head })).toMatchObject({ ok: true });
    expect((await client.audit.entries({ limit: 1 })).length).toBe(1);
    expect((await client.audit.export()).head).toEqual({ seq: head.seq, hash: head.hash });
    expect(await client.system.health()).toMatchObject({ status: 'ok', version: '9.9.9' });
    expect(await client.system.metrics()).toContain('kerno_audit_head_seq');
    // Repair appends an acceptance anchor naming the token (an intact chain: no breaks).
    const anchor = await client.audit.repair({ acceptThrough: head.seq, reason: 'checked' });
    expect(anchor).toMatchObject({ through: { seq: head.seq }, breaks: [], by: 'daemon token' });
    await client.ledger.append({ event: budget('b') });
    expect(await client.ledger.repair({ acceptThrough: 1, reason: 'ok' })).toMatchObject({
      through: { seq: 1 },
      reason: 'ok',
    });
    expect(await client.config.encrypt()).toEqual({ encrypted: 0, keys: [] });
    const bad = await apiError(client.audit.entries({ limit: -1 }));
    expect(bad).toMatchObject({ code: 'INVALID_QUERY', status: 400 });
  });

  it('confines a tenant token to its own records and refuses it the admin routes', async () => {
    const { client: admin, dir, url } = await daemon();
    await admin.ledger.append({ event: budget('other'), tenantId: 'globex' });
    const acme: KernoClient = createClient({
      baseUrl: url,
      token: createToken(dir, { scope: 'tenant', tenant: 'acme' }).token,
    });
    const own = await acme.ledger.append({ event: budget('mine') });
    expect(Object.keys(own).sort()).toEqual(['envelope', 'hash']);
    expect(own.envelope.tenant_id).toBe('acme');
    const seen = await acme.ledger.query();
    expect(seen.map((r) => r.envelope.tenant_id)).toEqual(['acme']);
    expect(seen[0]).not.toHaveProperty('position');
    expect((await apiError(acme.ledger.query({ tenant: 'globex' }))).code).toBe('FORBIDDEN');
    expect(
      (await apiError(acme.ledger.append({ event: budget('x'), tenantId: 'globex' }))).code,
    ).toBe('FORBIDDEN');
    const lines: string[] = [];
    for await (const line of (await acme.ledger.export()).lines()) lines.push(line);
    expect(lines.length).toBe(1);
    // Runs are tenant-scoped: it sees its own (none), and cannot list another tenant's.
    expect(await acme.runs.list()).toEqual([]);
    expect((await apiError(acme.runs.page({ tenant: 'globex' }))).code).toBe('FORBIDDEN');
    expect((await apiError(acme.agents.list())).code).toBe('FORBIDDEN');
    expect((await apiError(acme.queues.list())).code).toBe('FORBIDDEN');
    expect((await apiError(acme.audit.head())).code).toBe('FORBIDDEN');
  });

  it('maps a wrong token, an unreachable daemon and a timeout to typed errors', async () => {
    const { url } = await daemon();
    const wrong = await apiError(createClient({ baseUrl: url, token: 'nope' }).runs.list());
    expect(wrong).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });

    const unreachable = await apiError(
      createClient({ baseUrl: 'http://127.0.0.1:9', token: TOKEN }).runs.list(),
    );
    expect(unreachable).toMatchObject({ code: 'UNREACHABLE', status: 0 });

    // A fetch that never answers: the timeout fires (and aborts the request).
    let abortedBy: AbortSignal | undefined;
    const hanging: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        abortedBy = init?.signal ?? undefined;
        init?.signal?.addEventListener('abort', () => reject(new Error('aborted')));
      });
    const slow = createClient({ baseUrl: url, fetch: hanging, timeoutMs: 20 });
    const timedOut = await apiError(slow.runs.list());
    expect(timedOut).toMatchObject({ code: 'TIMEOUT', status: 0 });
    expect(abortedBy?.aborted).toBe(true);

    // The caller's own abort rejects with its reason, not a KernoApiError.
    const ac = new AbortController();
    const call = createClient({ baseUrl: url, fetch: hanging }).runs.list(
      {},
      { signal: ac.signal },
    );
    ac.abort(new Error('changed my mind'));
    await expect(call).rejects.toThrow('changed my mind');

    // Something that is not kerno: a non-problem answer keeps its status class.
    const notKerno: typeof fetch = () => Promise.resolve(new Response('<html>', { status: 502 }));
    expect(
      await apiError(createClient({ baseUrl: url, fetch: notKerno }).runs.list()),
    ).toMatchObject({ code: 'INTERNAL', status: 502 });
    expect(() => createClient({ baseUrl: 'localhost:7420' })).toThrow(KernoApiError);
    // A missing path parameter is refused before any request (it would name another route).
    const noId = await apiError(createClient({ baseUrl: url }).runs.get(''));
    expect(noId).toMatchObject({ code: 'INVALID_ARGUMENT', status: 0 });
    expect(noId.detail).toContain('runs.get needs its id');
  });

  it('works through an injected fetch (here: Fastify inject, no socket)', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(k.cleanup, () => server.close());
    const injected: typeof fetch = async (input, init) => {
      const u = new URL(input as string);
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
      const res = await server.app.inject({
        method: (init?.method ?? 'GET') as 'GET',
        url: u.pathname + u.search,
        headers,
        ...(typeof init?.body === 'string' ? { payload: init.body } : {}),
      });
      return new Response(new Uint8Array(res.rawPayload), {
        status: res.statusCode,
        headers: res.headers as Record<string, string>,
      });
    };
    const client = createClient({
      baseUrl: 'http://kerno.internal',
      token: TOKEN,
      fetch: injected,
    });
    await client.ledger.append({ event: budget('via-inject') });
    expect((await client.ledger.query()).length).toBe(1);
  });

  it('resumes, reruns and forks runs, and pages the list with nextCursor', async () => {
    const counts: Record<string, number> = {};
    const { client, kernel } = await daemon({
      define: [
        {
          name: 'two',
          run: async (ctx, input: unknown) => {
            const bump = (key: string): number => (counts[key] = (counts[key] ?? 0) + 1);
            const a = await ctx.step('a', () => (bump('a'), 1));
            const b = await ctx.step('b', () => {
              bump('b');
              if ((ctx.config as { ok?: boolean } | undefined)?.ok !== true) throw new Error('no');
              return a + 1;
            });
            return { b, input };
          },
        },
      ],
    });
    const { id } = await client.runs.start({ agent: 'two', input: 'x', id: 'r-1' });
    await kernel.runs.wait(id);
    expect(await client.runs.get(id)).toMatchObject({ status: 'failed', resumes: [], forks: [] });

    const resumed = await client.runs.resume(id, { config: { ok: true }, reason: 'fixed' });
    expect(resumed).toMatchObject({ id, resumeCount: 1 });
    await waitFor(async () => (await client.runs.get(id)).status === 'completed', 'the resume');
    const run = await client.runs.get(id);
    expect(run.result).toEqual({ b: 2, input: 'x' });
    expect(run.resumes).toMatchObject([{ n: 1, reason: 'fixed', config: { ok: true } }]);
    expect(run.resumes[0]!.ran).toContain('b#1');
    expect(run.usage).toMatchObject({ tokens: 0, costMicrodollars: 0 });
    expect(typeof run.durationMs).toBe('number');
    expect(counts).toEqual({ a: 1, b: 2 }); // a replayed, b ran again

    const rerun = await client.runs.rerun(id, { id: 'r-2' });
    expect(rerun).toEqual({ id: 'r-2', rerunOf: id });
    await kernel.runs.wait('r-2');
    expect(await client.runs.get('r-2')).toMatchObject({ rerunOf: id, input: 'x' });

    const fork = await client.runs.fork(id, { fromStep: 'b#1', config: { ok: true }, id: 'r-3' });
    expect(fork).toEqual({ id: 'r-3', forkOf: { runId: id, fromStep: 'b#1' } });
    await waitFor(async () => (await client.runs.get('r-3')).status === 'completed', 'the fork');
    expect((await client.runs.get('r-3')).usage.stepsCopied).toBe(1);
    expect((await client.runs.get(id)).forks).toEqual(['r-3']);
    expect(await apiError(client.runs.fork(id, { fromStep: 'nope' }))).toBeInstanceOf(
      KernoApiError,
    );

    // Three runs, two a page: the cursor walks them newest first, each once.
    const first = await client.runs.page({ agent: 'two', limit: 2 });
    expect(first.runs).toHaveLength(2);
    expect(first.nextCursor).toBe(first.runs[1]!.id);
    const second = await client.runs.page({ agent: 'two', limit: 2, cursor: first.nextCursor! });
    expect(second.nextCursor).toBeUndefined();
    expect([...first.runs, ...second.runs].map((r) => r.id).sort()).toEqual(['r-1', 'r-2', 'r-3']);
    expect((await client.runs.page({ q: 'r-2' })).runs.map((r) => r.id)).toEqual(['r-2']);
    expect(await client.runs.list({ status: ['completed'], since: 0 })).toHaveLength(3);
    expect(await client.runs.list({ until: 0 })).toEqual([]);
    expect(await apiError(client.runs.page({ since: 'yesterday' }))).toMatchObject({
      status: 400,
      code: 'INVALID_QUERY',
    });
  });

  it('shows budgets, schedules and queues, and one approval gate', async () => {
    const { client, kernel } = await daemon();
    await client.policies.set('budget', 'daily', { costMicros: 5_000_000, windowMs: 86_400_000 });
    const [row] = await client.budgets.list();
    expect(row).toMatchObject({
      budget: 'daily',
      resource: 'costMicros',
      used: 0,
      limit: 5_000_000,
      breached: false,
    });
    expect(await client.budgets.list({ agent: 'someone' })).toHaveLength(1); // a global budget
    expect(await apiError(client.budgets.decide('no-such-gate', { approve: true }))).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });

    await client.policies.set('schedule', 'poll', { agent: 'report', everyMs: 60_000 });
    const schedules = await client.schedules.list();
    expect(schedules.map((x) => x.name)).toEqual(['poll']);
    const poll = await client.schedules.get('poll');
    expect(poll).toMatchObject({ name: 'poll', version: 1, lastRunId: null });
    expect(typeof poll.nextFireAt).toBe('string');
    expect(await apiError(client.schedules.get('none'))).toMatchObject({ status: 404 });

    await client.policies.set('limit', 'one', { agent: 'report', maxConcurrent: 1 });
    expect(await client.queues.list()).toMatchObject([{ limit: 'one', inUse: 0, queued: [] }]);

    void kernel.approvals.request({ agentId: 'a', summary: 'Ship it?' });
    await waitFor(async () => (await client.approvals.list()).length === 1, 'the gate');
    const [listed] = await client.approvals.list();
    expect(listed!.similar).toEqual([]);
    const shown = await client.approvals.get(listed!.id);
    expect(shown).toMatchObject({ id: listed!.id, status: 'pending', similar: [], votes: [] });
    expect(await apiError(client.approvals.get('nope'))).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });
  });
});

/**
 * Three `kerno up` processes on one PostgreSQL schema and one NATS server: they share events,
 * ledger and audit chain, survive a kill -9 of one of them, recover from a NATS restart and
 * from PostgreSQL dropping their connections, and decide each other's approvals.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { PrivateNatsServer, natsServerSkipReason } from '../helpers/nats.js';
import {
  dropSchema,
  freshSchema,
  killConnections,
  pgAvailable,
  pgSkipReason,
  pgUrl,
} from '../helpers/postgres.js';
import { tempDir } from '../helpers/stores.js';

const natsProblem = natsServerSkipReason();
const REQUIRE = process.env['KERNO_REQUIRE_SERVICES'] === '1';
if (REQUIRE && natsProblem !== undefined)
  throw new Error(`multi-kernel test needs nats-server: ${natsProblem}`);
const runnable = pgAvailable && natsProblem === undefined;
const APPROVAL_AGENT = join(import.meta.dirname, 'fixtures/approval-agent.mjs');
const budget = (chain: string) => ({
  type: 'BudgetExceeded',
  data: { chain_id: chain, resource: 'Tokens', limit: '1', observed: null },
});

async function api<T>(d: Daemon, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(d.url + path, {
    method,
    headers: {
      authorization: `Bearer ${d.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** Collects SSE events of `types` from a daemon until `until` returns true. */
function collect(
  d: Daemon,
  types: string,
  until: (events: { id: number; data: Record<string, unknown> }[]) => boolean,
  onConnected: () => void = () => undefined,
): Promise<{ id: number; data: Record<string, unknown> }[]> {
  return new Promise((resolve, reject) => {
    const got: { id: number; data: Record<string, unknown> }[] = [];
    const req = http.get(
      `${d.url}/api/events?types=${types}`,
      { headers: { authorization: `Bearer ${d.token}` } },
      (res) => {
        // The feed registers a client before it sends the headers: from here on nothing is missed.
        onConnected();
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n\n')) !== -1) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const id = /^id: (\d+)$/m.exec(frame);
            const data = /^data: (.*)$/m.exec(frame);
            if (id !== null && data !== null)
              got.push({
                id: Number(id[1]),
                data: JSON.parse(data[1]!) as Record<string, unknown>,
              });
          }
          if (until(got)) {
            req.destroy();
            resolve(got);
          }
        });
      },
    );
    req.on('error', (e) => (until(got) ? resolve(got) : reject(e)));
    setTimeout(() => {
      req.destroy();
      reject(new Error(`timed out; got ${JSON.stringify(got).slice(0, 300)}`));
    }, 30_000);
  });
}

async function until<T>(fn: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!runnable)(`three kernels on one PostgreSQL and one NATS${pgSkipReason}`, () => {
  const schema = freshSchema('kerno_mk');
  const app = `kerno-mk-${randomBytes(3).toString('hex')}`;
  const tenant = `mk${randomBytes(4).toString('hex')}`;
  let nats: PrivateNatsServer;
  const daemons: Daemon[] = [];
  const dirs: (() => void)[] = [];
  const launch = async (i: number): Promise<Daemon> => {
    const t = tempDir(`kerno-mk-${i}-`);
    dirs.push(t.cleanup);
    return startDaemon(
      [
        '--home',
        t.dir,
        '--store',
        pgUrl(schema, { application_name: `${app}-${i}` }),
        '--bus',
        `${nats.url}?tenant=${tenant}`,
        '--log-level',
        'error',
      ],
      {
        KERNO_REGISTRY_KEY: 'multi-kernel test key',
      },
    );
  };

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    // One after the other: the first migrates the schema (the others would wait on its lock).
    for (let i = 0; i < 3; i++) daemons.push(await launch(i));
  }, 120_000);

  afterAll(async () => {
    for (const d of daemons) await d.stop().catch(() => undefined);
    await nats?.dispose();
    await dropSchema(schema);
    for (const c of dirs) c();
  }, 60_000);

  it('shows one kernel’s events on the others', async () => {
    const [a, b, c] = daemons as [Daemon, Daemon, Daemon];
    let connected = 0;
    let bothConnected!: () => void;
    const subscribed = new Promise<void>((r) => (bothConnected = r));
    const onConnected = (): void => {
      if (++connected === 2) bothConnected();
    };
    const fromA = (ev: { data: Record<string, unknown> }[]) =>
      ev.some((e) => e.data['name'] === 'from-a');
    const seenB = collect(b, 'AgentCreated', fromA, onConnected);
    const seenC = collect(c, 'AgentCreated', fromA, onConnected);
    await subscribed;
    await api(a, 'POST', '/api/agents', {
      name: 'from-a',
      command: process.execPath,
      args: ['-e', 'setTimeout(() => {}, 100)'],
    });
    const [eb, ec] = await Promise.all([seenB, seenC]);
    expect(eb.find((e) => e.data['name'] === 'from-a')!.id).toBe(
      ec.find((e) => e.data['name'] === 'from-a')!.id,
    );
  }, 60_000);

  it('keeps one ledger and one audit chain across the kernels, with concurrent appends through all three', async () => {
    await Promise.all(
      daemons.flatMap((d, i) =>
        Array.from({ length: 30 }, (_, n) =>
          api(d, 'POST', '/api/ledger', { event: budget(`k${i}-${n}`), tenantId: 'shared' }),
        ),
      ),
    );
    const views = await Promise.all(
      daemons.map((d) =>
        api<{ records: { position: number; hash: string }[] }>(
          d,
          'GET',
          '/api/ledger?tenant=shared&limit=1000',
        ),
      ),
    );
    expect(views[0]!.records).toHaveLength(90);
    expect(views[1]).toEqual(views[0]);
    expect(views[2]).toEqual(views[0]);
    for (const d of daemons) {
      expect(await api(d, 'GET', '/api/ledger/verify')).toMatchObject({ ok: true });
      expect(await api(d, 'GET', '/api/audit/verify')).toMatchObject({ ok: true });
    }
    const heads = await Promise.all(
      daemons.map((d) => api<{ seq: number; hash: string }>(d, 'GET', '/api/audit/head')),
    );
    // all kernels see the same chain (give the last in-flight audit writes a moment)
    expect(new Set(heads.map((h) => h.seq)).size).toBeLessThanOrEqual(2);
  }, 60_000);

  it('an approval raised on one kernel is approved through another’s API', async () => {
    const [a, b] = daemons as [Daemon, Daemon];
    const spawned = await api<{ id: string }>(a, 'POST', '/api/agents', {
      name: 'approver',
      command: process.execPath,
      args: [APPROVAL_AGENT],
      recovery: false,
    });
    const gate = await until(async () => {
      const { approvals } = await api<{
        approvals: { id: string; request: { summary: string } }[];
      }>(b, 'GET', '/api/approvals');
      return approvals.find((g) => g.request.summary === 'Cross-kernel approval test');
    }, 'the gate to reach kernel b');
    await api(b, 'POST', `/api/approvals/${gate.id}/approve`, { note: 'kernel-b-operator' });
    const done = await until(async () => {
      const agent = await api<{ status: string }>(a, 'GET', `/api/agents/${spawned.id}`);
      return agent.status === 'stopped' ? agent : undefined;
    }, 'the agent on kernel a to finish');
    expect(done.status).toBe('stopped');
    const decisions = await api<{
      records: { envelope: { event: { data: { decision: { decided_by: string } } } } }[];
    }>(a, 'GET', '/api/ledger?kinds=GateDecisionRecorded');
    // decided_by is the deciding token (kernel b's daemon token), not the body
    expect(decisions.records.map((r) => r.envelope.event.data.decision.decided_by)).toContain(
      'daemon token',
    );
  }, 60_000);

  it('loses no acknowledged append when a kernel is killed -9 mid-load', async () => {
    const victim = daemons[2]!;
    const acked: string[] = [];
    let stop = false;
    const load = Promise.all(
      Array.from({ length: 8 }, async (_, p) => {
        for (let n = 0; !stop; n++) {
          const eventId = `kill-${p}-${n}`;
          try {
            await api(victim, 'POST', '/api/ledger', {
              event: budget(eventId),
              eventId,
              tenantId: 'kill',
            });
            acked.push(eventId);
          } catch {
            return; // the kernel is gone
          }
        }
      }),
    );
    await until(async () => (acked.length >= 100 ? true : undefined), '100 acknowledged appends');
    victim.child.kill('SIGKILL');
    stop = true;
    await load;
    const survivor = daemons[0]!;
    const { records } = await api<{ records: { envelope: { event_id: string } }[] }>(
      survivor,
      'GET',
      '/api/ledger?tenant=kill&limit=10000',
    );
    const stored = new Set(records.map((r) => r.envelope.event_id));
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
    expect(await api(survivor, 'GET', '/api/ledger/verify')).toMatchObject({ ok: true });
    daemons[2] = await launch(2); // back to three
  }, 90_000);

  it('recovers when NATS restarts and when PostgreSQL drops every connection, losing nothing acknowledged', async () => {
    const [a, b] = daemons as [Daemon, Daemon];
    // NATS restart: publications made while it is down are retried and reach the other kernel's bus
    const remote = async (d: Daemon, name: string): Promise<number> => {
      const text = await (
        await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${d.token}` } })
      ).text();
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    };
    const before = await remote(b, 'kerno_bus_remote_received_total');
    expect(before).toBeGreaterThan(0); // b has been receiving a's (and c's) events over NATS
    await nats.stop();
    await api(a, 'POST', '/api/agents', {
      name: 'during-nats-outage',
      command: process.execPath,
      args: ['-e', ''],
    });
    expect(await remote(a, 'kerno_bus_pending_publications')).toBeGreaterThan(0);
    await nats.start();
    await until(
      async () => ((await remote(a, 'kerno_bus_pending_publications')) === 0 ? true : undefined),
      'a to flush its publications',
    );
    await until(
      async () =>
        (await remote(b, 'kerno_bus_remote_received_total')) > before ? true : undefined,
      'b to receive them',
    );
    // PostgreSQL drops all of kernel a's connections: the next requests succeed again
    const killed = await killConnections(`${app}-0`);
    expect(killed).toBeGreaterThan(0);
    const acked: string[] = [];
    for (let n = 0; n < 20; n++) {
      const eventId = `pg-drop-${n}`;
      try {
        await api(a, 'POST', '/api/ledger', {
          event: budget(eventId),
          eventId,
          tenantId: 'pg-drop',
        });
        acked.push(eventId);
      } catch {
        // an append in flight when the connection died is not acknowledged: retried below
        await api(a, 'POST', '/api/ledger', {
          event: budget(eventId),
          eventId,
          tenantId: 'pg-drop',
        });
        acked.push(eventId);
      }
    }
    const { records } = await api<{ records: { envelope: { event_id: string } }[] }>(
      b,
      'GET',
      '/api/ledger?tenant=pg-drop&limit=100',
    );
    expect(records.map((r) => r.envelope.event_id).sort()).toEqual([...acked].sort());
    expect(await api(a, 'GET', '/api/audit/verify')).toMatchObject({ ok: true });
  }, 90_000);
});

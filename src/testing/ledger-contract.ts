/**
 * The ledger contract: identical semantics on every storage backend.
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  createUuidV7,
  isKernelError,
  seededRandom,
  uuidV7Time,
  type ExperienceEvent,
  type UserExperienceEvent,
} from '../index.js';
import { eventChainId } from '../formats/converge-experience-event.js';
import { createLedger, type Ledger } from '../ledger/ledger.js';
import { canonicalJson } from '../util/canonical-json.js';
import type { BackendHarness } from './harness.js';

const T0 = Date.UTC(2026, 4, 14, 10);

function outcome(chain: string, passed = true, latency = 1): ExperienceEvent {
  return {
    type: 'OutcomeRecorded',
    data: {
      chain_id: chain,
      step: 'Planning',
      passed,
      stop_reason: null,
      latency_ms: latency,
      tokens: 42,
      cost_microdollars: null,
      backend: 'local',
    },
  };
}

function budget(chain: string): ExperienceEvent {
  return {
    type: 'BudgetExceeded',
    data: { chain_id: chain, resource: 'Tokens', limit: '1024', observed: '2048' },
  };
}

const HASH = 'ab'.repeat(32);

function approval(gate: string): UserExperienceEvent {
  return {
    type: 'UserApprovalGranted',
    data: { gate_request_id: gate, actor: 'operator-1', policy_snapshot_hash: HASH, reason: null },
  };
}

function override(): UserExperienceEvent {
  return {
    type: 'UserOverrideIssued',
    data: {
      target: { kind: 'Constraint', id: 'max-spend' },
      actor: 'operator-1',
      policy_snapshot_hash: null,
      reason: 'approved by finance',
    },
  };
}

/** One NDJSON line: a bare envelope with a BudgetExceeded event whose limit marks its content. */
function budgetLine(eventId: string, limit: string): string {
  return JSON.stringify({
    event_id: eventId,
    occurred_at: '2026-05-14T09:00:00Z',
    tenant_id: null,
    correlation_id: null,
    event: {
      type: 'BudgetExceeded',
      data: { chain_id: 'c', resource: 'Tokens', limit, observed: null },
    },
  });
}

function lifecycle(from: string, to: string) {
  return {
    from_state: from,
    to_state: to,
    timestamp: '2026-05-14T10:00:00Z',
    actor: 'ops',
    reason: 'why',
    ticket_ref: null,
    tenant_id: null,
  } as never;
}

async function expectCode(p: Promise<unknown>, code: string): Promise<unknown> {
  let thrown: unknown;
  try {
    await p;
  } catch (error) {
    thrown = error;
  }
  expect(isKernelError(thrown), `expected KernelError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
  return thrown;
}

/** Runs the ledger contract on a backend. */
/** Options for {@link ledgerContract}. */
export interface LedgerContractOptions {
  /**
   * Converge envelopes (parsed JSON) for the NDJSON import/export round trip; the test is
   * skipped without them (kerno's own run passes its upstream fixture).
   */
  readonly convergeEnvelopes?: readonly unknown[] | undefined;
}

/** Runs the ledger contract against the storage `open()` answers. */
export function ledgerContract(
  name: string,
  open: () => Promise<BackendHarness>,
  options: LedgerContractOptions = {},
): void {
  const fixture = options.convergeEnvelopes;
  describe(`ledger contract: ${name}`, () => {
    let h: BackendHarness | undefined;
    let clock: ManualClock;
    const start = async (): Promise<{ ledger: Ledger; h: BackendHarness }> => {
      h = await open();
      clock = new ManualClock(T0);
      const ids = createUuidV7({ clock, random: seededRandom(3) });
      return { ledger: createLedger({ log: h.storage.log, clock, ids }), h };
    };
    afterEach(async () => {
      await h?.close();
      h = undefined;
    });

    it('stamps envelopes from the trusted clock and numbers them', async () => {
      const { ledger } = await start();
      const a = await ledger.append(outcome('c1'), { tenantId: 't', correlationId: 'run-1' });
      clock.advance(1500);
      const b = await ledger.append(budget('c1'));
      expect(a.position).toBe(1);
      expect(b.position).toBe(2);
      expect(a.envelope.occurred_at).toBe('2026-05-14T10:00:00.000Z');
      expect(b.envelope.occurred_at).toBe('2026-05-14T10:00:01.500Z');
      expect(uuidV7Time(a.envelope.event_id)).toBe(T0);
      expect(a.envelope).toMatchObject({
        tenant_id: 't',
        correlation_id: 'run-1',
        event: { type: 'OutcomeRecorded' },
      });
      expect(b.envelope.tenant_id).toBeNull();
      expect(b.prevHash).toBe(a.hash);
      const explicit = await ledger.append(budget('c2'), {
        eventId: 'evt-x',
        occurredAt: '2025-01-01T00:00:00Z',
      });
      expect(explicit.envelope).toMatchObject({
        event_id: 'evt-x',
        occurred_at: '2025-01-01T00:00:00Z',
      });
      expect(await ledger.get('evt-x')).toEqual(explicit);
      expect(await ledger.get('nope')).toBeUndefined();
    });

    it('validates on append and stores nothing invalid', async () => {
      const { ledger } = await start();
      await expectCode(
        ledger.append({ type: 'OutcomeRecorded', data: { chain_id: 'c' } } as never),
        'INVALID_EVENT',
      );
      await expectCode(ledger.append({ type: 'Nope', data: {} } as never), 'INVALID_EVENT');
      await expectCode(ledger.append(budget('c'), { occurredAt: '' }), 'INVALID_EVENT');
      await expectCode(ledger.append(budget('c'), { occurredAt: 'x'.repeat(65) }), 'INVALID_EVENT');
      expect((await ledger.head()).seq).toBe(0);
    });

    it('is idempotent by event_id: a retry is a no-op, other content conflicts', async () => {
      const { ledger } = await start();
      const first = await ledger.append(outcome('c'), { eventId: 'e1', tenantId: 't' });
      clock.advance(10);
      expect(await ledger.append(outcome('c'), { eventId: 'e1', tenantId: 't' })).toEqual(first);
      await expectCode(
        ledger.append(outcome('c', false), { eventId: 'e1', tenantId: 't' }),
        'CONFLICT',
      );
      expect(await ledger.appendEnvelope(first.envelope)).toEqual(first);
      expect((await ledger.head()).seq).toBe(1);
    });

    it('gives each tenant its own event_id key space: no conflict, no oracle across tenants', async () => {
      const { ledger } = await start();
      const alice = await ledger.append(budget('a'), { eventId: 'shared', tenantId: 'alice' });
      const bob = await ledger.append(outcome('b'), { eventId: 'shared', tenantId: 'bob' });
      const none = await ledger.append(budget('n'), { eventId: 'shared' });
      expect([alice.position, bob.position, none.position]).toEqual([1, 2, 3]);
      expect(await ledger.get('shared', { tenantId: 'alice' })).toEqual(alice);
      expect(await ledger.get('shared', { tenantId: 'bob' })).toEqual(bob);
      expect(await ledger.get('shared')).toEqual(none);
      expect(await ledger.get('shared', { tenantId: 'carol' })).toBeUndefined();
      // retries stay idempotent and conflicts stay within the tenant
      clock.advance(5);
      expect(await ledger.append(outcome('b'), { eventId: 'shared', tenantId: 'bob' })).toEqual(
        bob,
      );
      const conflict = (await expectCode(
        ledger.append(outcome('other'), { eventId: 'shared', tenantId: 'bob' }),
        'CONFLICT',
      )) as Error;
      expect(conflict.message).toContain('tenant "bob"');
      expect(conflict.message).not.toContain('alice');
      // a tenant named like a key prefix cannot reach into another key space
      const tricky = await ledger.append(budget('t'), { eventId: 'shared', tenantId: 'ali' });
      expect(tricky.position).toBe(4);
      await expectCode(
        ledger.append(budget('x'), { eventId: 'bad\u001fid', tenantId: 'alice' }),
        'INVALID_EVENT',
      );
      // envelopes and imports use the same rule
      const carol = await ledger.appendEnvelope({ ...alice.envelope, tenant_id: 'carol' });
      expect(carol.position).toBe(5);
      expect(await ledger.appendEnvelope(carol.envelope)).toEqual(carol);
      const lines = ['dave', 'erin', 'alice']
        .map((tenant) => JSON.stringify({ ...alice.envelope, tenant_id: tenant }))
        .join('\n');
      expect(await ledger.importNdjson(Readable.from([lines]))).toEqual({
        imported: 2,
        duplicates: 1,
        skipped: 0,
        conflicts: 0,
        rekeyed: 0,
      });
      await expectCode(
        ledger.importNdjson(
          Readable.from([JSON.stringify({ ...bob.envelope, event: budget('changed') })]),
        ),
        'CONFLICT',
      );
      expect((await ledger.head()).seq).toBe(7);
      expect((await ledger.verify()).ok).toBe(true);
    });

    it('still finds records stored before per-tenant keys (key = event_id) for idempotent re-appends', async () => {
      const { ledger, h } = await start();
      // Before per-tenant keys every record's log key was its event_id.
      const legacyEnvelope = (eventId: string, tenant: string | null, event: ExperienceEvent) => ({
        event_id: eventId,
        occurred_at: '2026-05-14T09:00:00.000Z',
        tenant_id: tenant,
        correlation_id: null,
        event,
      });
      const old = [
        legacyEnvelope('old-1', null, budget('o1')),
        legacyEnvelope('old-2', 'alice', budget('o2')),
      ];
      await h.storage.log.append(
        ledger.stream,
        old.map((env) => ({
          timeMs: Date.parse(env.occurred_at),
          body: canonicalJson(env),
          key: env.event_id,
          tenant: env.tenant_id ?? undefined,
          kind: env.event.type,
          chain: eventChainId(env.event),
        })),
      );
      const [noTenant, aliceOld] = await ledger.query({});
      // the default tenant: the same key as ever
      expect(await ledger.get('old-1')).toEqual(noTenant);
      expect(await ledger.append(budget('o1'), { eventId: 'old-1' })).toEqual(noTenant);
      await expectCode(ledger.append(budget('x'), { eventId: 'old-1' }), 'CONFLICT');
      // a tenant's pre-rule record: found by event_id when its tenant_id matches
      expect(await ledger.get('old-2', { tenantId: 'alice' })).toEqual(aliceOld);
      expect(await ledger.get('old-2')).toBeUndefined();
      expect(await ledger.append(budget('o2'), { eventId: 'old-2', tenantId: 'alice' })).toEqual(
        aliceOld,
      );
      expect(await ledger.appendEnvelope(old[1])).toEqual(aliceOld);
      expect(await ledger.appendMany([old[0], old[1]])).toEqual([noTenant, aliceOld]);
      await expectCode(
        ledger.append(budget('x'), { eventId: 'old-2', tenantId: 'alice' }),
        'CONFLICT',
      );
      await expectCode(ledger.appendEnvelope({ ...old[1], event: budget('x') }), 'CONFLICT');
      const ndjson = old.map((e) => JSON.stringify(e)).join('\n');
      expect(await ledger.importNdjson(Readable.from([ndjson]))).toEqual({
        imported: 0,
        duplicates: 2,
        skipped: 0,
        conflicts: 0,
        rekeyed: 0,
      });
      expect((await ledger.head()).seq).toBe(2);
      // another tenant's id space never met the old record
      const bob = await ledger.append(budget('o2'), { eventId: 'old-2', tenantId: 'bob' });
      expect(bob.position).toBe(3);
      expect((await ledger.verify()).ok).toBe(true);
    });

    it('appendMany is all or none', async () => {
      const { ledger } = await start();
      const existing = await ledger.append(budget('c'), { eventId: 'dup' });
      const good = {
        event_id: 'g1',
        occurred_at: '2026-05-14T10:00:00Z',
        tenant_id: null,
        correlation_id: null,
        event: budget('x'),
      };
      await expectCode(
        ledger.appendMany([
          good,
          { ...good, event_id: 'g2', event: { type: 'BudgetExceeded', data: {} } },
        ]),
        'INVALID_EVENT',
      );
      await expectCode(
        ledger.appendMany([good, { ...existing.envelope, event: budget('changed') }]),
        'CONFLICT',
      );
      expect((await ledger.head()).seq).toBe(1);
      const recs = await ledger.appendMany([good, { ...good, event_id: 'g2' }]);
      expect(recs.map((r) => r.position)).toEqual([2, 3]);
    });

    it('queries by tenant, inclusive time range, kinds, correlation, chain and limit, newest last', async () => {
      const { ledger } = await start();
      for (let i = 0; i < 12; i++) {
        await ledger.append(
          i % 3 === 0 ? budget(`chain-${i % 2}`) : outcome(`chain-${i % 2}`, true, i),
          {
            tenantId: i % 2 === 0 ? 'even' : 'odd',
            correlationId: i < 6 ? 'early' : 'late',
            occurredAt: new Date(T0 + i * 1000).toISOString(),
          },
        );
      }
      const pos = async (q: Parameters<Ledger['query']>[0]): Promise<number[]> =>
        (await ledger.query(q)).map((r) => r.position);
      expect(await pos({})).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(await pos({ tenantId: 'even' })).toEqual([1, 3, 5, 7, 9, 11]);
      expect(await pos({ kinds: ['BudgetExceeded'] })).toEqual([1, 4, 7, 10]);
      expect(await pos({ kinds: ['BudgetExceeded', 'OutcomeRecorded'], tenantId: 'odd' })).toEqual([
        2, 4, 6, 8, 10, 12,
      ]);
      expect(await pos({ correlationId: 'late' })).toEqual([7, 8, 9, 10, 11, 12]);
      expect(await pos({ chainId: 'chain-1' })).toEqual([2, 4, 6, 8, 10, 12]);
      const range = { start: new Date(T0 + 2000).toISOString(), end: '2026-05-14T10:00:05Z' };
      expect(await pos({ timeRange: range })).toEqual([3, 4, 5, 6]);
      expect(await pos({ timeRange: { start: T0 + 10_000 } })).toEqual([11, 12]);
      expect(await pos({ limit: 3 })).toEqual([10, 11, 12]);
      expect(
        await pos({
          tenantId: 'even',
          kinds: ['OutcomeRecorded'],
          timeRange: { end: T0 + 8000 },
          limit: 2,
        }),
      ).toEqual([5, 9]);
      await expectCode(ledger.query({ kinds: ['Nope' as never] }), 'INVALID_QUERY');
      await expectCode(ledger.query({ timeRange: { start: 'soon' } }), 'INVALID_QUERY');
      await expectCode(ledger.query({ limit: -5 }), 'INVALID_QUERY');
      await expectCode(ledger.query({ timeRange: { start: T0 + 5000, end: T0 } }), 'INVALID_QUERY');
    });

    it('orders by occurred_at, not by append order', async () => {
      const { ledger } = await start();
      // both before the clock (T0 is 10:00): later occurred_at first
      await ledger.append(budget('a'), { occurredAt: '2026-05-14T09:00:00Z' });
      await ledger.append(budget('b'), { occurredAt: '2026-05-14T08:00:00Z' });
      expect((await ledger.query({})).map((r) => r.position)).toEqual([2, 1]);
      expect((await ledger.query({ limit: 1 })).map((r) => r.position)).toEqual([1]);
    });

    it('enforces the governed-artifact lifecycle', async () => {
      const { ledger } = await start();
      expect(await ledger.artifactState('adapter-1')).toBeUndefined();
      await ledger.writeArtifactStateTransition(
        'adapter-1',
        'Adapter',
        lifecycle('Draft', 'Approved'),
      );
      await ledger.writeArtifactStateTransition(
        'adapter-1',
        'Adapter',
        lifecycle('Approved', 'Active'),
      );
      expect(await ledger.artifactState('adapter-1')).toBe('Active');
      const illegal = (await expectCode(
        ledger.writeArtifactStateTransition(
          'adapter-1',
          'Adapter',
          lifecycle('Active', 'Approved'),
        ),
        'ILLEGAL_TRANSITION',
      )) as Error;
      expect(illegal.message).toMatch(/Quarantined.*Deprecated.*RolledBack|Quarantined|RolledBack/);
      await expectCode(
        ledger.writeArtifactStateTransition('adapter-1', 'Adapter', lifecycle('Draft', 'Approved')),
        'CONFLICT',
      );
      await ledger.writeArtifactStateTransition(
        'adapter-1',
        'Adapter',
        lifecycle('Active', 'RolledBack'),
      );
      await expectCode(
        ledger.writeArtifactStateTransition(
          'adapter-1',
          'Adapter',
          lifecycle('RolledBack', 'Active'),
        ),
        'ILLEGAL_TRANSITION',
      );
      // concurrent transitions of one artifact are serialised: exactly one wins
      const results = await Promise.allSettled([
        ledger.writeArtifactStateTransition(
          'pack-1',
          { Other: 'pack' },
          lifecycle('Draft', 'Approved'),
        ),
        ledger.writeArtifactStateTransition(
          'pack-1',
          { Other: 'pack' },
          lifecycle('Draft', 'Deprecated'),
        ),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(await ledger.artifactState('pack-1')).toBe('Approved');
    });

    it('finds trace links', async () => {
      const { ledger } = await start();
      const trace = {
        type: 'Remote',
        provider_name: 'openai',
        provider_model_id: 'm',
        request_fingerprint: 'rq',
        response_fingerprint: 'rs',
        temperature: 0.2,
        top_p: 1,
        max_tokens: 100,
        provider_metadata: {},
        retried: false,
        retry_reasons: [],
        replayability: 'BestEffort',
      };
      await ledger.append({
        type: 'ReplayTraceRecorded',
        data: { trace_link_id: 'tl-1', trace_link: trace },
      } as never);
      expect(await ledger.getTraceLink('tl-1')).toMatchObject({
        type: 'Remote',
        provider_name: 'openai',
      });
      expect(await ledger.getTraceLink('tl-2')).toBeUndefined();
    });

    it('subscribes: replays history, then follows live appends with no gap or duplicate while appends race', async () => {
      const { ledger } = await start();
      for (let i = 0; i < 50; i++) await ledger.append(budget(`c${i}`));
      const ac = new AbortController();
      const seen: number[] = [];
      const done = (async () => {
        for await (const r of ledger.subscribe({
          fromPosition: 10,
          signal: ac.signal,
          batchSize: 7,
        })) {
          seen.push(r.position);
          if (r.position === 450) ac.abort();
        }
      })();
      // 400 appends racing the catch-up, in bursts
      for (let burst = 0; burst < 8; burst++) {
        await Promise.all(
          Array.from({ length: 50 }, (_, i) => ledger.append(budget(`b${burst}-${i}`))),
        );
      }
      await done;
      expect(seen).toEqual(Array.from({ length: 440 }, (_, i) => i + 11));
    });

    it('filters a subscription and ends it when aborted', async () => {
      const { ledger } = await start();
      await ledger.append(budget('x'), { tenantId: 'a' });
      await ledger.append(outcome('x'), { tenantId: 'b' });
      const ac = new AbortController();
      const got: string[] = [];
      const done = (async () => {
        for await (const r of ledger.subscribe({ filter: { tenantId: 'b' }, signal: ac.signal })) {
          got.push(r.envelope.event.type);
          if (got.length === 2) ac.abort();
        }
      })();
      await ledger.append(budget('y'), { tenantId: 'a' });
      await ledger.append(budget('y'), { tenantId: 'b' });
      await done;
      expect(got).toEqual(['OutcomeRecorded', 'BudgetExceeded']);
    });

    it('verifies its hash chain', async () => {
      const { ledger } = await start();
      for (let i = 0; i < 20; i++) await ledger.append(budget(`c${i}`));
      const head = await ledger.head();
      expect(await ledger.verify({ expectedHead: head })).toEqual({
        ok: true,
        verified: 20,
        checked: 20,
        head: { seq: 20, hash: head.hash },
        breaks: [],
        breakCount: 0,
      });
    });

    it.runIf(fixture !== undefined)(
      'imports converge envelope NDJSON unchanged and exports it again',
      async () => {
        const { ledger } = await start();
        const envelopes = fixture ?? [];
        const ndjson = envelopes.map((e) => JSON.stringify(e)).join('\n') + '\n';
        const result = await ledger.importNdjson(
          Readable.from([ndjson.slice(0, 1000), ndjson.slice(1000)]),
        );
        expect(result).toEqual({
          imported: envelopes.length,
          duplicates: 0,
          skipped: 0,
          conflicts: 0,
          rekeyed: 0,
        });
        const again = await ledger.importNdjson(Readable.from([ndjson]));
        expect(again).toEqual({
          imported: 0,
          duplicates: envelopes.length,
          skipped: 0,
          conflicts: 0,
          rekeyed: 0,
        });
        const lines: string[] = [];
        for await (const line of ledger.exportNdjson()) lines.push(line);
        expect(lines).toHaveLength(envelopes.length);
        expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(
          envelopes.map((e) => JSON.parse(JSON.stringify(e)) as unknown),
        );
        await expectCode(
          ledger.importNdjson(Readable.from(['{"event_id":"x"}\n'])),
          'INVALID_EVENT',
        );
        const skipped = await ledger.importNdjson(Readable.from(['not json\n', ndjson]), {
          onError: 'skip',
        });
        expect(skipped).toEqual({
          imported: 0,
          duplicates: envelopes.length,
          skipped: 1,
          conflicts: 0,
          rekeyed: 0,
        });
      },
    );
    it('stores converge 3.8+ user-side events beside engine ones and queries them by kind', async () => {
      const { ledger } = await start();
      const granted = await ledger.append(approval('hitl-1'), { tenantId: 't' });
      await ledger.append(budget('c1'), { tenantId: 't' });
      await ledger.append(override(), { tenantId: 't' });
      // An ExperienceRecord wrapper is stored as its bare envelope.
      const wrapped = await ledger.appendEnvelope({
        kind: 'User',
        value: {
          event_id: 'evt-user-1',
          occurred_at: 'lamport:0',
          tenant_id: 't',
          correlation_id: 'run-1',
          event: approval('hitl-2'),
        },
      });
      expect(granted.envelope.event).toEqual(approval('hitl-1'));
      expect(wrapped.envelope).toMatchObject({ event_id: 'evt-user-1', occurred_at: 'lamport:0' });
      expect('kind' in wrapped.envelope).toBe(false);

      const users = await ledger.query({ kinds: ['UserApprovalGranted', 'UserOverrideIssued'] });
      expect(users.map((r) => r.envelope.event.type)).toEqual([
        'UserApprovalGranted',
        'UserOverrideIssued',
        'UserApprovalGranted',
      ]);
      const engine = await ledger.query({ kinds: ['BudgetExceeded'] });
      expect(engine).toHaveLength(1);
      expect(await ledger.query({ correlationId: 'run-1' })).toHaveLength(1);
      await expectCode(ledger.query({ kinds: ['UserNope' as never] }), 'INVALID_QUERY');
      await expectCode(
        ledger.append({ type: 'UserCorrection', data: { actor: 'x' } } as never),
        'INVALID_EVENT',
      );

      const records: unknown[] = [];
      for await (const line of ledger.exportNdjson({ form: 'record' })) {
        records.push(JSON.parse(line));
      }
      expect(records.map((r) => (r as { kind: string }).kind)).toEqual([
        'User',
        'Engine',
        'User',
        'User',
      ]);
      expect((records[3] as { value: unknown }).value).toEqual(wrapped.envelope);
      expect((await ledger.verify()).ok).toBe(true);
    });

    it('orders and range-filters an occurred_at that is not RFC 3339 by its append time', async () => {
      const { ledger } = await start();
      const early = await ledger.append(budget('a'), { occurredAt: '2026-05-14T09:00:00Z' });
      clock.advance(1000);
      const lamport = await ledger.append(budget('b'), { occurredAt: 'lamport:0' });
      clock.advance(1000);
      const unixZ = await ledger.append(budget('c'), { occurredAt: '1778752800Z' });
      const between = await ledger.append(budget('d'), {
        occurredAt: new Date(T0 + 1500).toISOString(),
      });
      expect(lamport.envelope.occurred_at).toBe('lamport:0');
      expect(unixZ.envelope.occurred_at).toBe('1778752800Z');

      const all = await ledger.query();
      expect(all.map((r) => r.position)).toEqual([
        early.position,
        lamport.position,
        between.position,
        unixZ.position,
      ]);
      const window = await ledger.query({ timeRange: { start: T0 + 500, end: T0 + 1200 } });
      expect(window.map((r) => r.envelope.occurred_at)).toEqual(['lamport:0']);
      // A real timestamp is still refused when it lies in the future; a Lamport stamp never is.
      await expectCode(
        ledger.append(budget('e'), { occurredAt: new Date(T0 + 3_600_000).toISOString() }),
        'INVALID_ARGUMENT',
      );
      await ledger.append(budget('f'), { occurredAt: 'lamport:99999999999' });
      expect((await ledger.verify()).ok).toBe(true);
    });

    it('imports with onConflict fail (every line named, nothing stored), skip or rekey', async () => {
      const { ledger, h } = await start();
      await ledger.appendEnvelope(JSON.parse(budgetLine('evt-1', 'A')));
      const file =
        [
          budgetLine('evt-1', 'B'), // 1: taken in the ledger by other content
          budgetLine('evt-2', 'C'), // 2
          budgetLine('evt-2', 'D'), // 3: taken by line 2
          budgetLine('evt-1', 'A'), // 4: identical to the ledger's
          budgetLine('evt-3', 'E'), // 5
        ].join('\n') + '\n';
      const head = await ledger.head();

      const failed = (await expectCode(ledger.importNdjson(Readable.from([file])), 'CONFLICT')) as {
        message: string;
        details: { lines: number[]; conflicts: unknown[] };
      };
      expect(failed.details.lines).toEqual([1, 3]);
      expect(failed.details.conflicts).toEqual([
        { line: 1, eventId: 'evt-1', with: 'ledger' },
        { line: 3, eventId: 'evt-2', with: 2 },
      ]);
      expect(failed.message).toMatch(/line 1 \(event_id "evt-1", already in the ledger\)/);
      expect(failed.message).toMatch(/line 3 \(event_id "evt-2", as line 2\)/);
      expect(await ledger.head()).toEqual(head);

      const skipped = await ledger.importNdjson(Readable.from([file]), { onConflict: 'skip' });
      expect(skipped).toEqual({ imported: 2, duplicates: 1, skipped: 0, conflicts: 2, rekeyed: 0 });
      expect(await ledger.get('evt-2')).toMatchObject({
        envelope: { event: { data: { limit: 'C' } } },
      });

      const other = createLedger({ log: h.storage.log, stream: 'experience-rekey', clock });
      await other.appendEnvelope(JSON.parse(budgetLine('evt-1', 'A')));
      const rekeyed = await other.importNdjson(Readable.from([file]), { onConflict: 'rekey' });
      expect(rekeyed).toEqual({ imported: 4, duplicates: 1, skipped: 0, conflicts: 0, rekeyed: 2 });
      const moved = (await other.query({ limit: 10 })).filter((r) =>
        r.envelope.event_id.includes('.rekey-'),
      );
      expect(moved.map((r) => (r.envelope as { metadata?: unknown }).metadata)).toEqual([
        { original_event_id: 'evt-1' },
        { original_event_id: 'evt-2' },
      ]);
      expect(moved.map((r) => r.envelope.event_id)).toEqual([
        expect.stringMatching(/^evt-1\.rekey-[0-9a-f]{12}$/),
        expect.stringMatching(/^evt-2\.rekey-[0-9a-f]{12}$/),
      ]);
      // The new ids come from the content: importing the file again stores nothing new.
      const again = await other.importNdjson(Readable.from([file]), { onConflict: 'rekey' });
      expect(again).toEqual({ imported: 0, duplicates: 5, skipped: 0, conflicts: 0, rekeyed: 0 });
      expect((await other.verify()).ok).toBe(true);
    });

    it('validates ids the converge way: lenient by default, [A-Za-z0-9._-]{1,256} when strict', async () => {
      const { ledger, h } = await start();
      const loose = budgetLine('run 42/evt:1', 'A') + '\n';
      const result = await ledger.importNdjson(Readable.from([loose]));
      expect(result.imported).toBe(1);
      const failed = (await expectCode(
        ledger.importNdjson(Readable.from([budgetLine('run 43/evt:1', 'A') + '\n']), {
          idRules: 'strict',
        }),
        'INVALID_EVENT',
      )) as { details: { line: number; path: string } };
      expect(failed.details).toMatchObject({ line: 1, path: 'event_id' });
      const strict = createLedger({
        log: h.storage.log,
        stream: 'strict',
        clock,
        idRules: 'strict',
      });
      await expectCode(strict.append(budget('c'), { eventId: 'a'.repeat(257) }), 'INVALID_EVENT');
      await expectCode(strict.append(budget('c'), { tenantId: 'tenant a' }), 'INVALID_EVENT');
      await strict.append(budget('c'), { eventId: 'a'.repeat(256), tenantId: 'tenant-a.1_x' });
      await expectCode(ledger.append(budget('c'), { eventId: 'bell\u0007' }), 'INVALID_EVENT');
    });
  });
}

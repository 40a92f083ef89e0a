import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  createAuditTrail,
  createMemoryBus,
  createMemoryLog,
  isKernelError,
  verifyAuditExport,
  type AuditEntry,
  type AuditExport,
  type KernelEvent,
} from '../../src/index.js';
import { everyEvent } from '../helpers/events.js';
import { createMemoryLogger } from '../../src/util/logger.js';
import { tamperable } from '../helpers/tamper-log.js';

const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';

async function filledTrail(n = 5) {
  const clock = new ManualClock(Date.UTC(2026, 4, 14, 10));
  const log = tamperable(createMemoryLog());
  const trail = createAuditTrail({ log, clock });
  for (let i = 1; i <= n; i++) {
    clock.advance(1000);
    await trail.append(
      `agent-${i % 2}`,
      { type: 'ToolCall', data: { tool: 'search', args_json: `{"q":${i}}` } },
      `resource-${i}`,
      {
        note: `n${i}`,
        nested: { k: [i, true, null] },
      },
    );
  }
  return { clock, log, trail };
}

describe('audit trail', () => {
  it('numbers entries from 1, links them and verifies', async () => {
    const { trail } = await filledTrail(5);
    const entries = await trail.entries();
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(entries[0]!.prevHash).toBe('0'.repeat(64));
    for (let i = 1; i < entries.length; i++)
      expect(entries[i]!.prevHash).toBe(entries[i - 1]!.hash);
    expect(entries[2]).toMatchObject({
      actor: 'agent-1',
      action: { type: 'ToolCall', data: { tool: 'search', args_json: '{"q":3}' } },
      resource: 'resource-3',
      metadata: { note: 'n3', nested: { k: [3, true, null] } },
      timestamp: '2026-05-14T10:00:03.000Z',
    });
    expect(await trail.verify()).toEqual({
      ok: true,
      verified: 5,
      checked: 5,
      head: { seq: 5, hash: entries[4]!.hash },
      breaks: [],
      breakCount: 0,
    });
  });

  const fields: [string, Record<string, unknown>][] = [
    ['time', { timeMs: Date.UTC(2026, 4, 14, 10, 0, 3, 1) }],
    ['actor (indexed subject)', { subject: 'intruder' }],
    ['action type (indexed kind)', { kind: 'Other' }],
    ['body: actor', { body: 'BODY:actor' }],
    ['body: action', { body: 'BODY:action' }],
    ['body: resource', { body: 'BODY:resource' }],
    ['body: metadata', { body: 'BODY:metadata' }],
    ['prevHash', { prevHash: 'f'.repeat(64) }],
    ['hash', { hash: 'e'.repeat(64) }],
    ['tenant', { tenant: 'other' }],
  ];

  it.each(fields)('detects a change to %s at that seq', async (_name, patch) => {
    const { log, trail } = await filledTrail(5);
    const [stored] = await log.read('audit', 2, 1);
    const body = JSON.parse(stored!.body) as {
      actor: string;
      action: { data: { tool: string } };
      resource: string;
      metadata: { note: string };
    };
    const p = { ...patch };
    if (p['body'] === 'BODY:actor') p['body'] = stored!.body.replace('"agent-1"', '"agent-9"');
    if (p['body'] === 'BODY:action') p['body'] = stored!.body.replace('"search"', '"delete"');
    if (p['body'] === 'BODY:resource') p['body'] = stored!.body.replace('resource-3', 'resource-X');
    if (p['body'] === 'BODY:metadata') p['body'] = stored!.body.replace('"n3"', '"n4"');
    if (typeof p['body'] === 'string') expect(p['body']).not.toBe(stored!.body);
    expect(body.actor).toBe('agent-1');
    log.tamper(3, p);
    const result = await trail.verify();
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.seq).toBe(3);
      expect(result.verified).toBe(2);
      expect(result.message).toMatch(/record 3/);
    }
  });

  it('detects a truncated tail against a recorded head', async () => {
    const { log, trail } = await filledTrail(5);
    const head = await trail.head();
    expect((await trail.verify({ expectedHead: head })).ok).toBe(true);
    log.truncate(3);
    expect((await trail.verify()).ok).toBe(true); // without the head, a cut tail looks fine …
    const result = await trail.verify({ expectedHead: head }); // … with it, it does not
    expect(result).toMatchObject({ ok: false, seq: 4, reason: 'truncated' });
  });

  it('detects a tail rewritten after the recorded head', async () => {
    const { trail, clock } = await filledTrail(3);
    const head = await trail.head();
    clock.advance(1);
    await trail.append('x', { type: 'Other', data: { detail: 'later' } }, 'r');
    expect((await trail.verify({ expectedHead: head })).ok).toBe(true);
    const forged = { seq: head.seq, hash: 'a'.repeat(64) };
    expect(await trail.verify({ expectedHead: forged })).toMatchObject({
      ok: false,
      seq: 3,
      reason: 'truncated',
    });
  });

  it('reports an entry timestamped in the future', async () => {
    const { log, trail } = await filledTrail(3);
    log.tamper(2, { timeMs: Date.UTC(2099, 0, 1) });
    expect((await trail.verify()).ok).toBe(false);
  });

  it('prunes to a capacity and still verifies from the anchor; a forged survivor is caught', async () => {
    const clock = new ManualClock();
    const inner = createMemoryLog({ capacity: 100 });
    const log = tamperable(inner);
    const trail = createAuditTrail({ log, clock });
    for (let i = 0; i < 250; i++)
      await trail.append('a', { type: 'Other', data: { detail: String(i) } }, 'r');
    const head = await trail.head();
    expect(head).toMatchObject({ seq: 250, firstSeq: 151, anchor: { seq: 150 } });
    const entries = await trail.entries();
    expect(entries).toHaveLength(100);
    expect(entries[0]!.prevHash).toBe(head.anchor!.hash);
    expect(await trail.verify()).toMatchObject({ ok: true, verified: 100 });
    // oxios would trust the first survivor blindly; kerno checks it against the anchor
    log.tamper(151, { body: entries[0] === undefined ? '' : JSON.stringify({ forged: true }) });
    expect(await trail.verify()).toMatchObject({ ok: false, seq: 151, reason: 'hash_mismatch' });
  });

  it('queries by actor, action type, seq range and time range', async () => {
    const { trail } = await filledTrail(6);
    await trail.append('agent-0', { type: 'ConfigChange', data: { key: 'k' } }, 'config');
    expect((await trail.entries({ actor: 'agent-1' })).map((e) => e.seq)).toEqual([1, 3, 5]);
    expect((await trail.entries({ actionTypes: ['ConfigChange'] })).map((e) => e.seq)).toEqual([7]);
    expect((await trail.entries({ fromSeq: 2, toSeq: 4 })).map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(
      (await trail.entries({ from: '2026-05-14T10:00:02Z', to: '2026-05-14T10:00:04.000Z' })).map(
        (e) => e.seq,
      ),
    ).toEqual([2, 3, 4]);
    expect((await trail.entries({ limit: 2 })).map((e) => e.seq)).toEqual([6, 7]);
    await expect(trail.entries({ from: 'yesterday' })).rejects.toMatchObject({
      code: 'INVALID_QUERY',
    });
    await expect(trail.entries({ actionTypes: ['Nope' as 'Other'] })).rejects.toMatchObject({
      code: 'INVALID_QUERY',
    });
  });

  it('rejects a malformed action', async () => {
    const { trail } = await filledTrail(0);
    await expect(trail.append('a', { type: 'Bogus' } as never, 'r')).rejects.toSatisfy((e) =>
      isKernelError(e, 'INVALID_ARGUMENT'),
    );
  });

  describe('export', () => {
    it('exports JSON that verifies on its own, and any altered field fails at its seq', async () => {
      const { trail } = await filledTrail(4);
      const doc = await trail.export();
      expect(doc).toMatchObject({
        format: 'kerno.audit',
        version: 1,
        anchor: null,
        head: { seq: 4 },
      });
      const text = JSON.stringify(doc);
      expect(verifyAuditExport(text)).toMatchObject({ ok: true, verified: 4 });
      const alter: ((e: Record<string, unknown>) => void)[] = [
        (e) => (e['actor'] = 'x'),
        (e) => (e['resource'] = 'x'),
        (e) => (e['timestamp'] = '2026-05-14T10:00:02.500Z'),
        (e) => ((e['action'] as { data: { tool: string } }).data.tool = 'x'),
        (e) => ((e['metadata'] as { note: string }).note = 'x'),
        (e) => (e['metadata'] = null),
        (e) => (e['hash'] = '0'.repeat(64)),
      ];
      for (const change of alter) {
        const copy = JSON.parse(text) as AuditExport;
        change(copy.entries[1] as unknown as Record<string, unknown>);
        expect(verifyAuditExport(copy)).toMatchObject({ ok: false, seq: 2 });
      }
      const cut = JSON.parse(text) as { entries: AuditEntry[] };
      cut.entries.pop();
      expect(verifyAuditExport(cut)).toMatchObject({ ok: false, reason: 'truncated', seq: 4 });
    });

    it('rejects what is not an export', () => {
      expect(() => verifyAuditExport('{')).toThrow(
        expect.objectContaining({ code: 'INVALID_EXPORT' }) as Error,
      );
      expect(() => verifyAuditExport('[]')).toThrow(/Not a kerno audit export/);
    });
  });
});

describe('attached to the bus', () => {
  it('maps events to actions and actors as oxios does, with the event as metadata', async () => {
    const bus = createMemoryBus();
    const trail = createAuditTrail({ log: createMemoryLog(), clock: new ManualClock() });
    trail.attach(bus);
    const events: KernelEvent[] = [
      { type: 'AgentCreated', id: ID, name: 'worker' },
      { type: 'AgentFailed', id: ID, error: 'OOM' },
      { type: 'MemoryStored', id: 'm1', memoryType: 'fact', source: 'auto' },
      { type: 'MemoryRecalled', query: 'rust', count: 3 },
      { type: 'SeedCreated', seedId: ID },
      { type: 'ProjectActivated', projectId: ID, name: 'p' },
      { type: 'EvolutionMaxReached', seedId: ID, finalScore: 1, iterations: 4 },
      { type: 'PhaseCompleted', sessionId: 's', phase: 'Evolve', resultSummary: 'done' },
      { type: 'ConfigChanged', key: 'api_token', change: 'set', secret: true },
    ];
    for (const e of events) bus.publish(e);
    await trail.flush();
    const entries = await trail.entries();
    expect(entries.map((e) => [e.actor, e.action])).toEqual([
      [ID, { type: 'AgentSpawn', data: { task_type: 'worker' } }],
      [ID, { type: 'AgentExit', data: { reason: 'OOM' } }],
      ['system', { type: 'MemoryWrite', data: { entry_id: 'm1:fact' } }],
      ['system', { type: 'MemoryRead', data: { entry_id: 'query:rust:3results' } }],
      ['system', { type: 'Other', data: { detail: `seed_created:${ID}` } }],
      [`project:${ID}`, { type: 'Other', data: { detail: 'project_activated:p' } }],
      ['system', { type: 'Other', data: { detail: `evolution_max:${ID}:score=1:iters=4` } }],
      ['system', { type: 'Other', data: { detail: 'phase_completed:s:evolve:done' } }],
      ['system', { type: 'ConfigChange', data: { key: 'api_token' } }],
    ]);
    expect(entries[0]!.resource).toBe(`AgentCreated { id: ${ID}, name: "worker" }`);
    expect(entries[0]!.metadata).toEqual({ event: events[0] });
  });

  it('records every variant', async () => {
    const bus = createMemoryBus();
    const trail = createAuditTrail({ log: createMemoryLog() });
    trail.attach(bus);
    const all = everyEvent([5]);
    for (const e of all) bus.publish(e);
    const entries = await trail.entries();
    expect(entries.map((e) => (e.metadata as { event: KernelEvent }).event)).toEqual(all);
    expect((await trail.verify()).ok).toBe(true);
  });

  it('leaves the events `skip` names to their own record, and hands them to onUnrecorded listeners only', async () => {
    const bus = createMemoryBus();
    const logger = createMemoryLogger();
    const trail = createAuditTrail({ log: createMemoryLog(), logger });
    const recordedElsewhere = new WeakSet<KernelEvent>();
    trail.attach(bus, { skip: (e) => recordedElsewhere.has(e) });
    const heard: KernelEvent[] = [];
    trail.onUnrecorded(() => {
      throw new Error('listener bug');
    });
    const off = trail.onUnrecorded((e) => heard.push(e));
    const step: KernelEvent = {
      type: 'ToolExecutionStarted',
      sessionId: 'run-1',
      toolName: 'a',
      toolCallId: 'run-1:a#1',
      toolArgs: {},
    };
    recordedElsewhere.add(step);
    bus.publish(step);
    // An equal event that is not the marked one is recorded.
    const own: KernelEvent = { ...step };
    bus.publish(own);
    bus.publish({ type: 'AgentStarted', id: ID });
    off();
    bus.publish(step);
    await trail.flush();
    const entries = await trail.entries();
    expect(entries.map((e) => (e.metadata as { event: KernelEvent }).event)).toEqual([
      own,
      { type: 'AgentStarted', id: ID },
    ]);
    // Once before the listener went away: a throwing listener neither stops it nor the trail.
    expect(heard).toEqual([step]);
    expect(logger.lines.filter((l) => l.message.includes('unrecorded events'))).toHaveLength(2);
    expect(trail.stats().failedWrites).toBe(0);
  });

  it('never drops an event: 1,000,000 published in a tight loop → 1,000,000 entries', async () => {
    const bus = createMemoryBus();
    const trail = createAuditTrail({ log: createMemoryLog() });
    trail.attach(bus);
    const N = 1_000_000;
    for (let i = 0; i < N; i++) bus.publish({ type: 'AgentStarted', id: ID });
    await trail.flush();
    const head = await trail.head();
    expect(head.seq).toBe(N);
    expect(trail.stats()).toMatchObject({ pending: 0, failedWrites: 0 });
  }, 120_000);
});

import {
  createAuditTrail,
  createMemoryBus,
  createMemoryLog,
  storedAuditEvent,
  type AuditAction,
} from '../../src/index.js';
import { throughput, type BenchRow, type BenchSuite } from '../harness.js';

const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';

/** In-memory audit append (hash included) and verify. */
export const auditSuite: BenchSuite = {
  name: 'audit',
  async run(): Promise<BenchRow[]> {
    const N = 300_000;
    const action: AuditAction = { type: 'AgentSpawn', data: { task_type: 'started' } };
    const append = await throughput(
      N,
      async () => {
        const trail = createAuditTrail({ log: createMemoryLog() });
        const pending: Promise<unknown>[] = [];
        for (let i = 0; i < N; i++) {
          pending.push(trail.append(ID, action, `AgentStarted { id: ${ID} }`));
          if (pending.length === 1000) {
            await Promise.all(pending);
            pending.length = 0;
          }
        }
        await Promise.all(pending);
      },
      { rounds: 3 },
    );
    const viaBus = await throughput(
      N,
      async () => {
        const bus = createMemoryBus();
        const trail = createAuditTrail({ log: createMemoryLog() });
        trail.attach(bus);
        for (let i = 0; i < N; i++) bus.publish({ type: 'AgentStarted', id: ID });
        await trail.flush();
      },
      { rounds: 3 },
    );

    const V = 1_000_000;
    const bus = createMemoryBus();
    const trail = createAuditTrail({ log: createMemoryLog() });
    trail.attach(bus);
    for (let i = 0; i < V; i++) bus.publish({ type: 'AgentStarted', id: ID });
    await trail.flush();
    const verify = await throughput(
      V,
      async () => {
        const r = await trail.verify();
        if (!r.ok || r.verified !== V) throw new Error('verify failed in benchmark');
      },
      { rounds: 3, warmup: 1 },
    );
    // The SSE feed's per-event work: a stored audit record becomes an event frame. kerno hands
    // the event's stored JSON text through; the peer decodes the body and re-encodes the event
    // (what the feed did before). Bodies are run step events with arguments, as agents make them.
    const S = 100_000;
    const sseBus = createMemoryBus();
    const sseLog = createMemoryLog();
    const sseTrail = createAuditTrail({ log: sseLog });
    sseTrail.attach(sseBus);
    for (let i = 0; i < S; i++) {
      sseBus.publish({
        type: 'ToolExecutionStarted',
        sessionId: ID,
        toolName: 'search',
        toolCallId: `${ID}:search#${i}`,
        toolArgs: { query: `durable agents "${i}"`, limit: 10, filters: { lang: 'en' } },
      });
    }
    await sseTrail.flush();
    const bodies = (await sseLog.scan('audit', 0, S)).map((r) => r.body);
    let frameBytes = 0;
    const passThrough = await throughput(
      S,
      () => {
        for (let i = 0; i < S; i++) {
          const e = storedAuditEvent(bodies[i]!)!;
          frameBytes += `id: ${i}\nevent: ${e.type}\ndata: ${e.json}\n\n`.length;
        }
      },
      { rounds: 5 },
    );
    const decoded = await throughput(
      S,
      () => {
        for (let i = 0; i < S; i++) {
          const event = (JSON.parse(bodies[i]!) as { metadata: { event: { type: string } } })
            .metadata.event;
          frameBytes += `id: ${i}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`.length;
        }
      },
      { rounds: 5 },
    );
    if (frameBytes === 0) throw new Error('no SSE frames built');
    return [
      {
        group: 'spine',
        name: 'SSE frames from stored audit records (event text passed through)',
        value: passThrough,
        unit: 'frames/s',
        peer: { name: 'JSON.parse body + JSON.stringify event', value: decoded },
        note: 'ToolExecutionStarted entries with arguments, ~600-byte bodies',
      },
      {
        group: 'spine',
        name: 'audit append (hash incl., memory), trail.append',
        value: append,
        unit: 'entries/s',
        goal: { kind: 'min', value: 300_000 },
      },
      {
        group: 'spine',
        name: 'audit append (hash incl., memory), bus → trail',
        value: viaBus,
        unit: 'entries/s',
        goal: { kind: 'min', value: 300_000 },
      },
      {
        group: 'spine',
        name: 'audit verify (memory, 1M entries)',
        value: verify,
        unit: 'entries/s',
        goal: { kind: 'min', value: 1_000_000 },
      },
    ];
  },
};

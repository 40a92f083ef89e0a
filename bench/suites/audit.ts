import {
  createAuditTrail,
  createMemoryBus,
  createMemoryLog,
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
    return [
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

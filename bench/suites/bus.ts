import { EventEmitter } from 'node:events';
import mittModule, { type Emitter } from 'mitt';
import { EventEmitter as TseepEmitter } from 'tseep';
import { createMemoryBus, type KernelEvent } from '../../src/index.js';
import { throughput, type BenchRow, type BenchSuite } from '../harness.js';

const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
const EVENT: KernelEvent = { type: 'AgentOutput', sessionId: 's', agentId: ID, output: 'x' };
const PUBLISHES = 200_000;
// mitt ships CommonJS with ESM-style types; at run time the default import is the factory.
const mitt = mittModule as unknown as <E extends Record<string, unknown>>() => Emitter<E>;

/** Bus fan-out to sync subscribers and the async-iterator delivery rate. */
export const busSuite: BenchSuite = {
  name: 'bus',
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    for (const subscribers of [1, 10, 100]) {
      const publishes = Math.max(20_000, Math.floor(PUBLISHES / subscribers) * 4);
      let sink = 0;
      const handler = (): void => {
        sink++;
      };

      const bus = createMemoryBus();
      for (let i = 0; i < subscribers; i++) bus.on('AgentOutput', handler);
      const kerno = await throughput(publishes, () => {
        for (let i = 0; i < publishes; i++) bus.publish(EVENT);
      });

      const ee = new EventEmitter();
      ee.setMaxListeners(0);
      for (let i = 0; i < subscribers; i++) ee.on('AgentOutput', handler);
      const node = await throughput(publishes, () => {
        for (let i = 0; i < publishes; i++) ee.emit('AgentOutput', EVENT);
      });

      const ts = new TseepEmitter<{ AgentOutput: (e: KernelEvent) => void }>();
      for (let i = 0; i < subscribers; i++) ts.on('AgentOutput', handler);
      const tseep = await throughput(publishes, () => {
        for (let i = 0; i < publishes; i++) ts.emit('AgentOutput', EVENT);
      });

      const m = mitt<{ AgentOutput: KernelEvent }>();
      for (let i = 0; i < subscribers; i++) m.on('AgentOutput', handler);
      const mittRate = await throughput(publishes, () => {
        for (let i = 0; i < publishes; i++) m.emit('AgentOutput', EVENT);
      });
      if (sink === 0) throw new Error('handlers never ran');

      const d = (r: number): number => r * subscribers;
      rows.push({
        group: 'spine',
        name: `bus fan-out, ${subscribers} sync subscriber${subscribers > 1 ? 's' : ''}`,
        value: d(kerno),
        unit: 'deliveries/s',
        peer: { name: 'node:events', value: d(node) },
        goal: subscribers === 10 ? { kind: 'ratio-min', value: 1.0 } : undefined,
        note:
          subscribers === 10
            ? `same run: tseep ${(d(tseep) / 1e6).toFixed(1)}M/s, mitt ${(d(mittRate) / 1e6).toFixed(1)}M/s deliveries`
            : undefined,
      });
      await bus.close();
    }

    // Async iterator: one subscriber draining as the publisher produces in bursts.
    const total = 2_000_000;
    const burst = 512;
    const bus = createMemoryBus();
    const iterRate = await throughput(
      total,
      async () => {
        const sub = bus.subscribe({ capacity: 1024 });
        let got = 0;
        const consumer = (async () => {
          for await (const e of sub) {
            if (e.type === 'Lagged') throw new Error('benchmark consumer lagged');
            if (++got === total) break;
          }
        })();
        for (let sent = 0; sent < total; sent += burst) {
          for (let j = 0; j < burst; j++) bus.publish(EVENT);
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        await consumer;
      },
      { rounds: 3 },
    );
    const ee = new EventEmitter();
    const nodeIter = await throughput(
      total,
      async () => {
        const ac = new AbortController();
        const it = EventEmitter.on(ee, 'AgentOutput', { signal: ac.signal });
        let got = 0;
        const consumer = (async () => {
          for await (const _e of it) if (++got === total) break;
        })();
        for (let sent = 0; sent < total; sent += burst) {
          for (let j = 0; j < burst; j++) ee.emit('AgentOutput', EVENT);
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        await consumer;
        ac.abort();
      },
      { rounds: 3 },
    );
    rows.push({
      group: 'spine',
      name: 'bus async-iterator delivery, 1 subscriber',
      value: iterRate,
      unit: 'deliveries/s',
      peer: { name: 'events.on() iterator', value: nodeIter },
      goal: { kind: 'min', value: 5_000_000 },
    });
    await bus.close();
    return rows;
  },
};

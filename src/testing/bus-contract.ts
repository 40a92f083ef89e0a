/**
 * The event bus contract: every EventBus transport (memory, NATS) must pass this suite unchanged.
 * It covers what one process sees through its bus; cross-process delivery is tested per
 * transport.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMemoryLogger,
  isKernelError,
  isLagged,
  type BusLagged,
  type EventBus,
  type KernelEvent,
  type MemoryBusOptions,
} from '../index.js';
import { take } from './harness.js';

/** How the suite gets a bus. `close` closes it and releases what the transport holds. */
export interface BusHarness {
  readonly bus: EventBus;
  close(): Promise<void>;
}

/** Opens a fresh, empty bus with the given local options. */
export type OpenBus = (options?: MemoryBusOptions) => Promise<BusHarness>;

const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
const out = (n: number): KernelEvent => ({
  type: 'AgentOutput',
  sessionId: 's',
  agentId: ID,
  output: String(n),
});
const outputs = (items: readonly (KernelEvent | BusLagged)[]): string[] =>
  items.map((e) =>
    e.type === 'AgentOutput' ? e.output : e.type === 'Lagged' ? `lagged:${e.skipped}` : e.type,
  );

/** Runs the contract against the transport `name`. */
export function busContract(name: string, openBus: OpenBus): void {
  describe(`EventBus contract: ${name}`, () => {
    const open: BusHarness[] = [];
    const fresh = async (options?: MemoryBusOptions): Promise<EventBus> => {
      const h = await openBus(options);
      open.push(h);
      return h.bus;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((h) => h.close()));
    });

    describe('publishing', () => {
      it('never throws or blocks without subscribers', async () => {
        const bus = await fresh();
        for (let i = 0; i < 1000; i++) bus.publish(out(i));
        expect(bus.stats().published).toBe(1000);
      });

      it('throws CLOSED after close()', async () => {
        const bus = await fresh();
        await bus.close();
        expect(() => bus.publish(out(1))).toThrowError(
          expect.objectContaining({ code: 'CLOSED' }) as Error,
        );
      });

      it('its own publications are not remote', async () => {
        const bus = await fresh();
        const remote: boolean[] = [];
        bus.on('*', (e) => remote.push(bus.isRemote?.(e) ?? false));
        bus.publish(out(1));
        expect(remote).toEqual([false]);
      });
    });

    describe('sync handlers', () => {
      it('deliver in publish order, only events after subscribing', async () => {
        const bus = await fresh();
        bus.publish(out(0));
        const seen: string[] = [];
        bus.on('AgentOutput', (e) => seen.push(e.output));
        for (let i = 1; i <= 5; i++) bus.publish(out(i));
        expect(seen).toEqual(['1', '2', '3', '4', '5']);
      });

      it('select by type, by types, by predicate, or everything', async () => {
        const bus = await fresh();
        const one: string[] = [];
        const two: string[] = [];
        const pred: string[] = [];
        const all: string[] = [];
        bus.on('AgentStarted', (e) => one.push(e.type));
        bus.on(['AgentStarted', 'AgentStopped'], (e) => two.push(e.type));
        bus.on(
          (e) => e.type === 'AgentStopped',
          (e) => pred.push(e.type),
        );
        bus.on('*', (e) => all.push(e.type));
        bus.publish({ type: 'AgentStarted', id: ID });
        bus.publish({ type: 'AgentStopped', id: ID });
        bus.publish(out(1));
        expect(one).toEqual(['AgentStarted']);
        expect(two).toEqual(['AgentStarted', 'AgentStopped']);
        expect(pred).toEqual(['AgentStopped']);
        expect(all).toEqual(['AgentStarted', 'AgentStopped', 'AgentOutput']);
      });

      it('unsubscribe stops delivery at once, even during a dispatch', async () => {
        const bus = await fresh();
        const seen: string[] = [];
        let offB = (): void => undefined;
        bus.on('AgentOutput', (e) => {
          seen.push('a' + e.output);
          offB();
        });
        offB = bus.on('AgentOutput', (e) => seen.push('b' + e.output));
        bus.publish(out(1));
        bus.publish(out(2));
        expect(seen).toEqual(['a1', 'a2']);
      });

      it('keep every subscriber in publish order when a handler publishes', async () => {
        const bus = await fresh();
        const a: string[] = [];
        const b: string[] = [];
        bus.on('AgentOutput', (e) => {
          a.push(e.output);
          if (e.output === '1') bus.publish(out(2));
        });
        bus.on('AgentOutput', (e) => b.push(e.output));
        bus.publish(out(1));
        bus.publish(out(3));
        expect(a).toEqual(['1', '2', '3']);
        expect(b).toEqual(['1', '2', '3']);
      });

      it('a handler added during a dispatch only sees later events', async () => {
        const bus = await fresh();
        const late: string[] = [];
        bus.on('AgentOutput', (e) => {
          if (e.output === '1') {
            bus.publish(out(2)); // queued before the late subscriber exists
            bus.on('AgentOutput', (x) => late.push(x.output));
          }
        });
        bus.publish(out(1));
        bus.publish(out(3));
        expect(late).toEqual(['3']);
      });

      it('a throwing handler is reported and disturbs nobody', async () => {
        const errors: [unknown, KernelEvent][] = [];
        const bus = await fresh({ onHandlerError: (error, event) => errors.push([error, event]) });
        const seen: string[] = [];
        bus.on('AgentOutput', () => {
          throw new Error('boom');
        });
        bus.on('AgentOutput', (e) => seen.push(e.output));
        const sub = bus.subscribe({ types: ['AgentOutput'] });
        expect(() => bus.publish(out(1))).not.toThrow();
        bus.publish(out(2));
        expect(seen).toEqual(['1', '2']);
        expect(errors.map(([e, ev]) => [(e as Error).message, ev.type])).toEqual([
          ['boom', 'AgentOutput'],
          ['boom', 'AgentOutput'],
        ]);
        expect(bus.stats().handlerErrors).toBe(2);
        expect(sub.pending).toBe(2);
      });

      it('logs handler failures when no hook is given, and survives a throwing hook', async () => {
        const logger = createMemoryLogger();
        const bus = await fresh({ logger });
        bus.on('*', () => {
          throw new Error('bad handler');
        });
        bus.publish(out(1));
        expect(logger.lines.filter((l) => l.level === 'error')).toEqual([
          expect.objectContaining({
            level: 'error',
            fields: expect.objectContaining({ error: 'bad handler' }) as unknown,
          }),
        ]);
        const bus2 = await fresh({
          onHandlerError: () => {
            throw new Error('hook broke');
          },
        });
        bus2.on('*', () => {
          throw new Error('x');
        });
        expect(() => bus2.publish(out(1))).not.toThrow();
      });

      it('rejects unknown types at subscription', async () => {
        const bus = await fresh();
        expect(() => bus.on('Nope' as 'AgentOutput', () => undefined)).toThrow(
          /unknown kernel event type/,
        );
        try {
          bus.subscribe({ types: ['Nope' as 'AgentOutput'] });
          expect.unreachable();
        } catch (error) {
          expect(isKernelError(error, 'UNKNOWN_EVENT_TYPE')).toBe(true);
        }
      });
    });

    describe('iterator subscriptions', () => {
      it('get exactly the events after subscribing, in order', async () => {
        const bus = await fresh();
        bus.publish(out(0));
        const sub = bus.subscribe();
        for (let i = 1; i <= 3; i++) bus.publish(out(i));
        expect(outputs(await take(sub, 3))).toEqual(['1', '2', '3']);
        expect(sub.pending).toBe(0);
      });

      it('wake a waiting consumer', async () => {
        const bus = await fresh();
        const sub = bus.subscribe({ types: ['AgentOutput'] });
        const next = sub.next();
        bus.publish({ type: 'AgentStarted', id: ID });
        bus.publish(out(7));
        expect(await next).toEqual({ done: false, value: out(7) });
      });

      it('filter by types and predicate', async () => {
        const bus = await fresh();
        const sub = bus.subscribe({
          types: ['AgentOutput'],
          filter: (e) => e.type === 'AgentOutput' && e.output !== '2',
        });
        for (let i = 1; i <= 4; i++) bus.publish(out(i));
        bus.publish({ type: 'AgentStarted', id: ID });
        expect(outputs(await take(sub, 3))).toEqual(['1', '3', '4']);
      });

      it('a slow subscriber gets a lagged notice with the exact number skipped, then the newest events', async () => {
        const bus = await fresh();
        const slow = bus.subscribe({ capacity: 4 });
        const fast = bus.subscribe({ capacity: 1000 });
        for (let i = 1; i <= 10; i++) bus.publish(out(i));
        const items = await take(slow, 5);
        expect(outputs(items)).toEqual(['lagged:6', '7', '8', '9', '10']);
        expect(isLagged(items[0]!)).toBe(true);
        expect(slow.droppedTotal).toBe(6);
        expect(fast.pending).toBe(10);
        expect(outputs(await take(fast, 10))).toEqual(
          Array.from({ length: 10 }, (_, i) => String(i + 1)),
        );
        // lag is reported again, with only the new count
        for (let i = 11; i <= 16; i++) bus.publish(out(i));
        expect(outputs(await take(slow, 5))).toEqual(['lagged:2', '13', '14', '15', '16']);
      });

      it('keep memory bounded however far a subscriber falls behind', async () => {
        const bus = await fresh();
        const sub = bus.subscribe({ capacity: 16 });
        for (let i = 0; i < 5000; i++) bus.publish(out(i));
        expect(sub.pending).toBe(16);
        expect(sub.droppedTotal).toBe(5000 - 16);
      });

      it('end when their AbortSignal aborts', async () => {
        const bus = await fresh();
        const ac = new AbortController();
        const sub = bus.subscribe({ signal: ac.signal });
        const seen: string[] = [];
        const loop = (async () => {
          for await (const e of sub) seen.push(outputs([e])[0]!);
        })();
        bus.publish(out(1));
        await Promise.resolve();
        ac.abort();
        await loop;
        bus.publish(out(2));
        expect(seen).toEqual(['1']);
        expect(bus.stats().subscriptions).toBe(0);
      });

      it('an already aborted signal gives an ended subscription', async () => {
        const bus = await fresh();
        const sub = bus.subscribe({ signal: AbortSignal.abort() });
        bus.publish(out(1));
        expect(await sub.next()).toEqual({ done: true, value: undefined });
      });

      it('break in for-await unsubscribes', async () => {
        const bus = await fresh();
        const sub = bus.subscribe();
        bus.publish(out(1));
        bus.publish(out(2));
        for await (const e of sub) {
          expect(outputs([e])).toEqual(['1']);
          break;
        }
        expect(bus.stats().subscriptions).toBe(0);
      });

      it('close() on the bus drains buffered events, then ends every iterator', async () => {
        const bus = await fresh();
        const sub = bus.subscribe();
        const waiting = bus.subscribe();
        const pending = waiting.next();
        bus.publish(out(1));
        const second = waiting.next();
        await bus.close();
        expect(await pending).toEqual({ done: false, value: out(1) });
        expect(await second).toEqual({ done: true, value: undefined });
        expect(outputs(await take(sub, 5))).toEqual(['1']);
        expect(await sub.next()).toEqual({ done: true, value: undefined });
      });

      it('support await using (Symbol.asyncDispose)', async () => {
        const bus = await fresh();
        {
          await using sub = bus.subscribe();
          bus.publish(out(1));
          expect(sub.pending).toBe(1);
        }
        expect(bus.stats().subscriptions).toBe(0);
        await bus[Symbol.asyncDispose]();
        expect(() => bus.publish(out(2))).toThrow();
      });

      it('reject a bad capacity', async () => {
        const bus = await fresh();
        expect(() => bus.subscribe({ capacity: 0 })).toThrow(/capacity/);
      });
    });
  });
}

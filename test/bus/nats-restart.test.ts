/**
 * The NATS bus across a server restart, on a private nats-server (the shared one keeps running).
 */
import { afterEach, expect, it } from 'vitest';
import {
  createNatsBus,
  isKernelError,
  type EventBus,
  type KernelEvent,
  type NatsBus,
  type NatsBusOptions,
} from '../../src/index.js';
import { describeWith, natsServerSkipReason, PrivateNatsServer } from '../helpers/nats.js';

const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
const out = (n: number | string): KernelEvent => ({
  type: 'AgentOutput',
  sessionId: 's',
  agentId: ID,
  output: String(n),
});
const range = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

function collect(bus: EventBus, n: number): { seen: string[]; until: Promise<string[]> } {
  const seen: string[] = [];
  let resolve!: (v: string[]) => void;
  const until = new Promise<string[]>((r) => (resolve = r));
  bus.on('AgentOutput', (e) => {
    seen.push(e.output);
    if (seen.length === n) resolve(seen);
  });
  return { seen, until };
}

/** Fast reconnects and retries, so the test spends little time waiting on a dead server. */
const FAST: Partial<NatsBusOptions> = {
  reconnectWaitMs: 50,
  ackTimeoutMs: 1000,
  retryDelayMs: 50,
  closeTimeoutMs: 0,
};

describeWith(natsServerSkipReason(), 'NATS bus across a server restart', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const server = async (options?: { jetstream?: boolean }): Promise<PrivateNatsServer> => {
    const s = await PrivateNatsServer.start(options);
    cleanups.push(() => s.dispose());
    return s;
  };
  const open = async (url: string, options: Partial<NatsBusOptions> = {}): Promise<NatsBus> => {
    const bus = await createNatsBus({ servers: url, ...FAST, ...options });
    cleanups.push(() => bus.close());
    return bus;
  };

  it('loses no acknowledged publication, and delivers those made while the server was down', async () => {
    const nats = await server();
    const a = await open(nats.url);
    const b = await open(nats.url);
    const atB = collect(b, 100);

    for (let i = 1; i <= 50; i++) a.publish(out(i));
    await a.flush(); // 1–50 are acknowledged: they must survive the restart

    for (let i = 51; i <= 75; i++) a.publish(out(i)); // in flight as the server stops
    await nats.stop();
    for (let i = 76; i <= 100; i++) a.publish(out(i)); // the server is down
    expect(a.stats().pendingPublications).toBeGreaterThan(0);
    const flushed = a.flush();

    await nats.start(); // same port, same store
    await flushed;
    expect(a.stats()).toMatchObject({ acked: 100, pendingPublications: 0 });
    expect(await atB.until).toEqual(range(1, 100));
    expect(a.stats().reconnects).toBeGreaterThanOrEqual(1);
    expect(b.stats().reconnects).toBeGreaterThanOrEqual(1);

    // Every publication is stored once, in order, in the restarted server's stream.
    const late = await open(nats.url, { deliver: 'all' });
    const atLate = collect(late, 100);
    expect(await atLate.until).toEqual(range(1, 100));
    expect(late.stats().lastStreamSequence).toBe(100);
  });

  it('refuses a server without JetStream with a message saying what to do', async () => {
    const nats = await server({ jetstream: false });
    const error: unknown = await createNatsBus({ servers: nats.url }).catch((e: unknown) => e);
    expect(isKernelError(error, 'UNREACHABLE')).toBe(true);
    expect((error as Error).message).toMatch(/has no JetStream.*start it with -js/);
  });

  it('flush() times out with UNREACHABLE while the server is down, and close() gives up', async () => {
    const nats = await server();
    const a = await open(nats.url);
    await nats.stop();
    a.publish(out(1));
    const error: unknown = await a.flush({ timeoutMs: 100 }).catch((e: unknown) => e);
    expect(isKernelError(error, 'UNREACHABLE')).toBe(true);
    const pending = a.flush();
    await a.close();
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

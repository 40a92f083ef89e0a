/**
 * The NATS bus across processes: each bus instance stands for one kernel process. The
 * single-process rules are in the bus contract (test/contract/bus.test.ts).
 */
import { afterEach, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import {
  createNatsBus,
  isKernelError,
  isLagged,
  openBus,
  parseBusUrl,
  type BusLagged,
  type EventBus,
  type KernelEvent,
  type NatsBus,
  type NatsBusOptions,
} from '../../src/index.js';
import { take } from '../helpers/events.js';
import {
  NATS_URL,
  deleteStreams,
  describeWith,
  freePort,
  natsSkipReason,
  uniquePrefix,
} from '../helpers/nats.js';

const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
const out = (n: number | string): KernelEvent => ({
  type: 'AgentOutput',
  sessionId: 's',
  agentId: ID,
  output: String(n),
});
const outputs = (items: readonly (KernelEvent | BusLagged)[]): string[] =>
  items.map((e) =>
    e.type === 'AgentOutput' ? e.output : e.type === 'Lagged' ? `lagged:${e.skipped}` : e.type,
  );
const range = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

/** Resolves with the AgentOutput texts `bus` delivers once `done` says enough arrived. */
function collect(
  bus: EventBus,
  done: (seen: readonly string[]) => boolean,
): { seen: string[]; until: Promise<string[]> } {
  const seen: string[] = [];
  let resolve!: (v: string[]) => void;
  const until = new Promise<string[]>((r) => (resolve = r));
  bus.on('AgentOutput', (e) => {
    seen.push(e.output);
    if (done(seen)) resolve(seen);
  });
  return { seen, until };
}

describeWith(await natsSkipReason(), 'NATS bus across processes', () => {
  const buses: NatsBus[] = [];
  const streams = new Set<string>();
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
    await deleteStreams([...streams]);
    streams.clear();
  });
  const open = async (prefix: string, options: Partial<NatsBusOptions> = {}): Promise<NatsBus> => {
    const bus = await createNatsBus({ servers: NATS_URL, subjectPrefix: prefix, ...options });
    buses.push(bus);
    streams.add(bus.streamName);
    return bus;
  };

  it('delivers another process’s events in its publish order, marked remote, never its own twice', async () => {
    const prefix = uniquePrefix();
    const a = await open(prefix);
    const b = await open(prefix);
    const atB = collect(b, (s) => s.length === 100);
    const atA = collect(a, (s) => s.includes('b-done'));
    const remoteAtB: boolean[] = [];
    b.on('*', (e) => remoteAtB.push(b.isRemote(e)));
    for (let i = 1; i <= 100; i++) a.publish(out(i));
    expect(await atB.until).toEqual(range(1, 100));
    expect(remoteAtB).toEqual(Array<boolean>(100).fill(true));
    // b's marker is stored after a's events: once a sees it, a has read past its own events.
    b.publish(out('b-done'));
    expect(await atA.until).toEqual([...range(1, 100), 'b-done']);
    await a.flush();
    expect(a.stats()).toMatchObject({ published: 100, acked: 100, remoteReceived: 1 });
    expect(b.stats()).toMatchObject({ published: 1, remoteReceived: 100, remoteInvalid: 0 });
  });

  it('publishes kerno.<tenant>.<type> subjects with a UUIDv7 Nats-Msg-Id and the origin', async () => {
    const prefix = uniquePrefix();
    const a = await open(prefix, { tenant: 'acme' });
    expect(a.streamName).toBe(`${prefix}_acme`);
    a.publish(out(1));
    a.publish({ type: 'AgentStarted', id: ID });
    await a.flush();
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      const first = await jsm.streams.getMessage(a.streamName, { seq: 1 });
      const second = await jsm.streams.getMessage(a.streamName, { seq: 2 });
      expect(first?.subject).toBe(`${prefix}.acme.AgentOutput`);
      expect(second?.subject).toBe(`${prefix}.acme.AgentStarted`);
      const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
      const id1 = first?.header.get('Nats-Msg-Id');
      const id2 = second?.header.get('Nats-Msg-Id');
      expect(id1).toMatch(uuidV7);
      expect(id2).toMatch(uuidV7);
      expect(id1).not.toBe(id2);
      expect(first?.header.get('Kerno-Origin')).toBe(a.origin);
      expect([first?.header.get('Kerno-Seq'), second?.header.get('Kerno-Seq')]).toEqual(['1', '2']);
      const info = await jsm.streams.info(a.streamName);
      expect(info.config.storage).toBe('file');
      expect(info.config.subjects).toEqual([`${prefix}.acme.>`]);
    } finally {
      await nc.close();
    }
  });

  it('keeps tenants apart', async () => {
    const prefix = uniquePrefix();
    const acme = await open(prefix, { tenant: 'acme' });
    const globex = await open(prefix, { tenant: 'globex' });
    const acme2 = await open(prefix, { tenant: 'acme' });
    const atGlobex = collect(globex, (s) => s.length === 1);
    const atAcme2 = collect(acme2, (s) => s.includes('a2'));
    globex.publish(out('g1'));
    await globex.flush();
    acme.publish(out('a1'));
    acme.publish(out('a2'));
    expect(await atAcme2.until).toEqual(['a1', 'a2']);
    expect(await atGlobex.until).toEqual(['g1']);
    expect(acme.streamName).not.toBe(globex.streamName);
  });

  it('gives a new bus no history unless asked, and replays from a sequence, a time or the start', async () => {
    const prefix = uniquePrefix();
    const a = await open(prefix);
    a.publish(out('old-1'));
    a.publish(out('old-2'));
    a.publish(out('old-3'));
    await a.flush();
    // old-3's own stored time (nanosecond precision): replay from it includes it, not old-2
    const nc = await connect({ servers: NATS_URL });
    const startTime = await jetstreamManager(nc)
      .then((jsm) => jsm.streams.getMessage(a.streamName, { seq: 3 }))
      .then((m) => m!.timestamp)
      .finally(() => nc.close());
    // replayed events reach the subscribers attached when they arrive: attach at once
    const watch = async (options: Partial<NatsBusOptions>) => {
      const bus = await open(prefix, options);
      return { bus, ...collect(bus, (s) => s.includes('new')) };
    };
    const fresh = await watch({});
    const atAll = await watch({ deliver: 'all' });
    const atSeq = await watch({ deliver: { startSequence: 2 } });
    const atTime = await watch({ deliver: { startTime } });
    a.publish(out('new'));
    expect(await fresh.until).toEqual(['new']);
    expect(await atAll.until).toEqual(['old-1', 'old-2', 'old-3', 'new']);
    expect(await atSeq.until).toEqual(['old-2', 'old-3', 'new']);
    expect(await atTime.until).toEqual(['old-3', 'new']);
    expect(fresh.bus.stats().lastStreamSequence).toBe(4);
  });

  it('lags a slow iterator subscriber on remote events, like local ones', async () => {
    const prefix = uniquePrefix();
    const a = await open(prefix);
    const b = await open(prefix);
    const slow = b.subscribe({ capacity: 4 });
    const arrived = collect(b, (s) => s.length === 10);
    for (let i = 1; i <= 10; i++) a.publish(out(i));
    await arrived.until;
    const items = await take(slow, 5);
    expect(outputs(items)).toEqual(['lagged:6', '7', '8', '9', '10']);
    expect(isLagged(items[0]!)).toBe(true);
  });

  it('reports a handler that throws on a remote event and keeps delivering', async () => {
    const prefix = uniquePrefix();
    const errors: string[] = [];
    const a = await open(prefix);
    const b = await open(prefix, {
      onHandlerError: (error, event) => errors.push(`${(error as Error).message}:${event.type}`),
    });
    b.on('AgentOutput', (e) => {
      if (e.output === '1') throw new Error('boom');
    });
    const arrived = collect(b, (s) => s.length === 2);
    a.publish(out(1));
    a.publish(out(2));
    expect(await arrived.until).toEqual(['1', '2']);
    expect(errors).toEqual(['boom:AgentOutput']);
    expect(b.stats().handlerErrors).toBe(1);
  });

  it('sends a reaction published from a handler after its cause', async () => {
    const prefix = uniquePrefix();
    const a = await open(prefix);
    const b = await open(prefix);
    a.on('AgentOutput', (e) => {
      if (e.output === 'cause') a.publish(out('reaction'));
    });
    const atB = collect(b, (s) => s.length === 3);
    a.publish(out('cause'));
    a.publish(out('next'));
    expect(await atB.until).toEqual(['cause', 'reaction', 'next']);
  });

  it('skips stored messages that are not kernel events and delivers plain ones from other tools', async () => {
    const prefix = uniquePrefix();
    const b = await open(prefix);
    const atB = collect(b, (s) => s.includes('after'));
    const nc = await connect({ servers: NATS_URL });
    try {
      const h = headers();
      h.set('Kerno-Origin', 'someone-else');
      h.set('Kerno-Seq', '1');
      nc.publish(`${prefix}.default.AgentOutput`, 'not json', { headers: h });
      nc.publish(`${prefix}.default.AgentOutput`, JSON.stringify({ type: 'AgentOutput' }));
      nc.publish(
        `${prefix}.default.AgentOutput`,
        JSON.stringify({ type: 'AgentOutput', sessionId: 's', agentId: ID, output: 'after' }),
      );
      await nc.flush();
    } finally {
      await nc.close();
    }
    expect(await atB.until).toEqual(['after']);
    expect(b.stats()).toMatchObject({ remoteInvalid: 2, remoteReceived: 1 });
  });

  it('drops publications past maxPendingPublications, counts them, and says so on flush()', async () => {
    const prefix = uniquePrefix();
    const a = await open(prefix, { maxPendingPublications: 3 });
    const local: string[] = [];
    a.on('AgentOutput', (e) => local.push(e.output));
    for (let i = 1; i <= 5; i++) a.publish(out(i));
    expect(local).toEqual(range(1, 5)); // local delivery is unaffected
    expect(a.stats()).toMatchObject({ droppedPublications: 2, pendingPublications: 3 });
    let thrown: unknown;
    await a.flush().catch((error: unknown) => (thrown = error));
    expect(isKernelError(thrown, 'PUBLISH_OVERFLOW')).toBe(true);
    expect((thrown as Error).message).toMatch(
      /2 publication\(s\) were dropped.*maxPendingPublications/,
    );
    expect(a.stats()).toMatchObject({ acked: 3, pendingPublications: 0 });
    a.publish(out(6));
    await a.flush(); // the loss was reported once
    expect(a.stats().acked).toBe(4);
  });

  it('refuses an event larger than the server’s max_payload', async () => {
    const a = await open(uniquePrefix());
    const big = out('x'.repeat(2 * 1024 * 1024));
    expect(() => a.publish(big)).toThrowError(
      expect.objectContaining({ code: 'INVALID_EVENT' }) as Error,
    );
    expect(a.stats().published).toBe(0);
  });

  it('rejects bad options with INVALID_ARGUMENT', async () => {
    const bad: Partial<NatsBusOptions>[] = [
      { tenant: 'a.b' },
      { tenant: '' },
      { subjectPrefix: 'kerno.>' },
      { streamName: 'a.b' },
      { maxPendingPublications: 0 },
      { deliver: { startSequence: 0 } },
      { deliver: { startTime: 'yesterday' } },
    ];
    for (const options of bad) {
      await expect(createNatsBus({ servers: NATS_URL, ...options })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    await expect(createNatsBus({ servers: 'http://127.0.0.1:4222' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('refuses a stream that exists without the bus’s subjects', async () => {
    const prefix = uniquePrefix();
    const a = await open(prefix, { tenant: 'one' });
    await expect(
      createNatsBus({
        servers: NATS_URL,
        subjectPrefix: prefix,
        tenant: 'two',
        streamName: a.streamName,
      }),
    ).rejects.toThrow(/does not capture/);
  });

  it('fails with UNREACHABLE when no server listens', async () => {
    const port = await freePort();
    const error: unknown = await createNatsBus({
      servers: `nats://127.0.0.1:${port}`,
      connectTimeoutMs: 1000,
    }).catch((e: unknown) => e);
    expect(isKernelError(error, 'UNREACHABLE')).toBe(true);
    expect((error as Error).message).toMatch(/Start nats-server with -js/);
  });

  it('openBus opens the memory bus or the NATS bus from a URL', async () => {
    const memory = await openBus('memory');
    expect('flush' in memory).toBe(false);
    await memory.close();
    const prefix = uniquePrefix();
    const nats = (await openBus(`${NATS_URL}?tenant=acme&subjectPrefix=${prefix}`)) as NatsBus;
    buses.push(nats);
    streams.add(nats.streamName);
    expect(nats.subjectBase).toBe(`${prefix}.acme`);
    expect(parseBusUrl('nats://a:4222,nats://b:4222?stream=s1')).toEqual({
      kind: 'nats',
      servers: ['nats://a:4222', 'nats://b:4222'],
      streamName: 's1',
    });
    expect(() => parseBusUrl('redis://x')).toThrow(/use memory, or nats:\/\//);
    expect(() => parseBusUrl('nats://x?tenat=a')).toThrow(/Unknown bus URL parameter "tenat"/);
  });
});

/**
 * The NATS JetStream bus across processes: round-trip latency to a child process (ping → pong,
 * two JetStream hops) and the rate of a publish burst delivered to the other process. The peer
 * is the raw NATS JetStream client doing the same publish → ordered-consumer delivery, in one
 * process on two connections (what kerno's bus adds on top: encoding, validation, origin and
 * order headers, the retrying queue). Skipped with a note when no NATS server answers.
 *
 * The child process is this same file run with KERNO_BENCH_NATS_CHILD set.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createNatsBus, type KernelEvent, type NatsBus } from '../../src/index.js';
import { median, percentile, type BenchRow, type BenchSuite } from '../harness.js';

const NATS_URL = process.env.KERNO_BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
const PINGS = 2000;
const BURST = 20_000;
const ROUNDS = 3;

const event = (sessionId: string, output: string): KernelEvent => ({
  type: 'AgentOutput',
  sessionId,
  agentId: ID,
  output,
});

/** Child: answers pings with pongs, counts bursts, quits on request. */
async function child(prefix: string): Promise<void> {
  const bus = await createNatsBus({ servers: NATS_URL, subjectPrefix: prefix });
  let burst = 0;
  let quit!: () => void;
  const done = new Promise<void>((r) => (quit = r));
  bus.on('AgentOutput', (e) => {
    switch (e.sessionId) {
      case 'ping':
        bus.publish(event('pong', e.output));
        break;
      case 'burst':
        if (++burst === Number(e.output)) {
          burst = 0;
          bus.publish(event('burst-done', e.output));
        }
        break;
      case 'quit':
        quit();
    }
  });
  bus.publish(event('ready', ''));
  await done;
  await bus.close();
}

/** Resolves with the next AgentOutput of `sessionId` on `bus`. */
function next(bus: NatsBus, sessionId: string): Promise<KernelEvent & { output: string }> {
  return new Promise((resolve) => {
    const off = bus.on('AgentOutput', (e) => {
      if (e.sessionId === sessionId) {
        off();
        resolve(e);
      }
    });
  });
}

async function natsReachable(): Promise<string | undefined> {
  try {
    const bus = await createNatsBus({
      servers: NATS_URL,
      subjectPrefix: 'kbprobe',
      connectTimeoutMs: 2000,
    });
    await bus.close();
    await deleteStreams([bus.streamName]);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

async function deleteStreams(names: readonly string[]): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  for (const n of names) await jsm.streams.delete(n).catch(() => false);
  await nc.close();
}

/** kerno: round trips and bursts against a child process. */
async function kernoAcrossProcesses(): Promise<{ rtt: number[]; burstRates: number[] }> {
  const prefix = `kb${randomBytes(5).toString('hex')}`;
  const bus = await createNatsBus({ servers: NATS_URL, subjectPrefix: prefix });
  const ready = next(bus, 'ready');
  const proc = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, KERNO_BENCH_NATS_CHILD: prefix },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  try {
    await ready;
    const rtt: number[] = [];
    for (let i = 0; i < PINGS + 200; i++) {
      const pong = next(bus, 'pong');
      const t0 = performance.now();
      bus.publish(event('ping', String(i)));
      await pong;
      if (i >= 200) rtt.push(performance.now() - t0); // the first 200 warm up
    }
    const burstRates: number[] = [];
    for (let r = 0; r < ROUNDS + 1; r++) {
      const done = next(bus, 'burst-done');
      const t0 = performance.now();
      for (let i = 0; i < BURST; i++) bus.publish(event('burst', String(BURST)));
      await done;
      if (r > 0) burstRates.push((BURST / (performance.now() - t0)) * 1000);
    }
    bus.publish(event('quit', ''));
    await bus.flush();
    await exited;
    return { rtt, burstRates };
  } finally {
    proc.kill();
    await bus.close();
    await deleteStreams([bus.streamName]);
  }
}

/** Peer: the raw JetStream client, publish burst → ordered consumer on a second connection. */
async function rawJetStreamBurst(): Promise<number[]> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream, jetstreamManager, DeliverPolicy } = await import('@nats-io/jetstream');
  const name = `kb${randomBytes(5).toString('hex')}`;
  const pub = await connect({ servers: NATS_URL });
  const sub = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(pub);
  await jsm.streams.add({ name, subjects: [`${name}.>`] });
  try {
    const js = jetstream(pub);
    const consumer = await jetstream(sub).consumers.get(name, {
      deliver_policy: DeliverPolicy.New,
    });
    let received = 0;
    let target = 0;
    let onTarget: (() => void) | undefined;
    const messages = await consumer.consume({
      max_messages: 1000,
      callback: (m) => {
        JSON.parse(m.string());
        if (++received === target) onTarget?.();
      },
    });
    const rates: number[] = [];
    const body = JSON.stringify(event('burst', String(BURST)));
    for (let r = 0; r < ROUNDS + 1; r++) {
      target = received + BURST;
      const done = new Promise<void>((res) => (onTarget = res));
      const t0 = performance.now();
      const acks: Promise<unknown>[] = [];
      for (let i = 0; i < BURST; i++) {
        acks.push(js.publish(`${name}.AgentOutput`, body, { msgID: `${r}-${i}` }));
        // keep at most 1024 in flight, as kerno's bus does
        if (acks.length >= 1024) await acks.shift();
      }
      await Promise.all(acks);
      await done;
      if (r > 0) rates.push((BURST / (performance.now() - t0)) * 1000);
    }
    messages.stop();
    return rates;
  } finally {
    await jsm.streams.delete(name).catch(() => false);
    await pub.close();
    await sub.close();
  }
}

/** Cross-process latency and throughput of the NATS bus. */
export const natsSuite: BenchSuite = {
  name: 'nats',
  async run(): Promise<BenchRow[]> {
    const unreachable = await natsReachable();
    if (unreachable !== undefined) {
      return [
        {
          group: 'scale-out',
          name: 'NATS bus (skipped)',
          value: 0,
          unit: '',
          note: `no NATS JetStream at ${NATS_URL} (${unreachable}); set KERNO_BENCH_NATS_URL or start nats-server -js`,
        },
      ];
    }
    const { rtt, burstRates } = await kernoAcrossProcesses();
    const raw = await rawJetStreamBurst();
    return [
      {
        group: 'scale-out',
        name: 'NATS bus round trip to another process, p50',
        value: percentile(rtt, 50),
        unit: 'ms',
        lowerIsBetter: true,
        note: `${PINGS} sequential ping → pong round trips (two JetStream publish + deliver hops); one way ≈ half`,
      },
      {
        group: 'scale-out',
        name: 'NATS bus round trip to another process, p99',
        value: percentile(rtt, 99),
        unit: 'ms',
        lowerIsBetter: true,
      },
      {
        group: 'scale-out',
        name: 'NATS bus burst delivered to another process',
        value: median(burstRates),
        unit: 'events/s',
        peer: { name: 'raw JetStream client', value: median(raw) },
        note: `${BURST} events published in one burst until the other process received all; peer: raw js.publish (1024 in flight) → ordered consumer, one process, two connections`,
      },
    ];
  },
};

const childPrefix = process.env.KERNO_BENCH_NATS_CHILD;
if (childPrefix !== undefined) await child(childPrefix);

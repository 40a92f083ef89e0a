/**
 * The origin rule: kernels sharing one store over a NATS bus each audit only their own events,
 * so every event is audited exactly once.
 */
import { afterEach, expect, it } from 'vitest';
import {
  createAuditTrail,
  createMemoryLog,
  createNatsBus,
  type EventBus,
  type KernelEvent,
  type NatsBus,
} from '../../src/index.js';
import {
  NATS_URL,
  deleteStreams,
  describeWith,
  natsSkipReason,
  uniquePrefix,
} from '../helpers/nats.js';

const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
const out = (text: string): KernelEvent => ({
  type: 'AgentOutput',
  sessionId: 's',
  agentId: ID,
  output: text,
});

/** Resolves once `bus` has delivered an AgentOutput with this text. */
function arrival(bus: EventBus, text: string): Promise<void> {
  return new Promise((resolve) => {
    const off = bus.on('AgentOutput', (e) => {
      if (e.output === text) {
        off();
        resolve();
      }
    });
  });
}

describeWith(await natsSkipReason(), 'audit trail on a shared NATS bus', () => {
  const buses: NatsBus[] = [];
  afterEach(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await deleteStreams(buses.splice(0).map((b) => b.streamName));
  });

  it('each kernel audits only its own events (remote ones unless includeRemote)', async () => {
    const prefix = uniquePrefix();
    const a = await createNatsBus({ servers: NATS_URL, subjectPrefix: prefix });
    const b = await createNatsBus({ servers: NATS_URL, subjectPrefix: prefix });
    buses.push(a, b);
    const shared = createMemoryLog(); // one store for both kernels
    const trailA = createAuditTrail({ log: shared });
    const trailB = createAuditTrail({ log: shared });
    trailA.attach(a);
    trailB.attach(b);
    const everything = createAuditTrail({ log: createMemoryLog() });
    everything.attach(b, { includeRemote: true });

    const bSawA = arrival(b, 'a2');
    const aSawB = arrival(a, 'b1');
    a.publish(out('a1'));
    a.publish(out('a2'));
    b.publish(out('b1'));
    await Promise.all([bSawA, aSawB]);
    await Promise.all([trailA.flush(), trailB.flush(), everything.flush()]);

    const texts = async (trail: typeof trailA): Promise<string[]> =>
      (await trail.entries()).map(
        (e) => (e.metadata as { event: { output: string } }).event.output,
      );
    expect((await texts(trailA)).sort()).toEqual(['a1', 'a2', 'b1']); // once each, not 6 entries
    expect((await texts(everything)).sort()).toEqual(['a1', 'a2', 'b1']); // b's view, remote included
    expect((await trailA.verify()).ok).toBe(true);
  });
});

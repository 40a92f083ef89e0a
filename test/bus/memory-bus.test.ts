// The transport-independent rules live in test/contract/bus-contract.ts (run on every transport).
import { describe, expect, it } from 'vitest';
import { createMemoryBus, type KernelEvent } from '../../src/index.js';

const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
const out = (n: number): KernelEvent => ({
  type: 'AgentOutput',
  sessionId: 's',
  agentId: ID,
  output: String(n),
});

describe('memory bus', () => {
  it('keeps memory bounded however far a subscriber falls behind (100 000 events)', () => {
    const bus = createMemoryBus();
    const sub = bus.subscribe({ capacity: 16 });
    for (let i = 0; i < 100_000; i++) bus.publish(out(i));
    expect(sub.pending).toBe(16);
    expect(sub.droppedTotal).toBe(100_000 - 16);
  });

  it('is a single-process bus: it tells no event apart as remote', () => {
    const bus = createMemoryBus();
    expect('isRemote' in bus).toBe(false);
  });

  it('rejects a bad default capacity', () => {
    expect(() => createMemoryBus({ defaultCapacity: 0 })).toThrow(/defaultCapacity/);
  });
});

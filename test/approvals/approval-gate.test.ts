import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  approvalIdFor,
  createApprovalGate,
  type ApprovalGate,
} from '../../src/approvals/approval-gate.js';
import { createMemoryBus, ManualClock, isKernelError, type KernelEvent } from '../../src/index.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { tempDir } from '../helpers/stores.js';

const AGENT = '0190a6e2-7c1b-7abc-8def-0123456789ab';

function setup() {
  const clock = new ManualClock(Date.UTC(2026, 4, 14, 10));
  const log = createMemoryLog();
  const bus = createMemoryBus();
  const events: KernelEvent[] = [];
  bus.on('*', (e) => events.push(e));
  const ledger = createLedger({ log, clock });
  const gate = createApprovalGate({ log, bus, ledger, clock });
  return { clock, log, bus, events, ledger, gate };
}

async function until(fn: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !fn(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(fn()).toBe(true);
}

describe('approval gate', () => {
  it('waits for approve, publishes both events and records the decision in the ledger', async () => {
    const { gate, events, ledger } = setup();
    const waiting = gate.request({
      agentId: AGENT,
      summary: 'Deploy v42 to production?',
      action: 'deploy',
      resource: 'prod',
    });
    await until(() => gate.list().length === 1);
    const [pending] = gate.list();
    expect(pending).toMatchObject({
      status: 'pending',
      action: 'deploy',
      resource: 'prod',
      request: {
        agent_id: AGENT,
        summary: 'Deploy v42 to production?',
        timeout: { timeout_secs: 1800, action: 'Reject' },
      },
    });
    expect(pending!.gateId).toBe(`hitl-${pending!.id}`);
    const decision = await gate.approve(pending!.id, { by: 'alice' });
    expect(await waiting).toEqual(decision);
    expect(decision).toMatchObject({
      approved: true,
      decidedBy: 'alice',
      timedOut: false,
      reason: null,
    });
    expect(events.map((e) => e.type)).toEqual(['ApprovalRequested', 'ApprovalResolved']);
    expect(events[1]).toEqual({ type: 'ApprovalResolved', id: pending!.id, approved: true });
    const [rec] = await ledger.query({ kinds: ['GateDecisionRecorded'] });
    expect(rec!.envelope.event).toMatchObject({
      type: 'GateDecisionRecorded',
      data: { decision: { gate_id: pending!.gateId, verdict: 'Approve', decided_by: 'alice' } },
    });
    expect(gate.list()).toEqual([]);
    expect(gate.list({ status: 'decided' })).toHaveLength(1);
  });

  it('rejects with a reason; a second decision is a conflict; unknown ids are NOT_FOUND', async () => {
    const { gate } = setup();
    const snap = await gate.open({ agentId: AGENT, summary: 'Delete the bucket?' });
    const d = await gate.reject(snap.gateId, { by: 'bob', reason: 'too risky' });
    expect(d).toMatchObject({ approved: false, reason: 'too risky' });
    await expect(gate.wait(snap.id)).resolves.toEqual(d);
    await expect(gate.approve(snap.id)).rejects.toSatisfy((e) => isKernelError(e, 'CONFLICT'));
    await expect(gate.approve('nope')).rejects.toSatisfy((e) => isKernelError(e, 'NOT_FOUND'));
  });

  it('times out: reject by default, approve or escalate when configured', async () => {
    const { gate, clock, events } = setup();
    const rejected = gate.request({ agentId: AGENT, summary: 'a' });
    const approved = gate.request({
      agentId: AGENT,
      summary: 'b',
      timeout: { timeout_secs: 60, action: 'Approve' },
    });
    const escalated = await gate.open({
      agentId: AGENT,
      summary: 'c',
      timeout: { timeout_secs: 30, action: 'Escalate' },
    });
    await until(() => gate.list().length === 3);
    clock.advance(60_000);
    await expect(approved).resolves.toMatchObject({
      approved: true,
      timedOut: true,
      decidedBy: 'timeout',
    });
    expect(gate.get(escalated.id)).toMatchObject({ status: 'pending', escalated: true });
    expect(
      events.filter((e) => e.type === 'ApprovalRequested' && e.reason.startsWith('escalated')),
    ).toHaveLength(1);
    clock.advance(1740_000 - 1);
    expect(gate.list().map((g) => g.request.summary)).toContain('a');
    clock.advance(1);
    await expect(rejected).resolves.toMatchObject({
      approved: false,
      timedOut: true,
      reason: 'no decision within 1800 s',
    });
    await gate.approve(escalated.id);
  });

  it('keyed requests map to one gate, so a re-run finds the pending gate or its decision', async () => {
    const { gate } = setup();
    const input = { agentId: AGENT, agentName: 'deployer', key: 'deploy:v42', summary: 'Deploy?' };
    const a = await gate.open(input);
    const b = await gate.open({ ...input, agentId: 'another-run-id' });
    expect(b.id).toBe(a.id);
    expect(a.id).toBe(approvalIdFor('deployer', 'deploy:v42'));
    await gate.approve(a.id);
    await expect(gate.request(input)).resolves.toMatchObject({ approved: true });
  });

  it('stops waiting when aborted, leaving the gate open', async () => {
    const { gate } = setup();
    const ac = new AbortController();
    const p = gate.request({ agentId: AGENT, summary: 'x' }, { signal: ac.signal });
    await until(() => gate.list().length === 1);
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(gate.list()).toHaveLength(1);
  });

  it('validates requests', async () => {
    const { gate } = setup();
    await expect(gate.open({ agentId: AGENT, summary: ' ' })).rejects.toSatisfy((e) =>
      isKernelError(e, 'INVALID_ARGUMENT'),
    );
    await expect(
      gate.open({ agentId: AGENT, summary: 'x', timeout: { timeout_secs: 0, action: 'Reject' } }),
    ).rejects.toSatisfy((e) => isKernelError(e, 'INVALID_ARGUMENT'));
  });

  it('keeps pending gates across a restart; the decision reaches the new waiter; an expired one is applied on start', async () => {
    const { dir, cleanup } = tempDir();
    const url = `sqlite:${join(dir, 'k.db')}`;
    const clock = new ManualClock(Date.UTC(2026, 4, 14, 10));
    let storage = await openStorage(url);
    let gate: ApprovalGate = createApprovalGate({ log: storage.log, clock });
    const keep = await gate.open({
      agentId: AGENT,
      summary: 'survive me',
      agentName: 'deployer',
      key: 'k1',
    });
    await gate.open({
      agentId: AGENT,
      summary: 'expire me',
      timeout: { timeout_secs: 10, action: 'Reject' },
    });
    await gate.close();
    await storage.close(); // the "kernel" stops

    clock.advance(20_000);
    storage = await openStorage(url);
    gate = createApprovalGate({ log: storage.log, clock });
    await gate.start();
    await until(() => gate.list().length === 1);
    expect(gate.list()[0]).toMatchObject({ id: keep.id, request: { summary: 'survive me' } });
    const resumed = gate.request({
      agentId: AGENT,
      summary: 'survive me',
      agentName: 'deployer',
      key: 'k1',
    });
    await gate.approve(keep.id, { by: 'carol' });
    await expect(resumed).resolves.toMatchObject({ approved: true, decidedBy: 'carol' });
    expect(gate.list({ status: 'decided' }).map((g) => [g.request.summary, g.status])).toEqual([
      ['survive me', 'approved'],
      ['expire me', 'rejected'],
    ]);
    await gate.close();
    await storage.close();
    cleanup();
  });

  it('a gate raised through one store connection is decided through another (two kernels, one store)', async () => {
    const { dir, cleanup } = tempDir();
    const url = `sqlite:${join(dir, 'k.db')}`;
    const [s1, s2] = [await openStorage(url), await openStorage(url)];
    const g1 = createApprovalGate({ log: s1.log, pollMs: 10 });
    const g2 = createApprovalGate({ log: s2.log, pollMs: 10 });
    await Promise.all([g1.start(), g2.start()]);
    const waiting = g1.request({ agentId: AGENT, summary: 'cross-kernel?' });
    await until(() => g2.list().length === 1);
    const [seen] = g2.list();
    await g2.approve(seen!.id, { by: 'dave' });
    await expect(waiting).resolves.toMatchObject({ approved: true, decidedBy: 'dave' });
    // both try to decide again: exactly one decision exists
    await expect(g1.reject(seen!.id)).rejects.toSatisfy((e) => isKernelError(e, 'CONFLICT'));
    await Promise.all([g1.close(), g2.close()]);
    await Promise.all([s1.close(), s2.close()]);
    cleanup();
  });
});

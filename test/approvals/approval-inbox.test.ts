/**
 * What an approval inbox needs of a gate: who may decide (tenant, approver group), n-of-m
 * approvers (one rejection rejects), escalation to another group after the timeout, and the
 * similar earlier requests with their decisions. Old gate records still load.
 */
import { describe, expect, it } from 'vitest';
import { createApprovalGate } from '../../src/approvals/approval-gate.js';
import { ManualClock, isKernelError } from '../../src/index.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';
import { canonicalJson } from '../../src/util/canonical-json.js';

function setup() {
  const clock = new ManualClock(Date.UTC(2026, 11, 4, 10));
  const log = createMemoryLog();
  const ledger = createLedger({ log, clock });
  const gate = createApprovalGate({ log, ledger, clock });
  return { clock, log, ledger, gate };
}

const code = (c: string) => (e: unknown) => isKernelError(e) && e.code === c;

describe('approval inbox', () => {
  it('n of m counts two tokens that share a label as two approvers (by token id); the same token twice is a conflict', async () => {
    const { gate, log, clock } = setup();
    const snap = await gate.open({ agentId: 'payer', summary: 'Pay?', approvers: { required: 2 } });
    const admin = (id: string) => ({ by: 'admin', decider: { admin: true, id } });
    expect(await gate.approve(snap.id, admin('tok-1'))).toMatchObject({ status: 'pending' });
    await expect(gate.approve(snap.id, admin('tok-1'))).rejects.toSatisfy(code('CONFLICT'));
    expect(await gate.approve(snap.id, admin('tok-2'))).toMatchObject({ approved: true });
    // The votes survive a reload with both voters.
    const again = createApprovalGate({ log, clock });
    await again.start();
    expect(again.get(snap.id)?.decision?.approved).toBe(true);
    await again.close();
  });

  it('n of m: decided when n distinct approvers approved; the same approver twice is a conflict', async () => {
    const { gate, ledger } = setup();
    const snap = await gate.open({
      agentId: 'payer',
      summary: 'Pay $12,000?',
      approvers: { group: 'finance', required: 2 },
    });
    expect(snap).toMatchObject({ required: 2, group: 'finance', deciders: ['finance'], votes: [] });
    const waiting = gate.wait(snap.id);
    const first = await gate.approve(snap.id, { by: 'alice', note: 'ok by me' });
    expect(first).toMatchObject({
      status: 'pending',
      approved: false,
      required: 2,
      votes: [{ by: 'alice', note: 'ok by me' }],
    });
    expect(gate.get(snap.id)!.status).toBe('pending');
    await expect(gate.approve(snap.id, { by: 'alice' })).rejects.toSatisfy(code('CONFLICT'));
    const second = await gate.approve(snap.id, { by: 'bob' });
    expect(second).toMatchObject({ approved: true, decidedBy: 'alice, bob' });
    await expect(waiting).resolves.toMatchObject({ approved: true });
    expect(gate.get(snap.id)!.votes.map((v) => v.by)).toEqual(['alice', 'bob']);
    const [rec] = await ledger.query({ kinds: ['GateDecisionRecorded'] });
    expect(rec!.envelope.event).toMatchObject({
      data: { decision: { verdict: 'Approve', decided_by: 'alice, bob' } },
    });
    await expect(gate.approve(snap.id, { by: 'carol' })).rejects.toSatisfy(code('CONFLICT'));
  });

  it('n of m: one rejection rejects, whatever the approvals so far', async () => {
    const { gate } = setup();
    const snap = await gate.open({
      agentId: 'payer',
      summary: 'Pay?',
      approvers: { required: 3 },
    });
    await gate.approve(snap.id, { by: 'alice' });
    await gate.approve(snap.id, { by: 'bob' });
    await expect(gate.reject(snap.id, { by: 'carol', reason: 'no budget' })).resolves.toMatchObject(
      { approved: false, decidedBy: 'carol', reason: 'no budget' },
    );
    await expect(gate.approve(snap.id, { by: 'dave' })).rejects.toSatisfy(code('CONFLICT'));
  });

  it('votes survive a restart and count on another kernel sharing the store', async () => {
    const { gate, log, clock } = setup();
    const snap = await gate.open({ agentId: 'a', summary: 'Go?', approvers: { required: 2 } });
    await gate.approve(snap.id, { by: 'alice' });
    await gate.close();
    const other = createApprovalGate({ log, clock });
    await other.start();
    expect(other.get(snap.id)!.votes.map((v) => v.by)).toEqual(['alice']);
    await expect(other.approve(snap.id, { by: 'alice' })).rejects.toSatisfy(code('CONFLICT'));
    await expect(other.approve(snap.id, { by: 'bob' })).resolves.toMatchObject({
      approved: true,
      decidedBy: 'alice, bob',
    });
    await other.close();
  });

  it('a tenant decides only its own gates; a group gate needs the approver scope (admins decide all)', async () => {
    const { gate } = setup();
    const acme = await gate.open({ agentId: 'a', summary: 'acme?', tenantId: 'acme' });
    const globex = await gate.open({ agentId: 'a', summary: 'globex?', tenantId: 'globex' });
    const finance = await gate.open({
      agentId: 'a',
      summary: 'finance?',
      tenantId: 'acme',
      approvers: { group: 'finance' },
    });
    const acmeToken = { admin: false, tenant: 'acme', groups: [] };
    // another tenant's gate: answered as if it did not exist
    await expect(gate.approve(globex.id, { decider: acmeToken })).rejects.toSatisfy(
      code('NOT_FOUND'),
    );
    await expect(gate.reject(globex.id, { decider: acmeToken })).rejects.toSatisfy(
      code('NOT_FOUND'),
    );
    expect(gate.list({ tenant: 'acme' }).map((g) => g.id)).toEqual([acme.id, finance.id]);
    // a group gate: FORBIDDEN without approver:finance, saying which scope it needs
    await expect(gate.approve(finance.id, { decider: acmeToken })).rejects.toSatisfy(
      (e) => code('FORBIDDEN')(e) && /approver:finance/.test((e as Error).message),
    );
    await expect(
      gate.approve(finance.id, {
        by: 'fin',
        decider: { admin: false, tenant: 'acme', groups: ['finance'] },
      }),
    ).resolves.toMatchObject({ approved: true, decidedBy: 'fin' });
    await expect(gate.approve(acme.id, { decider: acmeToken })).resolves.toMatchObject({
      approved: true,
    });
    await expect(
      gate.approve(globex.id, { decider: { admin: true, groups: [] } }),
    ).resolves.toMatchObject({ approved: true });
  });

  it('escalates to another group after the timeout: that group may then decide', async () => {
    const { gate, clock } = setup();
    const snap = await gate.open({
      agentId: 'a',
      summary: 'Wire $1M?',
      approvers: { group: 'finance', escalateTo: 'cfo' },
      timeout: { timeout_secs: 600, action: 'Escalate' },
    });
    const cfo = { admin: false, groups: ['cfo'] };
    await expect(gate.approve(snap.id, { decider: cfo })).rejects.toSatisfy(
      (e) =>
        code('FORBIDDEN')(e) && /after its timeout also approver:cfo/.test((e as Error).message),
    );
    clock.advance(600_000 - 1);
    expect(gate.get(snap.id)).toMatchObject({ escalated: false, deciders: ['finance'] });
    clock.advance(1);
    await Promise.resolve();
    expect(gate.get(snap.id)).toMatchObject({
      status: 'pending',
      escalated: true,
      deciders: ['finance', 'cfo'],
    });
    await expect(gate.approve(snap.id, { by: 'the cfo', decider: cfo })).resolves.toMatchObject({
      approved: true,
      decidedBy: 'the cfo',
      timedOut: false,
    });
  });

  it('shows the similar earlier requests (same agent, action, tool, resource, tenant), newest first', async () => {
    const { gate, clock } = setup();
    const like = {
      agentId: 'run-x',
      agentName: 'deployer',
      summary: 'Deploy?',
      action: 'deploy',
      tool: 'kubectl',
      resource: 'prod',
    };
    const a = await gate.open(like);
    await gate.approve(a.id, { by: 'alice' });
    clock.advance(1000);
    const b = await gate.open({ ...like, agentId: 'run-y' });
    await gate.reject(b.id, { by: 'bob', reason: 'freeze' });
    clock.advance(1000);
    // not similar: another resource, another tenant, another agent
    await gate.approve((await gate.open({ ...like, resource: 'staging' })).id);
    await gate.approve((await gate.open({ ...like, tenantId: 't2' })).id);
    await gate.approve((await gate.open({ ...like, agentName: 'other' })).id);
    const pending = await gate.open({ ...like, agentId: 'run-z' });
    expect(gate.similar(pending.id)).toEqual([
      {
        id: b.id,
        decision: 'rejected',
        by: 'bob',
        at: gate.get(b.id)!.decision!.decidedAt,
        reason: 'freeze',
      },
      {
        id: a.id,
        decision: 'approved',
        by: 'alice',
        at: gate.get(a.id)!.decision!.decidedAt,
        reason: null,
      },
    ]);
    expect(gate.similar(pending.id, { limit: 1 })).toHaveLength(1);
    expect(gate.similar('unknown')).toEqual([]);
  });

  it('loads gate records written before approver policies existed (one approval, anyone)', async () => {
    const { log, clock } = setup();
    const old = {
      type: 'requested',
      id: '0190a6e2-7c1b-7abc-8def-0123456789ab',
      request: {
        gate_id: 'hitl-0190a6e2-7c1b-7abc-8def-0123456789ab',
        proposal_id: 'p',
        summary: 'Old gate?',
        agent_id: 'a',
        rationale: null,
        context_data: [],
        cycle: 0,
        requested_at: '2026-12-04T10:00:00Z',
        timeout: { timeout_secs: 1800, action: 'Reject' },
      },
      action: 'approve',
      resource: 'a',
      reason: 'Old gate?',
      origin: 'agent',
      agent_name: null,
      deadline_ms: clock.now() + 1_800_000,
      tenant_id: null,
      correlation_id: null,
    };
    await log.append('approvals', [
      {
        timeMs: clock.now(),
        body: canonicalJson(old),
        key: `req:${old.id}`,
        kind: 'requested',
        subject: old.id,
      },
    ]);
    const gate = createApprovalGate({ log, clock });
    await gate.start();
    expect(gate.get(old.id)).toMatchObject({
      status: 'pending',
      required: 1,
      group: null,
      tool: null,
      deciders: [],
      votes: [],
    });
    await expect(
      gate.approve(old.id, { by: 'x', decider: { admin: false, groups: [] } }),
    ).resolves.toMatchObject({ approved: true, decidedBy: 'x' });
    // a plain gate's requested record is written exactly as before
    const plain = await gate.open({ agentId: 'a', summary: 'plain?' });
    const [stored] = await log.query('approvals', { subject: plain.id, kinds: ['requested'] });
    expect(Object.keys(JSON.parse(stored!.body) as object).sort()).toEqual(Object.keys(old).sort());
    await gate.close();
  });

  it('refuses bad approver settings with what to write', async () => {
    const { gate } = setup();
    await expect(
      gate.open({ agentId: 'a', summary: 's', approvers: { required: 0 } }),
    ).rejects.toThrow(/approvers.required must be a positive integer/);
    await expect(
      gate.open({ agentId: 'a', summary: 's', approvers: { escalateTo: 'cfo' } }),
    ).rejects.toThrow(/needs timeout.action "Escalate"/);
    await expect(
      gate.open({ agentId: 'a', summary: 's', approvers: { group: 'bad group' } }),
    ).rejects.toThrow(/approver group/);
  });
});

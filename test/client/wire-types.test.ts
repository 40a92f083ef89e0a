/**
 * The client's hand-written wire types still fit what the daemon answers: each domain type the
 * routes serialise must be assignable to its client type. This is checked by the compiler
 * (`npm run typecheck` covers test/): a domain change the client types do not follow fails it.
 * At run time the test checks one answer of each kind against a real kernel's values.
 */
import { describe, expect, it } from 'vitest';
import type * as C from '../../src/client/index.js';
import type {
  ApprovalDecision,
  ApprovalSnapshot,
  PendingApproval,
} from '../../src/approvals/approval-gate.js';
import type { BudgetUsage } from '../../src/policies/budgets.js';
import type { LimitQueue } from '../../src/policies/limits.js';
import type { ScheduleInfo } from '../../src/policies/schedules.js';
import type { InboxGate } from '../../src/server/routes/approvals.js';
import type { AuditEntry, AuditExport, AuditImportResult } from '../../src/audit/audit-trail.js';
import type { LearningImportResult } from '../../src/learning/learning-import.js';
import type { LearningStoreStats } from '../../src/learning/learning-store.js';
import type { RecallHit } from '../../src/learning/recall.js';
import type {
  LedgerImportResult,
  LedgerRecord,
  TenantLedgerRecord,
} from '../../src/ledger/ledger.js';
import type { StoredRecovery } from '../../src/recovery/recovery-store.js';
import type {
  ConfigInfo,
  ConfigView,
  EncryptPlainResult,
  RekeyResult,
} from '../../src/registry/registry.js';
import type { RunInfo, RunSummary } from '../../src/runs/run-engine.js';
import type { PolicyVersion } from '../../src/policies/policy-store.js';
import type { ModuleRecord } from '../../src/storage/registry.js';
import type { ChainAcceptance, LogHead, VerifyResult } from '../../src/storage/log.js';
import type { AgentInfo } from '../../src/supervisor/agent.js';
import { testKernel } from '../helpers/kernel.js';

/** Compiles only when its argument (a domain value) is assignable to `Wire`. */
function fits<Wire>(value: Wire): Wire {
  return value;
}
interface Domain {
  agent: AgentInfo;
  record: LedgerRecord;
  tenantRecord: TenantLedgerRecord;
  ledgerImport: LedgerImportResult;
  verify: VerifyResult;
  acceptance: ChainAcceptance;
  entry: AuditEntry;
  head: LogHead;
  auditExport: AuditExport;
  auditImport: AuditImportResult;
  snapshot: ApprovalSnapshot;
  decision: ApprovalDecision;
  recovery: StoredRecovery;
  module: ModuleRecord;
  configInfo: ConfigInfo;
  configView: ConfigView;
  encrypt: EncryptPlainResult;
  rekey: RekeyResult;
  run: RunInfo;
  summary: RunSummary;
  stats: LearningStoreStats;
  hit: RecallHit;
  learningImport: LearningImportResult;
  policy: PolicyVersion<unknown>;
  inbox: InboxGate;
  pending: PendingApproval;
  budget: BudgetUsage;
  schedule: ScheduleInfo;
  queue: LimitQueue;
  page: { runs: RunSummary[]; nextCursor?: string };
}

export function typeChecks(d: Domain): unknown[] {
  return [
    fits<C.Agent>(d.agent),
    fits<C.LedgerRecord>(d.record),
    fits<C.TenantLedgerRecord>(d.tenantRecord),
    fits<C.LedgerImportResult>(d.ledgerImport),
    fits<C.VerifyResult>(d.verify),
    fits<C.ChainAcceptance>(d.acceptance),
    fits<C.AuditEntry>(d.entry),
    fits<C.AuditHead>(d.head),
    fits<C.AuditExport>(d.auditExport),
    fits<C.AuditImportResult>(d.auditImport),
    fits<C.Approval>(d.snapshot),
    fits<C.ApprovalDecision>(d.decision),
    fits<C.RecoveryRun>(d.recovery),
    fits<C.ModuleRecord>(d.module),
    fits<C.ConfigInfo>(d.configInfo),
    fits<C.ConfigView>(d.configView),
    fits<C.EncryptPlainResult>(d.encrypt),
    fits<C.RekeyResult>(d.rekey),
    fits<C.Run>(d.run),
    fits<C.RunSummary>(d.summary),
    fits<C.LearningStats>(d.stats),
    fits<C.RecallHit>(d.hit),
    fits<C.LearningImportResult>(d.learningImport),
    fits<C.PolicyVersion>(d.policy),
    fits<C.InboxApproval>(d.inbox),
    fits<C.PendingApproval>(d.pending),
    fits<C.BudgetUsage>(d.budget),
    fits<C.Schedule>(d.schedule),
    fits<C.LimitQueue>(d.queue),
    fits<C.RunPage>(d.page),
    fits<C.RunForkOf | undefined>(d.run.forkOf),
  ];
}

describe('kerno/client wire types', () => {
  it('match what a kernel hands the routes (keys of each answer)', async () => {
    const k = await testKernel();
    try {
      const record = await k.kernel.ledger.append({
        type: 'BudgetExceeded',
        data: { chain_id: 'c', resource: 'Tokens', limit: '1', observed: null },
      });
      const wire: C.LedgerRecord = JSON.parse(JSON.stringify(record)) as C.LedgerRecord;
      expect(Object.keys(wire).sort()).toEqual(['envelope', 'hash', 'position', 'prevHash']);
      const verify = await k.kernel.ledger.verify();
      for (const key of ['ok', 'verified', 'checked', 'head', 'breaks', 'breakCount'] as const)
        expect(verify).toHaveProperty(key);
      const head = await k.kernel.audit.head();
      expect(Object.keys(head)).toEqual(expect.arrayContaining(['seq', 'hash', 'firstSeq']));
    } finally {
      await k.cleanup();
    }
  });
});

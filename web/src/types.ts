// The API's shapes as the dashboard reads them. Fields another version of the daemon may leave
// out are optional, so an older or newer daemon still renders.

export type AgentStatus = 'starting' | 'running' | 'idle' | 'stopped' | 'failed';

export interface Agent {
  readonly id: string;
  readonly name: string;
  readonly kind: 'function' | 'process' | 'supervisor';
  readonly status: AgentStatus;
  readonly restart: string;
  readonly restarts: number;
  readonly lastError: string | null;
  readonly pid: number | null;
  readonly startedAtMs: number | null;
  readonly stoppedAtMs: number | null;
  readonly supervisorId: string;
  /** How a finished agent ended: returned (completed), stopped by someone (killed), failed. */
  readonly outcome?: 'completed' | 'killed' | 'failed' | null;
}

export interface RecordedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

export type RunStatus =
  'pending' | 'running' | 'sleeping' | 'waiting' | 'completed' | 'failed' | 'cancelled';

export const RUN_STATUSES: readonly RunStatus[] = [
  'pending',
  'running',
  'sleeping',
  'waiting',
  'completed',
  'failed',
  'cancelled',
];

export interface RunSummary {
  readonly id: string;
  readonly agent: string;
  readonly version?: string;
  readonly status: RunStatus;
  readonly owner?: string;
  readonly tenant?: string | null;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly error?: RecordedError;
  readonly tokens?: number;
  readonly costUsd?: number;
  readonly cost?: number;
  readonly resumeCount?: number;
  readonly forkOf?: { readonly runId: string; readonly fromStep: string } | null;
  readonly rerunOf?: string | null;
}

export interface RunStep {
  readonly key: string;
  readonly status: 'completed' | 'failed';
  readonly attempts: number;
  readonly atMs: number;
  readonly startedAtMs?: number;
  readonly durationMs?: number;
  readonly result?: unknown;
  readonly error?: RecordedError;
  /** The resume the step ran in (0 or absent: the first execution). */
  readonly resume?: number;
  /** A failure that a later resume ran again. */
  readonly superseded?: boolean;
  /** Copied from the run it was forked from: it replayed, it did not run here. */
  readonly copied?: boolean;
  readonly replayed?: boolean;
  readonly usage?: { readonly tokens?: number; readonly costMicrodollars?: number };
  readonly tokens?: number;
  readonly costUsd?: number;
}

/** A resume or a reopen (restart, crash, takeover): which steps replayed and which ran. */
export interface RunExecution {
  readonly n: number;
  readonly by?: string;
  readonly owner?: string;
  readonly reason?: string;
  readonly at: string;
  readonly replayed: readonly string[];
  readonly ran: readonly string[];
}

export interface RunRecoveryNote {
  readonly n: number;
  readonly action: string;
  readonly step?: string;
  readonly failureClass?: string;
  readonly rationale: string;
  readonly recoveryRunId: string;
  readonly gate?: string;
  readonly by?: string;
  readonly at: string;
}

export type RunWait =
  | { readonly kind: 'sleep'; readonly until: string }
  | { readonly kind: 'signal'; readonly name: string; readonly until: string | null }
  | { readonly kind: 'approval'; readonly gate: string };

export interface RunJournalEntry {
  readonly type: string;
  readonly key?: string;
  readonly atMs?: number;
  readonly [field: string]: unknown;
}

export interface RunDetail extends RunSummary {
  readonly input: unknown;
  readonly config?: unknown;
  readonly result?: unknown;
  readonly steps: readonly RunStep[];
  readonly waitingFor?: RunWait;
  readonly journalLength?: number;
  readonly journalPruned?: boolean;
  readonly journal?: readonly RunJournalEntry[];
  readonly forks?: readonly string[];
  readonly resumes?: readonly RunExecution[];
  readonly reopens?: readonly RunExecution[];
  readonly recovery?: readonly RunRecoveryNote[];
  readonly usage?: {
    readonly tokens: number;
    readonly costMicrodollars: number;
    readonly stepsRan: number;
    readonly stepsCopied: number;
  };
  readonly durationMs?: number;
}

export interface GateRequest {
  readonly gate_id: string;
  readonly summary: string;
  readonly agent_id: string;
  readonly rationale: string | null;
  readonly context_data: readonly { readonly label: string; readonly value: string }[];
  readonly requested_at: string;
  readonly timeout: { readonly timeout_secs: number; readonly action: string };
}

export interface ApprovalDecision {
  readonly approved: boolean;
  readonly reason: string | null;
  readonly decidedBy: string;
  readonly decidedAt: string;
  readonly note: string | null;
  readonly timedOut: boolean;
}

export interface Approval {
  readonly id: string;
  readonly gateId: string;
  readonly status: 'pending' | 'approved' | 'rejected';
  readonly request: GateRequest;
  readonly action: string;
  readonly resource: string;
  readonly reason: string;
  readonly origin: 'agent' | 'escalation';
  readonly agentName: string | null;
  readonly deadlineMs: number;
  readonly escalated: boolean;
  readonly decision: ApprovalDecision | null;
}

export interface FailureSignal {
  readonly stage: string;
  readonly message: string;
  readonly exit_code: number | null;
  readonly flaky_hint: boolean;
}

export interface RecoveryLog {
  readonly run_id: string;
  readonly initial_failure: FailureSignal;
  readonly decisions: readonly {
    readonly attempt: number;
    readonly failure_class: string;
    readonly action: string;
    readonly rationale: string;
  }[];
  readonly outcome: 'recovered' | 'failed';
  readonly attempts_used: number;
  readonly final_failure: FailureSignal | null;
  readonly evaluated_at: string;
}

export interface KernelEvent {
  readonly type: string;
  readonly [field: string]: unknown;
}

export interface AuditEntry {
  readonly seq: number;
  readonly timestamp: string;
  readonly actor: string;
  readonly action: { readonly type: string; readonly data?: unknown };
  readonly resource: string;
  readonly hash: string;
  readonly metadata: unknown;
}

export interface LedgerRecord {
  readonly position: number;
  readonly envelope: {
    readonly occurred_at: string;
    readonly tenant_id?: string | null;
    readonly correlation_id?: string | null;
    readonly chain_id?: string | null;
    readonly event: { readonly type: string; readonly [field: string]: unknown };
    readonly [field: string]: unknown;
  };
}

export interface Pattern {
  readonly id?: string;
  readonly domain: string;
  readonly strategy: string;
  readonly success_rate: number;
  readonly quality: number;
  readonly use_count: number;
  readonly [field: string]: unknown;
}

/** A recovery run as `GET /api/recovery` lists it. */
export interface StoredRecovery {
  readonly agent: string;
  readonly log: RecoveryLog;
}

/**
 * The wire shapes of the kerno HTTP API, as JSON: what the routes in `src/server/routes` answer
 * and accept. Written by hand against the route schemas and the domain types they serialise
 * (test/client/wire-types.test.ts checks the domain types still fit them), and kept free of any
 * import, so `kerno/client` type-checks in a browser project without Node's types.
 *
 * Open-ended parts (an event's data, a recovery log, a learned pattern) are typed as JSON and
 * documented where their shape lives.
 *
 * @module
 */

/** Any JSON value. */
export type JsonValue =
  string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** A JSON object. */
export type JsonObject = { readonly [key: string]: JsonValue };

// --- system -----------------------------------------------------------------------------------

/** `GET /health`. */
export interface Health {
  readonly status: 'ok' | 'unhealthy';
  readonly version: string;
  readonly store: string;
  readonly uptimeSeconds: number;
  readonly auditHead: number;
}

// --- agents -----------------------------------------------------------------------------------

/** A supervised agent (`AgentInfo`). */
export interface Agent {
  readonly id: string;
  readonly name: string;
  readonly kind: 'function' | 'process' | 'supervisor';
  readonly status: string;
  readonly restart: 'permanent' | 'transient' | 'temporary';
  readonly restarts: number;
  readonly lastError: string | null;
  readonly pid: number | null;
  readonly startedAtMs: number | null;
  readonly stoppedAtMs: number | null;
  readonly supervisorId: string;
  /** How a finished agent ended (`null` while it runs). */
  readonly outcome?: 'completed' | 'killed' | 'failed' | null;
}

/** `POST /api/agents`: a process agent speaking JSON lines on stdio (docs/agent-protocol.md). */
export interface SpawnAgentRequest {
  readonly name: string;
  readonly command: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Registry secrets granted by name (as an env var of the same or the given name). */
  readonly secrets?: readonly (string | { readonly name: string; readonly env?: string })[];
  readonly cwd?: string;
  readonly restart?: 'permanent' | 'transient' | 'temporary';
  readonly config?: JsonValue;
  readonly recovery?:
    | false
    | {
        readonly max_attempts?: number;
        readonly max_flaky_retries?: number;
        readonly allow_patch_forward?: boolean;
        readonly allow_rollback?: boolean;
      };
}

/** `DELETE /api/agents/{id}`. */
export interface StoppedAgent {
  readonly id: string;
  readonly reason: string;
  readonly status: string;
}

// --- ledger -----------------------------------------------------------------------------------

/** A converge experience event: `{"type":"…","data":{…}}` (see src/formats). */
export interface ExperienceEvent {
  readonly type: string;
  readonly data?: unknown;
}

/** A stored envelope (engine- or user-side). */
export interface ExperienceEnvelope {
  readonly event_id: string;
  readonly occurred_at: string;
  readonly tenant_id: string | null;
  readonly correlation_id: string | null;
  readonly event: ExperienceEvent;
}

/** A ledger record as an admin token sees it. */
export interface LedgerRecord {
  readonly position: number;
  readonly envelope: ExperienceEnvelope;
  readonly prevHash: string;
  readonly hash: string;
}

/** A ledger record as a tenant token sees it: no position, no previous hash. */
export interface TenantLedgerRecord {
  readonly envelope: ExperienceEnvelope;
  readonly hash: string;
}

/** What a ledger route answers: the full record for an admin token, the tenant part otherwise. */
export type ShownLedgerRecord = LedgerRecord | TenantLedgerRecord;

/** `POST /api/ledger`. */
export interface LedgerAppendRequest {
  readonly event: ExperienceEvent;
  /** Unique within the tenant; appending the same id and content again is a no-op. */
  readonly eventId?: string;
  /** RFC 3339 (default: the kernel clock). */
  readonly occurredAt?: string;
  /** A tenant token may leave it out (its own tenant) or name its own tenant only. */
  readonly tenantId?: string | null;
  readonly correlationId?: string | null;
}

/** `GET /api/ledger`. */
export interface LedgerQuery {
  readonly tenant?: string;
  readonly kinds?: readonly string[];
  /** RFC 3339 or epoch ms, inclusive. */
  readonly from?: string | number;
  readonly to?: string | number;
  readonly correlation?: string;
  readonly chain?: string;
  /** The newest matches, at most 10000 (default 100). */
  readonly limit?: number;
}

/** `POST /api/ledger/import` options. */
export interface LedgerImportOptions {
  readonly skipInvalid?: boolean;
  readonly onConflict?: 'fail' | 'skip' | 'rekey';
  readonly strictIds?: boolean;
}

/** What a ledger import did. */
export interface LedgerImportResult {
  readonly imported: number;
  readonly duplicates: number;
  readonly skipped: number;
  readonly conflicts: number;
  readonly rekeyed: number;
}

/** `GET /api/ledger/export` options. */
export interface LedgerExportOptions {
  readonly form?: 'envelope' | 'record' | 'stored';
}

// --- chains (ledger and audit) ----------------------------------------------------------------

/** A break in a hash chain, as verification reports it. */
export interface ChainBreak {
  readonly reason: string;
  readonly seq: number;
  readonly hash?: string | null;
  readonly message?: string;
  readonly [key: string]: unknown;
}

/** What verifying a chain found (`VerifyResult`): `ok`, or the first break named flat. */
export interface VerifyResult {
  readonly ok: boolean;
  /** Records that verify before the first break (all of them when `ok`). */
  readonly verified: number;
  readonly checked: number;
  readonly head: { readonly seq: number; readonly hash: string };
  readonly breaks: readonly ChainBreak[];
  readonly breakCount: number;
  /** The first break (when not `ok`). */
  readonly seq?: number;
  readonly reason?: string;
  readonly message?: string;
  readonly broken?: ChainBreak;
  readonly acceptance?: { readonly [key: string]: unknown };
  readonly accepted?: readonly ChainBreak[];
  readonly acceptedCount?: number;
  readonly acceptanceProblem?: string;
}

/** `POST /api/{ledger,audit}/repair`. */
export interface ChainRepairRequest {
  /** Accept the chain as it stands through this seq. */
  readonly acceptThrough: number;
  readonly reason: string;
}

/** An acceptance anchor (`ChainAcceptance`). */
export interface ChainAcceptance {
  readonly stream: string;
  readonly anchorSeq: number;
  readonly through: { readonly seq: number; readonly hash: string };
  readonly breaks: readonly ChainBreak[];
  readonly by: string;
  readonly reason: string;
  readonly at: string;
}

// --- audit ------------------------------------------------------------------------------------

/** One audit entry. */
export interface AuditEntry {
  readonly seq: number;
  readonly timestamp: string;
  readonly actor: string;
  /** An oxios audit action (`{"type":"…", …}`). */
  readonly action: { readonly type: string; readonly [key: string]: unknown };
  readonly resource: string;
  readonly prevHash: string;
  readonly hash: string;
  readonly metadata: JsonValue | null;
}

/** `GET /api/audit`. */
export interface AuditQuery {
  readonly actor?: string;
  readonly types?: readonly string[];
  readonly fromSeq?: number;
  readonly toSeq?: number;
  readonly from?: string | number;
  readonly to?: string | number;
  readonly limit?: number;
}

/** A position in a chain: a seq and the stored hash there. */
export interface ChainPosition {
  readonly seq: number;
  readonly hash: string;
}

/** The trail's head (`GET /api/audit/head`): keep it to detect truncation later. */
export interface AuditHead extends ChainPosition {
  /** Seq of the first entry still held (`seq + 1` when empty). */
  readonly firstSeq: number;
  /** The last pruned entry, when the trail was pruned. */
  readonly anchor?: ChainPosition | undefined;
}

/** `GET /api/audit/export`. */
export interface AuditExport {
  readonly format: 'kerno.audit';
  readonly version: 1;
  readonly anchor: ChainPosition | null;
  readonly head: ChainPosition;
  readonly entries: readonly AuditEntry[];
}

/** What an oxios audit import did. */
export interface AuditImportResult {
  readonly imported: number;
  readonly format: string;
  readonly head: ChainPosition;
  readonly oxiosHead: string | null;
  readonly trustedRoot: boolean;
}

// --- approvals --------------------------------------------------------------------------------

/** A decision on a gate. */
export interface ApprovalDecision {
  readonly id: string;
  readonly gateId: string;
  readonly approved: boolean;
  readonly reason: string | null;
  /** The deciding token's name (never a name from the request body). */
  readonly decidedBy: string;
  readonly decidedAt: string;
  readonly note: string | null;
  readonly timedOut: boolean;
}

/** An approval gate. */
export interface Approval {
  readonly id: string;
  readonly gateId: string;
  readonly status: 'pending' | 'approved' | 'rejected';
  /** The converge `GateRequest` (gate_id, summary, agent_id, rationale, timeout, …). */
  readonly request: {
    readonly gate_id: string;
    readonly proposal_id: string;
    readonly summary: string;
    readonly agent_id: string;
    readonly rationale: string | null;
    readonly requested_at: string;
    /** The timeout policy (`{ timeout_secs, action }`). */
    readonly timeout: unknown;
  };
  readonly action: string;
  readonly resource: string;
  readonly reason: string;
  readonly origin: 'agent' | 'escalation';
  readonly agentName: string | null;
  readonly deadlineMs: number;
  readonly escalated: boolean;
  readonly tool?: string | null;
  readonly tenantId?: string | null;
  /** The group whose members may decide (`null`: anyone who may decide the tenant's gates). */
  readonly group?: string | null;
  readonly escalateTo?: string | null;
  /** The groups that may decide now. */
  readonly deciders?: readonly string[];
  /** Distinct approvals needed (n-of-m gates). */
  readonly required?: number;
  /** The approvals so far. */
  readonly votes?: readonly ApprovalVote[];
  readonly decision: ApprovalDecision | null;
}

/** One approval of an n-of-m gate. */
export interface ApprovalVote {
  readonly by: string;
  readonly at: string;
  readonly note: string | null;
}

/** An earlier request like a gate's, and how it was decided. */
export interface SimilarDecision {
  readonly id: string;
  readonly decision: 'approved' | 'rejected';
  readonly by: string;
  readonly at: string;
  readonly reason: string | null;
}

/** A gate as `GET /api/approvals[/{id}]` shows it: with the similar requests' decisions. */
export interface InboxApproval extends Approval {
  readonly similar: readonly SimilarDecision[];
}

/** What approving an n-of-m gate answers while it still needs approvers. */
export interface PendingApproval {
  readonly id: string;
  readonly gateId: string;
  readonly status: 'pending';
  readonly approved: false;
  /** The approvals so far (this one included). */
  readonly votes: readonly ApprovalVote[];
  readonly required: number;
}

/** `POST /api/approvals/{id}/approve`. */
export interface ApproveRequest {
  /** A note kept with the decision. */
  readonly note?: string;
}

/** `POST /api/approvals/{id}/reject`. */
export interface RejectRequest {
  readonly note?: string;
  readonly reason?: string;
}

// --- recovery ---------------------------------------------------------------------------------

/** A recovery run: the agent it was for and its log (see src/recovery/recovery-types.ts). */
export interface RecoveryRun {
  readonly agent: string;
  readonly log: {
    readonly run_id: string;
    readonly attempts_used: number;
    readonly evaluated_at: string;
    /** How the loop ended (recovered, failed, escalated …). */
    readonly outcome: unknown;
    readonly decisions: readonly unknown[];
    readonly initial_failure: unknown;
    readonly final_failure: unknown;
    readonly policy: unknown;
  };
}

// --- registry ---------------------------------------------------------------------------------

/** A registered module. */
export interface ModuleRecord {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly kind: string;
  readonly state: string;
  readonly description: string | null;
  readonly updatedAt: string;
}

/** A config key, never its value. */
export interface ConfigInfo {
  readonly key: string;
  readonly secret: boolean;
  readonly updatedAt: string;
}

/** A config value; a secret's is `null` unless revealed. */
export interface ConfigView extends ConfigInfo {
  readonly value: JsonValue;
  readonly revealed: boolean;
}

/** `POST /api/config/encrypt`. */
export interface EncryptPlainResult {
  readonly encrypted: number;
  readonly keys: readonly string[];
}

/** `POST /api/config/rotate-key`. */
export interface RekeyResult {
  readonly reencrypted: number;
  readonly keyVersion?: number;
}

// --- runs -------------------------------------------------------------------------------------

/** Where a run stands. */
export type RunStatus =
  'pending' | 'queued' | 'running' | 'sleeping' | 'waiting' | 'completed' | 'failed' | 'cancelled';

/** What survives of a thrown value in the journal. */
export interface RecordedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string | undefined;
}

/** A step of a run. */
export interface RunStep {
  readonly key: string;
  readonly status: 'completed' | 'failed';
  readonly attempts: number;
  readonly atMs: number;
  readonly result?: unknown;
  readonly error?: RecordedError;
  readonly startedAtMs?: number;
  readonly durationMs?: number;
  /** The resume it ran in (0: the first execution). */
  readonly resume?: number;
  /** A later resume ran the step again. */
  readonly superseded?: boolean;
  /** Copied by a fork from its parent (replayed, not run). */
  readonly copied?: boolean;
  readonly usage?: {
    readonly tokens?: number | undefined;
    readonly costMicrodollars?: number | undefined;
  };
}

/** A resume of a run. */
export interface RunResume {
  readonly n: number;
  readonly by: string;
  readonly reason?: string;
  readonly config?: unknown;
  readonly at: string;
  /** Steps that replayed. */
  readonly replayed: readonly string[];
  /** Steps that ran. */
  readonly ran: readonly string[];
}

/** An execution from the journal after a restart, a crash or a takeover. */
export interface RunReopen {
  readonly n: number;
  readonly owner: string;
  readonly at: string;
  readonly replayed: readonly string[];
  readonly ran: readonly string[];
}

/** A self-healing decision about a run's failure. */
export interface RunRecoveryNote {
  readonly n: number;
  readonly action:
    'retry' | 'patch_forward' | 'rollback' | 'escalate' | 'approved' | 'rejected' | 'gave_up';
  readonly step?: string;
  readonly failureClass?: string;
  readonly rationale: string;
  readonly recoveryRunId: string;
  readonly gate?: string;
  readonly by?: string;
  readonly at: string;
}

/** Where a forked run came from. */
export interface RunForkOf {
  readonly runId: string;
  /** The key of the first step that ran live in the fork. */
  readonly fromStep: string;
}

/** What a run waits for. */
export type RunWait =
  | { readonly kind: 'sleep'; readonly until: string }
  | { readonly kind: 'signal'; readonly name: string; readonly until: string | null }
  | { readonly kind: 'approval'; readonly gate: string };

/** One row of `GET /api/runs`. */
export interface RunSummary {
  readonly id: string;
  readonly agent: string;
  readonly version: string;
  readonly status: RunStatus;
  readonly owner: string;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly error?: RecordedError;
  readonly priority?: number;
  readonly limitKey?: string;
  readonly tenant?: string;
  readonly resumeCount?: number;
  readonly forkOf?: RunForkOf;
  readonly rerunOf?: string;
}

/** `GET /api/runs`: a page of runs, newest first. */
export interface RunPage {
  readonly runs: readonly RunSummary[];
  /** Pass it as `cursor` for the next page (absent: the last page). */
  readonly nextCursor?: string;
}

/** `GET /api/runs/{id}`: a run with its steps, resumes, forks and what it spent. */
export interface Run extends RunSummary {
  readonly input: unknown;
  readonly result?: unknown;
  readonly steps: readonly RunStep[];
  readonly waitingFor?: RunWait;
  /** The config the run has now (`ctx.config`). */
  readonly config?: unknown;
  readonly resumes: readonly RunResume[];
  /** The runs forked from this one, oldest first. */
  readonly forks: readonly string[];
  readonly usage: {
    readonly tokens: number;
    readonly costMicrodollars: number;
    readonly stepsRan: number;
    readonly stepsCopied: number;
  };
  readonly durationMs: number;
  readonly reopens?: readonly RunReopen[];
  readonly recovery?: readonly RunRecoveryNote[];
  readonly journalLength: number;
  readonly journalPruned?: boolean;
  /** A queued run's place in the queue of each limit it waits for (1: next). */
  readonly queue?: readonly { readonly limit: string; readonly position: number }[];
}

/** `POST /api/runs/{id}/resume`. */
export interface ResumeRunRequest {
  readonly reason?: string;
  /** The config failed steps see as `ctx.config` when they run again. */
  readonly config?: unknown;
}

/** `POST /api/runs/{id}/fork`. */
export interface ForkRunRequest {
  /** A step key, or a 0-based position: the steps before it replay, it and later ones run. */
  readonly fromStep: string | number;
  readonly config?: unknown;
  readonly input?: unknown;
  readonly id?: string;
}

/** `POST /api/runs/agents`: a durable process agent (docs/agent-protocol.md, "Durable runs"). */
export interface DefineAgentRequest {
  readonly name: string;
  readonly version?: string;
  readonly process: {
    readonly command: string;
    readonly args?: readonly string[];
    readonly env?: Readonly<Record<string, string>>;
    readonly cwd?: string;
  };
  readonly [key: string]: unknown;
}

/** `POST /api/runs`. */
export interface StartRunRequest {
  readonly agent: string;
  readonly input?: unknown;
  /** Starting again with the same id is idempotent. */
  readonly id?: string;
  /** The run's tenant (a tenant token's runs are always its own tenant's). */
  readonly tenant?: string;
  /** JSON the run sees as `ctx.config`. */
  readonly config?: unknown;
  /** Under a limit, higher starts first. */
  readonly priority?: number;
  readonly limitKey?: string;
}

/** `GET /api/runs`. */
export interface RunListQuery {
  readonly agent?: string;
  readonly status?: RunStatus | readonly RunStatus[];
  readonly tenant?: string;
  /** Started at or after (epoch ms or RFC 3339). */
  readonly since?: number | string;
  /** Started before (epoch ms or RFC 3339). */
  readonly until?: number | string;
  /** Text in the run id or agent name. */
  readonly q?: string;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
  /** At most 10000 (default 100). */
  readonly limit?: number;
}

/** `POST /api/runs/{id}/signal`. */
export interface SignalRequest {
  readonly name: string;
  readonly payload?: unknown;
  /** Idempotency key of the signal. */
  readonly id?: string;
}

// --- budgets, schedules, queues ---------------------------------------------------------------

/** A budget resource. */
export type BudgetResource = 'tokens' | 'costMicros' | 'calls';

/** `GET /api/budgets`: use vs limit of one budget policy, per limit and period. */
export interface BudgetUsage {
  readonly budget: string;
  readonly version: number;
  /** `global`, `agent research`, `tenant acme`, `agent research in tenant acme`. */
  readonly scope: string;
  readonly agent: string | null;
  readonly tenant: string | null;
  readonly period: 'window' | 'run';
  readonly windowMs: number | null;
  readonly resource: BudgetResource;
  readonly used: number;
  readonly limit: number;
  readonly percent: number;
  readonly breached: boolean;
  /** For `run` rows: the run that spent most (or the run asked about). */
  readonly run?: string;
}

/** `GET /api/budgets` filters. */
export interface BudgetQuery {
  readonly agent?: string;
  readonly tenant?: string;
  readonly run?: string;
}

/** `POST /api/budgets/gates/{id}`. */
export interface BudgetDecisionRequest {
  /** Approve: the limit rises (to `limits`, or by the raise factor) and the run resumes. */
  readonly approve: boolean;
  readonly limits?: {
    readonly tokens?: number;
    readonly costMicros?: number;
    readonly calls?: number;
  };
  readonly reason?: string;
}

/** `GET /api/schedules[/{name}]`. */
export interface Schedule {
  readonly name: string;
  readonly version: number;
  /** The schedule policy's spec (cron or interval, agent, input, time zone, paused …). */
  readonly spec: unknown;
  /** ISO time of the next firing (`null` while paused or never again). */
  readonly nextFireAt: string | null;
  /** The same on the schedule's wall clock: `YYYY-MM-DD HH:MM:SS <time zone>`. */
  readonly nextFireLocal: string | null;
  readonly lastFiredAt: string | null;
  readonly lastRunId: string | null;
}

/** A queued run or step under a limit. */
export interface QueuedEntry {
  readonly runId: string;
  /** Set for a step waiting for a slot. */
  readonly step?: string;
  readonly agent?: string;
  readonly priority: number;
  /** 1: next to start under this limit. */
  readonly position: number;
}

/** `GET /api/queues`: a limit with its slots in use and its queue. */
export interface LimitQueue {
  readonly limit: string;
  /** The limit policy's spec. */
  readonly spec: unknown;
  /** Slots held now (across every kernel sharing the store). */
  readonly inUse: number;
  readonly queued: readonly QueuedEntry[];
}

// --- learning ---------------------------------------------------------------------------------

/** `GET /api/learning/stats`. */
export interface LearningStats {
  readonly patternCount: number;
  readonly trajectoryCount: number;
  readonly ewcTasksLearned: number;
  readonly isDirty: boolean;
  readonly skippedRecords: number;
  readonly duplicateRecords: number;
}

/** A learned pattern (an RVLS pattern record, as ruvector writes it). */
export interface Pattern {
  readonly id: string;
  readonly strategy: string;
  /** Sparse TF-IDF weights, term → weight. */
  readonly embedding_weights: Readonly<Record<string, number>>;
  readonly success_rate: number;
  readonly use_count: number;
  readonly domain: string;
  readonly quality: number;
  readonly is_long_term: boolean;
  readonly last_used: string;
}

/** A recalled pattern. */
export interface RecallHit {
  readonly pattern: Pattern;
  readonly score: number;
  readonly similarity: number;
}

/** What an RVLS import did. */
export interface LearningImportResult {
  readonly patterns: number;
  readonly trajectories: number;
  readonly ewcReplaced: boolean;
  readonly skipped: number;
}

// --- policies -------------------------------------------------------------------------------

/** The kinds of kernel policy. */
export type PolicyKind = 'budget' | 'rule' | 'schedule' | 'limit';

/** One version of a policy (`PolicyVersion`). */
export interface PolicyVersion {
  readonly kind: PolicyKind;
  readonly name: string;
  /** 1 for the first version; each change adds one. Send it as `expectedVersion` to guard a change. */
  readonly version: number;
  /** The policy; `null` when this version deleted it. */
  readonly spec: unknown;
  /** Epoch ms. */
  readonly updatedAt: number;
  /** The token's label that made the change. */
  readonly updatedBy: string;
  readonly reason: string | null;
  readonly seq: number;
}

/** Options of a policy change. */
export interface PolicyChangeOptions {
  /** Recorded with the version and in the audit trail. */
  readonly reason?: string;
  /** The version read (0: "does not exist yet"): a change on top of another fails with CONFLICT. */
  readonly expectedVersion?: number;
}

// --- events -----------------------------------------------------------------------------------

/** A kernel event from `GET /api/events`. */
export interface KernoEvent {
  /** The event's audit seq: resume after it with `since` (the client does on reconnects). */
  readonly id: number;
  /** The kernel event type (`AgentStarted`, `ApprovalRequested`, …). */
  readonly type: string;
  /** The kernel event itself (`{"type":"…", …}`). */
  readonly data: { readonly type: string; readonly [key: string]: unknown };
  /**
   * `true` for an event the daemon does not record — a run step's announcement
   * (`ToolExecutionStarted`/`Finished`), whose record is the run's journal: sent to streams at
   * the head as it happens, never again on a resume; `id` is then the last recorded event's.
   */
  readonly live?: true;
}

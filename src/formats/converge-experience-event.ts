/**
 * Experience events: the 14 `ExperienceEvent` variants of converge-core's experience ledger and
 * every type they carry, as TypeScript types that mirror converge's serde JSON exactly
 * (adjacently tagged `{"type":"…","data":{…}}`, snake_case fields, `Option` as `null`), plus the
 * zod schemas that validate them.
 *
 * Validation rules, shared by every schema here:
 * - ids are plain strings; `u32`/`u64` are non-negative integers (kerno holds integers up to
 *   2^53 − 1 exactly and rejects larger ones rather than rounding them); `f32`/`f64` are finite
 *   numbers; content hashes are 64 hex characters;
 * - confidences and recall scores are converge 3.9's `UnitInterval` (finite, in [0, 1]):
 *   `KernelProposal.confidence`, `HypothesisResolved.confidence`, `RecallTrace.candidate_scores`
 *   and `KernelPolicy.recall_min_score`;
 * - timestamps are converge's open `Timestamp` string: any non-empty text up to 64 characters
 *   (RFC 3339, `lamport:N`, 3.7's `"<unix secs>Z"`), kept as given;
 * - an `Option` field may be `null` or missing on input and is always written (as `null`), except
 *   the two fields converge skips when empty (`OutcomeRecorded.metadata`,
 *   `HypothesisResolved.contradiction_id`), which stay absent when absent;
 * - unknown fields are kept, never dropped: after the known ones for the types whose fields the
 *   reference fixes, in input order for the types it leaves open (sampler, execution env,
 *   policies, recall query and provenance), so an envelope written by converge imports unchanged.
 *
 * @example
 * import { parseExperienceEvent, eventKind, eventChainId } from 'kerno';
 * const event = parseExperienceEvent({
 *   type: 'BudgetExceeded',
 *   data: { chain_id: 'chain-1', resource: 'Tokens', limit: '1024', observed: '2048' },
 * });
 * eventKind(event); // 'BudgetExceeded'
 * eventChainId(event); // 'chain-1'
 *
 * @module
 */
import * as z from 'zod';
import { KernelError } from '../errors.js';
import type { JsonValue } from '../util/canonical-json.js';

// ── Enumerations ────────────────────────────────────────────────────────────────────────────

/** Reasoning phases of a kernel run (`DecisionStep`), in declaration order. */
export const DECISION_STEPS = ['Reasoning', 'Evaluation', 'Planning'] as const;
/** A reasoning phase. Serialised as the bare variant name. */
export type DecisionStep = (typeof DECISION_STEPS)[number];
/** `DecisionStep::default()`. Missing `step` fields are still rejected, as serde does. */
export const DEFAULT_DECISION_STEP: DecisionStep = 'Reasoning';

/** Kinds of kernel proposal (`ProposalKind`). */
export const PROPOSAL_KINDS = [
  'Claims',
  'Plan',
  'Classification',
  'Evaluation',
  'DraftDocument',
  'Reasoning',
] as const;
/** The kind of a kernel proposal. */
export type ProposalKind = (typeof PROPOSAL_KINDS)[number];

/** Replay guarantees of a trace (`Replayability`). */
export const REPLAYABILITY_LEVELS = ['Deterministic', 'BestEffort', 'None'] as const;
/** How far a trace can be replayed. */
export type Replayability = (typeof REPLAYABILITY_LEVELS)[number];

/** Why a trace's replayability was downgraded (`ReplayabilityDowngradeReason`). */
export const REPLAYABILITY_DOWNGRADE_REASONS = [
  'RecallEmbedderNotDeterministic',
  'RecallCorpusNotContentAddressed',
  'RemoteBackendUsed',
  'NoSeedProvided',
  'MultipleReasons',
] as const;
/** The reason for a replayability downgrade. */
export type ReplayabilityDowngradeReason = (typeof REPLAYABILITY_DOWNGRADE_REASONS)[number];

/** The named budget dimensions (`BudgetResource` without `Other`). */
export const BUDGET_RESOURCE_NAMES = [
  'EngineBudget',
  'Tokens',
  'Facts',
  'Cycles',
  'Time',
  'Cost',
] as const;
/** A budget dimension: a named one, or `{"Other":"…"}`. */
export type BudgetResource = (typeof BUDGET_RESOURCE_NAMES)[number] | { readonly Other: string };

/** Terminal outcomes of a tracked hypothesis (`HypothesisOutcome`). */
export const HYPOTHESIS_OUTCOMES = ['Confirmed', 'Falsified', 'Superseded', 'Unresolved'] as const;
/** A hypothesis outcome. */
export type HypothesisOutcome = (typeof HYPOTHESIS_OUTCOMES)[number];

/** The named kinds of governed artifact (`ArtifactKind` without `Other`). */
export const ARTIFACT_KIND_NAMES = ['Adapter', 'Pack', 'Policy', 'TruthFile', 'EvalSuite'] as const;
/** A governed artifact kind: a named one, or `{"Other":"…"}`. */
export type ArtifactKind = (typeof ARTIFACT_KIND_NAMES)[number] | { readonly Other: string };

/** Lifecycle states of a governed artifact (`GovernedArtifactState`), in declaration order. */
export const GOVERNED_ARTIFACT_STATES = [
  'Draft',
  'Approved',
  'Active',
  'Quarantined',
  'Deprecated',
  'RolledBack',
] as const;
/** A governed artifact's lifecycle state. See `artifact-lifecycle.ts` for the transitions. */
export type GovernedArtifactState = (typeof GOVERNED_ARTIFACT_STATES)[number];

/** Severities of a rollback (`RollbackSeverity`). */
export const ROLLBACK_SEVERITIES = ['Low', 'Medium', 'High', 'Critical'] as const;
/** How severe the issue behind a rollback is. */
export type RollbackSeverity = (typeof ROLLBACK_SEVERITIES)[number];

/** What a HITL gate does when nobody answers in time (`TimeoutAction`). */
export const TIMEOUT_ACTIONS = ['Reject', 'Approve', 'Escalate'] as const;
/** A gate timeout action. */
export type TimeoutAction = (typeof TIMEOUT_ACTIONS)[number];

/** Error categories of the engine's `StopReason::Error` (`ErrorCategory`). */
export const ERROR_CATEGORIES = [
  'Internal',
  'Configuration',
  'External',
  'Resource',
  'Unknown',
] as const;
/** An engine error category. */
export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

// ── Supporting types ────────────────────────────────────────────────────────────────────────

/** A contract's result as recorded on validation (`ContractResultSnapshot` / `ContractResult`). */
export interface ContractResultSnapshot {
  readonly name: string;
  readonly passed: boolean;
  readonly failure_reason: string | null;
}

/** Adapter used by a local run. Open type: unknown fields are kept. */
export interface AdapterTrace {
  readonly adapter_id?: string;
  readonly adapter_hash?: string;
  readonly merged?: boolean;
  readonly [field: string]: unknown;
}

/** Sampler parameters of a local run. Open type: unknown fields are kept. */
export interface SamplerParams {
  readonly temperature?: number;
  readonly top_p?: number;
  readonly top_k?: number | null;
  readonly [field: string]: unknown;
}

/** Recall used by a local run. Open type: unknown fields are kept. */
export interface RecallTrace {
  readonly corpus_fingerprint?: string;
  readonly candidate_ids?: readonly string[];
  readonly candidate_scores?: readonly number[];
  readonly injected_count?: number;
  readonly [field: string]: unknown;
}

/** Execution environment of a local run. Open type: unknown fields are kept. */
export interface ExecutionEnv {
  readonly device?: string;
  readonly backend?: string;
  readonly precision?: string;
  readonly [field: string]: unknown;
}

/** A replay-eligible trace of a local model run (`ReplayTrace::Local`). */
export interface LocalReplayTrace {
  readonly type: 'Local';
  readonly base_model_hash: string;
  readonly adapter: AdapterTrace | null;
  readonly tokenizer_hash: string;
  readonly seed: number;
  readonly sampler: SamplerParams;
  readonly prompt_version: string;
  readonly recall: RecallTrace | null;
  readonly weights_mutated: boolean;
  readonly execution_env: ExecutionEnv;
}

/**
 * An audit-only trace of a remote provider call (`ReplayTrace::Remote`). Field names are
 * converge-core's (`provider_name`, `provider_model_id`, `provider_metadata`, …).
 */
export interface RemoteReplayTrace {
  readonly type: 'Remote';
  readonly provider_name: string;
  readonly provider_model_id: string;
  readonly request_fingerprint: string;
  readonly response_fingerprint: string;
  readonly temperature: number;
  readonly top_p: number;
  readonly max_tokens: number;
  /** Provider metadata; converge writes strings, any JSON value is accepted and kept. */
  readonly provider_metadata: { readonly [key: string]: JsonValue };
  readonly retried: boolean;
  readonly retry_reasons: readonly string[];
  readonly replayability: Replayability;
}

/** A trace link, internally tagged by `type`: `{"type":"Local",…}` or `{"type":"Remote",…}`. */
export type ReplayTrace = LocalReplayTrace | RemoteReplayTrace;

/** A proposal emitted by a reasoning kernel (`KernelProposal`). */
export interface KernelProposal {
  readonly id: string;
  readonly kind: ProposalKind;
  readonly payload: string;
  readonly structured_payload: JsonValue | null;
  readonly trace_link: ReplayTrace;
  readonly contract_results: readonly ContractResultSnapshot[];
  readonly requires_human: boolean;
  readonly confidence: number | null;
}

/** Kernel policy (`KernelPolicy`). Open type: unknown fields are kept. */
export interface KernelPolicy {
  readonly adapter_id?: string | null;
  readonly recall_enabled?: boolean;
  readonly recall_max_candidates?: number;
  readonly recall_min_score?: number;
  readonly seed?: number | null;
  readonly requires_human?: boolean;
  readonly required_truths?: readonly string[];
  readonly [field: string]: unknown;
}

/** Routing policy (`RoutingPolicy`). Open type: unknown fields are kept. */
export interface RoutingPolicy {
  readonly truth_preferences?: { readonly [truth: string]: string };
  readonly risk_tier_backends?: { readonly [tier: string]: readonly string[] };
  readonly data_classification_backends?: { readonly [classification: string]: readonly string[] };
  readonly default_backend?: string;
  readonly [field: string]: unknown;
}

/** Recall policy (`RecallPolicy`). Open type: unknown fields are kept. */
export interface RecallPolicy {
  readonly enabled?: boolean;
  readonly max_k_total?: number;
  readonly max_tokens_injection?: number;
  readonly [field: string]: unknown;
}

/** A captured policy, adjacently tagged `{"type":"Kernel"|"Routing"|"Recall","policy":{…}}`. */
export type PolicySnapshot =
  | { readonly type: 'Kernel'; readonly policy: KernelPolicy }
  | { readonly type: 'Routing'; readonly policy: RoutingPolicy }
  | { readonly type: 'Recall'; readonly policy: RecallPolicy };

/** A semantic recall query (`RecallQuery`). Open type: unknown fields are kept. */
export interface RecallQuery {
  readonly query_text?: string;
  readonly top_k?: number;
  readonly step_context?: DecisionStep | null;
  readonly tenant_scope?: string | null;
  readonly [field: string]: unknown;
}

/** Provenance of a recall (`RecallProvenanceEnvelope`). Open type: unknown fields are kept. */
export interface RecallProvenanceEnvelope {
  readonly query_hash?: string;
  readonly embedding_input_hash?: string;
  readonly embedding_hash?: string;
  readonly embedder_id?: string;
  readonly embedder_settings_hash?: string;
  readonly corpus_fingerprint?: string;
  readonly policy_snapshot_hash?: string;
  readonly candidates_searched?: number;
  readonly candidates_returned?: number;
  readonly latency_ms?: number;
  readonly timestamp?: string;
  readonly signature?: string;
  readonly [field: string]: unknown;
}

/** A recorded lifecycle state change of a governed artifact (`LifecycleEvent`). */
export interface LifecycleEvent {
  readonly from_state: GovernedArtifactState;
  readonly to_state: GovernedArtifactState;
  readonly timestamp: string;
  readonly actor: string;
  readonly reason: string;
  readonly ticket_ref: string | null;
  readonly tenant_id: string | null;
}

/** The assessed impact of a rollback (`RollbackImpact`). */
export interface RollbackImpact {
  readonly affected_count: number | null;
  readonly quality_issues: readonly string[];
  readonly invalidates_outputs: boolean;
  readonly severity: RollbackSeverity;
  readonly affected_tenants: readonly string[];
}

/** A governed artifact's rollback (`RollbackRecord`). */
export interface RollbackRecord {
  readonly artifact_id: string;
  readonly previous_state: GovernedArtifactState;
  readonly rolled_back_at: string;
  readonly actor: string;
  readonly reason: string;
  readonly impact: RollbackImpact;
  readonly incident_ref: string | null;
  readonly tenant_id: string | null;
}

/** One labelled piece of context shown to the human at a gate (`ContextItem`). */
export interface ContextItem {
  readonly label: string;
  readonly value: string;
}

/**
 * What a gate does when nobody answers (`TimeoutPolicy`): a plain struct,
 * `{"timeout_secs":1800,"action":"Reject"}`.
 */
export interface TimeoutPolicy {
  readonly timeout_secs: number;
  readonly action: TimeoutAction;
}

/** converge's default gate timeout: 30 minutes, then reject. */
export const DEFAULT_TIMEOUT_POLICY: TimeoutPolicy = Object.freeze({
  timeout_secs: 1800,
  action: 'Reject',
});

/** A request for human approval at a HITL gate (`GateRequest`). `gate_id` reads `hitl-…`. */
export interface GateRequest {
  readonly gate_id: string;
  readonly proposal_id: string;
  readonly summary: string;
  readonly agent_id: string;
  readonly rationale: string | null;
  readonly context_data: readonly ContextItem[];
  readonly cycle: number;
  readonly requested_at: string;
  readonly timeout: TimeoutPolicy;
}

/** The human's verdict (`GateVerdict`, externally tagged): `"Approve"` or `{"Reject":{"reason":…}}`. */
export type GateVerdict = 'Approve' | { readonly Reject: { readonly reason: string | null } };

/** The human's decision on a gate (`GateDecision`). */
export interface GateDecision {
  readonly gate_id: string;
  readonly verdict: GateVerdict;
  readonly decided_by: string;
  readonly decided_at: string;
}

/**
 * Why the engine stopped (engine `StopReason`, externally tagged): unit variants as strings,
 * the others as `{"Variant":{…}}`.
 */
export type StopReason =
  | 'Converged'
  | 'UserCancelled'
  | { readonly CriteriaMet: { readonly criteria: readonly string[] } }
  | {
      readonly HumanInterventionRequired: {
        readonly criteria: readonly string[];
        readonly approval_refs: readonly string[];
      };
    }
  | { readonly CycleBudgetExhausted: { readonly cycles_executed: number; readonly limit: number } }
  | { readonly FactBudgetExhausted: { readonly facts_count: number; readonly limit: number } }
  | { readonly TokenBudgetExhausted: { readonly tokens_consumed: number; readonly limit: number } }
  | { readonly TimeBudgetExhausted: { readonly duration_ms: number; readonly limit_ms: number } }
  | {
      readonly InvariantViolated: {
        readonly class: string;
        readonly name: string;
        readonly reason: string;
      };
    }
  | { readonly PromotionRejected: { readonly proposal_id: string; readonly reason: string } }
  | { readonly Error: { readonly message: string; readonly category: ErrorCategory } }
  | { readonly AgentRefused: { readonly agent_id: string; readonly reason: string } }
  | {
      readonly HitlGatePending: {
        readonly gate_id: string;
        readonly proposal_id: string;
        readonly summary: string;
        readonly agent_id: string;
        readonly cycle: number;
      };
    };

// ── The events ──────────────────────────────────────────────────────────────────────────────

/** The `data` of each experience event variant, by variant name, fields in serde order. */
export interface ExperienceEventDataMap {
  /** Kernel proposal was created. */
  readonly ProposalCreated: {
    readonly proposal: KernelProposal;
    readonly chain_id: string;
    readonly step: DecisionStep;
    readonly policy_snapshot_hash: string | null;
  };
  /** Proposal was validated (contracts/truths evaluated). */
  readonly ProposalValidated: {
    readonly proposal_id: string;
    readonly chain_id: string;
    readonly step: DecisionStep;
    readonly contract_results: readonly ContractResultSnapshot[];
    readonly all_passed: boolean;
    readonly validator: string;
  };
  /** Proposal was promoted into a fact. */
  readonly FactPromoted: {
    readonly proposal_id: string;
    readonly fact_id: string;
    readonly promoted_by: string;
    readonly reason: string;
    readonly requires_human: boolean;
  };
  /** Recall operation executed with full provenance. */
  readonly RecallExecuted: {
    readonly query: RecallQuery;
    readonly provenance: RecallProvenanceEnvelope;
    readonly trace_link_id: string | null;
  };
  /** Trace link recorded as a first-class object. */
  readonly ReplayTraceRecorded: {
    readonly trace_link_id: string;
    readonly trace_link: ReplayTrace;
  };
  /** Replayability downgraded for a trace. */
  readonly ReplayabilityDowngraded: {
    readonly trace_link_id: string;
    readonly from: Replayability;
    readonly to: Replayability;
    readonly reason: ReplayabilityDowngradeReason;
  };
  /** Governed artifact state transition recorded. */
  readonly ArtifactStateTransitioned: {
    readonly artifact_id: string;
    readonly artifact_kind: ArtifactKind;
    readonly event: LifecycleEvent;
  };
  /** Governed artifact rollback recorded. */
  readonly ArtifactRollbackRecorded: { readonly rollback: RollbackRecord };
  /** Backend invocation occurred. */
  readonly BackendInvoked: {
    readonly backend_name: string;
    readonly adapter_id: string | null;
    readonly trace_link_id: string;
    readonly step: DecisionStep;
    readonly policy_snapshot_hash: string | null;
  };
  /** Outcome recorded for a chain step. */
  readonly OutcomeRecorded: {
    readonly chain_id: string;
    readonly step: DecisionStep;
    readonly passed: boolean;
    readonly stop_reason: StopReason | null;
    readonly latency_ms: number | null;
    readonly tokens: number | null;
    readonly cost_microdollars: number | null;
    readonly backend: string | null;
    /** Provider/gateway metadata; absent when empty (converge skips an empty map). */
    readonly metadata?: { readonly [key: string]: string };
  };
  /** Budget exceeded for a chain/run. */
  readonly BudgetExceeded: {
    readonly chain_id: string;
    readonly resource: BudgetResource;
    readonly limit: string;
    readonly observed: string | null;
  };
  /** Policy snapshot captured for provenance. */
  readonly PolicySnapshotCaptured: {
    readonly policy_id: string;
    readonly policy: PolicySnapshot;
    readonly snapshot_hash: string;
    readonly captured_by: string;
  };
  /** A tracked hypothesis reached a terminal outcome. */
  readonly HypothesisResolved: {
    readonly chain_id: string;
    readonly fact_id: string;
    readonly domain: string;
    readonly claim: string;
    readonly confidence: number;
    readonly outcome: HypothesisOutcome;
    /** Absent when `None` (converge skips it). */
    readonly contradiction_id?: string | null;
    readonly formed_cycle: number;
    readonly resolved_cycle: number;
  };
  /** Human decision on a HITL gate. */
  readonly GateDecisionRecorded: {
    readonly request: GateRequest;
    readonly decision: GateDecision;
  };
}

/** The name of an experience event variant (`ExperienceEventKind`). */
export type ExperienceEventKind = keyof ExperienceEventDataMap;

/** The experience event of variant `K`. */
export type ExperienceEventOf<K extends ExperienceEventKind> = {
  readonly type: K;
  readonly data: ExperienceEventDataMap[K];
};

/** Any experience event, adjacently tagged. Narrow on `type`. */
export type ExperienceEvent = {
  [K in ExperienceEventKind]: ExperienceEventOf<K>;
}[ExperienceEventKind];

/** Every experience event kind, in converge's declaration order. */
export const EXPERIENCE_EVENT_KINDS: readonly ExperienceEventKind[] = Object.freeze([
  'ProposalCreated',
  'ProposalValidated',
  'FactPromoted',
  'RecallExecuted',
  'ReplayTraceRecorded',
  'ReplayabilityDowngraded',
  'ArtifactStateTransitioned',
  'ArtifactRollbackRecorded',
  'BackendInvoked',
  'OutcomeRecorded',
  'BudgetExceeded',
  'PolicySnapshotCaptured',
  'HypothesisResolved',
  'GateDecisionRecorded',
] as const satisfies readonly ExperienceEventKind[]);

const KIND_SET: ReadonlySet<string> = new Set(EXPERIENCE_EVENT_KINDS);

/** Whether `value` names an experience event variant. */
export function isExperienceEventKind(value: unknown): value is ExperienceEventKind {
  return typeof value === 'string' && KIND_SET.has(value);
}

/** The kind of an event (`ExperienceEvent::kind()`), for filtering and indexing. */
export function eventKind(event: ExperienceEvent): ExperienceEventKind {
  return event.type;
}

/**
 * The chain id an event belongs to, for indexing: set on `ProposalCreated`, `ProposalValidated`,
 * `OutcomeRecorded`, `BudgetExceeded` and `HypothesisResolved`; `undefined` for the others.
 */
export function eventChainId(event: ExperienceEvent): string | undefined {
  switch (event.type) {
    case 'ProposalCreated':
    case 'ProposalValidated':
    case 'OutcomeRecorded':
    case 'BudgetExceeded':
    case 'HypothesisResolved':
      return event.data.chain_id;
    default:
      return undefined;
  }
}

/**
 * The trace link id a `ReplayTraceRecorded` event records (what `getTraceLink(id)` looks up);
 * `undefined` for every other kind, including those that merely refer to a trace link.
 */
export function eventTraceLinkId(event: ExperienceEvent): string | undefined {
  return event.type === 'ReplayTraceRecorded' ? event.data.trace_link_id : undefined;
}

// ── Schemas ─────────────────────────────────────────────────────────────────────────────────

const U32_MAX = 0xffff_ffff;

function uint(bits: 32 | 64): z.ZodType<number> {
  const max = bits === 32 ? U32_MAX : Number.MAX_SAFE_INTEGER;
  const error =
    bits === 32
      ? 'expected a non-negative integer up to 4294967295 (u32)'
      : 'expected a non-negative integer up to 9007199254740991 (u64 within the range kerno holds exactly)';
  return z.custom<number>(
    (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max,
    { error },
  );
}

const u32 = uint(32);
const u64 = uint(64);
const f64 = z.number({ error: 'expected a finite number' });
const str = z.string();
const bool = z.boolean();

/** `Option<T>`: `null` or missing on input, always written as `null`. */
function opt<T>(schema: z.ZodType<T>): z.ZodType<T | null> {
  return schema.nullable().default(null);
}

/** Longest `Timestamp` kerno accepts (converge's is an open string). */
export const MAX_TIMESTAMP_LENGTH = 64;

/**
 * A converge `Timestamp`: an open string upstream — RFC 3339 from a host clock, a Lamport stamp
 * (`lamport:0`, what 3.9's `Timestamp::now()` writes), or 3.7's `"<unix secs>Z"`. kerno accepts
 * any non-empty string up to 64 characters and keeps it as given.
 */
export const timestampSchema = z
  .string()
  .min(1, { error: 'expected a non-empty timestamp (RFC 3339, lamport:N, or any text)' })
  .max(MAX_TIMESTAMP_LENGTH, {
    error: `expected a timestamp of at most ${MAX_TIMESTAMP_LENGTH} characters`,
  });
const timestamp = timestampSchema;

/**
 * converge 3.9's `UnitInterval`: a finite number in [0, 1] (confidences, normalised scores,
 * thresholds); values outside are rejected on read, as converge does.
 */
export const unitIntervalSchema = z.custom<number>(
  (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1,
  { error: 'expected a number in the unit interval [0, 1]' },
);
const unit = unitIntervalSchema;

/** converge's `ContentHash`: 32 bytes as hex. */
export const contentHashSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, { error: 'expected a content hash: 64 hexadecimal characters' });
const contentHash = contentHashSchema;

function firstNonJson(value: unknown, path: (string | number)[]): (string | number)[] | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : path;
    case 'object': {
      if (value === null) return undefined;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const bad = firstNonJson(value[i], [...path, i]);
          if (bad !== undefined) return bad;
        }
        return undefined;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return path;
      for (const [k, v] of Object.entries(value)) {
        const bad = firstNonJson(v, [...path, k]);
        if (bad !== undefined) return bad;
      }
      return undefined;
    }
    default:
      return path;
  }
}

/** Any JSON value (`serde_json::Value`), kept as given. */
export const jsonValueSchema = z.unknown().superRefine((value, ctx) => {
  const bad = firstNonJson(value, []);
  if (bad !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: bad,
      message: 'expected a JSON value (no NaN, Infinity, undefined, functions or class instances)',
    });
  }
}) as unknown as z.ZodType<JsonValue>;
const jsonValue = jsonValueSchema;

function enumOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values);
}

/** An externally tagged enum with string-carrying `Other(String)`: `"Name"` or `{"Other":"…"}`. */
function namedOrOther<const T extends readonly [string, ...string[]]>(
  what: string,
  names: T,
): z.ZodType<T[number] | { readonly Other: string }> {
  const expected = `expected ${what}: ${names.map((n) => JSON.stringify(n)).join(', ')} or {"Other":"…"}`;
  return z.union([z.enum(names), z.strictObject({ Other: str })], { error: expected });
}

/**
 * An open struct: known fields are type-checked when present, every field (known or not) is
 * kept in input order.
 */
function openStruct<T>(shape: Record<string, z.ZodType>): z.ZodType<T> {
  const known = z.object(
    Object.fromEntries(Object.entries(shape).map(([k, s]) => [k, s.optional()])),
  );
  return z.looseObject({}).superRefine((value, ctx) => {
    const result = known.safeParse(value);
    if (!result.success) {
      for (const issue of result.error.issues) {
        ctx.addIssue({ code: 'custom', path: [...issue.path], message: issue.message });
      }
    }
  }) as unknown as z.ZodType<T>;
}

/** A discriminated union's message for an unknown tag; other issues keep zod's wording. */
function unionError(message: string) {
  return (issue: { readonly code?: string }) =>
    issue.code === 'invalid_union' ? message : undefined;
}

/** Schema of {@link DecisionStep}. */
export const decisionStepSchema = enumOf(DECISION_STEPS);
const proposalKind = enumOf(PROPOSAL_KINDS);
const replayability = enumOf(REPLAYABILITY_LEVELS);
const downgradeReason = enumOf(REPLAYABILITY_DOWNGRADE_REASONS);
const hypothesisOutcome = enumOf(HYPOTHESIS_OUTCOMES);
/** Schema of {@link GovernedArtifactState}. */
export const governedArtifactStateSchema = enumOf(GOVERNED_ARTIFACT_STATES);
const rollbackSeverity = enumOf(ROLLBACK_SEVERITIES);
const timeoutAction = enumOf(TIMEOUT_ACTIONS);
const errorCategory = enumOf(ERROR_CATEGORIES);

/** Schema of {@link BudgetResource}. */
export const budgetResourceSchema = namedOrOther('a budget resource', BUDGET_RESOURCE_NAMES);
/** Schema of {@link ArtifactKind}. */
export const artifactKindSchema = namedOrOther('an artifact kind', ARTIFACT_KIND_NAMES);

/** Schema of {@link ContractResultSnapshot}. */
export const contractResultSnapshotSchema = z.looseObject({
  name: str,
  passed: bool,
  failure_reason: opt(str),
}) satisfies z.ZodType<ContractResultSnapshot>;

const stringArray = z.array(str);
const stringMap = z.record(z.string(), str);

const adapterTrace = openStruct<AdapterTrace>({ adapter_id: str, adapter_hash: str, merged: bool });
const samplerParams = openStruct<SamplerParams>({
  temperature: f64,
  top_p: f64,
  top_k: u64.nullable(),
});
const recallTrace = openStruct<RecallTrace>({
  corpus_fingerprint: str,
  candidate_ids: stringArray,
  candidate_scores: z.array(unit),
  injected_count: u64,
});
const executionEnv = openStruct<ExecutionEnv>({ device: str, backend: str, precision: str });

/** Schema of {@link ReplayTrace} (internally tagged by `type`). */
export const replayTraceSchema = z.discriminatedUnion(
  'type',
  [
    z.looseObject({
      type: z.literal('Local'),
      base_model_hash: str,
      adapter: opt(adapterTrace),
      tokenizer_hash: str,
      seed: u64,
      sampler: samplerParams,
      prompt_version: str,
      recall: opt(recallTrace),
      weights_mutated: bool,
      execution_env: executionEnv,
    }),
    z.looseObject({
      type: z.literal('Remote'),
      provider_name: str,
      provider_model_id: str,
      request_fingerprint: str,
      response_fingerprint: str,
      temperature: f64,
      top_p: f64,
      max_tokens: u64,
      provider_metadata: z.record(z.string(), jsonValue),
      retried: bool,
      retry_reasons: stringArray,
      replayability,
    }),
  ],
  { error: unionError('expected a replay trace with "type": "Local" or "Remote"') },
) satisfies z.ZodType<ReplayTrace>;

/** Schema of {@link KernelProposal}. */
export const kernelProposalSchema = z.looseObject({
  id: str,
  kind: proposalKind,
  payload: str,
  structured_payload: opt(jsonValue),
  trace_link: replayTraceSchema,
  contract_results: z.array(contractResultSnapshotSchema),
  requires_human: bool,
  confidence: opt(unit),
}) satisfies z.ZodType<KernelProposal>;

const kernelPolicy = openStruct<KernelPolicy>({
  adapter_id: str.nullable(),
  recall_enabled: bool,
  recall_max_candidates: u64,
  recall_min_score: unit,
  seed: u64.nullable(),
  requires_human: bool,
  required_truths: stringArray,
});
const routingPolicy = openStruct<RoutingPolicy>({
  truth_preferences: stringMap,
  risk_tier_backends: z.record(z.string(), stringArray),
  data_classification_backends: z.record(z.string(), stringArray),
  default_backend: str,
});
const recallPolicy = openStruct<RecallPolicy>({
  enabled: bool,
  max_k_total: u64,
  max_tokens_injection: u64,
});

/** Schema of {@link PolicySnapshot} (adjacently tagged, content key `policy`). */
export const policySnapshotSchema = z.discriminatedUnion(
  'type',
  [
    z.looseObject({ type: z.literal('Kernel'), policy: kernelPolicy }),
    z.looseObject({ type: z.literal('Routing'), policy: routingPolicy }),
    z.looseObject({ type: z.literal('Recall'), policy: recallPolicy }),
  ],
  { error: unionError('expected a policy snapshot with "type": "Kernel", "Routing" or "Recall"') },
) satisfies z.ZodType<PolicySnapshot>;

/** Schema of {@link RecallQuery}. */
export const recallQuerySchema = openStruct<RecallQuery>({
  query_text: str,
  top_k: u64,
  step_context: decisionStepSchema.nullable(),
  tenant_scope: str.nullable(),
});

/** Schema of {@link RecallProvenanceEnvelope}. */
export const recallProvenanceSchema = openStruct<RecallProvenanceEnvelope>({
  query_hash: str,
  embedding_input_hash: str,
  embedding_hash: str,
  embedder_id: str,
  embedder_settings_hash: str,
  corpus_fingerprint: str,
  policy_snapshot_hash: str,
  candidates_searched: u64,
  candidates_returned: u64,
  latency_ms: u64,
  timestamp: str,
  signature: str,
});

/** Schema of {@link LifecycleEvent}. */
export const lifecycleEventSchema = z.looseObject({
  from_state: governedArtifactStateSchema,
  to_state: governedArtifactStateSchema,
  timestamp,
  actor: str,
  reason: str,
  ticket_ref: opt(str),
  tenant_id: opt(str),
}) satisfies z.ZodType<LifecycleEvent>;

/** Schema of {@link RollbackRecord}. */
export const rollbackRecordSchema = z.looseObject({
  artifact_id: str,
  previous_state: governedArtifactStateSchema,
  rolled_back_at: timestamp,
  actor: str,
  reason: str,
  impact: z.looseObject({
    affected_count: opt(u64),
    quality_issues: stringArray,
    invalidates_outputs: bool,
    severity: rollbackSeverity,
    affected_tenants: stringArray,
  }),
  incident_ref: opt(str),
  tenant_id: opt(str),
}) satisfies z.ZodType<RollbackRecord>;

/** Schema of {@link TimeoutPolicy}. */
export const timeoutPolicySchema = z.looseObject({
  timeout_secs: u64,
  action: timeoutAction,
}) satisfies z.ZodType<TimeoutPolicy>;

/** Schema of {@link GateRequest}. */
export const gateRequestSchema = z.looseObject({
  gate_id: str,
  proposal_id: str,
  summary: str,
  agent_id: str,
  rationale: opt(str),
  context_data: z.array(z.looseObject({ label: str, value: str })),
  cycle: u32,
  requested_at: timestamp,
  timeout: timeoutPolicySchema,
}) satisfies z.ZodType<GateRequest>;

/** Schema of {@link GateDecision}. */
export const gateDecisionSchema = z.looseObject({
  gate_id: str,
  verdict: z.union(
    [z.literal('Approve'), z.strictObject({ Reject: z.looseObject({ reason: opt(str) }) })],
    { error: 'expected a verdict: "Approve" or {"Reject":{"reason":…}}' },
  ),
  decided_by: str,
  decided_at: timestamp,
}) satisfies z.ZodType<GateDecision>;

const STOP_REASON_STRUCTS = {
  CriteriaMet: { criteria: stringArray },
  HumanInterventionRequired: { criteria: stringArray, approval_refs: stringArray },
  CycleBudgetExhausted: { cycles_executed: u32, limit: u32 },
  FactBudgetExhausted: { facts_count: u32, limit: u32 },
  TokenBudgetExhausted: { tokens_consumed: u64, limit: u64 },
  TimeBudgetExhausted: { duration_ms: u64, limit_ms: u64 },
  InvariantViolated: { class: str, name: str, reason: str },
  PromotionRejected: { proposal_id: str, reason: str },
  Error: { message: str, category: errorCategory },
  AgentRefused: { agent_id: str, reason: str },
  HitlGatePending: { gate_id: str, proposal_id: str, summary: str, agent_id: str, cycle: u32 },
} as const;

const STOP_REASON_NAMES = ['Converged', 'UserCancelled', ...Object.keys(STOP_REASON_STRUCTS)];

/** Schema of the engine's {@link StopReason} (externally tagged). */
export const stopReasonSchema = z.union(
  [
    z.enum(['Converged', 'UserCancelled']),
    ...Object.entries(STOP_REASON_STRUCTS).map(([name, shape]) =>
      z.strictObject({ [name]: z.looseObject(shape) }),
    ),
  ],
  {
    error: `expected a stop reason: "Converged", "UserCancelled" or {"<Variant>":{…}} with Variant one of ${STOP_REASON_NAMES.slice(2).join(', ')}`,
  },
) as unknown as z.ZodType<StopReason>;

const EVENT_DATA = {
  ProposalCreated: z.looseObject({
    proposal: kernelProposalSchema,
    chain_id: str,
    step: decisionStepSchema,
    policy_snapshot_hash: opt(contentHash),
  }),
  ProposalValidated: z.looseObject({
    proposal_id: str,
    chain_id: str,
    step: decisionStepSchema,
    contract_results: z.array(contractResultSnapshotSchema),
    all_passed: bool,
    validator: str,
  }),
  FactPromoted: z.looseObject({
    proposal_id: str,
    fact_id: str,
    promoted_by: str,
    reason: str,
    requires_human: bool,
  }),
  RecallExecuted: z.looseObject({
    query: recallQuerySchema,
    provenance: recallProvenanceSchema,
    trace_link_id: opt(str),
  }),
  ReplayTraceRecorded: z.looseObject({
    trace_link_id: str,
    trace_link: replayTraceSchema,
  }),
  ReplayabilityDowngraded: z.looseObject({
    trace_link_id: str,
    from: replayability,
    to: replayability,
    reason: downgradeReason,
  }),
  ArtifactStateTransitioned: z.looseObject({
    artifact_id: str,
    artifact_kind: artifactKindSchema,
    event: lifecycleEventSchema,
  }),
  ArtifactRollbackRecorded: z.looseObject({ rollback: rollbackRecordSchema }),
  BackendInvoked: z.looseObject({
    backend_name: str,
    adapter_id: opt(str),
    trace_link_id: str,
    step: decisionStepSchema,
    policy_snapshot_hash: opt(contentHash),
  }),
  OutcomeRecorded: z.looseObject({
    chain_id: str,
    step: decisionStepSchema,
    passed: bool,
    stop_reason: opt(stopReasonSchema),
    latency_ms: opt(u64),
    tokens: opt(u64),
    cost_microdollars: opt(u64),
    backend: opt(str),
    metadata: stringMap.optional(),
  }),
  BudgetExceeded: z.looseObject({
    chain_id: str,
    resource: budgetResourceSchema,
    limit: str,
    observed: opt(str),
  }),
  PolicySnapshotCaptured: z.looseObject({
    policy_id: str,
    policy: policySnapshotSchema,
    snapshot_hash: contentHash,
    captured_by: str,
  }),
  HypothesisResolved: z.looseObject({
    chain_id: str,
    fact_id: str,
    domain: str,
    claim: str,
    confidence: unit,
    outcome: hypothesisOutcome,
    contradiction_id: str.nullable().optional(),
    formed_cycle: u32,
    resolved_cycle: u32,
  }),
  GateDecisionRecorded: z.looseObject({
    request: gateRequestSchema,
    decision: gateDecisionSchema,
  }),
} as const;

/** Schema of {@link ExperienceEvent}: `{"type":"<kind>","data":{…}}`. */
export const experienceEventSchema = z.discriminatedUnion(
  'type',
  EXPERIENCE_EVENT_KINDS.map((kind) =>
    z.looseObject({ type: z.literal(kind), data: EVENT_DATA[kind] }),
  ) as unknown as [z.ZodObject<{ type: z.ZodLiteral<string> }>],
  {
    error: unionError(
      `unknown experience event type; expected one of ${EXPERIENCE_EVENT_KINDS.join(', ')}`,
    ),
  },
) as unknown as z.ZodType<ExperienceEvent>;

/** Schema of an envelope's `occurred_at`: a converge `Timestamp` (see {@link timestampSchema}). */
export const occurredAtSchema = timestampSchema;

// ── Errors ──────────────────────────────────────────────────────────────────────────────────

type Path = readonly PropertyKey[];

interface FoundIssue {
  readonly path: Path;
  readonly message: string;
}

/** Picks the issue to report: inside a union, the branch that matched the input's shape best. */
function pickIssue(issue: z.core.$ZodIssue, prefix: Path): FoundIssue {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    let best: z.core.$ZodIssue | undefined;
    for (const branch of issue.errors) {
      if (branch.some((i) => i.path.length === 0 && i.code !== 'invalid_union')) continue;
      for (const candidate of branch) {
        if (best === undefined || candidate.path.length > best.path.length) best = candidate;
      }
    }
    if (best !== undefined) return pickIssue(best, path);
  }
  return { path, message: issue.message.replace(/^Invalid (input|option): /, '') };
}

/** Formats a path like `data.contract_results[0].name`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      out += out === '' ? key : `.${key}`;
    } else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

function valueAt(root: unknown, path: Path): unknown {
  let current = root;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    if (!Object.hasOwn(current, key)) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function preview(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/**
 * Turns a failed parse into a KernelError `INVALID_EVENT` naming the first bad field.
 * @internal shared by the envelope parser.
 */
export function invalidEventError(what: string, error: z.ZodError, input: unknown): KernelError {
  const issues = error.issues.map((issue) => pickIssue(issue, []));
  const first = issues[0] ?? { path: [], message: 'invalid value' };
  const path = formatPath(first.path);
  const value = valueAt(input, first.path);
  const parentExists =
    first.path.length > 0 && valueAt(input, first.path.slice(0, -1)) !== undefined;
  const detail =
    value === undefined && parentExists
      ? `missing field (${first.message.replace(/, received undefined$/, '')})`
      : value === undefined
        ? first.message
        : `${first.message}, got ${preview(value)}`;
  const where = path === '' ? '' : ` at ${path}`;
  return new KernelError(
    'INVALID_EVENT',
    `Invalid ${what}${where}: ${detail}. Correct that field: kerno reads and writes converge-core's serde JSON for experience events.`,
    {
      details: {
        path,
        issues: issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
      },
    },
  );
}

/**
 * Validates an experience event in its serde form and returns it normalised: fields in
 * converge's declaration order, missing `Option` fields as `null`, unknown fields kept.
 * Throws KernelError `INVALID_EVENT` whose message and `details.path` name the bad field.
 */
export function parseExperienceEvent(value: unknown): ExperienceEvent {
  const result = experienceEventSchema.safeParse(value);
  if (!result.success) throw invalidEventError('experience event', result.error, value);
  return result.data;
}

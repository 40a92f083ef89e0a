/**
 * Kernel events: the typed union every part of kerno publishes on the bus.
 *
 * The first 20 variants are oxios-kernel's `KernelEvent`; the rest are kerno's own. Every variant
 * is declared once, in {@link KERNEL_EVENT_FIELDS}: the TypeScript union, the validators, kerno's
 * JSON codec here and the oxios serde codec and Rust `Debug` rendering in
 * `formats/oxios-kernel-event.ts` are all derived from that table, so adding a variant is one line
 * there (plus its audit mapping, which the compiler asks for).
 *
 * kerno's own JSON form is flat: `{"type":"AgentCreated","id":"…","name":"…"}` (camelCase fields).
 *
 * This is shared vocabulary (`model/`): the bus carries these events, storage and the registry
 * write them, the audit trail maps them, and none of those needs the others to know the shape.
 *
 * @example
 * import { decodeKernelEvent } from 'kerno';
 * decodeKernelEvent('{"type":"AgentStarted","id":"0190a6e2-7c1b-7abc-8def-0123456789ab"}');
 *
 * @module
 */
import { KernelError } from '../errors.js';
import { canonicalJson, type JsonValue } from '../util/canonical-json.js';
import { MODULE_STATES, type ModuleState } from './module-state.js';

export { MODULE_STATES, type ModuleState };
import { FAILURE_CLASSES, RECOVERY_ACTIONS } from './failure.js';

/** The phases of the Ouroboros loop (oxios_ouroboros::Phase). */
export const PHASES = ['Interview', 'Seed', 'Execute', 'Evaluate', 'Evolve'] as const;
/** An Ouroboros phase. */
export type Phase = (typeof PHASES)[number];

export { FAILURE_CLASSES, RECOVERY_ACTIONS } from './failure.js';

/** How one field of a kernel event is typed on the wire. */
export type FieldSpec =
  | 'string'
  | 'uuid'
  | 'bool'
  | 'u32'
  | 'usize'
  | 'u64'
  | 'f64'
  /** Any JSON value (Rust's `serde_json::Value`). */
  | 'json'
  | { readonly enum: readonly string[] }
  | { readonly nullable: FieldSpec }
  /** A field that may be left out (kerno's additions to oxios 1.0.1 variants); never `null`. */
  | { readonly optional: FieldSpec };

const phase = { enum: PHASES } as const;
const moduleState = { enum: MODULE_STATES } as const;

/**
 * Every kernel event variant and its fields, in wire order. **The one place to extend the union.**
 * Field names are camelCase; the serde codec writes them snake_case.
 */
export const KERNEL_EVENT_FIELDS = {
  // ── oxios-kernel 1.0.1 ────────────────────────────────────────────────────────────────────
  AgentCreated: { id: 'uuid', name: 'string' },
  AgentStarted: { id: 'uuid' },
  /**
   * `success` (oxios 1.43's field; absent in 1.0.1 and in kerno's records before it): `true` when
   * the agent returned (completed), `false` when it was stopped.
   */
  AgentStopped: { id: 'uuid', success: { optional: 'bool' } },
  AgentFailed: { id: 'uuid', error: 'string' },
  MessageReceived: { from: 'uuid', content: 'string' },
  SeedCreated: { seedId: 'uuid' },
  EvaluationComplete: { seedId: 'uuid', passed: 'bool' },
  PhaseStarted: { sessionId: 'string', phase },
  PhaseCompleted: { sessionId: 'string', phase, resultSummary: 'string' },
  AgentOutput: { sessionId: 'string', agentId: 'uuid', output: 'string' },
  ApprovalRequested: { id: 'uuid', action: 'string', resource: 'string', reason: 'string' },
  ApprovalResolved: { id: 'uuid', approved: 'bool' },
  MemoryStored: { id: 'string', memoryType: 'string', source: 'string' },
  MemoryRecalled: { query: 'string', count: 'usize' },
  AgentGroupCreated: { groupId: 'uuid', agentCount: 'usize' },
  AgentGroupMemberCompleted: { groupId: 'uuid', agentId: 'uuid', success: 'bool' },
  ProjectCreated: { projectId: 'uuid', name: 'string', source: 'string' },
  ProjectActivated: { projectId: 'uuid', name: 'string' },
  EvolutionStarted: { seedId: 'uuid', newSeedId: 'uuid', iteration: 'u32' },
  EvolutionMaxReached: { seedId: 'uuid', finalScore: 'f64', iterations: 'u32' },
  // ── oxios-kernel 1.43, the kernel-relevant ones kerno emits (same fields and order) ────────
  /** A run step (kerno's tool execution) started: session = run id, call id = `<runId>:<stepKey>`. */
  ToolExecutionStarted: {
    sessionId: 'string',
    toolName: 'string',
    toolCallId: 'string',
    toolArgs: 'json',
  },
  /** A run step finished (`isError` when its attempt threw). */
  ToolExecutionFinished: {
    sessionId: 'string',
    toolCallId: 'string',
    toolName: 'string',
    durationMs: 'u64',
    isError: 'bool',
    outputSummary: 'string',
  },
  /** Cumulative token usage of a session (kerno: a converge chain's recorded outcomes). */
  TokenUsageUpdate: { sessionId: 'string', inputTokens: 'u64', outputTokens: 'u64' },
  // ── kerno ─────────────────────────────────────────────────────────────────────────────────
  /** A module's lifecycle state changed in the registry. */
  ModuleStateChanged: { moduleId: 'string', from: { nullable: moduleState }, to: moduleState },
  /** A config key was set, deleted or re-encrypted. Never carries the value. */
  ConfigChanged: {
    key: 'string',
    change: { enum: ['set', 'delete', 'rotate', 'encrypt'] },
    secret: 'bool',
  },
  /** The recovery loop decided what to do about a failed agent. */
  RecoveryDecided: {
    agentId: 'uuid',
    runId: 'string',
    attempt: 'u32',
    failureClass: { enum: FAILURE_CLASSES },
    action: { enum: RECOVERY_ACTIONS },
    rationale: 'string',
  },
  /** A supervisor restarted a child after a failure or exit. */
  AgentRestarted: { id: 'uuid', restarts: 'u32', delayMs: 'u32' },
  /**
   * A stopped in-process agent ignored its abort signal for `graceMs` and was abandoned: it may
   * still be running alongside its replacement (a function cannot be killed).
   */
  AgentAbandoned: { id: 'uuid', graceMs: 'u32' },
  /** A supervisor exceeded its restart intensity and gave up. */
  SupervisorEscalated: { supervisorId: 'string', reason: 'string' },
  /** An agent's output went over its limits: lines dropped (rate) or cut (length) since the last notice. */
  OutputTruncated: {
    agentId: 'uuid',
    droppedLines: 'usize',
    droppedBytes: 'usize',
    truncatedLines: 'usize',
  },
} as const satisfies Record<string, Record<string, FieldSpec>>;

type Spec = typeof KERNEL_EVENT_FIELDS;

/** The name of a kernel event variant. */
export type KernelEventType = keyof Spec;

type FieldValue<S> = S extends 'string' | 'uuid'
  ? string
  : S extends 'bool'
    ? boolean
    : S extends 'u32' | 'usize' | 'u64' | 'f64'
      ? number
      : S extends 'json'
        ? JsonValue
        : S extends { readonly enum: readonly (infer E)[] }
          ? E
          : S extends { readonly nullable: infer I }
            ? FieldValue<I> | null
            : S extends { readonly optional: infer I }
              ? FieldValue<I>
              : never;

/**
 * W3C trace context an event may carry (any variant; left out when absent): the span the event
 * belongs to, e.g. a run step's for `ToolExecutionStarted`. Not part of oxios's model: the serde
 * codec writes them as extra members (serde ignores them), and reads them back.
 */
export interface EventTraceContext {
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** The trace-context members any variant may carry, in wire order. */
export const EVENT_TRACE_FIELDS = ['traceparent', 'tracestate'] as const;

type OptionalKeys<S> = {
  [K in keyof S]: S[K] extends { readonly optional: unknown } ? K : never;
}[keyof S];

type Variant<T extends KernelEventType> = {
  readonly type: T;
} & {
  readonly [F in Exclude<keyof Spec[T], OptionalKeys<Spec[T]>>]: FieldValue<Spec[T][F]>;
} & {
  readonly [F in OptionalKeys<Spec[T]>]?: FieldValue<Spec[T][F]>;
} & EventTraceContext extends infer O
  ? { [K in keyof O]: O[K] }
  : never;

/** Any kernel event. Narrow on `type`. */
export type KernelEvent = { [T in KernelEventType]: Variant<T> }[KernelEventType];

/** The kernel event of variant `T`. */
export type KernelEventOf<T extends KernelEventType> = Extract<KernelEvent, { readonly type: T }>;

/** Every variant name, in declaration order. */
export const KERNEL_EVENT_TYPES = Object.freeze(
  Object.keys(KERNEL_EVENT_FIELDS),
) as readonly KernelEventType[];

/**
 * The variants oxios-kernel 1.0.1 defines, in its order. The reference file declares 20
 * (`AgentCreated` … `EvolutionMaxReached`); the next three are oxios 1.43's kernel-relevant
 * ones ({@link OXIOS_143_KERNEL_TYPES}), the rest are kerno's.
 */
export const OXIOS_EVENT_TYPES: readonly KernelEventType[] = Object.freeze(
  KERNEL_EVENT_TYPES.slice(0, 20),
);

/** The oxios-kernel 1.43 variants kerno's own kernel emits (tool execution, token usage). */
export const OXIOS_143_KERNEL_TYPES: readonly KernelEventType[] = Object.freeze(
  KERNEL_EVENT_TYPES.slice(20, 23),
);

/** One field of a variant as the codecs see it: kerno's name, the serde wire name, its type. */
export interface CompiledField {
  readonly name: string;
  readonly wire: string;
  readonly spec: FieldSpec;
}

/** A variant's fields in wire order, plus lookup helpers. */
export type CompiledVariant = readonly CompiledField[] & {
  readonly names: ReadonlySet<string>;
  /** The fields holding any JSON value (canonical JSON sorts their keys too). */
  readonly json: ReadonlySet<string>;
  /** Field names plus `type`, sorted: the canonical JSON key order. */
  readonly sorted: readonly string[];
};

const COMPILED = new Map<string, CompiledVariant>();
for (const [type, fields] of Object.entries(KERNEL_EVENT_FIELDS)) {
  const compiled = Object.entries(fields as Record<string, FieldSpec>).map(([name, spec]) => ({
    name,
    wire: toSnake(name),
    spec,
  }));
  const names = compiled.map((f) => f.name);
  COMPILED.set(
    type,
    Object.assign(compiled, {
      names: new Set(names),
      json: new Set(compiled.filter((f) => f.spec === 'json').map((f) => f.name)),
      sorted: [...names, 'type'].sort(),
    }),
  );
}

/**
 * The compiled field table of variant `type`; throws `UNKNOWN_EVENT_TYPE` for an unknown one.
 * For codecs of other wire forms (formats/), which must not re-declare the variants.
 */
export function variantFields(type: string): CompiledVariant {
  const fields = COMPILED.get(type);
  if (fields === undefined) throw unknownType(type);
  return fields;
}

/**
 * Validates and normalises one field value against its spec; throws `INVALID_EVENT` naming
 * `type.field` (the name as the caller's wire form spells it) when it does not fit.
 */
export function checkField(type: string, field: string, spec: FieldSpec, value: unknown): unknown {
  const v = check(spec, value);
  if (v === INVALID) throw invalid(type, field, describe(spec), value);
  return v === OMITTED ? undefined : v;
}

function toSnake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

/** Whether `type` names a known kernel event variant. */
export function isKernelEventType(type: unknown): type is KernelEventType {
  return typeof type === 'string' && COMPILED.has(type);
}

// ── validation ───────────────────────────────────────────────────────────────────────────────

const UUID_RE = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;

function invalid(type: string, field: string, expected: string, got: unknown): KernelError {
  const shown = got === undefined ? 'nothing' : (JSON.stringify(got) ?? typeof got).slice(0, 60);
  return new KernelError('INVALID_EVENT', `${type}.${field} must be ${expected}, got ${shown}`, {
    details: { type, field },
  });
}

function describe(spec: FieldSpec): string {
  if (typeof spec === 'string') {
    switch (spec) {
      case 'string':
        return 'a string';
      case 'uuid':
        return 'a UUID string';
      case 'bool':
        return 'a boolean';
      case 'u32':
        return 'an integer in 0..4294967295';
      case 'usize':
      case 'u64':
        return 'a non-negative integer';
      case 'f64':
        return 'a finite number';
      case 'json':
        return 'a JSON value';
    }
  }
  if ('enum' in spec) return `one of ${spec.enum.join(', ')}`;
  if ('optional' in spec) return `${describe(spec.optional)} or left out`;
  return `${describe(spec.nullable)} or null`;
}

/** Validates one field value; returns the normalised value or `INVALID` sentinel. */
function check(spec: FieldSpec, value: unknown): unknown {
  if (typeof spec === 'string') {
    switch (spec) {
      case 'string':
        return typeof value === 'string' ? value : INVALID;
      case 'uuid':
        return typeof value === 'string' && UUID_RE.test(value) ? normaliseUuid(value) : INVALID;
      case 'bool':
        return typeof value === 'boolean' ? value : INVALID;
      case 'u32':
        return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffffffff
          ? value
          : INVALID;
      case 'usize':
      case 'u64':
        return Number.isSafeInteger(value) && (value as number) >= 0 ? value : INVALID;
      case 'f64':
        return typeof value === 'number' && Number.isFinite(value) ? value : INVALID;
      case 'json':
        return isJsonValue(value, 0) ? value : INVALID;
    }
  }
  if ('enum' in spec)
    return typeof value === 'string' && spec.enum.includes(value) ? value : INVALID;
  if ('optional' in spec) return value === undefined ? OMITTED : check(spec.optional, value);
  return value === null ? null : check(spec.nullable, value);
}

const INVALID = Symbol('invalid');
/** An optional field that is left out. */
const OMITTED = Symbol('omitted');

/** Plain JSON data (finite numbers, plain objects), at most 64 levels deep. */
function isJsonValue(value: unknown, depth: number): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || depth >= 64) return false;
  if (Array.isArray(value)) return value.every((v) => isJsonValue(v, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every((v) => isJsonValue(v, depth + 1));
}

function normaliseUuid(value: string): string {
  if (value.length === 36 && value === value.toLowerCase()) return value;
  const hex = value.replace(/-/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Validates a value in kerno's form (`{ type, ...fields }`) and returns a normalised kernel
 * event. Throws `UNKNOWN_EVENT_TYPE` for an unknown `type` and `INVALID_EVENT` for anything else
 * that is wrong (missing, mistyped or unexpected fields).
 */
export function parseKernelEvent(value: unknown): KernelEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KernelError(
      'INVALID_EVENT',
      'A kernel event must be a JSON object with a "type" field',
    );
  }
  const record = value as Record<string, unknown>;
  const type = record['type'];
  if (typeof type !== 'string') {
    throw new KernelError('INVALID_EVENT', 'A kernel event needs a string "type" field');
  }
  const fields = COMPILED.get(type);
  if (fields === undefined) throw unknownType(type);
  const out: Record<string, unknown> = { type };
  for (const f of fields) {
    const v = check(f.spec, record[f.name]);
    if (v === INVALID) throw invalid(type, f.name, describe(f.spec), record[f.name]);
    if (v !== OMITTED) out[f.name] = v;
  }
  readTraceFields(type, record, out);
  for (const key of Object.keys(record)) {
    if (key !== 'type' && !fields.names.has(key) && !isTraceField(key)) {
      throw new KernelError('INVALID_EVENT', `${type} has no field "${key}"`, {
        details: { type, field: key },
      });
    }
  }
  return out as KernelEvent;
}

const TRACEPARENT_RE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$/;

function isTraceField(key: string): boolean {
  return key === 'traceparent' || key === 'tracestate';
}

/**
 * Copies an event's trace context from `record` into `out`, checked: `traceparent` a W3C
 * traceparent value, `tracestate` a string of at most 512 characters (`INVALID_EVENT` otherwise).
 * For the codecs of other wire forms too.
 */
export function readTraceFields(
  type: string,
  record: Readonly<Record<string, unknown>>,
  out: Record<string, unknown>,
): void {
  const tp = record['traceparent'];
  if (tp !== undefined) {
    if (typeof tp !== 'string' || tp.length > 512 || !TRACEPARENT_RE.test(tp)) {
      throw invalid(type, 'traceparent', 'a W3C traceparent (00-<trace id>-<span id>-<flags>)', tp);
    }
    out['traceparent'] = tp;
  }
  const ts = record['tracestate'];
  if (ts !== undefined) {
    if (typeof ts !== 'string' || ts.length > 512) {
      throw invalid(type, 'tracestate', 'a W3C tracestate string (at most 512 characters)', ts);
    }
    out['tracestate'] = ts;
  }
}

function unknownType(type: string): KernelError {
  return new KernelError(
    'UNKNOWN_EVENT_TYPE',
    `Unknown kernel event type "${type.slice(0, 80)}"; known types: ${KERNEL_EVENT_TYPES.join(', ')}`,
    { details: { type } },
  );
}

/** Parses JSON text; throws `INVALID_EVENT` naming `what` when it is not JSON. */
export function parseEventJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new KernelError('INVALID_EVENT', `${what} is not valid JSON`, { cause: error });
  }
}

// ── kerno's JSON codec ───────────────────────────────────────────────────────────────────────

/** Encodes an event in kerno's flat JSON form, fields in declaration order. */
export function encodeKernelEvent(event: KernelEvent): string {
  const fields = COMPILED.get(event.type);
  if (fields === undefined) throw unknownType(event.type);
  let out = '{"type":' + JSON.stringify(event.type);
  const rec = event as unknown as Record<string, unknown>;
  for (const f of fields) {
    const v = rec[f.name];
    if (v !== undefined) out += ',' + JSON.stringify(f.name) + ':' + JSON.stringify(v);
  }
  for (const name of EVENT_TRACE_FIELDS) {
    const v = rec[name];
    if (v !== undefined) out += ',' + JSON.stringify(name) + ':' + JSON.stringify(v);
  }
  return out + '}';
}

/** The event in canonical JSON (keys sorted), equal to `canonicalJson(event)` but faster. */
export function canonicalKernelEventJson(event: KernelEvent): string {
  const fields = COMPILED.get(event.type);
  if (fields === undefined) throw unknownType(event.type);
  const rec = event as unknown as Record<string, unknown>;
  if (rec['traceparent'] !== undefined || rec['tracestate'] !== undefined) {
    return canonicalJson(rec);
  }
  let out = '{';
  const keys = fields.sorted;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = rec[k];
    if (v === undefined) continue; // an optional field left out
    const text = fields.json.has(k) ? canonicalJson(v) : JSON.stringify(v);
    out += (out.length === 1 ? '"' : ',"') + k + '":' + text;
  }
  return out + '}';
}

/** Decodes kerno's flat JSON form; throws `INVALID_EVENT` / `UNKNOWN_EVENT_TYPE`. */
export function decodeKernelEvent(json: string): KernelEvent {
  return parseKernelEvent(parseEventJson(json, 'The kernel event'));
}

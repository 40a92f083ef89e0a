/**
 * Kernel events: the typed union every part of kerno publishes on the bus.
 *
 * The first 19 variants are oxios-kernel's `KernelEvent`; the rest are kerno's own. Every variant
 * is declared once, in {@link KERNEL_EVENT_FIELDS}: the TypeScript union, the validators, the
 * serde wire codec and the Rust `Debug` rendering are all derived from that table, so adding a
 * variant is one line there (plus its audit mapping, which the compiler asks for).
 *
 * kerno's own JSON form is flat: `{"type":"AgentCreated","id":"…","name":"…"}` (camelCase fields).
 * The reference's serde form is externally tagged with snake_case fields:
 * `{"AgentCreated":{"id":"…","name":"…"}}`.
 *
 * @example
 * import { decodeKernelEvent, encodeSerdeEvent } from 'kerno';
 * const event = decodeKernelEvent('{"type":"AgentStarted","id":"0190a6e2-7c1b-7abc-8def-0123456789ab"}');
 * encodeSerdeEvent(event); // '{"AgentStarted":{"id":"0190a6e2-7c1b-7abc-8def-0123456789ab"}}'
 *
 * @module
 */
import { KernelError } from '../errors.js';
import { MODULE_STATES, type ModuleState } from '../model/module-state.js';

export { MODULE_STATES, type ModuleState };
import { FAILURE_CLASSES, RECOVERY_ACTIONS } from '../model/failure.js';

/** The phases of the Ouroboros loop (oxios_ouroboros::Phase). */
export const PHASES = ['Interview', 'Seed', 'Execute', 'Evaluate', 'Evolve'] as const;
/** An Ouroboros phase. */
export type Phase = (typeof PHASES)[number];

export { FAILURE_CLASSES, RECOVERY_ACTIONS } from '../model/failure.js';

/** How one field of a kernel event is typed on the wire. */
export type FieldSpec =
  | 'string'
  | 'uuid'
  | 'bool'
  | 'u32'
  | 'usize'
  | 'f64'
  | { readonly enum: readonly string[] }
  | { readonly nullable: FieldSpec };

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
  AgentStopped: { id: 'uuid' },
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
  // ── kerno ─────────────────────────────────────────────────────────────────────────────────
  /** A module's lifecycle state changed in the registry. */
  ModuleStateChanged: { moduleId: 'string', from: { nullable: moduleState }, to: moduleState },
  /** A config key was set, deleted or re-encrypted. Never carries the value. */
  ConfigChanged: { key: 'string', change: { enum: ['set', 'delete', 'rotate'] }, secret: 'bool' },
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
    : S extends 'u32' | 'usize' | 'f64'
      ? number
      : S extends { readonly enum: readonly (infer E)[] }
        ? E
        : S extends { readonly nullable: infer I }
          ? FieldValue<I> | null
          : never;

type Variant<T extends KernelEventType> = {
  readonly type: T;
} & { readonly [F in keyof Spec[T]]: FieldValue<Spec[T][F]> } extends infer O
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
 * The variants oxios-kernel 1.0.1 defines, in its order (the rest are kerno's). The reference
 * file declares 20 (`AgentCreated` … `EvolutionMaxReached`).
 */
export const OXIOS_EVENT_TYPES: readonly KernelEventType[] = Object.freeze(
  KERNEL_EVENT_TYPES.slice(0, 20),
);

interface CompiledField {
  readonly name: string;
  readonly wire: string;
  readonly spec: FieldSpec;
}

type CompiledVariant = readonly CompiledField[] & {
  readonly names: ReadonlySet<string>;
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
    Object.assign(compiled, { names: new Set(names), sorted: [...names, 'type'].sort() }),
  );
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
        return 'a non-negative integer';
      case 'f64':
        return 'a finite number';
    }
  }
  if ('enum' in spec) return `one of ${spec.enum.join(', ')}`;
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
        return Number.isSafeInteger(value) && (value as number) >= 0 ? value : INVALID;
      case 'f64':
        return typeof value === 'number' && Number.isFinite(value) ? value : INVALID;
    }
  }
  if ('enum' in spec)
    return typeof value === 'string' && spec.enum.includes(value) ? value : INVALID;
  return value === null ? null : check(spec.nullable, value);
}

const INVALID = Symbol('invalid');

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
    out[f.name] = v;
  }
  for (const key of Object.keys(record)) {
    if (key !== 'type' && !fields.names.has(key)) {
      throw new KernelError('INVALID_EVENT', `${type} has no field "${key}"`, {
        details: { type, field: key },
      });
    }
  }
  return out as KernelEvent;
}

function unknownType(type: string): KernelError {
  return new KernelError(
    'UNKNOWN_EVENT_TYPE',
    `Unknown kernel event type "${type.slice(0, 80)}"; known types: ${KERNEL_EVENT_TYPES.join(', ')}`,
    { details: { type } },
  );
}

function parseJson(text: string, what: string): unknown {
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
  for (const f of fields) out += ',' + JSON.stringify(f.name) + ':' + JSON.stringify(rec[f.name]);
  return out + '}';
}

/** The event in canonical JSON (keys sorted), equal to `canonicalJson(event)` but faster. */
export function canonicalKernelEventJson(event: KernelEvent): string {
  const fields = COMPILED.get(event.type);
  if (fields === undefined) throw unknownType(event.type);
  const rec = event as unknown as Record<string, unknown>;
  let out = '{';
  const keys = fields.sorted;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    out += (i === 0 ? '"' : ',"') + k + '":' + JSON.stringify(rec[k]);
  }
  return out + '}';
}

/** Decodes kerno's flat JSON form; throws `INVALID_EVENT` / `UNKNOWN_EVENT_TYPE`. */
export function decodeKernelEvent(json: string): KernelEvent {
  return parseKernelEvent(parseJson(json, 'The kernel event'));
}

// ── serde wire codec (oxios) ─────────────────────────────────────────────────────────────────

/** Converts an event to the reference's externally tagged serde value. */
export function toSerdeEvent(event: KernelEvent): Record<string, Record<string, unknown>> {
  const fields = COMPILED.get(event.type);
  if (fields === undefined) throw unknownType(event.type);
  const rec = event as unknown as Record<string, unknown>;
  const body: Record<string, unknown> = {};
  for (const f of fields) body[f.wire] = rec[f.name];
  return { [event.type]: body };
}

/**
 * Reads the reference's externally tagged serde value (`{"AgentCreated":{…}}`). Like serde, it
 * ignores unknown fields and reads a missing optional field as `null`.
 */
export function fromSerdeEvent(value: unknown): KernelEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KernelError(
      'INVALID_EVENT',
      'A serde kernel event must be an object like {"AgentCreated":{…}}',
    );
  }
  const keys = Object.keys(value);
  if (keys.length !== 1) {
    throw new KernelError(
      'INVALID_EVENT',
      `A serde kernel event must have exactly one key (the variant), found ${keys.length}`,
    );
  }
  const type = keys[0]!;
  const fields = COMPILED.get(type);
  if (fields === undefined) throw unknownType(type);
  const body = (value as Record<string, unknown>)[type];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new KernelError('INVALID_EVENT', `The body of serde variant ${type} must be an object`);
  }
  const out: Record<string, unknown> = { type };
  for (const f of fields) {
    let raw = (body as Record<string, unknown>)[f.wire];
    if (raw === undefined && typeof f.spec === 'object' && 'nullable' in f.spec) raw = null;
    const v = check(f.spec, raw);
    if (v === INVALID) throw invalid(type, f.wire, describe(f.spec), raw);
    out[f.name] = v;
  }
  return out as KernelEvent;
}

/**
 * Encodes an event in the serde wire form exactly as serde_json writes it (compact; `f64` values
 * always with a fraction or exponent, e.g. `1.0`).
 */
export function encodeSerdeEvent(event: KernelEvent): string {
  const fields = COMPILED.get(event.type);
  if (fields === undefined) throw unknownType(event.type);
  const rec = event as unknown as Record<string, unknown>;
  const parts = fields.map((f) => {
    const v = rec[f.name];
    const text = f.spec === 'f64' ? rustDebugF64(v as number) : JSON.stringify(v);
    return JSON.stringify(f.wire) + ':' + text;
  });
  return `{${JSON.stringify(event.type)}:{${parts.join(',')}}}`;
}

/** Decodes the serde wire form; throws `INVALID_EVENT` / `UNKNOWN_EVENT_TYPE`. */
export function decodeSerdeEvent(json: string): KernelEvent {
  return fromSerdeEvent(parseJson(json, 'The serde kernel event'));
}

// ── Rust rendering ───────────────────────────────────────────────────────────────────────────

/**
 * Renders an event as Rust's `format!("{event:?}")` does, e.g.
 * `AgentCreated { id: 0190…, name: "researcher" }`. The oxios audit trail stores this text as
 * the entry's `resource`.
 */
export function formatEventDebug(event: KernelEvent): string {
  const fields = COMPILED.get(event.type);
  if (fields === undefined) throw unknownType(event.type);
  const rec = event as unknown as Record<string, unknown>;
  let out = event.type + ' { ';
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    out += (i === 0 ? '' : ', ') + f.wire + ': ' + debugValue(f.spec, rec[f.name]);
  }
  return out + ' }';
}

function debugValue(spec: FieldSpec, value: unknown): string {
  if (typeof spec === 'string') {
    switch (spec) {
      case 'string':
        return rustDebugString(value as string);
      case 'uuid':
        return value as string;
      case 'bool':
      case 'u32':
      case 'usize':
        return String(value);
      case 'f64':
        return rustDebugF64(value as number);
    }
  }
  if ('enum' in spec) return pascal(value as string);
  return value === null ? 'None' : `Some(${debugValue(spec.nullable, value)})`;
}

function pascal(value: string): string {
  return value.replace(/(^|_)([a-z])/g, (_m, _u: string, c: string) => c.toUpperCase());
}

/** Rust's `{:?}` for a `str`: quoted, with `\"`, `\\`, `\n`, `\r`, `\t`, `\0` and `\u{…}` escapes. */
export function rustDebugString(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return '"' + value + '"';
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        break;
      case '\\':
        out += '\\\\';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\0':
        out += '\\0';
        break;
      default:
        out += cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? `\\u{${cp.toString(16)}}` : ch;
    }
  }
  return out + '"';
}

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\u009f]/;

/** Rust's `{:?}` for an `f64`: `1.0`, `0.85`, `1e16`, `1.5e-7`. */
export function rustDebugF64(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(value);
  if (abs >= 1e16 || abs < 1e-4) {
    const [mantissa, exp] = value.toExponential().split('e') as [string, string];
    return `${mantissa}e${exp.replace('+', '')}`;
  }
  const text = String(value);
  return text.includes('.') ? text : text + '.0';
}

/** Rust's `{}` (Display) for an `f64`: never an exponent, no `.0` for whole numbers. */
export function rustDisplayF64(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  const text = String(value);
  if (!text.includes('e')) return text === '0' && Object.is(value, -0) ? '-0' : text;
  const [mantissa, expText] = text.split('e') as [string, string];
  const exp = Number(expText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const pointAt =
    (mantissa.replace('-', '').indexOf('.') === -1
      ? digits.length
      : mantissa.replace('-', '').indexOf('.')) + exp;
  let out: string;
  if (pointAt <= 0) out = '0.' + '0'.repeat(-pointAt) + digits;
  else if (pointAt >= digits.length) out = digits + '0'.repeat(pointAt - digits.length);
  else out = digits.slice(0, pointAt) + '.' + digits.slice(pointAt);
  return (negative ? '-' : '') + out;
}

/** The Display form of a phase, as oxios prints it in audit details (`interview`, …). */
export function displayPhase(value: Phase): string {
  return value.toLowerCase();
}

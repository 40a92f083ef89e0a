/**
 * oxios-kernel's `KernelEvent` at both versions kerno knows — 1.0.1 (20 variants) and 1.43 (39
 * variants; read from upstream's newest `event_bus.rs` in kerno's reference index, plus the
 * agent-lifecycle `session_id` its channels match on) — as a lossless value: {@link OxiosEvent}.
 *
 * The wire form is serde's externally tagged JSON (`{"AgentStopped":{"id":"…","success":true}}`).
 * Decoding keeps everything: unknown variants (a newer oxios) and unknown fields are kept as
 * their compact JSON text, `serde_json::Value` fields keep their text too (`1.0` stays `1.0`),
 * and the member order as read is kept, so `encodeOxiosEvent(decodeOxiosEvent(text))` gives back
 * serde_json's compact output byte for byte.
 *
 * `version` says which set a decoded variant belongs to. A variant both sets define is read as
 * 1.0.1 when it carries no 1.43 field (`{"AgentStopped":{"id":"…"}}`), as 1.43 otherwise.
 *
 * @example
 * import { decodeOxiosEvent, encodeOxiosEvent } from 'kerno/formats';
 * const event = decodeOxiosEvent('{"TokenUsageUpdate":{"session_id":"s","input_tokens":5,"output_tokens":7}}');
 * event.version; // '1.43'
 * event.data.input_tokens; // 5
 * encodeOxiosEvent(event); // the same text
 *
 * @module
 */
import { KernelError } from '../errors.js';
import {
  checkField,
  KERNEL_EVENT_FIELDS,
  OXIOS_EVENT_TYPES,
  parseEventJson,
  type FieldSpec,
} from '../model/kernel-event.js';
import type { JsonValue } from '../util/canonical-json.js';
import { arrayElements, objectMembers } from './raw-json.js';
import { rustDebugF64, rustDebugString } from './rust-debug.js';
import { formatF64 } from './serde-float.js';

/** The oxios-kernel versions whose event sets kerno reads and writes. */
export const OXIOS_VERSIONS = ['1.0.1', '1.43'] as const;
/** An oxios-kernel version kerno reads and writes. */
export type OxiosVersion = (typeof OXIOS_VERSIONS)[number];

/**
 * How one field of an oxios event is typed: kerno's field types, plus `i32`, a list of strings,
 * `{ optional }` (an `Option` serde skips when `None` and reads as `None` when missing) and
 * `{ default }` (a field serde reads as its type's default when missing: `false` for a bool).
 */
export type OxiosFieldSpec =
  | FieldSpec
  | 'i32'
  | 'string[]'
  | { readonly nullable: OxiosFieldSpec }
  | { readonly optional: OxiosFieldSpec }
  | { readonly default: 'bool' };

const str = 'string';
const uuid = 'uuid';
const opt = (spec: OxiosFieldSpec): OxiosFieldSpec => ({ optional: spec });
const nullableString = { nullable: 'string' } as const;

/** oxios-kernel 1.43's `KernelEvent`: every variant, its fields by wire name, in serde order. */
const OXIOS_143: Record<string, Record<string, OxiosFieldSpec>> = {
  AgentCreated: { id: uuid, name: str, session_id: nullableString },
  AgentStarted: { id: uuid, session_id: nullableString },
  AgentStopped: { id: uuid, success: { default: 'bool' }, session_id: nullableString },
  AgentFailed: { id: uuid, error: str, session_id: nullableString },
  MessageReceived: { from: uuid, content: str },
  AgentOutput: { session_id: str, agent_id: uuid, output: str },
  ApprovalRequested: {
    id: uuid,
    tool_name: str,
    action: str,
    resource: str,
    reason: str,
    session_id: nullableString,
  },
  ApprovalResolved: { id: uuid, approved: 'bool' },
  PathAccessRequested: {
    id: uuid,
    tool_name: str,
    path: str,
    mode: str,
    agent_name: str,
    reason: str,
    session_id: nullableString,
  },
  AgentGroupCreated: { group_id: uuid, agent_count: 'u64' },
  AgentGroupMemberCompleted: { group_id: uuid, agent_id: uuid, success: 'bool' },
  ProjectCreated: { project_id: uuid, name: str, source: str },
  ProjectActivated: { project_id: uuid, name: str },
  ToolExecutionStarted: {
    session_id: str,
    tool_name: str,
    tool_call_id: str,
    tool_args: 'json',
    context: opt('json'),
  },
  ToolExecutionFinished: {
    session_id: str,
    tool_call_id: str,
    tool_name: str,
    duration_ms: 'u64',
    is_error: 'bool',
    output_summary: str,
  },
  ToolExecutionProgress: {
    session_id: str,
    tool_call_id: str,
    tool_name: str,
    progress: str,
    tab_id: opt(uuid),
    context: opt('json'),
  },
  MemoryRecallUsed: { session_id: str, query: str, count: 'u64', source: str },
  TokenUsageUpdate: { session_id: str, input_tokens: 'u64', output_tokens: 'u64' },
  ReasoningFragment: { session_id: str, content: str, source: str },
  ToolArgsDelta: { session_id: str, tool_call_id: str, args_delta: str },
  CompactionTriggered: { session_id: nullableString, source: str },
  CalendarEventCreated: { uid: str, title: str, start: str, end: str },
  CalendarEventUpdated: { uid: str, title: str },
  CalendarEventDeleted: { uid: str, title: str },
  MemoCreated: { id: str },
  MemoDeleted: { id: str },
  EmailSent: { subject: str, message_id: str, template_name: opt(str) },
  KnowledgePersisted: { session_id: str, message_index: 'u64', path: str, source: str },
  KnowledgeRemoved: { session_id: str, message_index: 'u64' },
  AskUserRequest: { id: str, question: str, options: 'string[]' },
  PersonaCreated: { id: str, name: str, enabled: 'bool', source: str },
  PersonaUpdated: { id: str, name: str, source: str },
  IntegrationInstallStarted: { job_id: str, integration_id: str, label: str },
  IntegrationInstallProgress: { job_id: str, integration_id: str, line: str },
  IntegrationInstallCompleted: {
    job_id: str,
    integration_id: str,
    command: str,
    output: str,
    exit_code: { nullable: 'i32' },
  },
  IntegrationInstallFailed: { job_id: str, integration_id: str, error: str },
  CompressionDelta: { session_id: str, delta: str },
  CompressionDone: { session_id: str },
  CompressionFailed: { session_id: str, error: str },
};

function toSnake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

/** oxios-kernel 1.0.1's `KernelEvent`, derived from kerno's model (its first 20 variants). */
const OXIOS_101: Record<string, Record<string, OxiosFieldSpec>> = Object.fromEntries(
  OXIOS_EVENT_TYPES.map((type) => [
    type,
    Object.fromEntries(
      Object.entries(KERNEL_EVENT_FIELDS[type] as Record<string, FieldSpec>)
        // kerno's optional additions (AgentStopped.success) are not 1.0.1's.
        .filter(([, spec]) => typeof spec !== 'object' || !('optional' in spec))
        .map(([n, spec]) => [toSnake(n), spec]),
    ),
  ]),
);

/** Each version's variants and their fields by wire name, in serde declaration order. */
export const OXIOS_EVENT_SETS: Readonly<
  Record<OxiosVersion, Readonly<Record<string, Readonly<Record<string, OxiosFieldSpec>>>>>
> = Object.freeze({ '1.0.1': OXIOS_101, '1.43': OXIOS_143 });

/** The variant names of `version`, in its declaration order. */
export function oxiosEventTypes(version: OxiosVersion): readonly string[] {
  return Object.keys(OXIOS_EVENT_SETS[version]);
}

/**
 * One oxios kernel event, kept losslessly. Build one with {@link createOxiosEvent} or read one
 * with {@link decodeOxiosEvent}; the codec never mutates it.
 */
export interface OxiosEvent {
  /** The serde tag: the variant name. */
  readonly variant: string;
  /** The event set the variant was read as; `null` for a variant neither version defines. */
  readonly version: OxiosVersion | null;
  /**
   * The fields the version defines, by wire (snake_case) name: strings, booleans, numbers
   * (a `u64` beyond 2^53 as a `bigint`), `null` for `None`, parsed JSON for `serde_json::Value`.
   * A field that was missing on the wire and read as its default is absent here.
   */
  readonly data: Readonly<Record<string, unknown>>;
  /** Members the version does not define (all members of an unknown variant), as compact JSON text. */
  readonly extra: Readonly<Record<string, string>>;
  /** The member names in wire order, as read; absent for a built event (declaration order). */
  readonly order?: readonly string[];
  /** The compact text of `serde_json::Value` fields as read, so their numbers keep their spelling. */
  readonly rawJson?: Readonly<Record<string, string>>;
  /** For an unknown variant whose body is not an object: its compact JSON text (`null` for a unit variant). */
  readonly rawBody?: string | null;
}

// ── decoding ─────────────────────────────────────────────────────────────────────────────────

/**
 * Reads serde's externally tagged JSON of an oxios kernel event, of either version or a newer
 * one. Throws `INVALID_EVENT` (not JSON, not one variant, a defined field missing or mistyped,
 * a member repeated).
 */
export function decodeOxiosEvent(json: string): OxiosEvent {
  const value = parseEventJson(json, 'The oxios kernel event');
  if (typeof value === 'string') {
    return freeze({ variant: value, version: null, data: {}, extra: {}, rawBody: null });
  }
  const outer = objectMembers(json);
  if (outer === undefined || outer.length !== 1) {
    throw new KernelError(
      'INVALID_EVENT',
      'An oxios kernel event must be an object with exactly one key (the variant), like {"AgentCreated":{…}}' +
        (outer === undefined ? '' : `; found ${outer.length} keys`),
    );
  }
  const [variant, bodyText] = outer[0]!;
  const members = objectMembers(bodyText);
  const known = knownSets(variant);
  if (members === undefined) {
    if (known.length > 0) {
      throw new KernelError(
        'INVALID_EVENT',
        `The body of oxios variant ${variant} must be an object`,
      );
    }
    return freeze({ variant, version: null, data: {}, extra: {}, rawBody: bodyText });
  }
  const names = members.map(([k]) => k);
  if (new Set(names).size !== names.length) {
    const dup = names.find((n, i) => names.indexOf(n) !== i)!;
    throw new KernelError('INVALID_EVENT', `${variant} has the member "${dup}" twice`, {
      details: { type: variant, field: dup },
    });
  }
  const raw = new Map(members);
  const version = chooseVersion(variant, known, raw);
  if (version === null) {
    return freeze({
      variant,
      version: null,
      data: {},
      extra: Object.fromEntries(members),
      order: names,
    });
  }
  const fields = OXIOS_EVENT_SETS[version][variant]!;
  const data: Record<string, unknown> = {};
  const rawJson: Record<string, string> = {};
  const extra: Record<string, string> = {};
  for (const [name, spec] of Object.entries(fields)) {
    const text = raw.get(name);
    if (text === undefined) {
      // serde reads a missing Option as None, a missing #[serde(default)] as its default and a
      // missing serde_json::Value as Null; kept absent so the event is written back without it.
      if (isRequired(spec)) throw invalidField(variant, name, spec, undefined);
      continue;
    }
    data[name] = checkOxios(variant, name, spec, text);
    if (baseSpec(spec) === 'json') rawJson[name] = text;
  }
  for (const [name, text] of members) if (!Object.hasOwn(fields, name)) extra[name] = text;
  return freeze({
    variant,
    version,
    data,
    extra,
    order: names,
    ...(Object.keys(rawJson).length > 0 ? { rawJson } : {}),
  });
}

function knownSets(variant: string): OxiosVersion[] {
  return OXIOS_VERSIONS.filter((v) => Object.hasOwn(OXIOS_EVENT_SETS[v], variant));
}

/** The set whose required fields are all there, with the fewest unknown members; 1.0.1 on a tie. */
function chooseVersion(
  variant: string,
  known: readonly OxiosVersion[],
  raw: ReadonlyMap<string, string>,
): OxiosVersion | null {
  if (known.length === 0) return null;
  if (known.length === 1) return known[0]!;
  let best: OxiosVersion | undefined;
  let bestUnknown = Infinity;
  for (const version of known) {
    const fields = OXIOS_EVENT_SETS[version][variant]!;
    const complete = Object.entries(fields).every(
      ([name, spec]) => raw.has(name) || !isRequired(spec),
    );
    if (!complete) continue;
    const unknown = [...raw.keys()].filter((k) => !Object.hasOwn(fields, k)).length;
    if (unknown < bestUnknown) {
      best = version;
      bestUnknown = unknown;
    }
  }
  // None complete: report against the newest, whose error names the missing field.
  return best ?? known[known.length - 1]!;
}

function isRequired(spec: OxiosFieldSpec): boolean {
  if (spec === 'json') return false;
  if (typeof spec === 'object')
    return !('optional' in spec || 'default' in spec || 'nullable' in spec);
  return true;
}

function isOptional(spec: OxiosFieldSpec): spec is { readonly optional: OxiosFieldSpec } {
  return typeof spec === 'object' && 'optional' in spec;
}

function baseSpec(spec: OxiosFieldSpec): OxiosFieldSpec {
  if (typeof spec === 'object' && 'optional' in spec) return baseSpec(spec.optional);
  if (typeof spec === 'object' && 'default' in spec) return spec.default;
  return spec;
}

function invalidField(
  type: string,
  field: string,
  spec: OxiosFieldSpec,
  got: unknown,
): KernelError {
  const shown = got === undefined ? 'nothing' : (JSON.stringify(got) ?? typeof got).slice(0, 60);
  return new KernelError(
    'INVALID_EVENT',
    `${type}.${field} must be ${describeOxios(spec)}, got ${shown}`,
    { details: { type, field } },
  );
}

function describeOxios(spec: OxiosFieldSpec): string {
  if (spec === 'i32') return 'an integer in -2147483648..2147483647';
  if (spec === 'string[]') return 'a list of strings';
  if (spec === 'u64') return 'an integer in 0..18446744073709551615';
  if (spec === 'json') return 'a JSON value';
  if (typeof spec === 'object' && 'optional' in spec)
    return `${describeOxios(spec.optional)} or null`;
  if (typeof spec === 'object' && 'default' in spec) return 'a boolean';
  if (typeof spec === 'object' && 'nullable' in spec)
    return `${describeOxios(spec.nullable)} or null`;
  return 'a ' + String(typeof spec === 'string' ? spec : 'value');
}

const U64_MAX = 18446744073709551615n;

/** Validates the raw text of one field; returns the typed value. */
function checkOxios(type: string, field: string, spec: OxiosFieldSpec, text: string): unknown {
  const value = JSON.parse(text) as unknown;
  return checkValue(type, field, spec, value, text);
}

function checkValue(
  type: string,
  field: string,
  spec: OxiosFieldSpec,
  value: unknown,
  text: string | undefined,
): unknown {
  if (typeof spec === 'object' && ('optional' in spec || 'nullable' in spec)) {
    if (value === null) return null;
    const inner = 'optional' in spec ? spec.optional : spec.nullable;
    return checkValue(type, field, inner, value, text);
  }
  if (typeof spec === 'object' && 'default' in spec) spec = spec.default;
  switch (spec) {
    case 'json':
      return value;
    case 'i32':
      if (
        Number.isInteger(value) &&
        (value as number) >= -2147483648 &&
        (value as number) <= 2147483647
      )
        return value;
      throw invalidField(type, field, spec, value);
    case 'string[]':
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
      throw invalidField(type, field, spec, value);
    case 'u64':
    case 'usize': {
      if (typeof value === 'bigint') {
        if (value >= 0n && value <= U64_MAX)
          return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
        throw invalidField(type, field, 'u64', value);
      }
      if (Number.isSafeInteger(value) && (value as number) >= 0) return value;
      // Beyond 2^53 JSON.parse rounds: read the digits themselves.
      if (text !== undefined && /^\d+$/.test(text)) {
        const big = BigInt(text);
        if (big <= U64_MAX) return big;
      }
      throw invalidField(type, field, 'u64', value);
    }
    default:
      return checkField(type, field, spec, value);
  }
}

// ── building ─────────────────────────────────────────────────────────────────────────────────

/**
 * Builds an event of `variant` in `version`'s set (default 1.43) from its fields by wire name,
 * validating them; `Option` fields may be left out (`None`), so may `#[serde(default)]` ones.
 * Throws `UNKNOWN_EVENT_TYPE` for a variant the version does not define, `INVALID_EVENT` for a
 * missing, mistyped or undefined field.
 */
export function createOxiosEvent(
  variant: string,
  data: Readonly<Record<string, unknown>>,
  options: { readonly version?: OxiosVersion } = {},
): OxiosEvent {
  const version = options.version ?? '1.43';
  const fields = OXIOS_EVENT_SETS[version][variant];
  if (fields === undefined) {
    throw new KernelError(
      'UNKNOWN_EVENT_TYPE',
      `oxios ${version} has no kernel event "${variant.slice(0, 80)}"; it has: ${oxiosEventTypes(version).join(', ')}`,
      { details: { type: variant, version } },
    );
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(fields)) {
    const v = data[name];
    if (v === undefined) {
      if (isRequired(spec)) throw invalidField(variant, name, spec, undefined);
      continue;
    }
    out[name] = checkValue(variant, name, spec, v, undefined);
  }
  for (const name of Object.keys(data)) {
    if (!Object.hasOwn(fields, name)) {
      throw new KernelError(
        'INVALID_EVENT',
        `${variant} (oxios ${version}) has no field "${name}"`,
        {
          details: { type: variant, field: name },
        },
      );
    }
  }
  return freeze({ variant, version, data: out, extra: {} });
}

function freeze(event: OxiosEvent): OxiosEvent {
  Object.freeze(event.data);
  Object.freeze(event.extra);
  if (event.order !== undefined) Object.freeze(event.order);
  if (event.rawJson !== undefined) Object.freeze(event.rawJson);
  return Object.freeze(event);
}

// ── encoding ─────────────────────────────────────────────────────────────────────────────────

/**
 * Writes an event as serde_json does (compact; `f64` with a fraction or exponent). A decoded
 * event is written with its members in the order read and its unknown members as they were,
 * so decode → encode gives serde_json's text back byte for byte.
 */
export function encodeOxiosEvent(event: OxiosEvent): string {
  const tag = JSON.stringify(event.variant);
  if (event.version === null && event.order === undefined) {
    if (event.rawBody === null) return tag;
    if (event.rawBody !== undefined) return `{${tag}:${event.rawBody}}`;
  }
  const fields: Readonly<Record<string, OxiosFieldSpec>> =
    event.version === null ? {} : (OXIOS_EVENT_SETS[event.version][event.variant] ?? {});
  const parts: string[] = [];
  const write = (name: string): void => {
    if (Object.hasOwn(fields, name)) {
      if (!Object.hasOwn(event.data, name)) return;
      parts.push(
        JSON.stringify(name) +
          ':' +
          encodeValue(fields[name]!, event.data[name], event.rawJson?.[name]),
      );
    } else if (Object.hasOwn(event.extra, name)) {
      parts.push(JSON.stringify(name) + ':' + event.extra[name]);
    }
  };
  if (event.order !== undefined) {
    for (const name of event.order) write(name);
  } else {
    for (const [name, spec] of Object.entries(fields)) {
      const v = event.data[name];
      if (v === undefined || (v === null && isOptional(spec))) {
        // A built event writes what serde writes for the default: `null`, `false`; skipped `None`s stay out.
        if (isOptional(spec)) continue;
        const dflt = typeof spec === 'object' && 'default' in spec ? 'false' : 'null';
        parts.push(JSON.stringify(name) + ':' + dflt);
        continue;
      }
      write(name);
    }
    for (const name of Object.keys(event.extra)) write(name);
  }
  return `{${tag}:{${parts.join(',')}}}`;
}

function encodeValue(spec: OxiosFieldSpec, value: unknown, raw: string | undefined): string {
  if (value === null) return 'null';
  if (typeof spec === 'object' && 'optional' in spec) return encodeValue(spec.optional, value, raw);
  if (typeof spec === 'object' && 'nullable' in spec) return encodeValue(spec.nullable, value, raw);
  if (spec === 'json') return raw ?? JSON.stringify(value);
  if (spec === 'f64') return formatF64(value as number);
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value);
}

/** The event as a plain serde JSON value (`{"Variant":{…}}`); `u64`s beyond 2^53 become numbers. */
export function oxiosEventValue(event: OxiosEvent): JsonValue {
  return JSON.parse(encodeOxiosEvent(event)) as JsonValue;
}

// ── Rust Debug rendering ─────────────────────────────────────────────────────────────────────

/**
 * Renders an event as Rust's `format!("{event:?}")` does — what oxios stores as an audit entry's
 * `resource`. `serde_json::Value` fields render as serde_json's `Debug` (`Object {"k": String("v")}`,
 * keys sorted as its default map sorts them); an unknown variant renders its members as JSON.
 */
export function formatOxiosEventDebug(event: OxiosEvent): string {
  const fields: Readonly<Record<string, OxiosFieldSpec>> =
    event.version === null ? {} : OXIOS_EVENT_SETS[event.version][event.variant]!;
  const parts: string[] = [];
  for (const [name, spec] of Object.entries(fields)) {
    const v = event.data[name];
    const raw = event.rawJson?.[name];
    if (raw !== undefined && v !== null) {
      // From the text as read, so a float written `1.0` renders `Number(1.0)` as serde_json does.
      const text = rawValueDebug(raw);
      parts.push(`${name}: ${isOptional(spec) ? `Some(${text})` : text}`);
      continue;
    }
    parts.push(`${name}: ${debugFieldValue(spec, v === undefined ? defaultOf(spec) : v)}`);
  }
  for (const [name, text] of Object.entries(event.extra)) parts.push(`${name}: ${text}`);
  return parts.length === 0 ? event.variant : `${event.variant} { ${parts.join(', ')} }`;
}

function defaultOf(spec: OxiosFieldSpec): unknown {
  return typeof spec === 'object' && 'default' in spec ? false : null;
}

/** Rust's `Debug` of one field value of type `spec`. */
export function debugFieldValue(spec: OxiosFieldSpec, value: unknown): string {
  if (typeof spec === 'object') {
    if ('optional' in spec || 'nullable' in spec) {
      const inner = 'optional' in spec ? spec.optional : spec.nullable;
      return value === null ? 'None' : `Some(${debugFieldValue(inner, value)})`;
    }
    if ('default' in spec) return String(value);
    return pascal(value as string);
  }
  switch (spec) {
    case 'string':
      return rustDebugString(value as string);
    case 'uuid':
      return value as string;
    case 'f64':
      return rustDebugF64(value as number);
    case 'json':
      return valueDebug(value as JsonValue);
    case 'string[]':
      return '[' + (value as string[]).map(rustDebugString).join(', ') + ']';
    default:
      return String(value);
  }
}

function pascal(value: string): string {
  return value.replace(/(^|_)([a-z])/g, (_m, _u: string, c: string) => c.toUpperCase());
}

/** serde_json's `Debug` for a `Value`, from its JSON text (numbers keep integer vs float). */
function rawValueDebug(text: string): string {
  const c = text[0];
  if (c === '{') {
    const members = objectMembers(text)!.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `Object {${members.map(([k, v]) => `${rustDebugString(k)}: ${rawValueDebug(v)}`).join(', ')}}`;
  }
  if (c === '[') return `Array [${arrayElements(text)!.map(rawValueDebug).join(', ')}]`;
  if (c === '"') return `String(${rustDebugString(JSON.parse(text) as string)})`;
  if (text === 'null') return 'Null';
  if (text === 'true' || text === 'false') return `Bool(${text})`;
  // serde_json keeps an integer as u64/i64 and anything with a fraction or exponent as f64.
  return /[.eE]/.test(text) ? `Number(${formatF64(Number(text))})` : `Number(${text})`;
}

/** serde_json's `Debug` for a `Value`. */
function valueDebug(value: JsonValue): string {
  if (value === null) return 'Null';
  if (typeof value === 'boolean') return `Bool(${value})`;
  if (typeof value === 'number') {
    return `Number(${Number.isInteger(value) ? String(value) : formatF64(value)})`;
  }
  if (typeof value === 'string') return `String(${rustDebugString(value)})`;
  if (Array.isArray(value)) return `Array [${value.map(valueDebug).join(', ')}]`;
  const obj = value as Readonly<Record<string, JsonValue>>;
  const keys = Object.keys(obj).sort();
  return `Object {${keys.map((k) => `${rustDebugString(k)}: ${valueDebug(obj[k]!)}`).join(', ')}}`;
}

/**
 * oxios-kernel's wire forms of a kernel event: serde's externally tagged JSON with snake_case
 * fields (`{"AgentCreated":{"id":"…","name":"…"}}`) and Rust's `Debug` rendering, which the oxios
 * audit trail stores as an entry's `resource`. Both are derived from the one variant table in
 * `model/kernel-event.ts`.
 *
 * @example
 * import { decodeKernelEvent } from 'kerno';
 * import { encodeSerdeEvent } from 'kerno/formats';
 * const event = decodeKernelEvent('{"type":"AgentStarted","id":"0190a6e2-7c1b-7abc-8def-0123456789ab"}');
 * encodeSerdeEvent(event); // '{"AgentStarted":{"id":"0190a6e2-7c1b-7abc-8def-0123456789ab"}}'
 *
 * @module
 */
import { KernelError } from '../errors.js';
import {
  checkField,
  EVENT_TRACE_FIELDS,
  isKernelEventType,
  readTraceFields,
  parseEventJson,
  variantFields,
  type KernelEvent,
  type Phase,
} from '../model/kernel-event.js';
import {
  createOxiosEvent,
  debugFieldValue,
  encodeOxiosEvent,
  OXIOS_EVENT_SETS,
  oxiosEventValue,
  type OxiosEvent,
  type OxiosVersion,
} from './oxios-event.js';
import { formatF64 } from './serde-float.js';

export { rustDebugF64, rustDebugString, rustDisplayF64 } from './rust-debug.js';

// ── serde wire codec (oxios) ─────────────────────────────────────────────────────────────────

/** Options of the serde encoders. */
export interface SerdeEventOptions {
  /**
   * The oxios-kernel event set to write (default `'1.0.1'`). Under `'1.43'` the variants both
   * sets share gain 1.43's fields with kerno's values: `session_id: null` on the agent lifecycle
   * and approval events, `AgentStopped.success` as kerno recorded it (`true` when the agent
   * returned, `false` when stopped or not recorded), `ApprovalRequested.tool_name` = the
   * approval's action. Under `'1.0.1'` `AgentStopped` is `{"id":…}` only. The 1.0.1 variants 1.43
   * dropped (`SeedCreated`, `PhaseStarted`, `MemoryStored`, …) cannot be written as 1.43
   * (`INVALID_ARGUMENT`). kerno's own variants are written the same under both.
   */
  readonly version?: OxiosVersion;
}

/**
 * The oxios event for a kerno event, in `version`'s set (default 1.0.1). A variant oxios does
 * not define (kerno's own) comes back with `version: null` and its fields as `extra`.
 */
export function toOxiosEvent(event: KernelEvent, options: SerdeEventOptions = {}): OxiosEvent {
  const version = options.version ?? '1.0.1';
  const fields = variantFields(event.type);
  const rec = event as unknown as Record<string, unknown>;
  const set = OXIOS_EVENT_SETS[version];
  if (Object.hasOwn(set, event.type)) {
    const data: Record<string, unknown> = {};
    const wire = set[event.type]!;
    for (const f of fields) {
      if (Object.hasOwn(wire, f.wire) && rec[f.name] !== undefined) data[f.wire] = rec[f.name];
    }
    if (version === '1.43' && event.type === 'ApprovalRequested') data['tool_name'] = event.action;
    return withTrace(createOxiosEvent(event.type, data, { version }), rec);
  }
  if (version === '1.43' && Object.hasOwn(OXIOS_EVENT_SETS['1.0.1'], event.type)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `oxios 1.43 has no ${event.type} event (it was dropped after 1.0.1); write it with version 1.0.1`,
      { details: { type: event.type, version } },
    );
  }
  const extra: Record<string, string> = {};
  for (const f of fields) {
    const v = rec[f.name];
    if (v === undefined) continue;
    extra[f.wire] = f.spec === 'f64' ? formatF64(v as number) : JSON.stringify(v);
  }
  for (const name of EVENT_TRACE_FIELDS) {
    if (rec[name] !== undefined) extra[name] = JSON.stringify(rec[name]);
  }
  return Object.freeze({
    variant: event.type,
    version: null,
    data: {},
    extra: Object.freeze(extra),
  });
}

/** An event's trace context, kept as extra members (oxios has no such field; serde ignores it). */
function withTrace(event: OxiosEvent, rec: Readonly<Record<string, unknown>>): OxiosEvent {
  if (rec['traceparent'] === undefined && rec['tracestate'] === undefined) return event;
  const extra: Record<string, string> = { ...event.extra };
  for (const name of EVENT_TRACE_FIELDS) {
    if (rec[name] !== undefined) extra[name] = JSON.stringify(rec[name]);
  }
  return Object.freeze({ ...event, extra: Object.freeze(extra) });
}

/**
 * The kerno event for an oxios event: the fields kerno's variant has (1.43's extra ones, like
 * `session_id`, are not part of kerno's model — keep the {@link OxiosEvent} to keep them).
 * Throws `UNKNOWN_EVENT_TYPE` for a variant kerno's kernel has no equivalent for (most of 1.43's:
 * calendar, memo, persona … events), `INVALID_EVENT` when a field does not fit kerno's model.
 */
export function fromOxiosEvent(event: OxiosEvent): KernelEvent {
  if (!isKernelEventType(event.variant)) {
    throw new KernelError(
      'UNKNOWN_EVENT_TYPE',
      `kerno has no kernel event "${event.variant.slice(0, 80)}" (decodeOxiosEvent keeps it as an OxiosEvent)`,
      { details: { type: event.variant } },
    );
  }
  if (event.version === null) return fromSerdeEvent(oxiosEventValue(event));
  const out: Record<string, unknown> = { type: event.variant };
  for (const f of variantFields(event.variant)) {
    let raw = event.data[f.wire];
    if (raw === undefined && typeof f.spec === 'object' && 'nullable' in f.spec) raw = null;
    const v = checkField(event.variant, f.wire, f.spec, raw);
    if (v !== undefined) out[f.name] = v;
  }
  const trace: Record<string, unknown> = {};
  for (const name of EVENT_TRACE_FIELDS) {
    const text = event.extra[name];
    if (text !== undefined) trace[name] = parseEventJson(text, `${event.variant}.${name}`);
  }
  readTraceFields(event.variant, trace, out);
  return out as KernelEvent;
}

/** Converts an event to the externally tagged serde value (`{"AgentCreated":{…}}`). */
export function toSerdeEvent(
  event: KernelEvent,
  options: SerdeEventOptions = {},
): Record<string, Record<string, unknown>> {
  return oxiosEventValue(toOxiosEvent(event, options)) as Record<string, Record<string, unknown>>;
}

/**
 * Reads the externally tagged serde value (`{"AgentCreated":{…}}`) of either oxios version.
 * Like serde, it ignores fields kerno's variant does not have (1.43's `session_id`,
 * `AgentStopped.success`, …) and reads a missing optional field as `null`.
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
  const fields = variantFields(type);
  const body = (value as Record<string, unknown>)[type];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new KernelError('INVALID_EVENT', `The body of serde variant ${type} must be an object`);
  }
  const out: Record<string, unknown> = { type };
  for (const f of fields) {
    let raw = (body as Record<string, unknown>)[f.wire];
    if (raw === undefined && typeof f.spec === 'object' && 'nullable' in f.spec) raw = null;
    const v = checkField(type, f.wire, f.spec, raw);
    if (v !== undefined) out[f.name] = v;
  }
  readTraceFields(type, body as Record<string, unknown>, out);
  return out as KernelEvent;
}

/**
 * Encodes an event in the serde wire form exactly as serde_json writes it (compact; `f64` values
 * always with a fraction or exponent, e.g. `1.0`), in `options.version`'s event set.
 */
export function encodeSerdeEvent(event: KernelEvent, options: SerdeEventOptions = {}): string {
  return encodeOxiosEvent(toOxiosEvent(event, options));
}

/** Decodes the serde wire form of either version; throws `INVALID_EVENT` / `UNKNOWN_EVENT_TYPE`. */
export function decodeSerdeEvent(json: string): KernelEvent {
  return fromSerdeEvent(parseEventJson(json, 'The serde kernel event'));
}

// ── Rust rendering ───────────────────────────────────────────────────────────────────────────

/**
 * Renders an event as Rust's `format!("{event:?}")` does, e.g.
 * `AgentCreated { id: 0190…, name: "researcher" }`. The oxios audit trail stores this text as
 * the entry's `resource`.
 */
export function formatEventDebug(event: KernelEvent): string {
  const fields = variantFields(event.type);
  const rec = event as unknown as Record<string, unknown>;
  const parts: string[] = [];
  for (const f of fields) {
    const v = rec[f.name];
    if (v === undefined) continue;
    // kerno's optional additions render as the plain field oxios 1.43 declares.
    const spec = typeof f.spec === 'object' && 'optional' in f.spec ? f.spec.optional : f.spec;
    parts.push(f.wire + ': ' + debugFieldValue(spec, v));
  }
  return `${event.type} { ${parts.join(', ')} }`;
}

/** The Display form of a phase, as oxios prints it in audit details (`interview`, …). */
export function displayPhase(value: Phase): string {
  return value.toLowerCase();
}

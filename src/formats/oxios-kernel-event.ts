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
  parseEventJson,
  variantFields,
  type FieldSpec,
  type KernelEvent,
  type Phase,
} from '../model/kernel-event.js';

// ── serde wire codec (oxios) ─────────────────────────────────────────────────────────────────

/** Converts an event to the reference's externally tagged serde value. */
export function toSerdeEvent(event: KernelEvent): Record<string, Record<string, unknown>> {
  const fields = variantFields(event.type);
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
  const fields = variantFields(type);
  const body = (value as Record<string, unknown>)[type];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new KernelError('INVALID_EVENT', `The body of serde variant ${type} must be an object`);
  }
  const out: Record<string, unknown> = { type };
  for (const f of fields) {
    let raw = (body as Record<string, unknown>)[f.wire];
    if (raw === undefined && typeof f.spec === 'object' && 'nullable' in f.spec) raw = null;
    out[f.name] = checkField(type, f.wire, f.spec, raw);
  }
  return out as KernelEvent;
}

/**
 * Encodes an event in the serde wire form exactly as serde_json writes it (compact; `f64` values
 * always with a fraction or exponent, e.g. `1.0`).
 */
export function encodeSerdeEvent(event: KernelEvent): string {
  const fields = variantFields(event.type);
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

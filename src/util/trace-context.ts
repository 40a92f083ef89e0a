/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate`
 * values kerno carries in kernel events, journal entries, ledger envelopes' metadata and a
 * process agent's environment (`TRACEPARENT` / `TRACESTATE`) and protocol messages.
 *
 * @example
 * import { parseTraceparent } from 'kerno';
 * parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
 * // { traceId: '4bf9…', spanId: '00f0…', traceFlags: 1 }
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { KernelError } from '../errors.js';

/** A span's identity as trace context carries it. */
export interface SpanContext {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lowercase hex digits, not all zero. */
  readonly spanId: string;
  /** Bit 0: sampled. */
  readonly traceFlags: number;
  /** The `tracestate` header value, when there is one. */
  readonly traceState?: string | undefined;
}

/** Trace context as it is stored and sent: the two W3C header values. */
export interface TraceHeaders {
  readonly traceparent: string;
  /** Left out when empty. */
  readonly tracestate?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** `tracestate`: at most 32 comma-separated `key=value` members of printable ASCII, 512 chars. */
const TRACESTATE_MEMBER =
  /^[a-z0-9][a-z0-9_\-*/@]{0,255}=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** Parses a `traceparent` value; `undefined` when it is not one (the spec says: ignore it). */
export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== 'string' || value.length > 512) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  // Version ff is invalid; version 00 has exactly four fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId: traceId!, spanId: spanId!, traceFlags: parseInt(flags!, 16) };
}

/** Whether `value` is a valid `tracestate` header value. */
export function isTracestate(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 512) return false;
  const members = value.split(',').map((m) => m.trim());
  if (members.length > 32) return false;
  return members.every((m) => m === '' || TRACESTATE_MEMBER.test(m));
}

/** The `traceparent` value of a span context (version 00). */
export function formatTraceparent(context: SpanContext): string {
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The header values of a span context. */
export function traceHeaders(context: SpanContext): TraceHeaders {
  const traceparent = formatTraceparent(context);
  return context.traceState === undefined || context.traceState === ''
    ? { traceparent }
    : { traceparent, tracestate: context.traceState };
}

/** A span context from header values; `undefined` when `traceparent` is missing or invalid. */
export function contextFromHeaders(
  traceparent: unknown,
  tracestate?: unknown,
): SpanContext | undefined {
  const parsed = parseTraceparent(traceparent);
  if (parsed === undefined) return undefined;
  return isTracestate(tracestate) && tracestate !== ''
    ? { ...parsed, traceState: tracestate }
    : parsed;
}

/**
 * Checks trace headers given by a caller (an API body, a protocol message): `undefined` passes,
 * anything else must be valid, or `INVALID_ARGUMENT` says what a valid value looks like.
 */
export function checkTraceHeaders(
  traceparent: unknown,
  tracestate: unknown,
  where: string,
): TraceHeaders | undefined {
  if (traceparent === undefined || traceparent === null) {
    if (tracestate !== undefined && tracestate !== null) {
      throw new KernelError('INVALID_ARGUMENT', `${where}: tracestate needs a traceparent`);
    }
    return undefined;
  }
  if (parseTraceparent(traceparent) === undefined) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `${where}: traceparent must be a W3C trace context value like 00-<32 hex trace id>-<16 hex span id>-01, got ${JSON.stringify(traceparent).slice(0, 80)}`,
    );
  }
  if (tracestate !== undefined && tracestate !== null && !isTracestate(tracestate)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `${where}: tracestate must be a W3C tracestate value (comma-separated key=value, at most 512 characters)`,
    );
  }
  return typeof tracestate === 'string' && tracestate !== ''
    ? { traceparent: traceparent as string, tracestate }
    : { traceparent: traceparent as string };
}

/** A new random trace id (16 bytes, hex). */
export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

/** A new random span id (8 bytes, hex). */
export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * The trace context of an incoming request's `traceparent` / `tracestate` headers; `undefined`
 * when there is none or it is invalid (the W3C rule: an invalid header is ignored).
 */
export function requestTraceHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): TraceHeaders | undefined {
  const one = (v: string | string[] | undefined): string | undefined =>
    Array.isArray(v) ? v.join(',') : v;
  const context = contextFromHeaders(one(headers['traceparent']), one(headers['tracestate']));
  return context === undefined ? undefined : traceHeaders(context);
}

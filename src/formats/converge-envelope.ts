/**
 * The experience event envelope (converge-core `ExperienceEventEnvelope`): stable metadata — id,
 * time, tenant, correlation — around a typed {@link ExperienceEvent}. Serialised with snake_case
 * fields in this order: `event_id, occurred_at, tenant_id, correlation_id, event`.
 *
 * converge 3.8+ also has user-side events with their own envelope of the same shape
 * (`UserExperienceEventEnvelope`, {@link UserExperienceEnvelope}) and a wrapper over both,
 * `ExperienceRecord` — `{"kind":"Engine"|"User","value":<envelope>}` ({@link ExperienceRecord}).
 * {@link parseAnyEnvelope} reads all three forms.
 *
 * `occurred_at` is converge's open `Timestamp` string: RFC 3339 from a host clock, a Lamport
 * stamp (`lamport:0`, 3.9's `Timestamp::now()`), 3.7's `"<unix secs>Z"`, or any other non-empty
 * text up to 64 characters; {@link envelopeTimeMs} answers `undefined` for what is not RFC 3339.
 * Ids (`event_id`, and `tenant_id`/`correlation_id` when set) follow converge's rules: with
 * `idRules: 'strict'` 1–256 characters of `[A-Za-z0-9._-]`; by default (`'lenient'`, the 3.7
 * form) 1–256 characters without control characters.
 *
 * Unlike converge, whose `ExperienceEventEnvelope::new` stamps the epoch as a placeholder,
 * {@link createEnvelope} stamps the time from an injected, trusted clock.
 *
 * @example
 * import { createEnvelope, createUuidV7, systemClock } from 'kerno';
 * const envelope = createEnvelope(
 *   { type: 'FactPromoted', data: { proposal_id: 'p-1', fact_id: 'f-1', promoted_by: 'engine', reason: 'validated', requires_human: false } },
 *   { clock: systemClock, ids: createUuidV7(), tenantId: 'tenant-a' },
 * );
 * JSON.stringify(envelope); // {"event_id":"0197…","occurred_at":"2026-…Z","tenant_id":"tenant-a","correlation_id":null,"event":{…}}
 *
 * @module
 */
import * as z from 'zod';
import { KernelError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { IdGenerator } from '../util/ids.js';
import { formatTimestamp, parseRfc3339 } from '../util/time.js';
import {
  EXPERIENCE_EVENT_KINDS,
  experienceEventSchema,
  invalidEventError,
  isExperienceEventKind,
  occurredAtSchema,
  parseExperienceEvent,
  type ExperienceEvent,
} from './converge-experience-event.js';
import {
  USER_EXPERIENCE_EVENT_KINDS,
  isUserExperienceEventKind,
  parseUserExperienceEvent,
  userExperienceEventSchema,
  type UserExperienceEvent,
} from './converge-user-event.js';

/** An experience event with its envelope metadata, exactly as converge serialises it. */
export interface ExperienceEnvelope {
  /** Unique event id (kerno: UUIDv7; converge: ULID/UUID or `evt-N`). Never empty. */
  readonly event_id: string;
  /** When the event occurred: converge's open `Timestamp` (RFC 3339, `lamport:N`, …). */
  readonly occurred_at: string;
  /** Tenant scope, or `null`. */
  readonly tenant_id: string | null;
  /** Correlation id for chain/run grouping, or `null`. */
  readonly correlation_id: string | null;
  /** The typed payload. */
  readonly event: ExperienceEvent;
}

/** A user-side event with its envelope (`UserExperienceEventEnvelope`, converge 3.8+). */
export interface UserExperienceEnvelope {
  readonly event_id: string;
  readonly occurred_at: string;
  readonly tenant_id: string | null;
  readonly correlation_id: string | null;
  readonly event: UserExperienceEvent;
}

/** Either side's envelope: what the ledger stores. Narrow on `event.type`. */
export type AnyExperienceEnvelope = ExperienceEnvelope | UserExperienceEnvelope;

/** converge's `ExperienceRecord` wrapper, adjacently tagged `kind`/`value`. */
export type ExperienceRecord =
  | { readonly kind: 'Engine'; readonly value: ExperienceEnvelope }
  | { readonly kind: 'User'; readonly value: UserExperienceEnvelope };

/** Which id rules to apply: converge's strict set, or the looser 3.7 form (the default). */
export type IdRules = 'strict' | 'lenient';

/** Longest id converge accepts. */
export const MAX_ID_LENGTH = 256;

const STRICT_ID = /^[A-Za-z0-9._-]{1,256}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Whether `id` is a valid converge id under `rules`. */
export function isValidConvergeId(id: string, rules: IdRules = 'lenient'): boolean {
  if (rules === 'strict') return STRICT_ID.test(id);
  return id.length >= 1 && id.length <= MAX_ID_LENGTH && !CONTROL.test(id);
}

function idSchema(rules: IdRules): z.ZodType<string> {
  const error =
    rules === 'strict'
      ? 'expected an id of 1 to 256 characters from A-Z a-z 0-9 . _ - (strict converge ids)'
      : 'expected an id of 1 to 256 characters without control characters';
  return z.string().refine((s) => isValidConvergeId(s, rules), { error });
}

function envelopeSchema<E>(event: z.ZodType<E>, rules: IdRules) {
  const id = idSchema(rules);
  return z.looseObject({
    event_id: id,
    occurred_at: occurredAtSchema,
    tenant_id: id.nullable().default(null),
    correlation_id: id.nullable().default(null),
    event,
  });
}

/** Schema of {@link ExperienceEnvelope} (lenient ids); unknown top-level fields are kept. */
export const experienceEnvelopeSchema = envelopeSchema(
  experienceEventSchema,
  'lenient',
) satisfies z.ZodType<ExperienceEnvelope>;

/** Schema of {@link UserExperienceEnvelope} (lenient ids); unknown top-level fields are kept. */
export const userExperienceEnvelopeSchema = envelopeSchema(
  userExperienceEventSchema,
  'lenient',
) satisfies z.ZodType<UserExperienceEnvelope>;

const STRICT_SCHEMAS = {
  engine: envelopeSchema(experienceEventSchema, 'strict'),
  user: envelopeSchema(userExperienceEventSchema, 'strict'),
};

function schemaFor(side: 'engine' | 'user', rules: IdRules): z.ZodType<AnyExperienceEnvelope> {
  if (rules === 'strict') return STRICT_SCHEMAS[side] as z.ZodType<AnyExperienceEnvelope>;
  return (
    side === 'engine' ? experienceEnvelopeSchema : userExperienceEnvelopeSchema
  ) as z.ZodType<AnyExperienceEnvelope>;
}

/** Options for the envelope parsers. */
export interface ParseEnvelopeOptions {
  /** Id rules for `event_id`, `tenant_id` and `correlation_id` (default `'lenient'`). */
  readonly idRules?: IdRules | undefined;
}

/** Options for {@link createEnvelope}. */
export interface CreateEnvelopeOptions {
  /** The trusted time source that stamps `occurred_at`. */
  readonly clock: Clock;
  /** Generates `event_id` (pass `createUuidV7({ clock })`). */
  readonly ids: IdGenerator;
  /** Use this id instead of generating one (e.g. when importing). */
  readonly eventId?: string;
  /**
   * Use this time instead of the clock's (replay, import, tests): RFC 3339, or any converge
   * `Timestamp` text such as `lamport:3`.
   */
  readonly occurredAt?: string;
  /** Tenant scope; default `null`. */
  readonly tenantId?: string | null;
  /** Correlation id; default `null`. */
  readonly correlationId?: string | null;
  /** Id rules (default `'lenient'`). */
  readonly idRules?: IdRules | undefined;
}

/**
 * Wraps an event (engine- or user-side) in an envelope: `event_id` from `options.ids` (unless
 * given), `occurred_at` from `options.clock` as `new Date(ms).toISOString()` (unless given). The
 * event is validated and normalised first, so the result always serialises in converge's field
 * order. Throws `INVALID_EVENT` for a malformed event, id or timestamp.
 */
export function createEnvelope(
  event: ExperienceEvent,
  options: CreateEnvelopeOptions,
): ExperienceEnvelope;
export function createEnvelope(
  event: UserExperienceEvent,
  options: CreateEnvelopeOptions,
): UserExperienceEnvelope;
export function createEnvelope(
  event: ExperienceEvent | UserExperienceEvent,
  options: CreateEnvelopeOptions,
): AnyExperienceEnvelope;
export function createEnvelope(
  event: ExperienceEvent | UserExperienceEvent,
  options: CreateEnvelopeOptions,
): AnyExperienceEnvelope {
  const user = isUserExperienceEventKind((event as { type?: unknown } | null)?.type);
  const parsed = user ? parseUserExperienceEvent(event) : parseExperienceEvent(event);
  const eventId = options.eventId ?? options.ids();
  const envelope = {
    event_id: eventId,
    occurred_at: options.occurredAt ?? formatTimestamp(options.clock.now()),
    tenant_id: options.tenantId ?? null,
    correlation_id: options.correlationId ?? null,
    event: parsed,
  };
  const result = schemaFor(user ? 'user' : 'engine', options.idRules ?? 'lenient').safeParse(
    envelope,
  );
  if (!result.success) throw invalidEventError('experience envelope', result.error, envelope);
  return { ...envelope, event: parsed } as AnyExperienceEnvelope;
}

/**
 * Validates an engine-side envelope in its serde form (e.g. one line of a converge export) and
 * returns it normalised: keys in serde declaration order (so `JSON.stringify` writes converge's
 * order), missing `Option`s as `null`. Throws KernelError `INVALID_EVENT` whose message and
 * `details.path` (e.g. `event.data.chain_id`) name the bad field.
 */
export function parseEnvelope(
  value: unknown,
  options: ParseEnvelopeOptions = {},
): ExperienceEnvelope {
  const result = schemaFor('engine', options.idRules ?? 'lenient').safeParse(value);
  if (!result.success) throw invalidEventError('experience envelope', result.error, value);
  return result.data as ExperienceEnvelope;
}

/** Like {@link parseEnvelope}, for a user-side envelope (`UserExperienceEventEnvelope`). */
export function parseUserEnvelope(
  value: unknown,
  options: ParseEnvelopeOptions = {},
): UserExperienceEnvelope {
  const result = schemaFor('user', options.idRules ?? 'lenient').safeParse(value);
  if (!result.success) throw invalidEventError('user experience envelope', result.error, value);
  return result.data as UserExperienceEnvelope;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether `value` has the shape of an `ExperienceRecord` wrapper rather than a bare envelope. */
export function isExperienceRecordShape(value: unknown): boolean {
  return (
    isObject(value) &&
    (value.kind === 'Engine' || value.kind === 'User') &&
    'value' in value &&
    !('event_id' in value)
  );
}

/**
 * Reads any converge envelope: a bare engine- or user-side envelope (told apart by
 * `event.type`), or an `ExperienceRecord` wrapper `{"kind":"Engine"|"User","value":…}`.
 * Returns the envelope, normalised. Throws `INVALID_EVENT` naming the bad field.
 */
export function parseAnyEnvelope(
  value: unknown,
  options: ParseEnvelopeOptions = {},
): AnyExperienceEnvelope {
  if (isExperienceRecordShape(value)) {
    const record = value as { kind: 'Engine' | 'User'; value: unknown };
    const envelope =
      record.kind === 'User'
        ? parseUserEnvelope(record.value, options)
        : parseEnvelope(record.value, options);
    return envelope;
  }
  const type = isObject(value) && isObject(value.event) ? value.event.type : undefined;
  if (isUserExperienceEventKind(type)) return parseUserEnvelope(value, options);
  if (typeof type === 'string' && !isExperienceEventKind(type)) {
    throw new KernelError(
      'INVALID_EVENT',
      `Invalid experience envelope at event.type: unknown event type ${JSON.stringify(type).slice(0, 60)}; expected one of ${[...EXPERIENCE_EVENT_KINDS, ...USER_EXPERIENCE_EVENT_KINDS].join(', ')}.`,
      { details: { path: 'event.type' } },
    );
  }
  return parseEnvelope(value, options);
}

/** Wraps an envelope as converge's `ExperienceRecord` (`Engine` or `User` by its event). */
export function toExperienceRecord(envelope: AnyExperienceEnvelope): ExperienceRecord {
  return isUserExperienceEventKind(envelope.event.type)
    ? { kind: 'User', value: envelope as UserExperienceEnvelope }
    : { kind: 'Engine', value: envelope as ExperienceEnvelope };
}

/** Whether an envelope carries a user-side event. */
export function isUserEnvelope(
  envelope: AnyExperienceEnvelope,
): envelope is UserExperienceEnvelope {
  return isUserExperienceEventKind(envelope.event.type);
}

/**
 * The envelope's `occurred_at` in epoch milliseconds (sub-millisecond digits are floored), or
 * `undefined` when it is not an RFC 3339 timestamp (a Lamport stamp, 3.7's `"<secs>Z"`, …): the
 * ledger then orders and filters the record by its append time.
 */
export function envelopeTimeMs(envelope: AnyExperienceEnvelope): number | undefined {
  return parseRfc3339(envelope.occurred_at)?.ms;
}

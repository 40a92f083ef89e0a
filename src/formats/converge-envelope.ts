/**
 * The experience event envelope (converge-core `ExperienceEventEnvelope`): stable metadata — id,
 * time, tenant, correlation — around a typed {@link ExperienceEvent}. Serialised with snake_case
 * fields in this order: `event_id, occurred_at, tenant_id, correlation_id, event`.
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
  experienceEventSchema,
  invalidEventError,
  occurredAtSchema,
  parseExperienceEvent,
  type ExperienceEvent,
} from './converge-experience-event.js';

/** An experience event with its envelope metadata, exactly as converge serialises it. */
export interface ExperienceEnvelope {
  /** Unique event id (kerno: UUIDv7; converge: ULID/UUID or `evt-N`). Never empty. */
  readonly event_id: string;
  /** When the event occurred: RFC 3339. */
  readonly occurred_at: string;
  /** Tenant scope, or `null`. */
  readonly tenant_id: string | null;
  /** Correlation id for chain/run grouping, or `null`. */
  readonly correlation_id: string | null;
  /** The typed payload. */
  readonly event: ExperienceEvent;
}

/** Schema of {@link ExperienceEnvelope}; unknown top-level fields are kept after the known ones. */
export const experienceEnvelopeSchema = z.looseObject({
  event_id: z.string().min(1, { error: 'expected a non-empty event id' }),
  occurred_at: occurredAtSchema,
  tenant_id: z.string().nullable().default(null),
  correlation_id: z.string().nullable().default(null),
  event: experienceEventSchema,
}) satisfies z.ZodType<ExperienceEnvelope>;

/** Options for {@link createEnvelope}. */
export interface CreateEnvelopeOptions {
  /** The trusted time source that stamps `occurred_at`. */
  readonly clock: Clock;
  /** Generates `event_id` (pass `createUuidV7({ clock })`). */
  readonly ids: IdGenerator;
  /** Use this id instead of generating one (e.g. when importing). */
  readonly eventId?: string;
  /** Use this RFC 3339 time instead of the clock's (replay, import, tests). */
  readonly occurredAt?: string;
  /** Tenant scope; default `null`. */
  readonly tenantId?: string | null;
  /** Correlation id; default `null`. */
  readonly correlationId?: string | null;
}

/**
 * Wraps an event in an envelope: `event_id` from `options.ids` (unless given), `occurred_at`
 * from `options.clock` as `new Date(ms).toISOString()` (unless given). The event is validated
 * and normalised first, so the result always serialises in converge's field order.
 * Throws `INVALID_EVENT` for a malformed event, id or timestamp.
 */
export function createEnvelope(
  event: ExperienceEvent,
  options: CreateEnvelopeOptions,
): ExperienceEnvelope {
  const parsed = parseExperienceEvent(event);
  const eventId = options.eventId ?? options.ids();
  if (typeof eventId !== 'string' || eventId === '') {
    throw new KernelError(
      'INVALID_EVENT',
      'An experience envelope needs a non-empty event_id: pass eventId or an id generator that returns strings',
      { details: { path: 'event_id' } },
    );
  }
  let occurredAt: string;
  if (options.occurredAt === undefined) {
    occurredAt = formatTimestamp(options.clock.now());
  } else {
    if (parseRfc3339(options.occurredAt) === undefined) {
      throw new KernelError(
        'INVALID_EVENT',
        `occurredAt ${JSON.stringify(options.occurredAt)} is not an RFC 3339 timestamp; pass one like 2026-05-14T10:00:00Z, or omit it to use the clock`,
        { details: { path: 'occurred_at' } },
      );
    }
    occurredAt = options.occurredAt;
  }
  return {
    event_id: eventId,
    occurred_at: occurredAt,
    tenant_id: options.tenantId ?? null,
    correlation_id: options.correlationId ?? null,
    event: parsed,
  };
}

/**
 * Validates an envelope in its serde form (e.g. one line of a converge export) and returns it
 * normalised: keys in serde declaration order (so `JSON.stringify` writes converge's order),
 * missing `Option`s as `null`. Throws KernelError `INVALID_EVENT` whose message and
 * `details.path` (e.g. `event.data.chain_id`) name the bad field.
 */
export function parseEnvelope(value: unknown): ExperienceEnvelope {
  const result = experienceEnvelopeSchema.safeParse(value);
  if (!result.success) throw invalidEventError('experience envelope', result.error, value);
  return result.data;
}

/** The envelope's `occurred_at` in epoch milliseconds (sub-millisecond digits are floored). */
export function envelopeTimeMs(envelope: ExperienceEnvelope): number {
  const instant = parseRfc3339(envelope.occurred_at);
  if (instant === undefined) {
    throw new KernelError(
      'INVALID_EVENT',
      `Envelope ${envelope.event_id} has occurred_at ${JSON.stringify(envelope.occurred_at)}, which is not an RFC 3339 timestamp; parse envelopes with parseEnvelope before indexing them`,
      { details: { path: 'occurred_at' } },
    );
  }
  return instant.ms;
}

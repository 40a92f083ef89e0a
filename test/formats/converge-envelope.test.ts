import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  createEnvelope,
  createUuidV7,
  envelopeTimeMs,
  isKernelError,
  isUuid,
  parseEnvelope,
  seededRandom,
  uuidV7Time,
  type ExperienceEnvelope,
  type ExperienceEvent,
} from '../../src/index.js';

const T0 = Date.UTC(2026, 4, 14, 10, 0, 0, 123);

const OUTCOME: ExperienceEvent = {
  type: 'OutcomeRecorded',
  data: {
    chain_id: 'chain-1',
    step: 'Planning',
    passed: true,
    stop_reason: null,
    latency_ms: 12,
    tokens: 42,
    cost_microdollars: null,
    backend: 'local',
  },
};

function setup() {
  const clock = new ManualClock(T0);
  const ids = createUuidV7({ clock, random: seededRandom(7) });
  return { clock, ids };
}

function invalid(fn: () => unknown): { message: string; path: unknown } {
  try {
    fn();
  } catch (error) {
    expect(isKernelError(error, 'INVALID_EVENT'), String(error)).toBe(true);
    const e = error as { message: string; details?: { path?: unknown } };
    return { message: e.message, path: e.details?.path };
  }
  throw new Error('expected INVALID_EVENT, nothing was thrown');
}

describe('createEnvelope', () => {
  it('stamps the time from the injected clock and the id from the generator', () => {
    const { clock, ids } = setup();
    const first = createEnvelope(OUTCOME, { clock, ids });
    clock.advance(1500);
    const second = createEnvelope(OUTCOME, { clock, ids });

    expect(first.occurred_at).toBe('2026-05-14T10:00:00.123Z');
    expect(second.occurred_at).toBe('2026-05-14T10:00:01.623Z');
    expect(first.occurred_at).not.toBe('1970-01-01T00:00:00Z');
    expect(isUuid(first.event_id)).toBe(true);
    expect(uuidV7Time(first.event_id)).toBe(T0);
    expect(second.event_id > first.event_id).toBe(true);
    expect(first.tenant_id).toBeNull();
    expect(first.correlation_id).toBeNull();
  });

  it('uses the given id, time, tenant and correlation, and writes serde field order', () => {
    const { clock, ids } = setup();
    const envelope = createEnvelope(
      {
        type: 'BudgetExceeded',
        data: { observed: '2048', limit: '1024', resource: 'Tokens', chain_id: 'chain-1' },
      },
      {
        clock,
        ids,
        eventId: 'evt-1',
        occurredAt: '2026-01-21T12:00:00Z',
        tenantId: 'tenant-a',
        correlationId: 'corr-1',
      },
    );
    expect(JSON.stringify(envelope)).toBe(
      '{"event_id":"evt-1","occurred_at":"2026-01-21T12:00:00Z","tenant_id":"tenant-a","correlation_id":"corr-1",' +
        '"event":{"type":"BudgetExceeded","data":{"chain_id":"chain-1","resource":"Tokens","limit":"1024","observed":"2048"}}}',
    );
  });

  it('keeps the epoch only when it is asked for explicitly', () => {
    const { clock, ids } = setup();
    const replayed = createEnvelope(OUTCOME, { clock, ids, occurredAt: '1970-01-01T00:00:00Z' });
    expect(replayed.occurred_at).toBe('1970-01-01T00:00:00Z');
  });

  it('refuses a malformed event, a bad timestamp and an empty id', () => {
    const { clock, ids } = setup();
    const bad = {
      type: 'OutcomeRecorded',
      data: { chain_id: 'c', step: 'Planning', passed: 'yes' },
    };
    expect(
      invalid(() => createEnvelope(bad as unknown as ExperienceEvent, { clock, ids })).path,
    ).toBe('data.passed');
    expect(invalid(() => createEnvelope(OUTCOME, { clock, ids, occurredAt: '' })).path).toBe(
      'occurred_at',
    );
    expect(invalid(() => createEnvelope(OUTCOME, { clock, ids: () => '' })).path).toBe('event_id');
    expect(invalid(() => createEnvelope(OUTCOME, { clock, ids, eventId: '' })).path).toBe(
      'event_id',
    );
  });
});

describe('parseEnvelope', () => {
  const good = (): Record<string, unknown> => ({
    event_id: 'evt-1',
    occurred_at: '2026-01-21T12:00:00Z',
    tenant_id: 'tenant-a',
    correlation_id: 'corr-1',
    event: structuredClone(OUTCOME),
  });

  it('matches converge’s envelope_builder_sets_fields test', () => {
    const envelope = parseEnvelope(good());
    expect(envelope.event_id).toBe('evt-1');
    expect(envelope.tenant_id).toBe('tenant-a');
    expect(envelope.correlation_id).toBe('corr-1');
    expect(envelope.occurred_at).toBe('2026-01-21T12:00:00Z');
  });

  it('returns keys in serde order with missing options as null', () => {
    const input = {
      event: structuredClone(OUTCOME),
      occurred_at: '2026-01-21T12:00:00Z',
      event_id: 'e-1',
    };
    const envelope = parseEnvelope(input);
    expect(Object.keys(envelope)).toEqual([
      'event_id',
      'occurred_at',
      'tenant_id',
      'correlation_id',
      'event',
    ]);
    expect(envelope.tenant_id).toBeNull();
    expect(envelope.correlation_id).toBeNull();
  });

  it.each([
    ['a converge 3.9 Lamport stamp', 'lamport:0'],
    ['a converge 3.7 "<unix secs>Z"', '1768996800Z'],
    ['free text', 'yesterday'],
    ['RFC 3339 without a zone', '2026-01-21T12:00:00'],
    ['64 characters', 'x'.repeat(64)],
  ])('accepts occurred_at that is %s, unchanged', (_name, occurredAt) => {
    expect(parseEnvelope({ ...good(), occurred_at: occurredAt }).occurred_at).toBe(occurredAt);
  });

  it.each([
    ['a number', 1_768_996_800_000],
    ['empty', ''],
    ['65 characters', 'x'.repeat(65)],
    ['null', null],
  ])('rejects occurred_at that is %s', (_name, occurredAt) => {
    const input = { ...good(), occurred_at: occurredAt };
    const error = invalid(() => parseEnvelope(input));
    expect(error.path).toBe('occurred_at');
    expect(error.message).toContain('Invalid experience envelope at occurred_at');
  });

  it('rejects an empty or missing event_id', () => {
    expect(invalid(() => parseEnvelope({ ...good(), event_id: '' })).path).toBe('event_id');
    const { event_id: _drop, ...rest } = good();
    expect(invalid(() => parseEnvelope(rest)).message).toContain('at event_id: missing field');
  });

  it('names the nested path of a bad event field', () => {
    const input = good();
    delete ((input.event as Record<string, unknown>).data as Record<string, unknown>).chain_id;
    expect(invalid(() => parseEnvelope(input)).path).toBe('event.data.chain_id');
    expect(invalid(() => parseEnvelope({ ...good(), tenant_id: 5 })).path).toBe('tenant_id');
    expect(invalid(() => parseEnvelope('{"event_id":"x"}')).path).toBe('');
  });
});

describe('envelopeTimeMs', () => {
  const at = (occurred_at: string): ExperienceEnvelope =>
    ({
      event_id: 'e',
      occurred_at,
      tenant_id: null,
      correlation_id: null,
      event: OUTCOME,
    }) as const;

  it('parses every RFC 3339 form to epoch milliseconds', () => {
    expect(envelopeTimeMs(at('2026-01-21T12:00:00Z'))).toBe(Date.UTC(2026, 0, 21, 12));
    expect(envelopeTimeMs(at('2026-01-21T14:00:00+02:00'))).toBe(Date.UTC(2026, 0, 21, 12));
    expect(envelopeTimeMs(at('2026-01-21T12:00:00.123456789Z'))).toBe(
      Date.UTC(2026, 0, 21, 12, 0, 0, 123),
    );
    expect(envelopeTimeMs(at('1970-01-01T00:00:00Z'))).toBe(0);
  });

  it('answers undefined for a time that is not RFC 3339 (the ledger then uses append time)', () => {
    expect(envelopeTimeMs(at('lamport:0'))).toBeUndefined();
    expect(envelopeTimeMs(at('1768996800Z'))).toBeUndefined();
    expect(envelopeTimeMs(at('2026-02-30T00:00:00Z'))).toBeUndefined();
  });
});

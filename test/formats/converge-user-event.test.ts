/**
 * converge 3.8+ user-side events, their envelope and the `ExperienceRecord` wrapper, plus the
 * 3.7–3.9 timestamp and id rules. The vectors are written here from converge-core's serde
 * definitions: `UserExperienceEvent` adjacently tagged `type`/`data`; `OverrideTarget` tagged
 * `kind`/`id`; `CorrectionTarget` internally tagged `kind` (snake_case); `BoundaryTarget`
 * internally tagged `scope` (snake_case); `BoundaryKind` snake_case; `FactContent{kind, content,
 * structured}`; `ExperienceRecord` tagged `kind`/`value` with `Engine` and `User`.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  USER_EXPERIENCE_EVENT_KINDS,
  createEnvelope,
  encodeEnvelopeLine,
  isKernelError,
  isUserExperienceEvent,
  isValidConvergeId,
  parseAnyEnvelope,
  parseEnvelope,
  parseUserEnvelope,
  parseUserExperienceEvent,
  readEnvelopeLines,
  toExperienceRecord,
  type UserExperienceEvent,
} from '../../src/index.js';

const ZERO = '0'.repeat(64);

/** One vector per variant: the exact line serde_json writes (fields in declaration order). */
const VECTORS: readonly (readonly [UserExperienceEvent['type'], string])[] = [
  [
    'UserApprovalGranted',
    '{"type":"UserApprovalGranted","data":{"gate_request_id":"hitl-1","actor":"operator-1","policy_snapshot_hash":null,"reason":"looks right"}}',
  ],
  [
    'UserApprovalRejected',
    '{"type":"UserApprovalRejected","data":{"gate_request_id":"gate-1","actor":"operator-1","policy_snapshot_hash":null,"reason":"not enough evidence"}}',
  ],
  [
    'UserOverrideIssued',
    `{"type":"UserOverrideIssued","data":{"target":{"kind":"Constraint","id":"max-spend"},"actor":"operator-1","policy_snapshot_hash":"${ZERO}","reason":"finance approved"}}`,
  ],
  [
    'UserCorrection',
    `{"type":"UserCorrection","data":{"target":{"kind":"fact","fact_id":"fact-1"},"actor":"operator-1","policy_snapshot_hash":null,"original_content":"${ZERO}","corrected_content":{"kind":"Claim","content":"corrected claim","structured":null},"reason":"source was stale"}}`,
  ],
  [
    'UserBoundaryAdjusted',
    '{"type":"UserBoundaryAdjusted","data":{"boundary":"authority","target":{"scope":"pack","pack_id":"pack-1"},"actor":"operator-1","policy_snapshot_hash":null,"previous_value":{"limit":100},"new_value":{"limit":50},"reason":"reduce autonomy"}}',
  ],
];

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

describe('user-side events', () => {
  it('covers the five 3.8+ variants in declaration order', () => {
    expect(USER_EXPERIENCE_EVENT_KINDS).toEqual(VECTORS.map(([kind]) => kind));
  });

  it.each(VECTORS)('%s round-trips byte for byte', (_kind, line) => {
    const event = parseUserExperienceEvent(JSON.parse(line));
    expect(JSON.stringify(event)).toBe(line);
    expect(isUserExperienceEvent(event)).toBe(true);
  });

  it('writes missing Options as null and keeps unknown fields after the known ones', () => {
    const event = parseUserExperienceEvent({
      type: 'UserApprovalGranted',
      data: { added_in_3_10: true, actor: 'op', gate_request_id: 'hitl-1' },
    });
    expect(JSON.stringify(event)).toBe(
      '{"type":"UserApprovalGranted","data":{"gate_request_id":"hitl-1","actor":"op","policy_snapshot_hash":null,"reason":null,"added_in_3_10":true}}',
    );
  });

  it('reads every target and boundary form', () => {
    for (const target of [
      { kind: 'Fact', id: 'f-1' },
      { kind: 'Proposal', id: 'p-1' },
      { kind: 'Constraint', id: 'c-1' },
    ]) {
      const e = parseUserExperienceEvent({
        type: 'UserOverrideIssued',
        data: { target, actor: 'a', policy_snapshot_hash: null, reason: 'r' },
      });
      expect(e.data).toMatchObject({ target });
    }
    for (const target of [
      { scope: 'pack', pack_id: 'p' },
      { scope: 'intent', intent_id: 'i' },
      { scope: 'global' },
    ]) {
      for (const boundary of ['authority', 'forbidden', 'expiry', 'reversibility']) {
        const e = parseUserExperienceEvent({
          type: 'UserBoundaryAdjusted',
          data: {
            boundary,
            target,
            actor: 'a',
            policy_snapshot_hash: null,
            previous_value: null,
            new_value: [1, 'two'],
            reason: 'r',
          },
        });
        expect(e.data).toMatchObject({ boundary, target });
      }
    }
  });

  it.each([
    [
      'an override target tagged like a correction target',
      {
        type: 'UserOverrideIssued',
        data: { target: { kind: 'fact', id: 'f' }, actor: 'a', reason: 'r' },
      },
      'data.target.kind',
    ],
    [
      'a correction target with the wrong id field',
      {
        type: 'UserCorrection',
        data: {
          target: { kind: 'proposal', fact_id: 'f' },
          actor: 'a',
          original_content: ZERO,
          corrected_content: { kind: 'Claim', content: 'c', structured: null },
          reason: 'r',
        },
      },
      'data.target.proposal_id',
    ],
    [
      'an original_content that is not a content hash',
      {
        type: 'UserCorrection',
        data: {
          target: { kind: 'fact', fact_id: 'f' },
          actor: 'a',
          original_content: 'abc',
          corrected_content: { kind: 'Claim', content: 'c', structured: null },
          reason: 'r',
        },
      },
      'data.original_content',
    ],
    [
      'a boundary kind in PascalCase',
      {
        type: 'UserBoundaryAdjusted',
        data: {
          boundary: 'Authority',
          target: { scope: 'global' },
          actor: 'a',
          previous_value: 1,
          new_value: 2,
          reason: 'r',
        },
      },
      'data.boundary',
    ],
    [
      'a missing previous_value (serde_json::Value is required)',
      {
        type: 'UserBoundaryAdjusted',
        data: {
          boundary: 'expiry',
          target: { scope: 'global' },
          actor: 'a',
          new_value: 2,
          reason: 'r',
        },
      },
      'data.previous_value',
    ],
    [
      'a missing reason on an override',
      { type: 'UserOverrideIssued', data: { target: { kind: 'Fact', id: 'f' }, actor: 'a' } },
      'data.reason',
    ],
  ])('rejects %s, naming the path', (_name, input, path) => {
    expect(invalid(() => parseUserExperienceEvent(input)).path).toBe(path);
  });
});

describe('user-side envelope and the ExperienceRecord wrapper', () => {
  const userLine = `{"event_id":"evt-1","occurred_at":"lamport:0","tenant_id":"tenant-a","correlation_id":"corr-1","event":${VECTORS[0]![1]}}`;
  const engineLine =
    '{"event_id":"evt-1","occurred_at":"1768996800Z","tenant_id":null,"correlation_id":null,"event":{"type":"BudgetExceeded","data":{"chain_id":"c","resource":"Tokens","limit":"1","observed":null}}}';

  it('reads a bare user envelope and writes it back unchanged', () => {
    const envelope = parseUserEnvelope(JSON.parse(userLine));
    expect(JSON.stringify(envelope)).toBe(userLine);
    expect(JSON.stringify(parseAnyEnvelope(JSON.parse(userLine)))).toBe(userLine);
    // converge's engine-side envelope does not take a user event.
    expect(invalid(() => parseEnvelope(JSON.parse(userLine))).path).toBe('event.type');
  });

  it('reads and writes ExperienceRecord {"kind":"Engine"|"User","value":…}', () => {
    const user = `{"kind":"User","value":${userLine}}`;
    const engine = `{"kind":"Engine","value":${engineLine}}`;
    expect(JSON.stringify(parseAnyEnvelope(JSON.parse(user)))).toBe(userLine);
    expect(JSON.stringify(parseAnyEnvelope(JSON.parse(engine)))).toBe(engineLine);
    expect(JSON.stringify(toExperienceRecord(parseAnyEnvelope(JSON.parse(user))))).toBe(user);
    expect(encodeEnvelopeLine(parseAnyEnvelope(JSON.parse(engineLine)), 'record')).toBe(
      engine + '\n',
    );
    // The wrapper's kind must match the event inside it.
    expect(
      invalid(() => parseAnyEnvelope({ kind: 'Engine', value: JSON.parse(userLine) as unknown }))
        .path,
    ).toBe('event.type');
    expect(
      invalid(() =>
        parseAnyEnvelope({ ...JSON.parse(engineLine), event: { type: 'Nope', data: {} } }),
      ).message,
    ).toContain('UserApprovalGranted');
  });

  it('reads NDJSON mixing bare envelopes of both sides and wrapped records', async () => {
    const text = [
      engineLine,
      userLine.replace('evt-1', 'evt-2'),
      `{"kind":"User","value":${userLine.replace('evt-1', 'evt-3')}}`,
    ].join('\n');
    const types: string[] = [];
    for await (const { envelope } of readEnvelopeLines(Readable.from([text]))) {
      types.push(`${envelope.event_id}:${envelope.event.type}`);
    }
    expect(types).toEqual([
      'evt-1:BudgetExceeded',
      'evt-2:UserApprovalGranted',
      'evt-3:UserApprovalGranted',
    ]);
  });

  it('createEnvelope wraps a user event and accepts any converge timestamp', () => {
    const clock = new ManualClock(Date.UTC(2026, 4, 14));
    const envelope = createEnvelope(JSON.parse(VECTORS[1]![1]) as UserExperienceEvent, {
      clock,
      ids: () => 'evt-9',
      occurredAt: 'lamport:3',
    });
    expect(envelope).toMatchObject({ event_id: 'evt-9', occurred_at: 'lamport:3' });
    expect(envelope.event.type).toBe('UserApprovalRejected');
  });
});

describe('converge 3.7 nested timestamps', () => {
  it('keeps "<unix secs>Z" and lamport stamps inside events as given', () => {
    const line = {
      event_id: 'evt-1',
      occurred_at: '1768996800Z',
      tenant_id: null,
      correlation_id: null,
      event: {
        type: 'ArtifactStateTransitioned',
        data: {
          artifact_id: 'adapter-1',
          artifact_kind: 'Adapter',
          event: {
            from_state: 'Draft',
            to_state: 'Approved',
            timestamp: '1768996800Z',
            actor: 'ops',
            reason: 'eval passed',
            ticket_ref: null,
            tenant_id: null,
          },
        },
      },
    };
    const parsed = parseEnvelope(line);
    expect(parsed.occurred_at).toBe('1768996800Z');
    expect(JSON.stringify(parsed)).toBe(JSON.stringify(line));
  });
});

describe('converge ids', () => {
  it.each([
    ['evt-1', true, true],
    ['01J9Z3K8.tenant_a-b', true, true],
    ['a'.repeat(256), true, true],
    ['a'.repeat(257), false, false],
    ['', false, false],
    ['run 42', false, true],
    ['user@example.com', false, true],
    ['ünïcode', false, true],
    ['tab\there', false, false],
  ])('%j: strict %s, lenient %s', (id, strict, lenient) => {
    expect(isValidConvergeId(id, 'strict')).toBe(strict);
    expect(isValidConvergeId(id, 'lenient')).toBe(lenient);
  });

  it('applies the rules to event_id, tenant_id and correlation_id', () => {
    const base = JSON.parse(
      '{"event_id":"evt-1","occurred_at":"lamport:0","tenant_id":"t a","correlation_id":null,"event":{"type":"BudgetExceeded","data":{"chain_id":"c","resource":"Tokens","limit":"1","observed":null}}}',
    ) as Record<string, unknown>;
    expect(parseEnvelope(base).tenant_id).toBe('t a');
    expect(invalid(() => parseEnvelope(base, { idRules: 'strict' })).path).toBe('tenant_id');
    expect(
      invalid(() =>
        parseEnvelope({ ...base, tenant_id: null, correlation_id: 'c/1' }, { idRules: 'strict' }),
      ).path,
    ).toBe('correlation_id');
    expect(invalid(() => parseEnvelope({ ...base, event_id: 'x'.repeat(257) })).path).toBe(
      'event_id',
    );
  });
});

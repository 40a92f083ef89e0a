import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TIMEOUT_POLICY,
  EXPERIENCE_EVENT_KINDS,
  eventChainId,
  eventKind,
  eventTraceLinkId,
  isExperienceEventKind,
  isKernelError,
  parseEnvelope,
  parseExperienceEvent,
  type ExperienceEvent,
} from '../../src/index.js';

type Json = Record<string, unknown>;

const FIXTURE = JSON.parse(
  readFileSync(new URL('../fixtures/ledger/converge-envelopes.json', import.meta.url), 'utf8'),
) as Json[];

const clone = <T>(value: T): T => structuredClone(value);
const eventOf = (kind: string, index = 0): Json => {
  const found = FIXTURE.filter((e) => (e.event as Json).type === kind)[index];
  if (found === undefined) throw new Error(`fixture has no ${kind} #${index}`);
  return clone(found.event as Json);
};

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

describe('converge fixture envelopes', () => {
  it('covers all 14 variants and the nested shapes that matter', () => {
    const kinds = new Set(FIXTURE.map((e) => (e.event as Json).type));
    expect([...kinds].sort()).toEqual([...EXPERIENCE_EVENT_KINDS].sort());
    const text = JSON.stringify(FIXTURE);
    for (const needle of [
      '"type":"Local"',
      '"type":"Remote"',
      '"type":"Kernel"',
      '"type":"Routing"',
      '"type":"Recall"',
      '"resource":{"Other":',
      '"artifact_kind":{"Other":',
      '"verdict":{"Reject":{"reason":"too broad"}}',
      '"verdict":{"Reject":{"reason":null}}',
      '"verdict":"Approve"',
      '"stop_reason":{"Error":{',
      '"repetition_penalty":1.1',
    ]) {
      expect(text, needle).toContain(needle);
    }
  });

  it.each(FIXTURE.map((e, i) => [i + 1, (e.event as Json).type, e] as const))(
    'envelope %i (%s) parses and re-serialises byte for byte',
    (_n, _kind, envelope) => {
      const parsed = parseEnvelope(clone(envelope));
      expect(JSON.stringify(parsed)).toBe(JSON.stringify(envelope));
      expect(JSON.stringify(parseExperienceEvent(clone(envelope.event)))).toBe(
        JSON.stringify(envelope.event),
      );
    },
  );
});

describe('normalisation', () => {
  it('writes fields in serde declaration order whatever the input order', () => {
    const shuffled = {
      data: {
        observed: null,
        limit: '1024',
        resource: 'Tokens',
        chain_id: 'chain-1',
      },
      type: 'BudgetExceeded',
    };
    expect(JSON.stringify(parseExperienceEvent(shuffled))).toBe(
      '{"type":"BudgetExceeded","data":{"chain_id":"chain-1","resource":"Tokens","limit":"1024","observed":null}}',
    );
  });

  it('fills missing Option fields with null, as serde writes them', () => {
    const event = parseExperienceEvent({
      type: 'OutcomeRecorded',
      data: { chain_id: 'c', step: 'Planning', passed: true },
    });
    expect(event).toEqual({
      type: 'OutcomeRecorded',
      data: {
        chain_id: 'c',
        step: 'Planning',
        passed: true,
        stop_reason: null,
        latency_ms: null,
        tokens: null,
        cost_microdollars: null,
        backend: null,
      },
    });
    expect('metadata' in event.data).toBe(false);
  });

  it('keeps the skipped-when-empty fields absent when absent and present when present', () => {
    const withoutContradiction = parseExperienceEvent(eventOf('HypothesisResolved', 0));
    expect(Object.keys(withoutContradiction.data)).not.toContain('contradiction_id');
    const withContradiction = parseExperienceEvent(eventOf('HypothesisResolved', 1));
    expect(withContradiction.data).toMatchObject({ contradiction_id: 'tension-4' });
    const withMetadata = parseExperienceEvent(eventOf('OutcomeRecorded', 0));
    expect(withMetadata.data).toMatchObject({ metadata: { 'openrouter-cost': '0.0015' } });
  });

  it('keeps unknown fields: in input order in open types, after the known ones elsewhere', () => {
    const event = eventOf('ProposalCreated');
    const proposal = (event.data as Json).proposal as Json;
    const trace = proposal.trace_link as Json;
    trace.sampler = { future_knob: 'x', temperature: 0.2, nested: { a: [1, 2] } };
    proposal.provenance_note = 'from converge 2.x';
    const parsed = parseExperienceEvent({ data: event.data, type: event.type }) as Extract<
      ExperienceEvent,
      { type: 'ProposalCreated' }
    >;
    expect(JSON.stringify(parsed.data.proposal.trace_link)).toContain(
      '"sampler":{"future_knob":"x","temperature":0.2,"nested":{"a":[1,2]}}',
    );
    const keys = Object.keys(parsed.data.proposal);
    expect(keys.at(-1)).toBe('provenance_note');
    expect(keys.slice(0, 8)).toEqual([
      'id',
      'kind',
      'payload',
      'structured_payload',
      'trace_link',
      'contract_results',
      'requires_human',
      'confidence',
    ]);
  });

  it('accepts floats written as integers and integers written with .0', () => {
    const event = eventOf('ReplayTraceRecorded');
    const trace = (event.data as Json).trace_link as Json;
    trace.temperature = 0;
    trace.top_p = 1;
    trace.max_tokens = JSON.parse('512.0') as number;
    expect(() => parseExperienceEvent(event)).not.toThrow();
  });
});

describe('kinds and index keys', () => {
  it('lists the 14 kinds in converge order and recognises them', () => {
    expect(EXPERIENCE_EVENT_KINDS).toHaveLength(14);
    expect(EXPERIENCE_EVENT_KINDS[0]).toBe('ProposalCreated');
    expect(EXPERIENCE_EVENT_KINDS[13]).toBe('GateDecisionRecorded');
    expect(Object.isFrozen(EXPERIENCE_EVENT_KINDS)).toBe(true);
    expect(isExperienceEventKind('FactPromoted')).toBe(true);
    expect(isExperienceEventKind('factPromoted')).toBe(false);
    expect(isExperienceEventKind(7)).toBe(false);
  });

  it('gives each event its kind, chain id and trace link id', () => {
    const chainKinds = new Set([
      'ProposalCreated',
      'ProposalValidated',
      'OutcomeRecorded',
      'BudgetExceeded',
      'HypothesisResolved',
    ]);
    for (const envelope of FIXTURE) {
      const event = parseExperienceEvent(envelope.event);
      const data = (envelope.event as Json).data as Json;
      expect(eventKind(event)).toBe((envelope.event as Json).type);
      expect(eventChainId(event)).toBe(chainKinds.has(event.type) ? data.chain_id : undefined);
      expect(eventTraceLinkId(event)).toBe(
        event.type === 'ReplayTraceRecorded' ? data.trace_link_id : undefined,
      );
    }
    expect(eventTraceLinkId(parseExperienceEvent(eventOf('ReplayTraceRecorded')))).toBe('trace-2');
  });
});

describe('HITL gate shapes', () => {
  it('defaults the timeout policy to 1800 s then Reject, in serde shape', () => {
    expect(JSON.stringify(DEFAULT_TIMEOUT_POLICY)).toBe('{"timeout_secs":1800,"action":"Reject"}');
    expect(Object.isFrozen(DEFAULT_TIMEOUT_POLICY)).toBe(true);
  });

  it('fills a Reject verdict without a reason with null', () => {
    const event = eventOf('GateDecisionRecorded', 2);
    ((event.data as Json).decision as Json).verdict = { Reject: {} };
    expect(JSON.stringify(parseExperienceEvent(event))).toContain(
      '"verdict":{"Reject":{"reason":null}}',
    );
  });
});

type Mutation = (event: Json) => void;
const data = (event: Json): Json => event.data as Json;

const BAD: readonly (readonly [string, string, Mutation, string])[] = [
  ['unknown tag', 'FactPromoted', (e) => (e.type = 'FactPromotedd'), 'type'],
  ['missing tag', 'FactPromoted', (e) => delete e.type, 'type'],
  ['missing data', 'FactPromoted', (e) => delete e.data, 'data'],
  ['missing field', 'BudgetExceeded', (e) => delete data(e).chain_id, 'data.chain_id'],
  ['wrong type', 'FactPromoted', (e) => (data(e).requires_human = 'yes'), 'data.requires_human'],
  ['negative u64', 'OutcomeRecorded', (e) => (data(e).latency_ms = -1), 'data.latency_ms'],
  ['fractional u64', 'OutcomeRecorded', (e) => (data(e).tokens = 1.5), 'data.tokens'],
  ['u64 beyond 2^53', 'OutcomeRecorded', (e) => (data(e).tokens = 2 ** 60), 'data.tokens'],
  [
    'u32 beyond 2^32',
    'HypothesisResolved',
    (e) => (data(e).formed_cycle = 2 ** 32),
    'data.formed_cycle',
  ],
  ['NaN f64', 'HypothesisResolved', (e) => (data(e).confidence = Number.NaN), 'data.confidence'],
  ['Infinity f64', 'HypothesisResolved', (e) => (data(e).confidence = Infinity), 'data.confidence'],
  ['string f64', 'HypothesisResolved', (e) => (data(e).confidence = '0.5'), 'data.confidence'],
  [
    'NaN inside a JSON payload',
    'ProposalCreated',
    (e) => ((data(e).proposal as Json).structured_payload = { a: [1, Number.NaN] }),
    'data.proposal.structured_payload.a[1]',
  ],
  [
    'unknown trace type',
    'ProposalCreated',
    (e) => (((data(e).proposal as Json).trace_link as Json).type = 'Cloud'),
    'data.proposal.trace_link.type',
  ],
  [
    'negative seed',
    'ProposalCreated',
    (e) => (((data(e).proposal as Json).trace_link as Json).seed = -42),
    'data.proposal.trace_link.seed',
  ],
  [
    'wrongly typed known field of an open type',
    'ProposalCreated',
    (e) => ((((data(e).proposal as Json).trace_link as Json).sampler as Json).top_k = 'forty'),
    'data.proposal.trace_link.sampler.top_k',
  ],
  [
    'missing field in an array element',
    'ProposalValidated',
    (e) => delete (data(e).contract_results as Json[])[1]!.passed,
    'data.contract_results[1].passed',
  ],
  ['unknown DecisionStep', 'OutcomeRecorded', (e) => (data(e).step = 'Thinking'), 'data.step'],
  [
    'Other with a number',
    'BudgetExceeded',
    (e) => (data(e).resource = { Other: 1 }),
    'data.resource.Other',
  ],
  [
    'unknown resource',
    'BudgetExceeded',
    (e) => (data(e).resource = { Custom: 'x' }),
    'data.resource',
  ],
  [
    'bad StopReason Error category',
    'OutcomeRecorded',
    (e) => (data(e).stop_reason = { Error: { message: 'm', category: 'Cosmic' } }),
    'data.stop_reason.Error.category',
  ],
  [
    'unknown StopReason',
    'OutcomeRecorded',
    (e) => (data(e).stop_reason = 'Bored'),
    'data.stop_reason',
  ],
  [
    'metadata value not a string',
    'OutcomeRecorded',
    (e) => (data(e).metadata = { provider: 3 }),
    'data.metadata.provider',
  ],
  [
    'Reject reason not a string',
    'GateDecisionRecorded',
    (e) => ((data(e).decision as Json).verdict = { Reject: { reason: 5 } }),
    'data.decision.verdict.Reject.reason',
  ],
  [
    'unknown timeout action',
    'GateDecisionRecorded',
    (e) => (((data(e).request as Json).timeout as Json).action = 'Ignore'),
    'data.request.timeout.action',
  ],
  [
    'empty timestamp',
    'GateDecisionRecorded',
    (e) => ((data(e).request as Json).requested_at = ''),
    'data.request.requested_at',
  ],
  [
    'timestamp over 64 characters',
    'ArtifactStateTransitioned',
    (e) => ((data(e).event as Json).timestamp = '2026-01-21T12:00:00Z'.padEnd(65, '0')),
    'data.event.timestamp',
  ],
  [
    'timestamp that is not a string',
    'ArtifactRollbackRecorded',
    (e) => ((data(e).rollback as Json).rolled_back_at = 1_768_996_808),
    'data.rollback.rolled_back_at',
  ],
  [
    'hypothesis confidence above 1 (3.9 unit interval)',
    'HypothesisResolved',
    (e) => (data(e).confidence = 1.5),
    'data.confidence',
  ],
  [
    'recall score above 1 (3.9 unit interval)',
    'ProposalCreated',
    (e) =>
      ((((data(e).proposal as Json).trace_link as Json).recall as Json).candidate_scores = [
        0.5, 1.01,
      ]),
    'data.proposal.trace_link.recall.candidate_scores[1]',
  ],
  [
    'recall threshold above 1 (3.9 unit interval)',
    'PolicySnapshotCaptured',
    (e) => (((data(e).policy as Json).policy as Json).recall_min_score = 1.2),
    'data.policy.policy.recall_min_score',
  ],
  [
    'proposal confidence below 0 (3.9 unit interval)',
    'ProposalCreated',
    (e) => ((data(e).proposal as Json).confidence = -0.1),
    'data.proposal.confidence',
  ],
  [
    'bad content hash',
    'PolicySnapshotCaptured',
    (e) => (data(e).snapshot_hash = 'xyz'),
    'data.snapshot_hash',
  ],
  [
    'unknown policy kind',
    'PolicySnapshotCaptured',
    (e) => ((data(e).policy as Json).type = 'Security'),
    'data.policy.type',
  ],
  [
    'unknown lifecycle state',
    'ArtifactStateTransitioned',
    (e) => ((data(e).event as Json).to_state = 'Retired'),
    'data.event.to_state',
  ],
];

describe('bad input', () => {
  it.each(BAD)('%s → INVALID_EVENT naming the path', (_name, kind, mutate, path) => {
    const event = eventOf(kind);
    mutate(event);
    const error = invalid(() => parseExperienceEvent(event));
    expect(error.path).toBe(path);
    expect(error.message).toContain(path === '' ? 'Invalid experience event' : `at ${path}:`);
  });

  it('says a missing field is missing', () => {
    const event = eventOf('BudgetExceeded');
    delete data(event).limit;
    expect(invalid(() => parseExperienceEvent(event)).message).toContain(
      'at data.limit: missing field',
    );
  });

  it('rejects values that are not events at all', () => {
    for (const value of [null, 'ProposalCreated', 42, [], undefined]) {
      expect(invalid(() => parseExperienceEvent(value)).path).toBe(
        Array.isArray(value) || typeof value !== 'object' || value === null ? '' : 'type',
      );
    }
  });

  it('lists the known kinds when the tag is unknown', () => {
    expect(invalid(() => parseExperienceEvent({ type: 'Nope', data: {} })).message).toContain(
      'ProposalCreated, ProposalValidated',
    );
  });
});

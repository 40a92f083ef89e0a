import { describe, expect, it } from 'vitest';
import {
  KERNEL_EVENT_TYPES,
  OXIOS_EVENT_TYPES,
  decodeKernelEvent,
  decodeSerdeEvent,
  encodeKernelEvent,
  encodeSerdeEvent,
  formatEventDebug,
  fromSerdeEvent,
  isKernelError,
  parseKernelEvent,
  toSerdeEvent,
  type KernelEvent,
} from '../../src/index.js';
import { rustDebugF64, rustDisplayF64 } from '../../src/formats/oxios-kernel-event.js';
import { everyEvent, sampleEvent } from '../helpers/events.js';

const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
const ID2 = '0190a6e2-7c1b-7abc-8def-0123456789ab';

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(isKernelError(thrown), `expected a KernelError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
}

describe('kernel event variants', () => {
  it('has every oxios variant first, then kerno’s own', () => {
    expect(OXIOS_EVENT_TYPES).toEqual([
      'AgentCreated',
      'AgentStarted',
      'AgentStopped',
      'AgentFailed',
      'MessageReceived',
      'SeedCreated',
      'EvaluationComplete',
      'PhaseStarted',
      'PhaseCompleted',
      'AgentOutput',
      'ApprovalRequested',
      'ApprovalResolved',
      'MemoryStored',
      'MemoryRecalled',
      'AgentGroupCreated',
      'AgentGroupMemberCompleted',
      'ProjectCreated',
      'ProjectActivated',
      'EvolutionStarted',
      'EvolutionMaxReached',
    ]);
    expect(KERNEL_EVENT_TYPES).toEqual(
      expect.arrayContaining(['ModuleStateChanged', 'ConfigChanged', 'RecoveryDecided']),
    );
  });
});

describe('kerno JSON codec', () => {
  it.each(everyEvent([1, 2, 3, 4]).map((e) => [e.type, e] as const))(
    'round-trips %s',
    (_type, event) => {
      const json = encodeKernelEvent(event);
      expect(JSON.parse(json)).toMatchObject({ type: event.type });
      const back = decodeKernelEvent(json);
      expect(back).toEqual(event);
      expect(encodeKernelEvent(back)).toBe(json);
    },
  );

  it('writes the flat form with the type first', () => {
    expect(encodeKernelEvent({ type: 'AgentCreated', id: ID, name: 'researcher' })).toBe(
      `{"type":"AgentCreated","id":"${ID}","name":"researcher"}`,
    );
  });

  it('rejects unknown types, missing, mistyped and unexpected fields with typed errors', () => {
    expectCode(() => decodeKernelEvent('{"type":"NoSuchEvent"}'), 'UNKNOWN_EVENT_TYPE');
    expectCode(
      () => decodeKernelEvent('{"type":"AgentCreated","id":"' + ID + '"}'),
      'INVALID_EVENT',
    );
    expectCode(
      () => decodeKernelEvent('{"type":"AgentCreated","id":"not-a-uuid","name":"x"}'),
      'INVALID_EVENT',
    );
    expectCode(
      () => decodeKernelEvent('{"type":"AgentStarted","id":"' + ID + '","extra":1}'),
      'INVALID_EVENT',
    );
    expectCode(
      () => decodeKernelEvent('{"type":"MemoryRecalled","query":"q","count":-1}'),
      'INVALID_EVENT',
    );
    expectCode(
      () => decodeKernelEvent('{"type":"MemoryRecalled","query":"q","count":1.5}'),
      'INVALID_EVENT',
    );
    expectCode(
      () =>
        decodeKernelEvent(
          `{"type":"EvolutionStarted","seedId":"${ID}","newSeedId":"${ID}","iteration":4294967296}`,
        ),
      'INVALID_EVENT',
    );
    expectCode(
      () => decodeKernelEvent('{"type":"PhaseStarted","sessionId":"s","phase":"interview"}'),
      'INVALID_EVENT',
    );
    expectCode(() => decodeKernelEvent('{"type":'), 'INVALID_EVENT');
    expectCode(() => decodeKernelEvent('[]'), 'INVALID_EVENT');
    expectCode(() => decodeKernelEvent('null'), 'INVALID_EVENT');
    expectCode(() => parseKernelEvent({ id: ID }), 'INVALID_EVENT');
  });

  it('names the field that is wrong', () => {
    try {
      decodeKernelEvent('{"type":"AgentFailed","id":"' + ID + '","error":42}');
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('AgentFailed.error must be a string');
    }
  });

  it('normalises upper-case and simple UUIDs', () => {
    const e = parseKernelEvent({ type: 'AgentStarted', id: ID.toUpperCase().replace(/-/g, '') });
    expect(e).toEqual({ type: 'AgentStarted', id: ID });
  });
});

describe('serde wire codec (oxios)', () => {
  it.each(everyEvent([1, 2, 3, 4]).map((e) => [e.type, e] as const))(
    'round-trips %s',
    (_type, event) => {
      // 1.0.1 has no AgentStopped.success (kerno's optional addition): the 1.0.1 form drops it,
      // the 1.43 form keeps it.
      const in101 =
        event.type === 'AgentStopped' ? { type: event.type, id: event.id } : (event as KernelEvent);
      const json = encodeSerdeEvent(event);
      const back = decodeSerdeEvent(json);
      expect(back).toEqual(in101);
      expect(encodeSerdeEvent(back)).toBe(json);
      expect(fromSerdeEvent(toSerdeEvent(event))).toEqual(in101);
      if (event.type === 'AgentStopped') {
        const json143 = encodeSerdeEvent(event, { version: '1.43' });
        expect(decodeSerdeEvent(json143)).toEqual({ success: false, ...event });
      }
    },
  );

  it('reads and writes exactly what serde_json writes', () => {
    const samples = [
      `{"AgentCreated":{"id":"${ID}","name":"agent-1"}}`,
      `{"PhaseCompleted":{"session_id":"s-1","phase":"Evaluate","result_summary":"ok"}}`,
      `{"EvolutionMaxReached":{"seed_id":"${ID}","final_score":1.0,"iterations":10}}`,
      `{"EvolutionMaxReached":{"seed_id":"${ID}","final_score":0.85,"iterations":3}}`,
      `{"AgentGroupMemberCompleted":{"group_id":"${ID}","agent_id":"${ID2}","success":true}}`,
      `{"MemoryRecalled":{"query":"test query","count":5}}`,
    ];
    for (const json of samples) expect(encodeSerdeEvent(decodeSerdeEvent(json))).toBe(json);
  });

  it('ignores unknown fields like serde, but not missing or mistyped ones', () => {
    expect(decodeSerdeEvent(`{"AgentStarted":{"id":"${ID}","later_field":1}}`)).toEqual({
      type: 'AgentStarted',
      id: ID,
    });
    expectCode(() => decodeSerdeEvent(`{"AgentStarted":{}}`), 'INVALID_EVENT');
    expectCode(
      () => decodeSerdeEvent(`{"AgentStarted":{"id":"${ID}"},"AgentStopped":{"id":"${ID}"}}`),
      'INVALID_EVENT',
    );
    expectCode(() => decodeSerdeEvent(`{"Nope":{}}`), 'UNKNOWN_EVENT_TYPE');
    expectCode(() => decodeSerdeEvent(`{"AgentStarted":"${ID}"}`), 'INVALID_EVENT');
    expectCode(() => decodeSerdeEvent(`"AgentStarted"`), 'INVALID_EVENT');
  });

  it('reads a missing Option field as null', () => {
    expect(decodeSerdeEvent(`{"ModuleStateChanged":{"module_id":"m","to":"running"}}`)).toEqual({
      type: 'ModuleStateChanged',
      moduleId: 'm',
      from: null,
      to: 'running',
    });
  });
});

describe('Rust Debug rendering (the oxios audit resource)', () => {
  it('renders struct variants as Rust does', () => {
    const cases: [KernelEvent, string][] = [
      [
        { type: 'AgentCreated', id: ID, name: 'say "hi"\n' },
        `AgentCreated { id: ${ID}, name: "say \\"hi\\"\\n" }`,
      ],
      [
        { type: 'PhaseStarted', sessionId: 's', phase: 'Interview' },
        'PhaseStarted { session_id: "s", phase: Interview }',
      ],
      [
        { type: 'EvolutionMaxReached', seedId: ID, finalScore: 1, iterations: 2 },
        `EvolutionMaxReached { seed_id: ${ID}, final_score: 1.0, iterations: 2 }`,
      ],
      [{ type: 'MemoryRecalled', query: 'q', count: 3 }, 'MemoryRecalled { query: "q", count: 3 }'],
      [
        { type: 'ModuleStateChanged', moduleId: 'm', from: null, to: 'running' },
        'ModuleStateChanged { module_id: "m", from: None, to: Running }',
      ],
    ];
    for (const [event, text] of cases) expect(formatEventDebug(event)).toBe(text);
  });

  it('formats floats like Rust Debug and Display', () => {
    expect([1, 0.85, 1e16, 1.5e-7, 0.0001, 123.5, -2].map(rustDebugF64)).toEqual([
      '1.0',
      '0.85',
      '1e16',
      '1.5e-7',
      '0.0001',
      '123.5',
      '-2.0',
    ]);
    expect([1, 0.85, 1e21, 1.5e-7, -2].map(rustDisplayF64)).toEqual([
      '1',
      '0.85',
      '1000000000000000000000',
      '0.00000015',
      '-2',
    ]);
  });

  it('renders every variant', () => {
    for (const type of KERNEL_EVENT_TYPES) {
      expect(formatEventDebug(sampleEvent(type))).toMatch(new RegExp(`^${type} \\{ .+ \\}$`, 's'));
    }
  });
});

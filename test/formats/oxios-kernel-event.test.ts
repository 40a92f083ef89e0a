/**
 * oxios-kernel 1.43 kernel events. The vectors are written here from upstream's definitions
 * (event_bus.rs: variant and field names, declaration order, field types, serde attributes) by
 * serde's rules: externally tagged `{"Variant":{…}}`, snake_case fields in declaration order,
 * `Option::None` as `null` unless `skip_serializing_if`, UUIDs lower-case hyphenated, compact.
 */
import { describe, expect, it } from 'vitest';
import {
  auditActionFor,
  auditActionForOxios,
  auditActorFor,
  auditActorForOxios,
  auditResourceForOxios,
  createOxiosEvent,
  decodeKernelEvent,
  encodeKernelEvent,
  formatEventDebug,
  decodeOxiosEvent,
  decodeSerdeEvent,
  encodeAuditAction,
  encodeOxiosEvent,
  encodeSerdeEvent,
  fromOxiosEvent,
  isAuditedOxiosEvent,
  isKernelError,
  oxiosEventTypes,
  parseKernelEvent,
  toOxiosEvent,
  type KernelEvent,
} from '../../src/index.js';
import { canonicalKernelEventJson } from '../../src/model/kernel-event.js';

const U1 = '67e55044-10b1-426f-9247-bb680e5fe0c8';
const U2 = '0190a6e2-7c1b-7abc-8def-0123456789ab';

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(isKernelError(thrown), `expected a KernelError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
  if (message) expect((thrown as Error).message).toMatch(message);
}

interface Vector {
  /** serde_json's compact output. */
  readonly json: string;
  /** The set it reads as: a shape both versions share reads as 1.0.1. */
  readonly version: '1.0.1' | '1.43';
  /** oxios's audit action, compact (`{"type":…,"data":{…}}`). */
  readonly action: string;
  readonly actor: string;
}

const other = (detail: string): string => JSON.stringify({ type: 'Other', data: { detail } });

/** Every 1.43 variant, several twice (Option present / absent, bool true / false). */
const VECTORS: readonly Vector[] = [
  {
    json: `{"AgentCreated":{"id":"${U1}","name":"researcher","session_id":"s-1"}}`,
    version: '1.43',
    action: '{"type":"AgentSpawn","data":{"task_type":"researcher"}}',
    actor: U1,
  },
  {
    json: `{"AgentStarted":{"id":"${U1}","session_id":null}}`,
    version: '1.43',
    action: '{"type":"AgentSpawn","data":{"task_type":"started"}}',
    actor: U1,
  },
  {
    json: `{"AgentStopped":{"id":"${U1}","success":true,"session_id":"s-1"}}`,
    version: '1.43',
    action: '{"type":"AgentExit","data":{"reason":"completed"}}',
    actor: U1,
  },
  {
    json: `{"AgentStopped":{"id":"${U1}","success":false,"session_id":null}}`,
    version: '1.43',
    action: '{"type":"AgentExit","data":{"reason":"stopped"}}',
    actor: U1,
  },
  {
    json: `{"AgentFailed":{"id":"${U1}","error":"boom","session_id":null}}`,
    version: '1.43',
    action: '{"type":"AgentExit","data":{"reason":"boom"}}',
    actor: U1,
  },
  {
    json: `{"MessageReceived":{"from":"${U1}","content":"hi"}}`,
    version: '1.0.1',
    action: other('message: hi'),
    actor: U1,
  },
  {
    json: `{"AgentOutput":{"session_id":"s-1","agent_id":"${U1}","output":"done"}}`,
    version: '1.0.1',
    action: other('agent_output:done'),
    actor: U1,
  },
  {
    json: `{"ApprovalRequested":{"id":"${U2}","tool_name":"bash","action":"exec","resource":"/bin/rm","reason":"dangerous","session_id":"s-1"}}`,
    version: '1.43',
    action: other(`approval_requested:${U2}:exec:/bin/rm`),
    actor: 'system',
  },
  {
    json: `{"ApprovalResolved":{"id":"${U2}","approved":true}}`,
    version: '1.0.1',
    action: other(`approval_resolved:${U2}:true`),
    actor: 'system',
  },
  {
    json: `{"PathAccessRequested":{"id":"${U2}","tool_name":"read","path":"/etc/passwd","mode":"read","agent_name":"coder","reason":"outside allowed_paths","session_id":null}}`,
    version: '1.43',
    action: other(`path_access_requested:${U2}:read:/etc/passwd`),
    actor: 'system',
  },
  {
    json: `{"AgentGroupCreated":{"group_id":"${U2}","agent_count":3}}`,
    version: '1.0.1',
    action: other(`group_created:${U2}:3agents`),
    actor: 'system',
  },
  {
    json: `{"AgentGroupMemberCompleted":{"group_id":"${U2}","agent_id":"${U1}","success":false}}`,
    version: '1.0.1',
    action: other(`group_member_completed:${U2}:${U1}:false`),
    actor: U1,
  },
  {
    json: `{"ProjectCreated":{"project_id":"${U2}","name":"kerno","source":"manual"}}`,
    version: '1.0.1',
    action: other('project_created:kerno:manual'),
    actor: 'system',
  },
  {
    json: `{"ProjectActivated":{"project_id":"${U2}","name":"kerno"}}`,
    version: '1.0.1',
    action: other('project_activated:kerno'),
    actor: `project:${U2}`,
  },
  {
    // `context` is skip_serializing_if = "Option::is_none"; tool_args is a serde_json::Value.
    json: '{"ToolExecutionStarted":{"session_id":"s-1","tool_name":"read_file","tool_call_id":"call_1","tool_args":{"path":"/src/main.rs","limit":1.0}}}',
    version: '1.43',
    action: other('tool_started:read_file'),
    actor: 'session:s-1',
  },
  {
    json: '{"ToolExecutionStarted":{"session_id":"s-2","tool_name":"web_search","tool_call_id":"call_2","tool_args":{"q":"rust"},"context":{"kind":"WebSearch"}}}',
    version: '1.43',
    action: other('tool_started:web_search'),
    actor: 'session:s-2',
  },
  {
    json: '{"ToolExecutionFinished":{"session_id":"s-1","tool_call_id":"call_1","tool_name":"read_file","duration_ms":234,"is_error":true,"output_summary":"ENOENT"}}',
    version: '1.43',
    action: other('tool_finished:read_file:error'),
    actor: 'session:s-1',
  },
  {
    json: '{"ToolExecutionFinished":{"session_id":"s-1","tool_call_id":"call_3","tool_name":"bash","duration_ms":0,"is_error":false,"output_summary":""}}',
    version: '1.43',
    action: other('tool_finished:bash:ok'),
    actor: 'session:s-1',
  },
  {
    json: `{"ToolExecutionProgress":{"session_id":"s-1","tool_call_id":"call_42","tool_name":"browse","progress":"loading","tab_id":"${U2}","context":{"kind":"PageVisit","url":"https://example.com"}}}`,
    version: '1.43',
    action: other(`tool_progress:browse:tab=${U2}:PageVisit`),
    actor: 'session:s-1',
  },
  {
    json: '{"ToolExecutionProgress":{"session_id":"s-1","tool_call_id":"c","tool_name":"bash","progress":"42%"}}',
    version: '1.43',
    action: other('tool_progress:bash'),
    actor: 'session:s-1',
  },
  {
    json: '{"MemoryRecallUsed":{"session_id":"s-1","query":"rust errors","count":3,"source":"warm"}}',
    version: '1.43',
    action: '{"type":"MemoryRead","data":{"entry_id":"recall:rust errors:3results"}}',
    actor: 'session:s-1',
  },
  {
    json: '{"TokenUsageUpdate":{"session_id":"s-1","input_tokens":1234,"output_tokens":567}}',
    version: '1.43',
    action: other('tokens:in=1234:out=567'),
    actor: 'session:s-1',
  },
  {
    json: '{"ReasoningFragment":{"session_id":"s-1","content":"thinking","source":"chain_of_thought"}}',
    version: '1.43',
    action: other('reasoning:chain_of_thought'),
    actor: 'session:s-1',
  },
  {
    json: '{"ToolArgsDelta":{"session_id":"s-1","tool_call_id":"call_1","args_delta":"{\\"pa"}}',
    version: '1.43',
    action: other('tool_args_delta:call_1'),
    actor: 'session:s-1',
  },
  {
    json: '{"CompactionTriggered":{"session_id":null,"source":"provider-reported"}}',
    version: '1.43',
    action: other('compaction:triggered:provider-reported'),
    actor: 'system',
  },
  {
    json: '{"CompactionTriggered":{"session_id":"s-1","source":"bytes/4 heuristic (cold start)"}}',
    version: '1.43',
    action: other('compaction:triggered:bytes/4 heuristic (cold start)'),
    actor: 'session:s-1',
  },
  {
    json: '{"CalendarEventCreated":{"uid":"u1","title":"Standup","start":"2026-12-03T09:00:00Z","end":"2026-12-03T09:15:00Z"}}',
    version: '1.43',
    action: other('calendar:created:u1:Standup'),
    actor: 'system',
  },
  {
    json: '{"CalendarEventUpdated":{"uid":"u1","title":"Standup"}}',
    version: '1.43',
    action: other('calendar:updated:u1:Standup'),
    actor: 'system',
  },
  {
    json: '{"CalendarEventDeleted":{"uid":"u1","title":"Standup"}}',
    version: '1.43',
    action: other('calendar:deleted:u1:Standup'),
    actor: 'system',
  },
  {
    json: `{"MemoCreated":{"id":"${U2}"}}`,
    version: '1.43',
    action: other(`memo:created:${U2}`),
    actor: 'system',
  },
  {
    json: `{"MemoDeleted":{"id":"${U2}"}}`,
    version: '1.43',
    action: other(`memo:deleted:${U2}`),
    actor: 'system',
  },
  {
    json: '{"EmailSent":{"subject":"Report","message_id":"<m1@x>","template_name":"weekly"}}',
    version: '1.43',
    action: other('email:sent:Report (msg=<m1@x>, tpl=Some("weekly"))'),
    actor: 'system',
  },
  {
    json: '{"EmailSent":{"subject":"Hi","message_id":"<m2@x>"}}',
    version: '1.43',
    action: other('email:sent:Hi (msg=<m2@x>, tpl=None)'),
    actor: 'system',
  },
  {
    json: '{"KnowledgePersisted":{"session_id":"s-1","message_index":4,"path":"notes/a.md","source":"hook"}}',
    version: '1.43',
    action: other('knowledge:persisted:s-1:4:notes/a.md:hook'),
    actor: 'session:s-1',
  },
  {
    json: '{"KnowledgeRemoved":{"session_id":"s-1","message_index":4}}',
    version: '1.43',
    action: other('knowledge:removed:s-1:4'),
    actor: 'session:s-1',
  },
  {
    json: '{"AskUserRequest":{"id":"q1","question":"Proceed?","options":["yes","no"]}}',
    version: '1.43',
    action: other('ask_user:q1:Proceed?'),
    actor: 'system',
  },
  {
    json: '{"AskUserRequest":{"id":"q2","question":"Why?","options":[]}}',
    version: '1.43',
    action: other('ask_user:q2:Why?'),
    actor: 'system',
  },
  {
    json: '{"PersonaCreated":{"id":"p1","name":"Dev","enabled":true,"source":"agent"}}',
    version: '1.43',
    action: other('persona:created:p1:Dev:agent'),
    actor: 'system',
  },
  {
    json: '{"PersonaUpdated":{"id":"p1","name":"Dev","source":"ui"}}',
    version: '1.43',
    action: other('persona:updated:p1:Dev:ui'),
    actor: 'system',
  },
  {
    json: '{"IntegrationInstallStarted":{"job_id":"j1","integration_id":"github","label":"GitHub"}}',
    version: '1.43',
    action: other('install:started:github:j1'),
    actor: 'system',
  },
  {
    json: '{"IntegrationInstallProgress":{"job_id":"j1","integration_id":"github","line":"fetching"}}',
    version: '1.43',
    action: other('install:progress:github:j1'),
    actor: 'system',
  },
  {
    json: '{"IntegrationInstallCompleted":{"job_id":"j1","integration_id":"github","command":"brew install gh","output":"ok","exit_code":0}}',
    version: '1.43',
    action: other('install:completed:github:j1:exit=0'),
    actor: 'system',
  },
  {
    json: '{"IntegrationInstallCompleted":{"job_id":"j2","integration_id":"github","command":"x","output":"","exit_code":null}}',
    version: '1.43',
    action: other('install:completed:github:j2:exit=?'),
    actor: 'system',
  },
  {
    json: '{"IntegrationInstallCompleted":{"job_id":"j3","integration_id":"gh","command":"x","output":"","exit_code":-1}}',
    version: '1.43',
    action: other('install:completed:gh:j3:exit=-1'),
    actor: 'system',
  },
  {
    json: '{"IntegrationInstallFailed":{"job_id":"j1","integration_id":"github","error":"spawn failed"}}',
    version: '1.43',
    action: other('install:failed:github:j1'),
    actor: 'system',
  },
  {
    json: '{"CompressionDelta":{"session_id":"s-1","delta":"summary…"}}',
    version: '1.43',
    action: other('compression'),
    actor: 'system',
  },
  {
    json: '{"CompressionDone":{"session_id":"s-1"}}',
    version: '1.43',
    action: other('compression'),
    actor: 'system',
  },
  {
    json: '{"CompressionFailed":{"session_id":"s-1","error":"timeout"}}',
    version: '1.43',
    action: other('compression'),
    actor: 'system',
  },
];

const variantOf = (json: string): string => Object.keys(JSON.parse(json) as object)[0]!;

describe('oxios 1.43 kernel events', () => {
  it('has a vector for every one of the 39 variants upstream declares', () => {
    const declared = oxiosEventTypes('1.43');
    expect(declared).toHaveLength(39);
    expect(new Set(VECTORS.map((v) => variantOf(v.json)))).toEqual(new Set(declared));
  });

  it('decodes every vector and writes it back byte for byte', () => {
    for (const v of VECTORS) {
      const event = decodeOxiosEvent(v.json);
      expect(event.variant, v.json).toBe(variantOf(v.json));
      expect(event.version, v.json).toBe(v.version);
      expect(event.extra, v.json).toEqual({});
      expect(encodeOxiosEvent(event)).toBe(v.json);
    }
  });

  it('types the fields: UUIDs, u64s, Option as null, lists, serde_json values', () => {
    const started = decodeOxiosEvent(VECTORS.find((v) => v.json.includes('"call_2"'))!.json);
    expect(started.data).toEqual({
      session_id: 's-2',
      tool_name: 'web_search',
      tool_call_id: 'call_2',
      tool_args: { q: 'rust' },
      context: { kind: 'WebSearch' },
    });
    const ask = decodeOxiosEvent('{"AskUserRequest":{"id":"q1","question":"?","options":["a"]}}');
    expect(ask.data['options']).toEqual(['a']);
    const created = decodeOxiosEvent(VECTORS[0]!.json);
    expect(created.data).toEqual({ id: U1, name: 'researcher', session_id: 's-1' });
    const install = decodeOxiosEvent(VECTORS.find((v) => v.json.includes('"j2"'))!.json);
    expect(install.data['exit_code']).toBeNull();
  });

  it('builds every variant from its fields and writes what serde writes', () => {
    for (const v of VECTORS) {
      const decoded = decodeOxiosEvent(v.json);
      const built = createOxiosEvent(decoded.variant, decoded.data, { version: v.version });
      // A serde_json::Value is re-serialised from the parsed value: `1.0` becomes `1`.
      expect(encodeOxiosEvent(built)).toBe(v.json.replace('"limit":1.0', '"limit":1'));
    }
  });

  it('maps every vector to the audit action and actor oxios 1.43 records', () => {
    for (const v of VECTORS) {
      const event = decodeOxiosEvent(v.json);
      expect(encodeAuditAction(auditActionForOxios(event)), v.json).toBe(v.action);
      expect(auditActorForOxios(event), v.json).toBe(v.actor);
    }
  });

  it('does not audit ToolArgsDelta, and audits everything else', () => {
    for (const v of VECTORS) {
      expect(isAuditedOxiosEvent(decodeOxiosEvent(v.json)), v.json).toBe(
        variantOf(v.json) !== 'ToolArgsDelta',
      );
    }
  });

  it('reads an AgentStopped without success as stopped (serde default false), in both sets', () => {
    const old = decodeOxiosEvent(`{"AgentStopped":{"id":"${U1}"}}`);
    expect(old.version).toBe('1.0.1');
    expect(auditActionForOxios(old)).toEqual({ type: 'AgentExit', data: { reason: 'stopped' } });
    const newer = decodeOxiosEvent(`{"AgentStopped":{"id":"${U1}","session_id":"s"}}`);
    expect(newer.version).toBe('1.43');
    expect(newer.data).toEqual({ id: U1, session_id: 's' });
    expect(auditActionForOxios(newer)).toEqual({ type: 'AgentExit', data: { reason: 'stopped' } });
    expect(encodeOxiosEvent(newer)).toBe(`{"AgentStopped":{"id":"${U1}","session_id":"s"}}`);
  });

  it('reads a 1.0.1 ApprovalRequested as 1.0.1 and a 1.43 one as 1.43', () => {
    const old = `{"ApprovalRequested":{"id":"${U2}","action":"deploy","resource":"prod","reason":"r"}}`;
    expect(decodeOxiosEvent(old).version).toBe('1.0.1');
    expect(encodeOxiosEvent(decodeOxiosEvent(old))).toBe(old);
    // 1.43 needs tool_name: a body with session_id but no tool_name is a 1.0.1 one with an
    // unknown member, kept as such.
    const odd = `{"ApprovalRequested":{"id":"${U2}","action":"a","resource":"r","reason":"x","session_id":"s"}}`;
    const event = decodeOxiosEvent(odd);
    expect(event.version).toBe('1.0.1');
    expect(event.extra).toEqual({ session_id: '"s"' });
    expect(encodeOxiosEvent(event)).toBe(odd);
  });

  it('renders Rust Debug as oxios stores it in the audit resource', () => {
    // serde_json::Value fields render from the text as read: floats stay floats.
    expect(
      auditResourceForOxios(
        decodeOxiosEvent(
          '{"ToolExecutionStarted":{"session_id":"s","tool_name":"t","tool_call_id":"c","tool_args":{"n":1.0,"big":18446744073709551615,"e":1e5,"l":[2,-0.5]},"context":{"kind":"x"}}}',
        ),
      ),
    ).toBe(
      'ToolExecutionStarted { session_id: "s", tool_name: "t", tool_call_id: "c", tool_args: Object {"big": Number(18446744073709551615), "e": Number(100000.0), "l": Array [Number(2), Number(-0.5)], "n": Number(1.0)}, context: Some(Object {"kind": String("x")}) }',
    );
    expect(auditResourceForOxios(decodeOxiosEvent(VECTORS[1]!.json))).toBe(
      `AgentStarted { id: ${U1}, session_id: None }`,
    );
    expect(
      auditResourceForOxios(decodeOxiosEvent('{"EmailSent":{"subject":"Hi","message_id":"m"}}')),
    ).toBe('EmailSent { subject: "Hi", message_id: "m", template_name: None }');
    expect(
      auditResourceForOxios(
        decodeOxiosEvent(
          '{"ToolExecutionStarted":{"session_id":"s","tool_name":"t","tool_call_id":"c","tool_args":{"z":[true,null],"a":"x"}}}',
        ),
      ),
    ).toBe(
      'ToolExecutionStarted { session_id: "s", tool_name: "t", tool_call_id: "c", tool_args: Object {"a": String("x"), "z": Array [Bool(true), Null]}, context: None }',
    );
    expect(
      auditResourceForOxios(
        decodeOxiosEvent('{"AskUserRequest":{"id":"q","question":"say \\"hi\\"","options":["a"]}}'),
      ),
    ).toBe('AskUserRequest { id: "q", question: "say \\"hi\\"", options: ["a"] }');
  });
});

describe('unknown variants and fields are kept losslessly', () => {
  const ROUND_TRIPS = [
    // A variant neither version defines (a newer oxios), with floats and nested values.
    '{"FutureEvent":{"a":1.0,"b":{"z":1,"a":[1e5,-0.0,"x\\n\\u0001"]},"c":null}}',
    // Unit and newtype variants of unknown kinds.
    '"Heartbeat"',
    '{"Wrapped":[1,2.50]}',
    '{"Wrapped":"text"}',
    // Unknown fields in a known variant, in their place among the known ones.
    '{"TokenUsageUpdate":{"session_id":"s","input_tokens":1,"cache_read_tokens":2.50,"output_tokens":3}}',
    `{"AgentStarted":{"id":"${U1}","later_field":{"k":[1.0]}}}`,
    // A u64 beyond 2^53 keeps every digit.
    '{"TokenUsageUpdate":{"session_id":"s","input_tokens":18446744073709551615,"output_tokens":9007199254740993}}',
    // Integer-like member names keep their place too.
    '{"FutureEvent":{"b":1,"2":2,"1":1}}',
  ];

  it('decode → encode gives the same bytes', () => {
    for (const json of ROUND_TRIPS)
      expect(encodeOxiosEvent(decodeOxiosEvent(json)), json).toBe(json);
  });

  it('exposes what it does not understand as compact JSON text', () => {
    const future = decodeOxiosEvent(ROUND_TRIPS[0]!);
    expect(future.version).toBeNull();
    expect(future.extra).toEqual({
      a: '1.0',
      b: '{"z":1,"a":[1e5,-0.0,"x\\n\\u0001"]}',
      c: 'null',
    });
    const usage = decodeOxiosEvent(ROUND_TRIPS[4]!);
    expect(usage.version).toBe('1.43');
    expect(usage.data).toEqual({ session_id: 's', input_tokens: 1, output_tokens: 3 });
    expect(usage.extra).toEqual({ cache_read_tokens: '2.50' });
    const big = decodeOxiosEvent(ROUND_TRIPS[6]!);
    expect(big.data['input_tokens']).toBe(18446744073709551615n);
    expect(big.data['output_tokens']).toBe(9007199254740993n);
  });

  it('writes pretty-printed input back compact', () => {
    const pretty = '{\n  "FutureEvent": {\n    "a": [1.0, 2],\n    "s": "a b"\n  }\n}';
    expect(encodeOxiosEvent(decodeOxiosEvent(pretty))).toBe(
      '{"FutureEvent":{"a":[1.0,2],"s":"a b"}}',
    );
  });

  it('rejects what serde rejects, naming the field', () => {
    expectCode(
      () => decodeOxiosEvent('{"TokenUsageUpdate":{"session_id":"s","input_tokens":1}}'),
      'INVALID_EVENT',
      /TokenUsageUpdate\.output_tokens/,
    );
    expectCode(
      () =>
        decodeOxiosEvent(
          '{"TokenUsageUpdate":{"session_id":"s","input_tokens":18446744073709551616,"output_tokens":1}}',
        ),
      'INVALID_EVENT',
      /input_tokens/,
    );
    expectCode(
      () =>
        decodeOxiosEvent(
          '{"TokenUsageUpdate":{"session_id":"s","input_tokens":-1,"output_tokens":1}}',
        ),
      'INVALID_EVENT',
    );
    expectCode(
      () =>
        decodeOxiosEvent(
          '{"IntegrationInstallFailed":{"job_id":"j","integration_id":"i","error":7}}',
        ),
      'INVALID_EVENT',
      /IntegrationInstallFailed\.error/,
    );
    expectCode(
      () => decodeOxiosEvent('{"CompressionDone":{"session_id":"a","session_id":"b"}}'),
      'INVALID_EVENT',
      /twice/,
    );
    expectCode(() => decodeOxiosEvent('{"A":{},"B":{}}'), 'INVALID_EVENT', /exactly one key/);
    expectCode(
      () => decodeOxiosEvent('{"CompressionDone":"s"}'),
      'INVALID_EVENT',
      /must be an object/,
    );
    expectCode(() => decodeOxiosEvent('{not json'), 'INVALID_EVENT');
  });
});

describe('kerno events written as oxios 1.43', () => {
  it('adds 1.43’s fields to the shared variants', () => {
    const cases: [KernelEvent, string][] = [
      [
        { type: 'AgentCreated', id: U1, name: 'n' },
        `{"AgentCreated":{"id":"${U1}","name":"n","session_id":null}}`,
      ],
      [{ type: 'AgentStarted', id: U1 }, `{"AgentStarted":{"id":"${U1}","session_id":null}}`],
      [
        { type: 'AgentStopped', id: U1, success: false },
        `{"AgentStopped":{"id":"${U1}","success":false,"session_id":null}}`,
      ],
      [
        { type: 'AgentFailed', id: U1, error: 'e' },
        `{"AgentFailed":{"id":"${U1}","error":"e","session_id":null}}`,
      ],
      [
        { type: 'ApprovalRequested', id: U2, action: 'deploy', resource: 'prod', reason: 'r' },
        `{"ApprovalRequested":{"id":"${U2}","tool_name":"deploy","action":"deploy","resource":"prod","reason":"r","session_id":null}}`,
      ],
      [
        { type: 'ApprovalResolved', id: U2, approved: false },
        `{"ApprovalResolved":{"id":"${U2}","approved":false}}`,
      ],
    ];
    for (const [event, json] of cases) {
      expect(encodeSerdeEvent(event, { version: '1.43' })).toBe(json);
      // ApprovalResolved did not change: its shape reads as 1.0.1.
      expect(decodeOxiosEvent(json).version).toBe(
        event.type === 'ApprovalResolved' ? '1.0.1' : '1.43',
      );
      // …and reads back into the same kerno event.
      expect(decodeSerdeEvent(json)).toEqual(event);
      expect(fromOxiosEvent(decodeOxiosEvent(json))).toEqual(event);
    }
  });

  it('keeps today’s 1.0.1 shape by default', () => {
    expect(encodeSerdeEvent({ type: 'AgentStopped', id: U1 })).toBe(
      `{"AgentStopped":{"id":"${U1}"}}`,
    );
    expect(encodeSerdeEvent({ type: 'AgentStopped', id: U1 }, { version: '1.0.1' })).toBe(
      `{"AgentStopped":{"id":"${U1}"}}`,
    );
  });

  it('writes kerno’s tool and token events in the 1.43 shape under both versions', () => {
    const started: KernelEvent = {
      type: 'ToolExecutionStarted',
      sessionId: 'run-1',
      toolName: 'charge',
      toolCallId: 'run-1:charge#1',
      toolArgs: {},
    };
    const json =
      '{"ToolExecutionStarted":{"session_id":"run-1","tool_name":"charge","tool_call_id":"run-1:charge#1","tool_args":{}}}';
    expect(encodeSerdeEvent(started, { version: '1.43' })).toBe(json);
    expect(encodeSerdeEvent(started)).toBe(json);
    expect(decodeOxiosEvent(json).version).toBe('1.43');
    expect(decodeSerdeEvent(json)).toEqual(started);
    const usage: KernelEvent = {
      type: 'TokenUsageUpdate',
      sessionId: 'chain-1',
      inputTokens: 0,
      outputTokens: 42,
    };
    expect(encodeSerdeEvent(usage, { version: '1.43' })).toBe(
      '{"TokenUsageUpdate":{"session_id":"chain-1","input_tokens":0,"output_tokens":42}}',
    );
  });

  it('refuses the 1.0.1 variants 1.43 dropped, and keeps kerno’s own as they are', () => {
    expectCode(
      () => encodeSerdeEvent({ type: 'SeedCreated', seedId: U1 }, { version: '1.43' }),
      'INVALID_ARGUMENT',
      /oxios 1\.43 has no SeedCreated.*version 1\.0\.1/,
    );
    const own: KernelEvent = {
      type: 'ModuleStateChanged',
      moduleId: 'm',
      from: null,
      to: 'running',
    };
    const text = '{"ModuleStateChanged":{"module_id":"m","from":null,"to":"running"}}';
    expect(encodeSerdeEvent(own, { version: '1.43' })).toBe(text);
    expect(encodeSerdeEvent(own)).toBe(text);
    const decoded = decodeOxiosEvent(text);
    expect(decoded.version).toBeNull();
    expect(fromOxiosEvent(decoded)).toEqual(own);
    expect(toOxiosEvent(own).extra).toEqual({ module_id: '"m"', from: 'null', to: '"running"' });
  });

  it('has no kerno event for the 1.43 variants kerno’s kernel does not know', () => {
    expectCode(
      () => fromOxiosEvent(decodeOxiosEvent('{"MemoCreated":{"id":"m"}}')),
      'UNKNOWN_EVENT_TYPE',
      /decodeOxiosEvent keeps it/,
    );
    expectCode(() => decodeSerdeEvent('{"MemoCreated":{"id":"m"}}'), 'UNKNOWN_EVENT_TYPE');
  });

  it('writes a float as serde_json (ryu) does, not as Rust Debug', () => {
    const event: KernelEvent = {
      type: 'EvolutionMaxReached',
      seedId: U1,
      finalScore: 5e-5,
      iterations: 1,
    };
    expect(encodeSerdeEvent(event)).toBe(
      `{"EvolutionMaxReached":{"seed_id":"${U1}","final_score":0.00005,"iterations":1}}`,
    );
  });
});

describe('kerno’s tool and token events in kerno’s audit trail', () => {
  it('are audited as oxios 1.43 audits them', () => {
    const events: KernelEvent[] = [
      {
        type: 'ToolExecutionStarted',
        sessionId: 's-1',
        toolName: 'read_file',
        toolCallId: 'call_1',
        toolArgs: { path: '/src/main.rs' },
      },
      {
        type: 'ToolExecutionFinished',
        sessionId: 's-1',
        toolCallId: 'call_1',
        toolName: 'read_file',
        durationMs: 234,
        isError: true,
        outputSummary: 'ENOENT',
      },
      { type: 'TokenUsageUpdate', sessionId: 's-1', inputTokens: 1234, outputTokens: 567 },
    ];
    for (const event of events) {
      const oxios = decodeOxiosEvent(encodeSerdeEvent(event, { version: '1.43' }));
      expect(auditActionFor(event)).toEqual(auditActionForOxios(oxios));
      expect(auditActorFor(event)).toBe(auditActorForOxios(oxios));
      expect(auditActorFor(event)).toBe('session:s-1');
    }
  });
});

describe('AgentStopped.success in kerno’s events', () => {
  it('is written under 1.43, left out under 1.0.1, and audited as completed or stopped', () => {
    const done: KernelEvent = { type: 'AgentStopped', id: U1, success: true };
    const stopped: KernelEvent = { type: 'AgentStopped', id: U1, success: false };
    expect(encodeSerdeEvent(done, { version: '1.43' })).toBe(
      `{"AgentStopped":{"id":"${U1}","success":true,"session_id":null}}`,
    );
    expect(encodeSerdeEvent(done)).toBe(`{"AgentStopped":{"id":"${U1}"}}`);
    expect(auditActionFor(done)).toEqual({ type: 'AgentExit', data: { reason: 'completed' } });
    expect(auditActionFor(stopped)).toEqual({ type: 'AgentExit', data: { reason: 'stopped' } });
    expect(auditActionFor({ type: 'AgentStopped', id: U1 })).toEqual({
      type: 'AgentExit',
      data: { reason: 'stopped' },
    });
    // Read back from oxios 1.43 with its success; a 1.0.1 record stays without one.
    expect(decodeSerdeEvent(encodeSerdeEvent(done, { version: '1.43' }))).toEqual(done);
    expect(decodeSerdeEvent(`{"AgentStopped":{"id":"${U1}"}}`)).toEqual({
      type: 'AgentStopped',
      id: U1,
    });
    expect(decodeKernelEvent(`{"type":"AgentStopped","id":"${U1}"}`)).toEqual({
      type: 'AgentStopped',
      id: U1,
    });
    expect(encodeKernelEvent(done)).toBe(`{"type":"AgentStopped","id":"${U1}","success":true}`);
    expect(formatEventDebug(done)).toBe(`AgentStopped { id: ${U1}, success: true }`);
    expect(formatEventDebug({ type: 'AgentStopped', id: U1 })).toBe(`AgentStopped { id: ${U1} }`);
  });
});

describe('building oxios events and kerno’s JSON fields', () => {
  it('validates what it builds, naming the variant and field', () => {
    expectCode(
      () => createOxiosEvent('SeedCreated', { seed_id: U1 }, { version: '1.43' }),
      'UNKNOWN_EVENT_TYPE',
      /oxios 1\.43 has no kernel event "SeedCreated"/,
    );
    expect(
      encodeOxiosEvent(createOxiosEvent('SeedCreated', { seed_id: U1 }, { version: '1.0.1' })),
    ).toBe(`{"SeedCreated":{"seed_id":"${U1}"}}`);
    expectCode(
      () => createOxiosEvent('MemoCreated', { id: 'm', extra: 1 }),
      'INVALID_EVENT',
      /MemoCreated \(oxios 1\.43\) has no field "extra"/,
    );
    expectCode(() => createOxiosEvent('MemoCreated', {}), 'INVALID_EVENT', /MemoCreated\.id/);
    expectCode(
      () => createOxiosEvent('AgentStarted', { id: 'not-a-uuid' }),
      'INVALID_EVENT',
      /AgentStarted\.id must be a UUID/,
    );
    // Options left out: None is written as null unless serde skips it; defaults as false.
    expect(encodeOxiosEvent(createOxiosEvent('AgentStopped', { id: U1 }))).toBe(
      `{"AgentStopped":{"id":"${U1}","success":false,"session_id":null}}`,
    );
    expect(
      encodeOxiosEvent(
        createOxiosEvent('EmailSent', { subject: 's', message_id: 'm', template_name: null }),
      ),
    ).toBe('{"EmailSent":{"subject":"s","message_id":"m"}}');
    expect(toOxiosEvent({ type: 'AgentStarted', id: U1 }).version).toBe('1.0.1');
  });

  it('keeps a tool call’s arguments as JSON: validated, canonical with sorted keys', () => {
    const event = parseKernelEvent({
      type: 'ToolExecutionStarted',
      sessionId: 's',
      toolName: 't',
      toolCallId: 'c',
      toolArgs: { z: 1, a: { y: [1, 'x'], b: null } },
    });
    expect(canonicalKernelEventJson(event)).toBe(
      '{"sessionId":"s","toolArgs":{"a":{"b":null,"y":[1,"x"]},"z":1},"toolCallId":"c","toolName":"t","type":"ToolExecutionStarted"}',
    );
    for (const toolArgs of [Number.NaN, new Date(0), { f: () => 1 }, undefined]) {
      expectCode(
        () =>
          parseKernelEvent({
            type: 'ToolExecutionStarted',
            sessionId: 's',
            toolName: 't',
            toolCallId: 'c',
            toolArgs,
          }),
        'INVALID_EVENT',
        /toolArgs must be a JSON value/,
      );
    }
  });
});

describe('an optional field left out', () => {
  it('is left out of kerno’s canonical JSON too (what the audit trail stores)', () => {
    const event: KernelEvent = { type: 'AgentStopped', id: U1 };
    expect(canonicalKernelEventJson(event)).toBe(`{"id":"${U1}","type":"AgentStopped"}`);
    expect(canonicalKernelEventJson({ ...event, success: true })).toBe(
      `{"id":"${U1}","success":true,"type":"AgentStopped"}`,
    );
    expect(JSON.parse(canonicalKernelEventJson(event))).toEqual(event);
  });
});

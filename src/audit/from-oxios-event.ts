/**
 * How an oxios kernel event ({@link OxiosEvent}, either version) becomes an audit entry, exactly
 * as that oxios version computes it: 1.0.1's `kernel_event_to_audit_action` / `extract_agent_id`
 * (shared with kerno's own events), and 1.43's, which reports `AgentStopped` as `completed` when
 * `success` is set and `stopped` otherwise, names session-scoped events' actor `session:<id>`,
 * and does not audit `ToolArgsDelta` at all (a per-token stream of argument fragments).
 *
 * @module
 */
import { formatOxiosEventDebug, type OxiosEvent } from '../formats/oxios-event.js';
import { fromOxiosEvent } from '../formats/oxios-kernel-event.js';
import { isKernelEventType } from '../model/kernel-event.js';
import type { AuditAction } from '../formats/oxios-audit-action.js';
import { auditActionFor, auditActorFor } from './from-kernel-event.js';
import { rustDebugString } from '../formats/rust-debug.js';

/** Whether oxios writes an audit entry for the event (`false` only for `ToolArgsDelta`). */
export function isAuditedOxiosEvent(event: OxiosEvent): boolean {
  return event.variant !== 'ToolArgsDelta';
}

/**
 * The audit action oxios records for the event. A variant neither version defines is recorded
 * as `Other { detail: "event:<Variant>" }` (kerno's own variants as kerno records them).
 */
export function auditActionForOxios(event: OxiosEvent): AuditAction {
  if (event.version !== '1.43') {
    if (event.version === '1.0.1' || isKernelEventType(event.variant)) {
      return auditActionFor(fromOxiosEvent(event));
    }
    return { type: 'Other', data: { detail: `event:${event.variant}` } };
  }
  const d = event.data;
  const s = (name: string): string => display(d[name]);
  const other = (detail: string): AuditAction => ({ type: 'Other', data: { detail } });
  switch (event.variant) {
    case 'AgentCreated':
      return { type: 'AgentSpawn', data: { task_type: s('name') } };
    case 'AgentStarted':
      return { type: 'AgentSpawn', data: { task_type: 'started' } };
    case 'AgentStopped':
      return {
        type: 'AgentExit',
        data: { reason: d['success'] === true ? 'completed' : 'stopped' },
      };
    case 'AgentFailed':
      return { type: 'AgentExit', data: { reason: s('error') } };
    case 'MessageReceived':
      return other(`message: ${s('content')}`);
    case 'AgentOutput':
      return other(`agent_output:${s('output')}`);
    case 'ApprovalRequested':
      return other(`approval_requested:${s('id')}:${s('action')}:${s('resource')}`);
    case 'ApprovalResolved':
      return other(`approval_resolved:${s('id')}:${s('approved')}`);
    case 'PathAccessRequested':
      return other(`path_access_requested:${s('id')}:${s('tool_name')}:${s('path')}`);
    case 'AgentGroupCreated':
      return other(`group_created:${s('group_id')}:${s('agent_count')}agents`);
    case 'AgentGroupMemberCompleted':
      return other(`group_member_completed:${s('group_id')}:${s('agent_id')}:${s('success')}`);
    case 'ProjectCreated':
      return other(`project_created:${s('name')}:${s('source')}`);
    case 'ProjectActivated':
      return other(`project_activated:${s('name')}`);
    case 'ToolExecutionStarted':
      return other(`tool_started:${s('tool_name')}`);
    case 'ToolExecutionFinished':
      return other(`tool_finished:${s('tool_name')}:${d['is_error'] === true ? 'error' : 'ok'}`);
    case 'ToolExecutionProgress': {
      let detail = `tool_progress:${s('tool_name')}`;
      const tab = d['tab_id'];
      if (typeof tab === 'string') detail += `:tab=${tab}`;
      const ctx = d['context'];
      if (typeof ctx === 'object' && ctx !== null && !Array.isArray(ctx)) {
        const kind = (ctx as Record<string, unknown>)['kind'];
        if (typeof kind === 'string') detail += `:${kind}`;
      }
      return other(detail);
    }
    case 'MemoryRecallUsed':
      return {
        type: 'MemoryRead',
        data: { entry_id: `recall:${s('query')}:${s('count')}results` },
      };
    case 'TokenUsageUpdate':
      return other(`tokens:in=${s('input_tokens')}:out=${s('output_tokens')}`);
    case 'ReasoningFragment':
      return other(`reasoning:${s('source')}`);
    case 'ToolArgsDelta':
      return other(`tool_args_delta:${s('tool_call_id')}`);
    case 'CompactionTriggered':
      return other(`compaction:triggered:${s('source')}`);
    case 'CalendarEventCreated':
      return other(`calendar:created:${s('uid')}:${s('title')}`);
    case 'CalendarEventUpdated':
      return other(`calendar:updated:${s('uid')}:${s('title')}`);
    case 'CalendarEventDeleted':
      return other(`calendar:deleted:${s('uid')}:${s('title')}`);
    case 'MemoCreated':
      return other(`memo:created:${s('id')}`);
    case 'MemoDeleted':
      return other(`memo:deleted:${s('id')}`);
    case 'EmailSent': {
      const tpl = d['template_name'];
      const shown = typeof tpl === 'string' ? `Some(${rustDebugString(tpl)})` : 'None';
      return other(`email:sent:${s('subject')} (msg=${s('message_id')}, tpl=${shown})`);
    }
    case 'KnowledgePersisted':
      return other(
        `knowledge:persisted:${s('session_id')}:${s('message_index')}:${s('path')}:${s('source')}`,
      );
    case 'KnowledgeRemoved':
      return other(`knowledge:removed:${s('session_id')}:${s('message_index')}`);
    case 'AskUserRequest':
      return other(`ask_user:${s('id')}:${s('question')}`);
    case 'PersonaCreated':
      return other(`persona:created:${s('id')}:${s('name')}:${s('source')}`);
    case 'PersonaUpdated':
      return other(`persona:updated:${s('id')}:${s('name')}:${s('source')}`);
    case 'IntegrationInstallStarted':
      return other(`install:started:${s('integration_id')}:${s('job_id')}`);
    case 'IntegrationInstallProgress':
      return other(`install:progress:${s('integration_id')}:${s('job_id')}`);
    case 'IntegrationInstallCompleted': {
      const code = d['exit_code'];
      const exit = typeof code === 'number' ? String(code) : '?';
      return other(`install:completed:${s('integration_id')}:${s('job_id')}:exit=${exit}`);
    }
    case 'IntegrationInstallFailed':
      return other(`install:failed:${s('integration_id')}:${s('job_id')}`);
    case 'CompressionDelta':
    case 'CompressionDone':
    case 'CompressionFailed':
      return other('compression');
    default:
      return other(`event:${event.variant}`);
  }
}

/** The audit actor oxios records for the event: an agent id, `project:<id>`, `session:<id>` or `system`. */
export function auditActorForOxios(event: OxiosEvent): string {
  if (event.version !== '1.43') {
    if (event.version === '1.0.1' || isKernelEventType(event.variant)) {
      return auditActorFor(fromOxiosEvent(event));
    }
    return 'system';
  }
  const d = event.data;
  switch (event.variant) {
    case 'AgentCreated':
    case 'AgentStarted':
    case 'AgentStopped':
    case 'AgentFailed':
      return String(d['id']);
    case 'MessageReceived':
      return String(d['from']);
    case 'AgentOutput':
    case 'AgentGroupMemberCompleted':
      return String(d['agent_id']);
    case 'ProjectActivated':
      return `project:${String(d['project_id'])}`;
    case 'ToolExecutionStarted':
    case 'ToolExecutionFinished':
    case 'ToolExecutionProgress':
    case 'MemoryRecallUsed':
    case 'TokenUsageUpdate':
    case 'ReasoningFragment':
    case 'ToolArgsDelta':
    case 'KnowledgePersisted':
    case 'KnowledgeRemoved':
      return `session:${String(d['session_id'])}`;
    case 'CompactionTriggered':
      return typeof d['session_id'] === 'string' ? `session:${d['session_id']}` : 'system';
    default:
      return 'system';
  }
}

/** A field as Rust's `Display` writes it into a detail string (scalars only in these events). */
function display(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return value.toString();
  }
  return value === undefined || value === null ? '' : JSON.stringify(value);
}

/** The audit `resource` oxios records: the event's Rust `Debug` rendering. */
export function auditResourceForOxios(event: OxiosEvent): string {
  return formatOxiosEventDebug(event);
}

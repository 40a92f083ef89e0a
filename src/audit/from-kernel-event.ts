/**
 * How a kernel event becomes an audit entry: the action and the actor, exactly as oxios's
 * `kernel_event_to_audit_action` and `extract_agent_id` compute them, plus kerno's own variants.
 *
 * @module
 */
import type { KernelEvent } from '../model/kernel-event.js';
import { displayPhase, formatEventDebug, rustDisplayF64 } from '../formats/oxios-kernel-event.js';
import type { AuditAction } from '../formats/oxios-audit-action.js';

/** The audit action recorded for a kernel event. */
export function auditActionFor(event: KernelEvent): AuditAction {
  const other = (detail: string): AuditAction => ({ type: 'Other', data: { detail } });
  switch (event.type) {
    case 'AgentCreated':
      return { type: 'AgentSpawn', data: { task_type: event.name } };
    case 'AgentStarted':
      return { type: 'AgentSpawn', data: { task_type: 'started' } };
    case 'AgentStopped':
      // As oxios 1.43: `completed` when the agent returned; 1.0.1's `stopped` otherwise.
      return {
        type: 'AgentExit',
        data: { reason: event.success === true ? 'completed' : 'stopped' },
      };
    case 'AgentFailed':
      return { type: 'AgentExit', data: { reason: event.error } };
    case 'MessageReceived':
      return other(`message: ${event.content}`);
    case 'SeedCreated':
      return other(`seed_created:${event.seedId}`);
    case 'EvaluationComplete':
      return other(`evaluation:${event.seedId}:${event.passed}`);
    case 'PhaseStarted':
      return other(`phase_started:${event.sessionId}:${displayPhase(event.phase)}`);
    case 'PhaseCompleted':
      return other(
        `phase_completed:${event.sessionId}:${displayPhase(event.phase)}:${event.resultSummary}`,
      );
    case 'AgentOutput':
      return other(`agent_output:${event.output}`);
    case 'ApprovalRequested':
      return other(`approval_requested:${event.id}:${event.action}:${event.resource}`);
    case 'ApprovalResolved':
      return other(`approval_resolved:${event.id}:${event.approved}`);
    case 'MemoryStored':
      return { type: 'MemoryWrite', data: { entry_id: `${event.id}:${event.memoryType}` } };
    case 'MemoryRecalled':
      return {
        type: 'MemoryRead',
        data: { entry_id: `query:${event.query}:${event.count}results` },
      };
    case 'AgentGroupCreated':
      return other(`group_created:${event.groupId}:${event.agentCount}agents`);
    case 'AgentGroupMemberCompleted':
      return other(`group_member_completed:${event.groupId}:${event.agentId}:${event.success}`);
    case 'EvolutionStarted':
      return other(`evolution:${event.seedId}->${event.newSeedId}:iter${event.iteration}`);
    case 'EvolutionMaxReached':
      return other(
        `evolution_max:${event.seedId}:score=${rustDisplayF64(event.finalScore)}:iters=${event.iterations}`,
      );
    case 'ProjectCreated':
      return other(`project_created:${event.name}:${event.source}`);
    case 'ProjectActivated':
      return other(`project_activated:${event.name}`);
    // oxios 1.43's kernel-relevant variants, mapped as oxios 1.43 maps them
    case 'ToolExecutionStarted':
      return other(`tool_started:${event.toolName}`);
    case 'ToolExecutionFinished':
      return other(`tool_finished:${event.toolName}:${event.isError ? 'error' : 'ok'}`);
    case 'TokenUsageUpdate':
      return other(`tokens:in=${event.inputTokens}:out=${event.outputTokens}`);
    // kerno's own variants
    case 'ModuleStateChanged':
      return other(`module_state:${event.moduleId}:${event.from ?? 'none'}->${event.to}`);
    case 'ConfigChanged':
      return { type: 'ConfigChange', data: { key: event.key } };
    case 'RecoveryDecided':
      return other(
        `recovery:${event.runId}:attempt${event.attempt}:${event.failureClass}:${event.action}`,
      );
    case 'AgentRestarted':
      return other(
        `agent_restarted:${event.id}:restarts=${event.restarts}:delay_ms=${event.delayMs}`,
      );
    case 'AgentAbandoned':
      return other(`agent_abandoned:${event.id}:grace_ms=${event.graceMs}`);
    case 'SupervisorEscalated':
      return other(`supervisor_escalated:${event.supervisorId}:${event.reason}`);
    case 'OutputTruncated':
      return other(
        `output_truncated:${event.agentId}:dropped_lines=${event.droppedLines}:dropped_bytes=${event.droppedBytes}:truncated_lines=${event.truncatedLines}`,
      );
  }
}

/** The actor of a kernel event: the agent it concerns, `project:<id>`, or `system`. */
export function auditActorFor(event: KernelEvent): string {
  switch (event.type) {
    case 'AgentCreated':
    case 'AgentStarted':
    case 'AgentStopped':
    case 'AgentFailed':
    case 'AgentRestarted':
    case 'AgentAbandoned':
      return event.id;
    case 'MessageReceived':
      return event.from;
    case 'AgentOutput':
    case 'OutputTruncated':
    case 'AgentGroupMemberCompleted':
    case 'RecoveryDecided':
      return event.agentId;
    case 'ProjectActivated':
      return `project:${event.projectId}`;
    case 'ToolExecutionStarted':
    case 'ToolExecutionFinished':
    case 'TokenUsageUpdate':
      return `session:${event.sessionId}`;
    case 'ModuleStateChanged':
      return `module:${event.moduleId}`;
    case 'SupervisorEscalated':
      return `supervisor:${event.supervisorId}`;
    default:
      return 'system';
  }
}

/** The audit `resource` of a kernel event: Rust's `Debug` rendering, as oxios stores it. */
export function auditResourceFor(event: KernelEvent): string {
  return formatEventDebug(event);
}

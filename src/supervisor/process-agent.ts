/**
 * External agents: a child process in its own process group, speaking JSON lines on stdio
 * (docs/agent-protocol.md). stdout carries messages to the kernel, stdin the kernel's answers,
 * stderr is kept (bounded) for the failure message.
 *
 * @example
 * import { parseAgentMessage } from 'kerno';
 * parseAgentMessage('{"type":"output","text":"hello"}'); // { type: 'output', text: 'hello' }
 * parseAgentMessage('not json'); // { type: 'unknown', text: 'not json' }
 *
 * @module
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { errorMessage } from '../errors.js';
import { parseExperienceEvent } from '../formats/converge-experience-event.js';
import {
  isUserExperienceEventKind,
  parseUserExperienceEvent,
} from '../formats/converge-user-event.js';
import { createFailureSignal } from '../model/failure.js';
import type { TimerHandle } from '../util/clock.js';
import type {
  AgentApprovalDecision,
  AgentApprovalRequest,
  AgentLedgerOptions,
  ProcessAgentSpec,
} from './agent.js';
import { serviceUnavailable } from './agent.js';
import { deferred } from '../util/deferred.js';
import { contextFromHeaders, traceHeaders } from '../util/trace-context.js';
import { inheritedAgentEnv } from './agent-env.js';
import type { RunHandle, RunHost, RunOutcome } from './run.js';

/** An id an agent attaches to a request so it can match the answer. */
export type AgentMessageId = string | number;

/** A message from an agent to the kernel (one stdout line). */
export type AgentMessage =
  | { readonly type: 'output'; readonly text: string }
  | {
      readonly type: 'ledger';
      readonly event: unknown;
      readonly options: AgentLedgerOptions;
      readonly id: AgentMessageId | undefined;
    }
  | {
      readonly type: 'approval';
      readonly request: unknown;
      readonly id: AgentMessageId | undefined;
    }
  | { readonly type: 'heartbeat' }
  /** The agent is ready (counts for a spec with `awaitReady`). */
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly value: unknown }
  | { readonly type: 'status'; readonly status: 'idle' | 'running' }
  /** Not a protocol message: captured as output, verbatim. */
  | { readonly type: 'unknown'; readonly text: string };

/** Longest stdout line read as one message; longer lines are cut and captured as output. */
export const MAX_AGENT_LINE = 1024 * 1024;
const DEFAULT_STDERR_LIMIT = 8 * 1024;
/** After the leader exits, how long to wait for its pipes to close before cutting them. */
const PIPE_DRAIN_MS = 2_000;

function messageId(value: unknown): AgentMessageId | undefined {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))
    ? value
    : undefined;
}

function ledgerOptions(value: unknown, message: Record<string, unknown>): AgentLedgerOptions {
  const v = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const out: {
    eventId?: string;
    tenantId?: string | null;
    correlationId?: string | null;
    traceparent?: string;
    tracestate?: string;
  } = {};
  if (typeof v['eventId'] === 'string') out.eventId = v['eventId'];
  if (typeof v['tenantId'] === 'string' || v['tenantId'] === null) out.tenantId = v['tenantId'];
  if (typeof v['correlationId'] === 'string' || v['correlationId'] === null)
    out.correlationId = v['correlationId'];
  // The agent's trace context (W3C), on the message or in its options; an invalid one is ignored,
  // as the spec says.
  const trace = contextFromHeaders(
    message['traceparent'] ?? v['traceparent'],
    message['tracestate'] ?? v['tracestate'],
  );
  if (trace !== undefined) Object.assign(out, traceHeaders(trace));
  return out;
}

/** Parses one stdout line; anything that is not a known, well-formed message is `unknown`. */
export function parseAgentMessage(line: string): AgentMessage {
  const unknown: AgentMessage = { type: 'unknown', text: line };
  if (!line.startsWith('{')) return unknown;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return unknown;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return unknown;
  const m = value as Record<string, unknown>;
  switch (m['type']) {
    case 'output':
      return typeof m['text'] === 'string' ? { type: 'output', text: m['text'] } : unknown;
    case 'ledger':
      return 'event' in m
        ? {
            type: 'ledger',
            event: m['event'],
            options: ledgerOptions(m['options'], m),
            id: messageId(m['id']),
          }
        : unknown;
    case 'approval':
      return 'request' in m
        ? { type: 'approval', request: m['request'], id: messageId(m['id']) }
        : unknown;
    case 'heartbeat':
      return { type: 'heartbeat' };
    case 'ready':
      return { type: 'ready' };
    case 'result':
      return { type: 'result', value: m['value'] ?? null };
    case 'status':
      return m['status'] === 'idle' || m['status'] === 'running'
        ? { type: 'status', status: m['status'] }
        : unknown;
    default:
      return unknown;
  }
}

const optionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';

/** Checks an approval request from a process; returns it, or why it is not one. */
export function parseApprovalRequest(value: unknown): AgentApprovalRequest | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'request must be an object';
  const r = value as Record<string, unknown>;
  if (typeof r['summary'] !== 'string' || r['summary'] === '')
    return 'request.summary must be a non-empty string';
  if (r['rationale'] !== null && !optionalString(r['rationale']))
    return 'request.rationale must be a string or null';
  for (const key of ['action', 'resource', 'key'] as const)
    if (!optionalString(r[key])) return `request.${key} must be a string`;
  const context = r['context'];
  if (
    context !== undefined &&
    !(
      Array.isArray(context) &&
      context.every(
        (c: unknown) =>
          typeof c === 'object' &&
          c !== null &&
          typeof (c as Record<string, unknown>)['label'] === 'string' &&
          typeof (c as Record<string, unknown>)['value'] === 'string',
      )
    )
  )
    return 'request.context must be an array of {label, value} strings';
  return {
    summary: r['summary'],
    rationale: (r['rationale'] as string | null | undefined) ?? null,
    action: r['action'] as string | undefined,
    resource: r['resource'] as string | undefined,
    key: r['key'] as string | undefined,
    context: context as AgentApprovalRequest['context'],
  };
}

// Every live process group, so that a dying kernel takes its agents along.
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/** Remembers a live process group: the kernel's exit kills it. */
export function trackGroup(pid: number): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
    });
  }
  liveGroups.add(pid);
}

/** Forgets a process group that has exited. */
export function untrackGroup(pid: number): void {
  liveGroups.delete(pid);
}

/** Signals a whole process group (the agent and whatever it started). */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function environment(spec: ProcessAgentSpec, host: RunHost): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = spec.inheritEnv === false ? {} : inheritedAgentEnv();
  Object.assign(env, spec.env);
  if (host.secretEnv !== undefined) Object.assign(env, host.secretEnv);
  env['KERNO_AGENT_ID'] = host.ref.id;
  env['KERNO_AGENT_NAME'] = host.ref.name;
  env['KERNO_AGENT_ATTEMPT'] = String(host.ref.attempt);
  env['KERNO_AGENT_RESTARTS'] = String(host.ref.restarts);
  if (host.config !== undefined) env['KERNO_AGENT_CONFIG'] = JSON.stringify(host.config);
  else delete env['KERNO_AGENT_CONFIG'];
  return env;
}

/** Starts one run of a process agent. */
export function startProcessRun(spec: ProcessAgentSpec, host: RunHost): RunHandle {
  const done = deferred<RunOutcome>();
  const ops = new AbortController();
  let child: ChildProcessWithoutNullStreams;
  try {
    child = spawn(spec.command, spec.args ?? [], {
      cwd: spec.cwd,
      env: environment(spec, host),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      windowsHide: true,
    });
  } catch (error) {
    done.resolve(startFailure(spec, error));
    return { done: done.promise, stop: async () => undefined };
  }

  const pid = child.pid;
  if (pid !== undefined) trackGroup(pid);
  const stderrLimit = spec.stderrLimit ?? DEFAULT_STDERR_LIMIT;
  let stderr = '';
  let result: unknown = undefined;
  let approvals = 0;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let finished = false;
  let killTimer: TimerHandle | undefined;
  let drainTimer: TimerHandle | undefined;

  let resumeTimer: TimerHandle | undefined;
  const finish = (outcome: RunOutcome): void => {
    if (finished) return;
    finished = true;
    if (pid !== undefined) untrackGroup(pid);
    if (killTimer !== undefined) host.clock.clearTimeout(killTimer);
    if (resumeTimer !== undefined) host.clock.clearTimeout(resumeTimer);
    if (drainTimer !== undefined) host.clock.clearTimeout(drainTimer);
    ops.abort();
    done.resolve(outcome);
  };

  const send = (message: Record<string, unknown>): void => {
    if (finished || !child.stdin.writable) return;
    child.stdin.write(JSON.stringify(message) + '\n');
  };

  const handle = (line: string): void => {
    host.alive();
    const message = parseAgentMessage(line);
    switch (message.type) {
      case 'output':
        host.output(message.text);
        return;
      case 'unknown':
        host.output(message.text);
        return;
      case 'heartbeat':
        return;
      case 'ready':
        host.ready();
        return;
      case 'result':
        result = message.value;
        return;
      case 'status':
        host.setIdle(message.status === 'idle');
        return;
      case 'ledger':
        void appendLedger(message.event, message.options, message.id);
        return;
      case 'approval':
        approvals++;
        void requestApproval(message.request, message.id ?? approvals);
        return;
    }
  };

  const appendLedger = async (
    raw: unknown,
    options: AgentLedgerOptions,
    id: AgentMessageId | undefined,
  ): Promise<void> => {
    try {
      const event = isUserExperienceEventKind((raw as { type?: unknown } | null)?.type)
        ? parseUserExperienceEvent(raw)
        : parseExperienceEvent(raw);
      if (host.services === undefined) throw serviceUnavailable('appendLedger');
      await host.services.appendLedger(host.ref, event, options);
      if (id !== undefined) send({ type: 'ledger_ack', id, ok: true });
    } catch (error) {
      host.logger.warn('An agent ledger event was not recorded', {
        agentId: host.ref.id,
        error: errorMessage(error),
      });
      if (id !== undefined) send({ type: 'ledger_ack', id, ok: false, error: errorMessage(error) });
    }
  };

  const requestApproval = async (raw: unknown, id: AgentMessageId): Promise<void> => {
    let decision: AgentApprovalDecision;
    const request = parseApprovalRequest(raw);
    if (typeof request === 'string') {
      decision = { approved: false, reason: `invalid approval request: ${request}` };
    } else if (host.services === undefined) {
      decision = { approved: false, reason: serviceUnavailable('requestApproval').message };
    } else {
      try {
        decision = await host.services.requestApproval(host.ref, request, ops.signal);
      } catch (error) {
        // Fail closed: an approval that could not be obtained is a rejection.
        decision = { approved: false, reason: `approval failed: ${errorMessage(error)}` };
      }
    }
    const reply: Record<string, unknown> = {
      type: 'approval_decision',
      id,
      approved: decision.approved === true,
    };
    if (decision.reason !== undefined && decision.reason !== null)
      reply['reason'] = decision.reason;
    send(reply);
  };

  const lines = frameLines(child.stdout, handle, () => {
    // Over its output budget: stop reading, so the flooding agent blocks on its own pipe.
    const waitMs = host.outputWaitMs?.() ?? 0;
    if (waitMs > 0 && resumeTimer === undefined) {
      child.stdout.pause();
      resumeTimer = host.clock.setTimeout(() => {
        resumeTimer = undefined;
        child.stdout.resume();
      }, waitMs);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
    if (stderr.length > stderrLimit * 2) stderr = stderr.slice(-stderrLimit);
  });
  // The agent may exit without reading its answers: a broken pipe is not our failure.
  child.stdin.on('error', () => undefined);

  // Called once the leader has exited and its pipes are drained (or cut).
  const settle = (): void => {
    if (finished || exit === undefined) return;
    lines.flush();
    const tail = stderr.slice(-stderrLimit).trim();
    const { code, signal } = exit;
    if (code === 0) {
      finish({ ok: true, value: result });
      return;
    }
    const what =
      code !== null ? `exited with code ${code}` : `was killed by ${signal ?? 'a signal'}`;
    const message = tail === '' ? `Agent process "${spec.command}" ${what}` : tail;
    finish({
      ok: false,
      failure: createFailureSignal('runtime', message, { exit_code: code }),
      error: undefined,
    });
  };

  child.once('spawn', () => host.started(pid ?? null));
  child.on('error', (error) => {
    if (pid === undefined) finish(startFailure(spec, error));
    else host.logger.warn('Agent process error', { agentId: host.ref.id, error: error.message });
  });
  child.once('exit', (code, signal) => {
    exit = { code, signal };
    // Whatever the agent left behind in its group goes with it.
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
    drainTimer = host.clock.setTimeout(() => {
      child.stdout.destroy();
      child.stderr.destroy();
      settle();
    }, PIPE_DRAIN_MS);
  });
  child.once('close', () => settle());

  return {
    done: done.promise,
    async stop(graceMs: number): Promise<void> {
      if (!finished && exit === undefined && pid !== undefined && killTimer === undefined) {
        if (graceMs <= 0) signalGroup(pid, 'SIGKILL');
        else {
          signalGroup(pid, 'SIGTERM');
          if (Number.isFinite(graceMs))
            killTimer = host.clock.setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
        }
      }
      await done.promise;
    },
  };
}

/**
 * Splits a stdout stream into lines (a trailing `\r` dropped) and hands each to `onLine`; a
 * line longer than {@link MAX_AGENT_LINE} is cut there. `flush()` hands over a last line
 * without its newline (call it once the stream has ended).
 */
export function frameLines(
  stream: NodeJS.ReadableStream,
  onLine: (line: string) => void,
  afterChunk?: () => void,
): { flush(): void } {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    // scan by index: slicing the rest after each line would copy a big chunk once per line
    let start = 0;
    let nl = pending.indexOf('\n');
    while (nl !== -1) {
      const line = pending.slice(start, nl);
      start = nl + 1;
      onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      nl = pending.indexOf('\n', start);
    }
    pending = start === 0 ? pending : pending.slice(start);
    if (pending.length > MAX_AGENT_LINE) {
      onLine(pending.slice(0, MAX_AGENT_LINE));
      pending = '';
    }
    afterChunk?.();
  });
  return {
    flush(): void {
      if (pending.length === 0) return;
      const last = pending;
      pending = '';
      onLine(last);
    },
  };
}

function startFailure(spec: ProcessAgentSpec, error: unknown): RunOutcome {
  return {
    ok: false,
    failure: createFailureSignal(
      'runtime',
      `Could not start agent process "${spec.command}": ${errorMessage(error)}`,
    ),
    error,
  };
}

/**
 * oxios 1.43's access audit log, `<workspace>/audit/access.jsonl`: one serde JSON `AuditEvent`
 * per line, internally tagged by `kind`, `timestamp` in epoch milliseconds
 * (`chrono::serde::ts_milliseconds`), `Option` fields `null` or absent.
 *
 * The file is not hash-chained upstream: oxios appends the same decision to its Merkle trail
 * (`audit/trail.json`) as `AuditAction::Other { detail }` by actor, with resource
 * `access_gate`, and writes the JSON line beside it. {@link oxiosAccessAuditAction} gives that
 * action, so an imported line lands in kerno's trail as oxios's own trail would have it.
 *
 * Kinds and their fields (`?` = `Option<String>`):
 * `ToolAccess{agent, tool, allowed, layer?, reason?}`,
 * `PathAccess{agent, path, mode, allowed, layer?, reason?}`,
 * `ExecAccess{agent, binary, allowed, layer?, reason?}`,
 * `RbacDecision{subject, action, resource, allowed, reason?}`,
 * `SandboxViolation{agent, path, workspace}`, `Approval{approval_id, subject, action, status}`.
 * A line of another kind (a later oxios) is kept as it is when it has a string `kind` and an
 * integer `timestamp`; its actor is its `agent` or `subject`, else `unknown`.
 *
 * @module
 */
import { KernelError } from '../errors.js';
import type { AuditAction } from './oxios-audit-action.js';

/** One line of `access.jsonl`, as written (every field kept). */
export interface OxiosAccessEvent {
  readonly kind: string;
  /** Epoch milliseconds. */
  readonly timestamp: number;
  readonly [field: string]: unknown;
}

/** The kinds oxios 1.43 writes. */
export const OXIOS_ACCESS_KINDS = Object.freeze([
  'ToolAccess',
  'PathAccess',
  'ExecAccess',
  'RbacDecision',
  'SandboxViolation',
  'Approval',
] as const);

type Field = 'str' | 'bool' | 'opt';
const SHAPES: Readonly<Record<(typeof OXIOS_ACCESS_KINDS)[number], Record<string, Field>>> = {
  ToolAccess: { agent: 'str', tool: 'str', allowed: 'bool', layer: 'opt', reason: 'opt' },
  PathAccess: {
    agent: 'str',
    path: 'str',
    mode: 'str',
    allowed: 'bool',
    layer: 'opt',
    reason: 'opt',
  },
  ExecAccess: { agent: 'str', binary: 'str', allowed: 'bool', layer: 'opt', reason: 'opt' },
  RbacDecision: {
    subject: 'str',
    action: 'str',
    resource: 'str',
    allowed: 'bool',
    reason: 'opt',
  },
  SandboxViolation: { agent: 'str', path: 'str', workspace: 'str' },
  Approval: { approval_id: 'str', subject: 'str', action: 'str', status: 'str' },
};

/** The resource oxios's audit sink records access decisions under. */
export const OXIOS_ACCESS_RESOURCE = 'access_gate';

/**
 * Reads `access.jsonl` text. Every line is checked before any is returned: a line that is not
 * a JSON object, lacks `kind` / an integer `timestamp`, or misses a field of its kind fails with
 * `INVALID_UPSTREAM_FILE` naming the line. Empty lines are skipped.
 */
export function readOxiosAccessLog(text: string, source: string): OxiosAccessEvent[] {
  const out: OxiosAccessEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (line.trim() === '') continue;
    out.push(readAccessEvent(line, i + 1, source));
  }
  return out;
}

/** Checks one parsed event (as {@link readOxiosAccessLog} does for a line). */
export function checkOxiosAccessEvent(value: unknown): OxiosAccessEvent | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'not a JSON object';
  }
  const o = value as Record<string, unknown>;
  if (typeof o['kind'] !== 'string' || o['kind'] === '') return 'missing a string `kind`';
  if (!Number.isSafeInteger(o['timestamp'])) {
    return '`timestamp` must be an integer (epoch milliseconds)';
  }
  const shape = (SHAPES as Record<string, Record<string, Field> | undefined>)[o['kind']];
  if (shape !== undefined) {
    for (const [field, type] of Object.entries(shape)) {
      const v = o[field];
      if (type === 'str' && typeof v !== 'string') return `${o['kind']}.${field} must be a string`;
      if (type === 'bool' && typeof v !== 'boolean')
        return `${o['kind']}.${field} must be a boolean`;
      if (type === 'opt' && v !== undefined && v !== null && typeof v !== 'string')
        return `${o['kind']}.${field} must be a string or null`;
    }
  }
  return o as OxiosAccessEvent;
}

function readAccessEvent(line: string, n: number, source: string): OxiosAccessEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw badLine(source, n, 'not valid JSON');
  }
  const checked = checkOxiosAccessEvent(value);
  if (typeof checked === 'string') throw badLine(source, n, checked);
  return checked;
}

/** Who acted (oxios's `AuditEvent::actor`). */
export function oxiosAccessActor(e: OxiosAccessEvent): string {
  if (e.kind === 'RbacDecision' || e.kind === 'Approval') return String(e['subject']);
  if (typeof e['agent'] === 'string') return e['agent'];
  if (typeof e['subject'] === 'string') return e['subject'];
  return 'unknown';
}

/** The trail action oxios records for the event (`AuditEvent::to_audit_action`). */
export function oxiosAccessAuditAction(e: OxiosAccessEvent): AuditAction {
  const s = (k: string): string => String(e[k]);
  let detail: string;
  switch (e.kind) {
    case 'ToolAccess':
      detail = `tool_access:${s('tool')}:allowed=${s('allowed')}`;
      break;
    case 'PathAccess':
      detail = `path_access:${s('path')}:${s('mode')}:allowed=${s('allowed')}`;
      break;
    case 'ExecAccess':
      detail = `exec_access:${s('binary')}:allowed=${s('allowed')}`;
      break;
    case 'RbacDecision':
      detail = `rbac:${s('subject')}:${s('action')}:allowed=${s('allowed')}`;
      break;
    case 'SandboxViolation':
      detail = `sandbox_violation:${s('agent')}:${s('path')}:ws=${s('workspace')}`;
      break;
    case 'Approval':
      detail = `approval:${s('approval_id')}:${s('status')}`;
      break;
    default:
      detail = `${e.kind}`;
  }
  return { type: 'Other', data: { detail } };
}

function badLine(source: string, n: number, why: string): KernelError {
  return new KernelError(
    'INVALID_UPSTREAM_FILE',
    `${source} line ${n}: ${why} (expected one oxios AuditEvent per line, tagged by \`kind\`, \`timestamp\` in epoch ms); nothing was imported`,
    { details: { path: source, line: n } },
  );
}

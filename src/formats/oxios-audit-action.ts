/**
 * Audit actions: the 12 `AuditAction` variants of the oxios audit trail, adjacently tagged
 * (`{"type":"AgentSpawn","data":{"task_type":"…"}}`), with snake_case fields as in the reference.
 *
 * @module
 */
import { KernelError } from '../errors.js';

/** Field types of each action's `data`, in serde declaration order. */
export const AUDIT_ACTION_FIELDS = {
  AgentSpawn: { task_type: 'string' },
  AgentExit: { reason: 'string' },
  ToolCall: { tool: 'string', args_json: 'string' },
  ToolResult: { tool: 'string', success: 'bool' },
  MemoryWrite: { entry_id: 'string' },
  MemoryRead: { entry_id: 'string' },
  ConfigChange: { key: 'string' },
  ProgramInstall: { program: 'string', version: 'string' },
  CronTrigger: { job_id: 'string' },
  GitCommit: { message: 'string' },
  AccessDenied: { permission: 'string' },
  Other: { detail: 'string' },
} as const satisfies Record<string, Record<string, 'string' | 'bool'>>;

type Fields = typeof AUDIT_ACTION_FIELDS;

/** The name of an audit action variant. */
export type AuditActionType = keyof Fields;

/** An audit action. */
export type AuditAction = {
  [T in AuditActionType]: {
    readonly type: T;
    readonly data: {
      readonly [F in keyof Fields[T]]: Fields[T][F] extends 'bool' ? boolean : string;
    };
  };
}[AuditActionType];

/** Every audit action type, in the reference's order. */
export const AUDIT_ACTION_TYPES = Object.freeze(
  Object.keys(AUDIT_ACTION_FIELDS),
) as readonly AuditActionType[];

/** Whether `type` names an audit action variant. */
export function isAuditActionType(type: unknown): type is AuditActionType {
  return typeof type === 'string' && Object.hasOwn(AUDIT_ACTION_FIELDS, type);
}

/** Validates an audit action in its `type`/`data` form; throws `INVALID_ARGUMENT`. */
export function parseAuditAction(value: unknown): AuditAction {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      'An audit action must be an object like {"type":"Other","data":{…}}',
    );
  }
  const { type, data } = value as { type?: unknown; data?: unknown };
  if (!isAuditActionType(type)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `Unknown audit action type ${JSON.stringify(type)}; known: ${AUDIT_ACTION_TYPES.join(', ')}`,
    );
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new KernelError('INVALID_ARGUMENT', `Audit action ${type} needs a "data" object`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(AUDIT_ACTION_FIELDS[type])) {
    const v = (data as Record<string, unknown>)[name];
    if (kind === 'bool' ? typeof v !== 'boolean' : typeof v !== 'string') {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `Audit action ${type}.${name} must be a ${kind === 'bool' ? 'boolean' : 'string'}`,
      );
    }
    out[name] = v;
  }
  return { type, data: out } as AuditAction;
}

const DECLARED = new Map<string, readonly string[]>(
  Object.entries(AUDIT_ACTION_FIELDS).map(([t, f]) => [t, Object.keys(f)]),
);
const SORTED = new Map<string, readonly string[]>(
  [...DECLARED].map(([t, names]) => [t, [...names].sort()]),
);

function writeData(names: readonly string[], data: Record<string, unknown>): string {
  let out = '{';
  for (let i = 0; i < names.length; i++) {
    const n = names[i]!;
    out += (i === 0 ? '"' : ',"') + n + '":' + JSON.stringify(data[n]);
  }
  return out + '}';
}

/** The compact JSON serde writes for an action: `type` first, `data` fields in declaration order. */
export function encodeAuditAction(action: AuditAction): string {
  const data = writeData(DECLARED.get(action.type)!, action.data);
  return '{"type":"' + action.type + '","data":' + data + '}';
}

/** The same action in canonical JSON (sorted keys): what kerno hashes. */
export function canonicalAuditAction(action: AuditAction): string {
  const data = writeData(SORTED.get(action.type)!, action.data);
  return '{"data":' + data + ',"type":"' + action.type + '"}';
}

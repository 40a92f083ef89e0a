/**
 * Checking agent specs: strict schemas (an unknown key is refused with the keys that are
 * allowed), recursively for nested supervisors. Every error is `INVALID_ARGUMENT`.
 *
 * @example
 * import { validateAgentSpec } from 'kerno';
 * validateAgentSpec({ name: 'x', run: async () => 1 }); // 'function'
 * validateAgentSpec({ name: 'x', run: async () => 1, significnt: true }); // throws: unknown key
 *
 * @module
 */
import { z } from 'zod';
import { KernelError } from '../errors.js';
import { AUTO_SHUTDOWNS, type AgentKind, type AgentSpec } from './agent.js';
import {
  RESTART_STRATEGIES,
  RESTART_TYPES,
  resolveBackoff,
  resolveIntensity,
} from './restart-strategy.js';

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', {
  message: 'must be a function',
});
const ms = z.number().min(0);

/** How deep an agent's `config` may nest (objects and arrays): deeper is refused, not a crash. */
export const MAX_CONFIG_DEPTH = 64;

/**
 * Whether `value` nests objects/arrays deeper than `max`, found without recursion (a hostile
 * config 100 000 levels deep must not overflow the stack here or later when it is serialised).
 */
function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    if (depth + 1 > max) return true;
    seen.add(v);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

const config = z
  .unknown()
  .refine(
    (v) => !nestsDeeperThan(v, MAX_CONFIG_DEPTH),
    `must not nest objects or arrays more than ${MAX_CONFIG_DEPTH} levels deep`,
  );

const base = {
  name: z.string().min(1),
  childId: z.string().min(1).optional(),
  restart: z.enum(RESTART_TYPES).optional(),
  config: config.optional(),
  version: z.string().optional(),
  description: z.string().optional(),
  heartbeatTimeoutMs: z.number().positive().finite().optional(),
  shutdownMs: ms.optional(),
  sessionId: z.string().optional(),
  recovery: z
    .union([
      z.literal(false),
      z.strictObject({
        max_attempts: z.number().int().min(0).optional(),
        max_flaky_retries: z.number().int().min(0).optional(),
        allow_patch_forward: z.boolean().optional(),
        allow_rollback: z.boolean().optional(),
      }),
    ])
    .optional(),
  healthyAfterMs: ms.optional(),
  patch: fn.optional(),
  awaitReady: z.boolean().optional(),
  significant: z.boolean().optional(),
};

const functionSpec = z.strictObject({ ...base, run: fn });
const processSpec = z.strictObject({
  ...base,
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  inheritEnv: z.boolean().optional(),
  secrets: z
    .array(
      z.union([
        z.string().min(1),
        z.strictObject({
          name: z.string().min(1),
          env: z
            .string()
            .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
            .refine((v) => !/^(KERNO|OXIDE)_/.test(v), 'must not be a KERNO_ / OXIDE_ variable')
            .optional(),
        }),
      ]),
    )
    .optional(),
  cwd: z.string().optional(),
  stderrLimit: z.number().int().positive().optional(),
});
const nestedSpec = z.strictObject({
  strategy: z.enum(RESTART_STRATEGIES).optional(),
  intensity: z.strictObject({ maxRestarts: z.number(), periodMs: z.number() }).partial().optional(),
  backoff: z
    .strictObject({
      baseMs: z.number(),
      maxMs: z.number(),
      factor: z.number(),
      jitter: z.number(),
      resetMs: z.number(),
    })
    .partial()
    .optional(),
  children: z.array(z.unknown()),
  autoShutdown: z.enum(AUTO_SHUTDOWNS).optional(),
  template: z.unknown().optional(),
});
const supervisorSpec = z.strictObject({ ...base, supervisor: nestedSpec });

const KIND_KEYS = { function: 'run', process: 'command', supervisor: 'supervisor' } as const;
const SCHEMAS = { function: functionSpec, process: processSpec, supervisor: supervisorSpec };

function bad(message: string): KernelError {
  return new KernelError('INVALID_ARGUMENT', message);
}

function describe(name: string, schema: z.ZodObject, error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.join('.');
  if (issue.code === 'unrecognized_keys') {
    const where = path === '' ? schema : (schema.shape[path] as z.ZodObject | undefined);
    const allowed = where === undefined ? [] : Object.keys(where.shape);
    return `Agent "${name}": unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${path === '' ? k : `${path}.${k}`}"`).join(', ')}; allowed${path === '' ? '' : ` in ${path}`}: ${allowed.join(', ')}`;
  }
  return `Agent "${name}": ${path === '' ? 'spec' : path} ${issue.message}`;
}

/** Checks a spec (recursively for nested supervisors); `INVALID_ARGUMENT` when it is wrong. */
export function validateAgentSpec(spec: AgentSpec): AgentKind {
  if (typeof spec !== 'object' || spec === null)
    throw bad('An agent spec must be an object with a name and one of run, command, supervisor');
  const s = spec as unknown as Record<string, unknown>;
  const name = typeof s['name'] === 'string' && s['name'] !== '' ? s['name'] : undefined;
  if (name === undefined) throw bad('An agent spec needs a non-empty string name');
  const kinds = (Object.keys(KIND_KEYS) as AgentKind[]).filter(
    (k) => s[KIND_KEYS[k]] !== undefined,
  );
  if (kinds.length !== 1)
    throw bad(
      `Agent "${name}" must have exactly one of run (a function), command (a process) or supervisor (nested children)`,
    );
  const kind = kinds[0]!;
  const schema = SCHEMAS[kind];
  const parsed = schema.safeParse(spec);
  if (!parsed.success) throw bad(describe(name, schema, parsed.error));
  if (spec.significant === true && (spec.restart ?? 'transient') === 'permanent')
    throw bad(
      `Agent "${name}": a significant child cannot be permanent (OTP refuses it); use transient or temporary`,
    );
  if (kind === 'supervisor') {
    const nested = (spec as Extract<AgentSpec, { supervisor: unknown }>).supervisor;
    resolveIntensity(nested.intensity);
    resolveBackoff(nested.backoff);
    const ids = new Set<string>();
    for (const child of nested.children) {
      validateAgentSpec(child);
      if (child.childId === undefined) continue;
      if (ids.has(child.childId))
        throw bad(
          `Agent "${name}": two children have childId "${child.childId}"; child ids must be unique`,
        );
      ids.add(child.childId);
    }
    if (nested.template !== undefined) validateAgentSpec(nested.template);
  }
  return kind;
}

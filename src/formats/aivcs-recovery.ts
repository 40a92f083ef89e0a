/**
 * Validation and the serde_json wire form of recovery data. {@link encodeRecoveryLog} writes the
 * bytes aivcs-core writes (`serde_json::to_vec_pretty`: 2-space indent, fields in Rust
 * declaration order, `null` for `None`, no trailing newline), so digests agree across the two.
 *
 * @example
 * import { decodeRecoveryLog, encodeRecoveryLog } from 'kerno';
 * const text = encodeRecoveryLog(log);
 * decodeRecoveryLog(text); // the same log
 *
 * @module
 */
import { z } from 'zod';
import { FAILURE_CLASSES, RECOVERY_ACTIONS, RECOVERY_OUTCOMES } from '../model/failure.js';
import { KernelError } from '../errors.js';
import type { KernelErrorCode } from '../errors.js';
import { formatChrono, parseRfc3339 } from '../util/time.js';
import type {
  FailureSignal,
  RecoveryAttemptResult,
  RecoveryDecision,
  RecoveryLog,
  RecoveryPolicy,
} from '../model/failure.js';

const u32 = z.number().int().min(0).max(0xffff_ffff);
const i32 = z
  .number()
  .int()
  .min(-(2 ** 31))
  .max(2 ** 31 - 1);

// serde treats a missing `Option` field as `None`, so `.optional()` beside `.nullable()`.
const failureSignalSchema = z.object({
  stage: z.string(),
  message: z.string(),
  exit_code: i32.nullable().optional(),
  flaky_hint: z.boolean(),
});

const policySchema = z.object({
  max_attempts: u32,
  max_flaky_retries: u32,
  allow_patch_forward: z.boolean(),
  allow_rollback: z.boolean(),
});

const decisionSchema = z.object({
  attempt: u32,
  failure_class: z.enum(FAILURE_CLASSES),
  action: z.enum(RECOVERY_ACTIONS),
  rationale: z.string(),
});

const attemptResultSchema = z.object({
  success: z.boolean(),
  next_failure: failureSignalSchema.nullable().optional(),
});

const timestampSchema = z.string().refine((text) => parseRfc3339(text) !== undefined, {
  message: 'expected an RFC 3339 timestamp such as 2026-05-14T10:00:00Z',
});

const logSchema = z.object({
  run_id: z.string(),
  policy: policySchema,
  initial_failure: failureSignalSchema,
  decisions: z.array(decisionSchema),
  outcome: z.enum(RECOVERY_OUTCOMES),
  attempts_used: u32,
  final_failure: failureSignalSchema.nullable().optional(),
  evaluated_at: timestampSchema,
});

type SignalInput = z.infer<typeof failureSignalSchema>;

// The builders below fix the key order (Rust declaration order) independently of the input's.
function toSignal(s: SignalInput): FailureSignal {
  return {
    stage: s.stage,
    message: s.message,
    exit_code: s.exit_code ?? null,
    flaky_hint: s.flaky_hint,
  };
}

function toPolicy(p: z.infer<typeof policySchema>): RecoveryPolicy {
  return {
    max_attempts: p.max_attempts,
    max_flaky_retries: p.max_flaky_retries,
    allow_patch_forward: p.allow_patch_forward,
    allow_rollback: p.allow_rollback,
  };
}

function toDecision(d: z.infer<typeof decisionSchema>): RecoveryDecision {
  return {
    attempt: d.attempt,
    failure_class: d.failure_class,
    action: d.action,
    rationale: d.rationale,
  };
}

/** Re-formats any RFC 3339 instant the way chrono serialises `DateTime<Utc>`. */
function canonicalInstant(text: string): string {
  const instant = parseRfc3339(text);
  // The schema already checked the text; this keeps the type checker honest.
  if (instant === undefined) throw new KernelError('INTERNAL', `unparsable timestamp ${text}`);
  return formatChrono(instant, 'Z');
}

function describeIssues(error: z.ZodError): string {
  const shown = error.issues.slice(0, 3).map((issue) => {
    const path = issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
    return `${path}: ${issue.message}`;
  });
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : '';
  return shown.join('; ') + more;
}

function validate<T>(
  schema: z.ZodType<T>,
  value: unknown,
  what: string,
  code: KernelErrorCode,
  hint: string,
): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new KernelError(code, `${what} is not valid: ${describeIssues(result.error)}. ${hint}`, {
      details: { issues: result.error.issues.length },
    });
  }
  return result.data;
}

const ARG_HINT = 'Pass the snake_case fields of the aivcs type (see the RecoveryLog docs).';

/** Validates a {@link FailureSignal} (throws `INVALID_ARGUMENT`) and returns an ordered copy. */
export function parseFailureSignal(value: unknown, what = 'FailureSignal'): FailureSignal {
  return toSignal(validate(failureSignalSchema, value, what, 'INVALID_ARGUMENT', ARG_HINT));
}

/** Validates a {@link RecoveryPolicy} (throws `INVALID_ARGUMENT`) and returns an ordered copy. */
export function parseRecoveryPolicy(value: unknown): RecoveryPolicy {
  return toPolicy(validate(policySchema, value, 'RecoveryPolicy', 'INVALID_ARGUMENT', ARG_HINT));
}

/**
 * Validates what a recovery action reported (throws `INVALID_ARGUMENT`); a missing
 * `next_failure` counts as `null`.
 */
export function parseRecoveryAttemptResult(value: unknown): RecoveryAttemptResult {
  const r = validate(
    attemptResultSchema,
    value,
    'RecoveryAttemptResult',
    'INVALID_ARGUMENT',
    'Resolve to { success: boolean, next_failure: FailureSignal | null }.',
  );
  return {
    success: r.success,
    next_failure: r.next_failure == null ? null : toSignal(r.next_failure),
  };
}

/**
 * Validates a {@link RecoveryLog} and returns a copy with fields in serde order and
 * `evaluated_at` in chrono's form. Throws a KernelError with `code` (default `INVALID_ARGUMENT`).
 */
export function parseRecoveryLog(
  value: unknown,
  code: KernelErrorCode = 'INVALID_ARGUMENT',
): RecoveryLog {
  const hint =
    code === 'INVALID_ARGUMENT'
      ? ARG_HINT
      : 'The artifact was not written by aivcs-core or kerno; regenerate it.';
  const log = validate(logSchema, value, 'RecoveryLog', code, hint);
  return {
    run_id: log.run_id,
    policy: toPolicy(log.policy),
    initial_failure: toSignal(log.initial_failure),
    decisions: log.decisions.map(toDecision),
    outcome: log.outcome,
    attempts_used: log.attempts_used,
    final_failure: log.final_failure == null ? null : toSignal(log.final_failure),
    evaluated_at: canonicalInstant(log.evaluated_at),
  };
}

/**
 * Serialises a log exactly as `serde_json::to_vec_pretty` does (as text). Throws
 * `INVALID_ARGUMENT` when the log does not have the RecoveryLog shape.
 */
export function encodeRecoveryLog(log: RecoveryLog): string {
  // JSON.stringify's escaping matches serde_json's for every string Rust can hold: `"`, `\`,
  // \b \t \n \f \r, other controls as lower-case \u00xx, everything else verbatim.
  return JSON.stringify(parseRecoveryLog(log), null, 2);
}

/**
 * Parses the JSON text of a recovery artifact. Malformed JSON or a value that is not a
 * RecoveryLog throws `INVALID_ARTIFACT`.
 */
export function decodeRecoveryLog(text: string): RecoveryLog {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new KernelError(
      'INVALID_ARTIFACT',
      `Recovery artifact is not valid JSON (${(error as Error).message}); regenerate it.`,
      { cause: error },
    );
  }
  return parseRecoveryLog(value, 'INVALID_ARTIFACT');
}

/**
 * {@link KernoApiError}: every failure of a `kerno/client` call that is not the caller's own
 * abort — an RFC 9457 problem the daemon answered, or the daemon unreachable, or a timeout —
 * with one of kerno's error codes (the same as `KernelError`'s, `src/errors.ts`).
 *
 * @module
 */
import { isKernelErrorCode, type KernelErrorCode } from '../errors.js';

/** A problem details body (`application/problem+json`) as the daemon sends it. */
export interface ApiProblem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  /** What the caller can do about it. */
  readonly hint?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

const BRAND = Symbol.for('kerno.KernoApiError');

/** A failed kerno API call. Branch on `code` (a kerno error code), not on the message. */
export class KernoApiError extends Error {
  override readonly name = 'KernoApiError';
  /** kerno's error code: the problem's own, or one for its HTTP status class. */
  readonly code: KernelErrorCode;
  /** The HTTP status; 0 when no answer came (`UNREACHABLE`, `TIMEOUT`). */
  readonly status: number;
  /** The daemon's sentence about it (the `message` too). */
  readonly detail: string;
  /** What to do about it, when the daemon said. */
  readonly hint: string | undefined;
  /** Structured facts (never a secret). */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  /** The problem body as answered, when there was one. */
  readonly problem: ApiProblem | undefined;
  /** The request that failed: `GET /api/runs/r1`. */
  readonly request: string;
  readonly [BRAND] = true;

  constructor(
    init: {
      code: KernelErrorCode;
      status: number;
      detail: string;
      request: string;
      hint?: string | undefined;
      details?: Readonly<Record<string, unknown>> | undefined;
      problem?: ApiProblem | undefined;
    },
    options: { cause?: unknown } = {},
  ) {
    super(init.detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = init.code;
    this.status = init.status;
    this.detail = init.detail;
    this.hint = init.hint;
    this.details = init.details;
    this.problem = init.problem;
    this.request = init.request;
  }
}

/** Whether `error` is a {@link KernoApiError} (optionally with one of `codes`), across copies. */
export function isKernoApiError(
  error: unknown,
  ...codes: KernelErrorCode[]
): error is KernoApiError {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { [BRAND]?: unknown })[BRAND] !== true) return false;
  return codes.length === 0 || codes.includes((error as KernoApiError).code);
}

/**
 * The code of an answer: the problem's own when it is one of kerno's; otherwise (a newer daemon,
 * a proxy, Fastify's own 4xx) one that keeps the status class.
 */
export function codeForStatus(status: number, code: unknown): KernelErrorCode {
  if (isKernelErrorCode(code)) return code;
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status >= 400 && status < 500) return 'INVALID_ARGUMENT';
  return 'INTERNAL';
}

/** The {@link KernoApiError} for a non-2xx response (reads its body). */
export async function errorFromResponse(res: Response, request: string): Promise<KernoApiError> {
  let body: unknown;
  try {
    const text = await res.text();
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  const p =
    typeof body === 'object' && body !== null ? (body as Partial<Record<string, unknown>>) : {};
  const problem =
    typeof p['detail'] === 'string' && typeof p['status'] === 'number'
      ? (p as unknown as ApiProblem)
      : undefined;
  return new KernoApiError({
    code: codeForStatus(res.status, p['code']),
    status: res.status,
    detail: problem?.detail ?? `The daemon answered ${res.status} to ${request}`,
    request,
    hint: typeof p['hint'] === 'string' ? p['hint'] : undefined,
    details:
      typeof p['details'] === 'object' && p['details'] !== null
        ? (p['details'] as Record<string, unknown>)
        : undefined,
    problem,
  });
}

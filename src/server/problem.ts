/**
 * The one place where errors become HTTP answers: RFC 9457 problem details
 * (`application/problem+json`) with kerno's error `code`.
 *
 * @module
 */
import { isKernelError, type KernelErrorCode } from '../errors.js';

const STATUS: Readonly<Partial<Record<KernelErrorCode, number>>> = {
  INVALID_ARGUMENT: 400,
  INVALID_EVENT: 400,
  UNKNOWN_EVENT_TYPE: 400,
  INVALID_QUERY: 400,
  INVALID_EXPORT: 400,
  INVALID_ARTIFACT: 400,
  INVALID_RVLS_FILE: 400,
  INVALID_STORE_URL: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  FAILED_TO_START_CHILD: 422,
  ILLEGAL_TRANSITION: 409,
  STORE_LOCKED: 409,
  DIGEST_MISMATCH: 422,
  CHAIN_BROKEN: 422,
  CLOSED: 503,
  STORAGE_ERROR: 503,
  KEY_REQUIRED: 503,
  CONFIG_NOT_FOUND: 404,
  UNKNOWN_MODULE: 404,
};

/** A problem details body. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The HTTP status for a KernelError code (500 for anything unexpected). */
export function statusFor(code: string): number {
  return STATUS[code as KernelErrorCode] ?? 500;
}

/** Builds the problem details for any thrown value. Internal errors never leak their message. */
export function problemFor(error: unknown): Problem {
  if (isKernelError(error)) {
    const status = statusFor(error.code);
    return {
      type: `https://kerno.dev/problems/${error.code.toLowerCase().replace(/_/g, '-')}`,
      title: TITLES[status] ?? 'Error',
      status,
      detail: status === 500 ? 'The kernel failed; see its log for details' : error.message,
      code: error.code,
      ...(error.details === undefined || status === 500 ? {} : { details: error.details }),
    };
  }
  const e = error as {
    statusCode?: unknown;
    code?: unknown;
    message?: unknown;
    validation?: unknown;
  };
  // Fastify's own client errors (bad JSON, body too large, schema validation …).
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const status = e.statusCode;
    const code =
      status === 413
        ? 'PAYLOAD_TOO_LARGE'
        : status === 415
          ? 'UNSUPPORTED_MEDIA_TYPE'
          : 'INVALID_ARGUMENT';
    return {
      type: `https://kerno.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`,
      title: TITLES[status] ?? 'Bad Request',
      status,
      detail: typeof e.message === 'string' ? e.message : 'The request is malformed',
      code,
    };
  }
  return {
    type: 'https://kerno.dev/problems/internal',
    title: TITLES[500]!,
    status: 500,
    detail: 'The kernel failed; see its log for details',
    code: 'INTERNAL',
  };
}

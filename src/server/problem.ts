/**
 * The one place where errors become HTTP answers: RFC 9457 problem details
 * (`application/problem+json`) with kerno's error `code`.
 *
 * @module
 */
import { ERROR_HINTS, isKernelError, type KernelErrorCode } from '../errors.js';

/**
 * The HTTP status of every error code. Total: the compiler refuses a new code nobody mapped.
 * Only `INTERNAL` is a 500 (its message stays in the log); a code a client can act on never is.
 */
export const HTTP_STATUS: Readonly<Record<KernelErrorCode, number>> = Object.freeze({
  INVALID_ARGUMENT: 400,
  CLOSED: 503,
  INTERNAL: 500,
  INVALID_EVENT: 400,
  UNKNOWN_EVENT_TYPE: 400,
  PUBLISH_OVERFLOW: 503,
  PUBLISH_REJECTED: 503,
  DEPENDENCY_MISSING: 503,
  INVALID_STORE_URL: 400,
  STORAGE_ERROR: 503,
  SCHEMA_TOO_NEW: 503,
  INVALID_QUERY: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  FAILED_TO_START_CHILD: 422,
  NONDETERMINISM: 409,
  FENCED: 409,
  DENIED: 403,
  NOT_SERIALIZABLE: 422,
  TIMEOUT: 504,
  RUN_FAILED: 422,
  RUN_CANCELLED: 409,
  PROTOCOL_ERROR: 422,
  ILLEGAL_TRANSITION: 409,
  CHAIN_BROKEN: 422,
  INVALID_EXPORT: 400,
  DIGEST_MISMATCH: 422,
  INVALID_ARTIFACT: 400,
  INVALID_RVLS_FILE: 400,
  INVALID_UPSTREAM_FILE: 400,
  STORE_LOCKED: 409,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  UNREACHABLE: 503,
  CONFIG_NOT_FOUND: 404,
  UNKNOWN_MODULE: 404,
  CORRUPT_VALUE: 409,
  KEY_REQUIRED: 503,
  WRONG_KEY: 503,
  DECRYPT_FAILED: 409,
  UNKNOWN_AGENT: 404,
  AGENT_STOPPED: 409,
  SERVICE_UNAVAILABLE: 503,
  SUPERVISOR_ESCALATED: 503,
  HEARTBEAT_TIMEOUT: 503,
});

const INTERNAL_DETAIL = 'The kernel failed; see its log for details';

/** A problem details body. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  /** What the client can do about it. */
  readonly hint?: string;
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

/** Builds the problem details for any thrown value. Internal errors never leak their message. */
export function problemFor(error: unknown): Problem {
  if (isKernelError(error)) {
    const status = HTTP_STATUS[error.code];
    return {
      type: `https://kerno.dev/problems/${error.code.toLowerCase().replace(/_/g, '-')}`,
      title: TITLES[status] ?? 'Error',
      status,
      detail: status === 500 ? INTERNAL_DETAIL : error.message,
      code: error.code,
      hint: ERROR_HINTS[error.code],
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
    detail: INTERNAL_DETAIL,
    code: 'INTERNAL',
    hint: ERROR_HINTS.INTERNAL,
  };
}

/**
 * Small helpers the routes share: reading query parameters, limiting streamed bodies, and the
 * request-scoped principal.
 *
 * @module
 */
import { Transform, type Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { KernelError } from '../errors.js';
import type { Principal, RouteScope } from './auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook for every /api route. */
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** Who may call the route (default `admin`; checked by the auth hook). */
    scope?: RouteScope;
    /** The body content types the route takes, for its 415 message (default JSON). */
    accepts?: readonly string[];
  }
  interface FastifySchema {
    /** One line for the OpenAPI description. */
    summary?: string;
    tags?: string[];
  }
}

/** A query parameter as one string (the last one wins), or undefined. */
export function queryString(req: FastifyRequest, name: string): string | undefined {
  const v = (req.query as Record<string, unknown> | undefined)?.[name];
  const last: unknown = Array.isArray(v) ? v[v.length - 1] : v;
  if (last === undefined || last === null || last === '') return undefined;
  return typeof last === 'string' ? last : JSON.stringify(last);
}

/** A comma-separated query parameter as a list. */
export function queryList(req: FastifyRequest, name: string): string[] | undefined {
  const v = queryString(req, name);
  return v === undefined
    ? undefined
    : v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
}

/** A non-negative integer query parameter. */
export function queryInt(
  req: FastifyRequest,
  name: string,
  options: { max?: number } = {},
): number | undefined {
  const v = queryString(req, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v))
    throw new KernelError(
      'INVALID_QUERY',
      `${name} must be a non-negative integer, got "${v.slice(0, 40)}"`,
    );
  const n = Number(v);
  if (options.max !== undefined && n > options.max) {
    throw new KernelError('INVALID_QUERY', `${name} must be at most ${options.max}`);
  }
  return n;
}

/** A time bound: epoch ms digits, or RFC 3339 text (validated by the domain). */
export function queryTime(req: FastifyRequest, name: string): string | number | undefined {
  const v = queryString(req, name);
  if (v === undefined) return undefined;
  return /^\d+$/.test(v) ? Number(v) : v;
}

/** Passes a request body stream through, failing with 413 once it exceeds `limit` bytes. */
export function limitStream(source: Readable, limit: number): Readable {
  let seen = 0;
  const guard = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > limit) {
        done(
          Object.assign(new Error(`The body is larger than ${limit} bytes`), { statusCode: 413 }),
        );
        return;
      }
      done(null, chunk);
    },
  });
  source.on('error', (e) => guard.destroy(e));
  // The reader sees the error through its iteration; a reader that already stopped (it failed
  // on an earlier line) must not turn the late 413 into an unhandled 'error' event.
  guard.on('error', () => undefined);
  return source.pipe(guard);
}

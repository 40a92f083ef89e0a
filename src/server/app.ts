/**
 * The kerno HTTP API: thin routes over the kernel's public API, bearer-token auth on everything
 * but `/health` and the dashboard's static files, every body validated, every error mapped to
 * problem details in one place, and an OpenAPI description built from the routes themselves.
 *
 * @example
 * const server = await createServer(kernel, { token });
 * const { url } = await server.listen({ port: 7420 });
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RouteOptions,
} from 'fastify';
import { KernelError } from '../errors.js';
import type { Kernel } from '../kernel.js';
import { MAX_KEY_LENGTH } from '../registry/registry.js';
import { TokenAuthority, authorize } from './auth.js';
import type { ServerContext } from './context.js';
import { EventFeed, type EventFeedOptions } from './event-feed.js';
import { problemFor, type Problem } from './problem.js';
import { agentRoutes } from './routes/agents.js';
import { approvalRoutes } from './routes/approvals.js';
import { auditRoutes } from './routes/audit.js';
import { eventRoutes } from './routes/events.js';
import { learningRoutes } from './routes/learning.js';
import { ledgerRoutes } from './routes/ledger.js';
import { mcpRoutes } from './routes/mcp.js';
import { DASHBOARD_PUBLIC_PATHS, dashboardRoutes } from './routes/dashboard.js';
import { recoveryRoutes } from './routes/recovery.js';
import { registryRoutes } from './routes/registry.js';
import { runRoutes } from './routes/runs.js';
import { systemRoutes, type MetricsSource } from './routes/system.js';
import './http-util.js';

/** Options for {@link createServer}. */
export interface ServerOptions {
  /** The admin bearer token. */
  readonly token: string;
  /** Where tokens.json (extra tokens) lives; default: the kernel's state folder. */
  readonly stateDir?: string;
  /** Largest JSON body, bytes (default 1 MiB). */
  readonly bodyLimit?: number;
  /** Largest streamed import (NDJSON, RVLS), bytes (default 256 MiB). */
  readonly importLimit?: number;
  readonly version?: string;
  readonly feed?: Omit<EventFeedOptions, 'audit' | 'logger'>;
  /** Extra route registrations (agents, registry, dashboard …). */
  readonly plugins?: readonly ((app: FastifyInstance, ctx: ServerContext) => void)[];
  /** Extra Prometheus lines. */
  readonly metrics?: readonly MetricsSource[];
  /** Paths served without a token (exact, or prefixes written `/ui/*`). */
  readonly publicPaths?: readonly string[];
  /** Serve the dashboard at `/` (default true). */
  readonly dashboard?: boolean;
}

/** A built server. */
export interface KernoServer {
  readonly app: FastifyInstance;
  readonly feed: EventFeed;
  /** Starts listening (default 127.0.0.1:7420). */
  listen(options?: { host?: string; port?: number }): Promise<{ url: string; port: number }>;
  /** Stops accepting requests, ends event streams, closes the server (not the kernel). */
  close(): Promise<void>;
}

/** The longest raw (percent-encoded) path parameter the router accepts. */
const MAX_PARAM_LENGTH = 12 * MAX_KEY_LENGTH;

/** Builds the HTTP server for a kernel. */
export async function createServer(kernel: Kernel, options: ServerOptions): Promise<KernoServer> {
  const app = Fastify({
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    logger: false,
    forceCloseConnections: true,
    // Room for the longest config key percent-encoded; the route schemas set the real limits.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A URL the router refuses (bad encoding, an over-long parameter) is a problem+json 400 too.
    frameworkErrors: (error, _req, reply) => {
      const problem = problemFor(
        error.code === 'FST_ERR_MAX_PARAM_LENGTH' || error.code === 'FST_ERR_BAD_URL'
          ? new KernelError(
              'INVALID_ARGUMENT',
              error.code === 'FST_ERR_BAD_URL'
                ? 'The URL is not valid percent-encoding; encode path parameters with encodeURIComponent'
                : `A path parameter is longer than ${MAX_PARAM_LENGTH} characters; config keys are at most ${MAX_KEY_LENGTH} characters`,
            )
          : error,
      );
      void (reply as FastifyReply)
        .code(problem.status)
        .type('application/problem+json')
        .send(problem);
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  const feed = new EventFeed({ audit: kernel.audit, logger: kernel.logger, ...options.feed });
  await feed.start();
  const ctx: ServerContext = {
    kernel,
    feed,
    version: options.version ?? '0.0.0',
    startedAt: Date.now(),
    importLimit: options.importLimit ?? 256 * 1024 * 1024,
  };
  const authority = new TokenAuthority(options.token, options.stateDir ?? kernel.stateDir);
  const withDashboard = options.dashboard ?? true;
  const publicPaths = [
    '/health',
    ...(withDashboard ? DASHBOARD_PUBLIC_PATHS : []),
    ...(options.publicPaths ?? []),
  ];
  const isPublic = (path: string): boolean =>
    publicPaths.some((p) => (p.endsWith('/*') ? path.startsWith(p.slice(0, -1)) : path === p));

  // Streamed uploads: hand the raw body to the route (which enforces its own limit).
  for (const type of ['application/x-ndjson', 'application/octet-stream', 'text/plain']) {
    app.addContentTypeParser(type, (_req, payload, done) => done(null, payload as Readable));
  }

  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    routes.push(route);
  });

  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?', 1)[0]!;
    if (isPublic(path)) return;
    req.principal = authority.authenticate(req.headers.authorization);
    authorize(req.principal, req.routeOptions.config.scope ?? 'admin');
  });

  // A route with a JSON body schema takes JSON only: a body another parser streamed (text/plain,
  // NDJSON, octet-stream) is refused with the same clear 415 as an unknown content type.
  app.addHook('preValidation', async (req) => {
    if (req.routeOptions.schema?.body === undefined) return;
    if (req.body !== null && typeof req.body === 'object' && 'pipe' in req.body) {
      throw Object.assign(new Error('Unsupported Media Type'), { statusCode: 415 });
    }
  });

  app.setErrorHandler((error, req, reply) => {
    const problem = unsupportedMediaType(problemFor(error), req);
    if (problem.status >= 500)
      kernel.logger.error('API request failed', {
        error: error instanceof Error ? error.message : String(error),
      });
    // A request refused before its body was read whole (an import stopped at a bad line): read
    // and drop the rest of the upload (up to the import limit), or it would stay in the socket
    // and be read as the next request on this keep-alive connection.
    if (!req.raw.complete) discardBody(req.raw, ctx.importLimit);
    return reply.code(problem.status).type('application/problem+json').send(problem);
  });
  app.setNotFoundHandler((req, reply) => {
    const problem = problemFor(
      new KernelError('NOT_FOUND', `No route ${req.method} ${req.url.split('?', 1)[0]}`),
    );
    return reply.code(404).type('application/problem+json').send(problem);
  });

  agentRoutes(app, ctx);
  ledgerRoutes(app, ctx);
  auditRoutes(app, ctx);
  approvalRoutes(app, ctx);
  recoveryRoutes(app, ctx);
  registryRoutes(app, ctx);
  runRoutes(app, ctx);
  learningRoutes(app, ctx);
  eventRoutes(app, ctx);
  mcpRoutes(app, ctx);
  if (withDashboard) dashboardRoutes(app);
  for (const plugin of options.plugins ?? []) plugin(app, ctx);
  systemRoutes(app, ctx, {
    openapi: () => openApiDocument(routes, ctx.version),
    metrics: [...(options.metrics ?? [])],
  });
  await app.ready();

  let closed = false;
  return {
    app,
    feed,
    async listen(listen = {}) {
      const host = listen.host ?? '127.0.0.1';
      const address = await app.listen({ host, port: listen.port ?? 7420 });
      const port = Number(new URL(address).port);
      return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port };
    },
    async close() {
      if (closed) return;
      closed = true;
      await feed.close();
      await app.close();
    },
  };
}

/**
 * A 415 that says what the route accepts: JSON for a route with a body schema, else what its
 * `accepts` config names (the NDJSON and RVLS imports), else JSON.
 */
function unsupportedMediaType(problem: Problem, req: FastifyRequest): Problem {
  if (problem.status !== 415) return problem;
  const accepts = req.routeOptions.config.accepts ?? ['application/json'];
  const got = req.headers['content-type'];
  const path = req.url.split('?', 1)[0]!;
  return {
    ...problem,
    detail: `${req.method} ${path} accepts ${accepts.join(' or ')}, not ${got === undefined ? 'a body without a Content-Type' : JSON.stringify(got.slice(0, 100))}; send the body with Content-Type: ${accepts[0]!}`,
    hint: `Set the Content-Type header to ${accepts[0]!}`,
  };
}

/** Builds an OpenAPI 3.1 document from the registered routes' schemas. */
function openApiDocument(routes: readonly RouteOptions[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const methods = (Array.isArray(r.method) ? r.method : [r.method]).map((m) =>
      String(m).toLowerCase(),
    );
    if (methods.includes('head')) continue;
    const path = r.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const schema = (r.schema ?? {}) as {
      summary?: string;
      tags?: string[];
      body?: unknown;
      querystring?: { properties?: Record<string, unknown>; required?: string[] };
    };
    const parameters: unknown[] = [];
    for (const m of path.matchAll(/\{([A-Za-z_]+)\}/g)) {
      parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
    }
    for (const [name, s] of Object.entries(schema.querystring?.properties ?? {})) {
      parameters.push({
        name,
        in: 'query',
        required: schema.querystring?.required?.includes(name) ?? false,
        schema: s,
      });
    }
    for (const method of methods) {
      paths[path] ??= {};
      paths[path][method] = {
        summary: schema.summary ?? '',
        tags: schema.tags ?? [],
        ...(parameters.length > 0 ? { parameters } : {}),
        ...(schema.body === undefined
          ? {}
          : {
              requestBody: {
                required: true,
                content: { 'application/json': { schema: schema.body } },
              },
            }),
        responses: {
          '200': { description: 'OK' },
          default: {
            description: 'Problem details',
            content: {
              'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
            },
          },
        },
        ...(path === '/health' ? { security: [] } : {}),
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'kerno', version, description: 'A kernel for AI-agent systems: its HTTP API.' },
    servers: [{ url: 'http://127.0.0.1:7420' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'detail', 'code'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            code: { type: 'string' },
            details: { type: 'object' },
          },
        },
      },
    },
  };
}

/**
 * Reads and drops what is left of a request body, destroying the connection once more than
 * `limit` bytes arrive (a client that keeps sending after its refusal).
 */
function discardBody(body: IncomingMessage, limit: number): void {
  let seen = 0;
  body.unpipe();
  body.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limit) body.destroy();
  });
  body.on('error', () => undefined);
  body.resume();
}

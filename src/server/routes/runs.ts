/**
 * /api/runs: durable runs. Define a process agent (stored, so it comes back after a restart),
 * start a run, list and show runs with their journal's steps, and act on them: cancel, resume,
 * rerun, fork, signal.
 *
 * Runs carry a tenant. Tenant tokens see and act only on their tenant's runs (another tenant's
 * run is `NOT_FOUND`, as if it did not exist); a run a tenant token starts is its tenant's.
 * Defining agents stays admin-only: an agent definition is code the daemon runs.
 *
 * @module
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestTraceHeaders } from '../../util/trace-context.js';
import { KernelError } from '../../errors.js';
import { RUN_STATUSES, type RunStatus } from '../../runs/journal.js';
import { validateProcessDefinition } from '../../runs/process-run.js';
import { SCHEDULED_RUN_PREFIX, type RunSummary } from '../../runs/run-engine.js';
import { confineTenant, principalName } from '../auth.js';
import type { ServerContext } from '../context.js';
import { queryInt, queryString, queryTime } from '../http-util.js';

const STATUSES = RUN_STATUSES;

const ID_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

const REASON = { type: 'string', minLength: 1, maxLength: 1000 } as const;

/** A time query bound as epoch ms (digits or RFC 3339 text). */
function timeBound(req: FastifyRequest, name: string): number | undefined {
  const v = queryTime(req, name);
  if (v === undefined || typeof v === 'number') return v;
  const ms = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(ms)) {
    throw new KernelError(
      'INVALID_QUERY',
      `${name} is epoch milliseconds or an RFC 3339 time (2026-12-01T10:00:00Z), got ${JSON.stringify(v.slice(0, 40))}`,
    );
  }
  return ms;
}

/** Registers the run routes. */
export function runRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { kernel } = ctx;

  /** The run, if the caller may see it (another tenant's run is NOT_FOUND). */
  const visible = (req: FastifyRequest, id: string): RunSummary => {
    const tenant = confineTenant(req.principal, undefined);
    const run = kernel.runs.find(id);
    if (run === undefined || (tenant != null && run.tenant !== tenant)) {
      throw new KernelError('NOT_FOUND', `No run ${id}; list the runs with GET /api/runs`);
    }
    return run;
  };

  app.post<{ Body: unknown }>(
    '/api/runs/agents',
    {
      schema: {
        summary:
          'Define a durable process agent ({name, version?, process: {command, args?, env?, cwd?}}); stored, so its runs resume after a restart (admin)',
        tags: ['runs'],
        body: { type: 'object', required: ['name', 'process'] },
      },
    },
    async (req, reply) => {
      const definition = validateProcessDefinition(req.body);
      await kernel.define(definition);
      return reply.code(201).send({ name: definition.name, version: definition.version ?? '1' });
    },
  );

  app.post<{
    Body: {
      agent: string;
      input?: unknown;
      id?: string;
      tenant?: string;
      config?: unknown;
      priority?: number;
      limitKey?: string;
    };
  }>(
    '/api/runs',
    {
      config: { scope: 'tenant' },
      schema: {
        summary:
          "Start a run of a defined agent (with id, idempotently); a tenant token's run is its tenant's; under a limit it is queued by priority (higher first) and limitKey",
        tags: ['runs'],
        body: {
          type: 'object',
          required: ['agent'],
          additionalProperties: false,
          properties: {
            agent: { type: 'string', minLength: 1, maxLength: 128 },
            input: {},
            id: { type: 'string', minLength: 1, maxLength: 200 },
            tenant: { type: 'string', minLength: 1, maxLength: 200 },
            config: { description: 'JSON the run sees as ctx.config' },
            priority: { type: 'integer', minimum: -1_000_000, maximum: 1_000_000 },
            limitKey: { type: 'string', minLength: 1, maxLength: 128 },
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const tenant = confineTenant(req.principal, b.tenant) ?? undefined;
      // One tenant may not jump the queue on limits shared with others.
      if (b.priority !== undefined && b.priority > 0 && req.principal.kind !== 'admin') {
        throw new KernelError(
          'FORBIDDEN',
          'A tenant token may not set a priority above 0; an admin token sets priorities',
        );
      }
      if (b.id?.startsWith(SCHEDULED_RUN_PREFIX) === true) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          `Run ids starting with '${SCHEDULED_RUN_PREFIX}' are reserved for schedules; choose another id or start without one`,
        );
      }
      if (b.id !== undefined) {
        const existing = kernel.runs.find(b.id);
        if (existing !== undefined && existing.tenant !== tenant && req.principal.kind !== 'admin')
          throw new KernelError('CONFLICT', `Run id ${b.id} is taken; start without an id`);
      }
      // A caller's W3C traceparent header makes the run's root span its child.
      const run = await kernel.start(b.agent, b.input, {
        ...(b.id === undefined ? {} : { id: b.id }),
        ...(tenant === undefined ? {} : { tenant }),
        ...(b.config === undefined ? {} : { config: b.config }),
        ...requestTraceHeaders(req.headers),
        ...(b.priority === undefined ? {} : { priority: b.priority }),
        ...(b.limitKey === undefined ? {} : { limitKey: b.limitKey }),
      });
      return reply.code(201).send({ id: run.id });
    },
  );

  app.get(
    '/api/runs',
    {
      config: { scope: 'tenant' },
      schema: {
        summary:
          'Runs, newest first, a page at a time ({ runs, nextCursor? }: pass nextCursor as cursor for the next page)',
        tags: ['runs'],
        querystring: {
          type: 'object',
          properties: {
            agent: { type: 'string' },
            status: {
              type: 'string',
              description: `comma-separated statuses: ${RUN_STATUSES.join(', ')}`,
            },
            tenant: { type: 'string', description: "a tenant token always gets its own tenant's" },
            since: { type: 'string', description: 'started at or after (epoch ms or RFC 3339)' },
            until: { type: 'string', description: 'started before (epoch ms or RFC 3339)' },
            q: { type: 'string', description: 'text in the run id or agent name' },
            cursor: { type: 'string', description: 'the nextCursor of the previous page' },
            limit: { type: 'string', description: 'at most 10000 (default 100)' },
          },
        },
      },
    },
    async (req) => {
      const status = queryString(req, 'status')
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      for (const s of status ?? []) {
        if (!STATUSES.includes(s as RunStatus)) {
          throw new KernelError(
            'INVALID_QUERY',
            `status must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(s)}`,
          );
        }
      }
      const agent = queryString(req, 'agent');
      const tenant = confineTenant(req.principal, queryString(req, 'tenant')) ?? undefined;
      const sinceMs = timeBound(req, 'since');
      const untilMs = timeBound(req, 'until');
      const q = queryString(req, 'q');
      const cursor = queryString(req, 'cursor');
      const limit = queryInt(req, 'limit', { max: 10_000 }) ?? 100;
      if (limit < 1) throw new KernelError('INVALID_QUERY', 'limit must be at least 1');
      const page = kernel.runs.list({
        ...(agent === undefined ? {} : { agent }),
        ...(status === undefined ? {} : { status: status as RunStatus[] }),
        ...(tenant === undefined ? {} : { tenant }),
        ...(sinceMs === undefined ? {} : { sinceMs }),
        ...(untilMs === undefined ? {} : { untilMs }),
        ...(q === undefined ? {} : { q }),
        ...(cursor === undefined ? {} : { before: cursor }),
        limit: limit + 1,
      });
      const more = page.length > limit;
      const runs = more ? page.slice(0, limit) : page;
      return { runs, ...(more ? { nextCursor: runs[runs.length - 1]!.id } : {}) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/runs/:id',
    {
      config: { scope: 'tenant' },
      schema: {
        summary:
          'One run with its journal: steps (key, status, attempts, duration, result or error, the resume it ran in, copied by a fork), resumes (who, why, config, replayed and ran), forks',
        tags: ['runs'],
        params: ID_PARAMS,
      },
    },
    async (req) => {
      visible(req, req.params.id);
      return kernel.runs.get(req.params.id);
    },
  );

  app.post<{ Params: { id: string }; Body: { name: string; payload?: unknown; id?: string } }>(
    '/api/runs/:id/signal',
    {
      config: { scope: 'tenant' },
      schema: {
        summary: 'Send a durable signal into a run (ctx.waitForSignal / {"type":"wait"} takes it)',
        tags: ['runs'],
        params: ID_PARAMS,
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            payload: {},
            id: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
      },
    },
    async (req, reply) => {
      visible(req, req.params.id);
      const b = req.body;
      await kernel.signal(req.params.id, b.name, b.payload, b.id === undefined ? {} : { id: b.id });
      return reply.code(202).send({ id: req.params.id, signal: b.name });
    },
  );

  app.post<{ Params: { id: string }; Body: { reason?: string } | undefined }>(
    '/api/runs/:id/cancel',
    {
      config: { scope: 'tenant' },
      schema: {
        summary: 'Cancel a run (a run that has ended stays as it ended)',
        tags: ['runs'],
        params: ID_PARAMS,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { reason: REASON },
        },
      },
    },
    async (req) => {
      visible(req, req.params.id);
      return kernel.runs.cancel(req.params.id, req.body?.reason ?? 'cancelled');
    },
  );

  app.post<{ Params: { id: string }; Body: { reason?: string; config?: unknown } | undefined }>(
    '/api/runs/:id/resume',
    {
      config: { scope: 'tenant' },
      schema: {
        summary:
          'Resume a failed or cancelled run under its id: failed steps run again (with config as ctx.config, if given), completed steps replay',
        tags: ['runs'],
        params: ID_PARAMS,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { reason: REASON, config: {} },
        },
      },
    },
    async (req) => {
      visible(req, req.params.id);
      const b = req.body ?? {};
      return kernel.runs.resume(req.params.id, {
        by: principalName(req.principal),
        ...(b.reason === undefined ? {} : { reason: b.reason }),
        ...(b.config === undefined ? {} : { config: b.config }),
      });
    },
  );

  app.post<{ Params: { id: string }; Body: { id?: string } | undefined }>(
    '/api/runs/:id/rerun',
    {
      config: { scope: 'tenant' },
      schema: {
        summary: 'A fresh run of the same agent with the same input, config and tenant',
        tags: ['runs'],
        params: ID_PARAMS,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
        },
      },
    },
    async (req, reply) => {
      visible(req, req.params.id);
      const b = req.body ?? {};
      const run = await kernel.runs.rerun(req.params.id, {
        ...(b.id === undefined ? {} : { id: b.id }),
        ...requestTraceHeaders(req.headers),
      });
      return reply.code(201).send({ id: run.id, rerunOf: req.params.id });
    },
  );

  app.post<{
    Params: { id: string };
    Body: { fromStep: string | number; config?: unknown; input?: unknown; id?: string };
  }>(
    '/api/runs/:id/fork',
    {
      config: { scope: 'tenant' },
      schema: {
        summary:
          'Fork a run: a new run whose journal holds the steps before fromStep (a step key or 0-based position), which replay without running; it continues live',
        tags: ['runs'],
        params: ID_PARAMS,
        body: {
          type: 'object',
          required: ['fromStep'],
          additionalProperties: false,
          properties: {
            fromStep: {
              anyOf: [
                { type: 'string', minLength: 1, maxLength: 300 },
                { type: 'integer', minimum: 0 },
              ],
            },
            config: {},
            input: {},
            id: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
      },
    },
    async (req, reply) => {
      visible(req, req.params.id);
      const b = req.body;
      const run = await kernel.runs.fork(req.params.id, {
        ...requestTraceHeaders(req.headers),
        fromStep: b.fromStep,
        ...(b.config === undefined ? {} : { config: b.config }),
        ...(b.input === undefined ? {} : { input: b.input }),
        ...(b.id === undefined ? {} : { id: b.id }),
      });
      return reply.code(201).send({ id: run.id, forkOf: kernel.runs.find(run.id)?.forkOf });
    },
  );
}

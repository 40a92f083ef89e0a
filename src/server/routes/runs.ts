/**
 * /api/runs: durable runs. Define a process agent (stored, so it comes back after a restart),
 * start a run, list and show runs with their journal's steps, signal and cancel them.
 *
 * Admin tokens only: runs carry no tenant yet, so a tenant token could not be confined to its
 * own runs.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { KernelError } from '../../errors.js';
import { RUN_STATUSES, type RunStatus } from '../../runs/journal.js';
import { validateProcessDefinition } from '../../runs/process-run.js';
import type { ServerContext } from '../context.js';
import { queryInt, queryString } from '../http-util.js';

const STATUSES = RUN_STATUSES;

/** Registers the run routes. */
export function runRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { kernel } = ctx;

  app.post<{ Body: unknown }>(
    '/api/runs/agents',
    {
      schema: {
        summary:
          'Define a durable process agent ({name, version?, process: {command, args?, env?, cwd?}}); stored, so its runs resume after a restart',
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
    Body: { agent: string; input?: unknown; id?: string; priority?: number; limitKey?: string };
  }>(
    '/api/runs',
    {
      schema: {
        summary:
          'Start a run of a defined agent (with id, idempotently); under a limit it is queued by priority (higher first) and limitKey',
        tags: ['runs'],
        body: {
          type: 'object',
          required: ['agent'],
          additionalProperties: false,
          properties: {
            agent: { type: 'string', minLength: 1, maxLength: 128 },
            input: {},
            id: { type: 'string', minLength: 1, maxLength: 200 },
            priority: { type: 'integer', minimum: -1_000_000, maximum: 1_000_000 },
            limitKey: { type: 'string', minLength: 1, maxLength: 128 },
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const run = await kernel.start(b.agent, b.input, {
        ...(b.id === undefined ? {} : { id: b.id }),
        ...(b.priority === undefined ? {} : { priority: b.priority }),
        ...(b.limitKey === undefined ? {} : { limitKey: b.limitKey }),
      });
      return reply.code(201).send({ id: run.id });
    },
  );

  app.get(
    '/api/runs',
    {
      schema: {
        summary: 'Runs, newest first',
        tags: ['runs'],
        querystring: {
          type: 'object',
          properties: {
            agent: { type: 'string' },
            status: {
              type: 'string',
              description: `comma-separated statuses: ${RUN_STATUSES.join(', ')}`,
            },
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
      return {
        runs: kernel.runs.list({
          ...(agent === undefined ? {} : { agent }),
          ...(status === undefined ? {} : { status: status as RunStatus[] }),
          limit: queryInt(req, 'limit', { max: 10_000 }) ?? 100,
        }),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/runs/:id',
    { schema: { summary: 'One run with its steps', tags: ['runs'] } },
    async (req) => kernel.runs.get(req.params.id),
  );

  app.post<{ Params: { id: string }; Body: { name: string; payload?: unknown; id?: string } }>(
    '/api/runs/:id/signal',
    {
      schema: {
        summary: 'Send a durable signal into a run (ctx.waitForSignal / {"type":"wait"} takes it)',
        tags: ['runs'],
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
      const b = req.body;
      await kernel.signal(req.params.id, b.name, b.payload, b.id === undefined ? {} : { id: b.id });
      return reply.code(202).send({ id: req.params.id, signal: b.name });
    },
  );

  app.post<{ Params: { id: string }; Body: { reason?: string } | undefined }>(
    '/api/runs/:id/cancel',
    {
      schema: {
        summary: 'Cancel a run (a run that has ended stays as it ended)',
        tags: ['runs'],
      },
    },
    async (req) => {
      const reason = (req.body as { reason?: unknown } | undefined)?.reason;
      return kernel.runs.cancel(req.params.id, typeof reason === 'string' ? reason : 'cancelled');
    },
  );
}

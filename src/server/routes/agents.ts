/**
 * /api/agents: list supervised agents, spawn a process agent, kill one, restart one.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { KernelError } from '../../errors.js';
import type { ServerContext } from '../context.js';

interface SpawnBody {
  name: string;
  command: string;
  args?: string[];
  env?: Record<string, string>;
  secrets?: (string | { name: string; env?: string })[];
  cwd?: string;
  restart?: 'permanent' | 'transient' | 'temporary';
  config?: unknown;
  recovery?:
    | false
    | {
        max_attempts?: number;
        max_flaky_retries?: number;
        allow_patch_forward?: boolean;
        allow_rollback?: boolean;
      };
}

/** Registers the agent routes. */
export function agentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { kernel } = ctx;
  app.get(
    '/api/agents',
    { schema: { summary: 'Supervised agents with status and restart counts', tags: ['agents'] } },
    async () => {
      return { agents: kernel.supervisor.list() };
    },
  );
  app.get<{ Params: { id: string } }>(
    '/api/agents/:id',
    { schema: { summary: 'One agent', tags: ['agents'] } },
    async (req) => {
      const agent = kernel.supervisor.get(req.params.id);
      if (agent === undefined)
        throw new KernelError(
          'NOT_FOUND',
          `No agent ${req.params.id}; list them with GET /api/agents`,
        );
      return agent;
    },
  );
  app.post<{ Body: SpawnBody }>(
    '/api/agents',
    {
      schema: {
        summary: 'Spawn a process agent (JSON lines on stdio; see docs/agent-protocol.md)',
        tags: ['agents'],
        body: {
          type: 'object',
          required: ['name', 'command'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            command: { type: 'string', minLength: 1, maxLength: 4096 },
            args: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 65536 } },
            env: { type: 'object', additionalProperties: { type: 'string', maxLength: 65536 } },
            secrets: {
              type: 'array',
              maxItems: 64,
              items: {
                anyOf: [
                  { type: 'string', minLength: 1, maxLength: 100 },
                  {
                    type: 'object',
                    required: ['name'],
                    additionalProperties: false,
                    properties: {
                      name: { type: 'string', minLength: 1, maxLength: 100 },
                      env: { type: 'string', minLength: 1, maxLength: 200 },
                    },
                  },
                ],
              },
            },
            cwd: { type: 'string', maxLength: 4096 },
            restart: { type: 'string', enum: ['permanent', 'transient', 'temporary'] },
            config: {},
            recovery: {
              anyOf: [
                { type: 'boolean', const: false },
                {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    max_attempts: { type: 'integer', minimum: 0, maximum: 100 },
                    max_flaky_retries: { type: 'integer', minimum: 0, maximum: 100 },
                    allow_patch_forward: { type: 'boolean' },
                    allow_rollback: { type: 'boolean' },
                  },
                },
              ],
            },
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const handle = await kernel.spawn({
        name: b.name,
        command: b.command,
        ...(b.args === undefined ? {} : { args: b.args }),
        ...(b.env === undefined ? {} : { env: b.env }),
        ...(b.secrets === undefined ? {} : { secrets: b.secrets }),
        ...(b.cwd === undefined ? {} : { cwd: b.cwd }),
        ...(b.restart === undefined ? {} : { restart: b.restart }),
        ...(b.config === undefined ? {} : { config: b.config }),
        ...(b.recovery === undefined ? {} : { recovery: b.recovery }),
      });
      return reply.code(201).send(handle.info());
    },
  );
  app.post<{ Params: { id: string } }>(
    '/api/agents/:id/restart',
    {
      schema: {
        summary:
          'Restart an agent: a running one is stopped and started again; a finished one (completed, killed, failed) starts again from its last spec',
        tags: ['agents'],
      },
    },
    async (req, reply) => {
      const { supervisor } = kernel;
      const info = supervisor.get(req.params.id);
      if (info === undefined)
        throw new KernelError(
          'NOT_FOUND',
          `No agent ${req.params.id}; list them with GET /api/agents (finished agents are forgotten after a while)`,
        );
      if (info.kind === 'supervisor')
        throw new KernelError(
          'CONFLICT',
          `${info.name} is a nested supervisor; restart its children one by one`,
        );
      const topLevel = info.supervisorId === supervisor.id;
      if (info.outcome === null) {
        await supervisor.terminateChild(info.id);
        // A temporary agent is not kept once stopped, so it cannot be restarted in place: start
        // it again from the spec it was last spawned with.
        const spec = topLevel ? supervisor.lastSpec(info.name) : undefined;
        let handle;
        try {
          handle = await supervisor.restartChild(info.id);
        } catch (error) {
          if (spec === undefined) throw error;
          handle = await supervisor.spawn(spec);
        }
        return reply.code(202).send(handle.info());
      }
      // A finished agent starts again from the spec it was last spawned with (top level only: a
      // nested supervisor's children come back with their supervisor).
      const spec = topLevel ? supervisor.lastSpec(info.name) : undefined;
      if (spec === undefined)
        throw new KernelError(
          'CONFLICT',
          `Agent ${info.name} has finished and cannot be started again from here; spawn it again with POST /api/agents, or restart the supervisor it belongs to`,
        );
      const handle = await supervisor.spawn(spec);
      return reply.code(202).send(handle.info());
    },
  );
  app.delete<{ Params: { id: string } }>(
    '/api/agents/:id',
    {
      schema: {
        summary: 'Stop an agent (SIGTERM, then SIGKILL after the grace period)',
        tags: ['agents'],
      },
    },
    async (req) => {
      if (kernel.supervisor.get(req.params.id) === undefined)
        throw new KernelError('NOT_FOUND', `No agent ${req.params.id}`);
      const outcome = await kernel.supervisor.kill(req.params.id);
      return { id: req.params.id, reason: outcome.reason, status: outcome.status };
    },
  );
}

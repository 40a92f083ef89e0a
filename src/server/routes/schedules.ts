/**
 * /api/schedules: the schedules (policy kind `schedule`) with their next fire times. Schedules
 * are created, changed, paused and deleted through /api/policies/schedule/:name (versioned and
 * audited); these routes add what is not generic: when each fires next, and the last firing.
 * Admin tokens only, like the policies.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';

/** Registers the schedule routes. */
export function scheduleRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { schedules } = ctx.kernel;
  app.get(
    '/api/schedules',
    {
      schema: {
        summary:
          'Schedules with their next fire time (ISO UTC and the wall clock of their time zone) and last firing; change them with PUT /api/policies/schedule/:name',
        tags: ['policies'],
      },
    },
    async () => ({ schedules: schedules.list() }),
  );
  app.get<{ Params: { name: string } }>(
    '/api/schedules/:name',
    {
      schema: {
        summary: 'One schedule with its next fire time and last firing',
        tags: ['policies'],
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 128 } },
        },
      },
    },
    async (req) => schedules.get(req.params.name),
  );
}

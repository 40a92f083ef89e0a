/**
 * /api/queues: the concurrency and rate limits (policy kind `limit`) with the slots in use
 * (across every kernel sharing the store) and the runs and steps queued on this kernel, in the
 * order they will start. Limits are set through /api/policies/limit/:name. Admin tokens only.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';

/** Registers the queue routes. */
export function limitRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { limits } = ctx.kernel;
  app.get(
    '/api/queues',
    {
      schema: {
        summary:
          'Limits with their slots in use and the queued runs and steps (position 1 starts next); set limits with PUT /api/policies/limit/:name',
        tags: ['policies'],
      },
    },
    async () => ({ queues: limits.queues() }),
  );
}

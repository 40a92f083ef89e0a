/**
 * /api/recovery: the recovery runs the kernel performed.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { KernelError } from '../../errors.js';
import type { ServerContext } from '../context.js';
import { queryInt, queryString } from '../http-util.js';

/** Registers the recovery routes. */
export function recoveryRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { recoveries } = ctx.kernel;
  app.get(
    '/api/recovery',
    {
      schema: {
        summary: 'Recent recovery runs (newest last)',
        tags: ['recovery'],
        querystring: {
          type: 'object',
          properties: { agent: { type: 'string' }, limit: { type: 'string' } },
        },
      },
    },
    async (req) => {
      const limit = queryInt(req, 'limit', { max: 1000 }) ?? 50;
      const agent = queryString(req, 'agent');
      const runs =
        agent === undefined
          ? await recoveries.recent(limit)
          : (await recoveries.forAgent(agent, limit)).map((log) => ({ agent, log }));
      return { runs };
    },
  );
  app.get<{ Params: { runId: string } }>(
    '/api/recovery/:runId',
    { schema: { summary: 'One recovery run', tags: ['recovery'] } },
    async (req) => {
      const run = await recoveries.get(req.params.runId);
      if (run === undefined)
        throw new KernelError('NOT_FOUND', `No recovery run ${req.params.runId}`);
      return run;
    },
  );
}

/**
 * POST /api/ledger/repair and /api/audit/repair (admin only): the append-only repair path for a
 * chain with known breaks. The operator accepts the chain as it stands through a seq, with a
 * reason; the anchor records the token's identity as who accepted it (never a name from the
 * body) and the acceptance is audited. Nothing is updated or deleted.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import type { ChainTarget } from '../../kernel.js';
import { principalName } from '../auth.js';
import type { ServerContext } from '../context.js';

interface RepairBody {
  acceptThrough: number;
  reason: string;
}

/** Registers the repair route of `target` at `/api/<target>/repair`. */
export function chainRepairRoute(
  app: FastifyInstance,
  ctx: ServerContext,
  target: ChainTarget,
): void {
  app.post<{ Body: RepairBody }>(
    `/api/${target}/repair`,
    {
      schema: {
        summary: `Accept the ${target} chain as it stands through a seq (an acceptance anchor: breaks at or before it are reported as accepted, everything after is checked strictly)`,
        tags: [target],
        body: {
          type: 'object',
          required: ['acceptThrough', 'reason'],
          additionalProperties: false,
          properties: {
            acceptThrough: { type: 'integer', minimum: 1 },
            reason: { type: 'string', minLength: 1, maxLength: 1000 },
          },
        },
      },
    },
    async (req, reply) => {
      const anchor = await ctx.kernel.acceptChain(target, {
        throughSeq: req.body.acceptThrough,
        reason: req.body.reason,
        by: principalName(req.principal),
      });
      return reply.code(201).send(anchor);
    },
  );
}

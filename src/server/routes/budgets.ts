/**
 * /api/budgets: use vs limit of every budget policy (usage comes from the ledger), and the
 * raise-or-stop decision on a budget gate with a new limit. The policies themselves are set
 * through the generic /api/policies/budget/:name routes.
 *
 * A tenant token sees only its tenant's budgets; deciding a gate needs an admin token.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { confineTenant, principalName } from '../auth.js';
import type { ServerContext } from '../context.js';
import { queryString } from '../http-util.js';

interface DecideBody {
  approve: boolean;
  limits?: { tokens?: number; costMicros?: number; calls?: number };
  reason?: string;
}

/** Registers the budget routes. */
export function budgetRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { budgets } = ctx.kernel;
  app.get(
    '/api/budgets',
    {
      config: { scope: 'tenant' },
      schema: {
        summary:
          'Use vs limit per budget policy: one row per limit and period (window, or the run that spent most)',
        tags: ['budgets'],
        querystring: {
          type: 'object',
          properties: {
            agent: { type: 'string', maxLength: 128 },
            tenant: { type: 'string', maxLength: 128 },
            run: { type: 'string', maxLength: 200 },
          },
        },
      },
    },
    async (req) => {
      const tenant = confineTenant(req.principal, queryString(req, 'tenant'));
      const agent = queryString(req, 'agent');
      const run = queryString(req, 'run');
      return {
        budgets: budgets.usage({
          ...(agent === undefined ? {} : { agent }),
          ...(tenant === undefined || tenant === null ? {} : { tenant }),
          ...(run === undefined ? {} : { run }),
        }),
      };
    },
  );

  const limit = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
  app.post<{ Params: { id: string }; Body: DecideBody }>(
    '/api/budgets/gates/:id',
    {
      schema: {
        summary:
          'Decide a budget gate: approve (raising the limit to `limits`, or by the budget raise factor) and the run resumes, or reject and the run stops (budget exceeded)',
        tags: ['budgets'],
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', maxLength: 100 } },
        },
        body: {
          type: 'object',
          required: ['approve'],
          additionalProperties: false,
          properties: {
            approve: { type: 'boolean' },
            limits: {
              type: 'object',
              additionalProperties: false,
              properties: { tokens: limit, costMicros: limit, calls: limit },
            },
            reason: { type: 'string', maxLength: 2000 },
          },
        },
      },
    },
    async (req) =>
      budgets.decide(req.params.id, {
        approve: req.body.approve,
        ...(req.body.limits === undefined ? {} : { limits: req.body.limits }),
        ...(req.body.reason === undefined ? {} : { reason: req.body.reason }),
        by: principalName(req.principal),
      }),
  );
}

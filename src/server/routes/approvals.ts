/**
 * /api/approvals: list pending (or all) gates, approve, reject.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { queryString } from '../http-util.js';

/** Registers the approval routes. */
export function approvalRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { approvals } = ctx.kernel;
  app.get(
    '/api/approvals',
    {
      schema: {
        summary: 'Approval gates (default: pending)',
        tags: ['approvals'],
        querystring: {
          type: 'object',
          properties: { status: { type: 'string', enum: ['pending', 'decided', 'all'] } },
        },
      },
    },
    async (req) => {
      const status = (queryString(req, 'status') ?? 'pending') as 'pending' | 'decided' | 'all';
      return { approvals: approvals.list({ status }) };
    },
  );
  const params = {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', maxLength: 100 } },
  };
  app.post<{ Params: { id: string }; Body: { by?: string } | undefined }>(
    '/api/approvals/:id/approve',
    {
      schema: {
        summary: 'Approve a gate',
        tags: ['approvals'],
        params,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { by: { type: 'string', maxLength: 200 } },
        },
      },
    },
    async (req) => {
      return approvals.approve(req.params.id, { by: req.body?.by ?? req.principal.label });
    },
  );
  app.post<{ Params: { id: string }; Body: { by?: string; reason?: string } | undefined }>(
    '/api/approvals/:id/reject',
    {
      schema: {
        summary: 'Reject a gate',
        tags: ['approvals'],
        params,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            by: { type: 'string', maxLength: 200 },
            reason: { type: 'string', maxLength: 2000 },
          },
        },
      },
    },
    async (req) => {
      return approvals.reject(req.params.id, {
        by: req.body?.by ?? req.principal.label,
        ...(req.body?.reason === undefined ? {} : { reason: req.body.reason }),
      });
    },
  );
}

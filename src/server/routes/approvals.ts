/**
 * /api/approvals: list pending (or all) gates, approve, reject. The deciding token is recorded as
 * `decided_by`; what the body says (`note`, or the older `by`) is only a note.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { principalName } from '../auth.js';
import type { ServerContext } from '../context.js';
import { queryString } from '../http-util.js';

interface DecideBody {
  note?: string;
  by?: string;
}

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
  const note = (body: DecideBody | undefined): { note?: string } => {
    const text = body?.note ?? body?.by;
    return text === undefined ? {} : { note: text };
  };
  const noteSchema = {
    note: { type: 'string', maxLength: 2000, description: 'a note kept with the decision' },
    by: {
      type: 'string',
      maxLength: 200,
      description: 'deprecated: kept as the note; decided_by is always the token',
    },
  };
  app.post<{ Params: { id: string }; Body: DecideBody | undefined }>(
    '/api/approvals/:id/approve',
    {
      schema: {
        summary: 'Approve a gate',
        tags: ['approvals'],
        params,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: noteSchema,
        },
      },
    },
    async (req) => {
      return approvals.approve(req.params.id, {
        by: principalName(req.principal),
        ...note(req.body),
      });
    },
  );
  app.post<{ Params: { id: string }; Body: (DecideBody & { reason?: string }) | undefined }>(
    '/api/approvals/:id/reject',
    {
      schema: {
        summary: 'Reject a gate',
        tags: ['approvals'],
        params,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { ...noteSchema, reason: { type: 'string', maxLength: 2000 } },
        },
      },
    },
    async (req) => {
      return approvals.reject(req.params.id, {
        by: principalName(req.principal),
        ...note(req.body),
        ...(req.body?.reason === undefined ? {} : { reason: req.body.reason }),
      });
    },
  );
}

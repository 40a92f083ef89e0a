/**
 * /api/approvals: list pending (or all) gates with the similar requests' decisions, show one,
 * approve, reject. The deciding token is recorded as `decided_by`; what the body says (`note`,
 * or the older `by`) is only a note. A tenant token sees and decides only its tenant's gates; a
 * gate with an approver group is decided only by tokens with the scope `approver:<group>` (or
 * admin tokens).
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import type {
  ApprovalGate,
  ApprovalSnapshot,
  SimilarDecision,
} from '../../approvals/approval-gate.js';
import { KernelError } from '../../errors.js';
import { deciderOf, principalName, type Principal } from '../auth.js';
import type { ServerContext } from '../context.js';
import { queryString } from '../http-util.js';

interface DecideBody {
  note?: string;
  by?: string;
}

/** A gate as the inbox shows it: with the similar requests and their decisions. */
export type InboxGate = ApprovalSnapshot & { readonly similar: readonly SimilarDecision[] };

function withSimilar(approvals: ApprovalGate, g: ApprovalSnapshot): InboxGate {
  return { ...g, similar: approvals.similar(g.id) };
}

function tenantOf(p: Principal): string | undefined {
  return p.kind === 'tenant' ? p.tenant : undefined;
}

/** Registers the approval routes. */
export function approvalRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { approvals } = ctx.kernel;
  app.get(
    '/api/approvals',
    {
      config: { scope: 'tenant' },
      schema: {
        summary:
          'Approval gates (default: pending), each with `similar`: earlier requests like it and their decisions',
        tags: ['approvals'],
        querystring: {
          type: 'object',
          properties: { status: { type: 'string', enum: ['pending', 'decided', 'all'] } },
        },
      },
    },
    async (req) => {
      const status = (queryString(req, 'status') ?? 'pending') as 'pending' | 'decided' | 'all';
      return {
        approvals: approvals
          .list({ status, tenant: tenantOf(req.principal) })
          .map((g) => withSimilar(approvals, g)),
      };
    },
  );
  const params = {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', maxLength: 100 } },
  };
  app.get<{ Params: { id: string } }>(
    '/api/approvals/:id',
    {
      config: { scope: 'tenant' },
      schema: {
        summary: 'One gate, with its votes, who may decide it and the similar requests',
        tags: ['approvals'],
        params,
      },
    },
    async (req) => {
      const gate = approvals.get(req.params.id);
      const tenant = tenantOf(req.principal);
      if (gate === undefined || (tenant !== undefined && gate.tenantId !== tenant)) {
        throw new KernelError(
          'NOT_FOUND',
          `No approval gate ${req.params.id}; list the pending ones with \`kerno approvals ls\``,
        );
      }
      return withSimilar(approvals, gate);
    },
  );
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
      config: { scope: 'tenant' },
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
        decider: deciderOf(req.principal),
        ...note(req.body),
      });
    },
  );
  app.post<{ Params: { id: string }; Body: (DecideBody & { reason?: string }) | undefined }>(
    '/api/approvals/:id/reject',
    {
      config: { scope: 'tenant' },
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
        decider: deciderOf(req.principal),
        ...note(req.body),
        ...(req.body?.reason === undefined ? {} : { reason: req.body.reason }),
      });
    },
  );
}

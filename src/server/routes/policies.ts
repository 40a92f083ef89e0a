/**
 * /api/policies: kernel policies (budgets, approval rules, schedules, limits) as versioned
 * documents. Admin tokens only; who changed a policy is the token's label, recorded with every
 * version and in the audit trail. `If-Match: <version>` on PUT/DELETE refuses a change made on
 * top of a version the caller did not read (`412`-style `CONFLICT`).
 *
 * @module
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KernelError } from '../../errors.js';
import {
  parsePolicyKind,
  parsePolicyName,
  POLICY_KINDS,
  type PolicyChangeOptions,
} from '../../policies/policy-store.js';
import { principalName } from '../auth.js';
import type { ServerContext } from '../context.js';
import { queryString } from '../http-util.js';

const PARAMS = {
  type: 'object',
  required: ['kind', 'name'],
  properties: {
    kind: { type: 'string', enum: [...POLICY_KINDS] },
    name: { type: 'string', minLength: 1, maxLength: 128 },
  },
};

type Params = { Params: { kind: string; name: string } };

function changeOptions(req: FastifyRequest, reason: unknown): PolicyChangeOptions {
  const ifMatch = req.headers['if-match'];
  let expectedVersion: number | undefined;
  if (ifMatch !== undefined) {
    const text = String(ifMatch).replace(/^W\/|"/g, '');
    expectedVersion = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isInteger(expectedVersion)) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `If-Match must be the policy version you read (a whole number, 0 for "does not exist yet"), got ${JSON.stringify(ifMatch)}`,
      );
    }
  }
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 1000)) {
    throw new KernelError('INVALID_ARGUMENT', 'reason must be a string of at most 1000 characters');
  }
  return {
    by: principalName(req.principal),
    ...(reason === undefined ? {} : { reason }),
    ...(expectedVersion === undefined ? {} : { expectedVersion }),
  };
}

/** Registers the policy routes. */
export function policyRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { policies } = ctx.kernel;
  app.get(
    '/api/policies',
    {
      schema: {
        summary: 'Current policies (every kind, or ?kind=budget|rule|schedule|limit)',
        tags: ['policies'],
        querystring: {
          type: 'object',
          properties: { kind: { type: 'string', enum: [...POLICY_KINDS] } },
        },
      },
    },
    async (req) => {
      const kind = queryString(req, 'kind');
      return { policies: policies.list(kind === undefined ? undefined : parsePolicyKind(kind)) };
    },
  );
  app.get<Params>(
    '/api/policies/:kind/:name',
    {
      schema: { summary: 'The current version of one policy', tags: ['policies'], params: PARAMS },
    },
    async (req, reply) => {
      const kind = parsePolicyKind(req.params.kind);
      const policy = policies.get(kind, parsePolicyName(req.params.name));
      if (policy === undefined)
        throw new KernelError(
          'NOT_FOUND',
          `No ${kind} policy named ${JSON.stringify(req.params.name)}`,
        );
      return reply.header('etag', `"${policy.version}"`).send(policy);
    },
  );
  app.get<Params>(
    '/api/policies/:kind/:name/history',
    {
      schema: {
        summary: 'Every version of one policy, oldest first (deletions included)',
        tags: ['policies'],
        params: PARAMS,
      },
    },
    async (req) => {
      const kind = parsePolicyKind(req.params.kind);
      const versions = await policies.history(kind, parsePolicyName(req.params.name));
      if (versions.length === 0)
        throw new KernelError(
          'NOT_FOUND',
          `No ${kind} policy named ${JSON.stringify(req.params.name)}`,
        );
      return { versions };
    },
  );
  app.put<Params & { Body: unknown; Querystring: { reason?: string } }>(
    '/api/policies/:kind/:name',
    {
      schema: {
        summary:
          'Store a new version of a policy; the body is the policy (validated by its kind). If-Match: <version> guards against lost updates; ?reason= is recorded',
        tags: ['policies'],
        params: PARAMS,
        querystring: { type: 'object', properties: { reason: { type: 'string' } } },
        body: { type: 'object' },
      },
    },
    async (req, reply) => {
      const kind = parsePolicyKind(req.params.kind);
      const name = parsePolicyName(req.params.name);
      const stored = await policies.set(kind, name, req.body, changeOptions(req, req.query.reason));
      return reply
        .code(stored.version === 1 ? 201 : 200)
        .header('etag', `"${stored.version}"`)
        .send(stored);
    },
  );
  app.delete<Params & { Querystring: { reason?: string } }>(
    '/api/policies/:kind/:name',
    {
      schema: {
        summary: 'Delete a policy (a new version without a spec; the history stays)',
        tags: ['policies'],
        params: PARAMS,
        querystring: { type: 'object', properties: { reason: { type: 'string' } } },
      },
    },
    async (req) => {
      const kind = parsePolicyKind(req.params.kind);
      const name = parsePolicyName(req.params.name);
      return policies.delete(kind, name, changeOptions(req, req.query.reason));
    },
  );
}

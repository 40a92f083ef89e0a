/**
 * /api/audit: entries, head, verify, export, repair, oxios import (admin only).
 *
 * @module
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { readOxiosAuditFile } from '../../audit/oxios-import.js';
import { KernelError } from '../../errors.js';
import type { AuditActionType } from '../../formats/oxios-audit-action.js';
import type { ServerContext } from '../context.js';
import { limitStream, queryInt, queryList, queryString, queryTime } from '../http-util.js';
import { chainRepairRoute } from './chain-repair.js';

/** Registers the audit routes. */
export function auditRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { audit } = ctx.kernel;
  app.get(
    '/api/audit',
    {
      schema: {
        summary: 'Audit entries, oldest first; with limit, the newest matches',
        tags: ['audit'],
        querystring: {
          type: 'object',
          properties: {
            actor: { type: 'string' },
            types: { type: 'string', description: 'comma-separated action types' },
            fromSeq: { type: 'string' },
            toSeq: { type: 'string' },
            from: { type: 'string' },
            to: { type: 'string' },
            limit: { type: 'string' },
          },
        },
      },
    },
    async (req) => {
      const entries = await audit.entries({
        actor: queryString(req, 'actor'),
        actionTypes: queryList(req, 'types') as AuditActionType[] | undefined,
        fromSeq: queryInt(req, 'fromSeq'),
        toSeq: queryInt(req, 'toSeq'),
        from: queryTime(req, 'from'),
        to: queryTime(req, 'to'),
        limit: queryInt(req, 'limit', { max: 10_000 }) ?? 100,
      });
      return { entries };
    },
  );
  app.get(
    '/api/audit/head',
    { schema: { summary: "The trail's head: keep it to detect truncation", tags: ['audit'] } },
    async () => {
      return audit.head();
    },
  );
  app.get(
    '/api/audit/verify',
    {
      schema: {
        summary: 'Verify the hash chain (optionally against a recorded head)',
        tags: ['audit'],
        querystring: {
          type: 'object',
          properties: { headSeq: { type: 'string' }, headHash: { type: 'string' } },
        },
      },
    },
    async (req) => {
      const seq = queryInt(req, 'headSeq');
      const hash = queryString(req, 'headHash');
      return audit.verify(
        seq !== undefined && hash !== undefined ? { expectedHead: { seq, hash } } : {},
      );
    },
  );
  app.post(
    '/api/audit/import',
    {
      config: { accepts: ['application/x-ndjson', 'application/octet-stream', 'text/plain'] },
      schema: {
        summary:
          'Import oxios audit history (trail.json or access.jsonl, as the body) as the prefix of an empty trail; a trail is verified first',
        tags: ['audit'],
      },
    },
    async (req) => {
      const chunks: Buffer[] = [];
      for await (const chunk of limitStream(req.body as Readable, ctx.importLimit)) {
        chunks.push(chunk as Buffer);
      }
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
      } catch (error) {
        throw new KernelError('INVALID_UPSTREAM_FILE', 'The uploaded oxios file is not UTF-8', {
          cause: error,
        });
      }
      return audit.importOxios(readOxiosAuditFile(text, 'upload'));
    },
  );
  app.get(
    '/api/audit/export',
    { schema: { summary: 'The whole trail as a verifiable JSON document', tags: ['audit'] } },
    async () => {
      return audit.export();
    },
  );
  chainRepairRoute(app, ctx, 'audit');
}

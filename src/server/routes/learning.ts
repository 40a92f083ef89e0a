/**
 * /api/learning: stats, patterns, recall, RVLS import and export.
 *
 * @module
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { importRvls } from '../../learning/learning-import.js';
import { encodeRvlsChunks } from '../../formats/rvls.js';
import type { ServerContext } from '../context.js';
import { limitStream, queryInt, queryString } from '../http-util.js';
import { KernelError } from '../../errors.js';

/** Registers the learning routes. */
export function learningRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { learning } = ctx.kernel;
  app.get(
    '/api/learning/stats',
    { schema: { summary: 'Learning store statistics', tags: ['learning'] } },
    async () => {
      return learning.stats();
    },
  );
  app.get(
    '/api/learning/patterns',
    {
      schema: {
        summary: 'Learned patterns (optionally of one domain)',
        tags: ['learning'],
        querystring: {
          type: 'object',
          properties: { domain: { type: 'string' }, limit: { type: 'string' } },
        },
      },
    },
    async (req) => {
      const domain = queryString(req, 'domain');
      const limit = queryInt(req, 'limit', { max: 10_000 }) ?? 100;
      const all =
        domain === undefined ? learning.getAllPatterns() : learning.getPatternsByDomain(domain);
      return { total: all.length, patterns: all.slice(-limit) };
    },
  );
  app.get(
    '/api/learning/recall',
    {
      schema: {
        summary:
          'Patterns most similar to a query (TF-IDF cosine, weighted by success and quality)',
        tags: ['learning'],
        querystring: {
          type: 'object',
          required: ['q'],
          properties: {
            q: { type: 'string', minLength: 1, maxLength: 4000 },
            k: { type: 'string' },
            domain: { type: 'string' },
          },
        },
      },
    },
    async (req) => {
      const q = queryString(req, 'q');
      if (q === undefined) throw new KernelError('INVALID_QUERY', 'q is required');
      const domain = queryString(req, 'domain');
      const hits = learning.recall(q, {
        k: queryInt(req, 'k', { max: 1000 }) ?? 5,
        ...(domain === undefined ? {} : { domain }),
      });
      return { hits };
    },
  );
  app.post(
    '/api/learning/import',
    {
      config: { accepts: ['application/octet-stream', 'application/x-ndjson', 'text/plain'] },
      schema: {
        summary:
          'Merge an RVLS file (patterns and trajectories upserted by id; all or nothing: a malformed line fails it, naming the line, unless skipInvalid)',
        tags: ['learning'],
        querystring: {
          type: 'object',
          properties: {
            replaceEwc: { type: 'string', enum: ['true', 'false'] },
            skipInvalid: {
              type: 'string',
              enum: ['true', 'false'],
              description: 'skip and count malformed lines (as oxios loads) instead of failing',
            },
          },
        },
      },
    },
    async (req) => {
      const body = limitStream(req.body as Readable, ctx.importLimit);
      return importRvls(learning, body, {
        source: 'upload',
        replaceEwc: queryString(req, 'replaceEwc') === 'true',
        skipInvalid: queryString(req, 'skipInvalid') === 'true',
        commit: () => ctx.kernel.persistLearning(),
      });
    },
  );
  app.get(
    '/api/learning/export',
    { schema: { summary: 'The learning store as an RVLS file', tags: ['learning'] } },
    (req, reply) => {
      const snapshot = {
        patterns: learning.getAllPatterns(),
        trajectories: learning.getAllTrajectories(),
        ewc: learning.getEwc(),
      };
      return reply
        .type('application/octet-stream')
        .header('content-disposition', 'attachment; filename="learning.rvls"')
        .send(Readable.from(encodeRvlsChunks(snapshot)));
    },
  );
}

/**
 * /api/events: the live kernel event stream (Server-Sent Events), resumable with Last-Event-ID.
 * `HEAD /api/events` answers the stream's headers and ends.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { isKernelEventType } from '../../model/kernel-event.js';
import { KernelError } from '../../errors.js';
import type { ServerContext } from '../context.js';
import { SSE_HEADERS } from '../event-feed.js';
import { queryList, queryString } from '../http-util.js';

/** Registers the event stream route. */
export function eventRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get(
    '/api/events',
    {
      schema: {
        summary:
          'Live kernel events as SSE; id = audit seq; send Last-Event-ID (or ?since=) to resume',
        tags: ['events'],
        querystring: {
          type: 'object',
          properties: { types: { type: 'string' }, since: { type: 'string' } },
        },
      },
    },
    (req, reply) => {
      const types = queryList(req, 'types');
      for (const t of types ?? []) {
        if (!isKernelEventType(t))
          throw new KernelError('INVALID_QUERY', `Unknown event type "${t}"`);
      }
      const header = req.headers['last-event-id'];
      const since = queryString(req, 'since') ?? (Array.isArray(header) ? header[0] : header);
      let lastEventId: number | undefined;
      if (since !== undefined) {
        if (!/^\d+$/.test(since))
          throw new KernelError('INVALID_QUERY', 'Last-Event-ID must be an event id (an integer)');
        lastEventId = Number(since);
      }
      // HEAD (which Fastify routes here) answers the headers alone: no stream, no feed client.
      if (req.method === 'HEAD') {
        void reply.code(200).headers(SSE_HEADERS).send();
        return;
      }
      reply.hijack();
      ctx.feed.attach(reply.raw, {
        types: types === undefined ? undefined : new Set(types),
        lastEventId,
      });
    },
  );
}

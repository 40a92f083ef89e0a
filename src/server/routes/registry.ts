/**
 * /api/modules and /api/config. Secret values are returned only to a token with the reveal
 * scope, and only when asked (`?reveal=true`); everything else shows that a secret exists.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { KernelError } from '../../errors.js';
import { MAX_KEY_LENGTH } from '../../registry/registry.js';
import type { ServerContext } from '../context.js';
import { queryString } from '../http-util.js';

const KEY = {
  type: 'object',
  required: ['key'],
  properties: { key: { type: 'string', minLength: 1, maxLength: MAX_KEY_LENGTH } },
};

/** Registers the registry routes. */
export function registryRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { registry } = ctx.kernel;
  app.get(
    '/api/modules',
    {
      schema: {
        summary: 'Registered modules (agents included), ordered by id',
        tags: ['registry'],
      },
    },
    async () => {
      return { modules: await registry.listModules() };
    },
  );
  app.get(
    '/api/config',
    {
      schema: { summary: 'Config keys with their secret flag (never values)', tags: ['registry'] },
    },
    async () => {
      return { config: await registry.listConfig() };
    },
  );
  app.get<{ Params: { key: string } }>(
    '/api/config/:key',
    {
      schema: {
        summary: 'One config value; a secret needs ?reveal=true and a token with the reveal scope',
        tags: ['registry'],
        params: KEY,
        querystring: {
          type: 'object',
          properties: { reveal: { type: 'string', enum: ['true', 'false'] } },
        },
      },
    },
    async (req) => {
      const p = req.principal;
      const key = req.params.key;
      const info = (await registry.listConfig()).find((c) => c.key === key);
      if (info === undefined) throw new KernelError('CONFIG_NOT_FOUND', `No config value "${key}"`);
      if (info.secret) {
        const reveal = queryString(req, 'reveal') === 'true';
        if (!reveal || p.kind !== 'admin' || !p.reveal) {
          return { key, secret: true, updatedAt: info.updatedAt, value: null, revealed: false };
        }
      }
      return {
        key,
        secret: info.secret,
        updatedAt: info.updatedAt,
        value: await registry.getConfig(key),
        revealed: info.secret,
      };
    },
  );
  app.put<{ Params: { key: string }; Body: { value: unknown; secret?: boolean } }>(
    '/api/config/:key',
    {
      schema: {
        summary: 'Set a config value (any JSON); secret values are encrypted at rest',
        tags: ['registry'],
        params: KEY,
        body: {
          type: 'object',
          required: ['value'],
          additionalProperties: false,
          properties: { value: {}, secret: { type: 'boolean' } },
        },
      },
    },
    async (req, reply) => {
      await registry.setConfig(
        req.params.key,
        req.body.value,
        req.body.secret === undefined ? {} : { secret: req.body.secret },
      );
      return reply.code(204).send();
    },
  );
  app.delete<{ Params: { key: string } }>(
    '/api/config/:key',
    { schema: { summary: 'Delete a config value', tags: ['registry'], params: KEY } },
    async (req) => {
      return { deleted: await registry.deleteConfig(req.params.key) };
    },
  );
  app.post<{ Body: { newKey: string } }>(
    '/api/config/rotate-key',
    {
      config: { scope: 'reveal' },
      schema: {
        summary: 'Re-encrypt every secret under a new key string, atomically (reveal scope)',
        tags: ['registry'],
        body: {
          type: 'object',
          required: ['newKey'],
          additionalProperties: false,
          properties: { newKey: { type: 'string', minLength: 8, maxLength: 4096 } },
        },
      },
    },
    async (req) => registry.rotateKey(req.body.newKey),
  );
}

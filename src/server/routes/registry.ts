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
        summary:
          'One config value; a secret is masked (value null) unless ?reveal=true, which needs a reveal-scope token (403 otherwise)',
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
      const view = await registry.viewConfig(key);
      if (!view.secret || queryString(req, 'reveal') !== 'true') return view;
      // Asked to reveal a secret: say why not instead of answering a silent null.
      if (p.kind !== 'admin' || !p.reveal) {
        throw new KernelError(
          'FORBIDDEN',
          `Config "${key}" is a secret and this token may not reveal it: create a reveal-scope token ` +
            '(`kerno tokens create --reveal`) and pass it with --token or KERNO_TOKEN',
          { details: { key, scope: 'reveal' } },
        );
      }
      return registry.viewConfig(key, { reveal: true });
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
  app.post<{ Body: { keys?: string[] } | undefined }>(
    '/api/config/encrypt',
    {
      schema: {
        summary:
          'Encrypt plain values in place with the registry key, in one transaction: keys, or every plain value when left out',
        tags: ['registry'],
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            keys: {
              type: 'array',
              minItems: 1,
              maxItems: 10_000,
              items: { type: 'string', minLength: 1, maxLength: MAX_KEY_LENGTH },
            },
          },
        },
      },
    },
    async (req) => registry.encryptPlain(req.body?.keys),
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

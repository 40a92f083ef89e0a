/**
 * The dashboard: static files from `web/` (no build step), served without a token — the page
 * itself asks for one and sends it with every API call.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { KernelError } from '../../errors.js';

const WEB = new URL('../../../web/', import.meta.url);
const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

const CSP =
  "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Sent with every dashboard response: no framing (clickjacking), no MIME sniffing, no referrer. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f6feb"/><path d="M4 3v10M4 8l6-5M4 8l6 5" stroke="#fff" stroke-width="2" fill="none"/></svg>';

/** Paths the dashboard needs without a token. */
export const DASHBOARD_PUBLIC_PATHS = ['/', '/ui/*', '/favicon.ico'];

/** Registers `/` and `/ui/*`. */
export function dashboardRoutes(app: FastifyInstance): void {
  const serve = async (name: string): Promise<{ body: Buffer; type: string }> => {
    // Own keys only: `__proto__` or `constructor` must be a 404, not a lookup on Object.prototype.
    const type = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
    if (type === undefined) throw new KernelError('NOT_FOUND', `No dashboard file ${name}`);
    return { body: await readFile(new URL(name, WEB)), type };
  };
  app.get(
    '/',
    { schema: { summary: 'The dashboard', tags: ['dashboard'] } },
    async (_req, reply) => {
      const f = await serve('index.html');
      return reply
        .type(f.type)
        .header('cache-control', 'no-cache')
        .headers(SECURITY_HEADERS)
        .send(f.body);
    },
  );
  app.get(
    '/favicon.ico',
    { schema: { summary: 'The dashboard icon', tags: ['dashboard'] } },
    (_req, reply) =>
      reply
        .type('image/svg+xml')
        .header('cache-control', 'max-age=86400')
        .headers(SECURITY_HEADERS)
        .send(ICON),
  );
  app.get<{ Params: { file: string } }>(
    '/ui/:file',
    { schema: { summary: 'Dashboard assets', tags: ['dashboard'] } },
    async (req, reply) => {
      const f = await serve(req.params.file);
      return reply
        .type(f.type)
        .header('cache-control', 'no-cache')
        .headers(SECURITY_HEADERS)
        .send(f.body);
    },
  );
}

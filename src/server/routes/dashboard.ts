/**
 * The dashboard: a single-page app built by Vite from `web/` into `dist/web/` (`npm run build`),
 * served without a token — the page itself asks for one and sends it with every API call.
 *
 * Only the files the build's manifest names are served (`index.html` at `/`, its hashed assets
 * under `/ui/`): an allow-list in a Map, so no path from the URL ever reaches the file system and
 * names like `__proto__` are plain misses. Hashed assets are cached for a year; the page is not.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { KernelError } from '../../errors.js';

const OUT = new URL('../../../dist/web/', import.meta.url);

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
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

interface ManifestChunk {
  readonly file?: unknown;
  readonly css?: unknown;
  readonly assets?: unknown;
}

/**
 * The built files a browser may ask for, by path under `/ui/` (e.g. `assets/index-3f2a.js`),
 * read from Vite's manifest: every chunk's file, CSS and assets.
 */
export async function dashboardAllowList(
  outDir: URL = OUT,
): Promise<ReadonlyMap<string, string> | undefined> {
  let manifest: Record<string, ManifestChunk>;
  try {
    manifest = JSON.parse(await readFile(new URL('.vite/manifest.json', outDir), 'utf8')) as Record<
      string,
      ManifestChunk
    >;
  } catch {
    return undefined;
  }
  const files = new Map<string, string>();
  const add = (name: unknown): void => {
    if (typeof name !== 'string' || !/^assets\/[\w.-]+$/.test(name)) return;
    const ext = name.slice(name.lastIndexOf('.'));
    const type = Object.hasOwn(TYPES, ext) ? TYPES[ext] : undefined;
    if (type !== undefined) files.set(name, type);
  };
  for (const chunk of Object.values(manifest)) {
    add(chunk.file);
    for (const list of [chunk.css, chunk.assets]) {
      if (Array.isArray(list)) for (const f of list) add(f);
    }
  }
  return files;
}

const NOT_BUILT =
  'The dashboard is not built: run `npm run build` (it builds web/ into dist/web/), then reload';

/** Registers `/`, `/favicon.ico` and `/ui/*`. */
export function dashboardRoutes(app: FastifyInstance, outDir: URL = OUT): void {
  let allowed: Promise<ReadonlyMap<string, string> | undefined> | undefined;
  const allowList = async (): Promise<ReadonlyMap<string, string>> => {
    allowed ??= dashboardAllowList(outDir);
    const files = await allowed;
    if (files === undefined) {
      allowed = undefined; // built later: look again next time
      throw new KernelError('NOT_FOUND', NOT_BUILT);
    }
    return files;
  };
  app.get(
    '/',
    { schema: { summary: 'The dashboard', tags: ['dashboard'] } },
    async (_req, reply) => {
      await allowList();
      let body: Buffer;
      try {
        body = await readFile(new URL('index.html', outDir));
      } catch (error) {
        throw new KernelError('NOT_FOUND', NOT_BUILT, { cause: error });
      }
      return reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .headers(SECURITY_HEADERS)
        .send(body);
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
  app.get<{ Params: { '*': string } }>(
    '/ui/*',
    { schema: { summary: 'Dashboard assets (the built files only)', tags: ['dashboard'] } },
    async (req, reply) => {
      const name = req.params['*'];
      const type = (await allowList()).get(name);
      if (type === undefined) throw new KernelError('NOT_FOUND', `No dashboard file ${name}`);
      const body = await readFile(new URL(name, outDir));
      return reply
        .type(type)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .headers(SECURITY_HEADERS)
        .send(body);
    },
  );
}

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app.js';
import { problemFor } from '../../src/server/problem.js';
import { dashboardAllowList, dashboardRoutes } from '../../src/server/routes/dashboard.js';
import { testKernel } from '../helpers/kernel.js';
import { tempDir } from '../helpers/stores.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** A build output folder like Vite's: index.html, hashed assets, the manifest, and a stray file. */
function fakeBuild(): URL {
  const t = tempDir('kerno-web-');
  cleanups.push(t.cleanup);
  mkdirSync(join(t.dir, 'assets'));
  mkdirSync(join(t.dir, '.vite'));
  writeFileSync(
    join(t.dir, 'index.html'),
    '<!doctype html><script type="module" src="/ui/assets/index-abc123.js"></script>',
  );
  writeFileSync(join(t.dir, 'assets', 'index-abc123.js'), 'console.log("app")');
  writeFileSync(join(t.dir, 'assets', 'index-def456.css'), 'body{}');
  writeFileSync(join(t.dir, 'assets', 'not-in-manifest.js'), 'secret()');
  writeFileSync(join(t.dir, 'secret.txt'), 'do not serve');
  writeFileSync(
    join(t.dir, '.vite', 'manifest.json'),
    JSON.stringify({
      'index.html': {
        file: 'assets/index-abc123.js',
        isEntry: true,
        css: ['assets/index-def456.css'],
      },
      evil: { file: '../secret.txt', css: ['assets/../../secret.txt'] },
    }),
  );
  return pathToFileURL(`${t.dir}/`);
}

async function bare(outDir: URL) {
  const app = Fastify();
  app.setErrorHandler((error, _req, reply) => {
    const problem = problemFor(error);
    return reply.code(problem.status).type('application/problem+json').send(problem);
  });
  dashboardRoutes(app, outDir);
  await app.ready();
  cleanups.push(() => app.close());
  return app;
}

describe('dashboard files', () => {
  it('serves exactly the files the build manifest names, with security headers', async () => {
    const out = fakeBuild();
    expect([...(await dashboardAllowList(out))!.keys()].sort()).toEqual([
      'assets/index-abc123.js',
      'assets/index-def456.css',
    ]);
    const app = await bare(out);
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['cache-control']).toBe('no-cache');
    const js = await app.inject({ method: 'GET', url: '/ui/assets/index-abc123.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toContain('text/javascript');
    expect(js.headers['cache-control']).toContain('immutable');
    const css = await app.inject({ method: 'GET', url: '/ui/assets/index-def456.css' });
    expect(css.headers['content-type']).toContain('text/css');
    for (const res of [page, js, css]) {
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toContain("script-src 'self'");
      expect(res.headers['content-security-policy']).not.toContain('unsafe-inline');
    }
  });

  it('answers 404 for files outside the manifest, traversal and Object.prototype names', async () => {
    const app = await bare(fakeBuild());
    for (const name of [
      'assets/not-in-manifest.js',
      'secret.txt',
      '../secret.txt',
      'assets/../secret.txt',
      '%2e%2e/secret.txt',
      '.vite/manifest.json',
      'index.html',
      '__proto__',
      'constructor',
      'assets/__proto__',
    ]) {
      const res = await app.inject({ method: 'GET', url: `/ui/${name}` });
      expect(res.statusCode, name).toBe(404);
      expect(res.body, name).not.toContain('do not serve');
      expect(res.body, name).not.toContain('secret()');
    }
  });

  it('says how to build the dashboard when it is not built', async () => {
    const t = tempDir('kerno-web-empty-');
    cleanups.push(t.cleanup);
    const app = await bare(pathToFileURL(`${t.dir}/`));
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(404);
    expect(res.body).toContain('npm run build');
  });

  it('the daemon serves the real build: index.html loads its hashed script and stylesheet', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: 'kerno_test_admin_token_0123456789' });
    cleanups.push(k.cleanup, () => server.close());
    const page = await server.app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode, 'run `npm run build` before this test').toBe(200);
    const assets = [...page.body.matchAll(/(?:src|href)="\/ui\/(assets\/[^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(assets.some((a) => a?.endsWith('.js'))).toBe(true);
    expect(assets.some((a) => a?.endsWith('.css'))).toBe(true);
    // No inline script or style: the CSP would block it.
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.body).not.toMatch(/<style|style="/);
    for (const a of assets) {
      const res = await server.app.inject({ method: 'GET', url: `/ui/${a!}` });
      expect(res.statusCode, a).toBe(200);
    }
    expect((await server.app.inject({ method: 'GET', url: '/favicon.ico' })).statusCode).toBe(200);
    expect((await server.app.inject({ method: 'GET', url: '/ui/app.js' })).statusCode).toBe(404);
  });
});

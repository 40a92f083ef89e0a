/**
 * Where a worker thread's module is, from dist (`.js`) or from TypeScript source under the test
 * runner (booted through tsx). Every kerno worker (the SQLite writer, the range verifiers) starts
 * from here.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * The URL to hand `new Worker(…)` for the module `name` (no extension) next to `importerUrl`
 * (the caller's `import.meta.url`).
 */
export function workerEntry(importerUrl: string, name: string): URL {
  if (!importerUrl.endsWith('.ts')) return new URL(`./${name}.js`, importerUrl);
  // Under the test runner the importer is TypeScript source: boot the worker through tsx.
  const target = new URL(`./${name}.ts`, importerUrl).href;
  // tsx's CommonJS entry cannot register ESM hooks from a data: URL; use its ESM build.
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const boot = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(target)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

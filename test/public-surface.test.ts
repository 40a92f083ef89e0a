/**
 * The public surface: `import 'kerno'` stays light (no HTTP server, no PostgreSQL or NATS
 * driver); the edges and upstream codecs live behind their own subpath exports.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const fixtures = join(root, 'test/fixtures/module-graph');
const dir = mkdtempSync(join(tmpdir(), 'kerno-surface-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The packages (node_modules folders) that importing `entry` loads at run time. */
function packagesLoadedBy(entry: string): Set<string> {
  const log = join(dir, `modules-${Math.random().toString(36).slice(2)}.txt`);
  execFileSync(
    process.execPath,
    ['--import', join(fixtures, 'register.mjs'), join(fixtures, 'probe.mjs'), entry],
    { env: { ...process.env, KERNO_MODULE_LOG: log }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const packages = new Set<string>();
  for (const url of readFileSync(log, 'utf8').split('\n')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m !== null) packages.add(m[1]!);
  }
  return packages;
}

const exportsMap = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, { import: string }>;
  }
).exports;

describe('public surface', () => {
  it('import "kerno" loads no HTTP server, PostgreSQL or NATS driver', () => {
    const loaded = packagesLoadedBy(join(root, exportsMap['.']!.import));
    for (const heavy of [
      'fastify',
      'pg',
      '@nats-io/transport-node',
      '@nats-io/jetstream',
      '@modelcontextprotocol/sdk',
      '@opentelemetry/api',
      'vitest',
    ]) {
      expect(loaded.has(heavy), `kerno loads ${heavy}`).toBe(false);
    }
    expect(loaded.has('zod')).toBe(true);
  });

  it('a kernel running a run with no OpenTelemetry configured loads no tracer', () => {
    const loaded = packagesLoadedBy(join(fixtures, 'kernel-run.mjs'));
    expect([...loaded].filter((p) => p.startsWith('@opentelemetry/'))).toEqual([]);
  });

  it('kerno/server brings the HTTP edge (the probe sees what is loaded), not the MCP SDK', () => {
    const loaded = packagesLoadedBy(join(root, exportsMap['./server']!.import));
    expect(loaded.has('fastify')).toBe(true);
    // The /mcp route imports the optional SDK on its first request only.
    expect(loaded.has('@modelcontextprotocol/sdk')).toBe(false);
  });

  it('kerno/testing is its own subpath: the contract suites, built on vitest', () => {
    expect(exportsMap['./testing']?.import).toBe('./dist/testing/index.js');
    expect(packagesLoadedBy(join(root, exportsMap['./testing']!.import)).has('vitest')).toBe(true);
  });

  it('kerno/client loads no package at all (it runs in browsers and edge runtimes)', () => {
    expect(exportsMap['./client']?.import).toBe('./dist/client/index.js');
    expect([...packagesLoadedBy(join(root, exportsMap['./client']!.import))]).toEqual([]);
  });

  it('every subpath export resolves to a built module', async () => {
    for (const sub of ['.', './server', './formats', './mcp', './client', './testing'].filter(
      (s) => s in exportsMap,
    )) {
      const mod = (await import(join(root, exportsMap[sub]!.import))) as Record<string, unknown>;
      expect(Object.keys(mod).length, `${sub} exports something`).toBeGreaterThan(0);
    }
  });
});

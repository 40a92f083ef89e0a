/**
 * kerno/client stays browser- and edge-safe: the modules it loads import nothing but each other
 * (no node:* module, no package), use no Node global, and the whole client type-checks with the
 * DOM library and without Node's types.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const entry = join(root, 'src/client/index.ts');
const dir = mkdtempSync(join(tmpdir(), 'kerno-client-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every module `file` loads, transitively (type-only imports included), with each specifier. */
function graph(file: string, seen = new Map<string, string[]>()): Map<string, string[]> {
  if (seen.has(file)) return seen;
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g),
    ...text.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g),
    ...text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g),
  ].map((m) => m[1]!);
  seen.set(file, specifiers);
  for (const s of specifiers) {
    if (s.startsWith('.')) graph(resolve(dirname(file), s.replace(/\.js$/, '.ts')), seen);
  }
  return seen;
}

/** The code of a module without its comments and string literals' contents. */
function code(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, "''");
}

describe('kerno/client is browser-safe', () => {
  const modules = graph(entry);

  it('loads only its own modules and src/errors.ts, importing no node:* module or package', () => {
    const files = [...modules.keys()].map((f) => relative(root, f)).sort();
    expect(files.filter((f) => !f.startsWith('src/client/'))).toEqual(['src/errors.ts']);
    const foreign = [...modules].flatMap(([file, specifiers]) =>
      specifiers.filter((s) => !s.startsWith('.')).map((s) => `${relative(root, file)}: ${s}`),
    );
    expect(foreign).toEqual([]);
  });

  it('uses no Node global (a property of that name is fine)', () => {
    const uses = [...modules.keys()].flatMap((file) =>
      [
        ...code(file).matchAll(
          /(?<![.\w$])(Buffer|process|require|__dirname|__filename|setImmediate|global)\b(?!\s*\??:)/g,
        ),
      ].map((m) => `${relative(root, file)}: ${m[1]}`),
    );
    expect(uses).toEqual([]);
  });

  it('type-checks with the DOM library and no Node types', () => {
    const config = join(dir, 'tsconfig.json');
    writeFileSync(
      config,
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2022', 'DOM'],
          module: 'ESNext',
          moduleResolution: 'Bundler',
          types: [],
          strict: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          skipLibCheck: true,
        },
        files: [entry],
      }),
    );
    let output = '';
    try {
      execFileSync(
        process.execPath,
        [join(root, 'node_modules/typescript/bin/tsc'), '-p', config],
        {
          encoding: 'utf8',
        },
      );
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    expect(output).toBe('');
  });
});

#!/usr/bin/env node
/**
 * `npm run mutate -- <file…> [stryker options]`: mutation testing of the named source files
 * (default: the core modules listed in stryker.config.mjs). Arguments naming a source file
 * (`src/storage/log.ts`, or `src/storage/log.ts:10-40` for a line range) become Stryker's
 * `--mutate`; every other argument (`--force`, `--concurrency 1`) is passed through unchanged.
 *
 * Each file is tested by its own tests only (`--testFiles`): the test files that import it,
 * directly or through a test helper (`test/helpers/…`, the contracts in `src/testing/`, or a
 * module of the file's own folder: `registry.ts` for `config-cipher.ts`), and the test files
 * named after it (`restart-strategy*.test.ts`). Tests that reach a module only through
 * `src/index.ts` — nearly all of them — are left out, or the initial run would be the whole suite.
 * `--list` prints that selection and stops; `--tests a.test.ts,b.test.ts` replaces it (a faster
 * subset, e.g. without the tests that start real processes). Each selection keeps its own incremental file
 * (`reports/incremental/<file>.json`), so measuring one file keeps another's results.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/** The default when no file is named (kept in step with `mutate` in stryker.config.mjs). */
const CORE = [
  'src/storage/log.ts',
  'src/registry/config-cipher.ts',
  'src/supervisor/restart-strategy.ts',
  'src/formats/rvls.ts',
];
/** Tests that drive the built binary or a browser: they run `dist/`, which is not mutated. */
const SKIPPED_TEST_DIRS = ['test/e2e', 'test/cli'];

const files = [];
const passThrough = [];
/** `--list`: print the selected test files and stop (no Stryker run). */
let listOnly = false;
/** `--tests a.test.ts,b.test.ts`: test these files instead of the selection (a faster subset). */
let chosenTests;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  if (arg === '--list') listOnly = true;
  else if (arg === '--tests') chosenTests = (argv[++i] ?? '').split(',').filter(Boolean);
  else if (!arg.startsWith('-') && /\.[cm]?[tj]s(:[\d:-]+)?$/.test(arg)) files.push(arg);
  else passThrough.push(arg);
}
const sources = (files.length > 0 ? files : CORE).map((file) => file.replace(/:[\d:-]+$/, ''));
for (const source of sources) {
  if (!existsSync(join(root, source))) {
    console.error(
      `mutate: ${source} does not exist; name source files relative to the project root`,
    );
    process.exit(2);
  }
}

/** Every `.ts` file under `dir`, relative to the project root. */
function tsFiles(dir) {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** The project files `file` imports (relative specifiers, `.js` written for `.ts`). */
function importsOf(file) {
  const text = readFileSync(join(root, file), 'utf8');
  const out = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    const target = relative(root, resolve(root, dirname(file), m[1].replace(/\.js$/, '.ts')));
    out.push(target);
  }
  return out;
}

const testSources = tsFiles('test').filter(
  (f) => !SKIPPED_TEST_DIRS.some((dir) => f.startsWith(dir + '/')),
);
/** The contracts shipped as `kerno/testing`: test helpers that live under `src/`. */
const testHelpers = tsFiles('src/testing').filter((f) => basename(f) !== 'index.ts');
const imports = new Map([...testSources, ...testHelpers].map((f) => [f, importsOf(f)]));

/**
 * The test files covering `source`: importers (through test helpers, and through the modules of
 * the source's own folder, e.g. `src/registry/registry.ts` for `config-cipher.ts`) and namesakes.
 */
function testsFor(source) {
  const reached = new Set([source]);
  const folder = tsFiles(dirname(source)).filter((f) => dirname(f) === dirname(source));
  const graph = new Map([...imports, ...folder.map((f) => [f, importsOf(f)])]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [file, targets] of graph) {
      if (!reached.has(file) && targets.some((t) => reached.has(t))) {
        reached.add(file);
        grew = true;
      }
    }
  }
  const stem = basename(source, '.ts');
  return testSources.filter(
    (f) =>
      f.endsWith('.test.ts') &&
      (reached.has(f) || basename(f).startsWith(stem + '.') || basename(f).startsWith(stem + '-')),
  );
}

const tests = chosenTests ?? [...new Set(sources.flatMap(testsFor))].sort();
if (tests.length === 0) {
  console.error(`mutate: no test file imports ${sources.join(', ')} or is named after it`);
  process.exit(2);
}
if (listOnly) {
  console.log(tests.join('\n'));
  process.exit(0);
}
console.log(`mutate: ${sources.join(', ')}\n  tested by ${tests.join('\n            ')}`);

const args = [
  'run',
  'stryker.config.mjs',
  '--mutate',
  (files.length > 0 ? files : CORE).join(','),
  '--testFiles',
  tests.join(','),
];
// One incremental file per selection, so measuring one file does not drop another's results.
if (!passThrough.some((a) => a.startsWith('--incrementalFile'))) {
  const name = sources.map((s) => s.replace(/^src\//, '').replace(/\.ts$/, '')).join('+');
  args.push('--incrementalFile', `reports/incremental/${name.replaceAll('/', '_')}.json`);
}
const result = spawnSync('stryker', [...args, ...passThrough], {
  cwd: root,
  stdio: 'inherit',
  shell: process.platform === 'win32',
  env: { ...process.env, PATH: `${root}node_modules/.bin:${process.env['PATH'] ?? ''}` },
});
process.exit(result.status ?? 1);

// @ts-check
/**
 * Mutation testing for kerno's core (`npm run mutate -- <file…>`, see docs/testing.md).
 * Each mutated file is tested only by the test files that import it (vitest `related`), and
 * each mutant only by the tests that reach it (`perTest` coverage). Concurrency stays at 2: the
 * build machine is shared.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.mjs', related: true },
  checkers: ['typescript'],
  // KERNO_MUTATE_TSCONFIG: a tsconfig of the mutated files only, for a faster checker (docs/testing.md).
  tsconfigFile: process.env['KERNO_MUTATE_TSCONFIG'] ?? 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/storage/log.ts',
    'src/registry/config-cipher.ts',
    'src/supervisor/restart-strategy.ts',
    'src/formats/rvls.ts',
  ],
  concurrency: 2,
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  timeoutMS: 20_000,
  dryRunTimeoutMinutes: 15,
  thresholds: { high: 90, low: 85, break: null },
};

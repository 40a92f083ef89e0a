// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Domain folders must not reach into a storage backend, a driver, or an edge. */
const domainBoundary = {
  patterns: [
    {
      group: ['**/storage/sqlite/**', '**/storage/postgres/**', '**/storage/memory/**'],
      message: 'Domain code talks to storage through the ports in storage/storage.ts.',
    },
    {
      group: ['**/server/**', '**/cli/**', '**/web/**'],
      message: 'Domain code never imports an edge (server, cli, web).',
    },
    {
      group: ['better-sqlite3', 'pg', '@nats-io/*'],
      message: 'Drivers are only imported by their backend folder.',
    },
  ],
};

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'test-artifacts/**',
      '.scratch/**',
      'bench/peers/**',
      '.stryker-tmp/**',
      'reports/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      // Promise-returning interface methods are often async without awaiting; no-floating-promises
      // and no-misused-promises catch the mistakes that matter.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'error',
    },
  },
  {
    files: [
      'src/bus/**',
      'src/audit/**',
      'src/ledger/**',
      'src/registry/**',
      'src/learning/**',
      'src/recovery/**',
      'src/supervisor/**',
      'src/approvals/**',
      'src/util/**',
    ],
    ignores: ['src/bus/nats/**'],
    rules: { 'no-restricted-imports': ['error', domainBoundary] },
  },
  {
    files: ['src/cli/**', 'bench/**', 'test/**', 'bin/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['web/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
);

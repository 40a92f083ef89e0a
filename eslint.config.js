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

/** Folders above the storage layer: storage and its opener never import them. */
const aboveStorage = [
  'bus',
  'audit',
  'ledger',
  'registry',
  'learning',
  'recovery',
  'supervisor',
  'approvals',
  'runs',
  'policies',
  'server',
  'cli',
  'mcp',
  'client',
  'demo',
  'web',
];

/** Storage (ports, opener, backends) imports only storage/, model/, formats/, util/ and errors.ts. */
const storageBoundary = (ownFolder = '') => ({
  patterns: [
    {
      group: [
        ...aboveStorage.map((folder) => `**/${folder}/**`),
        '**/kernel.js',
        '**/config.js',
        '**/index.js',
      ],
      message:
        'Storage imports only downward: storage/, model/, formats/, util/ and errors.ts. Move shared vocabulary to src/model/.',
    },
    {
      group: ['**/storage/sqlite/**', '**/storage/postgres/**', '**/storage/memory/**']
        .concat(['../sqlite/**', '../postgres/**', '../memory/**'])
        .filter((g) => ownFolder === '' || !g.includes(ownFolder)),
      message: 'A storage backend never imports another backend; share code through the ports.',
    },
    ...(ownFolder === ''
      ? []
      : [
          {
            group: ['better-sqlite3', 'pg', '@nats-io/*'].filter(
              (d) =>
                !(ownFolder === 'sqlite' && d === 'better-sqlite3') &&
                !(ownFolder === 'postgres' && d === 'pg'),
            ),
            message: 'A backend loads only its own driver.',
          },
        ]),
  ],
});

/** Every kerno folder and root file above model/ and formats/ (written as import paths). */
const aboveCodecs = [...aboveStorage.map((folder) => `**/${folder}/**`), '**/storage/**']
  .concat(['../storage.js', '../kernel.js', '../config.js', '../index.js'])
  .concat(['**/kernel.js', '**/config.js', '**/index.js']);

/** model/ is the bottom: it imports nothing of kerno but util/ and errors.ts. */
const modelBoundary = {
  patterns: [
    {
      group: [...aboveCodecs, '**/formats/**'],
      message:
        'src/model/ is shared vocabulary: it imports nothing of kerno but util/ and errors.ts.',
    },
  ],
};

/** formats/ are upstream codecs: they import only formats/, model/, util/ and errors.ts. */
const formatsBoundary = {
  patterns: [
    {
      group: aboveCodecs,
      message: 'src/formats/ holds codecs only: import formats/, model/, util/ and errors.ts.',
    },
    {
      group: ['better-sqlite3', 'pg', '@nats-io/*'],
      message: 'Codecs never load a driver.',
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
    files: ['src/storage/*.ts'],
    rules: { 'no-restricted-imports': ['error', storageBoundary()] },
  },
  ...['memory', 'sqlite', 'postgres'].map((backend) => ({
    files: [`src/storage/${backend}/**`],
    rules: { 'no-restricted-imports': ['error', storageBoundary(backend)] },
  })),
  {
    files: ['src/model/**'],
    rules: { 'no-restricted-imports': ['error', modelBoundary] },
  },
  {
    files: ['src/formats/**'],
    rules: { 'no-restricted-imports': ['error', formatsBoundary] },
  },
  {
    // kerno/client runs in browsers and edge runtimes: its own modules and errors.ts, nothing else.
    files: ['src/client/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./[^/]+$|\\.\\./errors\\.js$)',
              message:
                'src/client/ (kerno/client) runs in browsers and edge runtimes: it imports only its own modules and ../errors.js (no node:* module, no package, no other part of kerno).',
            },
          ],
        },
      ],
    },
  },
  {
    // A separate rule from no-restricted-imports, so the folder fences above still apply.
    files: ['src/**'],
    ignores: ['src/testing/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/testing/**', 'vitest'],
              message:
                'src/testing/ (the contract suites, kerno/testing) is only imported by tests: kerno itself never loads it or vitest.',
            },
          ],
        },
      ],
    },
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
    // The dashboard (web/src, built by Vite): browser code, typechecked by web/tsconfig.json.
    files: ['web/src/**/*.ts', 'web/src/**/*.tsx'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'JSXAttribute[name.name="dangerouslySetInnerHTML"]',
          message: 'Agent-controlled text must stay text: render it as children, never as HTML.',
        },
        {
          selector: 'AssignmentExpression[left.property.name=/^(innerHTML|outerHTML)$/]',
          message: 'Never build HTML from strings in the dashboard.',
        },
        {
          selector: 'CallExpression[callee.property.name="insertAdjacentHTML"]',
          message: 'Never build HTML from strings in the dashboard.',
        },
        {
          selector: 'CallExpression[callee.name=/^(prompt|alert|confirm)$/]',
          message: 'Use a dialog (ui/parts.tsx Dialog), not the browser’s blocking prompts.',
        },
      ],
    },
  },
);

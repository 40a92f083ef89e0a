/**
 * The vitest project Stryker runs (`npm run mutate`): the unit and contract tests, without the
 * tests that drive the built binary, a browser or child processes — those exercise `dist/`, which
 * Stryker does not mutate, and would only slow every mutant down.
 */
// @ts-check
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: ['test/e2e/**', 'test/cli/**', '**/node_modules/**'],
    },
  }),
);

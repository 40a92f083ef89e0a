import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '../../src/storage/open-storage.js';
import type { BackendHarness } from '../../src/testing/harness.js';
import { dropSchema, freshSchema, pgAvailable, pgUrl } from './postgres.js';

/** A fresh temp folder, removed by the returned cleanup. */
export function tempDir(prefix = 'kerno-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type { BackendHarness } from '../../src/testing/harness.js';

function openSqlite(writer: 'thread' | 'inline') {
  return async (): Promise<BackendHarness> => {
    const { dir, cleanup } = tempDir();
    const url = `sqlite:${join(dir, 'kerno.db')}`;
    let current = await openStorage(url, { sqliteWriter: writer });
    return {
      get storage() {
        return current;
      },
      reopen: async () => {
        await current.close();
        current = await openStorage(url, { sqliteWriter: writer });
        return current;
      },
      close: async () => {
        await current.close();
        cleanup();
      },
    };
  };
}

/**
 * SQLite with the inline writer (commits on the calling thread): the storage contracts run on
 * it too, so both writer modes answer alike.
 */
export const SQLITE_INLINE = { durable: true, open: openSqlite('inline') };

/** Backend factories by name (PostgreSQL only when its test server is reachable). */
const ALL_BACKENDS: Record<string, { durable: boolean; open: () => Promise<BackendHarness> }> = {
  memory: {
    durable: false,
    open: async () => {
      const storage = await openStorage('memory:');
      return { storage, close: () => storage.close() };
    },
  },
  sqlite: { durable: true, open: openSqlite('thread') },
  ...(pgAvailable
    ? {
        postgres: {
          durable: true,
          open: async () => {
            // Each test gets its own schema, dropped at the end.
            const schema = freshSchema();
            const url = pgUrl(schema);
            let current = await openStorage(url);
            return {
              get storage() {
                return current;
              },
              reopen: async () => {
                await current.close();
                current = await openStorage(url);
                return current;
              },
              close: async () => {
                try {
                  await current.close();
                } finally {
                  await dropSchema(schema);
                }
              },
            };
          },
        },
      }
    : {}),
};

/**
 * `KERNO_TEST_BACKENDS=memory` (a comma list of names) keeps only those backends: for mutation
 * runs (docs/testing.md), where the code under test runs in-process. Unset: every backend.
 */
const chosen = process.env['KERNO_TEST_BACKENDS']?.split(',').filter(Boolean);

/** Whether the tests run on backend `name` (see `KERNO_TEST_BACKENDS`). */
export function backendChosen(name: string): boolean {
  return chosen === undefined || chosen.includes(name);
}

/** The backends the storage tests run on: {@link ALL_BACKENDS}, or those `KERNO_TEST_BACKENDS` names. */
export const BACKENDS: Record<string, { durable: boolean; open: () => Promise<BackendHarness> }> =
  chosen === undefined
    ? ALL_BACKENDS
    : Object.fromEntries(Object.entries(ALL_BACKENDS).filter(([name]) => backendChosen(name)));

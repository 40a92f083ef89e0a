/**
 * Opens the storage a URL names: `memory:`, `sqlite:<path>` (the embedded default, e.g.
 * `sqlite:.kerno/kerno.db`), or `postgres://user@host/db?schema=kerno` (scale-out; needs the
 * optional `pg` package). Backends are loaded on demand, so
 * the embedded path never loads a PostgreSQL driver. The caller resolves which URL (`config.ts`:
 * `--store`, `KERNO_STORE`, else `sqlite:<state folder>/kerno.db`); storage reads no environment.
 *
 * @example
 * const storage = await openStorage('sqlite:.kerno/kerno.db');
 * await storage.log.append('audit', [...]);
 * await storage.close();
 *
 * @module
 */
import { KernelError } from '../errors.js';
import type { Logger } from '../util/logger.js';
import type { Storage } from './storage.js';

/** Options for {@link openStorage}. */
export interface OpenStorageOptions {
  /** SQLite: how long to wait for another process's write lock (ms). */
  readonly busyTimeoutMs?: number;
  /**
   * SQLite: where writes commit — `thread` (default, kerno's writer thread) or `inline` (the
   * calling thread: no hand-off, faster for one producer, but each commit blocks the event loop;
   * for embedded scripts, not a daemon).
   */
  readonly sqliteWriter?: 'thread' | 'inline';
  /** PostgreSQL: most pooled connections for reads and registry writes (default 8). */
  readonly poolSize?: number;
  /** Receives warnings (PostgreSQL: a lost LISTEN connection, …; SQLite: a stale learning lock). */
  readonly logger?: Logger;
}

/** A parsed store URL. */
export type StoreLocation =
  | { readonly kind: 'memory' }
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'postgres'; readonly url: string };

/** Parses a store URL; throws `INVALID_STORE_URL` with the accepted forms. */
export function parseStoreUrl(url: string): StoreLocation {
  const text = url.trim();
  if (text === 'memory:' || text === 'memory') return { kind: 'memory' };
  if (text.startsWith('sqlite:')) {
    let file = text.slice('sqlite:'.length);
    if (file.startsWith('//')) file = file.slice(2); // sqlite:///abs/path → /abs/path
    if (file === '' || file === ':memory:') {
      throw new KernelError(
        'INVALID_STORE_URL',
        `"${url}" names no file; use sqlite:<path> (e.g. sqlite:.kerno/kerno.db), or memory: for a store that is not kept`,
      );
    }
    return { kind: 'sqlite', file };
  }
  if (text.startsWith('postgres://') || text.startsWith('postgresql://'))
    return { kind: 'postgres', url: text };
  throw new KernelError(
    'INVALID_STORE_URL',
    `Unknown store URL "${url}"; use memory:, sqlite:<path> (e.g. sqlite:.kerno/kerno.db) or postgres://user@host/db`,
  );
}

/** Opens the storage named by `url`. */
export async function openStorage(url: string, options: OpenStorageOptions = {}): Promise<Storage> {
  const location = parseStoreUrl(url);
  switch (location.kind) {
    case 'memory': {
      const { createMemoryStorage } = await import('./memory/memory-storage.js');
      return createMemoryStorage();
    }
    case 'sqlite': {
      const { openSqliteStorage } = await import('./sqlite/sqlite-storage.js');
      const { loadSqlite } = await import('./sqlite/sqlite-driver.js');
      return openSqliteStorage(location.file, {
        driver: await loadSqlite(),
        ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
        ...(options.sqliteWriter === undefined ? {} : { writer: options.sqliteWriter }),
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      });
    }
    case 'postgres': {
      // Loaded only here, so the embedded path never loads the PostgreSQL driver.
      const { openPostgresStorage } = await import('./postgres/postgres-storage.js');
      return openPostgresStorage(location.url, {
        ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      });
    }
  }
}

/**
 * The storage's connection pool, for reads and for the registry's short transactions. A read
 * that meets a dead connection (the server restarted, an idle connection was killed) is tried
 * once more on a fresh one: reads change nothing, so that is always safe.
 *
 * @module
 */
import { isKernelError } from '../../errors.js';
import {
  isConnectionError,
  storageError,
  type PgPool,
  type PgPoolClient,
  type PgQueryConfig,
  type PgResult,
} from './postgres-connection.js';

/** Queries over a pool, with driver errors turned into `STORAGE_ERROR`s. */
export class PostgresReader {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  /** Runs a read; `what` starts the error message. */
  async query(what: string, query: PgQueryConfig): Promise<PgResult> {
    try {
      return await this.#pool.query(query);
    } catch (error) {
      if (!isConnectionError(error)) throw storageError(what, error);
    }
    try {
      return await this.#pool.query(query);
    } catch (error) {
      throw storageError(what, error);
    }
  }

  /**
   * Runs `fn` in one transaction on one pooled connection. A connection found dead at `BEGIN`
   * (nothing sent yet) is replaced once; a failure after that is a `STORAGE_ERROR` and the
   * transaction is rolled back (or died with its connection).
   */
  async transaction<T>(
    what: string,
    fn: (query: (q: PgQueryConfig) => Promise<PgResult>) => Promise<T>,
  ): Promise<T> {
    let client: PgPoolClient | undefined;
    for (let attempt = 0; client === undefined; attempt++) {
      let c: PgPoolClient;
      try {
        c = await this.#pool.connect();
      } catch (error) {
        throw storageError(what, error);
      }
      try {
        await c.query({ text: 'BEGIN' });
        client = c;
      } catch (error) {
        c.release(true);
        if (attempt > 0 || !isConnectionError(error)) throw storageError(what, error);
      }
    }
    const tx = client;
    try {
      const result = await fn((q) => tx.query(q));
      await tx.query({ text: 'COMMIT' });
      tx.release();
      return result;
    } catch (error) {
      if (isConnectionError(error) && !isKernelError(error)) tx.release(true);
      else {
        await tx.query({ text: 'ROLLBACK' }).then(
          () => tx.release(),
          () => tx.release(true),
        );
      }
      throw storageError(what, error);
    }
  }

  /** Closes every pooled connection. */
  end(): Promise<void> {
    return this.#pool.end();
  }
}

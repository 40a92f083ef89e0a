/**
 * The subset of better-sqlite3 kerno uses, as structural types (as `PgModule` is for `pg`): the
 * backend is written against these, the opener passes the loaded driver in, and the writer
 * worker loads it itself, typed by the same interface.
 *
 * @module
 */

/** A prepared statement. */
export interface SqliteStatement {
  run(...params: unknown[]): {
    readonly changes: number;
    readonly lastInsertRowid: number | bigint;
  };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  /** Rows as arrays instead of objects. */
  raw(toggle?: boolean): SqliteStatement;
  /** Only the first column of each row. */
  pluck(toggle?: boolean): SqliteStatement;
}

/** An open connection. */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  readonly inTransaction: boolean;
  close(): unknown;
}

/** The driver: a connection constructor. */
export type SqliteModule = new (
  file: string,
  options?: { readonly fileMustExist?: boolean; readonly readonly?: boolean },
) => SqliteDatabase;

/** Loads better-sqlite3 (the embedded default's driver). */
export async function loadSqlite(): Promise<SqliteModule> {
  const { default: driver } = await import('better-sqlite3');
  return driver;
}

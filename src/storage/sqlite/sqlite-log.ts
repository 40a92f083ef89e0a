/**
 * The SQLite log: appends go through the group-commit writer (one transaction and one fsync
 * per batch, in a worker); reads run on the main thread's own connection, which WAL never
 * blocks behind a write.
 *
 * @module
 */
import type { SqliteDatabase, SqliteStatement } from './sqlite-driver.js';
import { KernelError } from '../../errors.js';
import {
  GENESIS_HASH,
  makeRecord,
  validateAppend,
  validatePruneSeq,
  validateQuery,
  type LogAppend,
  type LogAppendAllResult,
  type LogAppendOptions,
  type LogBody,
  type LogHead,
  type LogListener,
  type LogQuery,
  type LogRecord,
  type LogStore,
  type VerifyRangeOutcome,
  type VerifyRangeTask,
} from '../log.js';
import { runRangeWorkers } from '../log-verify-threads.js';
import { workerEntry } from '../../util/worker-entry.js';
import type { SqliteRangeConnection } from './sqlite-verify-worker.js';
import { ANCHOR_SQL, LOG_COLUMNS, rowToRecord } from './sqlite-log-writes.js';
import { buildLogQuery, type LogSqlDialect } from '../log-sql.js';
import type { SqliteWriter } from './sqlite-writer.js';

/** SQLite's log query dialect: `?` placeholders, the stream by id. */
export const SQLITE_LOG_SQL: LogSqlDialect = Object.freeze({
  placeholder: () => '?',
  columns: LOG_COLUMNS,
  from: 'log_records',
  column: (name: string) => name,
  stream: (p: string) => `stream = ${p}`,
  kindIn: (column: string, kinds: readonly string[], param: (value: unknown) => string) =>
    `${column} IN (${kinds.map((k) => param(k)).join(',')})`,
});

/**
 * Creates the log over an open read connection and a started writer; `file` is the database
 * the range verifiers open read-only.
 */
export function createSqliteLog(
  db: SqliteDatabase,
  writer: SqliteWriter,
  file: SqliteRangeConnection,
): LogStore {
  return new SqliteLog(db, writer, file);
}

/** Stage ids of `appendAll` (one writer worker per storage; unique within the process is enough). */
let stages = 0;

class SqliteLog implements LogStore {
  readonly #db: SqliteDatabase;
  readonly #writer: SqliteWriter;
  readonly #listeners = new Map<string, Set<LogListener>>();
  readonly #read: SqliteStatement;
  readonly #byKey: SqliteStatement;
  readonly #head: SqliteStatement;
  readonly #anchor: SqliteStatement;
  readonly #queries = new Map<string, SqliteStatement>();
  readonly #streamId: SqliteStatement;
  readonly #scan: SqliteStatement;
  readonly #ids = new Map<string, number>();
  readonly #file: SqliteRangeConnection;
  #closed = false;

  constructor(db: SqliteDatabase, writer: SqliteWriter, file: SqliteRangeConnection) {
    this.#file = { file: file.file, busyTimeoutMs: file.busyTimeoutMs };
    this.#db = db;
    this.#writer = writer;
    this.#read = db
      .prepare(
        `SELECT ${LOG_COLUMNS} FROM log_records WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?`,
      )
      .raw();
    this.#byKey = db
      .prepare(`SELECT ${LOG_COLUMNS} FROM log_records WHERE stream = ? AND record_key = ?`)
      .raw();
    this.#head = db
      .prepare(
        'SELECT seq, lower(hex(hash)) FROM log_records WHERE stream = ? ORDER BY seq DESC LIMIT 1',
      )
      .raw();
    this.#scan = db
      .prepare(
        'SELECT seq, time_ms, body, lower(hex(prev_hash)), lower(hex(hash)) FROM log_records WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?',
      )
      .raw();
    this.#streamId = db.prepare('SELECT id FROM log_streams WHERE name = ?').pluck();
    this.#anchor = db.prepare(ANCHOR_SQL).raw();
  }

  /** The stream's id, or undefined while it has no committed record. */
  #id(stream: string): number | undefined {
    let id = this.#ids.get(stream);
    if (id === undefined) {
      id = this.#streamId.get(stream) as number | undefined;
      if (id !== undefined) this.#ids.set(stream, id);
    }
    return id;
  }

  async append(
    stream: string,
    entries: readonly LogAppend[],
    options?: LogAppendOptions,
  ): Promise<LogRecord[]> {
    if (this.#closed) throw new KernelError('CLOSED', 'The log is closed');
    for (const e of entries) validateAppend(stream, e);
    if (entries.length === 0) return [];
    const unlessKey = options?.unlessKey;
    const result = await this.#writer.submit(
      unlessKey === undefined
        ? { kind: 'log.append', stream, entries }
        : { kind: 'log.append', stream, entries, unlessKey },
      options?.background === true,
    );
    const freshEntries: LogAppend[] = new Array<LogAppend>(result.hashes.length);
    for (let i = 0; i < entries.length; i++) {
      const slot = result.slots[i];
      if (typeof slot === 'number' && freshEntries[slot] === undefined)
        freshEntries[slot] = entries[i]!;
    }
    const fresh: LogRecord[] = new Array<LogRecord>(result.hashes.length);
    let prev = result.prevHash;
    for (let i = 0; i < result.hashes.length; i++) {
      fresh[i] = makeRecord(stream, result.firstSeq + i, freshEntries[i]!, prev, result.hashes[i]!);
      prev = result.hashes[i]!;
    }
    const out = result.slots.map((slot) => (typeof slot === 'number' ? fresh[slot]! : slot));
    if (fresh.length > 0) this.#notify(stream, fresh);
    return out;
  }

  /**
   * Stages the batches in the writer's TEMP table (ordinary group-committed writes, invisible to
   * the log), then appends the whole stage in one op of one transaction.
   */
  async appendAll(
    stream: string,
    batches: AsyncIterable<readonly LogAppend[]>,
  ): Promise<LogAppendAllResult> {
    if (this.#closed) throw new KernelError('CLOSED', 'The log is closed');
    const stage = ++stages;
    let count = 0;
    try {
      for await (const batch of batches) {
        for (const e of batch) validateAppend(stream, e);
        if (batch.length === 0) continue;
        await this.#writer.submit({ kind: 'log.stage', stage, from: count, entries: batch });
        count += batch.length;
      }
      const result = await this.#writer.submit({ kind: 'log.commitStage', stage, stream, count });
      if (result.appended > 0) this.#notify(stream, []);
      return result;
    } catch (error) {
      await this.#writer.submit({ kind: 'log.dropStage', stage }).catch(() => undefined);
      throw error;
    }
  }

  async prune(stream: string, throughSeq: number): Promise<number> {
    if (this.#closed) throw new KernelError('CLOSED', 'The log is closed');
    validatePruneSeq(stream, throughSeq);
    return this.#writer.submit({ kind: 'log.prune', stream, throughSeq });
  }

  #notify(stream: string, records: readonly LogRecord[]): void {
    const set = this.#listeners.get(stream);
    if (set === undefined) return;
    for (const l of set) {
      try {
        l(records);
      } catch {
        // A listener's failure must not undo or block a committed append.
      }
    }
  }

  read(stream: string, afterSeq: number, limit: number): Promise<LogRecord[]> {
    return this.#guard(() => {
      const id = this.#id(stream);
      if (id === undefined) return [];
      return (this.#read.all(id, afterSeq, limit) as unknown[][]).map((row) =>
        rowToRecord(stream, row),
      );
    });
  }

  scan(stream: string, afterSeq: number, limit: number): Promise<LogBody[]> {
    return this.#guard(() => {
      const id = this.#id(stream);
      if (id === undefined) return [];
      const rows = this.#scan.all(id, afterSeq, limit) as [
        number,
        number,
        string,
        string,
        string,
      ][];
      return rows.map((r) => ({
        stream,
        seq: r[0],
        timeMs: r[1],
        body: r[2],
        prevHash: r[3],
        hash: r[4],
      }));
    });
  }

  getByKey(stream: string, key: string): Promise<LogRecord | undefined> {
    return this.#guard(() => {
      const id = this.#id(stream);
      const row =
        id === undefined ? undefined : (this.#byKey.get(id, key) as unknown[] | undefined);
      return row === undefined ? undefined : rowToRecord(stream, row);
    });
  }

  head(stream: string): Promise<LogHead> {
    return this.#guard(() => {
      const id = this.#id(stream);
      if (id === undefined) return { seq: 0, hash: GENESIS_HASH, firstSeq: 1, anchor: undefined };
      const row = this.#head.get(id) as [number, string] | undefined;
      const a = this.#anchor.get(id) as [number, string] | undefined;
      const anchor = a === undefined ? undefined : { seq: a[0], hash: a[1] };
      if (row === undefined) {
        return anchor === undefined
          ? { seq: 0, hash: GENESIS_HASH, firstSeq: 1, anchor: undefined }
          : { seq: anchor.seq, hash: anchor.hash, firstSeq: anchor.seq + 1, anchor };
      }
      return { seq: row[0], hash: row[1], firstSeq: (anchor?.seq ?? 0) + 1, anchor };
    });
  }

  query(stream: string, q: LogQuery): Promise<LogRecord[]> {
    return this.#guard(() => {
      validateQuery(q);
      if (q.limit === 0) return [];
      return this.#select(stream, q);
    });
  }

  #select(stream: string, q: LogQuery): LogRecord[] {
    const id = this.#id(stream);
    if (id === undefined) return [];
    const { text: sql, values: params, newestFirst } = buildLogQuery(SQLITE_LOG_SQL, id, q);
    let stmt = this.#queries.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql).raw();
      if (this.#queries.size > 256) this.#queries.clear();
      this.#queries.set(sql, stmt);
    }
    const records = (stmt.all(...params) as unknown[][]).map((row) => rowToRecord(stream, row));
    return newestFirst ? records.reverse() : records;
  }

  /** Each range on a worker thread with its own read-only connection to the file. */
  verifyRanges(
    tasks: readonly VerifyRangeTask[],
    onProgress?: (checked: number) => void,
  ): Promise<VerifyRangeOutcome[]> {
    if (this.#closed) return Promise.reject(new KernelError('CLOSED', 'The log is closed'));
    return runRangeWorkers(
      workerEntry(import.meta.url, 'sqlite-verify-worker'),
      this.#file,
      tasks,
      onProgress,
    );
  }

  onAppend(stream: string, listener: LogListener): () => void {
    let set = this.#listeners.get(stream);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(stream, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  expedite(): void {
    this.#writer.expedite();
  }

  flush(): Promise<void> {
    return this.#writer.flush();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#writer.flush();
    this.#listeners.clear();
  }

  #guard<T>(fn: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new KernelError('CLOSED', 'The log is closed'));
    try {
      return Promise.resolve(fn());
    } catch (error) {
      if (error instanceof KernelError) return Promise.reject(error);
      return Promise.reject(
        new KernelError('STORAGE_ERROR', `SQLite read failed: ${(error as Error).message}`, {
          cause: error,
        }),
      );
    }
  }
}

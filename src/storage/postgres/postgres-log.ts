/**
 * The PostgreSQL log: appends go through the group-commit writer (one connection, one
 * transaction per batch); reads run on the storage's pool. Listeners hear about this process's
 * commits with the records, and about other processes' commits (LISTEN/NOTIFY) with an empty
 * wake-up.
 *
 * @module
 */
import { KernelError } from '../../errors.js';
import type { Logger } from '../../util/logger.js';
import { buildLogQuery, type LogSqlDialect } from '../log-sql.js';
import {
  GENESIS_HASH,
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
import type { PgModule, PostgresLocation } from './postgres-connection.js';
import { PostgresNotifications, logChannel } from './postgres-notifications.js';
import type { PostgresReader } from './postgres-reader.js';
import { LOG_COLUMNS, rowToRecord } from './postgres-rows.js';
import { PostgresLogWriter } from './postgres-writer.js';

/** What {@link createPostgresLog} needs. */
export interface PostgresLogOptions {
  readonly pg: PgModule;
  readonly location: PostgresLocation;
  readonly reader: PostgresReader;
  readonly logger: Logger;
}

/** The log over a storage's pool, with its own writer and LISTEN connections. */
export interface PostgresLogStore extends LogStore {
  /** Group-commit counters: batches committed and appends in them. */
  stats(): { batches: number; appends: number };
}

/** Creates the log. Connections open on first use. */
export function createPostgresLog(options: PostgresLogOptions): PostgresLogStore {
  return new PostgresLog(options);
}

const STREAM_ID = '(SELECT id FROM log_streams WHERE name = $1)';

/** PostgreSQL's log query dialect: `$n` placeholders, the stream by name, kinds as an array. */
const POSTGRES_LOG_SQL: LogSqlDialect = Object.freeze({
  placeholder: (n: number) => `$${n}`,
  columns: LOG_COLUMNS,
  from: 'log_records r',
  column: (name: string) => `r.${name}`,
  stream: (p: string) => `r.stream = (SELECT id FROM log_streams WHERE name = ${p})`,
  kindIn: (column: string, kinds: readonly string[], param: (value: unknown) => string) =>
    `${column} = ANY(${param(kinds)}::text[])`,
});

class PostgresLog implements PostgresLogStore {
  readonly #reader: PostgresReader;
  readonly #writer: PostgresLogWriter;
  readonly #notifications: PostgresNotifications;
  readonly #listeners = new Map<string, Set<LogListener>>();
  readonly #location: PostgresLocation;
  #closing: Promise<void> | undefined;

  constructor(options: PostgresLogOptions) {
    this.#reader = options.reader;
    this.#location = options.location;
    const channel = logChannel(options.location.schema);
    this.#writer = new PostgresLogWriter(options.pg, options.location, channel, (stream, records) =>
      this.#notify(stream, records),
    );
    this.#notifications = new PostgresNotifications({
      pg: options.pg,
      location: options.location,
      channel,
      logger: options.logger,
      onStream: (stream, pid) => {
        if (!this.#writer.ownPids.has(pid)) this.#notify(stream, NO_RECORDS);
      },
      onConnected: () => {
        // Notifications sent while the connection was down are lost: wake every follower.
        for (const stream of this.#listeners.keys()) this.#notify(stream, NO_RECORDS);
      },
    });
  }

  async append(
    stream: string,
    entries: readonly LogAppend[],
    options?: LogAppendOptions,
  ): Promise<LogRecord[]> {
    if (this.#closing !== undefined) throw new KernelError('CLOSED', 'The log is closed');
    if (stream.includes('\0')) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        'A log stream name contains a NUL character (U+0000), which PostgreSQL text cannot hold',
      );
    }
    for (const e of entries) {
      validateAppend(stream, e);
      assertNoNul(stream, e);
    }
    if (entries.length === 0) return [];
    return this.#writer.submit(stream, entries, options?.unlessKey, options?.background === true);
  }

  async read(stream: string, afterSeq: number, limit: number): Promise<LogRecord[]> {
    this.#open();
    if (limit <= 0) return [];
    const { rows } = await this.#reader.query('Reading the log failed', {
      name: 'kerno_log_read',
      text: `SELECT ${LOG_COLUMNS} FROM log_records r WHERE r.stream = ${STREAM_ID} AND r.seq > $2 ORDER BY r.seq LIMIT $3`,
      values: [stream, afterSeq, limit],
      rowMode: 'array',
    });
    return (rows as unknown[][]).map((row) => rowToRecord(stream, row));
  }

  async scan(stream: string, afterSeq: number, limit: number): Promise<LogBody[]> {
    this.#open();
    if (limit <= 0) return [];
    const { rows } = await this.#reader.query('Reading the log failed', {
      name: 'kerno_log_scan',
      text:
        "SELECT seq, time_ms, body, encode(prev_hash, 'hex'), encode(hash, 'hex') FROM log_records " +
        `WHERE stream = ${STREAM_ID} AND seq > $2 ORDER BY seq LIMIT $3`,
      values: [stream, afterSeq, limit],
      rowMode: 'array',
    });
    return (rows as [number, number, string, string, string][]).map((r) => ({
      stream,
      seq: r[0],
      timeMs: r[1],
      body: r[2],
      prevHash: r[3],
      hash: r[4],
    }));
  }

  async getByKey(stream: string, key: string): Promise<LogRecord | undefined> {
    this.#open();
    const { rows } = await this.#reader.query('Reading the log failed', {
      name: 'kerno_log_by_key',
      text: `SELECT ${LOG_COLUMNS} FROM log_records r WHERE r.stream = ${STREAM_ID} AND r.record_key = $2`,
      values: [stream, key],
      rowMode: 'array',
    });
    const row = rows[0] as unknown[] | undefined;
    return row === undefined ? undefined : rowToRecord(stream, row);
  }

  async head(stream: string): Promise<LogHead> {
    this.#open();
    const { rows } = await this.#reader.query('Reading the log head failed', {
      name: 'kerno_log_head',
      text:
        "SELECT head_seq, encode(head_hash, 'hex'), anchor_seq, encode(anchor_hash, 'hex') " +
        'FROM log_streams WHERE name = $1',
      values: [stream],
      rowMode: 'array',
    });
    const row = rows[0] as [number, string, number, string | null] | undefined;
    if (row === undefined) return { seq: 0, hash: GENESIS_HASH, firstSeq: 1, anchor: undefined };
    const anchor =
      row[2] > 0 && row[3] !== null ? { seq: Number(row[2]), hash: row[3] } : undefined;
    return { seq: row[0], hash: row[1], firstSeq: (anchor?.seq ?? 0) + 1, anchor };
  }

  async appendAll(
    stream: string,
    batches: AsyncIterable<readonly LogAppend[]>,
  ): Promise<LogAppendAllResult> {
    if (this.#closing !== undefined) throw new KernelError('CLOSED', 'The log is closed');
    if (stream.includes('\0')) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        'A log stream name contains a NUL character (U+0000), which PostgreSQL text cannot hold',
      );
    }
    return this.#writer.appendAll(stream, batches, (e) => {
      validateAppend(stream, e);
      assertNoNul(stream, e);
    });
  }

  async prune(stream: string, throughSeq: number): Promise<number> {
    this.#open();
    validatePruneSeq(stream, throughSeq);
    return this.#reader.transaction('Pruning the log failed', async (query) => {
      const { rows } = await query({
        text: 'SELECT id, head_seq, anchor_seq FROM log_streams WHERE name = $1 FOR UPDATE',
        values: [stream],
        rowMode: 'array',
      });
      const row = rows[0] as [number, number | string, number | string] | undefined;
      if (row === undefined) return 0;
      const through = Math.min(throughSeq, Number(row[1]));
      if (through <= Number(row[2])) return 0;
      await query({
        text:
          'UPDATE log_streams SET anchor_seq = $2, anchor_hash = ' +
          '(SELECT hash FROM log_records WHERE stream = $1 AND seq = $2) WHERE id = $1',
        values: [row[0], through],
      });
      const deleted = await query({
        text: 'DELETE FROM log_records WHERE stream = $1 AND seq <= $2',
        values: [row[0], through],
      });
      return deleted.rowCount ?? 0;
    });
  }

  async query(stream: string, q: LogQuery): Promise<LogRecord[]> {
    this.#open();
    validateQuery(q);
    if (q.limit === 0) return [];
    const { text, values, newestFirst } = buildLogQuery(POSTGRES_LOG_SQL, stream, q);
    const { rows } = await this.#reader.query('Querying the log failed', {
      name: statementName(text),
      text,
      values,
      rowMode: 'array',
    });
    const records = (rows as unknown[][]).map((row) => rowToRecord(stream, row));
    return newestFirst ? records.reverse() : records;
  }

  /**
   * Each range on a worker thread with its own connection. The workers load the `pg` package
   * themselves (a driver object cannot cross threads), so an injected driver is not used there.
   */
  async verifyRanges(
    tasks: readonly VerifyRangeTask[],
    onProgress?: (checked: number) => void,
  ): Promise<VerifyRangeOutcome[]> {
    this.#open();
    return runRangeWorkers(
      workerEntry(import.meta.url, 'postgres-verify-worker'),
      this.#location,
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
    if (this.#closing === undefined) this.#notifications.start();
    return () => set.delete(listener);
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

  expedite(): void {
    this.#writer.expedite();
  }

  flush(): Promise<void> {
    return this.#writer.flush();
  }

  stats(): { batches: number; appends: number } {
    return this.#writer.stats();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#writer.close();
      await this.#notifications.close();
      this.#listeners.clear();
    })();
    return this.#closing;
  }

  #open(): void {
    if (this.#closing !== undefined) throw new KernelError('CLOSED', 'The log is closed');
  }
}

const NO_RECORDS: readonly LogRecord[] = Object.freeze([]);

/** PostgreSQL text cannot hold U+0000; say so instead of failing inside the batch. */
function assertNoNul(stream: string, e: LogAppend): void {
  for (const text of [e.body, e.key, e.tenant, e.kind, e.subject, e.correlation, e.chain]) {
    if (text !== undefined && text.includes('\0')) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `A log record for "${stream}" contains a NUL character (U+0000), which PostgreSQL text ` +
          'cannot hold; remove it or escape it (JSON bodies escape it as \\u0000)',
      );
    }
  }
}

/** A short, stable name for a prepared query (one per distinct SQL text). */
function statementName(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return `kerno_log_q_${(h >>> 0).toString(36)}_${text.length}`;
}

/**
 * A range verifier for the SQLite log: opens the file read-only (its own connection; WAL lets it
 * read beside the writer) and checks one seq range (see `log-verify-ranges.ts`).
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import type { SqliteModule } from './sqlite-driver.js';
import { verifyRange } from '../log-verify-ranges.js';
import {
  rangeFailure,
  type RangeWorkerData,
  type RangeWorkerMessage,
} from '../log-verify-threads.js';
import { LOG_COLUMNS, rowToRecord } from './sqlite-log-writes.js';

/** The connection settings a SQLite range worker gets. */
export interface SqliteRangeConnection {
  readonly file: string;
  readonly busyTimeoutMs: number;
}

const port = parentPort;
if (port === null) throw new Error('sqlite-verify-worker must run as a worker thread');
const { connection, task } = workerData as RangeWorkerData<SqliteRangeConnection>;
const send = (m: RangeWorkerMessage): void => port.postMessage(m);
const Database: SqliteModule = BetterSqlite3;

try {
  const db = new Database(connection.file, { readonly: true, fileMustExist: true });
  try {
    db.pragma(`busy_timeout = ${connection.busyTimeoutMs}`);
    db.pragma('mmap_size = 268435456');
    const id = db.prepare('SELECT id FROM log_streams WHERE name = ?').pluck().get(task.stream) as
      number | undefined;
    const read = db
      .prepare(
        `SELECT ${LOG_COLUMNS} FROM log_records WHERE stream = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
      )
      .raw();
    const before = db
      .prepare(
        'SELECT seq, lower(hex(hash)) FROM log_records WHERE stream = ? AND seq > ? AND seq <= ? ORDER BY seq DESC LIMIT 1',
      )
      .raw();
    const outcome = await verifyRange(
      task,
      {
        before: (fromSeq, atOrBefore) => {
          if (id === undefined) return undefined;
          const row = before.get(id, fromSeq, atOrBefore) as [number, string] | undefined;
          return row === undefined ? undefined : { seq: row[0], hash: row[1] };
        },
        read: (afterSeq, throughSeq, limit) =>
          id === undefined
            ? []
            : (
                read.all(id, afterSeq, throughSeq ?? Number.MAX_SAFE_INTEGER, limit) as unknown[][]
              ).map((row) => rowToRecord(task.stream, row)),
      },
      (checked) => send({ type: 'progress', checked }),
    );
    send({ type: 'done', outcome });
  } finally {
    db.close();
  }
} catch (error) {
  send(rangeFailure(error));
}

/**
 * A range verifier for the PostgreSQL log: opens its own connection (the `pg` package, loaded
 * here: a driver cannot cross threads) and checks one seq range (see `log-verify-ranges.ts`).
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { verifyRange } from '../log-verify-ranges.js';
import {
  rangeFailure,
  type RangeWorkerData,
  type RangeWorkerMessage,
} from '../log-verify-threads.js';
import {
  connectClient,
  loadPg,
  storageError,
  type PostgresLocation,
} from './postgres-connection.js';
import { LOG_COLUMNS, rowToRecord } from './postgres-rows.js';

const port = parentPort;
if (port === null) throw new Error('postgres-verify-worker must run as a worker thread');
const { connection, task } = workerData as RangeWorkerData<PostgresLocation>;
const send = (m: RangeWorkerMessage): void => port.postMessage(m);

try {
  const pg = await loadPg();
  const client = await connectClient(pg, connection, 'verify', () => undefined);
  try {
    const query = async (text: string, values: unknown[]): Promise<unknown[][]> => {
      try {
        return (await client.query({ text, values, rowMode: 'array' })).rows as unknown[][];
      } catch (error) {
        throw storageError('Reading the log to verify it failed', error);
      }
    };
    const ids = await query('SELECT id FROM log_streams WHERE name = $1', [task.stream]);
    const id = ids[0]?.[0] as number | undefined;
    const outcome = await verifyRange(
      task,
      {
        before: async (fromSeq, atOrBefore) => {
          if (id === undefined) return undefined;
          const rows = await query(
            "SELECT seq, encode(hash, 'hex') FROM log_records WHERE stream = $1 AND seq > $2 AND seq <= $3 ORDER BY seq DESC LIMIT 1",
            [id, fromSeq, atOrBefore],
          );
          const row = rows[0] as [number, string] | undefined;
          return row === undefined ? undefined : { seq: row[0], hash: row[1] };
        },
        read: async (afterSeq, throughSeq, limit) => {
          if (id === undefined) return [];
          const rows = await query(
            `SELECT ${LOG_COLUMNS} FROM log_records r WHERE r.stream = $1 AND r.seq > $2 AND r.seq <= $3 ORDER BY r.seq LIMIT $4`,
            [id, afterSeq, throughSeq ?? Number.MAX_SAFE_INTEGER, limit],
          );
          return rows.map((row) => rowToRecord(task.stream, row));
        },
      },
      (checked) => send({ type: 'progress', checked }),
    );
    send({ type: 'done', outcome });
  } finally {
    await client.end().catch(() => undefined);
  }
} catch (error) {
  send(rangeFailure(error));
}

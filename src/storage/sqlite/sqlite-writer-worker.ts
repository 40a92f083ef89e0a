/**
 * The SQLite writer worker: owns kerno's single writer connection and runs each batch it
 * receives as one transaction (see `sqlite-batch.ts`), answering with every op's outcome.
 * Running here keeps fsync and hashing off the main thread.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import type { SqliteModule } from './sqlite-driver.js';
import { BatchRunner, openWriterConnection, toWire } from './sqlite-batch.js';
import type { FromWorker, ToWorker, WriterWorkerData } from './sqlite-writer-protocol.js';

const port = parentPort;
if (port === null) throw new Error('sqlite-writer-worker must run as a worker thread');

const data = workerData as WriterWorkerData;
// The worker loads the driver itself (a module cannot cross threads), typed like the backend's.
const Database: SqliteModule = BetterSqlite3;
const send = (message: FromWorker): void => port.postMessage(message);

let runner: BatchRunner;
try {
  runner = new BatchRunner(openWriterConnection(Database, data.file, data.busyTimeoutMs));
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'fatal', error: toWire(error) });
  throw error;
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'batch') send(runner.runBatch(message.id, message.ops));
  else {
    runner.close();
    send({ type: 'closed' });
    port.close();
  }
});

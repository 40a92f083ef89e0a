/**
 * The log-view contract on every backend. Tampering edits the stored rows behind the log's back:
 * an SQL UPDATE/DELETE with the append-only triggers off on SQLite and PostgreSQL, a read-side
 * wrapper ({@link tamperable}) over the in-memory log.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStorage } from '../../src/storage/open-storage.js';
import { logViewContract, type LogTamper } from '../../src/testing/log-view-contract.js';
import { adminQuery, dropSchema, freshSchema, pgAvailable, pgUrl } from '../helpers/postgres.js';
import { backendChosen, tempDir } from '../helpers/stores.js';
import { tamperable } from '../helpers/tamper-log.js';

logViewContract('memory', async () => {
  const storage = await openStorage('memory:');
  const log = tamperable(storage.log);
  const byPatch: LogTamper = {
    setBody: async (stream, seq, body) => log.tamper(seq, { body }, stream),
    setPrevHash: async (stream, seq, prevHash) => log.tamper(seq, { prevHash }, stream),
    remove: async (stream, seq) => log.remove(seq, stream),
  };
  return { log, tamper: byPatch, close: () => storage.close() };
});

if (backendChosen('sqlite')) {
  logViewContract('sqlite', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'kerno.db');
    const storage = await openStorage(`sqlite:${file}`);
    /** Runs one statement on a second connection, the append-only triggers dropped first. */
    const edit = async (
      stream: string,
      seq: number,
      sql: string,
      ...values: unknown[]
    ): Promise<void> => {
      await storage.log.flush();
      const db = new Database(file);
      try {
        db.exec(
          'DROP TRIGGER IF EXISTS log_records_no_update; DROP TRIGGER IF EXISTS log_records_no_delete',
        );
        const id = db.prepare('SELECT id FROM log_streams WHERE name = ?').pluck().get(stream);
        db.prepare(`${sql} WHERE stream = ? AND seq = ?`).run(...values, id, seq);
      } finally {
        db.close();
      }
    };
    return {
      log: storage.log,
      tamper: {
        setBody: (stream, seq, body) => edit(stream, seq, 'UPDATE log_records SET body = ?', body),
        setPrevHash: (stream, seq, hash) =>
          edit(stream, seq, 'UPDATE log_records SET prev_hash = ?', Buffer.from(hash, 'hex')),
        remove: (stream, seq) => edit(stream, seq, 'DELETE FROM log_records'),
      },
      close: async () => {
        await storage.close();
        cleanup();
      },
    };
  });
}

if (pgAvailable && backendChosen('postgres')) {
  logViewContract('postgres', async () => {
    const schema = freshSchema();
    const storage = await openStorage(pgUrl(schema));
    const table = `"${schema}".log_records`;
    const where = `WHERE stream = (SELECT id FROM "${schema}".log_streams WHERE name = $1) AND seq = $2`;
    const edit = async (sql: string, values: unknown[]): Promise<void> => {
      await storage.log.flush();
      await adminQuery(`ALTER TABLE ${table} DISABLE TRIGGER log_records_no_update_delete`);
      await adminQuery(sql, values);
    };
    return {
      log: storage.log,
      tamper: {
        setBody: (stream, seq, body) =>
          edit(`UPDATE ${table} SET body = $3 ${where}`, [stream, seq, body]),
        setPrevHash: (stream, seq, hash) =>
          edit(`UPDATE ${table} SET prev_hash = decode($3, 'hex') ${where}`, [stream, seq, hash]),
        remove: (stream, seq) => edit(`DELETE FROM ${table} ${where}`, [stream, seq]),
      },
      close: async () => {
        try {
          await storage.close();
        } finally {
          await dropSchema(schema);
        }
      },
    };
  });
}

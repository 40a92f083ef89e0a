/**
 * The learning store's writes, run by the SQLite writer worker inside the batch transaction:
 * one save is one op (in its own savepoint), so a crash leaves the previous or the new snapshot.
 *
 * @module
 */
import type { SqliteDatabase, SqliteStatement } from './sqlite-driver.js';
import type { LearningSaveOp } from './sqlite-writer-protocol.js';

/** Prepared statements for {@link LearningSaveOp}s. */
export class LearningWriter {
  readonly #deleteAll: SqliteStatement;
  readonly #delete: SqliteStatement;
  readonly #upsert: SqliteStatement;

  constructor(db: SqliteDatabase) {
    this.#deleteAll = db.prepare('DELETE FROM learning_records');
    this.#delete = db.prepare('DELETE FROM learning_records WHERE kind = ? AND id = ?');
    this.#upsert = db
      .prepare(
        'INSERT INTO learning_records (kind, id, line) VALUES (?, ?, ?) ' +
          'ON CONFLICT (kind, id) DO UPDATE SET line = excluded.line RETURNING seq',
      )
      .pluck();
  }

  /** Applies a save plan; returns the seq of each upserted row, in order. */
  save(op: LearningSaveOp): number[] {
    if (op.rewrite) this.#deleteAll.run();
    for (const [kind, id] of op.removed) this.#delete.run(kind, id);
    return op.upserts.map(([kind, id, line]) => this.#upsert.get(kind, id, line) as number);
  }
}

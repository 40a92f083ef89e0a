/**
 * The log's writes, run by the SQLite writer worker inside the batch transaction: idempotency
 * by key, chaining from the stream's committed head, inserts. Also the row ↔ record mapping the
 * read side shares.
 *
 * @module
 */
import type { SqliteDatabase, SqliteStatement } from './sqlite-driver.js';
import {
  GENESIS_HASH,
  chainRecords,
  fencedError,
  keyConflict,
  sameContent,
  type LogAppend,
  type LogRecord,
} from '../log.js';
import { KernelError } from '../../errors.js';
import type {
  LogAppendOp,
  LogAppendResult,
  LogCommitStageOp,
  LogCommitStageResult,
  LogDropStageOp,
  LogPruneOp,
  LogStageOp,
} from './sqlite-writer-protocol.js';

/** Entries a committing stage reads and appends at a time. */
const STAGE_PAGE = 1000;

/**
 * Columns of `log_records` as the readers select them (raw mode order). Hashes are stored as
 * 32-byte blobs and turned into hex by SQLite, which is cheaper than a Buffer per value.
 */
export const LOG_COLUMNS =
  'seq, time_ms, record_key, tenant, kind, subject, correlation, chain, body, lower(hex(prev_hash)), lower(hex(hash))';

/** A pruned stream's anchor (`anchor_seq, hex hash`), or no row when it was never pruned. */
export const ANCHOR_SQL =
  'SELECT anchor_seq, lower(hex(anchor_hash)) FROM log_streams WHERE id = ? AND anchor_seq > 0';

/** Builds a record from a raw row in {@link LOG_COLUMNS} order. */
export function rowToRecord(stream: string, row: readonly unknown[]): LogRecord {
  return {
    stream,
    seq: row[0] as number,
    timeMs: row[1] as number,
    body: row[8] as string,
    key: (row[2] as string | null) ?? undefined,
    tenant: (row[3] as string | null) ?? undefined,
    kind: (row[4] as string | null) ?? undefined,
    subject: (row[5] as string | null) ?? undefined,
    correlation: (row[6] as string | null) ?? undefined,
    chain: (row[7] as string | null) ?? undefined,
    prevHash: row[9] as string,
    hash: row[10] as string,
  };
}

/** Prepared statements and the per-batch caches. */
export class LogWriter {
  readonly #insert: SqliteStatement;
  readonly #byKey: SqliteStatement;
  readonly #head: SqliteStatement;
  readonly #streamId: SqliteStatement;
  readonly #newStream: SqliteStatement;
  readonly #anchor: SqliteStatement;
  readonly #hashAt: SqliteStatement;
  readonly #setAnchor: SqliteStatement;
  readonly #deleteThrough: SqliteStatement;
  /** Stream ids known to be committed (they never change once created). */
  readonly #ids = new Map<string, number>();
  /** Ids learned in the current batch / op: kept only if it commits (a rollback undoes them). */
  readonly #batchIds = new Map<string, number>();
  readonly #opIds = new Map<string, number>();
  /**
   * Heads read or written by this connection. They stay valid across batches while no other
   * connection commits to the file (`PRAGMA data_version` unchanged), so a stream's head is read
   * once, not once per batch.
   */
  readonly #heads = new Map<string, { seq: number; hash: string }>();
  readonly #dataVersion: SqliteStatement;
  /** `data_version` when the last batch began; another connection's commit changes it. */
  #seenVersion: number | undefined;

  readonly #stageInsert: SqliteStatement;
  readonly #stageCount: SqliteStatement;
  readonly #stagePage: SqliteStatement;
  readonly #stageDrop: SqliteStatement;

  constructor(db: SqliteDatabase) {
    // Staged entries of atomic appendAll imports: private to this connection, gone with it.
    db.exec(
      'CREATE TEMP TABLE IF NOT EXISTS log_stage (stage INTEGER NOT NULL, n INTEGER NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (stage, n))',
    );
    this.#stageInsert = db.prepare('INSERT INTO temp.log_stage (stage, n, entry) VALUES (?,?,?)');
    this.#stageCount = db.prepare('SELECT count(*) FROM temp.log_stage WHERE stage = ?').pluck();
    this.#stagePage = db
      .prepare('SELECT n, entry FROM temp.log_stage WHERE stage = ? AND n >= ? ORDER BY n LIMIT ?')
      .raw();
    this.#stageDrop = db.prepare('DELETE FROM temp.log_stage WHERE stage = ?');
    this.#insert = db.prepare(
      'INSERT INTO log_records (stream, seq, time_ms, record_key, tenant, kind, subject, correlation, chain, body, prev_hash, hash) ' +
        'VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
    );
    this.#byKey = db
      .prepare(`SELECT ${LOG_COLUMNS} FROM log_records WHERE stream = ? AND record_key = ?`)
      .raw();
    this.#head = db
      .prepare(
        'SELECT seq, lower(hex(hash)) FROM log_records WHERE stream = ? ORDER BY seq DESC LIMIT 1',
      )
      .raw();
    this.#streamId = db.prepare('SELECT id FROM log_streams WHERE name = ?').pluck();
    this.#newStream = db.prepare('INSERT INTO log_streams (name) VALUES (?)');
    this.#anchor = db.prepare(ANCHOR_SQL).raw();
    this.#hashAt = db.prepare('SELECT hash FROM log_records WHERE stream = ? AND seq = ?').pluck();
    this.#setAnchor = db.prepare(
      'UPDATE log_streams SET anchor_seq = ?, anchor_hash = ? WHERE id = ?',
    );
    this.#deleteThrough = db.prepare('DELETE FROM log_records WHERE stream = ? AND seq <= ?');
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck();
  }

  /**
   * Starts a batch (call inside its transaction, with the write lock held): forgets the heads
   * if another connection (another process) has committed since the last batch.
   */
  beginBatch(): void {
    const version = this.#dataVersion.get() as number;
    if (version !== this.#seenVersion) this.#heads.clear();
    this.#seenVersion = version;
  }

  /** Ends an op: what it learned is kept only if its savepoint was released. */
  opDone(ok: boolean): void {
    if (ok) for (const [k, v] of this.#opIds) this.#batchIds.set(k, v);
    else this.#heads.clear(); // conservative: re-read heads after a rolled-back op
    this.#opIds.clear();
  }

  /**
   * Ends a batch transaction. Committed: its heads stay known (`beginBatch` drops them if
   * another process writes next). Rolled back: everything it learned is forgotten.
   */
  resetBatch(committed: boolean): void {
    if (committed) for (const [k, v] of this.#batchIds) this.#ids.set(k, v);
    else this.#heads.clear();
    this.#batchIds.clear();
    this.#opIds.clear();
  }

  /** The stream's id, or undefined when the stream has never been written. */
  #lookupId(stream: string): number | undefined {
    let id = this.#ids.get(stream) ?? this.#batchIds.get(stream) ?? this.#opIds.get(stream);
    if (id === undefined) {
      id = this.#streamId.get(stream) as number | undefined;
      if (id !== undefined) this.#opIds.set(stream, id);
    }
    return id;
  }

  #createId(stream: string): number {
    const id = Number(this.#newStream.run(stream).lastInsertRowid);
    this.#opIds.set(stream, id);
    return id;
  }

  append(op: LogAppendOp): LogAppendResult {
    const { stream, entries, unlessKey } = op;
    // Every check happens before the first write, so a refused op leaves nothing behind. The
    // fence is read inside the batch transaction (SQLite's write lock is held), so no other
    // writer can add the key between this check and the commit.
    if (unlessKey !== undefined) {
      const fid = this.#lookupId(unlessKey.stream);
      if (fid !== undefined && this.#byKey.get(fid, unlessKey.key) !== undefined) {
        throw fencedError(stream, unlessKey);
      }
    }
    let sid = this.#lookupId(stream);
    const slots: (number | LogRecord)[] = new Array<number | LogRecord>(entries.length);
    const fresh: LogAppend[] = [];
    let batchKeys: Map<string, number> | undefined;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.key !== undefined) {
        const row =
          sid === undefined ? undefined : (this.#byKey.get(sid, e.key) as unknown[] | undefined);
        if (row !== undefined) {
          const stored = rowToRecord(stream, row);
          if (!sameContent(stored, e)) throw keyConflict(stream, e.key);
          slots[i] = stored;
          continue;
        }
        batchKeys ??= new Map();
        const earlier = batchKeys.get(e.key);
        if (earlier !== undefined) {
          if (!sameContent(fresh[earlier]!, e)) throw keyConflict(stream, e.key);
          slots[i] = earlier;
          continue;
        }
        batchKeys.set(e.key, fresh.length);
      }
      slots[i] = fresh.length;
      fresh.push(e);
    }
    if (fresh.length > 0 && sid === undefined) sid = this.#createId(stream);
    const head =
      sid === undefined ? { seq: 0, hash: GENESIS_HASH } : this.#currentHead(stream, sid);
    const records = chainRecords(stream, head, fresh);
    for (const r of records) {
      this.#insert.run(
        sid!,
        r.seq,
        r.timeMs,
        r.key ?? null,
        r.tenant ?? null,
        r.kind ?? null,
        r.subject ?? null,
        r.correlation ?? null,
        r.chain ?? null,
        r.body,
        Buffer.from(r.prevHash, 'hex'),
        Buffer.from(r.hash, 'hex'),
      );
    }
    if (records.length > 0) {
      const last = records[records.length - 1]!;
      this.#heads.set(stream, { seq: last.seq, hash: last.hash });
    }
    return {
      firstSeq: head.seq + 1,
      prevHash: head.hash,
      hashes: records.map((r) => r.hash),
      slots,
    };
  }

  /** Stages entries of an atomic `appendAll`. */
  stage(op: LogStageOp): number {
    for (let i = 0; i < op.entries.length; i++) {
      this.#stageInsert.run(op.stage, op.from + i, JSON.stringify(op.entries[i]));
    }
    return op.entries.length;
  }

  /**
   * Appends a whole stage, page by page, within the caller's savepoint: a conflict or a failure
   * anywhere rolls all of it back. The stage is dropped either way by the client.
   */
  commitStage(op: LogCommitStageOp): LogCommitStageResult {
    const staged = this.#stageCount.get(op.stage) as number;
    if (staged !== op.count) {
      throw new KernelError(
        'STORAGE_ERROR',
        `An import's staged records were lost (${staged} of ${op.count}); nothing was stored, run it again`,
      );
    }
    let appended = 0;
    let next = 0;
    for (;;) {
      const rows = this.#stagePage.all(op.stage, next, STAGE_PAGE) as [number, string][];
      if (rows.length === 0) break;
      const entries = rows.map((r) => JSON.parse(r[1]) as LogAppend);
      const result = this.append({ kind: 'log.append', stream: op.stream, entries });
      appended += result.hashes.length;
      next = rows[rows.length - 1]![0] + 1;
    }
    this.#stageDrop.run(op.stage);
    const sid = this.#lookupId(op.stream);
    const head =
      sid === undefined ? { seq: 0, hash: GENESIS_HASH } : this.#currentHead(op.stream, sid);
    return { appended, repeated: op.count - appended, head };
  }

  /** Drops a stage. */
  dropStage(op: LogDropStageOp): number {
    return this.#stageDrop.run(op.stage).changes;
  }

  /** Prunes a stream through a seq, keeping the anchor (see `LogStore.prune`). */
  prune(op: LogPruneOp): number {
    const sid = this.#lookupId(op.stream);
    if (sid === undefined) return 0;
    const head = this.#currentHead(op.stream, sid);
    const through = Math.min(op.throughSeq, head.seq);
    const anchor = this.#anchor.get(sid) as [number, string] | undefined;
    if (through <= (anchor?.[0] ?? 0)) return 0;
    const hash = this.#hashAt.get(sid, through) as Uint8Array;
    this.#setAnchor.run(through, hash, sid);
    return this.#deleteThrough.run(sid, through).changes;
  }

  #currentHead(stream: string, sid: number): { seq: number; hash: string } {
    let head = this.#heads.get(stream);
    if (head === undefined) {
      const row = (this.#head.get(sid) ?? this.#anchor.get(sid)) as [number, string] | undefined;
      head = row === undefined ? { seq: 0, hash: GENESIS_HASH } : { seq: row[0], hash: row[1] };
      this.#heads.set(stream, head);
    }
    return head;
  }
}

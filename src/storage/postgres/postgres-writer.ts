/**
 * The PostgreSQL log writer: one connection per process and group commit. While one batch is
 * committing, every append that arrives waits and goes into the next batch: one transaction (one
 * WAL flush) and one multi-row INSERT for all of it. An append resolves only after its batch has
 * committed.
 *
 * Linear chains with writers in several processes: each batch chains on the head the writer
 * knows and moves the stream's head row with a compare-and-set inside the same statement (see
 * {@link casInsertText}). The head row's lock orders commits per stream, so seq N+1 never
 * commits before seq N and readers never see a hole. When another process moved the head first,
 * the writer locks the head rows (`SELECT … FOR UPDATE`), re-chains and commits.
 *
 * @module
 */
import { KernelError, isKernelError } from '../../errors.js';
import {
  GENESIS_HASH,
  chainRecords,
  fencedError,
  keyConflict,
  sameContent,
  type LogAppend,
  type LogKeyRef,
  type LogRecord,
} from '../log.js';
import {
  connectClient,
  isConnectionError,
  sqlState,
  storageError,
  type PgClient,
  type PgModule,
  type PgQueryConfig,
  type PostgresLocation,
} from './postgres-connection.js';
import { LOG_COLUMNS, rowToRecord } from './postgres-rows.js';

interface Pending {
  readonly stream: string;
  readonly entries: readonly LogAppend[];
  /** The append's fence (see `LogAppendOptions.unlessKey`). */
  readonly unlessKey: LogKeyRef | undefined;
  readonly resolve: (records: LogRecord[]) => void;
  readonly reject: (error: Error) => void;
  /** Nobody waits on its latency: it may wait for a foreground append to commit with. */
  readonly background: boolean;
}

/**
 * How long background appends wait, with no append anyone awaits queued, before they commit on
 * their own (see `LogAppendOptions.background`).
 */
const BACKGROUND_DELAY_MS = 2;

interface Head {
  seq: number;
  hash: string;
}

/** Most appends committed in one batch (bigger bursts go in consecutive batches). */
const MAX_BATCH_OPS = 4096;
/** Attempts of one batch before it fails (each failed attempt learned something new). */
const MAX_ATTEMPTS = 16;
/** Batches that lock the head rows up front after another process moved a head. */
const CONTENDED_BATCHES = 64;
/** SQLSTATE raised by `log_head_moved()` when a head moved (another writer committed first). */
const HEAD_MOVED = 'KL001';

/** What the writer tells its log after a commit. */
export type CommitListener = (stream: string, records: readonly LogRecord[]) => void;

/** The group-commit writer for the log. */
export class PostgresLogWriter {
  readonly #pg: PgModule;
  readonly #location: PostgresLocation;
  readonly #channel: string;
  readonly #onCommit: CommitListener;
  #client: PgClient | undefined;
  #connecting: Promise<PgClient> | undefined;
  /** Backend pids of this writer's connections (its own notifications are not wake-ups). */
  readonly ownPids = new Set<number>();
  readonly #ids = new Map<string, number>();
  readonly #heads = new Map<number, Head>();
  #queue: Pending[] = [];
  #running = false;
  #idle: (() => void)[] = [];
  #closed = false;
  /** Batches left to run with the head rows locked up front (another process writes too). */
  #contended = 0;
  #batches = 0;
  #appends = 0;
  /** Foreground appends queued: while there are none, background ones wait (see `submit`). */
  #foreground = 0;
  /** The background delay ran out, or a flush or close asked: commit what is queued. */
  #due = false;
  /** Wakes the pump waiting with only background appends queued. */
  #wake: (() => void) | undefined;

  constructor(pg: PgModule, location: PostgresLocation, channel: string, onCommit: CommitListener) {
    this.#pg = pg;
    this.#location = location;
    this.#channel = channel;
    this.#onCommit = onCommit;
  }

  /**
   * Queues an append; resolves with the records once committed. A `background` append waits
   * (at most {@link BACKGROUND_DELAY_MS}) for a foreground one to share its commit.
   */
  submit(
    stream: string,
    entries: readonly LogAppend[],
    unlessKey?: LogKeyRef,
    background = false,
  ): Promise<LogRecord[]> {
    if (this.#closed) return Promise.reject(new KernelError('CLOSED', 'The log is closed'));
    return new Promise<LogRecord[]>((resolve, reject) => {
      this.#queue.push({ stream, entries, unlessKey, resolve, reject, background });
      if (!background) {
        this.#foreground++;
        this.#wake?.();
      }
      if (!this.#running) {
        this.#running = true;
        // Let every append issued in this tick join the first batch.
        queueMicrotask(() => void this.#pump());
      }
    });
  }

  /**
   * `LogStore.appendAll`: one transaction on a connection of its own. It locks the stream's head
   * row first (group commits to that stream wait, then find the head moved and re-chain), then
   * appends batch after batch as the source yields them — keys checked against what is stored,
   * this transaction's own rows included — and moves the head and wakes listeners at the end.
   */
  async appendAll(
    stream: string,
    batches: AsyncIterable<readonly LogAppend[]>,
    check: (e: LogAppend) => void,
  ): Promise<{ appended: number; repeated: number; head: Head }> {
    if (this.#closed) throw new KernelError('CLOSED', 'The log is closed');
    const client = await connectClient(this.#pg, this.#location, 'import', () => undefined);
    let inTransaction = false;
    try {
      await client.query({
        text: 'INSERT INTO log_streams (name) VALUES ($1) ON CONFLICT (name) DO NOTHING',
        values: [stream],
      });
      await client.query({ text: 'BEGIN' });
      inTransaction = true;
      const { rows } = await client.query({
        text: "SELECT id, head_seq, encode(head_hash, 'hex') FROM log_streams WHERE name = $1 FOR UPDATE",
        values: [stream],
        rowMode: 'array',
      });
      const [id, seq, hash] = rows[0] as [number, number | string, string];
      let head: Head = { seq: Number(seq), hash };
      const start = head.seq;
      let total = 0;
      for await (const batch of batches) {
        for (const e of batch) check(e);
        if (batch.length === 0) continue;
        total += batch.length;
        const keys = batch.flatMap((e) => (e.key === undefined ? [] : [e.key]));
        const stored = new Map<string, LogRecord>();
        if (keys.length > 0) {
          const found = await client.query({
            text: `SELECT ${LOG_COLUMNS} FROM log_records r WHERE r.stream = $1 AND r.record_key = ANY($2::text[])`,
            values: [id, keys],
            rowMode: 'array',
          });
          for (const row of found.rows as unknown[][]) {
            const r = rowToRecord(stream, row);
            stored.set(r.key!, r);
          }
        }
        const fresh: LogAppend[] = [];
        const own = new Map<string, LogAppend>();
        for (const e of batch) {
          if (e.key !== undefined) {
            const existing = stored.get(e.key) ?? own.get(e.key);
            if (existing !== undefined) {
              if (!sameContent(existing, e)) throw keyConflict(stream, e.key);
              continue;
            }
            own.set(e.key, e);
          }
          fresh.push(e);
        }
        const records = chainRecords(stream, head, fresh);
        for (let from = 0; from < records.length; from += MAX_ROWS) {
          const chunk = records.slice(from, from + MAX_ROWS);
          const values: unknown[] = [];
          for (const r of chunk) values.push(...recordRow(id, r));
          await client.query({ text: insertText(chunk.length, 0), values });
        }
        const last = records[records.length - 1];
        if (last !== undefined) head = { seq: last.seq, hash: last.hash };
      }
      if (head.seq > start) {
        await client.query({
          text: "UPDATE log_streams SET head_seq = $2, head_hash = decode($3, 'hex') WHERE id = $1",
          values: [id, head.seq, head.hash],
        });
        await client.query({ text: 'SELECT pg_notify($1, $2)', values: [this.#channel, stream] });
      }
      inTransaction = false;
      await client.query({ text: 'COMMIT' });
      // The group-commit writer re-reads this stream's head before its next batch.
      this.#heads.delete(id);
      this.#onCommit(stream, []);
      const appended = head.seq - start;
      return { appended, repeated: total - appended, head };
    } catch (error) {
      if (inTransaction) await rollback(client);
      throw appendFailed(error);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Sends held background appends now, without waiting for them. */
  expedite(): void {
    if (this.#queue.length === 0) return;
    this.#due = true;
    this.#wake?.();
  }

  /** Resolves when every append submitted so far has committed or failed. */
  flush(): Promise<void> {
    if (!this.#running && this.#queue.length === 0) return Promise.resolve();
    // Background appends do not wait for company when someone waits for them.
    this.#due = true;
    this.#wake?.();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Counters: batches committed and appends in them (their ratio shows group commit at work). */
  stats(): { batches: number; appends: number } {
    return { batches: this.#batches, appends: this.#appends };
  }

  /** Commits what is queued, then closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #pump(): Promise<void> {
    while (this.#queue.length > 0) {
      if (this.#foreground === 0 && !this.#due) {
        await this.#backgroundWait();
        continue;
      }
      const batch =
        this.#queue.length <= MAX_BATCH_OPS ? this.#queue : this.#queue.slice(0, MAX_BATCH_OPS);
      this.#queue = this.#queue.length <= MAX_BATCH_OPS ? [] : this.#queue.slice(MAX_BATCH_OPS);
      for (const p of batch) if (!p.background) this.#foreground--;
      // What stays queued (a burst beyond one batch) goes next without waiting again.
      this.#due = this.#queue.length > 0;
      await this.#run(batch);
    }
    this.#running = false;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }

  /** Waits until a foreground append or a flush comes, or the background delay runs out. */
  #backgroundWait(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#due = true;
        done();
      }, BACKGROUND_DELAY_MS);
      const done = (): void => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
    });
  }

  async #run(batch: Pending[]): Promise<void> {
    let client: PgClient;
    try {
      client = await this.#connection();
    } catch (error) {
      const e = storageError('Append failed', error);
      for (const p of batch) p.reject(e);
      return;
    }
    try {
      await this.#commit(client, batch);
    } catch (error) {
      if (isConnectionError(error) && !isKernelError(error)) this.#drop(client);
      // The commit may or may not have happened: forget the heads and read them again.
      this.#heads.clear();
      const e = appendFailed(error);
      for (const p of batch) p.reject(e);
    }
  }

  /** The writer connection, (re)opened when needed. */
  #connection(): Promise<PgClient> {
    if (this.#client !== undefined) return Promise.resolve(this.#client);
    this.#connecting ??= (async () => {
      try {
        const opened: { client?: PgClient } = {};
        const client = await connectClient(this.#pg, this.#location, 'writer', () => {
          if (opened.client !== undefined) this.#drop(opened.client);
        });
        opened.client = client;
        const pid = (await client.query({ text: 'SELECT pg_backend_pid()', rowMode: 'array' }))
          .rows[0] as [number];
        this.ownPids.add(pid[0]);
        this.#client = client;
        return client;
      } finally {
        this.#connecting = undefined;
      }
    })();
    return this.#connecting;
  }

  #drop(client: PgClient): void {
    if (this.#client === client) this.#client = undefined;
    this.#heads.clear();
    client.end().catch(() => undefined);
  }

  /** Commits a batch, resolving or rejecting each of its appends. */
  async #commit(client: PgClient, batch: Pending[]): Promise<void> {
    await this.#ensureStreams(client, batch);
    /** Records already stored under keys the batch uses, once looked up. */
    const stored = new Map<string, Map<string, LogRecord>>();
    let locked = this.#contended > 0;
    if (locked) this.#contended--;
    const fenced = batch.some((p) => p.unlessKey !== undefined);
    for (let attempt = 0; ; attempt++) {
      if (attempt >= MAX_ATTEMPTS) {
        throw new KernelError(
          'STORAGE_ERROR',
          `Append failed: the log heads kept moving under ${MAX_ATTEMPTS} attempts; retry it`,
        );
      }
      let inTransaction = false;
      let plan: Plan;
      try {
        if (locked || fenced) {
          await client.query({ text: 'BEGIN' });
          inTransaction = true;
          if (locked) await this.#lockHeads(client, batch);
        }
        const present = fenced ? await this.#fenceKeys(client, batch) : undefined;
        plan = this.#plan(batch, stored, present);
        const statements = this.#statements(plan);
        if (statements.length > 1 && !inTransaction) {
          await client.query({ text: 'BEGIN' });
          inTransaction = true;
        }
        for (const statement of statements) await client.query(statement);
        if (inTransaction) {
          inTransaction = false;
          await client.query({ text: 'COMMIT' });
        }
      } catch (error) {
        if (inTransaction) await rollback(client);
        const state = sqlState(error);
        const constraint = (error as { constraint?: unknown }).constraint;
        if (
          state === HEAD_MOVED ||
          state === '40P01' || // deadlock: the locked path takes head rows in one order
          (state === '23505' && constraint === 'log_records_pkey')
        ) {
          // Another process committed first: chain on its head, holding the head rows this time
          // (and for the next batches, which would likely race it again).
          locked = true;
          this.#contended = CONTENDED_BATCHES;
          continue;
        }
        if (state === '23505' && constraint === 'log_records_key') {
          // A key is already stored: look the batch's keys up and answer those appends from them.
          await this.#lookupKeys(client, batch, stored);
          continue;
        }
        if (state !== undefined && !isConnectionError(error) && batch.length > 1) {
          // A statement error we cannot pin on one append: commit each on its own.
          for (const p of batch) {
            await this.#commit(client, [p]).catch((e: unknown) => p.reject(appendFailed(e)));
          }
          return;
        }
        throw error;
      }
      this.#batches++;
      this.#appends += batch.length;
      for (const st of plan.streams) this.#heads.set(st.id, st.next);
      for (let i = 0; i < batch.length; i++) {
        const outcome = plan.outcomes[i]!;
        if (outcome instanceof Error) batch[i]!.reject(outcome);
        else batch[i]!.resolve(outcome);
      }
      for (const st of plan.streams) this.#onCommit(st.name, st.records);
      return;
    }
  }

  /** Stream ids and heads for every stream in the batch (created when new). */
  async #ensureStreams(client: PgClient, batch: readonly Pending[]): Promise<void> {
    const missing = new Set<string>();
    for (const p of batch) {
      const id = this.#ids.get(p.stream);
      if (id === undefined || !this.#heads.has(id)) missing.add(p.stream);
    }
    if (missing.size === 0) return;
    const names = [...missing];
    await client.query({
      text: 'INSERT INTO log_streams (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING',
      values: [names],
    });
    const { rows } = await client.query({
      text: "SELECT id, name, head_seq, encode(head_hash, 'hex') FROM log_streams WHERE name = ANY($1::text[])",
      values: [names],
      rowMode: 'array',
    });
    for (const row of rows as [number, string, number, string][]) {
      this.#ids.set(row[1], row[0]);
      this.#heads.set(row[0], { seq: row[2], hash: row[3] });
    }
  }

  /** Locks the batch's head rows (in id order: no deadlock) and reads them. */
  async #lockHeads(client: PgClient, batch: readonly Pending[]): Promise<void> {
    await this.#readHeads(client, batch, ' ORDER BY id FOR UPDATE');
  }

  async #readHeads(client: PgClient, batch: readonly Pending[], suffix = ''): Promise<void> {
    const ids = [...new Set(batch.map((p) => this.#ids.get(p.stream)!))];
    const { rows } = await client.query({
      text: `SELECT id, head_seq, encode(head_hash, 'hex') FROM log_streams WHERE id = ANY($1::int[])${suffix}`,
      values: [ids],
      rowMode: 'array',
    });
    for (const row of rows as [number, number, string][])
      this.#heads.set(row[0], { seq: row[1], hash: row[2] });
  }

  /**
   * The batch's fence keys that exist, read in the batch transaction after locking the fence
   * streams' head rows (`FOR SHARE`): a claim committing elsewhere moves its stream's head, so it
   * either committed before the lock (and is seen here) or waits until this batch commits.
   */
  async #fenceKeys(client: PgClient, batch: readonly Pending[]): Promise<Set<string>> {
    const streams: string[] = [];
    const keys: string[] = [];
    for (const p of batch) {
      if (p.unlessKey === undefined) continue;
      streams.push(p.unlessKey.stream);
      keys.push(p.unlessKey.key);
    }
    await client.query({
      text: 'SELECT id FROM log_streams WHERE name = ANY($1::text[]) ORDER BY id FOR SHARE',
      values: [[...new Set(streams)]],
    });
    const { rows } = await client.query({
      text:
        'SELECT u.stream, u.key FROM unnest($1::text[], $2::text[]) AS u(stream, key) ' +
        'JOIN log_streams s ON s.name = u.stream ' +
        'JOIN log_records r ON r.stream = s.id AND r.record_key = u.key',
      values: [streams, keys],
      rowMode: 'array',
    });
    return new Set((rows as [string, string][]).map(([s, k]) => fenceId(s, k)));
  }

  async #lookupKeys(
    client: PgClient,
    batch: readonly Pending[],
    stored: Map<string, Map<string, LogRecord>>,
  ): Promise<void> {
    const streams: number[] = [];
    const keys: string[] = [];
    for (const p of batch) {
      for (const e of p.entries) {
        if (e.key === undefined) continue;
        streams.push(this.#ids.get(p.stream)!);
        keys.push(e.key);
      }
    }
    const { rows } = await client.query({
      text:
        `SELECT s.name, ${LOG_COLUMNS} FROM log_records r JOIN log_streams s ON s.id = r.stream ` +
        'JOIN unnest($1::int[], $2::text[]) AS u(stream, key) ON r.stream = u.stream AND r.record_key = u.key',
      values: [streams, keys],
      rowMode: 'array',
    });
    for (const row of rows as unknown[][]) {
      const stream = row[0] as string;
      const record = rowToRecord(stream, row, 1);
      let map = stored.get(stream);
      if (map === undefined) {
        map = new Map();
        stored.set(stream, map);
      }
      map.set(record.key!, record);
    }
  }

  /**
   * Decides each append's outcome against what is stored and what earlier appends of the batch
   * add, and chains the new records per stream from the known heads.
   */
  #plan(
    batch: readonly Pending[],
    stored: ReadonlyMap<string, ReadonlyMap<string, LogRecord>>,
    fences: ReadonlySet<string> | undefined,
  ): Plan {
    const streams = new Map<string, PlannedStream>();
    const outcomes: (LogRecord[] | KernelError)[] = new Array<LogRecord[] | KernelError>(
      batch.length,
    );
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      const fence = p.unlessKey;
      if (
        fence !== undefined &&
        (fences?.has(fenceId(fence.stream, fence.key)) === true ||
          streams.get(fence.stream)?.keys.has(fence.key) === true)
      ) {
        // The fence key is stored, or an earlier append of this batch adds it.
        outcomes[i] = fencedError(p.stream, fence);
        continue;
      }
      let s = streams.get(p.stream);
      if (s === undefined) {
        const id = this.#ids.get(p.stream)!;
        const head = this.#heads.get(id) ?? { seq: 0, hash: GENESIS_HASH };
        s = {
          id,
          name: p.stream,
          expect: head.seq,
          next: { ...head },
          records: [],
          keys: new Map(),
        };
        streams.set(p.stream, s);
      }
      outcomes[i] = planOne(p, s, stored.get(p.stream));
    }
    const written = [...streams.values()].filter((s) => s.records.length > 0);
    written.sort((a, b) => a.id - b.id);
    return { streams: written, outcomes };
  }

  /**
   * The statements that write a plan: the first moves every head (compare-and-set), announces
   * the streams and inserts up to {@link MAX_ROWS} records; the rest insert the other records.
   */
  #statements(plan: Plan): PgQueryConfig[] {
    if (plan.streams.length === 0) return [];
    const rows: unknown[][] = [];
    for (const st of plan.streams) {
      for (const r of st.records) {
        rows.push(recordRow(st.id, r));
      }
    }
    const out: PgQueryConfig[] = [];
    for (let from = 0; from < rows.length; from += MAX_ROWS) {
      const chunk = rows.slice(from, from + MAX_ROWS);
      const values: unknown[] = [];
      let text: string;
      let name: string | undefined;
      if (from === 0) {
        values.push(this.#channel);
        for (const st of plan.streams) values.push(st.id, st.expect, st.next.seq, st.next.hash);
        text = casInsertText(plan.streams.length, chunk.length);
        if (plan.streams.length <= 4 && chunk.length <= 64)
          name = `kerno_log_w${plan.streams.length}_${chunk.length}`;
      } else {
        text = insertText(chunk.length, 0);
      }
      for (const row of chunk) for (const v of row) values.push(v);
      out.push(name === undefined ? { text, values } : { name, text, values });
    }
    return out;
  }
}

/** Most records one statement inserts (12 parameters each; PostgreSQL allows 65535). */
const MAX_ROWS = 1000;
const texts = new Map<string, string>();

/** `rows` VALUES rows of a log record, parameters numbered from `offset + 1`. */
function recordRows(rows: number, offset: number): string {
  const out: string[] = new Array<string>(rows);
  let n = offset;
  const p = (): string => `$${++n}`;
  for (let i = 0; i < rows; i++) {
    out[i] =
      `(${p()}::int, ${p()}::bigint, ${p()}::bigint, ${p()}::text, ${p()}::text, ${p()}::text, ` +
      `${p()}::text, ${p()}::text, ${p()}::text, ${p()}::text, decode(${p()}::text, 'hex'), decode(${p()}::text, 'hex'))`;
  }
  return out.join(', ');
}

/** A record's column values in {@link INSERT_RECORDS} order. */
function recordRow(stream: number, r: LogRecord): unknown[] {
  return [
    stream,
    r.seq,
    r.timeMs,
    r.key ?? null,
    r.tenant ?? null,
    r.kind ?? null,
    r.subject ?? null,
    r.correlation ?? null,
    r.chain ?? null,
    r.body,
    r.prevHash,
    r.hash,
  ];
}

const INSERT_RECORDS =
  'INSERT INTO log_records (stream, seq, time_ms, record_key, tenant, kind, subject, correlation, chain, body, prev_hash, hash) ';

function insertText(rows: number, offset: number): string {
  const key = `i${rows}`;
  let text = texts.get(key);
  if (text === undefined) {
    text = INSERT_RECORDS + 'VALUES ' + recordRows(rows, offset);
    if (texts.size < 512) texts.set(key, text);
  }
  return text;
}

/**
 * One statement: a data-modifying CTE moves each stream's head where it still is where the
 * writer chained from (locking the head row until commit, so commits per stream are ordered),
 * and wakes listeners; the records are inserted only if every head moved — otherwise
 * `log_head_moved()` aborts the statement, and with it the head updates. Parameters: $1 the
 * channel, 4 per stream (id, expected seq, new seq, new hash), then 12 per record.
 */
function casInsertText(streams: number, rows: number): string {
  const key = `c${streams}_${rows}`;
  let text = texts.get(key);
  if (text === undefined) {
    const heads: string[] = [];
    for (let i = 0; i < streams; i++) {
      const b = 1 + i * 4;
      heads.push(`($${b + 1}::int, $${b + 2}::bigint, $${b + 3}::bigint, $${b + 4}::text)`);
    }
    text =
      "WITH h AS (UPDATE log_streams s SET head_seq = u.n, head_hash = decode(u.h, 'hex') " +
      `FROM (VALUES ${heads.join(', ')}) AS u(id, e, n, h) ` +
      'WHERE s.id = u.id AND s.head_seq = u.e RETURNING pg_notify($1, s.name)) ' +
      INSERT_RECORDS +
      `SELECT * FROM (VALUES ${recordRows(rows, 1 + streams * 4)}) AS r ` +
      `WHERE CASE WHEN (SELECT count(*) FROM h) = ${streams} THEN true ELSE log_head_moved() END`;
    if (texts.size < 512) texts.set(key, text);
  }
  return text;
}

interface PlannedStream {
  readonly id: number;
  readonly name: string;
  /** The head seq the batch chains on (the compare-and-set's expectation). */
  readonly expect: number;
  /** The head after the batch. */
  next: Head;
  readonly records: LogRecord[];
  /** Keys the batch adds to this stream. */
  readonly keys: Map<string, LogRecord>;
}

interface Plan {
  readonly streams: readonly PlannedStream[];
  readonly outcomes: readonly (LogRecord[] | KernelError)[];
}

/** One append's outcome; on success its new records join the stream's plan. */
function planOne(
  p: Pending,
  s: PlannedStream,
  stored: ReadonlyMap<string, LogRecord> | undefined,
): LogRecord[] | KernelError {
  const slots: (LogRecord | number)[] = new Array<LogRecord | number>(p.entries.length);
  const fresh: LogAppend[] = [];
  let own: Map<string, number> | undefined;
  for (let i = 0; i < p.entries.length; i++) {
    const e = p.entries[i]!;
    if (e.key !== undefined) {
      const existing = stored?.get(e.key) ?? s.keys.get(e.key);
      if (existing !== undefined) {
        if (!sameContent(existing, e)) return keyConflict(p.stream, e.key);
        slots[i] = existing;
        continue;
      }
      own ??= new Map();
      const earlier = own.get(e.key);
      if (earlier !== undefined) {
        if (!sameContent(fresh[earlier]!, e)) return keyConflict(p.stream, e.key);
        slots[i] = earlier;
        continue;
      }
      own.set(e.key, fresh.length);
    }
    slots[i] = fresh.length;
    fresh.push(e);
  }
  const records = chainRecords(p.stream, s.next, fresh);
  for (const r of records) {
    s.records.push(r);
    if (r.key !== undefined) s.keys.set(r.key, r);
  }
  if (records.length > 0) {
    const last = records[records.length - 1]!;
    s.next = { seq: last.seq, hash: last.hash };
  }
  return slots.map((slot) => (typeof slot === 'number' ? records[slot]! : slot));
}

function fenceId(stream: string, key: string): string {
  return stream + '\0' + key;
}

async function rollback(client: PgClient): Promise<void> {
  await client.query({ text: 'ROLLBACK' }).catch(() => undefined);
}

function appendFailed(error: unknown): KernelError {
  return isKernelError(error)
    ? error
    : storageError(
        'Append failed and may not be stored (appends with a key can be retried safely)',
        error,
      );
}

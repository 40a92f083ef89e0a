/**
 * Durable agent runs (issue 16): the same 3-step run (each step returns a small JSON object) on
 * kerno and on the two systems engineers pick for durable agents, side by side in one process:
 *
 * - kerno on PostgreSQL vs **DBOS Transact** on the same server (its system database in a
 *   database of its own, `kerno_bench_dbos`, one fresh schema per bench run);
 * - kerno on SQLite (`synchronous=FULL`) vs **LangGraph.js** with its SQLite checkpointer at its
 *   defaults (a 3-node graph, a checkpoint per node);
 * - kerno on SQLite alone: 64 concurrent runs (absolute), and one run alone against one raw
 *   fsync-ed better-sqlite3 commit.
 *
 * Each system runs sequentially (1 at a time), 16 and 64 concurrent closed-loop workers; rounds
 * interleave the systems (the machine is shared) and the table shows medians. Bytes per step
 * are the stored row bytes of each system's journal (no indexes) over the steps it ran.
 *
 * A peer that cannot be opened (PostgreSQL unreachable, a peer missing) gives a "skipped" row;
 * kerno failing fails the suite.
 *
 * Knobs: `KERNO_BENCH_RUNS_ROUNDS` (default 3), `KERNO_BENCH_RUNS_SCALE` (default 1, multiplies
 * the run counts), `KERNO_BENCH_PG_URL` (else `KERNO_TEST_PG_URL`, else the local server).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createKernel, type KernelCore } from '../../src/index.js';
import { openStorage, parseStoreUrl } from '../../src/storage/open-storage.js';
import { parsePostgresUrl } from '../../src/storage/postgres/postgres-connection.js';
import { migrateSqlite } from '../../src/storage/sqlite/sqlite-migrations.js';
import { median, type BenchRow, type BenchSuite } from '../harness.js';
import { importPeer } from '../peers.js';

const GROUP = 'runs';
const BASE_URL =
  process.env['KERNO_BENCH_PG_URL'] ??
  process.env['KERNO_TEST_PG_URL'] ??
  'postgres://postgres@127.0.0.1:5432/test';
/** DBOS keeps its system database apart from kerno's test database. */
const DBOS_DATABASE = 'kerno_bench_dbos';
const ROUNDS = Number(process.env['KERNO_BENCH_RUNS_ROUNDS'] ?? 3);
const SCALE = Number(process.env['KERNO_BENCH_RUNS_SCALE'] ?? 1);
const STEPS_PER_RUN = 3;

/** The three measured loads: closed-loop workers, each starting its next run when one ends. */
const LOADS = [
  { label: 'sequential', concurrency: 1, runs: 150 },
  { label: '16 concurrent', concurrency: 16, runs: 1_600 },
  { label: '64 concurrent', concurrency: 64, runs: 3_200 },
] as const;
type LoadLabel = (typeof LOADS)[number]['label'];

/** What every compared system offers the harness. */
interface RunSystem {
  readonly name: string;
  /** Runs one 3-step run to its end and returns its result (the last step's `{ i, ok }`). */
  run(i: number): Promise<unknown>;
  /** Stored row bytes of everything the runs so far journalled. */
  bytes(): Promise<number>;
  /** Runs started so far (warm-ups included), for bytes per step. */
  readonly started: () => number;
  /** How durable a finished step is, for the row notes. */
  durability(): Promise<string>;
  close(): Promise<void>;
}

interface LoadResult {
  readonly stepsPerSec: number;
  readonly p50Ms: number;
}

/** The step every system runs: a small JSON result. */
function stepResult(i: number): { i: number; ok: true } {
  return { i, ok: true };
}

function check(system: string, i: number, result: unknown): void {
  const r = result as { i?: unknown; ok?: unknown } | null | undefined;
  if (r?.i !== i || r.ok !== true)
    throw new Error(`${system}: run ${i} returned ${JSON.stringify(result)}, not { i: ${i}, ok }`);
}

/** `runs` runs by `concurrency` closed-loop workers: steps/s over the wall time, p50 run latency. */
async function load(
  system: RunSystem,
  concurrency: number,
  runs: number,
  first: number,
): Promise<LoadResult> {
  let next = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < runs) {
        const i = first + next++;
        const s = performance.now();
        check(system.name, i, await system.run(i));
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { stepsPerSec: (runs * STEPS_PER_RUN) / seconds, p50Ms: median(latencies) };
}

// ── stored bytes ─────────────────────────────────────────────────────────────────────────────

/**
 * Stored bytes of SQLite rows: each value's size (text and blobs their bytes, numbers 8), no
 * page or index overhead. The same measure for kerno's and LangGraph's SQLite files.
 */
function sqliteRowBytes(db: Database.Database, table: string, where = '1'): number {
  const columns = db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as {
    name: string;
  }[];
  if (columns.length === 0) return 0;
  const size = columns
    .map(({ name }) => {
      const c = `"${name}"`;
      return `(CASE typeof(${c}) WHEN 'null' THEN 0 WHEN 'integer' THEN 8 WHEN 'real' THEN 8 ELSE length(CAST(${c} AS BLOB)) END)`;
    })
    .join(' + ');
  const row = db
    .prepare(`SELECT coalesce(sum(${size}), 0) AS n FROM "${table}" WHERE ${where}`)
    .get() as {
    n: number;
  };
  return row.n;
}

/** Stored bytes of PostgreSQL rows (`pg_column_size` of each row: header and values, no indexes). */
async function pgRowBytes(
  client: pg.Client,
  schema: string,
  table: string,
  where = 'true',
): Promise<number> {
  const r = await client.query(
    `SELECT coalesce(sum(pg_column_size(t.*)), 0)::bigint AS n FROM "${schema}"."${table}" t WHERE ${where}`,
  );
  return Number((r.rows[0] as { n: string }).n);
}

/**
 * The bytes kerno stored for its runs: every log record in a stream whose name starts with
 * `run` (the run index `runs` and each run's journal `run:<id>`), those streams' own rows, and
 * any table of the store named `run…` (a run index table, should the feature keep one). Read
 * from the store's database directly — the log port lists no streams — with the same row
 * measure as the peer on that backend.
 */
export async function journalBytes(kernel: KernelCore): Promise<number> {
  await kernel.storage.log.flush();
  const location = parseStoreUrl(kernel.config.store);
  if (location.kind === 'sqlite') {
    const db = new Database(location.file, { readonly: true, fileMustExist: true });
    try {
      const streams = "name LIKE 'run%'";
      let bytes =
        sqliteRowBytes(db, 'log_streams', streams) +
        sqliteRowBytes(
          db,
          'log_records',
          `stream IN (SELECT id FROM log_streams WHERE ${streams})`,
        );
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'run%'")
        .all() as { name: string }[];
      for (const { name } of tables) bytes += sqliteRowBytes(db, name);
      return bytes;
    } finally {
      db.close();
    }
  }
  if (location.kind === 'postgres') {
    const { connectionString, schema } = parsePostgresUrl(location.url);
    const client = new pg.Client({ connectionString });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const streams = "name LIKE 'run%'";
      let bytes =
        (await pgRowBytes(client, schema, 'log_streams', streams)) +
        (await pgRowBytes(
          client,
          schema,
          'log_records',
          `stream IN (SELECT id FROM "${schema}".log_streams WHERE ${streams})`,
        ));
      const tables = await client.query(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'run%'",
        [schema],
      );
      for (const { name } of tables.rows as { name: string }[])
        bytes += await pgRowBytes(client, schema, name);
      return bytes;
    } finally {
      await client.end();
    }
  }
  throw new Error(`journalBytes: no byte measure for a ${location.kind} store`);
}

// ── kerno ────────────────────────────────────────────────────────────────────────────────────

async function kernoSystem(
  name: string,
  store: string,
  stateDir: string,
  sqliteWriter?: 'inline',
): Promise<RunSystem> {
  const kernel = await createKernel({
    store: sqliteWriter === undefined ? store : await openStorage(store, { sqliteWriter }),
    bus: 'memory',
    stateDir,
  });
  kernel.define({
    name: 'three',
    version: '1',
    run: async (ctx, input: { i: number }) => {
      await ctx.step('a', async () => stepResult(input.i));
      await ctx.step('b', async () => stepResult(input.i));
      return ctx.step('c', async () => stepResult(input.i));
    },
  });
  let started = 0;
  let lastId: string | undefined;
  return {
    name,
    async run(i) {
      started++;
      const run = await kernel.start('three', { i });
      lastId = run.id;
      return run.result();
    },
    bytes: () => journalBytes(kernel),
    started: () => started,
    async durability() {
      // The kernel answers a finished run from its journal: the last one reads back completed
      // with its three steps.
      if (lastId !== undefined) {
        const info = await kernel.runs.get(lastId);
        if (info.status !== 'completed' || info.steps.length !== STEPS_PER_RUN)
          throw new Error(`${name}: last run is ${info.status} with ${info.steps.length} steps`);
      }
      return store.startsWith('sqlite:')
        ? 'kerno: WAL, synchronous=FULL (fsync before a step returns), group commit'
        : 'kerno: synchronous_commit=on, group commit';
    },
    close: () => kernel.close(),
  };
}

/** Sleeping runs in the heap measure (item 3: "10,000 sleeping runs cost nothing but rows"). */
const SLEEPING_RUNS = 10_000;

/**
 * The heap a sleeping run holds: {@link SLEEPING_RUNS} runs that each finish a step and then
 * sleep for an hour, on a kernel of their own, after full collections (bytes per run).
 */
export async function sleepingRunHeap(store: string, stateDir: string): Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const kernel = await createKernel({ store, bus: 'memory', stateDir });
  try {
    kernel.define({
      name: 'nap',
      version: '1',
      run: async (ctx, input: { i: number }) => {
        await ctx.step('a', async () => stepResult(input.i));
        await ctx.sleep(3_600_000);
        return input.i;
      },
    });
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    // Wait for the runs' own news that they are asleep, not for time.
    const asleep = new Set<string>();
    let allAsleep!: () => void;
    const done = new Promise<void>((resolve) => (allAsleep = resolve));
    const off = kernel.runs.onStatus((run) => {
      if (run.status !== 'sleeping') return;
      asleep.add(run.id);
      if (asleep.size === SLEEPING_RUNS) allAsleep();
    });
    for (let i = 0; i < SLEEPING_RUNS; i += 64) {
      await Promise.all(
        Array.from({ length: Math.min(64, SLEEPING_RUNS - i) }, (_, j) =>
          kernel.start('nap', { i: i + j }),
        ),
      );
    }
    await done;
    off();
    asleep.clear();
    if (kernel.runs.list({ status: 'sleeping', limit: SLEEPING_RUNS }).length !== SLEEPING_RUNS)
      throw new Error(`sleeping runs: not all ${SLEEPING_RUNS} runs are asleep`);
    gc();
    gc();
    return (process.memoryUsage().heapUsed - before) / SLEEPING_RUNS;
  } finally {
    await kernel.close();
  }
}

// ── DBOS Transact ────────────────────────────────────────────────────────────────────────────

interface DbosWorkflowHandle {
  getResult(): Promise<unknown>;
}
interface DbosApi {
  setConfig(config: {
    name: string;
    systemDatabaseUrl: string;
    systemDatabaseSchemaName: string;
    logLevel: string;
  }): void;
  launch(): Promise<void>;
  shutdown(): Promise<void>;
  registerWorkflow<A extends unknown[], R>(
    fn: (...args: A) => Promise<R>,
    config: { name: string },
  ): (...args: A) => Promise<R>;
  runStep<R>(fn: () => Promise<R>, config: { name: string }): Promise<R>;
  startWorkflow<A extends unknown[], R>(
    fn: (...args: A) => Promise<R>,
  ): (...args: A) => Promise<DbosWorkflowHandle>;
}

function urlFor(database: string): string {
  const url = new URL(BASE_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function dbosSystem(tag: string): Promise<RunSystem> {
  await withClient(BASE_URL, async (c) => {
    const found = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [DBOS_DATABASE]);
    if (found.rowCount === 0) await c.query(`CREATE DATABASE ${DBOS_DATABASE}`);
  });
  const url = urlFor(DBOS_DATABASE);
  const schema = `dbos_bench_${tag}`;
  const { DBOS } = await importPeer<{ DBOS: DbosApi }>('@dbos-inc/dbos-sdk');
  DBOS.setConfig({
    name: 'kerno-bench',
    systemDatabaseUrl: url,
    systemDatabaseSchemaName: schema,
    logLevel: 'error',
  });
  const three = DBOS.registerWorkflow(
    async (i: number) => {
      await DBOS.runStep(async () => stepResult(i), { name: 'a' });
      await DBOS.runStep(async () => stepResult(i), { name: 'b' });
      return DBOS.runStep(async () => stepResult(i), { name: 'c' });
    },
    { name: 'three' },
  );
  await DBOS.launch();
  const startThree = DBOS.startWorkflow(three);
  let started = 0;
  return {
    name: 'DBOS Transact',
    async run(i) {
      started++;
      return (await startThree(i)).getResult();
    },
    bytes: () =>
      withClient(url, async (c) => {
        const tables = await c.query(
          "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
          [schema],
        );
        let bytes = 0;
        for (const { name } of tables.rows as { name: string }[])
          if (name !== 'dbos_migrations') bytes += await pgRowBytes(c, schema, name);
        return bytes;
      }),
    started: () => started,
    durability: () =>
      withClient(url, async (c) => {
        const sync = (await c.query('SHOW synchronous_commit')).rows[0] as {
          synchronous_commit: string;
        };
        return `DBOS: each step's output committed before the step returns, synchronous_commit=${sync.synchronous_commit} (the server's; DBOS sets none)`;
      }),
    async close() {
      await DBOS.shutdown();
      await withClient(url, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).catch(
        () => undefined,
      );
    },
  };
}

// ── LangGraph.js + SqliteSaver ───────────────────────────────────────────────────────────────

/** The graph's state: the input and each node's result (channels may not share a node's name). */
interface GraphState {
  i: number;
  outA?: unknown;
  outB?: unknown;
  outC?: unknown;
}
interface GraphBuilder {
  addNode(name: string, fn: (state: GraphState) => Promise<Partial<GraphState>>): GraphBuilder;
  addEdge(from: string, to: string): GraphBuilder;
  compile(options: { checkpointer: unknown }): {
    invoke(input: GraphState, config: { configurable: { thread_id: string } }): Promise<GraphState>;
  };
}
interface LangGraphModule {
  StateGraph: new (state: unknown) => GraphBuilder;
  Annotation: { (): unknown; Root(channels: Record<string, unknown>): unknown };
  START: string;
  END: string;
}
interface SqliteSaverInstance {
  readonly db: Database.Database;
}

async function langGraphSystem(file: string): Promise<RunSystem> {
  const { StateGraph, Annotation, START, END } =
    await importPeer<LangGraphModule>('@langchain/langgraph');
  const { SqliteSaver } = await importPeer<{
    SqliteSaver: { fromConnString(path: string): SqliteSaverInstance };
  }>('@langchain/langgraph-checkpoint-sqlite');
  const saver = SqliteSaver.fromConnString(file); // its defaults: WAL, SQLite's WAL synchronous
  const State = Annotation.Root({
    i: Annotation(),
    outA: Annotation(),
    outB: Annotation(),
    outC: Annotation(),
  });
  const graph = new StateGraph(State)
    .addNode('a', async (s) => ({ outA: stepResult(s.i) }))
    .addNode('b', async (s) => ({ outB: stepResult(s.i) }))
    .addNode('c', async (s) => ({ outC: stepResult(s.i) }))
    .addEdge(START, 'a')
    .addEdge('a', 'b')
    .addEdge('b', 'c')
    .addEdge('c', END)
    .compile({ checkpointer: saver });
  const threads = `t-${randomBytes(3).toString('hex')}`;
  let started = 0;
  return {
    name: 'LangGraph.js + SqliteSaver',
    async run(i) {
      started++;
      const state = await graph.invoke({ i }, { configurable: { thread_id: `${threads}-${i}` } });
      return state.outC;
    },
    bytes: async () => sqliteRowBytes(saver.db, 'checkpoints') + sqliteRowBytes(saver.db, 'writes'),
    started: () => started,
    async durability() {
      const names = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];
      const sync = saver.db.pragma('synchronous', { simple: true }) as number;
      const mode = saver.db.pragma('journal_mode', { simple: true }) as string;
      const checkpoints = (
        saver.db.prepare('SELECT count(*) AS n FROM checkpoints').get() as { n: number }
      ).n;
      const writes = (saver.db.prepare('SELECT count(*) AS n FROM writes').get() as { n: number })
        .n;
      return (
        `LangGraph: journal_mode=${mode}, synchronous=${names[sync] ?? sync} as read back ` +
        '(SqliteSaver sets only WAL; better-sqlite3 builds with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1: ' +
        `a commit survives a crash of the process, not a power loss); ` +
        `${(checkpoints / started).toFixed(1)} checkpoints and ${(writes / started).toFixed(1)} writes rows per run`
      );
    },
    async close() {
      saver.db.close();
    },
  };
}

// ── raw fsync-ed commit ──────────────────────────────────────────────────────────────────────

/** Mean latency of one raw better-sqlite3 commit (WAL, synchronous=FULL, 1 row/txn), in ms. */
function rawCommitMs(file: string, commits: number): number {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    migrateSqlite(db, file);
    const stream = `raw-${randomBytes(3).toString('hex')}`;
    const id = Number(
      db.prepare('INSERT INTO log_streams (name) VALUES (?)').run(stream).lastInsertRowid,
    );
    const seq0 = (
      db.prepare('SELECT coalesce(max(seq), 0) AS n FROM log_records WHERE stream = ?').get(id) as {
        n: number;
      }
    ).n;
    const insert = db.prepare(
      'INSERT INTO log_records (stream, seq, time_ms, record_key, kind, correlation, body, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)',
    );
    const hash = randomBytes(32);
    const t0 = performance.now();
    for (let n = 1; n <= commits; n++) {
      insert.run(
        id,
        seq0 + n,
        Date.now(),
        `${stream}:${n}`,
        'step.completed',
        stream,
        JSON.stringify({ type: 'step.completed', key: `a#${n}`, result: stepResult(n) }),
        hash,
        hash,
      );
    }
    return (performance.now() - t0) / commits;
  } finally {
    db.close();
  }
}

// ── the suite ────────────────────────────────────────────────────────────────────────────────

type Figures = Record<LoadLabel, { steps: number[]; p50: number[] }>;

function emptyFigures(): Figures {
  const f = {} as Figures;
  for (const l of LOADS) f[l.label] = { steps: [], p50: [] };
  return f;
}

/** A system slot: open (with its figures) or why it could not be measured. */
interface Slot {
  readonly name: string;
  system?: RunSystem;
  problem?: string;
  figures: Figures;
  bytesPerStep?: number;
  durability?: string;
}

/** A peer's slot: a peer that fails to open is reported skipped, not failed. */
async function openPeer(name: string, make: () => Promise<RunSystem>): Promise<Slot> {
  try {
    return { name, system: await make(), figures: emptyFigures() };
  } catch (error) {
    return { name, problem: (error as Error).message, figures: emptyFigures() };
  }
}

/** kerno's slot: skipped only when its store is unreachable; any other failure fails the suite. */
async function openKerno(
  name: string,
  unreachable: string | undefined,
  make: () => Promise<RunSystem>,
): Promise<Slot> {
  return unreachable === undefined
    ? { name, system: await make(), figures: emptyFigures() }
    : { name, problem: unreachable, figures: emptyFigures() };
}

function pgReachable(): Promise<string | undefined> {
  return withClient(BASE_URL, (c) => c.query('SELECT 1'))
    .then(() => undefined)
    .catch(
      (error: unknown) => `PostgreSQL unreachable at ${BASE_URL}: ${(error as Error).message}`,
    );
}

/** One kerno-vs-peer pair's rows: steps/s and p50 latency at each load, bytes per step. */
function pairRows(
  kerno: Slot,
  peer: Slot,
  goals: { stepsRatio16: number; latency16?: number },
): BenchRow[] {
  const rows: BenchRow[] = [];
  if (kerno.system === undefined) {
    rows.push({
      group: GROUP,
      name: `${kerno.name} vs ${peer.name}`,
      value: 0,
      unit: '',
      note: `skipped: ${kerno.problem}`,
    });
    return rows;
  }
  if (peer.system === undefined) {
    rows.push({
      group: GROUP,
      name: `${peer.name} peer`,
      value: 0,
      unit: '',
      note: `skipped: ${peer.problem}`,
    });
    return rows;
  }
  const fig = (slot: Slot, label: LoadLabel, what: 'steps' | 'p50'): number =>
    slot.figures[label][what].length === 0 ? 0 : median(slot.figures[label][what]);
  for (const l of LOADS) {
    const is16 = l.concurrency === 16;
    rows.push({
      group: GROUP,
      name: `${kerno.name}, 3-step runs, ${l.label}`,
      value: fig(kerno, l.label, 'steps'),
      unit: 'steps/s',
      peer: { name: peer.name, value: fig(peer, l.label, 'steps') },
      goal: is16 ? { kind: 'ratio-min', value: goals.stepsRatio16 } : undefined,
      note: is16
        ? [kerno.durability, peer.durability].filter((s) => s !== undefined).join('; ')
        : undefined,
    });
  }
  for (const l of LOADS) {
    rows.push({
      group: GROUP,
      name: `${kerno.name}, p50 run latency, ${l.label}`,
      value: fig(kerno, l.label, 'p50'),
      unit: 'ms',
      lowerIsBetter: true,
      peer: { name: peer.name, value: fig(peer, l.label, 'p50') },
      goal:
        l.concurrency === 16 && goals.latency16 !== undefined
          ? { kind: 'ratio-min', value: goals.latency16 }
          : undefined,
    });
  }
  rows.push({
    group: GROUP,
    name: `${kerno.name}, bytes stored per step`,
    value: kerno.bytesPerStep ?? 0,
    unit: 'B/step',
    lowerIsBetter: true,
    peer: { name: peer.name, value: peer.bytesPerStep ?? 0 },
    note:
      'stored row bytes of every record or row the runs left, over the steps run, no indexes ' +
      '(PostgreSQL: pg_column_size of each row, its header included; SQLite: each value’s bytes, numbers 8); ' +
      `kerno: log records of the run streams; ${peer.name === 'DBOS Transact' ? 'DBOS: every table of its system schema (workflow_status, operation_outputs, …)' : 'LangGraph: its checkpoints and writes tables'}`,
  });
  return rows;
}

/** Durable agent runs (issue 16). */
export const runsSuite: BenchSuite = {
  name: 'runs',
  async run(): Promise<BenchRow[]> {
    const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
    const dir = join(tmpdir(), `kerno-bench-runs-${tag}`);
    mkdirSync(dir, { recursive: true });
    const kernoSchema = `kerno_bench_runs_${tag}`;
    const pgProblem = await pgReachable();
    const pgUrl = new URL(BASE_URL);
    pgUrl.searchParams.set('schema', kernoSchema);

    const all: Slot[] = [];
    const rawMs: number[] = [];
    /** One run alone with the inline SQLite writer: steps/s per round. */
    const inlineSeq: number[] = [];
    let inline: RunSystem | undefined;
    let sleepingHeap = 0;
    const counters = new Map<Slot, number>();
    const nextFirst = (slot: Slot, n: number): number => {
      const first = counters.get(slot) ?? 0;
      counters.set(slot, first + n);
      return first;
    };
    /** Opens a slot and keeps it for measuring and closing. */
    const keep = async (slot: Promise<Slot>): Promise<Slot> => {
      const s = await slot;
      all.push(s);
      return s;
    };

    let slots: Record<'kernoSqlite' | 'langGraph' | 'kernoPg' | 'dbos', Slot>;
    try {
      slots = {
        kernoSqlite: await keep(
          openKerno('kerno SQLite', undefined, () =>
            kernoSystem(
              'kerno SQLite',
              `sqlite:${join(dir, 'kerno.db')}`,
              join(dir, 'home-sqlite'),
            ),
          ),
        ),
        langGraph: await keep(
          openPeer('LangGraph.js + SqliteSaver', () => langGraphSystem(join(dir, 'langgraph.db'))),
        ),
        kernoPg: await keep(
          openKerno('kerno PostgreSQL', pgProblem, () =>
            kernoSystem('kerno PostgreSQL', pgUrl.toString(), join(dir, 'home-pg')),
          ),
        ),
        dbos: await keep(
          openPeer('DBOS Transact', () =>
            pgProblem !== undefined ? Promise.reject(new Error(pgProblem)) : dbosSystem(tag),
          ),
        ),
      };
      inline = await kernoSystem(
        'kerno SQLite (inline writer)',
        `sqlite:${join(dir, 'kerno-inline.db')}`,
        join(dir, 'home-inline'),
        'inline',
      );
      let inlineFirst = 0;
      await load(inline, 1, 50, inlineFirst);
      inlineFirst += 50;
      // Warm up (JIT, pools, page cache), then interleave the systems load by load, round by
      // round, so each pair meets the same conditions on a shared machine.
      for (const slot of all)
        if (slot.system !== undefined) await load(slot.system, 16, 160, nextFirst(slot, 160));
      for (let round = 0; round < ROUNDS; round++) {
        for (const l of LOADS) {
          const runs = Math.max(l.concurrency, Math.round(l.runs * SCALE));
          for (const slot of all) {
            if (slot.system === undefined) continue;
            process.stderr.write(`\r  round ${round + 1}/${ROUNDS}: ${slot.name}, ${l.label} …   `);
            const r = await load(slot.system, l.concurrency, runs, nextFirst(slot, runs));
            slot.figures[l.label].steps.push(r.stepsPerSec);
            slot.figures[l.label].p50.push(r.p50Ms);
          }
          if (l.concurrency === 1) {
            rawMs.push(rawCommitMs(join(dir, 'raw.db'), 500));
            inlineSeq.push((await load(inline, 1, runs, inlineFirst)).stepsPerSec);
            inlineFirst += runs;
          }
        }
      }
      process.stderr.write('\n');
      sleepingHeap = await sleepingRunHeap(
        `sqlite:${join(dir, 'kerno-sleeping.db')}`,
        join(dir, 'home-sleeping'),
      );
      for (const slot of all) {
        if (slot.system === undefined) continue;
        slot.bytesPerStep = (await slot.system.bytes()) / (slot.system.started() * STEPS_PER_RUN);
        slot.durability = await slot.system.durability();
      }
    } finally {
      await inline?.close().catch(() => undefined);
      for (const slot of all) await slot.system?.close().catch(() => undefined);
      if (pgProblem === undefined)
        await withClient(BASE_URL, (c) =>
          c.query(`DROP SCHEMA IF EXISTS ${kernoSchema} CASCADE`),
        ).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }

    const rows: BenchRow[] = [
      ...pairRows(slots.kernoPg, slots.dbos, { stepsRatio16: 5, latency16: 1 }),
      ...pairRows(slots.kernoSqlite, slots.langGraph, { stepsRatio16: 8 }),
    ];
    const sqlite = slots.kernoSqlite;
    const seq = sqlite.figures['sequential'].steps;
    rows.push({
      group: GROUP,
      name: `kerno SQLite, 3-step runs, 64 concurrent, absolute`,
      value:
        sqlite.figures['64 concurrent'].steps.length === 0
          ? 0
          : median(sqlite.figures['64 concurrent'].steps),
      unit: 'steps/s',
      goal: { kind: 'min', value: 30_000 },
    });
    rows.push({
      group: GROUP,
      name: `kerno SQLite, one run alone: time per step`,
      value: seq.length === 0 ? 0 : 1000 / median(seq),
      unit: 'ms',
      lowerIsBetter: true,
      peer: { name: 'raw better-sqlite3 commit (WAL, FULL, 1 row/txn)', value: median(rawMs) },
      // ratio = raw / kerno for a latency: ≥ 0.5 means a step costs at most 2 raw commits.
      goal: { kind: 'ratio-min', value: 0.5 },
      note: 'a sequential run’s wall time over its 3 steps (run start and end records included) vs the mean of 500 raw fsync-ed commits into the same log_records schema; goal ≤ 2× a raw commit, i.e. ratio ≥ 0.5',
    });
    rows.push({
      group: GROUP,
      name: `kerno SQLite (inline writer), one run alone: time per step`,
      value: inlineSeq.length === 0 ? 0 : 1000 / median(inlineSeq),
      unit: 'ms',
      lowerIsBetter: true,
      peer: { name: 'raw better-sqlite3 commit (WAL, FULL, 1 row/txn)', value: median(rawMs) },
      goal: { kind: 'ratio-min', value: 0.5 },
      note: "openStorage(url, { sqliteWriter: 'inline' }): commits on the calling thread (embedded scripts); same measure as the row above",
    });
    rows.push({
      group: GROUP,
      name: `kerno SQLite, heap per sleeping run (${SLEEPING_RUNS} runs asleep)`,
      value: sleepingHeap,
      unit: 'bytes',
      lowerIsBetter: true,
      note: 'each run finished a step and sleeps for an hour; heap after full collections, on a kernel of its own: the run index entry it keeps in memory, no execution',
    });
    return rows;
  },
};

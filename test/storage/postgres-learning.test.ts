import { afterEach, describe, expect, it } from 'vitest';
import {
  createLearningStore,
  decodeRvls,
  defaultEwcState,
  encodeRvls,
  type LearningSnapshot,
} from '../../src/index.js';
import {
  openPostgresStorage,
  type PostgresStorage,
} from '../../src/storage/postgres/postgres-storage.js';
import {
  adminQuery,
  dropSchema,
  freshSchema,
  pgAvailable,
  pgDriver,
  pgSkipReason,
  pgUrl,
} from '../helpers/postgres.js';
import { SNAPSHOT, pattern } from '../helpers/learning.js';

const plain = (s: LearningSnapshot | undefined) =>
  s === undefined ? undefined : { patterns: s.patterns, trajectories: s.trajectories, ewc: s.ewc };

describe.skipIf(!pgAvailable)(`postgres learning persistence${pgSkipReason}`, () => {
  let schema: string;
  const stores: PostgresStorage[] = [];
  const storage = async (): Promise<PostgresStorage> => {
    const s = await openPostgresStorage(pgUrl(schema), { pg: pgDriver });
    stores.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await dropSchema(schema);
  });
  const rows = () =>
    adminQuery<{ kind: number; id: string; seq: string }>(
      `SELECT kind, id, seq FROM "${schema}".learning_records ORDER BY kind, seq`,
    );

  it('loads nothing before the first save, then what was saved; the last save wins', async () => {
    schema = freshSchema();
    const p = await (await storage()).openLearning();
    expect(p.location).toContain(`schema=${schema}`);
    expect(await p.load()).toBeUndefined();
    await p.save(SNAPSHOT);
    const loaded = await p.load();
    expect(loaded).toMatchObject({ skippedCount: 0, skipped: [] });
    expect(plain(loaded)).toEqual(SNAPSHOT);
    const smaller: LearningSnapshot = {
      patterns: [pattern('c')],
      trajectories: [],
      ewc: defaultEwcState(),
    };
    await p.save(smaller);
    expect(plain(await p.load())).toEqual(smaller);
    await p.save({ patterns: [], trajectories: [], ewc: defaultEwcState() });
    expect(plain(await p.load())).toEqual({
      patterns: [],
      trajectories: [],
      ewc: defaultEwcState(),
    });
    await p.close();
    await p.close();
    await expect(p.load()).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(p.save(SNAPSHOT)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('keeps the records across processes, in the store’s order, as RVLS lines', async () => {
    schema = freshSchema();
    const first = await (await storage()).openLearning();
    const snapshot: LearningSnapshot = {
      ...SNAPSHOT,
      patterns: ['p3', 'p1', 'p2'].map((id) => pattern(id)),
    };
    await first.save(snapshot);
    await first.close();
    const second = await (await storage()).openLearning({ readOnly: true });
    const loaded = await second.load();
    expect(plain(loaded)).toEqual(snapshot);
    // the stored lines are RVLS: put together they make a file oxios reads
    const lines = await adminQuery<{ line: string }>(
      `SELECT line FROM "${schema}".learning_records ORDER BY kind, seq`,
    );
    const file = 'RVLS\n' + lines.map((l) => l.line + '\n').join('') + 'REND';
    expect(file).toBe(encodeRvls(snapshot));
    expect(plain(decodeRvls(new TextEncoder().encode(file)))).toEqual(snapshot);
  });

  it('writes only what changed, and rewrites when the order changed', async () => {
    schema = freshSchema();
    const p = await (await storage()).openLearning();
    await p.save({ ...SNAPSHOT, patterns: ['a', 'b', 'c'].map((id) => pattern(id)) });
    const before = await rows();
    // change b, drop c, add d: a and the trajectory keep their rows
    await p.save({
      ...SNAPSHOT,
      patterns: [pattern('a'), pattern('b', 'better'), pattern('d')],
    });
    const after = await rows();
    const seqOf = (r: typeof before, id: string) => r.find((x) => x.id === id)?.seq;
    expect(seqOf(after, 'a')).toBe(seqOf(before, 'a'));
    expect(seqOf(after, 'b')).toBe(seqOf(before, 'b'));
    expect(seqOf(after, 't')).toBe(seqOf(before, 't'));
    expect(seqOf(after, 'c')).toBeUndefined();
    expect(after.filter((r) => r.kind === 0).map((r) => r.id)).toEqual(['a', 'b', 'd']);
    expect((await p.load())?.patterns.find((x) => x.id === 'b')?.strategy).toBe('better');
    // a new order is kept too
    const reordered = { ...SNAPSHOT, patterns: ['d', 'a', 'b'].map((id) => pattern(id)) };
    await p.save(reordered);
    expect(plain(await p.load())).toEqual(reordered);
  });

  it('lets one writer hold the learning store; a second gets STORE_LOCKED until it closes', async () => {
    schema = freshSchema();
    const a = await storage();
    const b = await storage();
    const writer = await a.openLearning();
    await expect(b.openLearning()).rejects.toMatchObject({
      code: 'STORE_LOCKED',
      message: expect.stringMatching(/read-only/) as unknown,
    });
    const reader = await b.openLearning({ readOnly: true });
    await writer.save(SNAPSHOT);
    expect(plain(await reader.load())).toEqual(SNAPSHOT);
    await expect(reader.save(SNAPSHOT)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await writer.close();
    const next = await b.openLearning();
    expect(plain(await next.load())).toEqual(SNAPSHOT);
  });

  it('releases the lock when the storage closes', async () => {
    schema = freshSchema();
    const a = await storage();
    await a.openLearning();
    await a.close();
    const b = await storage();
    await expect(b.openLearning()).resolves.toBeDefined();
  });

  it('backs a learning store: learn, persist, reopen elsewhere, recall', async () => {
    schema = freshSchema();
    const store = createLearningStore({ persistence: await (await storage()).openLearning() });
    await store.load();
    store.recordTrajectory({
      steps: [{ input: 'retry flaky tests', output: 'ok', duration_ms: 5, confidence: 0.9 }],
      outcome: 'success',
      domain: 'ci',
    });
    await store.persist();
    await store.close();
    const again = createLearningStore({
      persistence: await (await storage()).openLearning({ readOnly: true }),
    });
    await again.load();
    expect(again.stats()).toMatchObject({ trajectoryCount: 1, isDirty: false });
    await again.close();
  });
});

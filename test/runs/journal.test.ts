/**
 * The run journal's records as a user meets them: the keys that make a step, a sleep or a run's
 * end happen once, the error a step result that is not plain JSON gets (naming where), what
 * survives of a thrown value, and the error a damaged journal record gets. Found by mutation
 * testing (docs/testing.md).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KernelError } from '../../src/errors.js';
import { openStorage } from '../../src/storage/open-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import {
  FINAL_STATUSES,
  RUN_INDEX_STREAM,
  RUN_OWNERS_STREAM,
  RUN_STATUSES,
  endedKey,
  fromJsonText,
  journalKey,
  journalStream,
  journalView,
  ownerBeatsView,
  ownerKey,
  readJournal,
  recordError,
  runIndexView,
  supersededBudgetGates,
  toJsonText,
  type JournalEntry,
  type StoredJournalEntry,
} from '../../src/runs/journal.js';

/** The `NOT_SERIALIZABLE` message `value` gets (fails the test when it is accepted). */
function refusal(value: unknown, what = 'step "s" result'): string {
  try {
    toJsonText(value, what);
  } catch (error) {
    expect(error).toBeInstanceOf(KernelError);
    expect((error as KernelError).code).toBe('NOT_SERIALIZABLE');
    return (error as KernelError).message;
  }
  throw new Error(`expected NOT_SERIALIZABLE for ${String(value)}`);
}

describe('step results the journal records', () => {
  it('records plain JSON as JSON text and gives it back unchanged', () => {
    const value = { a: [1, 'two', true, null, { b: -0.5 }], c: '', d: {} };
    const text = toJsonText(value, 'r');
    expect(text).toBe(JSON.stringify(value));
    expect(fromJsonText(text)).toEqual(value);
    for (const plain of ['x', 0, false, null, [], 1.5])
      expect(fromJsonText(toJsonText(plain, 'r'))).toEqual(plain);
    // A step that returns nothing records nothing, and replays as undefined.
    expect(toJsonText(undefined, 'r')).toBeUndefined();
    expect(fromJsonText(undefined)).toBeUndefined();
  });

  it('accepts objects without a prototype and drops undefined properties, as JSON does', () => {
    const bare = Object.assign(Object.create(null) as object, { k: 1 });
    expect(toJsonText(bare, 'r')).toBe('{"k":1}');
    expect(toJsonText({ a: 1, gone: undefined }, 'r')).toBe('{"a":1}');
  });

  it('accepts the same object twice when it is not circular', () => {
    const shared = { n: 1 };
    expect(toJsonText({ x: shared, y: shared, z: [shared, shared] }, 'r')).toBe(
      '{"x":{"n":1},"y":{"n":1},"z":[{"n":1},{"n":1}]}',
    );
  });

  it('refuses what would not come back the same, naming the path and the kind of value', () => {
    const hint =
      ', which the journal cannot record as it is; return plain JSON (objects, arrays, strings, finite numbers, booleans, null) — e.g. a date as toISOString()';
    expect(refusal(Number.NaN)).toBe(`step "s" result is NaN${hint}`);
    expect(refusal({ n: Number.POSITIVE_INFINITY })).toBe(`step "s" result.n is Infinity${hint}`);
    expect(refusal({ at: new Date(0) })).toBe(`step "s" result.at is a Date${hint}`);
    expect(refusal([1, new Map()])).toBe(`step "s" result[1] is a Map${hint}`);
    expect(refusal({ list: [0, [1, 2n]] })).toBe(`step "s" result.list[1][1] is a bigint${hint}`);
    expect(refusal(() => 1)).toBe(`step "s" result is a function${hint}`);
    expect(refusal({ s: Symbol('x') })).toBe(`step "s" result.s is a symbol${hint}`);
    expect(refusal([1, undefined])).toBe(`step "s" result[1] is undefined${hint}`);
    class Point {
      x = 1;
    }
    expect(refusal({ p: new Point() })).toBe(`step "s" result.p is a Point${hint}`);
    const orphan = Object.create({ inherited: true }) as object;
    expect(refusal(orphan)).toBe(`step "s" result is a Object${hint}`);
    const nameless = Object.create(Object.create(null) as object) as object;
    expect(refusal({ v: nameless })).toBe(`step "s" result.v is a object${hint}`);
  });

  it('refuses a circular value instead of overflowing the stack', () => {
    const loop: { self?: unknown } = {};
    loop.self = loop;
    expect(refusal(loop)).toMatch(/^step "s" result\.self is a circular reference, /);
    const ring: unknown[] = [];
    ring.push([ring]);
    expect(refusal(ring)).toMatch(/^step "s" result\[0\]\[0\] is a circular reference, /);
  });
});

describe('recorded errors', () => {
  it('keeps the name, the message and a string code of an Error', () => {
    const typed = new KernelError('FENCED', 'taken over');
    expect(recordError(typed)).toEqual({
      name: 'KernelError',
      message: 'taken over',
      code: 'FENCED',
    });
    const plain = new TypeError('bad');
    expect(recordError(plain)).toEqual({ name: 'TypeError', message: 'bad' });
    expect(Object.keys(recordError(plain))).toEqual(['name', 'message']);
    const numeric = Object.assign(new Error('errno'), { code: 42 });
    expect(recordError(numeric)).toEqual({ name: 'Error', message: 'errno' });
  });

  it('keeps flaky: true, which self-healing retries on, and nothing for any other flaky value', () => {
    const flaky = Object.assign(new Error('timeout'), { flaky: true });
    expect(recordError(flaky)).toEqual({ name: 'Error', message: 'timeout', flaky: true });
    for (const other of [false, 'yes', 1]) {
      const error = Object.assign(new Error('timeout'), { flaky: other });
      expect(Object.keys(recordError(error))).toEqual(['name', 'message']);
    }
  });

  it('turns anything else thrown into an Error record with its text', () => {
    expect(recordError('plain string')).toEqual({ name: 'Error', message: 'plain string' });
    expect(recordError(7)).toEqual({ name: 'Error', message: '7' });
    expect(recordError(undefined)).toEqual({ name: 'Error', message: 'undefined' });
  });
});

describe('journal keys', () => {
  const entries: JournalEntry[] = [
    { type: 'step', key: 'k', call: 0, attempts: 1, atMs: 1 },
    { type: 'sleep', key: 'k', call: 1, wakeAtMs: 5 },
    { type: 'wait', key: 'k', call: 2, name: 'go', deadlineMs: null },
    { type: 'wait.done', key: 'k', call: 3, signal: null, atMs: 2 },
    { type: 'signal', key: 'k', name: 'go', atMs: 3 },
    { type: 'approval', key: 'k', call: 4, gate: 'g' },
    {
      type: 'approval.done',
      key: 'k',
      call: 5,
      approved: true,
      reason: null,
      decidedBy: 'me',
      atMs: 4,
    },
  ];

  it('gives each kind of call its own key, so one name can be a step, a sleep and a wait', () => {
    expect(entries.map(journalKey)).toEqual([
      'step:k',
      'sleep:k',
      'wait:k',
      'wait.done:k',
      'signal:k',
      'approval:k',
      'approval.done:k',
    ]);
  });

  it('stores a step failure under the step key: a step is recorded once, as a result or a failure', () => {
    expect(
      journalKey({
        type: 'step.failed',
        key: 'k',
        call: 0,
        error: { name: 'Error', message: 'x' },
        attempts: 2,
        atMs: 1,
      }),
    ).toBe('step:k');
  });

  it('gives a step run again by a resume its own record, so the failure stays on the journal', () => {
    const failed = {
      type: 'step.failed' as const,
      key: 'k',
      call: 0,
      error: { name: 'Error', message: 'x' },
      attempts: 1,
      atMs: 1,
    };
    const done = { type: 'step' as const, key: 'k', call: 0, attempts: 1, atMs: 2 };
    expect(journalKey({ ...failed, resume: 0 })).toBe('step:k');
    expect(journalKey({ ...failed, resume: 2 })).toBe('step:k@2');
    expect(journalKey({ ...done, resume: 0 })).toBe('step:k');
    expect(journalKey({ ...done, resume: 1 })).toBe('step:k@1');
    // A resume note is keyed by its number: each resume is recorded once.
    expect(journalKey({ type: 'resumed', key: 'resume', n: 3, by: 'ops', atMs: 3 })).toBe(
      'resumed:3',
    );
  });

  it('keys a run’s end per execution: the first end, then one per resume', () => {
    expect(endedKey('r1', 0)).toBe('r1:ended');
    expect(endedKey('r1', 1)).toBe('r1:ended:1');
    expect(endedKey('r1', 12)).toBe('r1:ended:12');
  });

  it('names the streams and owner generations', () => {
    expect(journalStream('r1')).toBe('run:r1');
    expect(RUN_INDEX_STREAM).toBe('runs');
    expect(RUN_OWNERS_STREAM).toBe('run-owners');
    expect(ownerKey('r1', 3)).toBe('r1:owner:3');
    expect([...FINAL_STATUSES].sort()).toEqual(['cancelled', 'completed', 'failed']);
    expect(RUN_STATUSES).toEqual([
      'pending',
      'queued',
      'running',
      'sleeping',
      'waiting',
      'completed',
      'failed',
      'cancelled',
    ]);
  });
});

describe('journal and run index on the log', () => {
  let storage: Storage;
  beforeEach(async () => {
    storage = await openStorage('memory:');
  });
  afterEach(async () => {
    await storage.close();
  });

  it('stores journal entries keyed, kinded and timed, and a second different result conflicts', async () => {
    const view = journalView(storage.log, 'r1', () => 777);
    await view.append([
      { type: 'step', key: 'a', call: 0, result: '1', attempts: 1, atMs: 10 },
      { type: 'sleep', key: 'nap', call: 1, wakeAtMs: 5_000 },
    ]);
    const [step, sleep] = await storage.log.read('run:r1', 0, 10);
    expect(step).toMatchObject({ key: 'step:a', kind: 'step', timeMs: 10 });
    expect(step?.correlation).toBeUndefined();
    // An entry without its own time is stamped with the clock when it is written.
    expect(sleep).toMatchObject({ key: 'sleep:nap', kind: 'sleep', timeMs: 777 });
    const replayed = await readJournal(view);
    expect(replayed.map(({ seq, type }) => [seq, type])).toEqual([
      [1, 'step'],
      [2, 'sleep'],
    ]);
    expect(replayed[0]).toMatchObject({ result: '1', hash: step?.hash });
    // The same step again is idempotent; with another result it is a conflict.
    await view.append([{ type: 'step', key: 'a', call: 0, result: '1', attempts: 1, atMs: 10 }]);
    await expect(
      view.append([{ type: 'step', key: 'a', call: 0, result: '2', attempts: 1, atMs: 10 }]),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await storage.log.head('run:r1')).seq).toBe(2);
  });

  it('keys a run’s start, end and owner generations, never its nudges', async () => {
    const index = runIndexView(storage.log);
    const started = {
      type: 'run.started' as const,
      id: 'r1',
      agent: 'ag',
      version: '1',
      input: '{}',
      owner: 'k1',
      atMs: 100,
    };
    await index.append([
      started,
      { type: 'run.owner', id: 'r1', agent: 'ag', owner: 'k2', gen: 1, atMs: 200 },
      { type: 'run.nudge', id: 'r1', agent: 'ag', atMs: 300 },
      { type: 'run.nudge', id: 'r1', agent: 'ag', atMs: 300 },
      {
        type: 'run.ended',
        id: 'r1',
        agent: 'ag',
        status: 'completed',
        journal: { seq: 0, hash: '' },
        atMs: 400,
      },
    ]);
    const records = await storage.log.read('runs', 0, 10);
    expect(records.map((r) => [r.key, r.kind, r.subject, r.timeMs])).toEqual([
      ['r1:started', 'run.started', 'ag', 100],
      ['r1:owner:1', 'run.owner', 'ag', 200],
      [undefined, 'run.nudge', 'ag', 300],
      [undefined, 'run.nudge', 'ag', 300],
      ['r1:ended', 'run.ended', 'ag', 400],
    ]);
    // A run ends once: a different end of the same run is a conflict.
    await expect(
      index.append([
        {
          type: 'run.ended',
          id: 'r1',
          agent: 'ag',
          status: 'cancelled',
          journal: { seq: 0, hash: '' },
          atMs: 400,
        },
      ]),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await index.get('r1:started')).toMatchObject({ ...started, seq: 1 });
  });

  it('keys resumes, recovery notes, reopenings, later ends and prunes once each', async () => {
    const index = runIndexView(storage.log);
    const ended = {
      type: 'run.ended' as const,
      id: 'r1',
      agent: 'ag',
      status: 'failed' as const,
      journal: { seq: 2, hash: 'h' },
      atMs: 10,
    };
    const resumed = {
      type: 'run.resumed' as const,
      id: 'r1',
      agent: 'ag',
      n: 1,
      by: 'ops',
      atMs: 20,
    };
    await index.append([
      ended,
      resumed,
      {
        type: 'run.recovery',
        id: 'r1',
        agent: 'ag',
        n: 2,
        action: 'retry',
        rationale: 'flaky',
        recoveryRunId: 'rec1',
        atMs: 30,
      },
      { type: 'run.reopened', id: 'r1', agent: 'ag', n: 3, owner: 'k2', journalSeq: 4, atMs: 40 },
      { ...ended, status: 'completed', n: 1, atMs: 50 },
      { type: 'run.pruned', id: 'r1', agent: 'ag', removed: 6, atMs: 60 },
    ]);
    const records = await storage.log.read('runs', 0, 10);
    expect(records.map((r) => [r.key, r.kind, r.subject, r.timeMs])).toEqual([
      ['r1:ended', 'run.ended', 'ag', 10],
      ['r1:resumed:1', 'run.resumed', 'ag', 20],
      ['r1:recovery:2', 'run.recovery', 'ag', 30],
      ['r1:reopened:3', 'run.reopened', 'ag', 40],
      ['r1:ended:1', 'run.ended', 'ag', 50],
      ['r1:pruned', 'run.pruned', 'ag', 60],
    ]);
    // The same resume number told again with another reason is a conflict: a resume happens once.
    await expect(index.append([{ ...resumed, reason: 'again' }])).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  it('records owner beats with the owner as subject', async () => {
    const beats = ownerBeatsView(storage.log);
    await beats.append([{ owner: 'k1', atMs: 50 }]);
    const [beat] = await storage.log.read('run-owners', 0, 10);
    expect(beat).toMatchObject({ subject: 'k1', timeMs: 50, body: '{"owner":"k1","atMs":50}' });
    expect(await beats.query({})).toEqual([{ owner: 'k1', atMs: 50, seq: 1, hash: beat?.hash }]);
  });

  it('names the damaged record and says to verify the log when a record is not JSON', async () => {
    await storage.log.append('run:r9', [{ timeMs: 1, body: '{"type":"step"' }]);
    await expect(readJournal(journalView(storage.log, 'r9', () => 0))).rejects.toThrow(
      new KernelError(
        'CORRUPT_VALUE',
        'Journal record run:r9#1 is not JSON; verify the log (kerno audit verify)',
      ),
    );
    await storage.log.append('runs', [{ timeMs: 1, body: 'x' }]);
    await expect(runIndexView(storage.log).query({})).rejects.toMatchObject({
      code: 'CORRUPT_VALUE',
      message: 'Run index record runs#1 is not JSON; verify the log (kerno audit verify)',
    });
    await storage.log.append('run-owners', [{ timeMs: 1, body: '' }]);
    await expect(ownerBeatsView(storage.log).query({})).rejects.toMatchObject({
      message: 'Run owner record run-owners#1 is not JSON; verify the log (kerno audit verify)',
    });
  });
});

describe('budget gates a resume checks again', () => {
  const stored = (seq: number, entry: JournalEntry): StoredJournalEntry => ({
    ...entry,
    seq,
    hash: `h${String(seq)}`,
  });
  const gate = (seq: number, key: string, approved: boolean): StoredJournalEntry =>
    stored(seq, {
      type: 'approval.done',
      key,
      call: seq,
      approved,
      reason: approved ? null : 'over budget',
      decidedBy: 'budget',
      atMs: seq,
    });
  const resumed = (seq: number, n: number): StoredJournalEntry =>
    stored(seq, { type: 'resumed', key: `resume-${String(n)}`, n, by: 'ops', atMs: seq });

  it('names the budget gates rejected before the latest resume, and only those', () => {
    const entries = [
      gate(1, 'budget#1', false),
      gate(2, 'budget#2', true), // approved: replays as it was
      gate(3, 'ask#3', false), // not a budget gate: a human's no stays
      resumed(4, 1),
      gate(5, 'budget#5', false),
      resumed(6, 2),
      gate(7, 'budget#7', false), // after the latest resume: it stands
      stored(8, { type: 'step', key: 'after', call: 8, attempts: 1, atMs: 8 }),
    ];
    expect([...supersededBudgetGates(entries)]).toEqual(['budget#1', 'budget#5']);
    // The latest resume counts even when the entries are not in seq order.
    expect([
      ...supersededBudgetGates([entries[6]!, resumed(6, 2), entries[4]!, resumed(4, 1)]),
    ]).toEqual(['budget#5']);
  });

  it('supersedes nothing without a resume', () => {
    expect(supersededBudgetGates([gate(1, 'budget#1', false)]).size).toBe(0);
    expect(supersededBudgetGates([]).size).toBe(0);
  });
});

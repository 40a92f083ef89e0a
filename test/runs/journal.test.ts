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
  fromJsonText,
  journalKey,
  journalStream,
  journalView,
  ownerBeatsView,
  ownerKey,
  readJournal,
  recordError,
  runIndexView,
  toJsonText,
  type JournalEntry,
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

  it('names the streams and owner generations', () => {
    expect(journalStream('r1')).toBe('run:r1');
    expect(RUN_INDEX_STREAM).toBe('runs');
    expect(RUN_OWNERS_STREAM).toBe('run-owners');
    expect(ownerKey('r1', 3)).toBe('r1:owner:3');
    expect([...FINAL_STATUSES].sort()).toEqual(['cancelled', 'completed', 'failed']);
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

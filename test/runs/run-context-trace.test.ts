/**
 * Tracing inside a durable run (memory store, manual clock, a sink that records spans): the run's
 * trace context on `ctx`, a span per executed step and per attempt (with the attempt's context
 * handed to the step's function), a caller's context as a step's parent, the contexts recorded
 * in the journal and the step events, and a replayed step as an event instead of a span.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KernelEvent } from '../../src/model/kernel-event.js';
import { journalView, readJournal } from '../../src/runs/journal.js';
import type { RunContext, StepScope } from '../../src/runs/run-context.js';
import { createRunEngine, type RunEngine, type RunInfo } from '../../src/runs/run-engine.js';
import type { Storage } from '../../src/storage/storage.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { openTelemetry } from '../../src/telemetry/telemetry.js';
import type { LiveSpan, SpanEnd, SpanStart, TraceSink } from '../../src/telemetry/tracer.js';
import { ManualClock } from '../../src/util/clock.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { silentLogger } from '../../src/util/logger.js';
import { formatTraceparent } from '../../src/util/trace-context.js';

const T0 = Date.UTC(2026, 11, 7);
const CALLER_TRACE = 'c'.repeat(32);
const CALLER = `00-${CALLER_TRACE}-${'d'.repeat(16)}-01`;

interface Recorded extends SpanStart {
  id: string;
  traceId: string;
  tracestate: string;
  events: { name: string; attributes?: unknown }[];
  end?: SpanEnd | undefined;
}

/** A sink that records its spans; a span's tracestate is its parent's, else `k=root`. */
function recordingSink(): TraceSink & { spans: Recorded[] } {
  const spans: Recorded[] = [];
  let n = 0;
  return {
    spans,
    fixedIds: true,
    startSpan(start): LiveSpan {
      const id = (++n).toString(16).padStart(16, '0');
      const traceId = start.parent?.traceId ?? 'a'.repeat(32);
      const tracestate = start.parent?.traceState ?? 'k=root';
      const rec: Recorded = { ...start, id, traceId, tracestate, events: [] };
      spans.push(rec);
      return {
        context: { traceId, spanId: id, traceFlags: 1, traceState: tracestate },
        setAttributes: () => undefined,
        addEvent: (name, attributes) => void rec.events.push({ name, attributes }),
        discard: () => undefined,
        end: (end) => void (rec.end = end),
      };
    },
    flush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

const header = (s: Recorded): string =>
  formatTraceparent({ traceId: s.traceId, spanId: s.id, traceFlags: 1 });

let storage: Storage;
let clock: ManualClock;
let runs: RunEngine;
let sink: ReturnType<typeof recordingSink>;
const events: KernelEvent[] = [];

beforeEach(async () => {
  storage = await openStorage('memory:');
  clock = new ManualClock(T0);
  sink = recordingSink();
  events.length = 0;
  const telemetry = await openTelemetry({ clock, logger: silentLogger, env: {}, sink });
  runs = await createRunEngine({
    log: storage.log,
    clock,
    ids: createUuidV7({ clock }),
    logger: silentLogger,
    holdMs: 1000,
    retention: false,
    tracer: telemetry!.runs,
    bus: { publish: (e) => void events.push(e) },
  });
});
afterEach(async () => {
  await runs.close();
  await storage.close();
});

function until(id: string, pred: (info: RunInfo) => boolean): Promise<RunInfo> {
  return new Promise((resolve, reject) => {
    let done = false;
    const check = (): void => {
      runs.get(id).then((info) => {
        if (done || !pred(info)) return;
        done = true;
        off();
        resolve(info);
      }, reject);
    };
    const off = runs.onStatus((run) => {
      if (run.id === id) check();
    });
    check();
  });
}

describe('tracing in ctx', () => {
  it('spans each executed step and attempt, records their contexts, and marks replays', async () => {
    const seen: { run: (string | undefined)[]; attempts: Partial<StepScope>[] } = {
      run: [],
      attempts: [],
    };
    runs.define({
      name: 'traced',
      run: async (ctx: RunContext) => {
        seen.run.push(ctx.traceparent, ctx.tracestate);
        const a = await ctx.step(
          'a',
          ({ attempt, traceparent, tracestate }) => {
            seen.attempts.push({ attempt, traceparent, tracestate });
            if (attempt < 2) throw new TypeError('first try');
            return attempt;
          },
          { retry: { attempts: 2, backoffMs: 0 } },
        );
        const child = await ctx.step('child', () => 'c', {
          traceparent: CALLER,
          tracestate: 'caller=1',
        });
        await ctx.sleep(60_000);
        return [a, child];
      },
    });
    const run = await runs.start('traced');
    for (let i = 0; i < 100 && clock.pendingTimers === 0; i++) {
      await new Promise<void>((r) => setImmediate(r));
    }
    clock.advance(0); // the backoff
    await until(run.id, (r) => r.status === 'sleeping');
    clock.advance(60_000);
    await expect(run.result()).resolves.toEqual([2, 'c']);

    const rootSpan = sink.spans.find((s) => s.name === 'run traced')!;
    const stepA = sink.spans.find((s) => s.name === 'step a')!;
    const attempts = sink.spans.filter((s) => s.name === 'step.attempt');
    const child = sink.spans.find((s) => s.name === 'step child')!;
    expect(sink.spans.filter((s) => s.name.startsWith('step')).map((s) => s.name)).toEqual([
      'step a',
      'step.attempt',
      'step.attempt',
      'step child',
      'step.attempt',
    ]);
    // ctx carries the run span's context (in both executions)
    expect(seen.run.slice(0, 2)).toEqual([header(rootSpan), 'k=root']);
    // each attempt's function gets its attempt span's context
    expect(seen.attempts).toEqual([
      { attempt: 1, traceparent: header(attempts[0]!), tracestate: 'k=root' },
      { attempt: 2, traceparent: header(attempts[1]!), tracestate: 'k=root' },
    ]);
    expect(attempts[0]!.parent?.spanId).toBe(stepA.id);
    expect(attempts[0]!.end?.error).toEqual({ type: 'TypeError' });
    expect(attempts[1]!.end?.error).toBeUndefined();
    expect(stepA.end).toMatchObject({ attributes: { 'kerno.step.attempts': 2 } });
    expect(stepA.end?.error).toBeUndefined();
    // a caller's context is the step's parent, with its tracestate
    expect(child.parent).toMatchObject({ traceId: CALLER_TRACE, traceState: 'caller=1' });
    expect(child.tracestate).toBe('caller=1');
    // the journal records the step spans' and the run span's contexts
    const journal = await readJournal(journalView(storage.log, run.id, () => clock.now()));
    expect(journal.map((e) => [e.key, e.traceparent, e.tracestate])).toEqual([
      ['a#1', header(stepA), 'k=root'],
      ['child#1', header(child), 'caller=1'],
      ['sleep#1', header(rootSpan), 'k=root'],
    ]);
    // so do the step events
    expect(events.map((e) => [e.type, 'traceparent' in e ? e.traceparent : undefined])).toEqual([
      ['ToolExecutionStarted', header(stepA)],
      ['ToolExecutionFinished', header(stepA)],
      ['ToolExecutionStarted', header(child)],
      ['ToolExecutionFinished', header(child)],
    ]);
    // the replay after the sleep adds no step span: an event on the run span per replayed step
    const replays = sink.spans
      .flatMap((s) => s.events)
      .filter((e) => e.name === 'kerno.step.replayed');
    expect(replays.map((e) => e.attributes)).toEqual([
      { 'kerno.step.key': 'a#1' },
      { 'kerno.step.key': 'child#1' },
    ]);
  });

  it('records the run span with a failed step, its error kind on the step span', async () => {
    runs.define({
      name: 'failing',
      run: async (ctx: RunContext) =>
        ctx
          .step('bad', () => {
            throw new RangeError('secret');
          })
          .catch(() => 'caught'),
    });
    const run = await runs.start('failing');
    await expect(run.result()).resolves.toBe('caught');
    const bad = sink.spans.find((s) => s.name === 'step bad')!;
    expect(bad.end).toEqual({
      error: { type: 'RangeError' },
      attributes: { 'kerno.step.attempts': 1 },
    });
    expect(JSON.stringify(sink.spans)).not.toContain('secret');
    const journal = await readJournal(journalView(storage.log, run.id, () => clock.now()));
    expect(journal).toMatchObject([
      { type: 'step.failed', key: 'bad#1', traceparent: header(bad), tracestate: 'k=root' },
    ]);
  });
});

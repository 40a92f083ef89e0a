/**
 * Run steps announce themselves as oxios 1.43 tool executions: `ToolExecutionStarted` before the
 * first attempt, `ToolExecutionFinished` once the step's record is on the journal (duration from
 * the injected clock, `isError` for a failed step, never the result). A replayed step announces
 * nothing, and a bus that refuses an event never fails the run.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRunEngine, type RunEngine } from '../../src/runs/run-engine.js';
import { isRunStepAnnouncement, type RunContext } from '../../src/runs/run-context.js';
import type { KernelEvent } from '../../src/model/kernel-event.js';
import { encodeSerdeEvent } from '../../src/formats/oxios-kernel-event.js';
import { ManualClock } from '../../src/util/clock.js';
import { createUuidV7 } from '../../src/util/ids.js';
import { createMemoryLogger } from '../../src/util/logger.js';
import { BACKENDS, type BackendHarness } from '../helpers/stores.js';

const T0 = Date.UTC(2026, 11, 3);

describe('run steps as tool execution events', () => {
  let harness: BackendHarness;
  let clock: ManualClock;
  const engines: RunEngine[] = [];
  const events: KernelEvent[] = [];

  beforeEach(async () => {
    harness = await BACKENDS['sqlite']!.open();
    clock = new ManualClock(T0);
    events.length = 0;
  });
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.close();
    await harness.close();
  });

  async function engine(bus: { publish(event: KernelEvent): void }, logger = createMemoryLogger()) {
    const e = await createRunEngine({
      log: harness.storage.log,
      clock,
      ids: createUuidV7({ clock }),
      logger,
      holdMs: 1000,
      bus,
    });
    engines.push(e);
    return e;
  }

  it('publishes started/finished around every executed step, with the error kind on failure', async () => {
    const runs = await engine({ publish: (e) => events.push(e) });
    runs.define({
      name: 'pay',
      run: async (ctx: RunContext) => {
        await ctx.step('charge', () => {
          clock.advance(250);
          return { secret: 'card-4242' };
        });
        try {
          await ctx.step('refund', () => {
            throw Object.assign(new Error('card-4242 declined'), { name: 'DeclinedError' });
          });
        } catch {
          // the run goes on
        }
        return 'ok';
      },
    });
    const run = await runs.start('pay', null);
    await expect(run.result()).resolves.toBe('ok');
    const tools = events.filter((e) => e.type.startsWith('ToolExecution'));
    expect(tools).toEqual([
      {
        type: 'ToolExecutionStarted',
        sessionId: run.id,
        toolName: 'charge',
        toolCallId: `${run.id}:charge#1`,
        toolArgs: {},
      },
      {
        type: 'ToolExecutionFinished',
        sessionId: run.id,
        toolCallId: `${run.id}:charge#1`,
        toolName: 'charge',
        durationMs: 250,
        isError: false,
        outputSummary: '',
      },
      {
        type: 'ToolExecutionStarted',
        sessionId: run.id,
        toolName: 'refund',
        toolCallId: `${run.id}:refund#1`,
        toolArgs: {},
      },
      {
        type: 'ToolExecutionFinished',
        sessionId: run.id,
        toolCallId: `${run.id}:refund#1`,
        toolName: 'refund',
        durationMs: 0,
        isError: true,
        outputSummary: 'DeclinedError',
      },
    ]);
    // Each is marked as a run step's announcement (the audit trail leaves them to the journal);
    // an equal copy, or any other event, is not.
    expect(tools.every(isRunStepAnnouncement)).toBe(true);
    expect(isRunStepAnnouncement({ ...tools[0]! })).toBe(false);
    expect(events.filter((e) => !tools.includes(e)).some(isRunStepAnnouncement)).toBe(false);
    // Neither the result nor the error message reaches the events.
    expect(JSON.stringify(events)).not.toContain('4242');
    // oxios 1.43 reads them as its own tool events.
    expect(encodeSerdeEvent(tools[1]!, { version: '1.43' })).toBe(
      `{"ToolExecutionFinished":{"session_id":"${run.id}","tool_call_id":"${run.id}:charge#1","tool_name":"charge","duration_ms":250,"is_error":false,"output_summary":""}}`,
    );
  });

  it('announces nothing for a step replayed from the journal after a restart', async () => {
    if (harness.reopen === undefined) throw new Error('sqlite reopens');
    let calls = 0;
    let reached!: () => void;
    const atSecond = new Promise<void>((r) => (reached = r));
    const define = (e: RunEngine, second: () => Promise<number> | number): void =>
      e.define({
        name: 'two',
        run: async (ctx: RunContext) => {
          await ctx.step('first', () => ++calls);
          await ctx.step('second', second);
          return calls;
        },
      });
    const first = await engine({ publish: (e) => events.push(e) });
    // The first kernel stops while its second step is still running (it never finishes).
    define(first, () => (reached(), new Promise<number>(() => {})));
    const run = await first.start('two', null);
    await atSecond;
    await first.close();
    engines.splice(engines.indexOf(first), 1);
    await harness.reopen();
    const seen: KernelEvent[] = [];
    const second = await engine({ publish: (e) => seen.push(e) });
    define(second, () => ++calls);
    await expect(waitResult(second, run.id)).resolves.toBe(2);
    // Only the step that had no record ran (and announced itself) again.
    expect(seen.map((e) => (e.type === 'ToolExecutionStarted' ? e.toolName : e.type))).toEqual([
      'second',
      'ToolExecutionFinished',
    ]);
  });

  it('runs on when the bus refuses an event, and logs it', async () => {
    const logger = createMemoryLogger();
    const runs = await engine(
      {
        publish: () => {
          throw new Error('bus full');
        },
      },
      logger,
    );
    runs.define({ name: 'one', run: (ctx: RunContext) => ctx.step('only', () => 7) });
    const run = await runs.start('one', null);
    await expect(run.result()).resolves.toBe(7);
    expect(logger.lines.some((e) => e.message.includes('could not be published'))).toBe(true);
  });
});

async function waitResult(engine: RunEngine, id: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      engine.get(id).then((info) => {
        if (info.status === 'completed') {
          off();
          resolve(info.result);
        }
      }, reject);
    };
    const off = engine.onStatus((r) => {
      if (r.id === id) check();
    });
    check();
  });
}

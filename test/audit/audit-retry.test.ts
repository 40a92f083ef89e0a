/**
 * The audit trail never drops an event: a failed write is retried (backoff on the injected
 * clock) until durable, the outage is counted and logged once at each end, and a full buffer
 * holds back callers that can wait. On PostgreSQL, the store's own connections (found by their
 * application_name, safe on a shared server) are killed mid-run.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  createAuditTrail,
  createMemoryBus,
  createMemoryLog,
  createMemoryLogger,
  type KernelEvent,
  type LogStore,
} from '../../src/index.js';
import { auditedEvent } from '../../src/audit/audit-trail.js';
import {
  openPostgresStorage,
  type PostgresStorage,
} from '../../src/storage/postgres/postgres-storage.js';
import { sampleEvent } from '../helpers/events.js';
import {
  dropSchema,
  freshSchema,
  killConnections,
  pgAvailable,
  pgDriver,
  pgSkipReason,
  pgUrl,
} from '../helpers/postgres.js';
import { withAppend } from '../helpers/log-double.js';

/** A memory log whose appends fail while `down` is set; `failed` counts the refused appends. */
function flakyLog(): LogStore & {
  down: boolean;
  failed: number;
  onFail: (() => void) | undefined;
} {
  const inner = createMemoryLog();
  const state = { down: false, failed: 0, onFail: undefined as (() => void) | undefined };
  const log = Object.assign(
    withAppend(inner, (stream, entries, options) => {
      if (log.down) {
        log.failed++;
        log.onFail?.();
        return Promise.reject(new Error('connection terminated'));
      }
      return inner.append(stream, entries, options);
    }),
    state,
  );
  return log;
}

/** Resolves on the next refused append. */
function nextFailure(log: ReturnType<typeof flakyLog>): Promise<void> {
  return new Promise((resolve) => {
    log.onFail = () => {
      log.onFail = undefined;
      // let the rejection reach the trail and its retry timer be set
      setImmediate(resolve);
    };
  });
}

describe('audit trail through a failing store', () => {
  it('retries a failed batch until durable, in order, and logs the outage once each way', async () => {
    const clock = new ManualClock();
    const log = flakyLog();
    const logger = createMemoryLogger();
    const trail = createAuditTrail({ log, clock, logger, retryDelayMs: 100 });
    const bus = createMemoryBus();
    trail.attach(bus);

    bus.publish(sampleEvent('AgentCreated', 1));
    await trail.flush();
    log.down = true;
    let failure = nextFailure(log);
    bus.publish(sampleEvent('ModuleStateChanged', 2));
    bus.publish(sampleEvent('AgentCreated', 3));
    await failure;
    expect(trail.stats()).toMatchObject({ inOutage: true, outages: 1, pending: 2 });
    for (let i = 0; i < 3; i++) {
      failure = nextFailure(log);
      clock.advance(clock.nextTimerAt()! - clock.now()); // the backoff, no more
      await failure;
    }
    expect(log.failed).toBe(4);
    bus.publish(sampleEvent('AgentCreated', 4));
    const flushed = trail.flush();
    log.down = false;
    clock.advance(clock.nextTimerAt()! - clock.now());
    await flushed;

    const entries = await trail.entries();
    expect(entries.map((e) => auditedEvent(e))).toEqual([
      sampleEvent('AgentCreated', 1),
      sampleEvent('ModuleStateChanged', 2),
      sampleEvent('AgentCreated', 3),
      sampleEvent('AgentCreated', 4),
    ]);
    expect((await trail.verify()).ok).toBe(true);
    expect(trail.stats()).toMatchObject({
      pending: 0,
      failedWrites: 0,
      retries: 4,
      outages: 1,
      inOutage: false,
    });
    const outageLines = logger.lines.filter((l) => /audit trail/.test(l.message));
    expect(outageLines.map((l) => l.level)).toEqual(['error', 'warn']);
    expect(outageLines[1]!.fields).toMatchObject({ failedAttempts: 4 });
  });

  it('doubles the backoff up to the cap', async () => {
    const clock = new ManualClock();
    const log = flakyLog();
    const trail = createAuditTrail({ log, clock, retryDelayMs: 100, maxRetryDelayMs: 300 });
    log.down = true;
    let failure = nextFailure(log);
    const appended = trail.append('system', { type: 'Other', data: { detail: 'x' } }, 'r');
    await failure;
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      delays.push(clock.nextTimerAt()! - clock.now());
      failure = nextFailure(log);
      clock.advance(delays[i]!);
      await failure;
    }
    expect(delays).toEqual([100, 200, 300, 300]);
    log.down = false;
    clock.advance(300);
    expect((await appended).seq).toBe(1);
  });

  it('holds back callers that can wait while the buffer is full, and lets them go when it drains', async () => {
    const clock = new ManualClock();
    const log = flakyLog();
    const trail = createAuditTrail({ log, clock, maxBuffered: 2, retryDelayMs: 10 });
    const bus = createMemoryBus();
    trail.attach(bus);
    log.down = true;
    const failure = nextFailure(log);
    bus.publish(sampleEvent('AgentCreated', 1));
    bus.publish(sampleEvent('AgentCreated', 2));
    bus.publish(sampleEvent('AgentCreated', 3)); // kept, never dropped, but counted
    await failure;
    expect(trail.stats()).toMatchObject({ pending: 3, overBound: 1 });
    let let_go = false;
    const waiting = trail.whenAccepting().then(() => (let_go = true));
    await new Promise((r) => setImmediate(r));
    expect(let_go).toBe(false);
    log.down = false;
    clock.advance(10);
    await waiting;
    await trail.flush();
    expect((await trail.entries()).length).toBe(3);
  });

  it('close() during an outage gives up what is held, counted and logged', async () => {
    const clock = new ManualClock();
    const log = flakyLog();
    const logger = createMemoryLogger();
    const trail = createAuditTrail({ log, clock, logger });
    log.down = true;
    const failure = nextFailure(log);
    const appended = trail.append('system', { type: 'Other', data: { detail: 'x' } }, 'r');
    await failure;
    trail.close();
    await expect(appended).rejects.toMatchObject({ code: 'CLOSED' });
    expect(trail.stats().failedWrites).toBe(1);
  });
});

describe.skipIf(!pgAvailable)(`audit trail on PostgreSQL, connections cut${pgSkipReason}`, () => {
  let schema: string;
  let store: PostgresStorage | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await dropSchema(schema);
  });

  it('has every published event in the trail after its connections are killed mid-run', async () => {
    schema = freshSchema();
    const name = `kerno-test-${randomBytes(4).toString('hex')}`;
    store = await openPostgresStorage(pgUrl(schema, { application_name: name }), {
      pg: pgDriver,
    });
    const trail = createAuditTrail({ log: store.log, retryDelayMs: 20, maxRetryDelayMs: 200 });
    const bus = createMemoryBus();
    trail.attach(bus);
    const published: KernelEvent[] = [];
    let kills = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 200; i++) {
        const event = sampleEvent(
          i % 2 === 0 ? 'AgentCreated' : 'ModuleStateChanged',
          round * 1000 + i,
        );
        published.push(event);
        bus.publish(event);
        if (i === 100) kills += await killConnections(name); // while batches are in flight
        if (i % 20 === 0) await new Promise((r) => setImmediate(r));
      }
    }
    await trail.flush();
    expect(kills).toBeGreaterThan(0);
    const entries = await trail.entries();
    expect(entries.length).toBe(published.length);
    expect(entries.map((e) => auditedEvent(e))).toEqual(published);
    expect((await trail.verify()).ok).toBe(true);
    expect(trail.stats()).toMatchObject({ pending: 0, failedWrites: 0 });
    expect(trail.stats().retries).toBeGreaterThan(0); // the cut did hit a write
  }, 60_000);
});

/**
 * Lost connections: PostgreSQL restarts and killed backends are simulated by terminating the
 * storage's own connections (found by their application_name), which is safe on a shared server.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isKernelError } from '../../src/index.js';
import {
  ChainVerifier,
  GENESIS_HASH,
  type LogAppend,
  type LogStore,
} from '../../src/storage/log.js';
import { followLog } from '../../src/storage/follow.js';
import {
  openPostgresStorage,
  type PostgresStorage,
} from '../../src/storage/postgres/postgres-storage.js';
import {
  PG_TEST_URL,
  adminQuery,
  dropSchema,
  freshSchema,
  killConnections,
  pgAvailable,
  pgDriver,
  pgSkipReason,
  pgUrl,
} from '../helpers/postgres.js';

const T0 = Date.UTC(2026, 4, 14, 10);
const entry = (key: string): LogAppend => ({ timeMs: T0, body: JSON.stringify({ key }), key });

async function verify(log: LogStore, stream: string): Promise<{ ok: boolean; verified: number }> {
  const v = new ChainVerifier(stream, { seq: 0, hash: GENESIS_HASH });
  for (let after = 0; ;) {
    const batch = await log.read(stream, after, 1000);
    if (batch.length === 0) break;
    v.feed(batch);
    after = batch[batch.length - 1]!.seq;
  }
  return v.finish();
}

describe.skipIf(!pgAvailable)(`postgres storage after lost connections${pgSkipReason}`, () => {
  let schema: string;
  const stores: PostgresStorage[] = [];
  const app = () => `kerno-test-${randomBytes(4).toString('hex')}`;
  const storage = async (applicationName: string): Promise<PostgresStorage> => {
    const s = await openPostgresStorage(pgUrl(schema, { application_name: applicationName }), {
      pg: pgDriver,
    });
    stores.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await dropSchema(schema);
  });

  it('loses nothing acknowledged when its connections are killed mid-run, and recovers by itself', async () => {
    schema = freshSchema();
    const name = app();
    const s = await storage(name);
    const acked: string[] = [];
    const failures: unknown[] = [];
    let kills = 0;
    let killing: Promise<unknown> = Promise.resolve();
    const producer = async (p: number): Promise<void> => {
      for (let i = 0; acked.length < 600; i++) {
        const key = `p${p}-${i}`;
        try {
          await s.log.append('s', [entry(key)]);
          acked.push(key);
        } catch (error) {
          failures.push(error);
        }
        if ((acked.length >= 150 && kills === 0) || (acked.length >= 350 && kills === 1)) {
          kills++;
          killing = killConnections(name);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, p) => producer(p)));
    await killing;
    expect(kills).toBe(2);
    for (const f of failures) {
      expect(isKernelError(f, 'STORAGE_ERROR'), String(f)).toBe(true);
      expect((f as Error).message).toMatch(/retr/);
    }
    // reads on the same storage work again, and a fresh one sees every acknowledged append
    expect((await s.log.head('s')).seq).toBeGreaterThanOrEqual(acked.length);
    const fresh = await storage(app());
    const missing: string[] = [];
    for (const key of acked)
      if ((await fresh.log.getByKey('s', key)) === undefined) missing.push(key);
    expect(missing).toEqual([]);
    const head = await fresh.log.head('s');
    expect(await verify(fresh.log, 's')).toMatchObject({ ok: true, verified: head.seq });
  });

  it('fails a write in flight when its connection dies, stores none of it, then writes again', async () => {
    schema = freshSchema();
    const name = app();
    const s = await storage(name);
    const [first] = await s.log.append('s', [entry('first')]);
    // Hold the stream's head row so the next append waits inside the server.
    const blocker = new pgDriver.Client({ connectionString: PG_TEST_URL });
    await blocker.connect();
    await blocker.query({ text: 'BEGIN' });
    await blocker.query({
      text: `SELECT 1 FROM "${schema}".log_streams WHERE name = 's' FOR UPDATE`,
    });
    const inFlight = s.log.append('s', [entry('in-flight')]);
    const settled = inFlight.then(
      () => 'stored',
      (e: unknown) => e,
    );
    // wait until the writer is blocked on the lock, then kill it
    for (let i = 0; i < 1000; i++) {
      const waiting = await adminQuery(
        "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        [`${name}/writer`],
      );
      if (waiting.length > 0) break;
    }
    expect(await killConnections(`${name}/writer`)).toBe(1);
    const outcome = await settled;
    expect(isKernelError(outcome, 'STORAGE_ERROR')).toBe(true);
    await blocker.query({ text: 'ROLLBACK' });
    await blocker.end();
    expect(await s.log.getByKey('s', 'in-flight')).toBeUndefined();
    const [next] = await s.log.append('s', [entry('next')]);
    expect(next).toMatchObject({ seq: 2, prevHash: first!.hash });
    // the failed append can be retried safely: same key, same content
    const [retried] = await s.log.append('s', [entry('in-flight')]);
    expect(retried!.seq).toBe(3);
  });

  it('re-establishes its LISTEN connection, so live tails keep working without polling', async () => {
    schema = freshSchema();
    const name = app();
    const follower = await storage(name);
    const writer = await storage(app());
    const wakes: number[] = [];
    let wake: (() => void) | undefined;
    const woken = () => new Promise<void>((resolve) => (wake = resolve));
    let next = woken();
    follower.log.onAppend('s', (records) => {
      wakes.push(records.length);
      wake?.();
    });
    await next; // LISTEN is up
    next = woken();
    expect(await killConnections(`${name}/listen`)).toBe(1);
    await next; // reconnected: every stream gets a wake-up (notifications may have been lost)
    next = woken();
    await writer.log.append('s', [entry('after-kill')]);
    await next; // a notification on the new connection
    expect(wakes.every((n) => n === 0)).toBe(true);

    // a follower with polling effectively off still sees every record
    const ac = new AbortController();
    const seen: number[] = [];
    const done = (async () => {
      for await (const r of followLog(follower.log, 's', {
        signal: ac.signal,
        pollMs: 3_600_000,
      })) {
        seen.push(r.seq);
        if (r.seq === 3) ac.abort();
      }
    })();
    await writer.log.append('s', [entry('two')]);
    await writer.log.append('s', [entry('three')]);
    await done;
    expect(seen).toEqual([1, 2, 3]);
  });
});

/**
 * Several processes append to one PostgreSQL log stream at once while this process follows it
 * live. The chain must stay linear (no fork, no duplicate seq) and the follower must never see
 * a hole: a record committed out of order (seq N+1 visible before seq N) would show up as one.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChainVerifier, GENESIS_HASH } from '../../src/storage/log.js';
import { openStorage } from '../../src/storage/open-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { dropSchema, freshSchema, pgAvailable, pgSkipReason, pgUrl } from '../helpers/postgres.js';

const CHILD = join(import.meta.dirname, 'fixtures/postgres-writer-child.ts');
const WRITERS = 4;
const PRODUCERS = 6;
const PER_PRODUCER = 60;

interface Writer {
  readonly child: ChildProcessWithoutNullStreams;
  readonly acked: string[];
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
}

function startWriter(url: string, name: string): Writer {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CHILD, url, 'shared', name, String(PRODUCERS), String(PER_PRODUCER)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const acked: string[] = [];
  let pending = '';
  let stderr = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'ready') onReady();
      else acked.push(line);
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve, reject) => {
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`writer ${name} exited with ${code}: ${stderr}`)),
    );
  });
  return { child, acked, ready, exited };
}

describe.skipIf(!pgAvailable)(
  `postgres log with writers in several processes${pgSkipReason}`,
  () => {
    let schema: string;
    let follower: Storage | undefined;
    afterEach(async () => {
      await follower?.close();
      follower = undefined;
      await dropSchema(schema);
    });

    it('keeps one linear, verifying chain and a follower never sees a hole', async () => {
      schema = freshSchema();
      const url = pgUrl(schema);
      follower = await openStorage(url); // creates the schema before the writers race
      const log = follower.log;
      const perWriter = PRODUCERS * PER_PRODUCER * 2; // 1–3 records per append, 2 on average
      const total = WRITERS * perWriter;

      // The follower: reads whatever is committed on every wake-up (or poll) and checks that
      // each read continues exactly where the previous one ended.
      const verifier = new ChainVerifier('shared', { seq: 0, hash: GENESIS_HASH });
      const holes: string[] = [];
      let last = 0;
      let wake: (() => void) | undefined;
      const off = log.onAppend('shared', () => wake?.());
      let writersDone = false;
      const following = (async () => {
        for (;;) {
          const batch = await log.read('shared', last, 500);
          for (const r of batch) {
            if (r.seq !== last + 1) holes.push(`after ${last} came ${r.seq}`);
            last = r.seq;
          }
          verifier.feed(batch);
          if (batch.length > 0) continue;
          if (writersDone && last >= total) return;
          if (writersDone) {
            // everything is committed: one more read must find the rest
            const rest = await log.read('shared', last, 1);
            if (rest.length === 0) return;
            continue;
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 200); // safety net: wake-ups do the work
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      })();

      const writers = Array.from({ length: WRITERS }, (_, w) => startWriter(url, `w${w}`));
      await Promise.all(writers.map((w) => w.ready));
      for (const w of writers) w.child.stdin.write('go\n');
      await Promise.all(writers.map((w) => w.exited));
      writersDone = true;
      wake?.();
      await following;
      off();

      const acked = writers.flatMap((w) => w.acked);
      expect(acked).toHaveLength(total);
      expect(holes).toEqual([]);
      expect(last).toBe(total);
      expect(verifier.finish()).toMatchObject({ ok: true, verified: total });
      const head = await log.head('shared');
      expect(head.seq).toBe(total);
      // every acknowledged key is stored exactly once
      const keys = new Set<string>();
      for (let after = 0; ;) {
        const batch = await log.read('shared', after, 1000);
        if (batch.length === 0) break;
        for (const r of batch) keys.add(r.key!);
        after = batch[batch.length - 1]!.seq;
      }
      expect(keys.size).toBe(total);
      for (const key of acked) expect(keys.has(key), key).toBe(true);
    }, 120_000);
  },
);

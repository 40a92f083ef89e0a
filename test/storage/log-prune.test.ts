/**
 * Retention on every backend: `LogStore.prune` removes a stream's oldest records and keeps an
 * anchor — the survivors verify from it, the head and the next append's chain do not move,
 * pruning is durable across a reopen, and records cannot leave the log any other way.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogView } from '../../src/storage/log-view.js';
import type { LogStore } from '../../src/storage/log.js';
import { BACKENDS, type BackendHarness } from '../helpers/stores.js';

const codec = {
  encode: (n: number) => ({ timeMs: 1_000 + n, body: JSON.stringify(n), key: `k${n}` }),
  decode: (r: { body: string }) => JSON.parse(r.body) as number,
};

async function fill(log: LogStore, stream: string, n: number): Promise<void> {
  await log.append(
    stream,
    Array.from({ length: n }, (_, i) => codec.encode(i + 1)),
  );
}

for (const [name, backend] of Object.entries(BACKENDS)) {
  describe(`log prune on ${name}`, () => {
    let h: BackendHarness;
    beforeEach(async () => {
      h = await backend.open();
    });
    afterEach(() => h.close());

    it('removes records through a seq, keeps an anchor, and the rest still verifies and chains', async () => {
      const log = h.storage.log;
      await fill(log, 's', 5);
      await fill(log, 'other', 2);
      const before = await log.head('s');
      await expect(log.prune('s', 3)).resolves.toBe(3);
      const head = await log.head('s');
      expect(head).toMatchObject({ seq: 5, hash: before.hash, firstSeq: 4 });
      expect(head.anchor?.seq).toBe(3);
      expect((await log.read('s', 0, 10)).map((r) => r.seq)).toEqual([4, 5]);
      expect(await log.getByKey('s', 'k2')).toBeUndefined();
      const view = createLogView({ log, stream: 's', codec });
      await expect(view.verify()).resolves.toMatchObject({ ok: true, verified: 2 });
      // the next append chains on the unchanged head
      const [next] = await log.append('s', [codec.encode(6)]);
      expect(next).toMatchObject({ seq: 6, prevHash: before.hash });
      await expect(view.verify()).resolves.toMatchObject({ ok: true, verified: 3 });
      // an earlier or equal bound does nothing; another stream is untouched
      await expect(log.prune('s', 2)).resolves.toBe(0);
      expect((await log.read('other', 0, 10)).length).toBe(2);
    });

    it('prunes a whole stream: its head stays, and it keeps verifying (empty) after a reopen', async () => {
      await fill(h.storage.log, 'j', 4);
      const before = await h.storage.log.head('j');
      await expect(h.storage.log.prune('j', 99)).resolves.toBe(4);
      if (h.reopen !== undefined) await h.reopen();
      const log = h.storage.log;
      const head = await log.head('j');
      expect(head).toMatchObject({ seq: 4, hash: before.hash, firstSeq: 5 });
      expect(head.anchor).toEqual({ seq: 4, hash: before.hash });
      expect(await log.read('j', 0, 10)).toEqual([]);
      const view = createLogView({ log, stream: 'j', codec });
      await expect(view.verify()).resolves.toMatchObject({ ok: true, verified: 0 });
      const [next] = await log.append('j', [codec.encode(5)]);
      expect(next).toMatchObject({ seq: 5, prevHash: before.hash });
    });

    it('rejects a bad bound with a typed error', async () => {
      await expect(h.storage.log.prune('s', -1)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(h.storage.log.prune('s', 1.5)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(h.storage.log.prune('never-written', 10)).resolves.toBe(0);
    });
  });
}

/**
 * NDJSON export: the envelope and record forms keep their exact bytes (converge field order,
 * re-encoded from each stored body) for records kerno wrote and for imported lines, and the
 * `stored` form hands each stored body through unparsed — the canonical JSON its hash covers —
 * in a form the ledger imports back as the same records.
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeEnvelopeLine } from '../../src/formats/converge-ndjson.js';
import { createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { recordHash } from '../../src/storage/log.js';
import { openStorage } from '../../src/storage/open-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { ManualClock } from '../../src/util/clock.js';
import { tempDir } from '../helpers/stores.js';

const T0 = Date.UTC(2026, 4, 14, 10);

/** An imported line in converge's field order, with fields kerno's canonical JSON reorders. */
const IMPORTED =
  '{"event_id":"imp-1","occurred_at":"2026-05-14T09:00:00Z","tenant_id":"t","correlation_id":"c-9",' +
  '"event":{"type":"BudgetExceeded","data":{"chain_id":"c","resource":"Tokens","limit":"1024","observed":null}}}';

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

describe.each(['memory', 'sqlite'] as const)('ledger NDJSON export (%s)', (kind) => {
  let storage: Storage | undefined;
  let cleanup = (): void => undefined;
  afterEach(async () => {
    await storage?.close();
    cleanup();
  });

  async function start(): Promise<Ledger> {
    if (kind === 'sqlite') {
      const t = tempDir();
      cleanup = t.cleanup;
      storage = await openStorage(`sqlite:${t.dir}/kerno.db`);
    } else storage = await openStorage('memory:');
    let n = 0;
    return createLedger({
      log: storage.log,
      clock: new ManualClock(T0),
      ids: () => `id-${++n}`,
    });
  }

  it('keeps the envelope form byte for byte and hands stored bodies through', async () => {
    const ledger = await start();
    await ledger.append(
      {
        type: 'OutcomeRecorded',
        data: {
          chain_id: 'c1',
          step: 'Planning',
          passed: true,
          stop_reason: null,
          latency_ms: 12,
          tokens: 42,
          cost_microdollars: null,
          backend: 'local "α"\n',
        },
      },
      { tenantId: 't', correlationId: 'corr' },
    );
    await ledger.importNdjson(Readable.from([IMPORTED + '\n']));
    const envelope = await collect(ledger.exportNdjson());
    // The bytes the export wrote before pass-through existed, pinned.
    expect(envelope).toEqual([
      '{"event_id":"id-1","occurred_at":"2026-05-14T10:00:00.000Z","tenant_id":"t","correlation_id":"corr",' +
        '"event":{"type":"OutcomeRecorded","data":{"chain_id":"c1","step":"Planning","passed":true,"stop_reason":null,' +
        '"latency_ms":12,"tokens":42,"cost_microdollars":null,"backend":"local \\"α\\"\\n"}}}\n',
      IMPORTED + '\n',
    ]);
    const records = await collect(ledger.exportNdjson({ form: 'record' }));
    expect(records[1]).toBe(`{"kind":"Engine","value":${IMPORTED}}\n`);

    const log = storage!.log;
    const stored = await log.read(ledger.stream, 0, 10);
    const passed = await collect(ledger.exportNdjson({ form: 'stored' }));
    expect(passed).toEqual(stored.map((r) => r.body + '\n'));
    // Those are the bytes the hash covers, and the same envelopes as the converge form.
    for (const r of stored) expect(recordHash(r.stream, r.seq, r, r.prevHash)).toBe(r.hash);
    expect(passed.map((l) => JSON.parse(l) as unknown)).toEqual(
      envelope.map((l) => JSON.parse(l) as unknown),
    );
    expect(passed[1]).not.toBe(envelope[1]); // keys sorted, not converge's order
    expect(encodeEnvelopeLine(JSON.parse(passed[1]!) as never)).toBe(envelope[1]);
    // The stored form imports back as the very same records.
    expect(await ledger.importNdjson(Readable.from(passed))).toMatchObject({
      imported: 0,
      duplicates: 2,
    });
    expect(await collect(ledger.exportNdjson({ form: 'stored', fromPosition: 1 }))).toEqual([
      passed[1],
    ]);
  });
});

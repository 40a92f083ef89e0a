/**
 * What a caller reads when the log refuses an append, a query or a prune: each message says
 * which stream or option is wrong and what is expected, word for word, on the backend every test
 * can open — a fenced append (`FENCED`) and a key re-used with another tenant (`CONFLICT`) too. Pruning through seq 0 removes nothing. Found by mutation testing (docs/testing.md).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KernelError } from '../../src/errors.js';
import { openStorage } from '../../src/storage/open-storage.js';
import type { LogQuery } from '../../src/storage/log.js';
import type { Storage } from '../../src/storage/storage.js';

let storage: Storage;
beforeEach(async () => {
  storage = await openStorage('memory:');
});
afterEach(async () => {
  await storage.close();
});

async function refusal(p: Promise<unknown>): Promise<KernelError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(KernelError);
    return error as KernelError;
  }
  throw new Error('expected a KernelError, nothing was thrown');
}

describe('log refusals', () => {
  it('an append without a string body or an integer time names the stream', async () => {
    for (const entry of [
      { timeMs: 1.5, body: '{}' },
      { timeMs: 1, body: 7 as unknown as string },
    ]) {
      const error = await refusal(storage.log.append('audit', [entry]));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe(
        'A log record for "audit" needs a string body and an integer timeMs (epoch ms)',
      );
    }
  });

  it('an append with a lone surrogate in any text field names the stream', async () => {
    for (const field of ['body', 'key', 'tenant', 'kind', 'subject', 'correlation', 'chain']) {
      const entry = { timeMs: 1, body: '{}', [field]: 'a\ud800' };
      const error = await refusal(storage.log.append('audit', [entry]));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe(
        'A log record for "audit" contains a lone UTF-16 surrogate; send well-formed Unicode text',
      );
    }
    expect((await storage.log.head('audit')).seq).toBe(0);
  });

  it('a query with a bad limit, time range, seq bound or kinds says which', async () => {
    const cases: [LogQuery, string][] = [
      [{ limit: -1 }, 'limit must be a non-negative integer, got -1'],
      [{ limit: 1.5 }, 'limit must be a non-negative integer, got 1.5'],
      [{ time: { fromMs: Number.NaN } }, 'time range start is not a valid time'],
      [{ time: { toMs: Number.POSITIVE_INFINITY } }, 'time range end is not a valid time'],
      [{ time: { fromMs: 2, toMs: 1 } }, 'time range start is after its end'],
      [{ fromSeq: -1 }, 'seq bounds must be non-negative integers'],
      [{ toSeq: 0.5 }, 'seq bounds must be non-negative integers'],
      [{ kinds: 'a' as unknown as string[] }, 'kinds must be an array'],
    ];
    for (const [query, message] of cases) {
      const error = await refusal(storage.log.query('audit', query));
      expect(error.code).toBe('INVALID_QUERY');
      expect(error.message).toBe(message);
    }
    // The edges are accepted: limit 0, an empty time range, seq 0.
    await storage.log.append('audit', [{ timeMs: 5, body: '{}' }]);
    expect(await storage.log.query('audit', { limit: 0 })).toEqual([]);
    expect(await storage.log.query('audit', { time: { fromMs: 5, toMs: 5 } })).toHaveLength(1);
    expect(await storage.log.query('audit', { fromSeq: 0, toSeq: 0 })).toEqual([]);
  });

  it('pruning through seq 0 removes nothing; a negative or fractional seq is refused', async () => {
    await storage.log.append('audit', [
      { timeMs: 1, body: '{"n":1}' },
      { timeMs: 2, body: '{"n":2}' },
    ]);
    expect(await storage.log.prune('audit', 0)).toBe(0);
    expect(await storage.log.read('audit', 0, 10)).toHaveLength(2);
    for (const seq of [-1, 1.5]) {
      const error = await refusal(storage.log.prune('audit', seq));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe(
        `Pruning audit needs a seq ≥ 0 to prune through, got ${String(seq)}`,
      );
    }
    expect(await storage.log.prune('audit', 1)).toBe(1);
    expect((await storage.log.read('audit', 0, 10)).map((r) => r.seq)).toEqual([2]);
  });

  it('a fenced append names the stream it was refused and the claim that fenced it', async () => {
    const fence = { stream: 'runs', key: 'r1:owner:2' };
    await storage.log.append('runs', [{ timeMs: 1, body: '{}', key: 'r1:owner:2' }]);
    const error = await refusal(
      storage.log.append('run:r1', [{ timeMs: 2, body: '{}' }], { unlessKey: fence }),
    );
    expect(error.code).toBe('FENCED');
    expect(error.message).toBe(
      'Append to run:r1 refused: runs holds r1:owner:2 (another writer took over)',
    );
    expect(error.details).toEqual({
      stream: 'run:r1',
      fenceStream: 'runs',
      fenceKey: 'r1:owner:2',
    });
    expect((await storage.log.head('run:r1')).seq).toBe(0);
  });

  it('a key re-used by another tenant is a conflict naming the key and the stream', async () => {
    await storage.log.append('ledger', [{ timeMs: 1, body: '{}', key: 'evt-1', tenant: 'acme' }]);
    for (const tenant of ['evil', undefined]) {
      const error = await refusal(
        storage.log.append('ledger', [{ timeMs: 1, body: '{}', key: 'evt-1', tenant }]),
      );
      expect(error.code).toBe('CONFLICT');
      expect(error.message).toBe(
        'A record with key "evt-1" already exists in "ledger" with different content; ' +
          'use a new id for new content (appends are idempotent only for identical records)',
      );
      expect(error.details).toEqual({ stream: 'ledger', key: 'evt-1' });
    }
    // The record stays the first tenant's; the same tenant and content is a retry.
    expect((await storage.log.getByKey('ledger', 'evt-1'))?.tenant).toBe('acme');
    const [again] = await storage.log.append('ledger', [
      { timeMs: 1, body: '{}', key: 'evt-1', tenant: 'acme' },
    ]);
    expect(again?.seq).toBe(1);
    expect((await storage.log.head('ledger')).seq).toBe(1);
  });
});

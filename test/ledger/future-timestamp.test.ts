/**
 * One record stamped in 2999 would break ledger verification for good, so appends refuse an
 * `occurred_at` more than the configured skew (default 5 min) ahead of the trusted clock — on
 * the API for every token (tenants too) and on NDJSON import, where nothing is imported.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryLog } from '../../src/index.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { createServer } from '../../src/server/app.js';
import { createToken } from '../../src/server/auth.js';
import { ManualClock } from '../../src/util/clock.js';
import { resolveConfig } from '../../src/config.js';
import { testKernel } from '../helpers/kernel.js';

const TOKEN = 'kerno_future_test_token_0123456789abcdef';
const EVENT = {
  type: 'BudgetExceeded',
  data: { chain_id: 'c', resource: 'Tokens', limit: '1', observed: null },
} as const;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('future occurred_at', () => {
  it('the ledger refuses more than maxFutureMs ahead, accepts within it', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const ledger = createLedger({ log: createMemoryLog(), clock, maxFutureMs: 60_000 });
    await expect(
      ledger.append(EVENT, { eventId: 'a', occurredAt: '2999-01-01T00:00:00Z' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /in the future/ });
    await expect(
      ledger.append(EVENT, { eventId: 'b', occurredAt: '2026-01-01T00:01:01Z' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await ledger.append(EVENT, { eventId: 'c', occurredAt: '2026-01-01T00:01:00Z' });
    await expect(
      ledger.appendEnvelope({
        event_id: 'd',
        occurred_at: '2999-01-01T00:00:00Z',
        tenant_id: null,
        correlation_id: null,
        event: EVENT,
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await ledger.head()).seq).toBe(1);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('defaults to 5 minutes, configurable with KERNO_LEDGER_MAX_FUTURE_MS', () => {
    expect(resolveConfig({ env: {} }).ledgerMaxFutureMs).toBeUndefined();
    expect(resolveConfig({ env: { KERNO_LEDGER_MAX_FUTURE_MS: '1000' } }).ledgerMaxFutureMs).toBe(
      1000,
    );
    expect(() => resolveConfig({ env: { KERNO_LEDGER_MAX_FUTURE_MS: 'soon' } })).toThrow(
      /KERNO_LEDGER_MAX_FUTURE_MS/,
    );
  });

  it('API append (tenant token) and NDJSON import refuse 2999; the import names the line and stores nothing', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(k.cleanup, () => server.close());
    const tenant = createToken(k.dir, { scope: 'tenant', tenant: 'acme' }).token;
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers: { authorization: `Bearer ${tenant}` },
      payload: { event: EVENT, eventId: 'future-1', occurredAt: '2999-01-01T00:00:00Z' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });
    const line = (id: string, at: string) =>
      JSON.stringify({
        event_id: id,
        occurred_at: at,
        tenant_id: null,
        correlation_id: null,
        event: EVENT,
      });
    const imported = await server.app.inject({
      method: 'POST',
      url: '/api/ledger/import',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
      payload:
        [line('i-1', '2026-01-01T00:00:00Z'), line('i-2', '2999-01-01T00:00:00Z')].join('\n') +
        '\n',
    });
    expect(imported.statusCode).toBe(400);
    expect(imported.json<{ detail: string }>().detail).toMatch(/Line 2\b/);
    expect((await k.kernel.ledger.head()).seq).toBe(0);
  });
});

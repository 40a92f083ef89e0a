/**
 * The repair path for a poisoned ledger (issue 14, item 2): a record stamped in 2999, written
 * the way a version without the future-timestamp refusal wrote it (a plain log append through
 * the storage layer), fails verification by name; `kerno ledger repair --accept-through` (and
 * POST /api/ledger/repair) appends an audited acceptance anchor; verify then passes, reports the
 * accepted break, and a later tamper is still caught — on SQLite and PostgreSQL.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel.js';
import { createServer, type KernoServer } from '../../src/server/app.js';
import { createToken } from '../../src/server/auth.js';
import { ledgerKey } from '../../src/ledger/ledger.js';
import { canonicalJson } from '../../src/util/canonical-json.js';
import { silentLogger } from '../../src/util/logger.js';
import type { VerifyResult } from '../../src/storage/log.js';
import { cli } from '../helpers/cli.js';
import { adminQuery, dropSchema, freshSchema, pgAvailable, pgUrl } from '../helpers/postgres.js';
import { tempDir } from '../helpers/stores.js';

const TOKEN = 'kerno_repair_test_token_0123456789abcdef';
const EVENT = {
  type: 'BudgetExceeded',
  data: { chain_id: 'c', resource: 'Tokens', limit: '1', observed: null },
} as const;
const POISON_AT = '2999-01-01T00:00:00Z';

interface Backend {
  store: string;
  /** Replaces the body of ledger record `seq` behind the log's back. */
  setBody(seq: number, body: string): Promise<void>;
  close(): Promise<void>;
}

function sqliteBackend(dir: string): Backend {
  const file = join(dir, 'kerno.db');
  return {
    store: `sqlite:${file}`,
    setBody: async (seq, body) => {
      const db = new Database(file);
      try {
        db.exec('DROP TRIGGER IF EXISTS log_records_no_update');
        const id = db
          .prepare('SELECT id FROM log_streams WHERE name = ?')
          .pluck()
          .get('experience');
        db.prepare('UPDATE log_records SET body = ? WHERE stream = ? AND seq = ?').run(
          body,
          id,
          seq,
        );
      } finally {
        db.close();
      }
    },
    close: async () => undefined,
  };
}

function postgresBackend(): Backend {
  const schema = freshSchema();
  const table = `"${schema}".log_records`;
  return {
    store: pgUrl(schema),
    setBody: async (seq, body) => {
      await adminQuery(`ALTER TABLE ${table} DISABLE TRIGGER log_records_no_update_delete`);
      await adminQuery(
        `UPDATE ${table} SET body = $3 WHERE stream = (SELECT id FROM "${schema}".log_streams WHERE name = $1) AND seq = $2`,
        ['experience', seq, body],
      );
    },
    close: () => dropSchema(schema),
  };
}

const backends: [string, (dir: string) => Backend][] = [['sqlite', sqliteBackend]];
if (pgAvailable) backends.push(['postgres', () => postgresBackend()]);

describe.each(backends)('ledger repair by acceptance anchor (%s)', (_name, make) => {
  let kernel: Kernel;
  let server: KernoServer;
  let backend: Backend;
  let base: string[];
  let dir: string;
  let cleanupDir: () => void;
  let poisonedSeq: number;

  beforeAll(async () => {
    ({ dir, cleanup: cleanupDir } = tempDir('kerno-repair-'));
    backend = make(dir);
    kernel = await createKernel({
      store: backend.store,
      stateDir: dir,
      logger: silentLogger,
      registryKey: 'test registry key',
      registryScryptCost: 1024,
    });
    server = await createServer(kernel, { token: TOKEN });
    const { url } = await server.listen({ port: 0 });
    base = ['--url', url, '--token', TOKEN, '--home', dir];

    for (let i = 1; i <= 3; i++) await kernel.ledger.append(EVENT, { eventId: `before-${i}` });
    // The refusal is at the ledger's edge; an old version appended straight to the log.
    await expect(
      kernel.ledger.append(EVENT, { eventId: 'poison', occurredAt: POISON_AT }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const envelope = {
      event_id: 'poison',
      occurred_at: POISON_AT,
      tenant_id: null,
      correlation_id: null,
      event: EVENT,
    };
    const [poisoned] = await kernel.storage.log.append('experience', [
      {
        timeMs: Date.parse(POISON_AT),
        body: canonicalJson(envelope),
        key: ledgerKey('poison', null),
        kind: EVENT.type,
      },
    ]);
    poisonedSeq = poisoned!.seq;
    for (let i = 1; i <= 3; i++) await kernel.ledger.append(EVENT, { eventId: `after-${i}` });
  });
  afterAll(async () => {
    await server.close();
    await kernel.close();
    await backend.close();
    cleanupDir();
  });

  const verifyApi = async (): Promise<VerifyResult> => {
    const res = await server.app.inject({
      method: 'GET',
      url: '/api/ledger/verify',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    return res.json<VerifyResult>();
  };

  it('verify fails naming the poisoned record (API and CLI)', async () => {
    expect(await verifyApi()).toMatchObject({
      ok: false,
      seq: poisonedSeq,
      reason: 'future_timestamp',
      breakCount: 1,
    });
    const r = await cli(...base, 'ledger', 'verify');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `BROKEN at seq ${poisonedSeq}: record ${poisonedSeq} is timestamped in the future`,
    );
  });

  it('the API refuses a repair without a reason, out of range, or from a tenant token', async () => {
    const post = (payload: unknown, token = TOKEN) =>
      server.app.inject({
        method: 'POST',
        url: '/api/ledger/repair',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });
    expect((await post({ acceptThrough: poisonedSeq })).statusCode).toBe(400);
    const beyond = await post({ acceptThrough: 99, reason: 'x' });
    expect(beyond.statusCode).toBe(400);
    const problem = beyond.json<{ code: string; detail: string }>();
    expect(problem.code).toBe('INVALID_ARGUMENT');
    expect(problem.detail).toMatch(/from 1 to its head 7/);
    const tenant = createToken(dir, { scope: 'tenant', tenant: 'acme' }).token;
    expect((await post({ acceptThrough: poisonedSeq, reason: 'x' }, tenant)).statusCode).toBe(403);
    const r = await cli(...base, 'ledger', 'repair', '--accept-through', String(poisonedSeq));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--reason is required/);
    expect(await verifyApi()).toMatchObject({ ok: false });
  });

  it('kerno ledger repair --accept-through appends an audited anchor; verify then passes and reports the accepted break', async () => {
    const head = await kernel.ledger.head();
    const r = await cli(
      ...base,
      'ledger',
      'repair',
      '--accept-through',
      String(poisonedSeq),
      '--reason',
      'poisoned by a pre-0.9 import (ticket 42)',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`accepted experience through seq ${poisonedSeq}`);
    expect(r.stdout).toContain(`seq ${poisonedSeq}: future_timestamp`);
    // nothing was written to (or changed in) the ledger itself
    expect(await kernel.ledger.head()).toEqual(head);

    const result = await verifyApi();
    expect(result).toMatchObject({
      ok: true,
      breakCount: 0,
      acceptedCount: 1,
      verified: 7,
      acceptance: {
        stream: 'experience',
        anchorSeq: 1,
        through: { seq: poisonedSeq },
        by: 'daemon token',
        reason: 'poisoned by a pre-0.9 import (ticket 42)',
        breakCount: 1,
      },
    });
    expect(result.accepted![0]).toMatchObject({ seq: poisonedSeq, reason: 'future_timestamp' });

    const v = await cli(...base, 'ledger', 'verify');
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('ok: 7 records verify');
    expect(v.stdout).toContain(
      `accepted at seq ${poisonedSeq}: record ${poisonedSeq} is timestamped in the future`,
    );
    expect(v.stdout).toContain(`accepted by anchor at seq ${poisonedSeq}`);

    // audited: who, why and what, in the audit trail
    await kernel.audit.flush();
    const entries = await kernel.audit.entries({ limit: 50 });
    const audited = entries.find(
      (e) => (e.metadata as { chainAccepted?: unknown } | null)?.chainAccepted !== undefined,
    );
    expect(audited).toMatchObject({
      resource: 'log:experience',
      metadata: {
        chainAccepted: {
          stream: 'experience',
          anchorSeq: 1,
          through: { seq: poisonedSeq },
          breaks: 1,
          by: 'daemon token',
          reason: 'poisoned by a pre-0.9 import (ticket 42)',
        },
      },
    });
    expect(await kernel.audit.verify()).toMatchObject({ ok: true });
  });

  it('a tamper after the anchor is still caught, and so is a change to the accepted record', async () => {
    const after = poisonedSeq + 2;
    const [record] = await kernel.storage.log.read('experience', after - 1, 1);
    await backend.setBody(after, record!.body.replace('"limit":"1"', '"limit":"9"'));
    const result = await verifyApi();
    expect(result).toMatchObject({
      ok: false,
      seq: after,
      reason: 'hash_mismatch',
      breakCount: 1,
      acceptedCount: 1,
    });
    const r = await cli(...base, 'ledger', 'verify');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`BROKEN at seq ${after}: record ${after} was altered`);
    expect(r.stdout).toContain(`accepted at seq ${poisonedSeq}`);

    const [poisoned] = await kernel.storage.log.read('experience', poisonedSeq - 1, 1);
    await backend.setBody(poisonedSeq, poisoned!.body.replace('2999', '2998'));
    const again = await verifyApi();
    expect(again.breaks.map((b) => [b.seq, b.reason])).toEqual([
      [poisonedSeq, 'hash_mismatch'],
      [after, 'hash_mismatch'],
    ]);
    expect(again.acceptedCount).toBe(0);
  });
});

describe('kerno audit repair --store', () => {
  it('anchors the audit trail through its head and records who did it', async () => {
    const { dir, cleanup } = tempDir('kerno-audit-repair-');
    try {
      const store = `sqlite:${join(dir, 'kerno.db')}`;
      const k = await createKernel({
        agents: false,
        store,
        logger: silentLogger,
        learningFile: null,
      });
      await k.audit.append('system', { type: 'Other', data: { detail: 'one' } }, 'r');
      await k.close();
      const r = await cli(
        'audit',
        'repair',
        '--store',
        store,
        '--accept-through',
        '1',
        '--reason',
        'checkpoint',
        '--by',
        'alice',
        '--json',
      );
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({
        stream: 'audit',
        anchorSeq: 1,
        through: { seq: 1 },
        breaks: [],
        by: 'alice',
        reason: 'checkpoint',
      });
      const v = await cli('audit', 'verify', '--store', store);
      expect(v.code).toBe(0);
      expect(v.stdout).toContain('accepted through seq 1 by alice');
    } finally {
      cleanup();
    }
  });
});

import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  createAuditTrail,
  createMemoryLog,
  isKernelError,
  type LogRecord,
} from '../../src/index.js';
import { parseOxiosExport } from '../../src/formats/oxios-audit-export.js';
import { readOxiosAccessLog } from '../../src/formats/oxios-access-log.js';
import { recordHash } from '../../src/storage/log.js';
import { ACCESS_LINES, TRAIL_SPECS, oxiosTrail } from '../helpers/oxios.js';
import { tamperable, type TamperableLog } from '../helpers/tamper-log.js';

const NOW = Date.UTC(2026, 4, 20);

function setup() {
  const clock = new ManualClock(NOW);
  const log = tamperable(createMemoryLog());
  const trail = createAuditTrail({ log, clock });
  return { clock, log, trail };
}

const trailSource = (entries = oxiosTrail(TRAIL_SPECS)) => ({
  format: 'oxios-trail' as const,
  entries: parseOxiosExport(entries),
});

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (error) {
    if (isKernelError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a rejection');
}

/**
 * Rewrites record `seq` of the audit stream with `patch(body)` and recomputes kerno's chain
 * from there to the head, as someone who can write the store could: kerno's own chain then
 * verifies, and only the oxios rule can tell.
 */
async function rewriteAndRechain(
  log: TamperableLog,
  seq: number,
  patch: (body: Record<string, unknown>) => void,
): Promise<void> {
  const records: LogRecord[] = await log.read('audit', 0, 1000);
  let prev = records[seq - 2]?.hash ?? '0'.repeat(64);
  for (const r of records.slice(seq - 1)) {
    const body = JSON.parse(r.body) as Record<string, unknown>;
    if (r.seq === seq) patch(body);
    const next = { ...r, body: JSON.stringify(body), prevHash: prev };
    const hash = recordHash('audit', r.seq, next, prev);
    log.tamper(r.seq, { body: next.body, prevHash: prev, hash });
    prev = hash;
  }
}

describe('oxios audit history as the prefix of the trail', () => {
  it('imports a verified oxios trail as seqs 1…n and kerno’s next entry links to it', async () => {
    const { trail } = setup();
    const source = trailSource();
    const result = await trail.importOxios(source);
    expect(result).toMatchObject({
      imported: 3,
      format: 'oxios-trail',
      head: { seq: 3 },
      oxiosHead: source.entries[2]!.hash,
      trustedRoot: false,
    });
    const entries = await trail.entries();
    expect(entries.map((e) => [e.seq, e.actor, e.action.type, e.timestamp])).toEqual([
      [1, 'system', 'AgentSpawn', '2026-05-14T10:00:00.000Z'],
      [2, '67e55044-10b1-426f-9247-bb680e5fe0c8', 'ToolCall', '2026-05-14T10:00:00.123Z'],
      [3, 'system', 'ConfigChange', '2026-05-14T10:00:02.123Z'],
    ]);
    // The exact oxios timestamp, hash and unhashed metadata are kept.
    expect(entries[2]!.metadata).toMatchObject({
      import: { format: 'oxios-trail', seq: 3, timestamp: '2026-05-14T10:00:02.123456789Z' },
    });
    expect(entries[1]!.metadata).toMatchObject({
      import: { metadata: { note: 'not hashed by oxios' }, hash: source.entries[1]!.hash },
    });
    const own = await trail.append('system', { type: 'Other', data: { detail: 'after' } }, 'x');
    expect(own.seq).toBe(4);
    expect(own.prevHash).toBe(result.head.hash);
    expect(await trail.verify()).toMatchObject({ ok: true, verified: 4 });
  });

  it('refuses a broken oxios chain naming the seq, and writes nothing', async () => {
    const { trail } = setup();
    const entries = oxiosTrail(TRAIL_SPECS);
    entries[1]!['actor'] = 'mallory';
    const f = await rejection(trail.importOxios(trailSource(entries)));
    expect(f.code).toBe('CHAIN_BROKEN');
    expect(f.message).toContain('does not verify at seq 2');
    expect(f.message).toContain('nothing was imported');
    expect((await trail.head()).seq).toBe(0);
  });

  it('imports only into an empty trail', async () => {
    const { trail } = setup();
    await trail.append('system', { type: 'Other', data: { detail: 'first' } }, 'x');
    const f = await rejection(trail.importOxios(trailSource()));
    expect(f.code).toBe('CONFLICT');
    expect(f.message).toContain('already holds 1 entries');
    expect((await trail.head()).seq).toBe(1);
  });

  it('catches an imported entry rewritten even when kerno’s chain was recomputed', async () => {
    const { trail, log } = setup();
    await trail.importOxios(trailSource());
    await trail.append('system', { type: 'Other', data: { detail: 'after' } }, 'x');
    await rewriteAndRechain(log, 2, (body) => {
      body['actor'] = 'mallory';
    });
    const result = await trail.verify();
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toBe('imported_chain_broken');
    expect(result.seq).toBe(2);
    expect(result.verified).toBe(1);
    expect(result.message).toContain('imported upstream entry 2');
    expect(result.message).toContain('was altered');
    expect(result.breakCount).toBe(1);
  });

  it('still reports a plain tamper in the prefix through kerno’s own chain', async () => {
    const { trail, log } = setup();
    await trail.importOxios(trailSource());
    const [r] = await log.read('audit', 0, 1);
    log.tamper(1, { body: r!.body.replace('researcher', 'intruder') });
    const result = await trail.verify();
    expect(result).toMatchObject({ ok: false, seq: 1, reason: 'hash_mismatch' });
    // ...and by oxios's rule as well
    expect(result.breaks.map((b) => b.reason)).toEqual(['hash_mismatch', 'imported_chain_broken']);
  });

  it('a repair anchor accepts a tampered imported entry by both rules; a later tamper still fails', async () => {
    const { trail, log } = setup();
    await trail.importOxios(trailSource());
    await trail.append('system', { type: 'Other', data: { detail: 'after' } }, 'x');
    const [r] = await log.read('audit', 0, 1);
    log.tamper(1, { body: r!.body.replace('researcher', 'intruder') }, 'audit');
    const head = await trail.head();
    const anchor = await trail.accept({ throughSeq: head.seq, reason: 'known', by: 'ops' });
    expect(anchor.breaks.map((b) => b.reason)).toEqual(['hash_mismatch', 'imported_chain_broken']);
    const fixed = await trail.verify();
    expect(fixed.ok).toBe(true);
    expect(fixed.accepted?.map((b) => b.reason)).toEqual([
      'hash_mismatch',
      'imported_chain_broken',
    ]);
    expect(fixed.acceptedCount).toBe(2);
    // Another imported entry rewritten after the anchor (kerno's chain recomputed) still fails.
    await rewriteAndRechain(log, 2, (body) => {
      body['actor'] = 'mallory';
    });
    const again = await trail.verify();
    expect(again.ok).toBe(false);
    expect(again.breaks.map((b) => [b.reason, b.seq])).toContainEqual(['imported_chain_broken', 2]);
  });

  it('imports access.jsonl events as oxios’s trail records them, and re-checks them', async () => {
    const { trail, log } = setup();
    const text = ACCESS_LINES.map((l) => JSON.stringify(l)).join('\n') + '\n';
    const events = readOxiosAccessLog(text, 'access.jsonl');
    const result = await trail.importOxios({ format: 'oxios-access', events });
    expect(result).toMatchObject({ imported: 4, format: 'oxios-access', oxiosHead: null });
    const entries = await trail.entries();
    expect(entries.map((e) => [e.actor, e.action, e.resource, e.timestamp])).toEqual([
      [
        'agent-1',
        { type: 'Other', data: { detail: 'tool_access:exec:allowed=false' } },
        'access_gate',
        '2026-05-14T10:00:00.000Z',
      ],
      [
        'agent-1',
        { type: 'Other', data: { detail: 'path_access:/etc/passwd:read:allowed=false' } },
        'access_gate',
        '2026-05-14T10:00:00.123Z',
      ],
      [
        'user:alice',
        { type: 'Other', data: { detail: 'rbac:user:alice:UseTool(exec):allowed=true' } },
        'access_gate',
        '2026-05-14T10:00:01.000Z',
      ],
      [
        'user:alice',
        { type: 'Other', data: { detail: 'approval:ap-1:approved' } },
        'access_gate',
        '2026-05-14T10:00:02.000Z',
      ],
    ]);
    expect(entries[1]!.metadata).toEqual({
      import: { format: 'oxios-access', line: 2, event: ACCESS_LINES[1] },
    });
    expect(await trail.verify()).toMatchObject({ ok: true, verified: 4 });
    await rewriteAndRechain(log, 3, (body) => {
      body['actor'] = 'user:bob';
    });
    expect(await trail.verify()).toMatchObject({
      ok: false,
      seq: 3,
      reason: 'imported_chain_broken',
    });
  });

  it('reads access.jsonl strictly: a bad line fails the file naming it', () => {
    const lines = ACCESS_LINES.map((l) => JSON.stringify(l));
    const check = (text: string): string => {
      try {
        readOxiosAccessLog(text, 'access.jsonl');
      } catch (error) {
        if (isKernelError(error) && error.code === 'INVALID_UPSTREAM_FILE') return error.message;
        throw error;
      }
      return 'ok';
    };
    expect(check(lines.join('\r\n') + '\r\n\n')).toBe('ok');
    expect(check([lines[0], '{"kind":"ToolAccess","timestamp":"x"}'].join('\n'))).toContain(
      'access.jsonl line 2: `timestamp` must be an integer',
    );
    expect(check([lines[0], lines[1], '{"kind":"ExecAccess","timestamp":1}'].join('\n'))).toContain(
      'line 3: ExecAccess.agent must be a string',
    );
    expect(check('{"kind":"ToolAccess"')).toContain('line 1: not valid JSON');
    // A kind a later oxios adds is kept as it is.
    const later = readOxiosAccessLog(
      '{"kind":"NetAccess","timestamp":5,"agent":"a","host":"h"}',
      'f',
    );
    expect(later).toEqual([{ kind: 'NetAccess', timestamp: 5, agent: 'a', host: 'h' }]);
  });
});

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { ManualClock, verifyOxiosExport } from '../../src/index.js';

/**
 * Builds an export the way oxios writes it, with the hash computed here from UPSTREAM.md's rule
 * (independently of kerno's implementation).
 */
function oxiosExport(
  entries: { ts: string; rfc3339: string; actor: string; action: unknown; resource: string }[],
  pruned = false,
) {
  const out: Record<string, unknown>[] = [];
  let prev = pruned ? 'pruned' : 'genesis';
  entries.forEach((e, i) => {
    const seq = 10 + i;
    const seqBytes = new Uint8Array(8);
    new DataView(seqBytes.buffer).setBigUint64(0, BigInt(seq));
    const enc = new TextEncoder();
    const actionJson = JSON.stringify(e.action);
    const bytes = [
      ...enc.encode('oxios-audit-v1'),
      ...seqBytes,
      ...enc.encode(e.rfc3339),
      ...enc.encode(e.actor),
      ...enc.encode(actionJson),
      ...enc.encode(prev),
      ...enc.encode(e.resource),
    ];
    const hash = bytesToHex(blake3(new Uint8Array(bytes)));
    out.push({
      seq,
      timestamp: e.ts,
      actor: e.actor,
      action: e.action,
      resource: e.resource,
      prev_hash: prev,
      hash,
      metadata: i === 1 ? { note: 'not hashed' } : null,
    });
    prev = hash;
  });
  return out;
}

const ENTRIES = [
  {
    ts: '2026-05-14T10:00:00Z',
    rfc3339: '2026-05-14T10:00:00+00:00',
    actor: 'system',
    action: { type: 'AgentSpawn', data: { task_type: 'researcher' } },
    resource: 'AgentCreated { id: 67e55044-10b1-426f-9247-bb680e5fe0c8, name: "researcher" }',
  },
  {
    ts: '2026-05-14T10:00:00.123Z',
    rfc3339: '2026-05-14T10:00:00.123+00:00',
    actor: '67e55044-10b1-426f-9247-bb680e5fe0c8',
    action: { type: 'ToolResult', data: { tool: 'search', success: true } },
    resource: 'tool',
  },
  {
    ts: '2026-05-14T10:00:01.123456Z',
    rfc3339: '2026-05-14T10:00:01.123456+00:00',
    actor: 'system',
    action: { type: 'ConfigChange', data: { key: 'api_token' } },
    resource: 'config',
  },
  {
    ts: '2026-05-14T10:00:02.123456789Z',
    rfc3339: '2026-05-14T10:00:02.123456789+00:00',
    actor: 'système "ü"',
    action: { type: 'Other', data: { detail: 'line\nbreak' } },
    resource: 'r',
  },
];
const clock = new ManualClock(Date.UTC(2026, 5, 1));

describe('verifyOxiosExport', () => {
  it('accepts a correct export (pretty-printed, as oxios writes it)', () => {
    const doc = JSON.stringify(oxiosExport(ENTRIES), null, 2);
    expect(verifyOxiosExport(doc, { clock })).toEqual({ ok: true, entries: 4, trustedRoot: false });
  });

  it('says when the root is a pruned entry oxios trusts without proof', () => {
    expect(verifyOxiosExport(oxiosExport(ENTRIES, true), { clock })).toEqual({
      ok: true,
      entries: 4,
      trustedRoot: true,
    });
  });

  it('metadata is not covered by oxios hashes (the weakness kerno fixes)', () => {
    const doc = oxiosExport(ENTRIES);
    doc[1]!['metadata'] = { note: 'changed' };
    expect(verifyOxiosExport(doc, { clock }).ok).toBe(true);
  });

  const tamper: [string, (e: Record<string, unknown>) => void][] = [
    ['actor', (e) => (e['actor'] = 'intruder')],
    ['resource', (e) => (e['resource'] = 'other')],
    ['action', (e) => (e['action'] = { type: 'ConfigChange', data: { key: 'other' } })],
    ['timestamp', (e) => (e['timestamp'] = '2026-05-14T10:00:01.123457Z')],
    ['hash', (e) => (e['hash'] = 'a'.repeat(64))],
    ['prev_hash', (e) => (e['prev_hash'] = 'b'.repeat(64))],
  ];
  it.each(tamper)('reports the first broken seq when %s is changed', (_f, change) => {
    const doc = oxiosExport(ENTRIES);
    change(doc[2]!);
    expect(verifyOxiosExport(doc, { clock })).toMatchObject({
      ok: false,
      seq: 12,
      reason: 'chain_broken',
    });
  });

  it('reports a deleted entry and a future timestamp', () => {
    const doc = oxiosExport(ENTRIES);
    doc.splice(1, 1);
    expect(verifyOxiosExport(doc, { clock })).toMatchObject({ ok: false, seq: 12 });
    const early = new ManualClock(Date.UTC(2026, 4, 14, 10, 0, 1));
    expect(verifyOxiosExport(oxiosExport(ENTRIES), { clock: early })).toMatchObject({
      ok: false,
      seq: 12,
      reason: 'invalid_timestamp',
    });
  });

  it('gives INVALID_EXPORT for malformed input', () => {
    for (const bad of [
      '{',
      '{}',
      '[1]',
      '[{"seq":1}]',
      JSON.stringify([{ ...oxiosExport(ENTRIES)[0], action: { type: 'Nope', data: {} } }]),
    ]) {
      expect(() => verifyOxiosExport(bad, { clock })).toThrow(
        expect.objectContaining({ code: 'INVALID_EXPORT' }) as Error,
      );
    }
  });
});

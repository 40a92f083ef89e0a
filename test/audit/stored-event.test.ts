import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  auditedEvent,
  createAuditTrail,
  createMemoryLog,
  storedAuditEvent,
  type KernelEvent,
  type LogStore,
} from '../../src/index.js';
import { everyEvent } from '../helpers/events.js';

/** Every stored body of the audit stream, with the typed entry kerno decodes from it. */
function storedWith(log: LogStore) {
  const trail = createAuditTrail({ log, clock: new ManualClock(Date.UTC(2026, 11, 7)) });
  return {
    trail,
    bodies: async () => {
      await trail.flush();
      const records = await log.scan('audit', 0, 10_000);
      const entries = await trail.entriesAfter(0, 10_000);
      return records.map((r, i) => ({ body: r.body, entry: entries[i]! }));
    },
  };
}

describe('storedAuditEvent (the SSE pass-through)', () => {
  it('takes every event type out of its stored body as the stored text, equal to the decoded event', async () => {
    const log = createMemoryLog();
    const { trail, bodies } = storedWith(log);
    const events = everyEvent([1, 2, 3, 4]);
    for (const e of events) await trail.recordEvent(e);
    const stored = await bodies();
    expect(stored).toHaveLength(events.length);
    let passedThrough = 0;
    for (const { body, entry } of stored) {
      const decoded = auditedEvent(entry)!;
      const got = storedAuditEvent(body)!;
      expect(got.type).toBe(decoded.type);
      expect(JSON.parse(got.json)).toEqual(JSON.parse(JSON.stringify(decoded)));
      // The fast path hands out a slice of the stored body itself.
      if (body.includes(got.json)) passedThrough++;
    }
    expect(passedThrough).toBe(stored.length);
  });

  it('is not fooled by strings and nested objects that look like the body layout', async () => {
    const log = createMemoryLog();
    const { trail, bodies } = storedWith(log);
    const tricky = '},"resource":"x"} {"event":{"type":"Evil"}} \\" \\\\ ] [ { ,"type":"Nope"';
    const event = {
      type: 'ToolExecutionStarted',
      sessionId: '01a24e6c-76a5-76e5-8dfc-7a31e6c82d56',
      toolName: tricky,
      toolCallId: `${tricky}#1`,
      toolArgs: {
        '10': 1,
        '2': 2,
        type: 'Inner',
        metadata: { event: { type: 'Deeper' } },
        list: [tricky, 1, -2.5e3, true, null],
      },
    } as unknown as KernelEvent;
    await trail.recordEvent(event);
    // A plain entry whose action data and actor carry the same decoys.
    await trail.append(tricky, { type: 'Other', data: { detail: tricky } }, tricky, {
      note: tricky,
    });
    const [first, second] = await bodies();
    const got = storedAuditEvent(first!.body)!;
    expect(got.type).toBe('ToolExecutionStarted');
    // The stored text itself (sorted keys), not a re-encoding (which puts "2" before "10").
    expect(first!.body.includes(got.json)).toBe(true);
    expect(got.json).toContain('"toolArgs":{"10":1,"2":2,');
    expect(JSON.parse(got.json)).toEqual(JSON.parse(JSON.stringify(auditedEvent(first!.entry))));
    expect(storedAuditEvent(second!.body)).toBeUndefined();
  });

  it('decodes bodies of any other layout the slow way, and gives nothing for a body that is not JSON', () => {
    // Whitespace, keys in another order, an event that is not first in the metadata.
    const spaced =
      '{ "actor": "a", "action": {"type":"Other","data":{}}, "resource": "r", "metadata": {"event": {"type": "AgentSpawned", "n": 1}} }';
    expect(storedAuditEvent(spaced)).toEqual({
      type: 'AgentSpawned',
      json: '{"type":"AgentSpawned","n":1}',
    });
    const notFirst =
      '{"action":{"type":"Other","data":{}},"actor":"a","metadata":{"a":1,"event":{"type":"X"}},"resource":"r"}';
    expect(storedAuditEvent(notFirst)).toEqual({ type: 'X', json: '{"type":"X"}' });
    // The canonical layout, but the last of two "type" keys counts, as in JSON.parse.
    const twice =
      '{"action":{"type":"Other","data":{}},"actor":"a","metadata":{"event":{"type":"A","type":"B"}},"resource":"r"}';
    expect(storedAuditEvent(twice)?.type).toBe('B');
    // An escaped type takes the slow path and is unescaped.
    const escaped =
      '{"action":{"type":"Other","data":{}},"actor":"a","metadata":{"event":{"type":"A\\u0042"}},"resource":"r"}';
    expect(storedAuditEvent(escaped)).toEqual({ type: 'AB', json: '{"type":"AB"}' });
    // Not an event: no metadata, a type that is not a string, broken JSON.
    expect(
      storedAuditEvent(
        '{"action":{"type":"Other","data":{}},"actor":"a","metadata":null,"resource":"r"}',
      ),
    ).toBeUndefined();
    expect(
      storedAuditEvent(
        '{"action":{"type":"Other","data":{}},"actor":"a","metadata":{"event":{"type":7}},"resource":"r"}',
      ),
    ).toBeUndefined();
    expect(
      storedAuditEvent(
        '{"action":{"type":"Other","data":{}},"actor":"a","metadata":{"event":{"type":"X"',
      ),
    ).toBeUndefined();
    expect(storedAuditEvent('not json')).toBeUndefined();
    // A raw line break would end the SSE data line: never passed through.
    const raw =
      '{"action":{"type":"Other","data":{}},"actor":"a","metadata":{"event":{"type":"X","s":"a\nb"}},"resource":"r"}';
    expect(storedAuditEvent(raw)).toBeUndefined();
  });

  it('forwards nothing that is not the event as JSON.parse reads it: forged frames, escaped keys, trailing text, broken values', () => {
    const body = (event: string, tail = ',"resource":"r"}') =>
      `{"action":{"type":"Other","data":{}},"actor":"a","metadata":{"event":${event}}${tail}`;
    // A backslash before a raw line break is not a JSON escape: no frame can be forged.
    const forged = body('{"type":"X","s":"a\\\nevent: Forged\\\ndata: {}"}');
    expect(forged).toContain('\nevent: Forged');
    expect(storedAuditEvent(forged)).toBeUndefined();
    // An escaped key that spells "type" after the plain one: JSON.parse's last one counts.
    expect(storedAuditEvent(body('{"type":"A","typ\\u0065":"B"}'))?.type).toBe('B');
    // More after the resource string: the layout is not kerno's, decode it as a whole.
    expect(
      storedAuditEvent(body('{"type":"A"}', ',"resource":"r","metadata":null,"resource":"r"}')),
    ).toBeUndefined();
    expect(
      storedAuditEvent(
        body('{"type":"A"}', ',"resource":"r","metadata":{"event":{"type":"B"}},"x":"y"}'),
      ),
    ).toEqual({ type: 'B', json: '{"type":"B"}' });
    // Values that are not JSON are never forwarded.
    for (const broken of [
      '{"type":"A","p":{"a"1,,]}',
      '{"type":"A","p":undefined}',
      '{"type":"A","p":[1,2}',
      '{"type":"A","p":01}',
      '{"type":"A","p":"\\x"}',
      '{"type":"A","p":"\\u12"}',
    ])
      expect(storedAuditEvent(body(broken)), broken).toBeUndefined();
    // Valid values of every kind stay on the fast path, as stored.
    const fine = '{"p":[-0.5e+3,0,1E9,true,false,null,"\\u00e9\\n",{},[]],"type":"A"}';
    expect(storedAuditEvent(body(fine))).toEqual({ type: 'A', json: fine });
    // A type with a control character would break the SSE event line: no frame.
    expect(storedAuditEvent(body('{"type":"A\\nB"}'))).toBeUndefined();
  });
});

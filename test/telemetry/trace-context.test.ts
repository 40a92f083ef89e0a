/**
 * W3C trace context values, their place in kernel events (kerno's JSON and the serde codec keep
 * them), the OTEL_* resolution, and the recovery/approval spans' parents.
 */
import { describe, expect, it } from 'vitest';
import {
  canonicalKernelEventJson,
  decodeKernelEvent,
  encodeKernelEvent,
  parseKernelEvent,
  type KernelEvent,
} from '../../src/model/kernel-event.js';
import { decodeSerdeEvent, encodeSerdeEvent } from '../../src/formats/oxios-kernel-event.js';
import { canonicalJson } from '../../src/util/canonical-json.js';
import {
  checkTraceHeaders,
  formatTraceparent,
  isTracestate,
  parseTraceparent,
} from '../../src/util/trace-context.js';
import { resolveOtlpConfig } from '../../src/telemetry/otlp.js';
import { openTelemetry } from '../../src/telemetry/telemetry.js';
import type { LiveSpan, SpanStart, TraceSink } from '../../src/telemetry/tracer.js';
import { ManualClock } from '../../src/util/clock.js';
import { createMemoryLogger } from '../../src/util/logger.js';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('traceparent and tracestate', () => {
  it('parses valid values and refuses the invalid ones the spec names', () => {
    expect(parseTraceparent(TP)).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
    });
    expect(formatTraceparent(parseTraceparent(TP)!)).toBe(TP);
    for (const bad of [
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // zero span id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      `${TP}-extra`, // version 00 has four fields
      'nonsense',
      42,
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
    // a later version may add fields
    expect(parseTraceparent(`01-${TP.slice(3)}-what-ever`)).toBeDefined();
    expect(isTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')).toBe(true);
    expect(isTracestate('no spaces=inside')).toBe(false);
    expect(() => checkTraceHeaders('bad', undefined, 'here')).toThrow(/traceparent must be/);
    expect(() => checkTraceHeaders(undefined, 'a=b', 'here')).toThrow(/needs a traceparent/);
  });

  it('rides on any kernel event through kerno JSON, canonical JSON and serde', () => {
    const event = {
      type: 'AgentStarted',
      id: '0190a6e2-7c1b-7abc-8def-0123456789ab',
      traceparent: TP,
      tracestate: 'k=v',
    } as KernelEvent;
    const json = encodeKernelEvent(event);
    expect(json).toBe(
      `{"type":"AgentStarted","id":"0190a6e2-7c1b-7abc-8def-0123456789ab","traceparent":"${TP}","tracestate":"k=v"}`,
    );
    expect(decodeKernelEvent(json)).toEqual(event);
    expect(canonicalKernelEventJson(event)).toBe(canonicalJson(event as never));
    const serde = encodeSerdeEvent(event);
    expect(serde).toBe(
      `{"AgentStarted":{"id":"0190a6e2-7c1b-7abc-8def-0123456789ab","traceparent":"${TP}","tracestate":"k=v"}}`,
    );
    expect(decodeSerdeEvent(serde)).toEqual(event);
    // kerno's own variants too
    const own = {
      type: 'AgentRestarted',
      id: '0190a6e2-7c1b-7abc-8def-0123456789ab',
      restarts: 1,
      delayMs: 5,
      traceparent: TP,
    } as KernelEvent;
    expect(decodeSerdeEvent(encodeSerdeEvent(own))).toEqual(own);
    // without trace context nothing changes
    const plain = { type: 'AgentStarted', id: '0190a6e2-7c1b-7abc-8def-0123456789ab' } as const;
    expect(encodeSerdeEvent(plain)).toBe(
      '{"AgentStarted":{"id":"0190a6e2-7c1b-7abc-8def-0123456789ab"}}',
    );
    expect(() => parseKernelEvent({ ...plain, traceparent: 'x' })).toThrow(
      /AgentStarted.traceparent must be/,
    );
    expect(() => parseKernelEvent({ ...plain, tracestate: 7 })).toThrow(/tracestate/);
  });
});

describe('OTEL_* resolution', () => {
  it('exports only when configured, and names what is not built in', () => {
    expect(resolveOtlpConfig({}).tracesUrl).toBeUndefined();
    expect(resolveOtlpConfig({ OTEL_TRACES_EXPORTER: 'otlp' }).tracesUrl).toBe(
      'http://localhost:4318/v1/traces',
    );
    const c = resolveOtlpConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:pw@collector:4318/',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:9/custom',
      OTEL_EXPORTER_OTLP_HEADERS: 'a=1,b=x%3Dy',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'a=2',
      OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs,x=y',
      OTEL_TRACES_EXPORTER: 'otlp,zipkin',
    });
    expect(c.tracesUrl).toBe('https://user:pw@collector:4318/v1/traces');
    expect(c.metricsUrl).toBe('http://m:9/custom');
    expect(c.tracesHeaders).toEqual({ a: '2', b: 'x=y' });
    expect(c.metricsHeaders).toEqual({ a: '1', b: 'x=y' });
    expect(c.resource['service.name']).toBe('from-attrs');
    expect(c.notices).toEqual([expect.stringMatching(/zipkin is not built into kerno/)]);
    const grpc = resolveOtlpConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    });
    expect(grpc.tracesUrl).toBeUndefined();
    expect(grpc.notices[0]).toMatch(/only http\/json is/);
    expect(() =>
      resolveOtlpConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_BSP_MAX_QUEUE_SIZE: 'lots' }),
    ).toThrow(/OTEL_BSP_MAX_QUEUE_SIZE must be a number/);
    expect(() => resolveOtlpConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://x' })).toThrow(
      /must be http/,
    );
    expect(() =>
      resolveOtlpConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_HEADERS: 'token' }),
    ).toThrow(/values are not shown/);
    // nothing exported: the other variables are not read, so they cannot fail the open
    expect(resolveOtlpConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'token' }).tracesUrl).toBeUndefined();
  });
});

/** A sink that records the spans it is asked for (the seam the exporters implement). */
function recordingSink(): TraceSink & { spans: (SpanStart & { id: string; ended: boolean })[] } {
  const spans: (SpanStart & { id: string; ended: boolean })[] = [];
  let n = 0;
  return {
    spans,
    fixedIds: true,
    startSpan(start): LiveSpan {
      const id = (++n).toString(16).padStart(16, '0');
      const rec = { ...start, id, ended: false };
      spans.push(rec);
      return {
        context: { traceId: start.parent?.traceId ?? 'a'.repeat(32), spanId: id, traceFlags: 1 },
        setAttributes: () => undefined,
        addEvent: () => undefined,
        discard: () => undefined,
        end: () => void (rec.ended = true),
      };
    },
    flush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

describe('recovery and approval spans', () => {
  it("puts an incident's decisions in one trace and an approval outside a run at a root", async () => {
    const sink = recordingSink();
    const t = await openTelemetry({
      clock: new ManualClock(),
      logger: createMemoryLogger(),
      env: {},
      sink,
    });
    const decided = (attempt: number, action: 'retry' | 'rollback') =>
      t!.observe({
        type: 'RecoveryDecided',
        agentId: '0190a6e2-7c1b-7abc-8def-0123456789ab',
        runId: 'rec-1',
        attempt,
        failureClass: 'runtime',
        action,
        rationale: 'may hold secrets',
      });
    decided(1, 'retry');
    decided(2, 'rollback');
    expect(sink.spans.map((s) => s.name)).toEqual(['recovery retry', 'recovery rollback']);
    expect(sink.spans[1]!.parent?.spanId).toBe(sink.spans[0]!.id);
    expect(sink.spans[1]!.attributes).toMatchObject({
      'kerno.recovery.attempt': 2,
      'kerno.failure.class': 'runtime',
      'kerno.recovery.action': 'rollback',
    });
    expect(JSON.stringify(sink.spans)).not.toContain('secrets');
    t!.approvalDecided(
      {
        id: 'g1',
        gateId: 'hitl-1',
        action: 'restart',
        origin: 'escalation',
        agentName: 'worker',
        request: { agent_id: 'not-a-run', requested_at: '2026-01-01T00:00:00Z' },
      },
      { approved: false, decidedBy: 'timeout', decidedAt: '2026-01-01T00:01:00Z', timedOut: true },
    );
    const approval = sink.spans[2]!;
    expect(approval.name).toBe('approval restart');
    expect(approval.parent).toBeUndefined();
    expect(approval.startMs).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(approval.ended).toBe(true);
    await t!.close();
  });
});

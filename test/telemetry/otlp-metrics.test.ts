/**
 * Metrics alongside Prometheus: the daemon's `/metrics` counters and gauges go to an OTLP/HTTP
 * JSON receiver as well (cumulative sums and gauges), at the interval and at shutdown.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app.js';
import { otlpMetricsBody, parsePrometheusText } from '../../src/telemetry/otlp.js';
import { testKernel } from '../helpers/kernel.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';

let receiver: OtlpReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

interface OtlpMetric {
  name: string;
  description: string;
  sum?: { dataPoints: { asInt?: string; asDouble?: number }[]; isMonotonic: boolean };
  gauge?: { dataPoints: { asInt?: string; asDouble?: number }[] };
}

describe('OTLP metrics', () => {
  it('exports the same metrics /metrics shows, flushed when the kernel closes', async () => {
    receiver = await startOtlpReceiver();
    const k = await testKernel({
      telemetry: {
        env: {
          OTEL_METRICS_EXPORTER: 'otlp',
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.url}/custom/metrics`,
          OTEL_METRIC_EXPORT_INTERVAL: '3600000',
        },
      },
    });
    expect(k.kernel.telemetry?.traces).toBeUndefined();
    const token = 'kerno_test_admin_token_0123456789';
    const server = await createServer(k.kernel, { token });
    const text = (
      await server.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${token}` },
      })
    ).body;
    expect(text).toContain('kerno_otlp_exported_total{signal="metrics"} 0');
    await server.close();
    await k.cleanup();

    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.path).toBe('/custom/metrics');
    const body = receiver.requests[0]!.body as {
      resourceMetrics: { scopeMetrics: { metrics: OtlpMetric[] }[] }[];
    };
    const metrics = body.resourceMetrics[0]!.scopeMetrics[0]!.metrics;
    const names = new Set(metrics.map((m) => m.name));
    for (const s of parsePrometheusText(text)) expect(names.has(s.name), s.name).toBe(true);
    const published = metrics.find((m) => m.name === 'kerno_bus_published_total')!;
    expect(published.sum?.isMonotonic).toBe(true);
    expect(Number(published.sum!.dataPoints[0]!.asInt)).toBeGreaterThanOrEqual(0);
    const agents = metrics.find((m) => m.name === 'kerno_agents')!;
    expect(agents.gauge!.dataPoints).toHaveLength(5);
  });

  it('reads Prometheus text back and encodes counters, gauges and histograms', () => {
    const samples = parsePrometheusText(
      '# HELP a_total Things\n# TYPE a_total counter\na_total{k="v \\"q\\""} 3\n# TYPE g gauge\ng 1.5\n',
    );
    expect(samples).toEqual([
      { name: 'a_total', type: 'counter', help: 'Things', value: 3, labels: { k: 'v "q"' } },
      { name: 'g', type: 'gauge', help: 'g', value: 1.5 },
    ]);
    const body = otlpMetricsBody(
      [
        ...samples,
        {
          name: 'h',
          type: 'histogram',
          help: 'durations',
          bounds: [10, 100],
          counts: [1, 2, 0],
          sum: 70,
          count: 3,
        },
      ],
      { 'service.name': 'x' },
      1000,
      2000,
    ) as { resourceMetrics: { scopeMetrics: { metrics: Record<string, unknown>[] }[] }[] };
    const [a, g, h] = body.resourceMetrics[0]!.scopeMetrics[0]!.metrics;
    expect(a).toMatchObject({
      sum: {
        aggregationTemporality: 2,
        isMonotonic: true,
        dataPoints: [
          {
            asInt: '3',
            startTimeUnixNano: '1000000000',
            timeUnixNano: '2000000000',
            attributes: [{ key: 'k', value: { stringValue: 'v "q"' } }],
          },
        ],
      },
    });
    expect(g).toMatchObject({ gauge: { dataPoints: [{ asDouble: 1.5 }] } });
    expect(h).toMatchObject({
      histogram: {
        dataPoints: [
          { count: '3', sum: 70, bucketCounts: ['1', '2', '0'], explicitBounds: [10, 100] },
        ],
      },
    });
  });
});

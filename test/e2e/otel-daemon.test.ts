/**
 * The daemon configured by the standard OTEL_* variables: a durable process agent's run started
 * through the API with a caller's traceparent arrives at a real OTLP/HTTP JSON receiver as one
 * trace under the caller's span, and the /metrics set arrives too, flushed when the daemon stops.
 * Needs dist/ (`npx tsc -p tsconfig.build.json`).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { attributesOf, startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { tempDir } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

const EXAMPLE = join(import.meta.dirname, '../../examples/agents/durable-steps.mjs');
const CALLER = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

async function api<T>(d: Daemon, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(d.url + path, {
    method,
    headers: {
      authorization: `Bearer ${d.token}`,
      traceparent: CALLER,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

describe('kerno up with OTEL_* variables', () => {
  it('exports a run started through the API as one trace under the caller, and the metrics', async () => {
    const receiver = await startOtlpReceiver();
    const { dir, cleanup } = tempDir('kerno-otel-daemon-');
    const d = await startDaemon(['--home', dir], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: 'kerno-daemon-test',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20collector-secret',
      OTEL_BSP_SCHEDULE_DELAY: '60000',
      OTEL_METRIC_EXPORT_INTERVAL: '3600000',
    });
    try {
      await api(d, 'POST', '/api/runs/agents', {
        name: 'steps',
        process: {
          command: process.execPath,
          args: [EXAMPLE],
          env: {
            DURABLE_STEPS_FILE: join(dir, 'steps.txt'),
            DURABLE_STEPS: '2',
            DURABLE_WORK_MS: '0',
          },
        },
      });
      const { id } = await api<{ id: string }>(d, 'POST', '/api/runs', { agent: 'steps' });
      await waitFor(
        async () =>
          (await api<{ status: string }>(d, 'GET', `/api/runs/${id}`)).status === 'completed',
        'the run to complete',
        30_000,
      );
      expect(await d.stop()).toBe(0);

      const spans = receiver.spans();
      expect(new Set(spans.map((s) => s.traceId))).toEqual(
        new Set(['0af7651916cd43dd8448eb211c80319c']),
      );
      const root = spans.find((s) => s.name === 'run steps')!;
      expect(root.parentSpanId).toBe('b7ad6b7169203331');
      expect(attributesOf(root)).toMatchObject({
        'kerno.run.id': id,
        'kerno.run.status': 'completed',
      });
      expect(root.resource['service.name']).toBe('kerno-daemon-test');
      const steps = spans.filter((s) => s.name.startsWith('step step-'));
      expect(steps.map((s) => s.name).sort()).toEqual(['step step-1', 'step step-2']);
      for (const s of steps) expect(s.parentSpanId).toBe(root.spanId);

      const metrics = receiver.requests.filter((r) => r.path === '/v1/metrics');
      expect(metrics).toHaveLength(1);
      expect(JSON.stringify(metrics[0]!.body)).toContain('kerno_bus_published_total');
      expect(
        receiver.requests.every((r) => r.headers.authorization === 'Bearer collector-secret'),
      ).toBe(true);
      expect(d.output()).not.toContain('collector-secret');
    } finally {
      if (d.child.exitCode === null) await d.stop();
      await receiver.close();
      cleanup();
    }
  });
});

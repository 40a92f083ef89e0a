/**
 * kerno's spans go to the program's global TracerProvider when one is registered through
 * `@opentelemetry/api` (here `@opentelemetry/sdk-trace-base` with its in-memory exporter), with
 * the same tree as over OTLP: run root, step children, attempts, the approval with its decision.
 */
import { SpanStatusCode, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { createKernel } from '../../src/kernel.js';
import { journalView, readJournal } from '../../src/runs/journal.js';
import { parseTraceparent } from '../../src/util/trace-context.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from '../helpers/stores.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(provider);
afterAll(async () => {
  trace.disable();
  await provider.shutdown();
});

const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

describe('spans through @opentelemetry/api', () => {
  it('sends a run, its retried step and its approval to the global TracerProvider', async () => {
    const { dir, cleanup } = tempDir('kerno-otel-api-');
    const kernel = await createKernel({
      store: 'memory:',
      stateDir: dir,
      logger: silentLogger,
      registryKey: 'otel api key',
      registryScryptCost: 1024,
      // OTLP configured too: the program's provider takes precedence for traces.
      telemetry: { env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9/v1/traces' } },
    });
    try {
      expect(kernel.telemetry?.traces).toBe('otel-api');
      kernel.define({
        name: 'writer',
        run: async (ctx) => {
          const draft = await ctx.step(
            'draft',
            ({ attempt }) => {
              if (attempt < 3) throw new RangeError('not yet');
              return 'text';
            },
            { retry: { attempts: 3, backoffMs: 1 } },
          );
          const d = await ctx.requestApproval({ summary: 'publish?', action: 'publish' });
          return { draft, approved: d.approved };
        },
      });
      const run = await kernel.start('writer', {});
      await new Promise<void>((resolve) => {
        const off = kernel.runs.onStatus((r) => {
          if (r.id === run.id && r.status === 'waiting') {
            off();
            resolve();
          }
        });
      });
      const [gate] = kernel.approvals.list({ status: 'pending' });
      await kernel.approvals.reject(gate!.id, { by: 'carol', reason: 'not today' });
      expect(await run.result()).toEqual({ draft: 'text', approved: false });

      const spans = exporter.getFinishedSpans();
      const byName = (n: string) => spans.filter((s) => s.name === n);
      const runSpan = byName('run writer')[0]!;
      expect(runSpan.attributes).toMatchObject({
        'kerno.run.id': run.id,
        'kerno.run.status': 'completed',
      });
      expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
      const step = byName('step draft')[0]!;
      expect(parentOf(step)).toBe(runSpan.spanContext().spanId);
      expect(step.attributes['kerno.step.attempts']).toBe(3);
      const attempts = byName('step.attempt');
      expect(attempts.map((a) => a.attributes['kerno.step.attempt']).sort()).toEqual([1, 2, 3]);
      expect(attempts.every((a) => parentOf(a) === step.spanContext().spanId)).toBe(true);
      expect(attempts.filter((a) => a.status.code === SpanStatusCode.ERROR)).toHaveLength(2);
      expect(
        attempts.find((a) => a.status.code === SpanStatusCode.ERROR)!.attributes['error.type'],
      ).toBe('RangeError');
      const approval = byName('approval publish')[0]!;
      expect(parentOf(approval)).toBe(runSpan.spanContext().spanId);
      expect(approval.attributes).toMatchObject({
        'kerno.approval.decision': 'rejected',
        'kerno.approval.decided_by': 'carol',
      });
      expect(JSON.stringify(approval.attributes)).not.toContain('not today');

      const journal = await readJournal(journalView(kernel.storage.log, run.id, () => Date.now()));
      expect(parseTraceparent(journal[0]!.traceparent)?.spanId).toBe(step.spanContext().spanId);
    } finally {
      await kernel.close();
      cleanup();
    }
  });
});

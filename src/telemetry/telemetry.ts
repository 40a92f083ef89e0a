/**
 * kerno's telemetry: the spans of runs, steps (and their attempts), approvals and recovery
 * decisions, and the OTLP export of the metrics `/metrics` shows. {@link openTelemetry} decides
 * once, when the kernel opens, where spans go: the program's global `@opentelemetry/api`
 * TracerProvider when one is registered, else the built-in OTLP/HTTP JSON exporter when the
 * `OTEL_*` variables configure one, else nowhere — then it answers `undefined` and the parts get
 * no tracer at all (no span objects, no allocations on their paths).
 *
 * Span names and attributes (`kerno.*` plus `service.name`, `error.type`, the span status):
 *
 * - `run <agent>` — the root of a run's trace, from `run.started` to `run.ended`
 *   (`kerno.run.id`, `kerno.agent.name`, `kerno.agent.version`, `kerno.run.status`). Its
 *   traceparent is recorded in `run.started`; a run resumed after a restart continues the same
 *   trace (the built-in exporter re-creates the root with its recorded ids and start and marks it
 *   `kerno.run.resumed`; through the OTel API, whose span ids cannot be chosen, a
 *   `run.resume <agent>` span is a child of the recorded root, linked to it).
 * - `step <name>` — one per executed step (`kerno.step.key`, `kerno.step.attempts`); each
 *   attempt a child `step.attempt` (`kerno.step.attempt`, 1-based). A step answered from the
 *   journal on a replay is not a span: it is a `kerno.step.replayed` event on the run span.
 * - `approval <action>` — from the request to the decision (`kerno.approval.id`,
 *   `kerno.approval.decision` approved|rejected, `kerno.approval.decided_by`,
 *   `kerno.approval.origin`, `kerno.approval.timed_out`); a run's approval is a child of the run.
 *   Never the summary, reason or note.
 * - `recovery <action>` — a recovery decision (`kerno.agent.id`, `kerno.recovery.run_id`,
 *   `kerno.recovery.attempt`, `kerno.failure.class`, `kerno.recovery.action`); the decisions of
 *   one incident share a trace.
 *
 * @module
 */
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { KernelEvent } from '../model/kernel-event.js';
import {
  OtlpMetricExporter,
  OtlpTraceSink,
  resolveOtlpConfig,
  type ExporterStats,
  type MetricCollector,
  type MetricSample,
  type OtlpConfig,
} from './otlp.js';
import { globalTracerProviderRegistered, openOtelApiSink } from './otel-api.js';
import {
  contextFromHeaders,
  traceHeaders,
  type SpanContext,
  type TraceHeaders,
} from '../util/trace-context.js';
import type { LiveSpan, TraceSink } from './tracer.js';

/** A run as the run tracer is told about it. */
export interface TracedRun {
  readonly id: string;
  readonly agent: string;
  readonly version: string;
  readonly startedAtMs: number;
  /** The trace context recorded in its `run.started` record, if any. */
  readonly trace?: TraceHeaders | undefined;
  /** The caller's span the run's root is a child of, if any. */
  readonly parent?: TraceHeaders | undefined;
}

/** How a step (or a run) ended, as much as a span may say: the error's kind, never its text. */
export interface TracedError {
  readonly name: string;
  readonly code?: string | undefined;
}

/** One attempt of a step. */
export interface AttemptTrace {
  /** The attempt span's context: what the step's work passes on (`StepScope.traceparent`). */
  readonly headers: TraceHeaders;
  end(error?: TracedError): void;
}

/** One executed step. */
export interface StepTrace {
  /** The step span's context: recorded in its journal record and its kernel events. */
  readonly headers: TraceHeaders;
  attempt(n: number): AttemptTrace;
  end(attempts: number, error?: TracedError): void;
}

/** One execution of a run (its spans' parent). */
export interface ExecutionTrace {
  /** The run span's context: recorded in the journal, handed to a process agent. */
  readonly headers: TraceHeaders;
  /** A step that executes now; `parent` is the caller's trace context (a process agent's). */
  step(name: string, key: string, parent?: TraceHeaders): StepTrace;
  /** A step the journal answered (not executed again). */
  replayed(key: string): void;
}

/** What the run engine is given when tracing is on. */
export interface RunTracer {
  /** A run starts: its root span begins; the answer is recorded in `run.started`. */
  started(run: TracedRun): TraceHeaders;
  /** An execution of the run begins (after the start, a wake-up or a restart). */
  execution(run: TracedRun): ExecutionTrace;
  /** This kernel ended the run. */
  ended(
    run: TracedRun,
    status: 'completed' | 'failed' | 'cancelled',
    error: TracedError | undefined,
    atMs: number,
  ): void;
  /** The run ended elsewhere (or this kernel closes): forget its span without exporting it. */
  forget(runId: string): void;
}

/** What an approval span is built from (an approval gate's snapshot and decision). */
export interface TracedApproval {
  readonly id: string;
  readonly gateId: string;
  readonly action: string;
  readonly origin: string;
  readonly agentName: string | null;
  readonly request: { readonly agent_id: string; readonly requested_at: string };
}

/** The decision of a traced approval. */
export interface TracedDecision {
  readonly approved: boolean;
  readonly decidedBy: string;
  readonly decidedAt: string;
  readonly timedOut: boolean;
}

/** Counters of the exporters, for `/metrics`. */
export interface TelemetryStats {
  readonly traces?: ExporterStats & { readonly queued: number };
  readonly metrics?: ExporterStats;
}

/** The kernel's telemetry (present only when something is configured). */
export interface Telemetry {
  /** Where spans go: `'otlp'` (built in), `'otel-api'` (the global provider), or `undefined`. */
  readonly traces: 'otlp' | 'otel-api' | undefined;
  /** The tracer the run engine is given (`undefined` without tracing). */
  readonly runs: RunTracer | undefined;
  /** An approval was decided. */
  approvalDecided(gate: TracedApproval, decision: TracedDecision): void;
  /** A kernel event went by (recovery decisions become spans). */
  observe(event: KernelEvent): void;
  /** Exports these metrics via OTLP every interval (when metric export is configured). */
  exportMetrics(collect: MetricCollector): void;
  stats(): TelemetryStats;
  /** Flushes what is queued now. */
  flush(): Promise<void>;
  /** Flushes and stops (spans of runs still going are not exported: they end elsewhere). */
  close(): Promise<void>;
}

/** Options of {@link openTelemetry}. */
export interface TelemetryOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The variables to read (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A trace sink of your own (takes precedence over the global provider and OTLP). */
  readonly sink?: TraceSink;
  /** kerno's version, for the instrumentation scope. */
  readonly version?: string;
}

/**
 * Opens telemetry as the environment configures it, or answers `undefined` when nothing is
 * configured (no global TracerProvider, no OTLP export): the kernel then builds no span at all.
 */
export async function openTelemetry(options: TelemetryOptions): Promise<Telemetry | undefined> {
  const config = resolveOtlpConfig(options.env ?? process.env);
  for (const notice of config.notices) options.logger.warn(notice);
  const version = options.version ?? '';
  let sink: TraceSink | undefined = options.sink;
  let traces: Telemetry['traces'] = sink === undefined ? undefined : 'otlp';
  if (sink === undefined && globalTracerProviderRegistered()) {
    sink = await openOtelApiSink(options.clock, version);
    if (sink !== undefined) traces = 'otel-api';
  }
  if (sink === undefined && config.tracesUrl !== undefined) {
    sink = new OtlpTraceSink({ config, clock: options.clock, logger: options.logger, version });
    traces = 'otlp';
  }
  if (sink === undefined && config.metricsUrl === undefined) return undefined;
  return new KernelTelemetry(sink, traces, config, options.clock, options.logger, version);
}

const errorOf = (e: TracedError | undefined): { type: string } | undefined =>
  e === undefined ? undefined : { type: e.code === undefined ? e.name : `${e.name} (${e.code})` };

const MAX_INCIDENTS = 1024;

class KernelTelemetry implements Telemetry {
  readonly traces: Telemetry['traces'];
  readonly runs: RunTracer | undefined;
  readonly #sink: TraceSink | undefined;
  readonly #config: OtlpConfig;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #version: string;
  #metrics: OtlpMetricExporter | undefined;
  /** The live span of each run this kernel executes. */
  readonly #runSpans = new Map<string, LiveSpan>();
  /** The first decision span of each recent recovery incident (later ones are its children). */
  readonly #incidents = new Map<string, SpanContext>();

  constructor(
    sink: TraceSink | undefined,
    traces: Telemetry['traces'],
    config: OtlpConfig,
    clock: Clock,
    logger: Logger,
    version: string,
  ) {
    this.#sink = sink;
    this.traces = traces;
    this.#config = config;
    this.#clock = clock;
    this.#logger = logger;
    this.#version = version;
    this.runs = sink === undefined ? undefined : this.#runTracer(sink);
  }

  #runTracer(sink: TraceSink): RunTracer {
    const spans = this.#runSpans;
    const runAttributes = (run: TracedRun) => ({
      'kerno.run.id': run.id,
      'kerno.agent.name': run.agent,
      'kerno.agent.version': run.version,
    });
    const spanOf = (run: TracedRun): LiveSpan => {
      const live = spans.get(run.id);
      if (live !== undefined) return live;
      const recorded =
        run.trace === undefined
          ? undefined
          : contextFromHeaders(run.trace.traceparent, run.trace.tracestate);
      let span: LiveSpan;
      if (recorded !== undefined && sink.fixedIds) {
        // The same root as before the restart: its ids and start, exported once, at the end.
        span = sink.startSpan({
          name: `run ${run.agent}`,
          ids: { traceId: recorded.traceId, spanId: recorded.spanId },
          parent:
            run.parent === undefined
              ? undefined
              : contextFromHeaders(run.parent.traceparent, run.parent.tracestate),
          startMs: run.startedAtMs,
          attributes: { ...runAttributes(run), 'kerno.run.resumed': true },
        });
        span.addEvent('kerno.run.resumed');
      } else if (recorded !== undefined) {
        span = sink.startSpan({
          name: `run.resume ${run.agent}`,
          parent: recorded,
          links: [{ context: recorded, attributes: { 'kerno.link': 'run' } }],
          attributes: { ...runAttributes(run), 'kerno.run.resumed': true },
        });
      } else {
        // A run from before tracing was on: a root of its own from its start.
        span = sink.startSpan({
          name: `run ${run.agent}`,
          startMs: run.startedAtMs,
          attributes: runAttributes(run),
        });
      }
      spans.set(run.id, span);
      return span;
    };
    return {
      started: (run) => {
        const span = sink.startSpan({
          name: `run ${run.agent}`,
          parent:
            run.parent === undefined
              ? undefined
              : contextFromHeaders(run.parent.traceparent, run.parent.tracestate),
          startMs: run.startedAtMs,
          attributes: runAttributes(run),
        });
        spans.set(run.id, span);
        return traceHeaders(span.context);
      },
      execution: (run) => {
        const span = spanOf(run);
        const headers = traceHeaders(span.context);
        return {
          headers,
          replayed: (key) => span.addEvent('kerno.step.replayed', { 'kerno.step.key': key }),
          step: (name, key, parent) => {
            const caller =
              parent === undefined
                ? undefined
                : contextFromHeaders(parent.traceparent, parent.tracestate);
            const step = sink.startSpan({
              name: `step ${name}`,
              parent: caller ?? span.context,
              ...(caller === undefined
                ? {}
                : { links: [{ context: span.context, attributes: { 'kerno.link': 'run' } }] }),
              attributes: {
                'kerno.run.id': run.id,
                'kerno.step.key': key,
                'kerno.step.name': name,
              },
            });
            return {
              headers: traceHeaders(step.context),
              attempt: (n) => {
                const attempt = sink.startSpan({
                  name: 'step.attempt',
                  parent: step.context,
                  attributes: { 'kerno.step.key': key, 'kerno.step.attempt': n },
                });
                return {
                  headers: traceHeaders(attempt.context),
                  end: (error) => attempt.end({ error: errorOf(error) }),
                };
              },
              end: (attempts, error) =>
                step.end({
                  error: errorOf(error),
                  attributes: { 'kerno.step.attempts': attempts },
                }),
            };
          },
        };
      },
      ended: (run, status, error, atMs) => {
        const span = spanOf(run);
        spans.delete(run.id);
        span.end({
          endMs: atMs,
          error: status === 'failed' ? (errorOf(error) ?? { type: 'Error' }) : undefined,
          attributes: { 'kerno.run.status': status },
        });
      },
      forget: (runId) => {
        spans.get(runId)?.discard();
        spans.delete(runId);
      },
    };
  }

  approvalDecided(gate: TracedApproval, decision: TracedDecision): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    const parent = this.#runSpans.get(gate.request.agent_id)?.context;
    const startMs = Date.parse(gate.request.requested_at);
    const endMs = Date.parse(decision.decidedAt);
    const span = sink.startSpan({
      name: `approval ${gate.action}`,
      parent,
      startMs: Number.isFinite(startMs) ? startMs : undefined,
      attributes: {
        'kerno.approval.id': gate.id,
        'kerno.approval.gate_id': gate.gateId,
        'kerno.approval.action': gate.action,
        'kerno.approval.origin': gate.origin,
        'kerno.agent.name': gate.agentName ?? undefined,
        ...(parent === undefined ? {} : { 'kerno.run.id': gate.request.agent_id }),
      },
    });
    span.end({
      endMs: Number.isFinite(endMs) ? endMs : undefined,
      attributes: {
        'kerno.approval.decision': decision.approved ? 'approved' : 'rejected',
        'kerno.approval.decided_by': decision.decidedBy,
        'kerno.approval.timed_out': decision.timedOut,
      },
    });
  }

  observe(event: KernelEvent): void {
    const sink = this.#sink;
    if (sink === undefined || event.type !== 'RecoveryDecided') return;
    const first = this.#incidents.get(event.runId);
    const span = sink.startSpan({
      name: `recovery ${event.action}`,
      parent: first,
      attributes: {
        'kerno.agent.id': event.agentId,
        'kerno.recovery.run_id': event.runId,
        'kerno.recovery.attempt': event.attempt,
        'kerno.failure.class': event.failureClass,
        'kerno.recovery.action': event.action,
      },
    });
    span.end();
    if (first === undefined) {
      this.#incidents.set(event.runId, span.context);
      if (this.#incidents.size > MAX_INCIDENTS) {
        this.#incidents.delete(this.#incidents.keys().next().value!);
      }
    }
  }

  exportMetrics(collect: MetricCollector): void {
    if (this.#config.metricsUrl === undefined || this.#metrics !== undefined) return;
    const exporterStats = (): MetricSample[] => this.#exporterSamples();
    this.#metrics = new OtlpMetricExporter({
      config: this.#config,
      clock: this.#clock,
      logger: this.#logger,
      version: this.#version,
      collect: async () => [...(await collect()), ...exporterStats()],
    });
  }

  #exporterSamples(): MetricSample[] {
    const s = this.stats();
    const out: MetricSample[] = [];
    for (const [signal, st] of [
      ['traces', s.traces],
      ['metrics', s.metrics],
    ] as const) {
      if (st === undefined) continue;
      const labels = { signal };
      out.push(
        {
          name: 'kerno_otlp_exported_total',
          type: 'counter',
          help: 'Items exported via OTLP',
          value: st.exported,
          labels,
        },
        {
          name: 'kerno_otlp_dropped_total',
          type: 'counter',
          help: 'Items dropped (queue full or export failed)',
          value: st.dropped,
          labels,
        },
        {
          name: 'kerno_otlp_failed_exports_total',
          type: 'counter',
          help: 'OTLP export requests that failed after retries',
          value: st.failedExports,
          labels,
        },
      );
    }
    return out;
  }

  stats(): TelemetryStats {
    const traces = this.#sink instanceof OtlpTraceSink ? this.#sink.stats() : undefined;
    const metrics = this.#metrics?.stats();
    return {
      ...(traces === undefined ? {} : { traces }),
      ...(metrics === undefined ? {} : { metrics }),
    };
  }

  /** Prometheus-side view of the exporters' counters. */
  samples(): MetricSample[] {
    return this.#exporterSamples();
  }

  async flush(): Promise<void> {
    await this.#sink?.flush();
  }

  async close(): Promise<void> {
    for (const span of this.#runSpans.values()) span.discard();
    this.#runSpans.clear();
    await Promise.allSettled([this.#sink?.shutdown(), this.#metrics?.shutdown()]);
  }
}

/** The exporter counters as metric samples (for `/metrics`), empty without telemetry. */
export function telemetrySamples(telemetry: Telemetry | undefined): MetricSample[] {
  return telemetry instanceof KernelTelemetry ? telemetry.samples() : [];
}

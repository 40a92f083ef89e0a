/**
 * A small built-in OTLP/HTTP **JSON** exporter for traces and metrics, configured by the
 * standard `OTEL_*` variables (the upstream `@opentelemetry/exporter-*-otlp-http` packages need
 * Node 22 in their current versions; kerno supports Node 20).
 *
 * Spans are batched (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_SCHEDULE_DELAY`) in a bounded
 * queue (`OTEL_BSP_MAX_QUEUE_SIZE`; a full queue drops and counts), posted with a timeout
 * (`OTEL_EXPORTER_OTLP_TIMEOUT`), retried on 429/502/503/504 with backoff (honouring
 * `Retry-After`), and flushed on shutdown. An export failure never throws into the kernel: it is
 * counted, and logged once per outage (the endpoint without credentials, never the headers).
 *
 * @module
 */
import { KernelError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type {
  Attributes,
  AttributeValue,
  LiveSpan,
  SpanEnd,
  SpanStart,
  TraceSink,
} from './tracer.js';
import { newSpanId, newTraceId, type SpanContext } from '../util/trace-context.js';

/** The OTLP settings kerno resolved from the environment (or options). */
export interface OtlpConfig {
  /** Span export: the `/v1/traces` URL, or `undefined` when traces are not exported. */
  readonly tracesUrl: string | undefined;
  /** Metric export: the `/v1/metrics` URL, or `undefined`. */
  readonly metricsUrl: string | undefined;
  readonly tracesHeaders: Readonly<Record<string, string>>;
  readonly metricsHeaders: Readonly<Record<string, string>>;
  /** Resource attributes: `service.name` and `OTEL_RESOURCE_ATTRIBUTES`. */
  readonly resource: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly scheduleDelayMs: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly metricIntervalMs: number;
  /** What the configuration could not honour (a protobuf or gRPC protocol …), said at start. */
  readonly notices: readonly string[];
}

type Env = Readonly<Record<string, string | undefined>>;

function num(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `${name} must be a number ≥ ${String(min)}, got ${JSON.stringify(raw).slice(0, 40)}`,
    );
  }
  return Math.floor(n);
}

/** `k=v,k2=v2` (values percent-decoded), as `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES` are written. */
export function parseKeyValueList(raw: string | undefined, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const part of raw.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `${name} must be a comma-separated list of key=value pairs; one entry has no "=" (values are not shown)`,
      );
    }
    let value = part.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not percent-encoded after all: keep it as written.
    }
    out[part.slice(0, eq).trim()] = value;
  }
  return out;
}

function exporterWanted(
  env: Env,
  variable: 'OTEL_TRACES_EXPORTER' | 'OTEL_METRICS_EXPORTER',
  signal: 'TRACES' | 'METRICS',
  notices: string[],
): boolean {
  const raw = env[variable]?.trim().toLowerCase();
  if (raw === undefined || raw === '') {
    // No exporter named: export when an endpoint says where to (kerno costs nothing otherwise).
    return (
      (env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '') !== '' ||
      (env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`] ?? '') !== ''
    );
  }
  const names = raw.split(',').map((s) => s.trim());
  if (names.includes('none')) return false;
  for (const name of names) {
    if (name !== 'otlp') {
      notices.push(`${variable}=${name} is not built into kerno (only otlp and none); ignored`);
    }
  }
  return names.includes('otlp');
}

function signalUrl(env: Env, signal: 'TRACES' | 'METRICS', path: string): string {
  const specific = env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`];
  if (specific !== undefined && specific.trim() !== '') return checkUrl(specific.trim(), signal);
  const base = (env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '').trim() || 'http://localhost:4318';
  return checkUrl(base.replace(/\/+$/, '') + path, signal);
}

function checkUrl(url: string, signal: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `The OTLP ${signal.toLowerCase()} endpoint is not a URL; set OTEL_EXPORTER_OTLP_ENDPOINT to e.g. http://localhost:4318`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `The OTLP ${signal.toLowerCase()} endpoint must be http:// or https://, got ${parsed.protocol}`,
    );
  }
  return url;
}

/** The endpoint as it may be logged: no user info, no query. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/**
 * Resolves the OTLP configuration from `OTEL_*` variables. Traces (metrics) are exported when
 * `OTEL_TRACES_EXPORTER` (`OTEL_METRICS_EXPORTER`) names `otlp`, or is unset and an OTLP
 * endpoint is; `none` or `OTEL_SDK_DISABLED=true` turn export off. Only `http/json` is built
 * in: `http/protobuf` is sent as JSON (OTLP/HTTP receivers accept both) with a notice, `grpc`
 * turns the signal off with a notice.
 */
export function resolveOtlpConfig(env: Env = process.env): OtlpConfig {
  const notices: string[] = [];
  if ((env['OTEL_SDK_DISABLED'] ?? '').trim().toLowerCase() === 'true') {
    return { ...emptyConfig(), notices };
  }
  const protocolOf = (signal: 'TRACES' | 'METRICS'): boolean => {
    const p = (
      env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] ??
      env['OTEL_EXPORTER_OTLP_PROTOCOL'] ??
      'http/json'
    )
      .trim()
      .toLowerCase();
    if (p === 'http/json' || p === '') return true;
    if (p === 'http/protobuf') {
      notices.push(
        `OTLP protocol http/protobuf is not built into kerno: only http/json is; ${signal.toLowerCase()} are sent as http/json (set OTEL_EXPORTER_OTLP_PROTOCOL=http/json to silence this)`,
      );
      return true;
    }
    notices.push(
      `OTLP protocol ${p} is not built into kerno: only http/json is; ${signal.toLowerCase()} are not exported (set OTEL_EXPORTER_OTLP_PROTOCOL=http/json and the OTLP/HTTP endpoint, port 4318)`,
    );
    return false;
  };
  const traces =
    exporterWanted(env, 'OTEL_TRACES_EXPORTER', 'TRACES', notices) && protocolOf('TRACES');
  const metrics =
    exporterWanted(env, 'OTEL_METRICS_EXPORTER', 'METRICS', notices) && protocolOf('METRICS');
  // Nothing exported: the rest of the variables are not read (nor can they fail the kernel's open).
  if (!traces && !metrics) return { ...emptyConfig(), notices };
  const common = parseKeyValueList(env['OTEL_EXPORTER_OTLP_HEADERS'], 'OTEL_EXPORTER_OTLP_HEADERS');
  const resource: Record<string, string> = {
    ...parseKeyValueList(env['OTEL_RESOURCE_ATTRIBUTES'], 'OTEL_RESOURCE_ATTRIBUTES'),
  };
  const serviceName = env['OTEL_SERVICE_NAME']?.trim();
  if (serviceName !== undefined && serviceName !== '') resource['service.name'] = serviceName;
  resource['service.name'] ??= 'kerno';
  resource['telemetry.sdk.name'] = 'kerno';
  resource['telemetry.sdk.language'] = 'nodejs';
  const timeoutMs = num(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', 10_000, 1);
  return {
    tracesUrl: traces ? signalUrl(env, 'TRACES', '/v1/traces') : undefined,
    metricsUrl: metrics ? signalUrl(env, 'METRICS', '/v1/metrics') : undefined,
    tracesHeaders: {
      ...common,
      ...parseKeyValueList(
        env['OTEL_EXPORTER_OTLP_TRACES_HEADERS'],
        'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
      ),
    },
    metricsHeaders: {
      ...common,
      ...parseKeyValueList(
        env['OTEL_EXPORTER_OTLP_METRICS_HEADERS'],
        'OTEL_EXPORTER_OTLP_METRICS_HEADERS',
      ),
    },
    resource,
    timeoutMs: Math.min(timeoutMs, num(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000, 1)),
    scheduleDelayMs: num(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000, 0),
    maxQueueSize: num(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048, 1),
    maxExportBatchSize: num(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512, 1),
    metricIntervalMs: num(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60_000, 1),
    notices,
  };
}

function emptyConfig(): OtlpConfig {
  return {
    tracesUrl: undefined,
    metricsUrl: undefined,
    tracesHeaders: {},
    metricsHeaders: {},
    resource: { 'service.name': 'kerno' },
    timeoutMs: 10_000,
    scheduleDelayMs: 5000,
    maxQueueSize: 2048,
    maxExportBatchSize: 512,
    metricIntervalMs: 60_000,
    notices: [],
  };
}

// ── OTLP JSON encoding ───────────────────────────────────────────────────────────────────────

/** An OTLP `KeyValue`. */
export interface OtlpKeyValue {
  readonly key: string;
  readonly value:
    | { readonly stringValue: string }
    | { readonly intValue: string }
    | { readonly doubleValue: number }
    | { readonly boolValue: boolean };
}

function anyValue(v: AttributeValue): OtlpKeyValue['value'] {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return Number.isSafeInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

/** OTLP attributes (`undefined` values left out). */
export function otlpAttributes(attributes: Attributes | undefined): OtlpKeyValue[] {
  const out: OtlpKeyValue[] = [];
  if (attributes === undefined) return out;
  for (const [key, v] of Object.entries(attributes)) {
    if (v !== undefined) out.push({ key, value: anyValue(v) });
  }
  return out;
}

/** Epoch ms as OTLP's nanosecond string. */
export function nanos(ms: number): string {
  const whole = Math.floor(ms);
  const frac = Math.round((ms - whole) * 1e6);
  return frac === 0 ? `${String(whole)}000000` : String(BigInt(whole) * 1_000_000n + BigInt(frac));
}

const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

// ── delivery ─────────────────────────────────────────────────────────────────────────────────

/** Counters of one exporter. */
export interface ExporterStats {
  /** Items (spans, metric points) delivered. */
  readonly exported: number;
  /** Items dropped: the queue was full, or their export failed for good. */
  readonly dropped: number;
  /** Export requests that failed after their retries. */
  readonly failedExports: number;
  /** Export requests retried (429/502/503/504 or a network error). */
  readonly retries: number;
}

const RETRYABLE = new Set([429, 502, 503, 504]);
const MAX_RETRIES = 4;

/** Posts OTLP JSON bodies with a timeout and retries; never throws. */
class Poster {
  exported = 0;
  dropped = 0;
  failedExports = 0;
  retries = 0;
  #failing = false;
  readonly #closing = new AbortController();

  constructor(
    readonly url: string,
    readonly headers: Readonly<Record<string, string>>,
    readonly timeoutMs: number,
    readonly what: string,
    readonly logger: Logger,
  ) {}

  async post(body: unknown, items: number): Promise<void> {
    const text = JSON.stringify(body);
    let delay = 500;
    for (let attempt = 0; ; attempt++) {
      let status: number | undefined;
      let retryAfterMs: number | undefined;
      let problem: string;
      try {
        const response = await fetch(this.url, {
          method: 'POST',
          headers: { ...this.headers, 'content-type': 'application/json' },
          body: text,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        status = response.status;
        // Read the body so the connection can be reused.
        await response.arrayBuffer().catch(() => undefined);
        if (status >= 200 && status < 300) {
          this.exported += items;
          if (this.#failing) {
            this.#failing = false;
            this.logger.warn(`OTLP ${this.what} export works again`, {
              endpoint: displayUrl(this.url),
            });
          }
          return;
        }
        const after = Number(response.headers.get('retry-after'));
        if (Number.isFinite(after) && after >= 0) retryAfterMs = Math.min(after * 1000, 30_000);
        problem = `HTTP ${String(status)}`;
      } catch (error) {
        problem =
          error instanceof Error && error.name === 'TimeoutError'
            ? `no answer within ${String(this.timeoutMs)} ms`
            : 'the endpoint cannot be reached';
      }
      const retryable = status === undefined || RETRYABLE.has(status);
      if (retryable && attempt < MAX_RETRIES && !this.#closing.signal.aborted) {
        this.retries++;
        await sleep(retryAfterMs ?? delay, this.#closing.signal);
        delay = Math.min(delay * 2, 8000);
        continue;
      }
      this.failedExports++;
      this.dropped += items;
      if (!this.#failing) {
        this.#failing = true;
        this.logger.warn(
          `OTLP ${this.what} export failed (${problem}); the kernel carries on, and further failures are counted (kerno_otlp_failed_exports_total), not logged`,
          { endpoint: displayUrl(this.url) },
        );
      }
      return;
    }
  }

  /** Stops retrying: a pending backoff ends now and the export is given up. */
  stopRetrying(): void {
    this.#closing.abort();
  }

  stats(): ExporterStats {
    return {
      exported: this.exported,
      dropped: this.dropped,
      failedExports: this.failedExports,
      retries: this.retries,
    };
  }
}

/** A real-time wait (export backoff is I/O, not kernel time) that ends early on `signal`. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    timer.unref();
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** An OTLP JSON span, as the exporter queues it. */
export interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly traceState?: string;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes: OtlpKeyValue[];
  readonly events: { timeUnixNano: string; name: string; attributes: OtlpKeyValue[] }[];
  readonly links: {
    traceId: string;
    spanId: string;
    traceState?: string;
    attributes: OtlpKeyValue[];
  }[];
  readonly status: { readonly code: number; readonly message?: string };
  readonly flags: number;
  readonly droppedEventsCount?: number;
}

/** Options of {@link createOtlpTraceSink}. */
export interface OtlpSinkOptions {
  readonly config: OtlpConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The instrumentation scope's version (kerno's). */
  readonly version?: string;
}

/** The built-in trace sink: spans batched to `config.tracesUrl` as OTLP/HTTP JSON. */
export class OtlpTraceSink implements TraceSink {
  readonly fixedIds = true;
  readonly #config: OtlpConfig;
  readonly #clock: Clock;
  readonly #poster: Poster;
  readonly #resource: OtlpKeyValue[];
  readonly #version: string;
  #queue: OtlpSpan[] = [];
  #queueDropped = 0;
  #timer: TimerHandle | undefined;
  readonly #inflight = new Set<Promise<void>>();
  #closed = false;
  #warnedFull = false;
  readonly #logger: Logger;

  constructor(options: OtlpSinkOptions) {
    const url = options.config.tracesUrl;
    if (url === undefined) throw new KernelError('INTERNAL', 'No OTLP traces endpoint');
    this.#config = options.config;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#poster = new Poster(
      url,
      options.config.tracesHeaders,
      options.config.timeoutMs,
      'trace',
      options.logger,
    );
    this.#resource = otlpAttributes(options.config.resource);
    this.#version = options.version ?? '';
  }

  startSpan(start: SpanStart): LiveSpan {
    return new BuiltInSpan(this, start, this.#clock);
  }

  /** Queues an ended span; a full queue drops it (counted). */
  enqueue(span: OtlpSpan): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#config.maxQueueSize) {
      this.#queueDropped++;
      if (!this.#warnedFull) {
        this.#warnedFull = true;
        this.#logger.warn(
          'The OTLP span queue is full; spans are dropped and counted (kerno_otlp_dropped_total) until the endpoint keeps up',
          { maxQueueSize: this.#config.maxQueueSize },
        );
      }
      return;
    }
    this.#queue.push(span);
    if (this.#queue.length >= this.#config.maxExportBatchSize) this.#exportBatch();
    else this.#arm();
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#queue.length === 0) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#exportBatch();
      this.#arm();
    }, this.#config.scheduleDelayMs);
  }

  #exportBatch(): void {
    if (this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, this.#config.maxExportBatchSize);
    const body = {
      resourceSpans: [
        {
          resource: { attributes: this.#resource },
          scopeSpans: [{ scope: { name: 'kerno', version: this.#version }, spans: batch }],
        },
      ],
    };
    const p = this.#poster.post(body, batch.length).finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
    if (this.#queue.length >= this.#config.maxExportBatchSize) this.#exportBatch();
  }

  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#queue.length > 0) this.#exportBatch();
    await Promise.all([...this.#inflight]);
  }

  /**
   * Exports what is queued, one attempt per batch (no backoff: closing a kernel, or a CLI
   * command, never waits on a collector that is down longer than one request's timeout).
   */
  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#poster.stopRetrying();
    try {
      await this.flush();
    } finally {
      this.#closed = true;
    }
  }

  stats(): ExporterStats & { readonly queued: number } {
    const s = this.#poster.stats();
    return { ...s, dropped: s.dropped + this.#queueDropped, queued: this.#queue.length };
  }
}

/** Events kept per span (the OTel SDK's default limit); more are counted as dropped. */
const MAX_SPAN_EVENTS = 128;

class BuiltInSpan implements LiveSpan {
  readonly context: SpanContext;
  readonly #sink: OtlpTraceSink;
  readonly #clock: Clock;
  readonly #start: SpanStart;
  readonly #startMs: number;
  #attributes: Record<string, AttributeValue | undefined>;
  #events: OtlpSpan['events'] | undefined;
  #droppedEvents = 0;
  #ended = false;

  constructor(sink: OtlpTraceSink, start: SpanStart, clock: Clock) {
    this.#sink = sink;
    this.#clock = clock;
    this.#start = start;
    this.#startMs = start.startMs ?? clock.now();
    this.#attributes = { ...start.attributes };
    const parent = start.parent;
    this.context = {
      traceId: start.ids?.traceId ?? parent?.traceId ?? newTraceId(),
      spanId: start.ids?.spanId ?? newSpanId(),
      traceFlags: parent?.traceFlags ?? 1,
      ...(parent?.traceState === undefined ? {} : { traceState: parent.traceState }),
    };
  }

  setAttributes(attributes: Attributes): void {
    Object.assign(this.#attributes, attributes);
  }

  addEvent(name: string, attributes?: Attributes, timeMs?: number): void {
    // Bounded like the OTel SDK's span limits: a long run replayed at every wake-up stays small.
    if ((this.#events?.length ?? 0) >= MAX_SPAN_EVENTS) {
      this.#droppedEvents++;
      return;
    }
    (this.#events ??= []).push({
      timeUnixNano: nanos(timeMs ?? this.#clock.now()),
      name,
      attributes: otlpAttributes(attributes),
    });
  }

  discard(): void {
    this.#ended = true;
  }

  end(end: SpanEnd = {}): void {
    if (this.#ended) return;
    this.#ended = true;
    if (end.attributes !== undefined) Object.assign(this.#attributes, end.attributes);
    if (end.error !== undefined) this.#attributes['error.type'] = end.error.type;
    const parent = this.#start.parent;
    // An unsampled trace is recorded by nobody: the caller said so.
    if ((this.context.traceFlags & 1) === 0) return;
    this.#sink.enqueue({
      traceId: this.context.traceId,
      spanId: this.context.spanId,
      ...(parent === undefined ? {} : { parentSpanId: parent.spanId }),
      ...(this.context.traceState === undefined ? {} : { traceState: this.context.traceState }),
      name: this.#start.name,
      kind: KIND[this.#start.kind ?? 'internal'],
      startTimeUnixNano: nanos(this.#startMs),
      endTimeUnixNano: nanos(Math.max(this.#startMs, end.endMs ?? this.#clock.now())),
      attributes: otlpAttributes(this.#attributes),
      events: this.#events ?? [],
      ...(this.#droppedEvents === 0 ? {} : { droppedEventsCount: this.#droppedEvents }),
      links: (this.#start.links ?? []).map((l) => ({
        traceId: l.context.traceId,
        spanId: l.context.spanId,
        ...(l.context.traceState === undefined ? {} : { traceState: l.context.traceState }),
        attributes: otlpAttributes(l.attributes),
      })),
      status:
        end.error === undefined
          ? { code: 0 }
          : { code: 2, ...(end.error.message === undefined ? {} : { message: end.error.message }) },
      flags: this.context.traceFlags & 0xff,
    });
  }
}

// ── metrics ──────────────────────────────────────────────────────────────────────────────────

/** One metric as kerno measures it (the same list `/metrics` renders for Prometheus). */
export type MetricSample =
  | {
      readonly name: string;
      readonly type: 'counter' | 'gauge';
      readonly help: string;
      readonly value: number;
      readonly labels?: Readonly<Record<string, string>> | undefined;
    }
  | {
      readonly name: string;
      readonly type: 'histogram';
      readonly help: string;
      /** Upper bounds of the buckets (the last, +Inf, implied). */
      readonly bounds: readonly number[];
      /** Count per bucket (not cumulative), `bounds.length + 1` of them. */
      readonly counts: readonly number[];
      readonly sum: number;
      readonly count: number;
      readonly labels?: Readonly<Record<string, string>> | undefined;
    };

/** Where metric samples come from. */
export type MetricCollector = () => Promise<readonly MetricSample[]> | readonly MetricSample[];

/** Encodes samples as one OTLP `ExportMetricsServiceRequest` (cumulative sums and histograms). */
export function otlpMetricsBody(
  samples: readonly MetricSample[],
  resource: Readonly<Record<string, string>>,
  startMs: number,
  nowMs: number,
  version = '',
): unknown {
  const byName = new Map<string, { sample: MetricSample; points: unknown[] }>();
  const start = nanos(startMs);
  const time = nanos(nowMs);
  for (const s of samples) {
    let entry = byName.get(s.name);
    if (entry === undefined) byName.set(s.name, (entry = { sample: s, points: [] }));
    const attributes = otlpAttributes(s.labels);
    if (s.type === 'histogram') {
      entry.points.push({
        attributes,
        startTimeUnixNano: start,
        timeUnixNano: time,
        count: String(s.count),
        sum: s.sum,
        bucketCounts: s.counts.map(String),
        explicitBounds: s.bounds,
      });
    } else {
      const value = Number.isSafeInteger(s.value)
        ? { asInt: String(s.value) }
        : { asDouble: s.value };
      entry.points.push({
        attributes,
        ...(s.type === 'counter' ? { startTimeUnixNano: start } : {}),
        timeUnixNano: time,
        ...value,
      });
    }
  }
  const metrics = [...byName.entries()].map(([name, { sample, points }]) => ({
    name,
    description: sample.help,
    ...(sample.type === 'counter'
      ? { sum: { dataPoints: points, aggregationTemporality: 2, isMonotonic: true } }
      : sample.type === 'gauge'
        ? { gauge: { dataPoints: points } }
        : { histogram: { dataPoints: points, aggregationTemporality: 2 } }),
  }));
  return {
    resourceMetrics: [
      {
        resource: { attributes: otlpAttributes(resource) },
        scopeMetrics: [{ scope: { name: 'kerno', version }, metrics }],
      },
    ],
  };
}

/** Exports the collected samples every `metricIntervalMs`, and once more at shutdown. */
export class OtlpMetricExporter {
  readonly #config: OtlpConfig;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #poster: Poster;
  readonly #collect: MetricCollector;
  readonly #startMs: number;
  readonly #version: string;
  #timer: TimerHandle | undefined;
  #closed = false;
  #running: Promise<void> | undefined;

  constructor(options: OtlpSinkOptions & { readonly collect: MetricCollector }) {
    const url = options.config.metricsUrl;
    if (url === undefined) throw new KernelError('INTERNAL', 'No OTLP metrics endpoint');
    this.#config = options.config;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#collect = options.collect;
    this.#poster = new Poster(
      url,
      options.config.metricsHeaders,
      options.config.timeoutMs,
      'metric',
      options.logger,
    );
    this.#startMs = options.clock.now();
    this.#version = options.version ?? '';
    this.#arm();
  }

  #arm(): void {
    if (this.#closed) return;
    this.#timer = this.#clock.setTimeout(() => {
      void this.exportNow().finally(() => this.#arm());
    }, this.#config.metricIntervalMs);
  }

  /** Collects and exports once (a collection already running is awaited instead). */
  exportNow(): Promise<void> {
    this.#running ??= (async () => {
      try {
        const samples = await this.#collect();
        const body = otlpMetricsBody(
          samples,
          this.#config.resource,
          this.#startMs,
          this.#clock.now(),
          this.#version,
        );
        await this.#poster.post(body, samples.length);
      } catch (error) {
        this.#logger.warn('Collecting metrics for OTLP failed', {
          error: error instanceof Error ? error.message : String(error),
        });
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#poster.stopRetrying();
    await this.exportNow();
  }

  stats(): ExporterStats {
    return this.#poster.stats();
  }
}

/**
 * Reads Prometheus text exposition (what `/metrics` serves) back into samples, so OTLP exports
 * exactly the metrics Prometheus scrapes. Counters, gauges and untyped lines; comments other
 * than `# HELP` / `# TYPE` are skipped.
 */
export function parsePrometheusText(text: string): MetricSample[] {
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (m !== null) (m[1] === 'HELP' ? help : types).set(m[2]!, m[3]!);
      continue;
    }
    const m = /^([A-Za-z_:][\w:]*)(\{(.*)\})? (\S+)/.exec(line);
    if (m === null) continue;
    const name = m[1]!;
    const value = Number(m[4]);
    if (!Number.isFinite(value)) continue;
    const labels: Record<string, string> = {};
    if (m[3] !== undefined) {
      for (const l of m[3].matchAll(/([A-Za-z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    }
    out.push({
      name,
      type: types.get(name) === 'counter' ? 'counter' : 'gauge',
      help: help.get(name) ?? name,
      value,
      ...(Object.keys(labels).length === 0 ? {} : { labels }),
    });
  }
  return out;
}

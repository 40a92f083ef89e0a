/**
 * kerno's spans through the user's `@opentelemetry/api` TracerProvider. The API (an optional
 * peer dependency) is imported only when the program registered a global provider — seen
 * through the API's own global registry slot, without loading the package to look.
 *
 * @module
 */
import type * as Api from '@opentelemetry/api';
import type { Clock } from '../util/clock.js';
import type { Attributes, LiveSpan, SpanEnd, SpanStart, TraceSink } from './tracer.js';
import type { SpanContext } from '../util/trace-context.js';

/** The slot `@opentelemetry/api` 1.x keeps its registered globals in. */
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/** Whether the program registered a global TracerProvider through `@opentelemetry/api` 1.x. */
export function globalTracerProviderRegistered(): boolean {
  const slot = (globalThis as Record<symbol, unknown>)[API_GLOBAL];
  return (
    typeof slot === 'object' && slot !== null && (slot as { trace?: unknown }).trace !== undefined
  );
}

/** Loads the API and a sink on the global provider; `undefined` when the package is missing. */
export async function openOtelApiSink(
  clock: Clock,
  version: string,
): Promise<TraceSink | undefined> {
  let api: typeof Api;
  try {
    api = await import('@opentelemetry/api');
  } catch {
    return undefined;
  }
  return new OtelApiSink(api, api.trace.getTracer('kerno', version), clock);
}

const KINDS = {
  internal: 0,
  server: 1,
  client: 2,
  producer: 3,
  consumer: 4,
} as const satisfies Record<string, Api.SpanKind>;

function attrs(attributes: Attributes | undefined): Api.Attributes {
  const out: Api.Attributes = {};
  if (attributes === undefined) return out;
  for (const [k, v] of Object.entries(attributes)) if (v !== undefined) out[k] = v;
  return out;
}

class OtelApiSink implements TraceSink {
  readonly fixedIds = false;
  readonly #api: typeof Api;
  readonly #tracer: Api.Tracer;
  readonly #clock: Clock;

  constructor(api: typeof Api, tracer: Api.Tracer, clock: Clock) {
    this.#api = api;
    this.#tracer = tracer;
    this.#clock = clock;
  }

  #apiContext(c: SpanContext): Api.SpanContext {
    return {
      traceId: c.traceId,
      spanId: c.spanId,
      traceFlags: c.traceFlags,
      isRemote: true,
      ...(c.traceState === undefined
        ? {}
        : { traceState: this.#api.createTraceState(c.traceState) }),
    };
  }

  startSpan(start: SpanStart): LiveSpan {
    const api = this.#api;
    const parent =
      start.parent === undefined
        ? api.context.active()
        : api.trace.setSpanContext(api.ROOT_CONTEXT, this.#apiContext(start.parent));
    const span = this.#tracer.startSpan(
      start.name,
      {
        kind: KINDS[start.kind ?? 'internal'],
        attributes: attrs(start.attributes),
        startTime: start.startMs ?? this.#clock.now(),
        links: (start.links ?? []).map((l) => ({
          context: this.#apiContext(l.context),
          attributes: attrs(l.attributes),
        })),
      },
      parent,
    );
    const sc = span.spanContext();
    const traceState = sc.traceState?.serialize();
    const context: SpanContext = {
      traceId: sc.traceId,
      spanId: sc.spanId,
      traceFlags: sc.traceFlags,
      ...(traceState === undefined || traceState === '' ? {} : { traceState }),
    };
    const clock = this.#clock;
    let ended = false;
    return {
      context,
      setAttributes: (a) => void span.setAttributes(attrs(a)),
      addEvent: (name, a, timeMs) => void span.addEvent(name, attrs(a), timeMs ?? clock.now()),
      discard: () => {
        // The API cannot forget a span: end it, saying the execution stopped here.
        if (ended) return;
        ended = true;
        span.setAttribute('kerno.span.interrupted', true);
        span.end(clock.now());
      },
      end: (end: SpanEnd = {}) => {
        if (ended) return;
        ended = true;
        if (end.attributes !== undefined) span.setAttributes(attrs(end.attributes));
        if (end.error !== undefined) {
          span.setAttribute('error.type', end.error.type);
          span.setStatus({
            code: api.SpanStatusCode.ERROR,
            ...(end.error.message === undefined ? {} : { message: end.error.message }),
          });
        }
        span.end(end.endMs ?? clock.now());
      },
    };
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    // The provider is the program's: it flushes and shuts it down itself.
    return Promise.resolve();
  }
}

/**
 * The tracer seam kerno's spans go through. Three implementations: the built-in OTLP/HTTP JSON
 * exporter (`otlp.ts`), the user's global `@opentelemetry/api` TracerProvider (`otel-api.ts`),
 * or none at all — then the parts are handed no tracer and never build a span (the check is
 * made once, when the kernel opens).
 *
 * @module
 */
import type { SpanContext } from '../util/trace-context.js';

/** An attribute value (OTel's primitive kinds). */
export type AttributeValue = string | number | boolean;

/** Span attributes. `undefined` values are left out. */
export type Attributes = Readonly<Record<string, AttributeValue | undefined>>;

/** The span kinds kerno uses. */
export type SpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer';

/** What a span starts with. */
export interface SpanStart {
  readonly name: string;
  /** Its parent; absent for a root span (the OTel bridge then uses the active context). */
  readonly parent?: SpanContext | undefined;
  readonly links?: readonly { context: SpanContext; attributes?: Attributes }[] | undefined;
  readonly kind?: SpanKind | undefined;
  /** Start time, epoch ms (default: now). */
  readonly startMs?: number | undefined;
  readonly attributes?: Attributes | undefined;
  /**
   * The span's own ids, when a span must be re-created with the identity already recorded (a
   * run's root span after a restart). Only the built-in exporter can honour it: see
   * {@link TraceSink.fixedIds}.
   */
  readonly ids?: { readonly traceId: string; readonly spanId: string } | undefined;
}

/** How a span ends. */
export interface SpanEnd {
  readonly endMs?: number | undefined;
  readonly error?: { readonly type: string; readonly message?: string | undefined } | undefined;
  readonly attributes?: Attributes | undefined;
}

/** A span in progress. */
export interface LiveSpan {
  readonly context: SpanContext;
  setAttributes(attributes: Attributes): void;
  addEvent(name: string, attributes?: Attributes, timeMs?: number): void;
  /** Ends (and exports) the span; a second call does nothing. */
  end(end?: SpanEnd): void;
  /** Forgets the span without exporting it (an execution that stops before its run ends). */
  discard(): void;
}

/** Where spans go. */
export interface TraceSink {
  /** Whether {@link SpanStart.ids} is honoured (the built-in exporter: yes; the OTel API: no). */
  readonly fixedIds: boolean;
  startSpan(start: SpanStart): LiveSpan;
  /** Exports what is queued. */
  flush(): Promise<void>;
  /** Flushes and stops. */
  shutdown(): Promise<void>;
}

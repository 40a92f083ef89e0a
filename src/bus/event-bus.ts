/**
 * The event bus port. Every kernel event flows through an {@link EventBus}; the in-memory
 * broadcast bus ({@link createMemoryBus}) is the default and the reference implementation, and the
 * NATS transport spans processes with the same semantics.
 *
 * Semantics (tokio broadcast, made safe for JavaScript):
 * - `publish` never blocks and never throws for lack of subscribers;
 * - a subscriber gets exactly the events published after it subscribed, in publish order, even
 *   when a handler publishes from inside a handler;
 * - an iterator subscription buffers at most `capacity` events; when it falls behind, the oldest
 *   are dropped and it receives one {@link BusLagged} notice with the exact number skipped;
 * - a throwing handler is reported and never disturbs the publisher or other subscribers.
 *
 * @module
 */
import type { KernelEvent, KernelEventOf, KernelEventType } from '../model/kernel-event.js';

/** Delivered to an iterator subscription that fell behind: `skipped` events were dropped. */
export interface BusLagged {
  readonly type: 'Lagged';
  readonly skipped: number;
}

/** Whether a delivered item is a lag notice rather than an event. */
export function isLagged(item: KernelEvent | BusLagged): item is BusLagged {
  return item.type === 'Lagged';
}

/** A predicate over events. */
export type EventFilter = (event: KernelEvent) => boolean;

/** What `on` listens to: one type, several types, every event (`'*'`), or a predicate. */
export type EventSelector = KernelEventType | readonly KernelEventType[] | '*' | EventFilter;

/** The events a selector lets through. */
export type SelectedEvent<S> = S extends KernelEventType
  ? KernelEventOf<S>
  : S extends readonly (infer T extends KernelEventType)[]
    ? KernelEventOf<T>
    : KernelEvent;

/** Stops a handler or a subscription. Idempotent. */
export type Unsubscribe = () => void;

/** Options for {@link EventBus.subscribe}. */
export interface SubscribeOptions<T extends KernelEventType = KernelEventType> {
  /** Only these event types (default: all). */
  readonly types?: readonly T[];
  /** Only events for which this returns true (applied after `types`). */
  readonly filter?: EventFilter;
  /** Ends the iteration when aborted. */
  readonly signal?: AbortSignal;
  /** Buffered events before the oldest are dropped (default 1024). */
  readonly capacity?: number;
}

/** A live, bounded, async-iterable subscription. `break` out of `for await` or call `close()`. */
export interface BusSubscription<E extends KernelEvent = KernelEvent>
  extends AsyncIterableIterator<E | BusLagged>, AsyncDisposable {
  /** Events waiting in the buffer. */
  readonly pending: number;
  /** Total events dropped because this subscriber fell behind. */
  readonly droppedTotal: number;
  /** Stops the subscription; buffered events are discarded and the iterator ends. */
  close(): void;
}

/** Counters a bus keeps about itself. */
export interface BusStats {
  readonly published: number;
  readonly handlers: number;
  readonly subscriptions: number;
  readonly handlerErrors: number;
}

/** Called when a handler (or a subscription filter) throws. */
export type HandlerErrorHook = (error: unknown, event: KernelEvent) => void;

/** The event bus port. */
export interface EventBus extends AsyncDisposable {
  /** Delivers `event` to every current subscriber. Throws `CLOSED` after `close()`. */
  publish(event: KernelEvent): void;
  /** Calls `handler` synchronously for each selected event. Returns the unsubscribe function. */
  on<S extends EventSelector>(selector: S, handler: (event: SelectedEvent<S>) => void): Unsubscribe;
  /** An async-iterator subscription with a bounded buffer. */
  subscribe<T extends KernelEventType = KernelEventType>(
    options?: SubscribeOptions<T>,
  ): BusSubscription<KernelEventOf<T>>;
  /**
   * Whether `event` (an object this bus delivered) came from another process. Transports that
   * span processes implement it so that per-process consumers, such as the audit trail, can keep
   * to the events of their own process; a bus without it delivers only local events.
   */
  isRemote?(event: KernelEvent): boolean;
  /** Counters. */
  stats(): BusStats;
  /** Ends every subscription (after it drains what it has buffered) and refuses new publishes. */
  close(): Promise<void>;
}

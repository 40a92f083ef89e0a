/**
 * The in-memory broadcast bus: the default {@link EventBus} and the reference implementation.
 *
 * @example
 * const bus = createMemoryBus();
 * const off = bus.on('AgentFailed', (e) => console.log(e.error));
 * for await (const e of bus.subscribe({ types: ['AgentOutput'], signal })) { … }
 *
 * @module
 */
import { KernelError } from '../errors.js';
import { silentLogger, type Logger } from '../util/logger.js';
import type {
  BusLagged,
  BusStats,
  BusSubscription,
  EventBus,
  EventFilter,
  EventSelector,
  HandlerErrorHook,
  SelectedEvent,
  SubscribeOptions,
  Unsubscribe,
} from './event-bus.js';
import {
  isKernelEventType,
  type KernelEvent,
  type KernelEventOf,
  type KernelEventType,
} from '../model/kernel-event.js';

/** Options for {@link createMemoryBus}. */
export interface MemoryBusOptions {
  /** Called when a handler throws. Default: log at `error` through `logger`. */
  readonly onHandlerError?: HandlerErrorHook;
  /** Where handler failures are logged when no hook is given. */
  readonly logger?: Logger;
  /** Default buffer size of iterator subscriptions (default 1024). */
  readonly defaultCapacity?: number;
}

/** Creates the in-memory broadcast bus. */
export function createMemoryBus(options: MemoryBusOptions = {}): EventBus {
  return new MemoryEventBus(options);
}

interface HandlerRecord {
  readonly handler: (event: KernelEvent) => void;
  readonly match: EventFilter | undefined;
  /** Publish sequence number at subscription time: only later events are delivered. */
  readonly since: number;
  active: boolean;
}

const DEFAULT_CAPACITY = 1024;

class MemoryEventBus implements EventBus {
  readonly #byType = new Map<string, HandlerRecord[]>();
  #wildcard: HandlerRecord[] = [];
  #iterators: IteratorSubscription[] = [];
  readonly #onHandlerError: HandlerErrorHook;
  readonly #defaultCapacity: number;
  #seq = 0;
  #dispatching = false;
  readonly #queue: { event: KernelEvent; seq: number }[] = [];
  #closed = false;
  #handlerCount = 0;
  #handlerErrors = 0;

  constructor(options: MemoryBusOptions) {
    const logger = options.logger ?? silentLogger;
    this.#onHandlerError =
      options.onHandlerError ??
      ((error, event) =>
        logger.error('An event bus handler threw', {
          eventType: event.type,
          error: error instanceof Error ? error.message : String(error),
        }));
    this.#defaultCapacity = positiveInt(
      options.defaultCapacity ?? DEFAULT_CAPACITY,
      'defaultCapacity',
    );
  }

  publish(event: KernelEvent): void {
    if (this.#closed) {
      throw new KernelError(
        'CLOSED',
        'The event bus is closed; publish before close() or create a new bus',
      );
    }
    const seq = ++this.#seq;
    if (this.#dispatching) {
      // A handler is publishing: queue, so every subscriber still sees publish order.
      this.#queue.push({ event, seq });
      return;
    }
    this.#dispatching = true;
    try {
      this.#dispatch(event, seq);
      if (this.#queue.length > 0) this.#drain();
    } finally {
      this.#dispatching = false;
    }
  }

  #drain(): void {
    for (let i = 0; i < this.#queue.length; i++) {
      const next = this.#queue[i]!;
      this.#dispatch(next.event, next.seq);
    }
    this.#queue.length = 0;
  }

  #dispatch(event: KernelEvent, seq: number): void {
    const typed = this.#byType.get(event.type);
    if (typed !== undefined) {
      for (let i = 0; i < typed.length; i++) {
        const r = typed[i]!;
        if (r.active && r.since < seq) this.#call(r, event);
      }
    }
    const wildcard = this.#wildcard;
    for (let i = 0; i < wildcard.length; i++) {
      const r = wildcard[i]!;
      if (r.active && r.since < seq) this.#call(r, event);
    }
    const iterators = this.#iterators;
    for (let i = 0; i < iterators.length; i++) {
      const s = iterators[i]!;
      if (s.since < seq) {
        try {
          s.offer(event);
        } catch (error) {
          this.#reportError(error, event);
        }
      }
    }
  }

  #call(r: HandlerRecord, event: KernelEvent): void {
    try {
      if (r.match === undefined || r.match(event)) r.handler(event);
    } catch (error) {
      this.#reportError(error, event);
    }
  }

  #reportError(error: unknown, event: KernelEvent): void {
    this.#handlerErrors++;
    try {
      this.#onHandlerError(error, event);
    } catch {
      // The error hook itself failed; nothing else can be done without breaking publish.
    }
  }

  on<S extends EventSelector>(
    selector: S,
    handler: (event: SelectedEvent<S>) => void,
  ): Unsubscribe {
    if (typeof handler !== 'function') {
      throw new KernelError(
        'INVALID_ARGUMENT',
        'bus.on(selector, handler) needs a handler function',
      );
    }
    if (this.#closed) return () => undefined;
    const h = handler as (event: KernelEvent) => void;
    let types: readonly string[] | undefined;
    let match: EventFilter | undefined;
    if (typeof selector === 'function') match = selector;
    else if (selector === '*') types = undefined;
    else if (typeof selector === 'string') types = [checkType(selector)];
    else if (Array.isArray(selector)) types = (selector as readonly string[]).map(checkType);
    else
      throw new KernelError(
        'INVALID_ARGUMENT',
        'bus.on selector must be a type, an array of types, "*" or a function',
      );

    const record: HandlerRecord = { handler: h, match, since: this.#seq, active: true };
    if (types === undefined) {
      this.#wildcard = [...this.#wildcard, record];
    } else {
      for (const t of new Set(types)) this.#byType.set(t, [...(this.#byType.get(t) ?? []), record]);
    }
    this.#handlerCount++;
    return () => {
      if (!record.active) return;
      record.active = false;
      this.#handlerCount--;
      if (types === undefined) {
        this.#wildcard = this.#wildcard.filter((r) => r !== record);
      } else {
        for (const t of new Set(types)) {
          const rest = (this.#byType.get(t) ?? []).filter((r) => r !== record);
          if (rest.length === 0) this.#byType.delete(t);
          else this.#byType.set(t, rest);
        }
      }
    };
  }

  subscribe<T extends KernelEventType = KernelEventType>(
    options: SubscribeOptions<T> = {},
  ): BusSubscription<KernelEventOf<T>> {
    const capacity = positiveInt(options.capacity ?? this.#defaultCapacity, 'capacity');
    const types = options.types === undefined ? undefined : new Set(options.types.map(checkType));
    const sub = new IteratorSubscription(this.#seq, capacity, types, options.filter, (s) => {
      this.#iterators = this.#iterators.filter((x) => x !== s);
    });
    if (this.#closed) {
      sub.end();
      return sub as unknown as BusSubscription<KernelEventOf<T>>;
    }
    this.#iterators = [...this.#iterators, sub];
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) sub.close();
      else {
        const onAbort = (): void => sub.close();
        signal.addEventListener('abort', onAbort, { once: true });
        sub.onDetach(() => signal.removeEventListener('abort', onAbort));
      }
    }
    return sub as unknown as BusSubscription<KernelEventOf<T>>;
  }

  stats(): BusStats {
    return {
      published: this.#seq,
      handlers: this.#handlerCount,
      subscriptions: this.#iterators.length,
      handlerErrors: this.#handlerErrors,
    };
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const list of this.#byType.values()) for (const r of list) r.active = false;
    for (const r of this.#wildcard) r.active = false;
    this.#byType.clear();
    this.#wildcard = [];
    this.#handlerCount = 0;
    const iterators = this.#iterators;
    this.#iterators = [];
    for (const s of iterators) s.end();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function checkType(type: string): string {
  if (!isKernelEventType(type)) {
    throw new KernelError(
      'UNKNOWN_EVENT_TYPE',
      `Cannot subscribe to unknown kernel event type "${type}"`,
    );
  }
  return type;
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new KernelError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${value}`);
  }
  return value;
}

type Item = KernelEvent | BusLagged;
const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * One iterator subscriber: a fixed ring buffer. When full, the oldest event is overwritten and
 * counted; the next read yields a `Lagged` notice with that count before the surviving events.
 */
class IteratorSubscription implements BusSubscription {
  readonly since: number;
  readonly #capacity: number;
  readonly #ring: (KernelEvent | undefined)[];
  #head = 0;
  #size = 0;
  #skipped = 0;
  #droppedTotal = 0;
  #waiter: ((result: IteratorResult<Item>) => void) | undefined;
  #ended = false;
  readonly #types: ReadonlySet<string> | undefined;
  readonly #filter: EventFilter | undefined;
  readonly #detach: (s: IteratorSubscription) => void;
  #onDetach: (() => void) | undefined;

  constructor(
    since: number,
    capacity: number,
    types: ReadonlySet<string> | undefined,
    filter: EventFilter | undefined,
    detach: (s: IteratorSubscription) => void,
  ) {
    this.since = since;
    this.#capacity = capacity;
    this.#ring = new Array<KernelEvent | undefined>(Math.min(capacity, 64));
    this.#types = types;
    this.#filter = filter;
    this.#detach = detach;
  }

  onDetach(fn: () => void): void {
    this.#onDetach = fn;
  }

  get pending(): number {
    return this.#size;
  }

  get droppedTotal(): number {
    return this.#droppedTotal;
  }

  /** Called by the bus for each published event. Never blocks. */
  offer(event: KernelEvent): void {
    if (this.#types !== undefined && !this.#types.has(event.type)) return;
    if (this.#filter !== undefined && !this.#filter(event)) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter({ value: event, done: false });
      return;
    }
    if (this.#size === this.#capacity) {
      // Overwrite the oldest (tokio broadcast semantics).
      this.#ring[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#ring.length;
      this.#size--;
      this.#skipped++;
      this.#droppedTotal++;
    } else if (this.#size === this.#ring.length) {
      this.#grow();
    }
    this.#ring[(this.#head + this.#size) % this.#ring.length] = event;
    this.#size++;
  }

  #grow(): void {
    const next = new Array<KernelEvent | undefined>(
      Math.min(this.#capacity, this.#ring.length * 2),
    );
    for (let i = 0; i < this.#size; i++) next[i] = this.#ring[(this.#head + i) % this.#ring.length];
    this.#ring.length = 0;
    this.#ring.push(...next);
    this.#head = 0;
  }

  next(): Promise<IteratorResult<Item>> {
    if (this.#skipped > 0) {
      const notice: BusLagged = { type: 'Lagged', skipped: this.#skipped };
      this.#skipped = 0;
      return Promise.resolve({ value: notice, done: false });
    }
    if (this.#size > 0) {
      const event = this.#ring[this.#head]!;
      this.#ring[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#ring.length;
      this.#size--;
      return Promise.resolve({ value: event, done: false });
    }
    if (this.#ended) return Promise.resolve(DONE);
    if (this.#waiter !== undefined) {
      return Promise.reject(
        new KernelError(
          'INVALID_ARGUMENT',
          'A bus subscription supports one pending next() at a time',
        ),
      );
    }
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<Item>> {
    this.close();
    return Promise.resolve(DONE);
  }

  /** Stops now: buffered events are discarded. */
  close(): void {
    this.#size = 0;
    this.#skipped = 0;
    this.#ring.fill(undefined);
    this.end();
  }

  /** Stops receiving; buffered events are still delivered, then the iterator ends. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#detach(this);
    this.#onDetach?.();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * Restores each publisher's order on the receiving side. Every NATS publication carries its
 * publisher's origin id and a per-origin sequence number; JetStream stores publications in
 * arrival order, which differs from publish order only when a publication is lost in a
 * connection drop and retried after a later one got through. The sequencer holds such later
 * publications until the retried one arrives (or a hold window passes), and drops the second
 * copy of a publication stored twice (a retry after the stream's de-duplication window).
 *
 * @module
 */

/** Runs `fn` after `ms`; returns a cancel function. Injected so tests control time. */
export type Schedule = (fn: () => void, ms: number) => () => void;

/** Options for {@link OriginSequencer}. */
export interface OriginSequencerOptions<E> {
  /** Receives events in per-origin order. */
  readonly deliver: (event: E) => void;
  /** How long a gap may hold later events back before they are delivered anyway (ms). */
  readonly holdMs: number;
  /** Most events held per origin; past this the gap is skipped at once. */
  readonly maxHeld: number;
  /** Origins remembered; the least recently seen are forgotten past this. */
  readonly maxOrigins: number;
  /** Told when a gap is given up (the publications never arrived in time) or a copy is dropped. */
  readonly onAnomaly?: (kind: 'gap' | 'duplicate', origin: string, count: number) => void;
  readonly schedule?: Schedule;
}

interface OriginState<E> {
  /** The next sequence number to deliver. */
  next: number;
  readonly held: Map<number, E>;
  cancel: (() => void) | undefined;
}

const realSchedule: Schedule = (fn, ms) => {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

/** Per-origin re-ordering and de-duplication of received publications. */
export class OriginSequencer<E> {
  readonly #options: OriginSequencerOptions<E>;
  readonly #schedule: Schedule;
  readonly #origins = new Map<string, OriginState<E>>();

  constructor(options: OriginSequencerOptions<E>) {
    this.#options = options;
    this.#schedule = options.schedule ?? realSchedule;
  }

  /** Events held back waiting for a gap to fill, over every origin. */
  get held(): number {
    let n = 0;
    for (const s of this.#origins.values()) n += s.held.size;
    return n;
  }

  /** Accepts publication `seq` of `origin`. */
  accept(origin: string, seq: number, event: E): void {
    let state = this.#origins.get(origin);
    if (state === undefined) {
      // First sight of this publisher: its earlier publications predate this subscription.
      state = { next: seq, held: new Map(), cancel: undefined };
      if (this.#origins.size >= this.#options.maxOrigins) this.#forgetOldest();
    } else {
      this.#origins.delete(origin); // re-insert below: Map order is recency order
    }
    this.#origins.set(origin, state);
    if (seq < state.next || state.held.has(seq)) {
      this.#options.onAnomaly?.('duplicate', origin, 1);
      return;
    }
    if (seq > state.next) {
      state.held.set(seq, event);
      if (state.held.size > this.#options.maxHeld) this.#skipGap(origin, state);
      else
        state.cancel ??= this.#schedule(() => this.#skipGap(origin, state), this.#options.holdMs);
      return;
    }
    state.next++;
    this.#options.deliver(event);
    this.#release(origin, state);
  }

  /** Cancels every pending timer. */
  close(): void {
    for (const s of this.#origins.values()) s.cancel?.();
    this.#origins.clear();
  }

  #release(origin: string, state: OriginState<E>): void {
    for (;;) {
      const event = state.held.get(state.next);
      if (event === undefined) break;
      state.held.delete(state.next);
      state.next++;
      this.#options.deliver(event);
    }
    state.cancel?.();
    state.cancel = undefined;
    if (state.held.size > 0) {
      state.cancel = this.#schedule(() => this.#skipGap(origin, state), this.#options.holdMs);
    }
  }

  #skipGap(origin: string, state: OriginState<E>): void {
    state.cancel?.();
    state.cancel = undefined;
    if (state.held.size === 0) return;
    let first = Infinity;
    for (const seq of state.held.keys()) if (seq < first) first = seq;
    this.#options.onAnomaly?.('gap', origin, first - state.next);
    state.next = first;
    this.#release(origin, state);
  }

  #forgetOldest(): void {
    for (const [origin, state] of this.#origins) {
      // Deliver what it still holds rather than lose it.
      this.#skipGapsFully(origin, state);
      this.#origins.delete(origin);
      return;
    }
  }

  #skipGapsFully(origin: string, state: OriginState<E>): void {
    while (state.held.size > 0) this.#skipGap(origin, state);
    state.cancel?.();
    state.cancel = undefined;
  }
}

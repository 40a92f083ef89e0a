/**
 * The outgoing side of the NATS bus: a bounded queue of publications, sent to JetStream with
 * several in flight, each retried (with the same message id, so JetStream stores it once) until
 * the server acknowledges it. `flush()` waits for the acknowledgements.
 *
 * @module
 */
import { KernelError, errorMessage } from '../../errors.js';
import type { Logger } from '../../util/logger.js';

/** One publication waiting for (or holding) its acknowledgement. */
export interface Publication {
  /** The publisher's sequence number (1, 2, …, no holes). */
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  /** JetStream de-duplication id (`Nats-Msg-Id`). */
  readonly msgId: string;
  state: 'queued' | 'inflight' | 'acked';
}

/** Options for {@link PublicationQueue}. */
export interface PublicationQueueOptions {
  /** Sends one publication; resolves when the server acknowledged it. */
  readonly send: (publication: Publication) => Promise<void>;
  /** Whether a send error will never go away (the publication is then given up and counted). */
  readonly isPermanent: (error: unknown) => boolean;
  /** Called on each transient failure (e.g. to re-create a missing stream). */
  readonly onTransientError?: (error: unknown) => void;
  /** Most publications not yet acknowledged; past this new ones are dropped and counted. */
  readonly maxPending: number;
  /** Most publications awaiting an acknowledgement at once. */
  readonly maxInFlight: number;
  /** First delay before a retry (ms); doubles up to `maxRetryDelayMs`. */
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  readonly logger: Logger;
}

interface FlushWaiter {
  readonly target: number;
  readonly dropped: number;
  readonly rejected: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  cancel: (() => void) | undefined;
}

/** The bounded, retrying publication queue. */
export class PublicationQueue {
  readonly #o: PublicationQueueOptions;
  /** Publications from `#base` on; `#head` indexes the first not yet acknowledged. */
  #items: Publication[] = [];
  #base = 1;
  #head = 0;
  /** Sequence number from which `#pump` looks for queued publications. */
  #cursor = 1;
  #nextSeq = 1;
  #inFlight = 0;
  #connected = true;
  #stopped = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryDelay: number;
  #failing = false;
  #overflowing = false;
  #acked = 0;
  #dropped = 0;
  #rejected = 0;
  #droppedSinceFlush = 0;
  #rejectedSinceFlush = 0;
  #waiters: FlushWaiter[] = [];

  constructor(options: PublicationQueueOptions) {
    this.#o = options;
    this.#retryDelay = options.retryDelayMs;
  }

  /** Publications not yet acknowledged. */
  get pending(): number {
    return this.#items.length - this.#head;
  }

  get acked(): number {
    return this.#acked;
  }

  /** Publications dropped because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Publications the server refused for good. */
  get rejected(): number {
    return this.#rejected;
  }

  /**
   * Queues a publication. Returns its sequence number, or `undefined` when the queue is full (the
   * publication is dropped, counted, and reported by the next `flush()`).
   */
  enqueue(subject: string, data: Uint8Array, msgId: string): number | undefined {
    if (this.pending >= this.#o.maxPending) {
      this.#dropped++;
      this.#droppedSinceFlush++;
      if (!this.#overflowing) {
        this.#overflowing = true;
        this.#o.logger.error('The NATS publication queue is full; dropping publications', {
          maxPendingPublications: this.#o.maxPending,
          hint: 'check the NATS server, or raise maxPendingPublications',
        });
      }
      return undefined;
    }
    const seq = this.#nextSeq++;
    this.#items.push({ seq, subject, data, msgId, state: 'queued' });
    this.#pump();
    return seq;
  }

  /** Pauses sending while the connection is down; resumes (and resends) when it is back. */
  setConnected(connected: boolean): void {
    this.#connected = connected;
    if (connected) {
      this.#clearRetry();
      this.#pump();
    }
  }

  /**
   * Resolves when every publication queued so far is acknowledged. Rejects with
   * `PUBLISH_OVERFLOW` / `PUBLISH_REJECTED` when publications since the previous `flush()` were
   * lost, and with `UNREACHABLE` after `timeoutMs`.
   */
  flush(timeoutMs?: number): Promise<void> {
    const dropped = this.#droppedSinceFlush;
    const rejected = this.#rejectedSinceFlush;
    this.#droppedSinceFlush = 0;
    this.#rejectedSinceFlush = 0;
    const target = this.#nextSeq - 1;
    if (this.#stopped && this.#firstUnacked() <= target) {
      return Promise.reject(closedError(target - this.#firstUnacked() + 1));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: FlushWaiter = { target, dropped, rejected, resolve, reject, cancel: undefined };
      if (this.#firstUnacked() > target) {
        settle(waiter);
        return;
      }
      if (timeoutMs !== undefined) {
        const timer = setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(
            new KernelError(
              'UNREACHABLE',
              `NATS did not acknowledge ${target - this.#firstUnacked() + 1} publication(s) within ${timeoutMs} ms; they are still queued and retried. Check that the NATS server is up`,
              { details: { pending: this.pending } },
            ),
          );
        }, timeoutMs);
        timer.unref();
        waiter.cancel = () => clearTimeout(timer);
      }
      this.#waiters.push(waiter);
    });
  }

  /** Stops sending and rejects waiting flushes. Unacknowledged publications are abandoned. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#clearRetry();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      w.cancel?.();
      w.reject(closedError(w.target - this.#firstUnacked() + 1));
    }
  }

  #firstUnacked(): number {
    return this.#base + this.#head;
  }

  #pump(): void {
    if (!this.#connected || this.#stopped || this.#retryTimer !== undefined) return;
    const items = this.#items;
    let i = Math.max(this.#cursor - this.#base, this.#head);
    while (i < items.length && this.#inFlight < this.#o.maxInFlight) {
      const p = items[i]!;
      if (p.state === 'queued') this.#send(p);
      i++;
    }
    this.#cursor = this.#base + i;
  }

  #send(p: Publication): void {
    p.state = 'inflight';
    this.#inFlight++;
    // A send that throws synchronously is handled like one that rejects.
    new Promise<void>((resolve) => resolve(this.#o.send(p))).then(
      () => this.#onAck(p),
      (error: unknown) => this.#onError(p, error),
    );
  }

  #onAck(p: Publication): void {
    this.#inFlight--;
    if (p.state !== 'inflight') return;
    p.state = 'acked';
    this.#acked++;
    if (this.#failing) {
      this.#failing = false;
      this.#o.logger.info('NATS publications are acknowledged again', { pending: this.pending });
    }
    this.#retryDelay = this.#o.retryDelayMs;
    this.#advance();
    this.#pump();
  }

  #onError(p: Publication, error: unknown): void {
    this.#inFlight--;
    if (p.state !== 'inflight') return;
    if (this.#o.isPermanent(error)) {
      p.state = 'acked';
      this.#rejected++;
      this.#rejectedSinceFlush++;
      this.#o.logger.error('NATS refused a publication; it is dropped', {
        subject: p.subject,
        msgId: p.msgId,
        error: errorMessage(error),
      });
      this.#advance();
      this.#pump();
      return;
    }
    p.state = 'queued';
    if (p.seq < this.#cursor) this.#cursor = p.seq;
    if (!this.#failing) {
      this.#failing = true;
      this.#o.logger.warn('A NATS publication was not acknowledged; retrying', {
        subject: p.subject,
        error: errorMessage(error),
      });
    }
    this.#o.onTransientError?.(error);
    if (this.#retryTimer === undefined && !this.#stopped) {
      const delay = this.#retryDelay;
      this.#retryDelay = Math.min(this.#retryDelay * 2, this.#o.maxRetryDelayMs);
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#pump();
      }, delay);
      this.#retryTimer.unref();
    }
  }

  #clearRetry(): void {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  /** Moves past acknowledged publications and settles the flushes they complete. */
  #advance(): void {
    const items = this.#items;
    while (this.#head < items.length && items[this.#head]!.state === 'acked') this.#head++;
    if (this.#head > 4096 && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head);
      this.#base += this.#head;
      this.#head = 0;
    }
    if (this.#overflowing && this.pending < this.#o.maxPending / 2) this.#overflowing = false;
    if (this.#waiters.length === 0) return;
    const first = this.#firstUnacked();
    const still: FlushWaiter[] = [];
    for (const w of this.#waiters) {
      if (w.target < first) {
        w.cancel?.();
        settle(w);
      } else still.push(w);
    }
    this.#waiters = still;
  }
}

function settle(w: FlushWaiter): void {
  if (w.dropped > 0) {
    w.reject(
      new KernelError(
        'PUBLISH_OVERFLOW',
        `${w.dropped} publication(s) were dropped because the NATS publication queue was full; check the NATS server, or raise maxPendingPublications`,
        { details: { dropped: w.dropped } },
      ),
    );
  } else if (w.rejected > 0) {
    w.reject(
      new KernelError(
        'PUBLISH_REJECTED',
        `NATS refused ${w.rejected} publication(s) for good; see the log for the reason`,
        { details: { rejected: w.rejected } },
      ),
    );
  } else w.resolve();
}

function closedError(unacked: number): KernelError {
  return new KernelError(
    'CLOSED',
    `The NATS bus closed with ${unacked} publication(s) not acknowledged; call flush() before close()`,
  );
}

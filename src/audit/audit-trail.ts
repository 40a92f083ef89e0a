/**
 * The audit trail: an append-only, hash-chained record of what happened in the kernel, written
 * through the log ({@link LogStore}, stream `audit`).
 *
 * Compared with oxios's trail it hashes every field (metadata included) with an unambiguous,
 * length-prefixed encoding; keeps an anchor when it prunes instead of trusting the first
 * survivor; exposes a head (`seq`, `hash`) that callers can record to detect a truncated tail;
 * and, attached to a bus, never drops an event.
 *
 * @example
 * const trail = createAuditTrail({ log: createMemoryLog() });
 * trail.attach(bus);
 * const head = await trail.head();
 * const result = await trail.verify({ expectedHead: head });
 * for await (const entry of trail.follow({ after: head.seq, signal })) show(entry);
 *
 * @module
 */
import type { EventBus } from '../bus/event-bus.js';
import { canonicalKernelEventJson, type KernelEvent } from '../model/kernel-event.js';
import { KernelError, errorMessage } from '../errors.js';
import type { LogFollow } from '../storage/follow.js';
import {
  ChainVerifier,
  GENESIS_HASH,
  type AcceptedBreak,
  type ChainAcceptance,
  breakKey,
  type LogBody,
  type LogHead,
  type LogRecord,
  type LogStore,
  type VerifyBreak,
  type VerifyResult,
  describeBreak,
} from '../storage/log.js';
import {
  createLogView,
  type LogAcceptOptions,
  type LogCodec,
  type LogVerifyOptions,
  type LogView,
} from '../storage/log-view.js';
import { canonicalJson, type JsonValue } from '../util/canonical-json.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { formatTimestamp, parseTimestamp } from '../util/time.js';
import {
  AUDIT_ACTION_TYPES,
  canonicalAuditAction,
  isAuditActionType,
  parseAuditAction,
  type AuditAction,
  type AuditActionType,
} from '../formats/oxios-audit-action.js';
import { auditActionFor, auditActorFor, auditResourceFor } from './from-kernel-event.js';
import {
  checkImportedPrefix,
  importedInputs,
  isImported,
  type OxiosImportSource,
} from './oxios-import.js';

export type { OxiosImportSource } from './oxios-import.js';

/** What {@link AuditTrail.importOxios} did. */
export interface AuditImportResult {
  /** Entries imported (the trail's seqs 1…imported). */
  readonly imported: number;
  readonly format: OxiosImportSource['format'];
  /** The last imported entry in kerno's chain: kerno's next entry links to it. */
  readonly head: { readonly seq: number; readonly hash: string };
  /** The last oxios entry's own hash (trail exports), to compare with oxios's head. */
  readonly oxiosHead: string | null;
  /** True when the oxios trail starts at a pruned root oxios trusts without proof. */
  readonly trustedRoot: boolean;
}

/** One entry of the trail. Every field is covered by `hash`. */
export interface AuditEntry {
  /** Position in the trail, from 1, without holes. */
  readonly seq: number;
  /** When it was recorded (RFC 3339, UTC). */
  readonly timestamp: string;
  /** Who acted: an agent id, `project:<id>`, `module:<id>` or `system`. */
  readonly actor: string;
  readonly action: AuditAction;
  /** What was acted on (for kernel events: the event's Rust `Debug` rendering). */
  readonly resource: string;
  readonly prevHash: string;
  readonly hash: string;
  /** Extra JSON (for kernel events: `{ "event": <the event> }`), or null. */
  readonly metadata: JsonValue | null;
}

/** A filter over the trail. */
export interface AuditQuery {
  readonly actor?: string | undefined;
  readonly actionTypes?: readonly AuditActionType[] | undefined;
  readonly fromSeq?: number | undefined;
  readonly toSeq?: number | undefined;
  /** Inclusive time range (RFC 3339 text or epoch ms). */
  readonly from?: string | number | undefined;
  readonly to?: string | number | undefined;
  /** Keep the newest `limit` matches. */
  readonly limit?: number | undefined;
}

/** Options for {@link AuditTrail.verify}. */
export interface AuditVerifyOptions {
  /** A head recorded earlier: a trail that no longer reaches it is reported as truncated. */
  readonly expectedHead?: { readonly seq: number; readonly hash: string } | undefined;
  /** Called with the number of entries checked so far (for progress bars). */
  readonly onProgress?: ((verified: number, total: number) => void) | undefined;
  /** Worker-thread verification of long trails (see `LogVerifyOptions.parallel`). */
  readonly parallel?: LogVerifyOptions['parallel'];
}

/** What {@link AuditTrail.verify} found: the log's one {@link VerifyResult} shape. */
export type AuditVerifyResult = VerifyResult;

/** Options for {@link AuditTrail.follow}. */
export interface AuditFollowOptions {
  /** Deliver entries after this seq (default 0: everything still held). */
  readonly after?: number | undefined;
  /** Ends the iteration when aborted. */
  readonly signal?: AbortSignal | undefined;
  /** How often to look for entries other processes wrote (default: the trail's `pollMs`). */
  readonly pollMs?: number | undefined;
}

/** The JSON document {@link AuditTrail.export} writes. */
export interface AuditExport {
  readonly format: 'kerno.audit';
  readonly version: 1;
  /** The last pruned entry, when the trail was pruned before the first exported entry. */
  readonly anchor: { readonly seq: number; readonly hash: string } | null;
  readonly head: { readonly seq: number; readonly hash: string };
  readonly entries: readonly AuditEntry[];
}

/** Options for {@link createAuditTrail}. */
export interface AuditTrailOptions {
  /** Where entries are written. */
  readonly log: LogStore;
  /** Stream name within the log (default `audit`). */
  readonly stream?: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** How far ahead of the clock an entry's time may be before `verify` flags it (default 60 s). */
  readonly clockSkewMs?: number | undefined;
  /** How often followers look for entries other processes wrote (default 500 ms). */
  readonly pollMs?: number | undefined;
  /**
   * Entries held in memory (waiting for the store) before async callers are held back: past it,
   * {@link AuditTrail.append}, {@link AuditTrail.recordEvent} and {@link AuditTrail.whenAccepting}
   * wait until the store takes entries again (default 100,000). Bus events are synchronous and
   * are still kept past the bound — the trail never drops one — and counted in `overBound`.
   */
  readonly maxBuffered?: number | undefined;
  /** First retry delay after a failed write (default 50 ms); doubles up to `maxRetryDelayMs`. */
  readonly retryDelayMs?: number | undefined;
  /** Longest retry delay (default 5 s). */
  readonly maxRetryDelayMs?: number | undefined;
}

/** Options for {@link AuditTrail.attach}. */
export interface AuditAttachOptions {
  /** Also record events other processes published on a shared bus (default false). */
  readonly includeRemote?: boolean;
  /**
   * Events recorded durably elsewhere, which the trail does not copy: the kernel passes run
   * steps' announcements (their record is the run's journal). They go to
   * {@link AuditTrail.onUnrecorded} listeners instead — live feeds — and are never numbered.
   */
  readonly skip?: (event: KernelEvent) => boolean;
}

/** Counters the trail keeps about itself. */
export interface AuditTrailStats {
  /** Appends accepted but not yet confirmed durable. */
  readonly pending: number;
  /**
   * Entries given up on: only events that could not even be encoded, and entries still held
   * when the trail was closed during an outage (each logged). A failed write is retried, never
   * counted here.
   */
  readonly failedWrites: number;
  /** Write attempts that failed and were retried. */
  readonly retries: number;
  /** Outages so far (a run of failed writes ended by a durable one, or still going). */
  readonly outages: number;
  /** Whether the trail is in an outage now (its last write failed). */
  readonly inOutage: boolean;
  /** Bus events taken while the buffer was past `maxBuffered`. */
  readonly overBound: number;
}

/** Creates an audit trail over a log. */
export function createAuditTrail(options: AuditTrailOptions): AuditTrail {
  return new AuditTrail(options);
}

/** Most bus events batched into one log append. */
const MAX_BATCH = 10_000;

/** One entry waiting for the store, with the caller waiting for it (if any). */
interface Queued {
  readonly input: AuditInput;
  readonly resolve?: (entry: AuditEntry) => void;
  readonly reject?: (error: unknown) => void;
}

/** An outage: the first failed write and how many attempts failed since. */
interface Outage {
  readonly startedMs: number;
  failures: number;
  lastError: string;
}

/**
 * The audit trail.
 *
 * Writes go through one queue, in order, one store append at a time (everything queued while a
 * write is in flight goes into the next one, up to {@link MAX_BATCH}: the trail's own group
 * commit). A failed write is retried with backoff, on the injected clock, until it is durable;
 * an outage is logged once when it starts and once when it ends, and counted in {@link stats}.
 */
export class AuditTrail {
  readonly #view: LogView<AuditInput, AuditEntry>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxBuffered: number;
  readonly #retryDelayMs: number;
  readonly #maxRetryDelayMs: number;
  #queue: Queued[] = [];
  #writing = false;
  #failedWrites = 0;
  #retries = 0;
  #outages = 0;
  #overBound = 0;
  #outage: Outage | undefined;
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  /** Entries ever queued, and entries written (or given up) since: positions in the queue. */
  #queued = 0;
  #done = 0;
  /** Readers waiting for the entries queued before them: `{ through, wake }`, by position. */
  #positionWaiters: { readonly through: number; readonly wake: () => void }[] = [];
  /** The batch being written was appended as background (the store may hold it briefly). */
  #heldBatch = false;
  #roomWaiters: (() => void)[] = [];
  readonly #unrecorded = new Set<(event: KernelEvent) => void>();
  #retryTimer: { handle: TimerHandle; wake: () => void } | undefined;

  constructor(options: AuditTrailOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#maxBuffered = positive(options.maxBuffered, 100_000, 'maxBuffered');
    this.#retryDelayMs = positive(options.retryDelayMs, 50, 'retryDelayMs');
    this.#maxRetryDelayMs = positive(options.maxRetryDelayMs, 5_000, 'maxRetryDelayMs');
    this.#view = createLogView({
      log: options.log,
      stream: options.stream ?? 'audit',
      codec: AUDIT_CODEC,
      clock: this.#clock,
      clockSkewMs: options.clockSkewMs,
      pollMs: options.pollMs,
    });
  }

  /** Records an entry; resolves with it once it is durable (waits while the buffer is full). */
  async append(
    actor: string,
    action: AuditAction,
    resource: string,
    metadata: JsonValue | null = null,
  ): Promise<AuditEntry> {
    const checked = parseAuditAction(action);
    const input = this.#prepare(actor, checked, resource, metadata);
    await this.whenAccepting();
    return this.#enqueueWaiting(input);
  }

  /** Records a kernel event (action and actor as oxios maps them; the event itself as metadata). */
  async recordEvent(event: KernelEvent): Promise<AuditEntry> {
    const input = this.#prepareEvent(event);
    await this.whenAccepting();
    return this.#enqueueWaiting(input);
  }

  /**
   * Resolves when the trail's buffer is below `maxBuffered` (at once, usually): a producer that
   * can wait (an agent's output reader) awaits it before publishing more — the back-pressure a
   * synchronous bus cannot give.
   */
  whenAccepting(): Promise<void> {
    if (this.#queue.length < this.#maxBuffered || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /**
   * Records every event published on `bus` from now on, in publish order. Nothing is dropped:
   * the trail listens with a synchronous handler, not a lagging subscription, and a failed
   * write is retried until it is durable. Returns a function that detaches the trail.
   *
   * Events another process published (a bus spanning processes, see `EventBus.isRemote`) are
   * skipped unless `includeRemote` is set: when several kernels share one store, each writes only
   * its own events, so every event is audited once.
   */
  attach(bus: EventBus, options: AuditAttachOptions = {}): () => void {
    const skipRemote = options.includeRemote !== true && bus.isRemote !== undefined;
    return bus.on('*', (event) => {
      if (skipRemote && bus.isRemote!(event)) return;
      if (options.skip?.(event) === true) {
        for (const listener of this.#unrecorded) {
          try {
            listener(event);
          } catch (error) {
            this.#logger.warn('A listener of unrecorded events failed', {
              eventType: event.type,
              error: errorMessage(error),
            });
          }
        }
        return;
      }
      let input: AuditInput;
      try {
        input = this.#prepareEvent(event);
      } catch (error) {
        this.#failedWrites++;
        this.#logger.error('Could not encode a kernel event for the audit trail', {
          eventType: event.type,
          error: errorMessage(error),
        });
        return;
      }
      if (this.#queue.length >= this.#maxBuffered) this.#overBound++;
      this.#queue.push({ input });
      this.#queued++;
      this.#schedule();
    });
  }

  /**
   * Calls `listener` with each event an attachment passed over ({@link AuditAttachOptions.skip}),
   * as it is published: for live feeds, which show it without a number (it has no entry).
   * Returns the unsubscribe function.
   */
  onUnrecorded(listener: (event: KernelEvent) => void): () => void {
    this.#unrecorded.add(listener);
    return () => this.#unrecorded.delete(listener);
  }

  /**
   * Stops retrying: entries still held are given up (counted in `failedWrites`, logged once)
   * and their callers rejected. For shutting down while the store is unreachable; call
   * {@link flush} first to wait for them instead.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#retryTimer?.wake();
    for (const wake of this.#roomWaiters.splice(0)) wake();
  }

  #enqueueWaiting(input: AuditInput): Promise<AuditEntry> {
    if (this.#closed) return Promise.reject(closedError());
    return new Promise<AuditEntry>((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      this.#queued++;
      // Someone awaits this entry: a held batch ahead of it goes now.
      this.#expedite();
      this.#schedule();
    });
  }

  #scheduled = false;

  /** Starts a write on the next microtask, so entries made in one tick go as one batch. */
  #schedule(): void {
    if (this.#scheduled || this.#writing) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      void this.#pump();
    });
  }

  /** Writes the queue, in order, one batch at a time, retrying a failed batch until durable. */
  async #pump(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        if (this.#closed && this.#outage !== undefined) {
          this.#giveUp();
          break;
        }
        const batch = this.#queue.slice(0, MAX_BATCH);
        let entries: AuditEntry[];
        try {
          // Entries of published events have nobody waiting on them: they may ride along with
          // the next write someone awaits (a run's step) instead of committing ahead of it.
          // Not while a reader waits for them, nor when someone awaits one of them.
          this.#heldBatch =
            this.#positionWaiters.length === 0 &&
            this.#idleWaiters.length === 0 &&
            batch.every((q) => q.resolve === undefined);
          entries = await this.#view.append(
            batch.map((q) => q.input),
            this.#heldBatch ? BACKGROUND : undefined,
          );
        } catch (error) {
          this.#failed(error);
          await this.#backoff();
          continue;
        } finally {
          this.#heldBatch = false;
        }
        this.#queue.splice(0, batch.length);
        this.#advance(batch.length);
        if (this.#outage !== undefined) this.#recovered();
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve?.(entries[i]!);
        if (this.#queue.length < this.#maxBuffered) {
          for (const wake of this.#roomWaiters.splice(0)) wake();
        }
      }
    } finally {
      this.#writing = false;
      if (this.#queue.length === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  #failed(error: unknown): void {
    this.#retries++;
    const message = errorMessage(error);
    if (this.#outage === undefined) {
      this.#outages++;
      this.#outage = { startedMs: this.#clock.now(), failures: 1, lastError: message };
      this.#logger.error('The audit trail cannot write: holding entries and retrying', {
        entries: this.#queue.length,
        error: message,
      });
    } else {
      this.#outage.failures++;
      this.#outage.lastError = message;
    }
  }

  #recovered(): void {
    const outage = this.#outage!;
    this.#outage = undefined;
    this.#logger.warn('The audit trail writes again: outage over', {
      durationMs: this.#clock.now() - outage.startedMs,
      failedAttempts: outage.failures,
      lastError: outage.lastError,
    });
  }

  /** Waits the backoff for the current outage (doubling, capped), on the trail's clock. */
  #backoff(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const failures = this.#outage?.failures ?? 1;
    const delay = Math.min(
      this.#maxRetryDelayMs,
      this.#retryDelayMs * 2 ** Math.min(failures - 1, 30),
    );
    return new Promise((resolve) => {
      const wake = (): void => {
        if (this.#retryTimer === undefined) return;
        this.#clock.clearTimeout(this.#retryTimer.handle);
        this.#retryTimer = undefined;
        resolve();
      };
      this.#retryTimer = { handle: this.#clock.setTimeout(wake, delay), wake };
    });
  }

  #giveUp(): void {
    const lost = this.#queue.splice(0);
    this.#failedWrites += lost.length;
    this.#logger.error('The audit trail was closed during an outage: entries not written', {
      entries: lost.length,
      lastError: this.#outage?.lastError,
    });
    for (const q of lost) q.reject?.(closedError());
    this.#advance(lost.length);
  }

  /** `n` more entries are written (or given up): wakes the readers waiting for them. */
  #advance(n: number): void {
    this.#done += n;
    if (this.#positionWaiters.length === 0) return;
    const done = this.#done;
    const still: { readonly through: number; readonly wake: () => void }[] = [];
    for (const w of this.#positionWaiters) {
      if (w.through <= done) w.wake();
      else still.push(w);
    }
    this.#positionWaiters = still;
  }

  /** Asks the store to send a held (background) batch now: someone is waiting for it. */
  #expedite(): void {
    if (this.#heldBatch) this.#view.expedite();
  }

  /**
   * Resolves once every entry queued so far is written (or given up) — not when the queue is
   * empty, which steady traffic could put off for ever.
   */
  #writtenThroughNow(): Promise<void> {
    const through = this.#queued;
    if (this.#done >= through) return Promise.resolve();
    return new Promise<void>((wake) => {
      this.#positionWaiters.push({ through, wake });
      this.#expedite();
      this.#schedule();
    });
  }

  #prepareEvent(event: KernelEvent): AuditInput {
    return {
      timeMs: this.#clock.now(),
      actor: auditActorFor(event),
      action: auditActionFor(event),
      resource: auditResourceFor(event),
      metadata: { event: event as unknown as JsonValue },
      metadataJson: '{"event":' + canonicalKernelEventJson(event) + '}',
    };
  }

  #prepare(
    actor: string,
    action: AuditAction,
    resource: string,
    metadata: JsonValue | null,
  ): AuditInput {
    if (typeof actor !== 'string' || typeof resource !== 'string') {
      throw new KernelError('INVALID_ARGUMENT', 'An audit entry needs a string actor and resource');
    }
    return {
      timeMs: this.#clock.now(),
      actor,
      action,
      resource,
      metadata,
      metadataJson: canonicalJson(metadata),
    };
  }

  /** Entries matching `query`, oldest first. */
  async entries(query: AuditQuery = {}): Promise<AuditEntry[]> {
    await this.#settled();
    const types = query.actionTypes;
    if (types !== undefined) {
      for (const t of types) {
        if (!isAuditActionType(t)) {
          throw new KernelError(
            'INVALID_QUERY',
            `Unknown audit action type "${String(t)}"; known: ${AUDIT_ACTION_TYPES.join(', ')}`,
          );
        }
      }
    }
    return this.#view.query({
      subject: query.actor,
      kinds: types,
      fromSeq: query.fromSeq,
      toSeq: query.toSeq,
      time: { fromMs: toMs(query.from, 'from'), toMs: toMs(query.to, 'to') },
      limit: query.limit,
      orderBy: 'seq',
    });
  }

  /** Up to `limit` entries after seq `after`, oldest first (paging through the trail). */
  async entriesAfter(after: number, limit: number): Promise<AuditEntry[]> {
    await this.#settled();
    return this.#view.read(after, limit);
  }

  /**
   * Replays the entries after `after`, then follows new ones as they become durable — in seq
   * order, with no gap and no duplicate — until `signal` aborts. `caughtUp` resolves once the
   * replay is done. A seq is a resume position: pass the last one seen as `after`.
   * {@link auditedEvent} gives the kernel event an entry records.
   */
  follow(options: AuditFollowOptions = {}): LogFollow<AuditEntry> {
    this.#schedule();
    return this.#view.follow(options);
  }

  /**
   * Like {@link AuditTrail.follow}, but the stored records (body text, seq, hashes), not decoded:
   * for consumers that only forward what an entry holds. `storedAuditEvent` (`stored-event.ts`) takes the
   * kernel event's JSON text out of a body without parsing it.
   */
  followStored(options: AuditFollowOptions = {}): LogFollow<LogBody> {
    this.#schedule();
    return this.#view.followStored(options);
  }

  /** Like {@link AuditTrail.entriesAfter}, but the stored records, not decoded. */
  async storedAfter(after: number, limit: number): Promise<readonly LogBody[]> {
    await this.#settled();
    return this.#view.readStored(after, limit);
  }

  /** The trail's head: record it to detect a truncated tail later. */
  async head(): Promise<LogHead> {
    await this.#settled();
    return this.#view.head();
  }

  /**
   * Waits for entries queued so far to be written, so a read sees what was recorded before it
   * — except during an outage, where a read answers from the store as it is.
   */
  #settled(): Promise<void> {
    if (this.#outage !== undefined) return Promise.resolve();
    return this.#writtenThroughNow();
  }

  /** Waits until every entry accepted so far is durable (through an outage, however long). */
  async flush(): Promise<void> {
    await this.#writtenThroughNow();
    await this.#view.flush();
  }

  /** Counters. */
  stats(): AuditTrailStats {
    return {
      pending: this.#queue.length,
      failedWrites: this.#failedWrites,
      retries: this.#retries,
      outages: this.#outages,
      inOutage: this.#outage !== undefined,
      overBound: this.#overBound,
    };
  }

  /**
   * Recomputes every hash from the anchor (or genesis) to the head and reports every entry that
   * does not verify, and why (the first one flat, for callers that want one). An imported oxios
   * prefix ({@link importOxios}) is also re-checked by oxios's rule (`imported_chain_broken`).
   */
  async verify(options: AuditVerifyOptions = {}): Promise<AuditVerifyResult> {
    await this.#settled();
    const result = await this.#view.verify(options);
    const found = await this.#importedBreaks();
    if (found.length === 0) return result;
    // An acceptance anchor may list imported breaks too (see `accept`): those are accepted.
    const anchor = result.acceptance === undefined ? undefined : await this.#view.acceptance();
    const acceptedKeys =
      anchor === undefined || typeof anchor === 'string'
        ? new Set<string>()
        : new Set(anchor.breaks.filter((b) => b.seq <= anchor.through.seq).map(breakKey));
    const extra = found.filter((b) => !acceptedKeys.has(breakKey(b)));
    const acceptedExtra: AcceptedBreak[] =
      anchor === undefined || typeof anchor === 'string'
        ? []
        : found
            .filter((b) => acceptedKeys.has(breakKey(b)))
            .map((b) => ({
              ...b,
              message: `${b.message}; accepted by anchor at seq ${anchor.through.seq} (anchor ${anchor.anchorSeq}, by ${anchor.by})`,
              acceptedThrough: anchor.through.seq,
              anchorSeq: anchor.anchorSeq,
            }));
    const maxBreaks = 100; // the log view's default list cap (all are counted)
    const accepted =
      acceptedExtra.length === 0
        ? {}
        : {
            accepted: [...(result.accepted ?? []), ...acceptedExtra]
              .sort((x, y) => x.seq - y.seq)
              .slice(0, maxBreaks),
            acceptedCount: (result.acceptedCount ?? 0) + acceptedExtra.length,
          };
    if (extra.length === 0) return { ...result, ...accepted };
    const head = await this.#view.head();
    const breaks = [...result.breaks, ...extra].sort((x, y) => x.seq - y.seq).slice(0, maxBreaks);
    const first = breaks[0]!;
    return {
      ...result,
      ...accepted,
      ok: false,
      verified: Math.min(result.verified, first.seq - head.firstSeq),
      breaks,
      breakCount: result.breakCount + extra.length,
      seq: first.seq,
      reason: first.reason,
      message: first.message,
      broken: first,
    };
  }

  /**
   * The breaks of an imported oxios prefix by oxios's rule (`imported_chain_broken`): the run of
   * imported entries from the first held one (one entry is read first, so a trail without one
   * costs a single read). A record that does not decode ends it: kerno's chain check reports it.
   */
  async #importedBreaks(): Promise<VerifyBreak[]> {
    const head = await this.#view.head();
    const prefix: AuditEntry[] = [];
    let after = head.firstSeq - 1;
    let size = 1;
    try {
      scan: for (;;) {
        const page = await this.#view.read(after, size);
        for (const entry of page) {
          if (!isImported(entry)) break scan;
          prefix.push(entry);
        }
        if (page.length < size) break;
        after = page[page.length - 1]!.seq;
        size = 1000;
      }
    } catch (error) {
      if (!(error instanceof SyntaxError || error instanceof TypeError)) throw error;
    }
    if (prefix.length === 0) return [];
    return checkImportedPrefix(prefix, head.anchor !== undefined).map((b) => {
      const brk = {
        reason: 'imported_chain_broken' as const,
        seq: b.seq,
        importedSeq: b.importedSeq,
        detail: b.detail,
      };
      return {
        ...brk,
        hash: prefix.find((e) => e.seq === b.seq)?.hash ?? null,
        message: describeBreak(brk),
      };
    });
  }

  /**
   * Imports oxios audit history as the trail's prefix: an oxios trail export (verified first by
   * its BLAKE3 chain — a broken one is refused with `CHAIN_BROKEN` naming the seq) or the access
   * log. Only into an empty trail (`CONFLICT` otherwise: import before the store's first start),
   * all entries in one append (all or nothing); kerno's next entry links to the last one.
   */
  async importOxios(source: OxiosImportSource): Promise<AuditImportResult> {
    const inputs = importedInputs(source, this.#clock.now());
    // Wait until every entry accepted so far is written (through an outage, however long), then
    // hold the write queue while the trail is checked and the prefix written, so no entry of this
    // process slips in between; queued entries are written (in order) after.
    while (this.#writing || this.#scheduled || this.#queue.length > 0) {
      await new Promise<void>((resolve) => {
        this.#idleWaiters.push(resolve);
        this.#expedite();
        this.#schedule();
      });
    }
    this.#writing = true;
    try {
      return await this.#writePrefix(source, inputs);
    } finally {
      this.#writing = false;
      if (this.#queue.length > 0) this.#schedule();
      else for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  async #writePrefix(
    source: OxiosImportSource,
    inputs: ReturnType<typeof importedInputs>,
  ): Promise<AuditImportResult> {
    const before = await this.#view.head();
    if (before.seq > 0) {
      throw new KernelError(
        'CONFLICT',
        `The audit trail already holds ${before.seq} entries: oxios history is imported only as the prefix of an empty trail. Import into a new store before its first start (kerno audit import --oxios <file> --store <new store URL>)`,
        { details: { seq: before.seq } },
      );
    }
    if (inputs.length === 0) {
      throw new KernelError('INVALID_UPSTREAM_FILE', 'The oxios file holds no entries to import');
    }
    const entries = await this.#view.append(
      inputs.map((i) => ({ ...i, metadataJson: canonicalJson(i.metadata) })),
    );
    if (entries[0]!.seq !== 1) {
      this.#logger.warn('Another writer appended to the audit trail during the oxios import', {
        firstImportedSeq: entries[0]!.seq,
      });
    }
    const last = entries[entries.length - 1]!;
    return {
      imported: entries.length,
      format: source.format,
      head: { seq: last.seq, hash: last.hash },
      oxiosHead:
        source.format === 'oxios-trail'
          ? (source.entries[source.entries.length - 1]?.hash ?? null)
          : null,
      trustedRoot: source.format === 'oxios-trail' && source.entries[0]?.prev_hash === 'pruned',
    };
  }

  /**
   * Appends an acceptance anchor for the trail through `throughSeq` (see {@link LogView.accept}):
   * the repair path for known breaks, nothing updated or deleted. Use the kernel's
   * `acceptChain`, which also records it in the trail.
   */
  async accept(options: LogAcceptOptions): Promise<ChainAcceptance> {
    await this.#settled();
    // The imported prefix's breaks by oxios's rule are accepted with kerno's own.
    const imported = await this.#importedBreaks();
    return this.#view.accept({ ...options, extraBreaks: imported });
  }

  /** The whole trail as a JSON document (see {@link verifyAuditExport}). */
  async export(): Promise<AuditExport> {
    await this.#settled();
    const head = await this.#view.head();
    const entries: AuditEntry[] = [];
    for await (const entry of this.#view.replay({ after: head.firstSeq - 1 })) {
      if (entry.seq > head.seq) break;
      entries.push(entry);
    }
    return {
      format: 'kerno.audit',
      version: 1,
      anchor: head.anchor === undefined ? null : { seq: head.anchor.seq, hash: head.anchor.hash },
      head: { seq: head.seq, hash: head.hash },
      entries,
    };
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new KernelError('INVALID_ARGUMENT', `${name} must be a positive number, got ${value}`);
  }
  return value;
}

function closedError(): KernelError {
  return new KernelError('CLOSED', 'The audit trail is closed');
}

function toMs(value: string | number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  const ms = parseTimestamp(value);
  if (ms === undefined) {
    throw new KernelError(
      'INVALID_QUERY',
      `${name} must be an RFC 3339 timestamp, got "${value.slice(0, 40)}"`,
    );
  }
  return ms;
}

/** The canonical JSON body kerno hashes for an entry (keys sorted). */
function auditBody(
  actor: string,
  action: AuditAction,
  resource: string,
  metadataJson: string,
): string {
  return (
    '{"action":' +
    canonicalAuditAction(action) +
    ',"actor":' +
    JSON.stringify(actor) +
    ',"metadata":' +
    metadataJson +
    ',"resource":' +
    JSON.stringify(resource) +
    '}'
  );
}

interface AuditBody {
  action: AuditAction;
  actor: string;
  metadata: JsonValue | null;
  resource: string;
}

/** An entry about to be written: its time is taken when it happened, not when it is written. */
interface AuditInput {
  readonly timeMs: number;
  readonly actor: string;
  readonly action: AuditAction;
  readonly resource: string;
  readonly metadata: JsonValue | null;
  readonly metadataJson: string;
}

/** Appends of entries nobody awaits. */
const BACKGROUND = Object.freeze({ background: true });

const AUDIT_CODEC: LogCodec<AuditInput, AuditEntry> = {
  encode: (e) => ({
    timeMs: e.timeMs,
    body: auditBody(e.actor, e.action, e.resource, e.metadataJson),
    key: undefined,
    tenant: undefined,
    kind: e.action.type,
    subject: e.actor,
    correlation: undefined,
    chain: undefined,
  }),
  decode: toEntry,
  committed: (r, e) => ({
    seq: r.seq,
    timestamp: formatTimestamp(r.timeMs),
    actor: e.actor,
    action: e.action,
    resource: e.resource,
    prevHash: r.prevHash,
    hash: r.hash,
    metadata: e.metadata,
  }),
};

/**
 * The kernel event an entry records (entries written by {@link AuditTrail.attach} or
 * {@link AuditTrail.recordEvent}), or undefined for a plain entry.
 */
export function auditedEvent(entry: AuditEntry): KernelEvent | undefined {
  const event = (entry.metadata as { readonly event?: { readonly type?: unknown } } | null)?.event;
  if (typeof event !== 'object' || event === null || typeof event.type !== 'string')
    return undefined;
  return event as KernelEvent;
}

function toEntry(r: LogBody): AuditEntry {
  const body = JSON.parse(r.body) as AuditBody;
  return {
    seq: r.seq,
    timestamp: formatTimestamp(r.timeMs),
    actor: body.actor,
    action: { type: body.action.type, data: body.action.data } as AuditAction,
    resource: body.resource,
    prevHash: r.prevHash,
    hash: r.hash,
    metadata: body.metadata,
  };
}

/** Rebuilds the log record an exported entry came from (to recompute its hash). */
function entryToRecord(stream: string, e: AuditEntry): LogRecord {
  const action = parseAuditAction(e.action);
  const timeMs = parseTimestamp(e.timestamp);
  if (timeMs === undefined) {
    throw new KernelError(
      'INVALID_EXPORT',
      `Entry ${e.seq} has an invalid timestamp "${String(e.timestamp)}"`,
    );
  }
  return {
    stream,
    seq: e.seq,
    timeMs,
    kind: action.type,
    subject: e.actor,
    body: auditBody(e.actor, action, e.resource, canonicalJson(e.metadata ?? null)),
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

/**
 * Verifies a document written by {@link AuditTrail.export} (JSON text or parsed), recomputing
 * every hash. `expectedHead` detects a truncated export.
 */
export function verifyAuditExport(
  doc: unknown,
  options: { expectedHead?: { seq: number; hash: string }; stream?: string } = {},
): AuditVerifyResult {
  let value: unknown = doc;
  if (typeof doc === 'string') {
    try {
      value = JSON.parse(doc);
    } catch (error) {
      throw new KernelError('INVALID_EXPORT', 'The audit export is not valid JSON', {
        cause: error,
      });
    }
  }
  const d = value as Partial<AuditExport> | null;
  if (
    d === null ||
    typeof d !== 'object' ||
    d.format !== 'kerno.audit' ||
    !Array.isArray(d.entries)
  ) {
    throw new KernelError(
      'INVALID_EXPORT',
      'Not a kerno audit export (expected {"format":"kerno.audit","entries":[…]}); for an oxios export use verifyOxiosExport',
    );
  }
  const stream = options.stream ?? 'audit';
  const first = d.entries[0] as AuditEntry | undefined;
  const start =
    d.anchor !== null && d.anchor !== undefined
      ? d.anchor
      : { seq: first === undefined ? 0 : first.seq - 1, hash: GENESIS_HASH };
  const verifier = new ChainVerifier(stream, start, {
    expectedHead: options.expectedHead ?? d.head,
  });
  const records: LogRecord[] = [];
  for (const e of d.entries as AuditEntry[]) {
    if (typeof e !== 'object' || e === null || !Number.isSafeInteger(e.seq)) {
      throw new KernelError(
        'INVALID_EXPORT',
        'An export entry is not an object with an integer seq',
      );
    }
    records.push(entryToRecord(stream, e));
  }
  verifier.feed(records);
  return verifier.finish();
}

/**
 * The NATS JetStream bus: an {@link EventBus} that spans processes. Each kernel process keeps a
 * local in-memory bus (same semantics as {@link createMemoryBus}); what it publishes is delivered
 * locally at once and sent to a JetStream stream, and what other processes publish arrives from
 * that stream and is delivered locally as well.
 *
 * - Subjects are `<subjectPrefix>.<tenant>.<EventType>` (default `kerno.default.AgentOutput`),
 *   in one stream per tenant and prefix (file storage), created when missing.
 * - Every publication carries a UUIDv7 `Nats-Msg-Id` (JetStream stores it once however often it is
 *   retried), the publishing bus's origin id and a per-origin sequence number. A bus skips its own
 *   publications when they come back, and restores each publisher's order.
 * - Publications are retried until acknowledged, across reconnects; `flush()` waits for that.
 *
 * @example
 * const bus = await createNatsBus({ servers: 'nats://127.0.0.1:4222', tenant: 'acme' });
 * bus.on('AgentFailed', (e) => alert(e.error));     // from every process of tenant acme
 * bus.publish({ type: 'AgentStarted', id });         // delivered here now, elsewhere soon
 * await bus.flush();                                  // every publication so far is stored
 * await bus.close();
 *
 * @module
 */
import { KernelError, errorMessage, isKernelError } from '../../errors.js';
import type { Clock } from '../../util/clock.js';
import { createUuidV7, type IdGenerator } from '../../util/ids.js';
import type { Random } from '../../util/random.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { parseRfc3339 } from '../../util/time.js';
import type {
  BusStats,
  BusSubscription,
  EventBus,
  EventSelector,
  SelectedEvent,
  SubscribeOptions,
  Unsubscribe,
} from '../event-bus.js';
import {
  decodeKernelEvent,
  encodeKernelEvent,
  type KernelEvent,
  type KernelEventOf,
  type KernelEventType,
} from '../../model/kernel-event.js';
import { createMemoryBus, type MemoryBusOptions } from '../memory-bus.js';
import {
  ensureStream,
  loadNats,
  type JetStreamClient,
  type NatsConnection,
  type NatsModules,
} from './nats-client.js';
import { OriginSequencer } from './origin-sequencer.js';
import { PublicationQueue, type Publication } from './publication-queue.js';

/** Header naming the bus instance that published a message. */
export const ORIGIN_HEADER = 'Kerno-Origin';
/** Header carrying the publisher's sequence number (1, 2, …). */
export const SEQUENCE_HEADER = 'Kerno-Seq';

/**
 * Which stored events a new bus receives: only those published from now on (`'new'`, the
 * default), the whole stream (`'all'`), or from a stream sequence or a point in time.
 */
export type NatsDeliverPolicy =
  'new' | 'all' | { readonly startSequence: number } | { readonly startTime: Date | string };

/** Options for {@link createNatsBus}. */
export interface NatsBusOptions extends MemoryBusOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  readonly servers: string | readonly string[];
  /** Tenant: one subject token (letters, digits, `-`, `_`). Default `default`. */
  readonly tenant?: string;
  /** Subject prefix: dot-separated tokens. Default `kerno`. */
  readonly subjectPrefix?: string;
  /** JetStream stream name. Default `<subjectPrefix with _ for .>_<tenant>`, e.g. `kerno_default`. */
  readonly streamName?: string;
  /** Which stored events this bus receives (default `'new'`). Replayed events reach the
   * subscribers attached when they arrive: attach them right after `createNatsBus` resolves. */
  readonly deliver?: NatsDeliverPolicy;
  /** Most publications waiting for an acknowledgement before new ones are dropped (65 536). */
  readonly maxPendingPublications?: number;
  /** Most publications awaiting an acknowledgement at once (1024). */
  readonly maxInFlight?: number;
  /** How long to wait for a publication's acknowledgement before retrying it (5000 ms). */
  readonly ackTimeoutMs?: number;
  /** First retry delay, doubled up to 5 s (100 ms). */
  readonly retryDelayMs?: number;
  /** Delay between reconnect attempts (500 ms). Reconnection never gives up. */
  readonly reconnectWaitMs?: number;
  /** How long the first connection may take (5000 ms). */
  readonly connectTimeoutMs?: number;
  /** How long `close()` waits for outstanding acknowledgements (10 000 ms). */
  readonly closeTimeoutMs?: number;
  /** How long a later event of a publisher waits for an earlier one lost in a reconnect (2 × ackTimeoutMs). */
  readonly reorderWindowMs?: number;
  /** De-duplication window of a new stream (120 000 ms). */
  readonly duplicateWindowMs?: number;
  /** Age after which a new stream discards messages (7 days; 0 keeps them forever). */
  readonly maxAgeMs?: number;
  /** Connection name shown by the NATS server (default `kerno-<origin>`). */
  readonly name?: string;
  /** Source of time and randomness for message and origin ids. */
  readonly clock?: Clock;
  readonly random?: Random;
}

/** Counters of a {@link NatsBus}. `published` counts local publications only. */
export interface NatsBusStats extends BusStats {
  /** Publications not yet acknowledged by JetStream. */
  readonly pendingPublications: number;
  /** Publications acknowledged by JetStream. */
  readonly acked: number;
  /** Publications dropped because `maxPendingPublications` were waiting. */
  readonly droppedPublications: number;
  /** Publications JetStream refused for good. */
  readonly rejectedPublications: number;
  /** Events from other processes delivered here. */
  readonly remoteReceived: number;
  /** Stored messages that were not valid kernel events (skipped and logged). */
  readonly remoteInvalid: number;
  /** Reconnections to the NATS server. */
  readonly reconnects: number;
  /** Whether the connection is up now. */
  readonly connected: boolean;
  /** The stream sequence of the last message received (a resume point for `deliver`). */
  readonly lastStreamSequence: number;
}

/** An {@link EventBus} spanning processes through NATS JetStream. */
export interface NatsBus extends EventBus {
  /** This bus instance's origin id (a UUIDv7), carried by each of its publications. */
  readonly origin: string;
  readonly streamName: string;
  /** `<subjectPrefix>.<tenant>`: events go to `<subjectBase>.<EventType>`. */
  readonly subjectBase: string;
  /** Whether `event` was published by another process. */
  isRemote(event: KernelEvent): boolean;
  /**
   * Resolves when every publication made so far is acknowledged by JetStream. Rejects with
   * `PUBLISH_OVERFLOW` or `PUBLISH_REJECTED` when publications since the previous flush were lost,
   * with `UNREACHABLE` after `timeoutMs`, and with `CLOSED` when the bus closes first.
   */
  flush(options?: { readonly timeoutMs?: number }): Promise<void>;
  stats(): NatsBusStats;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;
const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** Room left in a message for headers when checking the server's max_payload. */
const HEADER_ROOM = 256;

/**
 * Opens a NATS JetStream bus: connects, creates the stream if missing, and starts receiving.
 * Throws `UNREACHABLE` when the server cannot be reached or has no JetStream,
 * `DEPENDENCY_MISSING` without the NATS packages, and `INVALID_ARGUMENT` for bad options.
 */
export async function createNatsBus(options: NatsBusOptions): Promise<NatsBus> {
  const config = resolveOptions(options);
  const nats = await loadNats();
  let nc: NatsConnection;
  try {
    nc = await nats.transport.connect({
      servers: config.servers,
      name: options.name ?? `kerno-${config.origin}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: config.reconnectWaitMs,
      timeout: config.connectTimeoutMs,
    });
  } catch (error) {
    throw new KernelError(
      'UNREACHABLE',
      `Could not connect to NATS at ${config.servers.join(', ')}: ${errorMessage(error)}. Start nats-server with -js, or fix the URL`,
      { cause: error },
    );
  }
  try {
    let jsm;
    try {
      jsm = await nats.jetstream.jetstreamManager(nc, { timeout: config.connectTimeoutMs });
    } catch (error) {
      throw new KernelError(
        'UNREACHABLE',
        `The NATS server at ${config.servers.join(', ')} has no JetStream (${errorMessage(error)}); start it with -js`,
        { cause: error },
      );
    }
    const lastSeq = await ensureStream(nats, jsm, config.stream);
    const bus = new NatsEventBus(nats, nc, config, options);
    await bus.start(lastSeq);
    return bus;
  } catch (error) {
    await nc.close().catch(() => undefined);
    if (isKernelError(error)) throw error;
    throw new KernelError(
      'UNREACHABLE',
      `Could not set up the JetStream stream "${config.stream.name}": ${errorMessage(error)}`,
      { cause: error },
    );
  }
}

interface ResolvedOptions {
  readonly servers: string[];
  readonly origin: string;
  readonly ids: IdGenerator;
  readonly subjectBase: string;
  readonly stream: {
    readonly name: string;
    readonly subject: string;
    readonly duplicateWindowMs: number;
    readonly maxAgeMs: number;
  };
  readonly deliver: ResolvedDeliver;
  readonly maxPending: number;
  readonly maxInFlight: number;
  readonly ackTimeoutMs: number;
  readonly retryDelayMs: number;
  readonly reconnectWaitMs: number;
  readonly connectTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly reorderWindowMs: number;
  readonly logger: Logger;
}

function resolveOptions(o: NatsBusOptions): ResolvedOptions {
  const servers = typeof o.servers === 'string' ? o.servers.split(',') : [...o.servers];
  const cleaned = servers.map((s) => s.trim()).filter((s) => s !== '');
  if (cleaned.length === 0 || cleaned.some((s) => !/^(nats|tls):\/\//.test(s))) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `NATS servers must be nats:// URLs (e.g. nats://127.0.0.1:4222), got "${cleaned.join(',')}"`,
    );
  }
  const tenant = o.tenant ?? 'default';
  if (!TOKEN.test(tenant)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `The tenant "${tenant}" must be one NATS subject token: letters, digits, "-" and "_"`,
    );
  }
  const prefix = o.subjectPrefix ?? 'kerno';
  if (!PREFIX.test(prefix)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `The subject prefix "${prefix}" must be dot-separated tokens of letters, digits, "-" and "_"`,
    );
  }
  const streamName = o.streamName ?? `${prefix.replace(/\./g, '_')}_${tenant}`;
  if (!TOKEN.test(streamName)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `The stream name "${streamName}" may only hold letters, digits, "-" and "_"`,
    );
  }
  const ids = createUuidV7({
    ...(o.clock === undefined ? {} : { clock: o.clock }),
    ...(o.random === undefined ? {} : { random: o.random }),
  });
  const ackTimeoutMs = positive(o.ackTimeoutMs ?? 5000, 'ackTimeoutMs');
  const subjectBase = `${prefix}.${tenant}`;
  return {
    servers: cleaned,
    origin: ids(),
    ids,
    subjectBase,
    stream: {
      name: streamName,
      subject: `${subjectBase}.>`,
      duplicateWindowMs: positive(o.duplicateWindowMs ?? 120_000, 'duplicateWindowMs'),
      maxAgeMs: nonNegative(o.maxAgeMs ?? 7 * 24 * 3600_000, 'maxAgeMs'),
    },
    deliver: checkDeliver(o.deliver ?? 'new'),
    maxPending: positive(o.maxPendingPublications ?? 65_536, 'maxPendingPublications'),
    maxInFlight: positive(o.maxInFlight ?? 1024, 'maxInFlight'),
    ackTimeoutMs,
    retryDelayMs: positive(o.retryDelayMs ?? 100, 'retryDelayMs'),
    reconnectWaitMs: positive(o.reconnectWaitMs ?? 500, 'reconnectWaitMs'),
    connectTimeoutMs: positive(o.connectTimeoutMs ?? 5000, 'connectTimeoutMs'),
    closeTimeoutMs: nonNegative(o.closeTimeoutMs ?? 10_000, 'closeTimeoutMs'),
    reorderWindowMs: positive(o.reorderWindowMs ?? 2 * ackTimeoutMs, 'reorderWindowMs'),
    logger: o.logger ?? silentLogger,
  };
}

/** A deliver policy with a start time resolved to nanoseconds (RFC 3339 keeps sub-ms digits). */
type ResolvedDeliver =
  | 'new'
  | 'all'
  | { readonly startSequence: number }
  | { readonly startTime: string; readonly nanos: bigint };

function checkDeliver(d: NatsDeliverPolicy): ResolvedDeliver {
  if (d === 'new' || d === 'all') return d;
  if (typeof d === 'object' && d !== null) {
    if ('startSequence' in d) {
      positive(d.startSequence, 'deliver.startSequence');
      return d;
    }
    if ('startTime' in d) {
      const text =
        d.startTime instanceof Date
          ? Number.isFinite(d.startTime.getTime())
            ? d.startTime.toISOString()
            : ''
          : d.startTime;
      const instant = parseRfc3339(text);
      if (instant === undefined) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          `deliver.startTime must be a Date or an RFC 3339 time (e.g. 2026-05-14T10:00:00Z), got "${String(d.startTime)}"`,
        );
      }
      return {
        startTime: text,
        nanos: BigInt(instant.ms) * 1_000_000n + BigInt(instant.subMsNanos),
      };
    }
  }
  throw new KernelError(
    'INVALID_ARGUMENT',
    "deliver must be 'new', 'all', { startSequence: n } or { startTime: Date | string }",
  );
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new KernelError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function nonNegative(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new KernelError('INVALID_ARGUMENT', `${name} must be an integer >= 0, got ${value}`);
  }
  return value;
}

/** A JetStream error that retrying cannot fix (a client-side argument error, a 4xx answer). */
function isPermanent(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'InvalidArgumentError') return true;
  const status = (error as { status?: unknown }).status;
  return (
    error.name === 'JetStreamApiError' &&
    typeof status === 'number' &&
    status >= 400 &&
    status < 500 &&
    status !== 404 &&
    status !== 408
  );
}

interface ConsumerMessages {
  stop(): void;
}

class NatsEventBus implements NatsBus {
  readonly origin: string;
  readonly streamName: string;
  readonly subjectBase: string;
  readonly #nats: NatsModules;
  readonly #nc: NatsConnection;
  readonly #config: ResolvedOptions;
  readonly #logger: Logger;
  readonly #local: EventBus;
  readonly #remote = new WeakSet<KernelEvent>();
  readonly #queue: PublicationQueue;
  readonly #js: JetStreamClient;
  readonly #sequencer: OriginSequencer<KernelEvent>;
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();
  readonly #maxPayload: number;
  #messages: ConsumerMessages | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #published = 0;
  #remoteReceived = 0;
  #remoteInvalid = 0;
  #reconnects = 0;
  #connected = true;
  /** The last stream sequence received: the next consumer starts after it. */
  #seenSeq = 0;
  /** Messages stored before this time (ns) are older than the deliver policy. */
  #minTimeNanos = 0n;
  /** Increases each time the consumer is replaced; a stale replacement stops itself. */
  #generation = 0;
  #ensuring: Promise<unknown> | undefined;

  constructor(
    nats: NatsModules,
    nc: NatsConnection,
    config: ResolvedOptions,
    options: MemoryBusOptions,
  ) {
    this.#nats = nats;
    this.#nc = nc;
    this.#config = config;
    this.#logger = config.logger;
    this.origin = config.origin;
    this.streamName = config.stream.name;
    this.subjectBase = config.subjectBase;
    this.#local = createMemoryBus(options);
    this.#maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    const js = nats.jetstream.jetstream(nc, { timeout: config.ackTimeoutMs });
    this.#js = js;
    const { headers } = nats.transport;
    this.#queue = new PublicationQueue({
      send: async (p: Publication) => {
        const h = headers();
        h.set(ORIGIN_HEADER, this.origin);
        h.set(SEQUENCE_HEADER, String(p.seq));
        await js.publish(p.subject, p.data, {
          msgID: p.msgId,
          headers: h,
          timeout: config.ackTimeoutMs,
        });
      },
      isPermanent,
      onTransientError: (error) => {
        // "No responders": the stream is gone (e.g. a server restarted without its store).
        if (error instanceof Error && error.name === 'JetStreamNotEnabled') this.#reEnsureStream();
      },
      maxPending: config.maxPending,
      maxInFlight: config.maxInFlight,
      retryDelayMs: config.retryDelayMs,
      maxRetryDelayMs: Math.max(config.retryDelayMs, 5000),
      logger: this.#logger,
    });
    this.#sequencer = new OriginSequencer<KernelEvent>({
      deliver: (event) => this.#deliverRemote(event),
      holdMs: config.reorderWindowMs,
      maxHeld: 10_000,
      maxOrigins: 10_000,
      onAnomaly: (kind, origin, count) => {
        if (kind === 'gap') {
          this.#logger.warn('Events of another process never arrived; delivering later ones', {
            origin,
            missing: count,
          });
        }
      },
    });
  }

  /** Starts receiving. `lastSeq` is the stream's last sequence when the bus was opened. */
  async start(lastSeq: number): Promise<void> {
    const d = this.#config.deliver;
    if (typeof d === 'object' && 'startTime' in d) this.#minTimeNanos = d.nanos;
    else this.#seenSeq = (d === 'new' ? lastSeq + 1 : d === 'all' ? 1 : d.startSequence) - 1;
    await this.#consume(this.#generation);
    void this.#watchStatus();
  }

  /**
   * Creates an ordered consumer that starts after the last message seen (or at the start time,
   * before any was seen) and consumes it. Messages at or below the last one seen are skipped, so
   * consumers may overlap while one replaces another.
   */
  async #consume(generation: number): Promise<void> {
    const { DeliverPolicy } = this.#nats.jetstream;
    const d = this.#config.deliver;
    const consumer = await this.#js.consumers.get(this.streamName, {
      filter_subjects: this.#config.stream.subject,
      ...(this.#seenSeq === 0 && typeof d === 'object' && 'startTime' in d
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: d.startTime }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.#seenSeq + 1 }),
    });
    const messages = await consumer.consume({
      max_messages: 1000,
      expires: 5000,
      callback: (m) => this.#receive(m),
    });
    if (this.#closed || generation !== this.#generation) {
      messages.stop();
      return;
    }
    this.#messages = messages;
  }

  /**
   * After a reconnect, replaces the consumer rather than trusting the old one to recover: the
   * server may have restarted and lost it, and a replacement resumes exactly after the last
   * message seen.
   */
  async #resubscribe(): Promise<void> {
    const generation = ++this.#generation;
    this.#messages?.stop();
    this.#messages = undefined;
    let delay = this.#config.retryDelayMs;
    for (let attempt = 0; !this.#closed && generation === this.#generation; attempt++) {
      try {
        await this.#consume(generation);
        return;
      } catch (error) {
        if (attempt === 0) {
          this.#logger.warn('Could not resume receiving from NATS; retrying', {
            stream: this.streamName,
            error: errorMessage(error),
          });
        }
        await new Promise<void>((resolve) => setTimeout(resolve, delay).unref());
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      if (s.type === 'disconnect') {
        this.#connected = false;
        this.#queue.setConnected(false);
        this.#logger.warn('Lost the NATS connection; publications are queued', {
          server: s.server,
        });
      } else if (s.type === 'reconnect') {
        this.#connected = true;
        this.#reconnects++;
        this.#logger.info('Reconnected to NATS', {
          server: s.server,
          pending: this.#queue.pending,
        });
        this.#queue.setConnected(true);
        void this.#resubscribe();
      }
    }
  }

  #reEnsureStream(): void {
    if (this.#ensuring !== undefined || this.#closed) return;
    this.#ensuring = this.#nats.jetstream
      .jetstreamManager(this.#nc)
      .then((jsm) => ensureStream(this.#nats, jsm, this.#config.stream))
      .catch((error: unknown) =>
        this.#logger.warn('Could not re-create the JetStream stream', {
          stream: this.streamName,
          error: errorMessage(error),
        }),
      )
      .finally(() => {
        this.#ensuring = undefined;
      });
  }

  #receive(m: {
    readonly seq: number;
    readonly headers?: { get(k: string): string } | undefined;
    readonly timestampNanos: bigint;
    readonly data: Uint8Array;
  }): void {
    if (this.#closed) return;
    if (m.seq <= this.#seenSeq) return;
    this.#seenSeq = m.seq;
    if (this.#minTimeNanos > 0n && m.timestampNanos < this.#minTimeNanos) return;
    const origin = m.headers?.get(ORIGIN_HEADER) ?? '';
    if (origin === this.origin) return;
    let event: KernelEvent;
    try {
      event = decodeKernelEvent(this.#decoder.decode(m.data));
    } catch (error) {
      this.#remoteInvalid++;
      this.#logger.warn('Skipped a NATS message that is not a valid kernel event', {
        streamSequence: m.seq,
        error: errorMessage(error),
      });
      return;
    }
    const seq = Number(m.headers?.get(SEQUENCE_HEADER) ?? '');
    // Messages other tools publish (no origin or sequence) are delivered as they come.
    if (origin === '' || !Number.isSafeInteger(seq) || seq < 1) this.#deliverRemote(event);
    else this.#sequencer.accept(origin, seq, event);
  }

  #deliverRemote(event: KernelEvent): void {
    if (this.#closed) return;
    this.#remote.add(event);
    this.#remoteReceived++;
    this.#local.publish(event);
  }

  publish(event: KernelEvent): void {
    if (this.#closed) {
      throw new KernelError(
        'CLOSED',
        'The event bus is closed; publish before close() or create a new bus',
      );
    }
    const data = this.#encoder.encode(encodeKernelEvent(event));
    if (data.length + HEADER_ROOM > this.#maxPayload) {
      throw new KernelError(
        'INVALID_EVENT',
        `The ${event.type} event is ${data.length} bytes, more than the NATS server accepts (max_payload ${this.#maxPayload}); send large payloads by reference, or raise max_payload`,
      );
    }
    this.#published++;
    // Queue first: a handler publishing in reaction must not overtake this event on the wire.
    this.#queue.enqueue(`${this.subjectBase}.${event.type}`, data, this.#config.ids());
    this.#local.publish(event);
  }

  on<S extends EventSelector>(
    selector: S,
    handler: (event: SelectedEvent<S>) => void,
  ): Unsubscribe {
    return this.#local.on(selector, handler);
  }

  subscribe<T extends KernelEventType = KernelEventType>(
    options?: SubscribeOptions<T>,
  ): BusSubscription<KernelEventOf<T>> {
    return this.#local.subscribe(options);
  }

  isRemote(event: KernelEvent): boolean {
    return this.#remote.has(event);
  }

  flush(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    return this.#queue.flush(options.timeoutMs);
  }

  stats(): NatsBusStats {
    const local = this.#local.stats();
    return {
      published: this.#published,
      handlers: local.handlers,
      subscriptions: local.subscriptions,
      handlerErrors: local.handlerErrors,
      pendingPublications: this.#queue.pending,
      acked: this.#queue.acked,
      droppedPublications: this.#queue.dropped,
      rejectedPublications: this.#queue.rejected,
      remoteReceived: this.#remoteReceived,
      remoteInvalid: this.#remoteInvalid,
      reconnects: this.#reconnects,
      connected: this.#connected,
      lastStreamSequence: this.#seenSeq,
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    await this.#local.close();
    this.#sequencer.close();
    this.#messages?.stop();
    if (this.#queue.pending > 0) {
      try {
        await this.#queue.flush(this.#config.closeTimeoutMs);
      } catch (error) {
        this.#logger.error('Closing the NATS bus before every publication was acknowledged', {
          pending: this.#queue.pending,
          error: errorMessage(error),
        });
      }
    }
    this.#queue.stop();
    await this.#ensuring;
    await this.#nc
      .close()
      .catch((error: unknown) =>
        this.#logger.warn('Closing the NATS connection failed', { error: errorMessage(error) }),
      );
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

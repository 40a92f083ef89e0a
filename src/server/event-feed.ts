/**
 * The live event feed behind `GET /api/events` (Server-Sent Events). Kernel events reach the
 * audit trail, which is durable and numbered: the feed follows it once (`audit.follow()`), keeps the newest events in
 * a ring, and fans them out to every client. Each SSE `id` is the event's audit seq, so a client
 * that reconnects with `Last-Event-ID` resumes exactly where it stopped — from the ring, or from
 * the store when it fell further behind. A client that stops reading is cut off after a while
 * without slowing anyone else.
 *
 * Events the trail does not record — run steps' announcements, whose record is the run's journal —
 * are sent as they are published, without an `id` (there is no number to resume from), to the
 * clients reading from the ring; a client catching up from the store or reconnecting does not
 * get them, and reads the run instead (`GET /api/runs/:id`).
 *
 * @module
 */
import type { ServerResponse } from 'node:http';
import type { AuditTrail } from '../audit/audit-trail.js';
import { storedAuditEvent } from '../audit/stored-event.js';
import { canonicalKernelEventJson, type KernelEvent } from '../model/kernel-event.js';
import type { LogBody } from '../storage/log.js';
import { errorMessage } from '../errors.js';
import { silentLogger, type Logger } from '../util/logger.js';

interface Frame {
  readonly seq: number;
  readonly type: string;
  readonly text: string;
}

/** Options for {@link EventFeed}. */
export interface EventFeedOptions {
  /** The audit trail whose kernel events are streamed. */
  readonly audit: AuditTrail;
  /** Recent events kept for fast fan-out and short resumes (default 16384). */
  readonly ringSize?: number;
  /** Bytes queued for one client before it counts as stalled (default 4 MiB). */
  readonly maxBufferedBytes?: number;
  /** How long a client may leave its socket full before it is cut off (default 10 s). */
  readonly stallTimeoutMs?: number;
  /** Comment line sent to idle clients to keep connections open (default 15 s). */
  readonly heartbeatMs?: number;
  readonly logger?: Logger;
}

/** Counters. */
export interface EventFeedStats {
  readonly clients: number;
  readonly delivered: number;
  readonly cutOff: number;
  readonly headSeq: number;
}

/** What a client asks for. */
export interface FeedSubscription {
  readonly types?: ReadonlySet<string> | undefined;
  /** Resume after this audit seq (`Last-Event-ID`); default: only new events. */
  readonly lastEventId?: number | undefined;
}

/** The SSE frame of a stored audit record: its event's stored JSON text, passed through. */
function frameOf(record: LogBody): Frame | undefined {
  const event = storedAuditEvent(record.body);
  if (event === undefined) return undefined;
  return {
    seq: record.seq,
    type: event.type,
    text: `id: ${record.seq}\nevent: ${event.type}\ndata: ${event.json}\n\n`,
  };
}

class Client {
  cursor: number;
  pumping = false;
  closed = false;
  /** Catching up from the store (behind the ring): unrecorded events pass it by. */
  fromStore = false;
  constructor(
    readonly res: ServerResponse,
    readonly types: ReadonlySet<string> | undefined,
    cursor: number,
  ) {
    this.cursor = cursor;
  }
}

/** The headers of an event stream (a `HEAD` request gets them without the stream). */
export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
});

/** The SSE fan-out hub. */
export class EventFeed {
  readonly #audit: AuditTrail;
  readonly #ringSize: number;
  readonly #maxBuffered: number;
  readonly #stallMs: number;
  readonly #logger: Logger;
  readonly #ring: Frame[] = [];
  readonly #clients = new Set<Client>();
  readonly #stop = new AbortController();
  #head = 0;
  #delivered = 0;
  #cutOff = 0;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #follower: Promise<void> | undefined;
  #offUnrecorded: (() => void) | undefined;

  constructor(options: EventFeedOptions) {
    this.#audit = options.audit;
    this.#ringSize = options.ringSize ?? 16_384;
    this.#maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.#stallMs = options.stallTimeoutMs ?? 10_000;
    this.#logger = options.logger ?? silentLogger;
    const heartbeat = options.heartbeatMs ?? 15_000;
    this.#heartbeat = setInterval(() => {
      for (const c of this.#clients)
        if (!c.closed && c.res.writableLength === 0) c.res.write(': ping\n\n');
    }, heartbeat);
    this.#heartbeat.unref();
  }

  /** Starts following the audit stream from its current head. */
  async start(): Promise<void> {
    this.#head = (await this.#audit.head()).seq;
    this.#offUnrecorded = this.#audit.onUnrecorded((event) => this.#live(event));
    const follow = this.#audit.followStored({
      after: this.#head,
      signal: this.#stop.signal,
      pollMs: 200,
    });
    this.#follower = (async () => {
      try {
        for await (const r of follow) {
          this.#head = r.seq;
          const frame = frameOf(r);
          if (frame !== undefined) {
            this.#ring.push(frame);
            if (this.#ring.length > this.#ringSize)
              this.#ring.splice(0, this.#ring.length - this.#ringSize);
          }
          // Wake clients once per drained batch rather than per record.
          if (!this.#wakeScheduled) {
            this.#wakeScheduled = true;
            setImmediate(() => {
              this.#wakeScheduled = false;
              this.#sliceCache.clear();
              this.#chunkCache.clear();
              for (const c of this.#clients) void this.#pump(c);
            });
          }
        }
      } catch (error) {
        if (!this.#stop.signal.aborted)
          this.#logger.error('The event feed stopped', { error: errorMessage(error) });
      }
    })();
  }

  #wakeScheduled = false;

  /**
   * An unrecorded event, as it is published, to every client reading from the ring with room in
   * its socket. One catching up from the store is passed over (it is reading the past, and this
   * event has no number to be resumed from), as is one whose socket is full. It may arrive just
   * before recorded events published before it, which reach the ring a moment later.
   */
  #live(event: KernelEvent): void {
    let text: string | undefined;
    for (const c of this.#clients) {
      if (c.closed || c.fromStore || c.res.writableNeedDrain) continue;
      if (c.types !== undefined && !c.types.has(event.type)) continue;
      text ??= `event: ${event.type}\ndata: ${canonicalKernelEventJson(event)}\n\n`;
      c.res.write(text);
      this.#delivered++;
    }
  }

  /** Streams events to `res` (an SSE response whose headers the caller has not sent yet). */
  attach(res: ServerResponse, sub: FeedSubscription = {}): void {
    res.writeHead(200, { ...SSE_HEADERS, connection: 'keep-alive' });
    res.write(': kerno event stream\nretry: 2000\n\n');
    const start = sub.lastEventId ?? this.#head;
    const client = new Client(res, sub.types, Math.max(0, start));
    this.#clients.add(client);
    const drop = (): void => {
      client.closed = true;
      this.#clients.delete(client);
    };
    res.on('close', drop);
    res.on('error', drop);
    void this.#pump(client);
  }

  async #pump(c: Client): Promise<void> {
    if (c.pumping || c.closed) return;
    c.pumping = true;
    try {
      while (!c.closed && c.cursor < this.#head) {
        const oldest = this.#ring.length === 0 ? this.#head + 1 : this.#ring[0]!.seq;
        let frames: readonly Frame[];
        let through: number | undefined;
        c.fromStore = c.cursor + 1 < oldest;
        if (!c.fromStore) {
          frames = this.#fromRing(c.cursor);
        } else {
          // Fell behind the ring (or resumed from long ago): read from the store.
          const batch = await this.#audit.storedAfter(c.cursor, 1000);
          if (batch.length === 0) break;
          frames = batch.map(frameOf).filter((f): f is Frame => f !== undefined);
          through = batch[batch.length - 1]!.seq;
        }
        if (frames.length === 0 && through === undefined) break;
        const chunk = this.#chunk(frames, c.cursor, c.types);
        if (chunk.text !== '') c.res.write(chunk.text);
        this.#delivered += chunk.count;
        c.cursor = Math.max(c.cursor, chunk.last);
        // Records that are not kernel events (plain audit entries) are passed over.
        if (through !== undefined) c.cursor = Math.max(c.cursor, through);
        if (c.res.writableLength > this.#maxBuffered) {
          this.#cut(c, 'too far behind');
          return;
        }
        if (c.res.writableNeedDrain) {
          const drained = await this.#drainOrTimeout(c);
          if (!drained) {
            this.#cut(c, 'stalled');
            return;
          }
        }
      }
      // Caught up (or nothing more to read): live frames reach it again.
      c.fromStore = false;
    } catch (error) {
      this.#logger.warn('An event stream client failed', { error: errorMessage(error) });
      this.#cut(c, 'error');
    } finally {
      c.pumping = false;
    }
  }

  /**
   * The frames after `cursor` as one string (one socket write per batch). Clients without a type
   * filter that stand at the same cursor — the usual case — share the string.
   */
  #chunk(
    frames: readonly Frame[],
    cursor: number,
    types: ReadonlySet<string> | undefined,
  ): { text: string; count: number; last: number } {
    const shared = types === undefined && frames === this.#lastRingSlice;
    if (shared) {
      const hit = this.#chunkCache.get(cursor);
      if (hit !== undefined) return hit;
    }
    let text = '';
    let count = 0;
    let last = cursor;
    for (const f of frames) {
      if (f.seq <= cursor) continue;
      last = f.seq;
      if (types !== undefined && !types.has(f.type)) continue;
      text += f.text;
      count++;
    }
    const result = { text, count, last };
    if (shared) this.#chunkCache.set(cursor, result);
    return result;
  }

  #lastRingSlice: readonly Frame[] | undefined;
  readonly #chunkCache = new Map<number, { text: string; count: number; last: number }>();

  #fromRing(after: number): Frame[] {
    const ring = this.#ring;
    // Binary search for the first frame with seq > after.
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ring[mid]!.seq <= after) lo = mid + 1;
      else hi = mid;
    }
    const key = ring.length === 0 ? -1 : (ring[lo]?.seq ?? -1);
    const cached = this.#sliceCache.get(key);
    if (cached !== undefined && cached.ringLength === ring.length) {
      this.#lastRingSlice = cached.slice;
      return cached.slice;
    }
    const slice = ring.slice(lo, lo + 1024);
    this.#sliceCache.set(key, { slice, ringLength: ring.length });
    this.#lastRingSlice = slice;
    return slice;
  }

  readonly #sliceCache = new Map<number, { slice: Frame[]; ringLength: number }>();

  #drainOrTimeout(c: Client): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        c.res.off('drain', onDrain);
        resolve(false);
      }, this.#stallMs);
      const onDrain = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      c.res.once('drain', onDrain);
    });
  }

  #cut(c: Client, why: string): void {
    if (c.closed) return;
    c.closed = true;
    this.#clients.delete(c);
    this.#cutOff++;
    this.#logger.warn('Cut off a slow event stream client', { why, cursor: c.cursor });
    c.res.destroy();
  }

  /** Counters. */
  stats(): EventFeedStats {
    return {
      clients: this.#clients.size,
      delivered: this.#delivered,
      cutOff: this.#cutOff,
      headSeq: this.#head,
    };
  }

  /** Ends every stream and stops following. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#offUnrecorded?.();
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    for (const c of this.#clients) {
      c.closed = true;
      c.res.end();
    }
    this.#clients.clear();
    await this.#follower;
  }
}

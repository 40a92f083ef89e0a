/**
 * Live tails across processes: one dedicated connection per storage LISTENs on the schema's
 * channel, to which every commit sends the names of the streams it wrote (`pg_notify` inside
 * the append, so only committed appends are announced). The connection is opened when the first
 * listener arrives and re-opened after a failure, with backoff; after every (re)connect all
 * streams get a wake-up, since notifications sent meanwhile are lost. Polling in `followLog`
 * stays the safety net.
 *
 * @module
 */
import type { Logger } from '../../util/logger.js';
import { errorMessage } from '../../errors.js';
import {
  connectClient,
  quoteIdent,
  type PgClient,
  type PgModule,
  type PgNotification,
  type PostgresLocation,
} from './postgres-connection.js';

/** The channel a schema's commits are announced on. */
export function logChannel(schema: string): string {
  return `${schema}__kerno_log`;
}

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 2000;

/** The LISTEN side of a storage. */
export class PostgresNotifications {
  readonly #pg: PgModule;
  readonly #location: PostgresLocation;
  readonly #channel: string;
  readonly #logger: Logger;
  /** Called with a stream name when another process committed to it. */
  readonly #onStream: (stream: string, fromPid: number) => void;
  /** Called after every (re)connect. */
  readonly #onConnected: () => void;
  #client: PgClient | undefined;
  #started = false;
  #closed = false;
  #backoffMs = MIN_BACKOFF_MS;
  #timer: NodeJS.Timeout | undefined;
  #connecting: Promise<void> | undefined;
  /** Bumped per connection attempt and per failure, so stale signals are ignored. */
  #attempt = 0;

  constructor(options: {
    pg: PgModule;
    location: PostgresLocation;
    channel: string;
    logger: Logger;
    onStream: (stream: string, fromPid: number) => void;
    onConnected: () => void;
  }) {
    this.#pg = options.pg;
    this.#location = options.location;
    this.#channel = options.channel;
    this.#logger = options.logger;
    this.#onStream = options.onStream;
    this.#onConnected = options.onConnected;
  }

  /** Starts listening (once). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#connect();
  }

  #connect(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    const attempt = ++this.#attempt;
    const connecting = (async () => {
      let client: PgClient | undefined;
      try {
        client = await connectClient(this.#pg, this.#location, 'listen', (error) =>
          this.#lost(attempt, client, error),
        );
        client.on('end', () => this.#lost(attempt, client, undefined));
        client.on('notification', (m: PgNotification) => {
          if (m.channel === this.#channel && m.payload !== undefined)
            this.#onStream(m.payload, m.processId);
        });
        await client.query({ text: `LISTEN ${quoteIdent(this.#channel)}` });
        if (this.#closed || attempt !== this.#attempt) {
          await client.end().catch(() => undefined);
          return;
        }
        this.#client = client;
        this.#backoffMs = MIN_BACKOFF_MS;
        this.#onConnected();
      } catch (error) {
        this.#lost(attempt, client, error);
      }
    })();
    this.#connecting = connecting;
    void connecting.finally(() => {
      if (this.#connecting === connecting) this.#connecting = undefined;
    });
  }

  /** A connection (or an attempt at one) failed: retry after a backoff, once per attempt. */
  #lost(attempt: number, client: PgClient | undefined, error: unknown): void {
    client?.end().catch(() => undefined);
    if (attempt !== this.#attempt || this.#closed) return;
    this.#attempt++; // later signals of the same failure are ignored
    if (this.#client === client) this.#client = undefined;
    this.#logger.warn('PostgreSQL LISTEN connection lost; reconnecting', {
      error: error === undefined ? 'connection ended' : errorMessage(error),
      retryInMs: this.#backoffMs,
    });
    this.#timer = setTimeout(() => this.#connect(), this.#backoffMs);
    this.#timer.unref();
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2);
  }

  /** Stops listening and closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}

/**
 * The experience ledger: converge's append-only record of every decision an agent system makes,
 * as a typed view over the log (stream `experience`). Beyond the reference: idempotent appends
 * by `event_id` within each tenant (see {@link ledgerKey}), a position per record, catch-up
 * subscriptions that never skip or repeat, hash-chained records with `verify()`, and append-only
 * enforced by the database.
 *
 * @example
 * const ledger = createLedger({ log: storage.log });
 * await ledger.append({ type: 'OutcomeRecorded', data: { … } }, { tenantId: 't1' });
 * const recent = await ledger.query({ tenantId: 't1', kinds: ['OutcomeRecorded'], limit: 100 });
 * for await (const rec of ledger.subscribe({ fromPosition: 0, signal })) { … }
 *
 * @module
 */
import { KernelError, isKernelError } from '../errors.js';
import type { LogFollow } from '../storage/follow.js';
import type {
  LogAppend,
  LogBody,
  LogHead,
  LogQuery,
  LogStore,
  VerifyResult,
} from '../storage/log.js';
import {
  createLogView,
  type LogCodec,
  type LogVerifyOptions,
  type LogView,
} from '../storage/log-view.js';
import { canonicalJson } from '../util/canonical-json.js';
import { systemClock, type Clock } from '../util/clock.js';
import { createUuidV7, type IdGenerator } from '../util/ids.js';
import { parseRfc3339 } from '../util/time.js';
import { assertTransition } from './artifact-lifecycle.js';
import { encodeEnvelopeLine, readEnvelopeLines } from '../formats/converge-ndjson.js';
import { createSpool, type Spool } from './import-spool.js';
import {
  createEnvelope,
  envelopeTimeMs,
  parseEnvelope,
  type ExperienceEnvelope,
} from '../formats/converge-envelope.js';
import {
  EXPERIENCE_EVENT_KINDS,
  eventChainId,
  eventKind,
  eventTraceLinkId,
  isExperienceEventKind,
  type ArtifactKind,
  type ExperienceEvent,
  type ExperienceEventKind,
  type GovernedArtifactState,
  type LifecycleEvent,
  type ReplayTrace,
} from '../formats/converge-experience-event.js';

/** A committed ledger record. */
export interface LedgerRecord {
  /** Position in the ledger, from 1, without holes. */
  readonly position: number;
  readonly envelope: ExperienceEnvelope;
  readonly prevHash: string;
  readonly hash: string;
}

/**
 * What a tenant token is shown of a record: the envelope it wrote and the record's own hash.
 * No position (a count of every tenant's records) and no `prevHash` (another record's hash).
 */
export interface TenantLedgerRecord {
  readonly envelope: ExperienceEnvelope;
  readonly hash: string;
}

/** The tenant-local part of `record` (see {@link TenantLedgerRecord}). */
export function tenantLedgerRecord(record: LedgerRecord): TenantLedgerRecord {
  return { envelope: record.envelope, hash: record.hash };
}

/**
 * The log key of an envelope: idempotency is per `(tenant, event_id)`. A record without a tenant
 * keeps `event_id` as its key (as every record had before tenants got their own key spaces); a
 * tenant's record is keyed `<tenant>` U+001F `<event_id>`. Event ids hold no control character
 * (the ledger refuses them), so the two kinds never collide and the last U+001F splits a
 * tenant key unambiguously.
 *
 * Records a tenant appended before this rule are keyed by `event_id` alone; the ledger still
 * finds them (a key-`event_id` record whose `tenant_id` is the tenant's), so re-appending them
 * stays idempotent without any migration.
 */
export function ledgerKey(eventId: string, tenantId: string | null): string {
  return tenantId === null ? eventId : `${tenantId}${KEY_SEPARATOR}${eventId}`;
}

const KEY_SEPARATOR = '\u001f';
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** Envelope metadata for {@link Ledger.append}. */
export interface LedgerAppendOptions {
  /**
   * The event's id (default: a new UUIDv7), unique within the tenant. Appending the same id and
   * content again is a no-op. No control characters.
   */
  readonly eventId?: string | undefined;
  /** RFC 3339 time (default: now, from the ledger's trusted clock). */
  readonly occurredAt?: string | undefined;
  readonly tenantId?: string | null | undefined;
  readonly correlationId?: string | null | undefined;
}

/** Inclusive time range: RFC 3339 text or epoch ms. */
export interface LedgerTimeRange {
  readonly start?: string | number | undefined;
  readonly end?: string | number | undefined;
}

/** converge's `EventQuery`. Results are oldest first (newest last); `limit` keeps the newest. */
export interface LedgerQuery {
  readonly tenantId?: string | undefined;
  readonly timeRange?: LedgerTimeRange | undefined;
  readonly kinds?: readonly ExperienceEventKind[] | undefined;
  readonly correlationId?: string | undefined;
  readonly chainId?: string | undefined;
  readonly limit?: number | undefined;
}

/** What a live subscription lets through. */
export type LedgerFilter =
  | ((record: LedgerRecord) => boolean)
  | {
      readonly tenantId?: string | undefined;
      readonly kinds?: readonly ExperienceEventKind[] | undefined;
      readonly correlationId?: string | undefined;
      readonly chainId?: string | undefined;
    };

/** Options for {@link Ledger.subscribe}. */
export interface LedgerSubscribeOptions {
  /** Deliver records after this position (default 0: everything). */
  readonly fromPosition?: number;
  readonly filter?: LedgerFilter;
  readonly signal?: AbortSignal;
  /** Records read per catch-up step (default 1000). */
  readonly batchSize?: number;
  /**
   * How often to look for records written by other processes while idle (default 500 ms).
   * In-process appends wake the subscription at once.
   */
  readonly pollMs?: number;
}

/** What {@link Ledger.verify} found: the log's one {@link VerifyResult} shape (`seq` = position). */
export type LedgerVerifyResult = VerifyResult;

/** Options for {@link createLedger}. */
export interface LedgerOptions {
  readonly log: LogStore;
  /** Stream name within the log (default `experience`). */
  readonly stream?: string;
  /** The trusted clock that stamps `occurred_at`. */
  readonly clock?: Clock;
  /** Event id generator (default UUIDv7 on `clock`). */
  readonly ids?: IdGenerator;
  /** How far ahead of the clock `occurred_at` may be before `verify` flags it (default 60 s). */
  readonly clockSkewMs?: number | undefined;
  /**
   * How far ahead of the clock an appended or imported `occurred_at` may be before the append
   * is refused (default 5 min): a record from the future would break verification for good.
   */
  readonly maxFutureMs?: number | undefined;
}

/** Default of {@link LedgerOptions.maxFutureMs}: 5 minutes. */
export const DEFAULT_MAX_FUTURE_MS = 5 * 60_000;

/** Creates a ledger view over a log. */
export function createLedger(options: LedgerOptions): Ledger {
  return new Ledger(options);
}

/** The experience ledger. */
export class Ledger {
  readonly #view: LogView<ExperienceEnvelope, LedgerRecord>;
  readonly #clock: Clock;
  readonly #ids: IdGenerator;
  readonly #maxFutureMs: number;
  /** Per-artifact queue, so transitions of one artifact are checked and written one at a time. */
  readonly #artifactLocks = new Map<string, Promise<void>>();

  constructor(options: LedgerOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#ids = options.ids ?? createUuidV7({ clock: this.#clock });
    this.#maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
    this.#view = createLogView({
      log: options.log,
      stream: options.stream ?? 'experience',
      codec: LEDGER_CODEC,
      clock: this.#clock,
      clockSkewMs: options.clockSkewMs,
    });
  }

  /** The log stream this ledger lives in. */
  get stream(): string {
    return this.#view.stream;
  }

  /**
   * Appends one event, stamped by the trusted clock. Resolves once durable. Appending the same
   * `eventId` with the same event, tenant and correlation again returns the stored record
   * (even though the new stamp differs); with other content it fails with `CONFLICT`. Each
   * tenant has its own ids: another tenant's record with the same `eventId` is no conflict.
   */
  async append(event: ExperienceEvent, options: LedgerAppendOptions = {}): Promise<LedgerRecord> {
    const envelope = this.#envelope(event, options);
    this.#check(envelope);
    if (options.eventId !== undefined) {
      const existing = await this.#stored(envelope.event_id, envelope.tenant_id);
      if (existing !== undefined) {
        const same =
          options.occurredAt === undefined
            ? sameButTime(existing.envelope, envelope)
            : canonicalJson(existing.envelope) === canonicalJson(envelope);
        if (same) return existing;
        throw idConflict(envelope);
      }
    }
    const [record] = await this.#appendFresh([envelope]);
    return record!;
  }

  /**
   * Appends envelopes as they are (e.g. imported from converge), validating each. All or none:
   * if one is invalid or conflicts, nothing is stored. An envelope already stored (same tenant,
   * `event_id` and content) answers the stored record.
   */
  async appendMany(envelopes: readonly unknown[]): Promise<LedgerRecord[]> {
    const parsed = envelopes.map((e) => parseEnvelope(e));
    parsed.forEach((e) => this.#check(e));
    // Records of a tenant written before per-tenant keys are found by event_id alone; the store
    // dedupes everything else by key itself.
    const legacy = await Promise.all(
      parsed.map((e) =>
        e.tenant_id === null ? Promise.resolve(undefined) : this.#legacy(e.event_id, e.tenant_id),
      ),
    );
    const fresh: ExperienceEnvelope[] = [];
    parsed.forEach((e, i) => {
      const old = legacy[i];
      if (old === undefined) fresh.push(e);
      else if (canonicalJson(old.envelope) !== canonicalJson(e)) throw idConflict(e);
    });
    const appended = await this.#appendFresh(fresh);
    let next = 0;
    return legacy.map((old) => old ?? appended[next++]!);
  }

  /** Appends through the view, turning the store's key conflict into the ledger's words. */
  async #appendFresh(envelopes: readonly ExperienceEnvelope[]): Promise<LedgerRecord[]> {
    if (envelopes.length === 0) return [];
    try {
      return await this.#view.append(envelopes);
    } catch (error) {
      const key = isKernelError(error, 'CONFLICT') ? error.details?.['key'] : undefined;
      const culprit = envelopes.find((e) => ledgerKey(e.event_id, e.tenant_id) === key);
      throw culprit === undefined ? error : idConflict(culprit, error);
    }
  }

  /** The record `eventId` names in `tenantId`'s key space (legacy keys included), if any. */
  async #stored(eventId: string, tenantId: string | null): Promise<LedgerRecord | undefined> {
    const own = await this.#view.get(ledgerKey(eventId, tenantId));
    if (own !== undefined) return own;
    return tenantId === null ? undefined : this.#legacy(eventId, tenantId);
  }

  /** A record `tenantId` appended before per-tenant keys (key = `event_id`), if any. */
  async #legacy(eventId: string, tenantId: string): Promise<LedgerRecord | undefined> {
    const old = await this.#view.get(eventId);
    return old?.envelope.tenant_id === tenantId ? old : undefined;
  }

  /** The checks every appended or imported envelope passes beyond its schema. */
  #check(envelope: ExperienceEnvelope, line?: number): void {
    this.#checkNotFuture(envelope, line);
    if (CONTROL_CHARACTER.test(envelope.event_id)) {
      throw new KernelError(
        'INVALID_EVENT',
        `${line === undefined ? '' : `Line ${line}: `}event_id ${JSON.stringify(envelope.event_id)} contains a control character; use printable text (a UUID, say)${line === undefined ? '' : '. Nothing was imported.'}`,
        { details: { path: 'event_id', ...(line === undefined ? {} : { line }) } },
      );
    }
  }

  /** Refuses an `occurred_at` more than `maxFutureMs` ahead of the trusted clock. */
  #checkNotFuture(envelope: ExperienceEnvelope, line?: number): void {
    const at = Date.parse(envelope.occurred_at);
    const limit = this.#clock.now() + this.#maxFutureMs;
    if (!(at > limit)) return;
    const where = line === undefined ? '' : `Line ${line}: `;
    throw new KernelError(
      'INVALID_ARGUMENT',
      `${where}occurred_at ${envelope.occurred_at} is more than ${Math.round(this.#maxFutureMs / 1000)} s in the future (the ledger's clock says ${new Date(this.#clock.now()).toISOString()}); omit occurred_at to have it stamped, or fix the source's clock${line === undefined ? '' : '. Nothing was imported.'}`,
      {
        details: {
          occurred_at: envelope.occurred_at,
          maxFutureMs: this.#maxFutureMs,
          ...(line === undefined ? {} : { line }),
        },
      },
    );
  }

  /** Appends one envelope as it is (validated). Idempotent by `event_id`. */
  async appendEnvelope(envelope: unknown): Promise<LedgerRecord> {
    const [record] = await this.appendMany([envelope]);
    return record!;
  }

  #envelope(event: ExperienceEvent, options: LedgerAppendOptions): ExperienceEnvelope {
    return createEnvelope(event, {
      clock: this.#clock,
      ids: this.#ids,
      ...(options.eventId === undefined ? {} : { eventId: options.eventId }),
      ...(options.occurredAt === undefined ? {} : { occurredAt: options.occurredAt }),
      ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
      ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
    });
  }

  /**
   * The record with this `event_id` in `tenantId`'s key space (default: the records without a
   * tenant), if any.
   */
  async get(
    eventId: string,
    options: { tenantId?: string | null | undefined } = {},
  ): Promise<LedgerRecord | undefined> {
    const tenantId = options.tenantId ?? null;
    const record = await this.#stored(eventId, tenantId);
    // A pre-rule tenant record holds the bare key: it is not the tenantless record asked for.
    return record?.envelope.tenant_id === tenantId ? record : undefined;
  }

  /** Records matching `query`, oldest first; with `limit`, the newest `limit` matches. */
  async query(query: LedgerQuery = {}): Promise<LedgerRecord[]> {
    return this.#view.query(toLogQuery(query));
  }

  /**
   * Records a governed-artifact lifecycle transition after checking it against the state
   * machine: the artifact's first transition starts from `Draft`; each later one starts from the
   * state the previous one reached; `from → to` must be allowed (`ILLEGAL_TRANSITION` lists the
   * allowed targets). A `from_state` that is not the artifact's current state is a `CONFLICT`.
   */
  writeArtifactStateTransition(
    artifactId: string,
    artifactKind: ArtifactKind,
    event: LifecycleEvent,
    options: Omit<LedgerAppendOptions, 'tenantId'> = {},
  ): Promise<LedgerRecord> {
    const previous = this.#artifactLocks.get(artifactId) ?? Promise.resolve();
    const next = previous.then(async () => {
      const current = await this.artifactState(artifactId);
      const from = event.from_state;
      const expected: GovernedArtifactState = current ?? 'Draft';
      if (from !== expected) {
        throw new KernelError(
          'CONFLICT',
          `Artifact ${artifactId} is in state ${expected}, not ${from}; read its current state and transition from there`,
          { details: { artifactId, current: expected, from } },
        );
      }
      assertTransition(from, event.to_state);
      return this.append(
        {
          type: 'ArtifactStateTransitioned',
          data: { artifact_id: artifactId, artifact_kind: artifactKind, event },
        },
        { ...options, tenantId: event.tenant_id ?? null },
      );
    });
    const settled: Promise<void> = next.then(
      () => release(),
      () => release(),
    );
    const release = (): void => {
      if (this.#artifactLocks.get(artifactId) === settled) this.#artifactLocks.delete(artifactId);
    };
    this.#artifactLocks.set(artifactId, settled);
    return next;
  }

  /** The state the artifact's latest recorded transition reached, or undefined if none. */
  async artifactState(artifactId: string): Promise<GovernedArtifactState | undefined> {
    const [latest] = await this.#view.query({
      subject: artifactId,
      kinds: ['ArtifactStateTransitioned'],
      limit: 1,
      orderBy: 'seq',
    });
    if (latest === undefined) return undefined;
    const env = latest.envelope;
    return env.event.type === 'ArtifactStateTransitioned'
      ? env.event.data.event.to_state
      : undefined;
  }

  /** The latest trace recorded under `traceLinkId` (`ReplayTraceRecorded`), if any. */
  async getTraceLink(traceLinkId: string): Promise<ReplayTrace | undefined> {
    const [latest] = await this.#view.query({
      subject: traceLinkId,
      kinds: ['ReplayTraceRecorded'],
      limit: 1,
      orderBy: 'seq',
    });
    if (latest === undefined) return undefined;
    const event = latest.envelope.event;
    return event.type === 'ReplayTraceRecorded' ? event.data.trace_link : undefined;
  }

  /** The ledger's head: record `{ seq, hash }` to detect a truncated tail later. */
  head(): Promise<LogHead> {
    return this.#view.head();
  }

  /** Waits until every append accepted so far is durable. */
  flush(): Promise<void> {
    return this.#view.flush();
  }

  /** Recomputes every record's hash and reports every position that does not verify. */
  verify(options: LogVerifyOptions = {}): Promise<LedgerVerifyResult> {
    return this.#view.verify(options);
  }

  /**
   * Replays every record after `fromPosition`, then follows new appends — with no gap and no
   * duplicate, whatever races with it. Ends when `signal` aborts (or on `break`). `caughtUp`
   * resolves once the replay is done.
   */
  subscribe(options: LedgerSubscribeOptions = {}): LogFollow<LedgerRecord> {
    return this.#view.follow({
      after: options.fromPosition ?? 0,
      signal: options.signal,
      filter: toPredicate(options.filter),
      batchSize: options.batchSize,
      pollMs: options.pollMs,
    });
  }

  /**
   * Imports converge envelope NDJSON (a file stream, chunks of text or bytes), all or nothing
   * for anything the file itself can get wrong, without holding it in memory.
   *
   * Two passes: the first reads the input once, validates every line (JSON, envelope, tenant
   * with `requireTenant`, `event_id` already in the ledger with other content) and spools the
   * valid envelopes to a temporary file; a bad line stops it with a typed error naming the line
   * (`INVALID_EVENT`, `FORBIDDEN`, `CONFLICT`, each with `details.line`) and nothing is stored.
   * Only then does the second pass append the spooled envelopes in atomic batches. An envelope
   * already in the ledger with the same content is counted as a duplicate, not stored twice.
   * With `onError: 'skip'` malformed lines are skipped (counted) instead.
   *
   * What is not covered: the store failing during the second pass (the batches appended so far
   * stay; importing the same file again is idempotent and finishes the job).
   */
  async importNdjson(
    source: AsyncIterable<string | Uint8Array>,
    options: {
      onError?: 'throw' | 'skip';
      batchSize?: number;
      onProgress?: (progress: { imported: number; duplicates: number; skipped: number }) => void;
      /** Every envelope must belong to this tenant (`FORBIDDEN` naming the line otherwise). */
      requireTenant?: string;
    } = {},
  ): Promise<{ imported: number; duplicates: number; skipped: number }> {
    const batchSize = options.batchSize ?? 1000;
    const spool = await createSpool();
    try {
      const { skipped, duplicates } = await this.#validateInto(source, spool, options);
      await spool.close();
      const result = { imported: 0, duplicates, skipped };
      let batch: ExperienceEnvelope[] = [];
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        const before = (await this.#view.head()).seq;
        const records = await this.#view.append(batch);
        const fresh = new Set(records.filter((r) => r.position > before).map((r) => r.position))
          .size;
        result.imported += fresh;
        result.duplicates += batch.length - fresh;
        batch = [];
        options.onProgress?.({ ...result });
      };
      for await (const { envelope } of readEnvelopeLines(spool.read())) {
        batch.push(envelope);
        if (batch.length >= batchSize) await flush();
      }
      await flush();
      return result;
    } finally {
      await spool.remove();
    }
  }

  /**
   * The first import pass: checks every line and spools the valid envelopes not yet stored;
   * answers the lines skipped and those already stored.
   */
  async #validateInto(
    source: AsyncIterable<string | Uint8Array>,
    spool: Spool,
    options: { onError?: 'throw' | 'skip'; requireTenant?: string },
  ): Promise<{ skipped: number; duplicates: number }> {
    let duplicates = 0;
    const reader = readEnvelopeLines(source, { onError: options.onError ?? 'throw' });
    for await (const { envelope, line } of reader) {
      if (options.requireTenant !== undefined && envelope.tenant_id !== options.requireTenant) {
        throw new KernelError(
          'FORBIDDEN',
          `Line ${line} belongs to tenant ${JSON.stringify(envelope.tenant_id)}; this token may only import tenant ${JSON.stringify(options.requireTenant)}. Nothing was imported.`,
          { details: { line } },
        );
      }
      this.#check(envelope, line);
      const existing = await this.#stored(envelope.event_id, envelope.tenant_id);
      if (existing === undefined) {
        await spool.write(encodeEnvelopeLine(envelope));
      } else if (canonicalJson(existing.envelope) === canonicalJson(envelope)) {
        duplicates++;
      } else {
        throw idConflict(envelope, undefined, line);
      }
    }
    return { skipped: reader.skipped, duplicates };
  }

  /** The ledger as converge envelope NDJSON lines (each ends with `\n`), oldest first. */
  async *exportNdjson(
    options: { fromPosition?: number } = {},
  ): AsyncGenerator<string, void, undefined> {
    for await (const envelope of this.envelopes(options)) yield encodeEnvelopeLine(envelope);
  }

  /** Every record's envelope, oldest first. */
  async *envelopes(
    options: { fromPosition?: number } = {},
  ): AsyncGenerator<ExperienceEnvelope, void, undefined> {
    for await (const r of this.#view.replay({ after: options.fromPosition })) yield r.envelope;
  }
}

/** The `CONFLICT` for an `event_id` its tenant already used for other content. */
function idConflict(envelope: ExperienceEnvelope, cause?: unknown, line?: number): KernelError {
  const owner =
    envelope.tenant_id === null
      ? 'the records without a tenant'
      : `tenant ${JSON.stringify(envelope.tenant_id)}`;
  return new KernelError(
    'CONFLICT',
    `${line === undefined ? '' : `Line ${line}: `}event_id ${JSON.stringify(envelope.event_id)} is already used in ${owner} with other content; use a new id for new content (appends are idempotent only for identical records)${line === undefined ? '' : '. Nothing was imported.'}`,
    {
      details: { event_id: envelope.event_id, ...(line === undefined ? {} : { line }) },
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

function sameButTime(a: ExperienceEnvelope, b: ExperienceEnvelope): boolean {
  return (
    a.event_id === b.event_id &&
    a.tenant_id === b.tenant_id &&
    a.correlation_id === b.correlation_id &&
    canonicalJson(a.event) === canonicalJson(b.event)
  );
}

/** What the log indexes for an envelope. */
function toAppend(env: ExperienceEnvelope): LogAppend {
  const event = env.event;
  return {
    timeMs: envelopeTimeMs(env),
    body: canonicalJson(env),
    key: ledgerKey(env.event_id, env.tenant_id),
    tenant: env.tenant_id ?? undefined,
    kind: eventKind(event),
    // The subject index serves artifact lifecycles and trace-link lookups.
    subject: subjectOf(event),
    correlation: env.correlation_id ?? undefined,
    chain: eventChainId(event),
  };
}

function subjectOf(event: ExperienceEvent): string | undefined {
  switch (event.type) {
    case 'ArtifactStateTransitioned':
      return event.data.artifact_id;
    case 'ArtifactRollbackRecorded':
      return event.data.rollback.artifact_id;
    default:
      return eventTraceLinkId(event);
  }
}

const LEDGER_CODEC: LogCodec<ExperienceEnvelope, LedgerRecord> = {
  encode: toAppend,
  decode: toRecord,
  // Reuse the envelope in hand rather than re-parsing the body just written.
  committed: (r, envelope) => ({ position: r.seq, envelope, prevHash: r.prevHash, hash: r.hash }),
};

function toRecord(r: LogBody): LedgerRecord {
  // Stored bodies were validated on append and are covered by the hash chain: parse, don't re-validate.
  return {
    position: r.seq,
    envelope: JSON.parse(r.body) as ExperienceEnvelope,
    prevHash: r.prevHash,
    hash: r.hash,
  };
}

function timeBound(value: string | number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new KernelError('INVALID_QUERY', `${name} must be a finite epoch-ms number`);
    return value;
  }
  const instant = parseRfc3339(value);
  if (instant === undefined) {
    throw new KernelError(
      'INVALID_QUERY',
      `${name} must be an RFC 3339 timestamp, got ${JSON.stringify(value).slice(0, 60)}`,
    );
  }
  return instant.ms;
}

function toLogQuery(q: LedgerQuery): LogQuery {
  if (q.kinds !== undefined) {
    for (const k of q.kinds) {
      if (!isExperienceEventKind(k)) {
        throw new KernelError(
          'INVALID_QUERY',
          `Unknown event kind ${JSON.stringify(k)}; known kinds: ${EXPERIENCE_EVENT_KINDS.join(', ')}`,
        );
      }
    }
  }
  return {
    tenant: q.tenantId,
    kinds: q.kinds,
    correlation: q.correlationId,
    chain: q.chainId,
    time: {
      fromMs: timeBound(q.timeRange?.start, 'timeRange.start'),
      toMs: timeBound(q.timeRange?.end, 'timeRange.end'),
    },
    limit: q.limit,
    orderBy: 'time',
  };
}

function toPredicate(filter: LedgerFilter | undefined): (r: LedgerRecord) => boolean {
  if (filter === undefined) return () => true;
  if (typeof filter === 'function') return filter;
  const kinds = filter.kinds === undefined ? undefined : new Set<string>(filter.kinds);
  return (r) => {
    const env = r.envelope;
    if (filter.tenantId !== undefined && env.tenant_id !== filter.tenantId) return false;
    if (kinds !== undefined && !kinds.has(env.event.type)) return false;
    if (filter.correlationId !== undefined && env.correlation_id !== filter.correlationId)
      return false;
    if (filter.chainId !== undefined && eventChainId(env.event) !== filter.chainId) return false;
    return true;
  };
}

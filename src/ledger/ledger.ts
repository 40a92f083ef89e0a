/**
 * The experience ledger: converge's append-only record of every decision an agent system makes —
 * engine-side events and (converge 3.8+) user-side ones in one stream — as a typed view over the
 * log (stream `experience`). Beyond the reference: idempotent appends by `event_id` within each
 * tenant (see {@link ledgerKey}), a position per record, catch-up subscriptions that never skip
 * or repeat, hash-chained records with `verify()`, and append-only enforced by the database.
 *
 * @example
 * const ledger = createLedger({ log: storage.log });
 * await ledger.append({ type: 'OutcomeRecorded', data: { … } }, { tenantId: 't1' });
 * const recent = await ledger.query({ tenantId: 't1', kinds: ['OutcomeRecorded'], limit: 100 });
 * for await (const rec of ledger.subscribe({ fromPosition: 0, signal })) { … }
 *
 * @module
 */
import { checkTraceHeaders } from '../util/trace-context.js';
import { KernelError, isKernelError } from '../errors.js';
import type { LogFollow } from '../storage/follow.js';
import type {
  ChainAcceptance,
  LogAppend,
  LogBody,
  LogHead,
  LogQuery,
  LogStore,
  VerifyResult,
} from '../storage/log.js';
import {
  createLogView,
  type LogAcceptOptions,
  type LogVerifyOptions,
  type LogView,
} from '../storage/log-view.js';
import { canonicalJson, isJsonObject } from '../util/canonical-json.js';
import { systemClock, type Clock } from '../util/clock.js';
import { sha256Hex } from '../util/digest.js';
import { createUuidV7, type IdGenerator } from '../util/ids.js';
import { parseRfc3339 } from '../util/time.js';
import { assertTransition } from './artifact-lifecycle.js';
import {
  encodeEnvelopeLine,
  readEnvelopeLines,
  type EnvelopeLineForm,
} from '../formats/converge-ndjson.js';
import { createSpool, type Spool } from './import-spool.js';
import {
  MAX_ID_LENGTH,
  createEnvelope,
  envelopeTimeMs,
  isUserEnvelope,
  parseAnyEnvelope,
  type AnyExperienceEnvelope,
  type IdRules,
} from '../formats/converge-envelope.js';
import {
  EXPERIENCE_EVENT_KINDS,
  eventChainId,
  eventTraceLinkId,
  isExperienceEventKind,
  type ArtifactKind,
  type ExperienceEvent,
  type ExperienceEventKind,
  type GovernedArtifactState,
  type LifecycleEvent,
  type ReplayTrace,
} from '../formats/converge-experience-event.js';
import {
  USER_EXPERIENCE_EVENT_KINDS,
  isUserExperienceEventKind,
  type UserExperienceEvent,
  type UserExperienceEventKind,
} from '../formats/converge-user-event.js';

/** Any event kind the ledger holds: engine-side or user-side. */
export type LedgerEventKind = ExperienceEventKind | UserExperienceEventKind;

/** Every kind the ledger can be queried by: the engine-side kinds, then the user-side ones. */
export const LEDGER_EVENT_KINDS: readonly LedgerEventKind[] = Object.freeze([
  ...EXPERIENCE_EVENT_KINDS,
  ...USER_EXPERIENCE_EVENT_KINDS,
]);

/** What an import does with a line whose `event_id` is taken by other content. */
export type ImportConflictMode = 'fail' | 'skip' | 'rekey';

/** The import conflict modes, for option parsing. */
export const IMPORT_CONFLICT_MODES: readonly ImportConflictMode[] = Object.freeze([
  'fail',
  'skip',
  'rekey',
]);

/**
 * Line forms of {@link Ledger.exportNdjson}: converge's `envelope` and `record`, or `stored`
 * (the canonical JSON each record's hash covers, handed through as stored).
 */
export type LedgerExportForm = EnvelopeLineForm | 'stored';

/** Options for {@link Ledger.importNdjson}. */
export interface LedgerImportOptions {
  /** `'throw'` (default) stops at the first malformed line; `'skip'` counts and drops it. */
  readonly onError?: 'throw' | 'skip' | undefined;
  /**
   * A line whose `event_id` is already in the ledger, or earlier in the file, with other content:
   * `'fail'` (default) imports nothing and the `CONFLICT` names every such line; `'skip'` drops
   * them (counted in `conflicts`); `'rekey'` imports them under a new id derived from the
   * content, `<id>.rekey-<12 hex>`, keeping the original in `metadata.original_event_id`.
   */
  readonly onConflict?: ImportConflictMode | undefined;
  /** Id rules for this import (default: the ledger's). */
  readonly idRules?: IdRules | undefined;
  readonly batchSize?: number | undefined;
  readonly onProgress?: ((progress: LedgerImportResult) => void) | undefined;
  /** Every envelope must belong to this tenant (`FORBIDDEN` naming the line otherwise). */
  readonly requireTenant?: string | undefined;
}

/** What an import did. */
export interface LedgerImportResult {
  /** Envelopes stored. */
  readonly imported: number;
  /** Lines already in the ledger, or earlier in the file, with the same content. */
  readonly duplicates: number;
  /** Malformed lines skipped (`onError: 'skip'`). */
  readonly skipped: number;
  /** Conflicting lines dropped (`onConflict: 'skip'`). */
  readonly conflicts: number;
  /** Conflicting lines stored under a new id (`onConflict: 'rekey'`). */
  readonly rekeyed: number;
}

/** One line of an import whose `event_id` is taken by other content. */
export interface ImportConflict {
  readonly line: number;
  readonly eventId: string;
  /** `'ledger'`, or the number of the earlier line in the same file. */
  readonly with: 'ledger' | number;
}

/** A committed ledger record. */
export interface LedgerRecord {
  /** Position in the ledger, from 1, without holes. */
  readonly position: number;
  /** The stored envelope: engine-side, or user-side (narrow on `envelope.event.type`). */
  readonly envelope: AnyExperienceEnvelope;
  readonly prevHash: string;
  readonly hash: string;
}

/**
 * What a tenant token is shown of a record: the envelope it wrote and the record's own hash.
 * No position (a count of every tenant's records) and no `prevHash` (another record's hash).
 */
export interface TenantLedgerRecord {
  readonly envelope: AnyExperienceEnvelope;
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
  /**
   * When it occurred (default: now, from the ledger's trusted clock): RFC 3339, or any converge
   * `Timestamp` text (`lamport:3`); a record whose time is not RFC 3339 is ordered and
   * range-filtered by its append time.
   */
  readonly occurredAt?: string | undefined;
  readonly tenantId?: string | null | undefined;
  readonly correlationId?: string | null | undefined;
  /**
   * The W3C trace context the event was recorded in (a span of the caller's): kept in the
   * envelope's `metadata.traceparent` / `metadata.tracestate` (an invalid one is `INVALID_ARGUMENT`).
   * Not content: appending the same event again under another trace is still the same event.
   */
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
}

/** Inclusive time range: RFC 3339 text or epoch ms. */
export interface LedgerTimeRange {
  readonly start?: string | number | undefined;
  readonly end?: string | number | undefined;
}

/**
 * converge's `EventQuery`. Results are oldest first (newest last); `limit` keeps the newest.
 * Time order and `timeRange` use `occurred_at` when it is RFC 3339, else the append time.
 */
export interface LedgerQuery {
  readonly tenantId?: string | undefined;
  readonly timeRange?: LedgerTimeRange | undefined;
  readonly kinds?: readonly LedgerEventKind[] | undefined;
  readonly correlationId?: string | undefined;
  readonly chainId?: string | undefined;
  readonly limit?: number | undefined;
}

/** What a live subscription lets through. */
export type LedgerFilter =
  | ((record: LedgerRecord) => boolean)
  | {
      readonly tenantId?: string | undefined;
      readonly kinds?: readonly LedgerEventKind[] | undefined;
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
  /** Id rules for appended and imported envelopes (default `'lenient'`, converge 3.7's form). */
  readonly idRules?: IdRules | undefined;
}

/** Default of {@link LedgerOptions.maxFutureMs}: 5 minutes. */
export const DEFAULT_MAX_FUTURE_MS = 5 * 60_000;

/** Creates a ledger view over a log. */
export function createLedger(options: LedgerOptions): Ledger {
  return new Ledger(options);
}

/** The experience ledger. */
export class Ledger {
  readonly #view: LogView<AnyExperienceEnvelope, LedgerRecord>;
  readonly #clock: Clock;
  readonly #ids: IdGenerator;
  readonly #maxFutureMs: number;
  readonly #idRules: IdRules;
  /** Per-artifact queue, so transitions of one artifact are checked and written one at a time. */
  readonly #artifactLocks = new Map<string, Promise<void>>();

  constructor(options: LedgerOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#ids = options.ids ?? createUuidV7({ clock: this.#clock });
    this.#maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
    this.#idRules = options.idRules ?? 'lenient';
    const clock = this.#clock;
    this.#view = createLogView({
      log: options.log,
      stream: options.stream ?? 'experience',
      codec: {
        // A time that is not RFC 3339 (a Lamport stamp …) falls back to the append time.
        encode: (envelope) => toAppend(envelope, envelopeTimeMs(envelope) ?? clock.now()),
        decode: toRecord,
        // Reuse the envelope in hand rather than re-parsing the body just written.
        committed: (r, envelope) => ({
          position: r.seq,
          envelope,
          prevHash: r.prevHash,
          hash: r.hash,
        }),
      },
      clock: this.#clock,
      clockSkewMs: options.clockSkewMs,
    });
  }

  /** The log stream this ledger lives in. */
  get stream(): string {
    return this.#view.stream;
  }

  /**
   * Appends one event (engine- or user-side), stamped by the trusted clock. Resolves once durable. Appending the same
   * `eventId` with the same event, tenant and correlation again returns the stored record
   * (even though the new stamp differs); with other content it fails with `CONFLICT`. Each
   * tenant has its own ids: another tenant's record with the same `eventId` is no conflict.
   */
  async append(
    event: ExperienceEvent | UserExperienceEvent,
    options: LedgerAppendOptions = {},
  ): Promise<LedgerRecord> {
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
   * Appends envelopes as they are (e.g. imported from converge) — bare engine- or user-side
   * envelopes, or `ExperienceRecord` wrappers — validating each. All or none:
   * if one is invalid or conflicts, nothing is stored. An envelope already stored (same tenant,
   * `event_id` and content) answers the stored record.
   */
  async appendMany(envelopes: readonly unknown[]): Promise<LedgerRecord[]> {
    const parsed = envelopes.map((e) => parseAnyEnvelope(e, { idRules: this.#idRules }));
    parsed.forEach((e) => this.#check(e));
    // Records of a tenant written before per-tenant keys are found by event_id alone; the store
    // dedupes everything else by key itself.
    const legacy = await Promise.all(
      parsed.map((e) =>
        e.tenant_id === null ? Promise.resolve(undefined) : this.#legacy(e.event_id, e.tenant_id),
      ),
    );
    const fresh: AnyExperienceEnvelope[] = [];
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
  async #appendFresh(envelopes: readonly AnyExperienceEnvelope[]): Promise<LedgerRecord[]> {
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
  #check(envelope: AnyExperienceEnvelope, line?: number): void {
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
  #checkNotFuture(envelope: AnyExperienceEnvelope, line?: number): void {
    // Only a real timestamp can lie in the future; a Lamport stamp is stored by append time.
    const at = envelopeTimeMs(envelope);
    const limit = this.#clock.now() + this.#maxFutureMs;
    if (at === undefined || !(at > limit)) return;
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

  #envelope(
    event: ExperienceEvent | UserExperienceEvent,
    options: LedgerAppendOptions,
  ): AnyExperienceEnvelope {
    const envelope = createEnvelope(event, {
      clock: this.#clock,
      ids: this.#ids,
      idRules: this.#idRules,
      ...(options.eventId === undefined ? {} : { eventId: options.eventId }),
      ...(options.occurredAt === undefined ? {} : { occurredAt: options.occurredAt }),
      ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
      ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
    });
    const trace = checkTraceHeaders(options.traceparent, options.tracestate, 'Ledger append');
    // Trace context rides in the envelope's metadata (a member converge keeps and ignores).
    return trace === undefined
      ? envelope
      : ({ ...envelope, metadata: { ...trace } } as unknown as AnyExperienceEnvelope);
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

  /**
   * Recomputes every record's hash and reports every position that does not verify (breaks an
   * acceptance anchor covers are listed under `accepted`, see {@link Ledger.accept}).
   */
  verify(options: LogVerifyOptions = {}): Promise<LedgerVerifyResult> {
    return this.#view.verify(options);
  }

  /**
   * The repair path for known breaks (a record poisoned before the future-timestamp refusal
   * existed): appends an acceptance anchor for the ledger through `throughSeq` (see
   * {@link LogView.accept}); nothing is updated or deleted. Use the kernel's `acceptChain`,
   * which also records it in the audit trail.
   */
  accept(options: LogAcceptOptions): Promise<ChainAcceptance> {
    return this.#view.accept(options);
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
   * Imports converge envelope NDJSON (a file stream, chunks of text or bytes): bare engine- or
   * user-side envelopes or `ExperienceRecord` wrappers, one per line. All or nothing for
   * anything the file itself can get wrong, without holding it in memory.
   *
   * Two passes: the first reads the input once, validates every line (JSON, envelope, tenant
   * with `requireTenant`, `event_id` taken by other content in the ledger or earlier in the
   * file) and spools the envelopes to store to a temporary file; a bad line stops it with a
   * typed error naming the line (`INVALID_EVENT`, `FORBIDDEN`, each with `details.line`) and
   * nothing is stored. Conflicting ids are handled by `onConflict` (see
   * {@link LedgerImportOptions}); with `'fail'` the first pass reads on to the end and the
   * `CONFLICT` names every conflicting line (`details.conflicts`). Only then does the second pass
   * read the spool back a batch at a time into **one** atomic commit ({@link LogStore.appendAll}:
   * one transaction on SQLite and PostgreSQL), so a store failure, a record another writer
   * stored meanwhile under a conflicting key, or anything else that stops it stores nothing
   * either. A line identical to one already in the ledger or the file is counted as a
   * duplicate, not stored twice.
   *
   * Memory: one content digest per distinct `event_id` of the file, to find repeats within it,
   * and one batch of envelopes.
   */
  async importNdjson(
    source: AsyncIterable<string | Uint8Array>,
    options: LedgerImportOptions = {},
  ): Promise<LedgerImportResult> {
    const batchSize = options.batchSize ?? 1000;
    const spool = await createSpool();
    try {
      const first = await this.#validateInto(source, spool, options);
      await spool.close();
      async function* spooled(): AsyncGenerator<AnyExperienceEnvelope[]> {
        let batch: AnyExperienceEnvelope[] = [];
        for await (const { envelope } of readEnvelopeLines(spool.read())) {
          batch.push(envelope);
          if (batch.length >= batchSize) {
            yield batch;
            batch = [];
          }
        }
        if (batch.length > 0) yield batch;
      }
      // One atomic commit of everything spooled, read back a batch at a time.
      const committed = await this.#view.appendAll(spooled()).catch((error: unknown) => {
        if (isKernelError(error) && error.code === 'CONFLICT') {
          throw new KernelError(
            'CONFLICT',
            `Another writer stored an event_id this file uses, with other content, while the import was committing (${error.message}). Nothing was imported; import the file again to see which line, or with on-conflict skip or rekey.`,
            { ...(error.details === undefined ? {} : { details: error.details }), cause: error },
          );
        }
        throw error;
      });
      const result = {
        imported: committed.appended,
        ...first,
        duplicates: first.duplicates + committed.repeated,
      };
      options.onProgress?.({ ...result });
      return result;
    } finally {
      await spool.remove();
    }
  }

  /** The first import pass: checks every line and spools the envelopes to store. */
  async #validateInto(
    source: AsyncIterable<string | Uint8Array>,
    spool: Spool,
    options: LedgerImportOptions,
  ): Promise<Omit<LedgerImportResult, 'imported'>> {
    const mode = options.onConflict ?? 'fail';
    if (!IMPORT_CONFLICT_MODES.includes(mode)) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `onConflict must be one of ${IMPORT_CONFLICT_MODES.join(', ')}, got ${JSON.stringify(mode)}`,
      );
    }
    const reader = readEnvelopeLines(source, {
      onError: options.onError ?? 'throw',
      idRules: options.idRules ?? this.#idRules,
    });
    // The keys (tenant + event_id) this file has placed so far, with a content digest and line.
    const seen = new Map<string, { readonly digest: string; readonly line: number }>();
    const conflicts: ImportConflict[] = [];
    let duplicates = 0;
    let dropped = 0;
    let rekeyed = 0;
    const classify = async (
      envelope: AnyExperienceEnvelope,
      digest: string,
    ): Promise<'new' | 'duplicate' | ImportConflict['with']> => {
      const earlier = seen.get(ledgerKey(envelope.event_id, envelope.tenant_id));
      if (earlier !== undefined) return earlier.digest === digest ? 'duplicate' : earlier.line;
      const existing = await this.#stored(envelope.event_id, envelope.tenant_id);
      if (existing === undefined) return 'new';
      return contentDigest(existing.envelope) === digest ? 'duplicate' : 'ledger';
    };
    for await (const { envelope, line } of reader) {
      if (options.requireTenant !== undefined && envelope.tenant_id !== options.requireTenant) {
        throw new KernelError(
          'FORBIDDEN',
          `Line ${line} belongs to tenant ${JSON.stringify(envelope.tenant_id)}; this token may only import tenant ${JSON.stringify(options.requireTenant)}. Nothing was imported.`,
          { details: { line } },
        );
      }
      this.#check(envelope, line);
      let current = envelope;
      let digest = contentDigest(current);
      let state = await classify(current, digest);
      if (state !== 'new' && state !== 'duplicate') {
        if (mode === 'fail') {
          conflicts.push({ line, eventId: current.event_id, with: state });
          continue;
        }
        if (mode === 'skip') {
          dropped++;
          continue;
        }
        current = rekey(current, digest, line);
        digest = contentDigest(current);
        state = await classify(current, digest);
        if (state !== 'new' && state !== 'duplicate') {
          conflicts.push({ line, eventId: current.event_id, with: state });
          continue;
        }
        if (state === 'new') rekeyed++;
      }
      if (state === 'duplicate') {
        duplicates++;
        continue;
      }
      seen.set(ledgerKey(current.event_id, current.tenant_id), { digest, line });
      await spool.write(encodeEnvelopeLine(current));
    }
    if (conflicts.length > 0) throw conflictError(conflicts);
    return { duplicates, skipped: reader.skipped, conflicts: dropped, rekeyed };
  }

  /**
   * The ledger as converge envelope NDJSON lines (each ends with `\n`), oldest first: bare
   * envelopes in converge's field order, with `form: 'record'` each wrapped as converge's
   * `ExperienceRecord`, or with `form: 'stored'` each envelope's stored canonical JSON (keys
   * sorted: the bytes its record hash covers), handed through without parsing.
   */
  async *exportNdjson(
    options: { fromPosition?: number; form?: LedgerExportForm } = {},
  ): AsyncGenerator<string, void, undefined> {
    if (options.form === 'stored') {
      for await (const r of this.#view.replayStored({ after: options.fromPosition })) {
        yield storedLine(r.body);
      }
      return;
    }
    // The envelope and record forms cannot hand the stored text through: it is canonical JSON
    // (keys sorted, what the hash covers) while these lines are in converge's serde field order
    // — never the same bytes — so each body is parsed and re-encoded.
    for await (const envelope of this.envelopes(options)) {
      yield encodeEnvelopeLine(envelope, options.form);
    }
  }

  /** Every record's envelope, oldest first. */
  async *envelopes(
    options: { fromPosition?: number } = {},
  ): AsyncGenerator<AnyExperienceEnvelope, void, undefined> {
    for await (const r of this.#view.replay({ after: options.fromPosition })) yield r.envelope;
  }
}

/** The `CONFLICT` for an `event_id` its tenant already used for other content. */
function idConflict(envelope: AnyExperienceEnvelope, cause?: unknown, line?: number): KernelError {
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

/**
 * A stored body as one NDJSON line. kerno stores every envelope (appended or imported) as
 * `canonicalJson` output, which never holds a raw line break; a body that does (written by
 * something else) is compacted so the line stays one line.
 */
function storedLine(body: string): string {
  return (LINE_BREAK.test(body) ? JSON.stringify(JSON.parse(body)) : body) + '\n';
}

const LINE_BREAK = /[\n\r]/;

/** A digest of an envelope's canonical JSON: equal digests, identical content. */
function contentDigest(envelope: AnyExperienceEnvelope): string {
  return sha256Hex(canonicalJson(envelope));
}

const REKEY_SUFFIX_LENGTH = '.rekey-'.length + 12;

/**
 * The envelope under a new id derived from its content (`<id>.rekey-<12 hex>`, cut to converge's
 * 256 characters), the original id kept in `metadata.original_event_id`.
 */
function rekey(
  envelope: AnyExperienceEnvelope,
  digest: string,
  line: number,
): AnyExperienceEnvelope {
  const original = envelope.event_id;
  const meta = (envelope as { metadata?: unknown }).metadata;
  if (meta !== undefined && !isJsonObject(meta)) {
    throw new KernelError(
      'INVALID_EVENT',
      `Line ${line}: event_id ${JSON.stringify(original)} conflicts, and its envelope's metadata is not an object, so it cannot be rekeyed; give it a new event_id by hand or import with onConflict 'skip'. Nothing was imported.`,
      { details: { line, path: 'metadata' } },
    );
  }
  const id = `${original.slice(0, MAX_ID_LENGTH - REKEY_SUFFIX_LENGTH)}.rekey-${digest.slice(0, 12)}`;
  return {
    ...envelope,
    event_id: id,
    metadata: { ...meta, original_event_id: original },
  } as unknown as AnyExperienceEnvelope;
}

/** The `CONFLICT` of a failed import, naming every conflicting line. */
function conflictError(conflicts: readonly ImportConflict[]): KernelError {
  const listed = conflicts
    .map(
      (c) =>
        `line ${c.line} (event_id ${JSON.stringify(c.eventId)}, ${c.with === 'ledger' ? 'already in the ledger' : `as line ${c.with}`})`,
    )
    .join(', ');
  const count = conflicts.length === 1 ? '1 line reuses' : `${conflicts.length} lines reuse`;
  return new KernelError(
    'CONFLICT',
    `${count} an event_id with other content: ${listed}. Nothing was imported. Import again with on-conflict skip to drop them, or rekey to store them under new ids (the original kept in metadata.original_event_id).`,
    {
      details: {
        line: conflicts[0]!.line,
        lines: conflicts.map((c) => c.line),
        conflicts: conflicts.map((c) => ({ ...c })),
      },
    },
  );
}

function sameButTime(a: AnyExperienceEnvelope, b: AnyExperienceEnvelope): boolean {
  return (
    a.event_id === b.event_id &&
    a.tenant_id === b.tenant_id &&
    a.correlation_id === b.correlation_id &&
    canonicalJson(a.event) === canonicalJson(b.event)
  );
}

/** The chain an envelope belongs to (user-side events belong to none). */
function chainOf(env: AnyExperienceEnvelope): string | undefined {
  return isUserEnvelope(env) ? undefined : eventChainId(env.event);
}

/** What the log indexes for an envelope; `timeMs` is its time, or the append time. */
function toAppend(env: AnyExperienceEnvelope, timeMs: number): LogAppend {
  return {
    timeMs,
    body: canonicalJson(env),
    key: ledgerKey(env.event_id, env.tenant_id),
    tenant: env.tenant_id ?? undefined,
    kind: env.event.type,
    // The subject index serves artifact lifecycles, trace-link lookups and gate decisions.
    subject: subjectOf(env),
    correlation: env.correlation_id ?? undefined,
    chain: chainOf(env),
  };
}

function subjectOf(env: AnyExperienceEnvelope): string | undefined {
  if (isUserEnvelope(env)) {
    const event = env.event;
    return event.type === 'UserApprovalGranted' || event.type === 'UserApprovalRejected'
      ? event.data.gate_request_id
      : undefined;
  }
  const event = env.event;
  switch (event.type) {
    case 'ArtifactStateTransitioned':
      return event.data.artifact_id;
    case 'ArtifactRollbackRecorded':
      return event.data.rollback.artifact_id;
    default:
      return eventTraceLinkId(event);
  }
}

function toRecord(r: LogBody): LedgerRecord {
  // Stored bodies were validated on append and are covered by the hash chain: parse, don't re-validate.
  return {
    position: r.seq,
    envelope: JSON.parse(r.body) as AnyExperienceEnvelope,
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
      if (!isExperienceEventKind(k) && !isUserExperienceEventKind(k)) {
        throw new KernelError(
          'INVALID_QUERY',
          `Unknown event kind ${JSON.stringify(k)}; known kinds: ${LEDGER_EVENT_KINDS.join(', ')}`,
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
    if (filter.chainId !== undefined && chainOf(env) !== filter.chainId) return false;
    return true;
  };
}

/**
 * {@link KernoClient}: typed methods for every route of the kerno HTTP API, grouped as the API
 * is (`client.runs.list()`, `client.ledger.append()`, …), over one {@link Transport}. Each
 * method calls its route by name from {@link ROUTES}, the table the coverage test checks
 * against the daemon's OpenAPI document.
 *
 * @module
 */
import { KernoApiError } from './errors.js';
import { ROUTES, type RouteName } from './routes.js';
import { EventStream, type EventStreamOptions } from './sse.js';
import {
  Transport,
  download,
  type CallOptions,
  type Download,
  type KernoClientOptions,
  type RequestOptions,
  type UploadBody,
} from './transport.js';
import type {
  Agent,
  Approval,
  ApprovalDecision,
  ApproveRequest,
  AuditEntry,
  AuditExport,
  AuditHead,
  AuditImportResult,
  AuditQuery,
  BudgetDecisionRequest,
  BudgetQuery,
  BudgetUsage,
  ChainAcceptance,
  ChainPosition,
  ChainRepairRequest,
  ConfigInfo,
  ConfigView,
  DefineAgentRequest,
  EncryptPlainResult,
  ForkRunRequest,
  Health,
  InboxApproval,
  JsonValue,
  LearningImportResult,
  LearningStats,
  LedgerAppendRequest,
  LedgerExportOptions,
  LedgerImportOptions,
  LedgerImportResult,
  LedgerQuery,
  LimitQueue,
  ModuleRecord,
  Pattern,
  PendingApproval,
  PolicyChangeOptions,
  PolicyKind,
  PolicyVersion,
  RecallHit,
  RecoveryRun,
  RejectRequest,
  RekeyResult,
  ResumeRunRequest,
  Run,
  RunListQuery,
  RunPage,
  RunSummary,
  Schedule,
  ShownLedgerRecord,
  SignalRequest,
  SpawnAgentRequest,
  StartRunRequest,
  StoppedAgent,
  VerifyResult,
} from './types.js';

/** A route's path with its `{param}`s filled in (percent-encoded). */
function fill(name: RouteName, params: Readonly<Record<string, string>>): string {
  return ROUTES[name][1].replace(/\{([A-Za-z_]+)\}/g, (_, p: string) => {
    const v: unknown = params[p];
    if (typeof v !== 'string' || v === '')
      throw new KernoApiError({
        code: 'INVALID_ARGUMENT',
        status: 0,
        detail: `${name} needs its ${p} (a non-empty string), got ${v === '' ? 'an empty string' : typeof v}`,
        request: `${ROUTES[name][0]} ${ROUTES[name][1]}`,
      });
    return encodeURIComponent(v);
  });
}

/** A client for one kerno daemon. Create it with {@link createClient}. */
export class KernoClient {
  readonly #t: Transport;

  constructor(options: KernoClientOptions) {
    this.#t = new Transport(options);
  }

  /** The daemon's base URL (without a trailing slash). */
  get baseUrl(): string {
    return this.#t.baseUrl;
  }

  /**
   * A raw request to any path, for routes newer than this client: resolves with the 2xx
   * response, rejects with a KernoApiError. No timeout unless `timeoutMs` is given.
   */
  request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    return this.#t.send(method, path, options);
  }

  /** Calls a route by name (async, so a bad path parameter rejects like any other failure). */
  async #call<T>(
    name: RouteName,
    params: Readonly<Record<string, string>>,
    options: RequestOptions = {},
  ): Promise<T> {
    return this.#t.json<T>(ROUTES[name][0], fill(name, params), options);
  }

  async #stream(
    name: RouteName,
    params: Readonly<Record<string, string>>,
    options: RequestOptions,
  ): Promise<Download> {
    return download(await this.#t.send(ROUTES[name][0], fill(name, params), options));
  }

  /** `/health`, `/metrics`, the OpenAPI document. */
  readonly system = {
    /** Liveness (no token needed); an unhealthy daemon (503) answers `status: 'unhealthy'`. */
    health: (o: CallOptions = {}): Promise<Health> =>
      this.#call('system.health', {}, { ...o, accept: [503] }),
    /** Prometheus metrics, as text. */
    metrics: (o: CallOptions = {}): Promise<string> =>
      this.#t.send('GET', fill('system.metrics', {}), {
        ...o,
        timeoutMs: o.timeoutMs ?? this.#t.timeoutMs,
        read: (res) => res.text(),
      }),
    /** This API, described in OpenAPI 3.1. */
    openapi: (o: CallOptions = {}): Promise<Record<string, unknown>> =>
      this.#call('system.openapi', {}, o),
  };

  /** Supervised agents. */
  readonly agents = {
    list: async (o: CallOptions = {}): Promise<Agent[]> =>
      (await this.#call<{ agents: Agent[] }>('agents.list', {}, o)).agents,
    get: (id: string, o: CallOptions = {}): Promise<Agent> => this.#call('agents.get', { id }, o),
    /** Spawns a process agent (JSON lines on stdio; docs/agent-protocol.md). */
    spawn: (spec: SpawnAgentRequest, o: CallOptions = {}): Promise<Agent> =>
      this.#call('agents.spawn', {}, { ...o, json: spec }),
    /** Stops an agent (SIGTERM, then SIGKILL after the grace period). */
    stop: (id: string, o: CallOptions = {}): Promise<StoppedAgent> =>
      this.#call('agents.stop', { id }, o),
    /** Restarts an agent: a running one stops and starts again; a finished one starts from its last spec. */
    restart: (id: string, o: CallOptions = {}): Promise<Agent> =>
      this.#call('agents.restart', { id }, o),
  };

  /** The experience ledger. A tenant token sees and writes its own tenant's records only. */
  readonly ledger = {
    append: (req: LedgerAppendRequest, o: CallOptions = {}): Promise<ShownLedgerRecord> =>
      this.#call('ledger.append', {}, { ...o, json: req }),
    /** Oldest first; with `limit`, the newest matches (default 100). */
    query: async (q: LedgerQuery = {}, o: CallOptions = {}): Promise<ShownLedgerRecord[]> =>
      (
        await this.#call<{ records: ShownLedgerRecord[] }>(
          'ledger.query',
          {},
          {
            ...o,
            query: { ...q },
          },
        )
      ).records,
    /** Streams converge envelope NDJSON in (all or nothing; idempotent by tenant and event_id). */
    import: (
      ndjson: UploadBody,
      options: LedgerImportOptions & CallOptions = {},
    ): Promise<LedgerImportResult> =>
      this.#t.send(ROUTES['ledger.import'][0], fill('ledger.import', {}), {
        ...callOf(options),
        timeoutMs: options.timeoutMs ?? 0,
        query: {
          skipInvalid: options.skipInvalid,
          onConflict: options.onConflict,
          strictIds: options.strictIds,
        },
        body: ndjson,
        contentType: 'application/x-ndjson',
        read: readJson<LedgerImportResult>,
      }),
    /** Streams the ledger out as NDJSON (`lines()` iterates it). */
    export: (options: LedgerExportOptions & CallOptions = {}): Promise<Download> =>
      this.#stream('ledger.export', {}, { ...callOf(options), query: { form: options.form } }),
    verify: (o: CallOptions = {}): Promise<VerifyResult> => this.#call('ledger.verify', {}, o),
    /** Accepts the chain as it stands through a seq (admin; audited). */
    repair: (req: ChainRepairRequest, o: CallOptions = {}): Promise<ChainAcceptance> =>
      this.#call('ledger.repair', {}, { ...o, json: req }),
  };

  /** The audit trail (admin tokens). */
  readonly audit = {
    /** Oldest first; with `limit`, the newest matches (default 100). */
    entries: async (q: AuditQuery = {}, o: CallOptions = {}): Promise<AuditEntry[]> =>
      (await this.#call<{ entries: AuditEntry[] }>('audit.entries', {}, { ...o, query: { ...q } }))
        .entries,
    head: (o: CallOptions = {}): Promise<AuditHead> => this.#call('audit.head', {}, o),
    /** Verifies the chain, against a head kept earlier when given (truncation shows). */
    verify: (
      options: { readonly expectedHead?: ChainPosition } & CallOptions = {},
    ): Promise<VerifyResult> =>
      this.#call(
        'audit.verify',
        {},
        {
          ...callOf(options),
          query: {
            headSeq: options.expectedHead?.seq,
            headHash: options.expectedHead?.hash,
          },
        },
      ),
    /** Imports oxios audit history (trail.json or access.jsonl) into an empty trail. */
    import: (file: UploadBody, o: CallOptions = {}): Promise<AuditImportResult> =>
      this.#t.send(ROUTES['audit.import'][0], fill('audit.import', {}), {
        ...o,
        timeoutMs: o.timeoutMs ?? 0,
        body: file,
        contentType: 'application/octet-stream',
        read: readJson<AuditImportResult>,
      }),
    export: (o: CallOptions = {}): Promise<AuditExport> => this.#call('audit.export', {}, o),
    repair: (req: ChainRepairRequest, o: CallOptions = {}): Promise<ChainAcceptance> =>
      this.#call('audit.repair', {}, { ...o, json: req }),
  };

  /** Human approval gates. The decision records the token's name as `decidedBy`. */
  readonly approvals = {
    list: async (
      options: { readonly status?: 'pending' | 'decided' | 'all' } & CallOptions = {},
    ): Promise<InboxApproval[]> =>
      (
        await this.#call<{ approvals: InboxApproval[] }>(
          'approvals.list',
          {},
          {
            ...callOf(options),
            query: { status: options.status },
          },
        )
      ).approvals,
    /** One gate, with its votes, who may decide it and the similar requests. */
    get: (id: string, o: CallOptions = {}): Promise<InboxApproval> =>
      this.#call('approvals.get', { id }, o),
    /**
     * Approves a gate: the decision, or on an n-of-m gate that still needs approvers a
     * {@link PendingApproval} (`status: 'pending'`) with the votes so far.
     */
    approve: (
      id: string,
      req: ApproveRequest = {},
      o: CallOptions = {},
    ): Promise<ApprovalDecision | PendingApproval> =>
      this.#call('approvals.approve', { id }, { ...o, json: req }),
    reject: (id: string, req: RejectRequest = {}, o: CallOptions = {}): Promise<ApprovalDecision> =>
      this.#call('approvals.reject', { id }, { ...o, json: req }),
  };

  /** The recovery runs the kernel performed. */
  readonly recovery = {
    /** Newest last (default 50). */
    list: async (
      options: { readonly agent?: string; readonly limit?: number } & CallOptions = {},
    ): Promise<RecoveryRun[]> =>
      (
        await this.#call<{ runs: RecoveryRun[] }>(
          'recovery.list',
          {},
          {
            ...callOf(options),
            query: { agent: options.agent, limit: options.limit },
          },
        )
      ).runs,
    get: (runId: string, o: CallOptions = {}): Promise<RecoveryRun> =>
      this.#call('recovery.get', { runId }, o),
  };

  /** Registered modules. */
  readonly modules = {
    list: async (o: CallOptions = {}): Promise<ModuleRecord[]> =>
      (await this.#call<{ modules: ModuleRecord[] }>('modules.list', {}, o)).modules,
  };

  /** The config registry. Secrets stay masked unless revealed with a reveal-scope token. */
  readonly config = {
    /** Keys with their secret flag, never values. */
    list: async (o: CallOptions = {}): Promise<ConfigInfo[]> =>
      (await this.#call<{ config: ConfigInfo[] }>('config.list', {}, o)).config,
    get: (
      key: string,
      options: { readonly reveal?: boolean } & CallOptions = {},
    ): Promise<ConfigView> =>
      this.#call(
        'config.get',
        { key },
        {
          ...callOf(options),
          query: { reveal: options.reveal === true ? true : undefined },
        },
      ),
    /** Sets a value (any JSON); `secret` encrypts it at rest. */
    set: async (
      key: string,
      value: JsonValue,
      options: { readonly secret?: boolean } & CallOptions = {},
    ): Promise<void> => {
      await this.#call(
        'config.set',
        { key },
        {
          ...callOf(options),
          json: options.secret === undefined ? { value } : { value, secret: options.secret },
        },
      );
    },
    /** Whether there was a value to delete. */
    delete: async (key: string, o: CallOptions = {}): Promise<boolean> =>
      (await this.#call<{ deleted: boolean }>('config.delete', { key }, o)).deleted,
    /** Encrypts plain values in place: `keys`, or every plain value. */
    encrypt: (keys?: readonly string[], o: CallOptions = {}): Promise<EncryptPlainResult> =>
      this.#call('config.encrypt', {}, { ...o, json: keys === undefined ? {} : { keys } }),
    /** Re-encrypts every secret under a new key (reveal scope). */
    rotateKey: (newKey: string, o: CallOptions = {}): Promise<RekeyResult> =>
      this.#call('config.rotateKey', {}, { ...o, json: { newKey } }),
  };

  /** Durable runs. */
  readonly runs = {
    /** Defines a durable process agent (stored: its runs resume after a restart). */
    define: (
      definition: DefineAgentRequest,
      o: CallOptions = {},
    ): Promise<{ name: string; version: string }> =>
      this.#call('runs.define', {}, { ...o, json: definition }),
    /** Starts a run (with `id`, idempotently). */
    start: (req: StartRunRequest, o: CallOptions = {}): Promise<{ id: string }> =>
      this.#call('runs.start', {}, { ...o, json: req }),
    /** The first page of runs, newest first (default 100); {@link page} gives the cursor too. */
    list: async (q: RunListQuery = {}, o: CallOptions = {}): Promise<RunSummary[]> =>
      (await this.#call<{ runs: RunSummary[] }>('runs.list', {}, { ...o, query: runListQuery(q) }))
        .runs,
    /**
     * A page of runs, newest first (default 100): pass its `nextCursor` as `cursor` for the
     * next page (absent on the last).
     */
    page: (q: RunListQuery = {}, o: CallOptions = {}): Promise<RunPage> =>
      this.#call('runs.page', {}, { ...o, query: runListQuery(q) }),
    /** One run with its steps. */
    get: (id: string, o: CallOptions = {}): Promise<Run> => this.#call('runs.get', { id }, o),
    /** Sends a durable signal into a run. */
    signal: (
      id: string,
      signal: SignalRequest,
      o: CallOptions = {},
    ): Promise<{ id: string; signal: string }> =>
      this.#call('runs.signal', { id }, { ...o, json: signal }),
    /** Cancels a run (one that has ended stays as it ended). */
    cancel: (id: string, reason?: string, o: CallOptions = {}): Promise<RunSummary> =>
      this.#call('runs.cancel', { id }, { ...o, json: reason === undefined ? {} : { reason } }),
    /**
     * Resumes a failed or cancelled run under its id: failed steps run again (with `config` as
     * `ctx.config`, if given), completed steps replay.
     */
    resume: (id: string, req: ResumeRunRequest = {}, o: CallOptions = {}): Promise<RunSummary> =>
      this.#call('runs.resume', { id }, { ...o, json: req }),
    /** A fresh run of the same agent with the same input, config and tenant. */
    rerun: (
      id: string,
      options: { readonly id?: string } & CallOptions = {},
    ): Promise<{ id: string; rerunOf: string }> =>
      this.#call(
        'runs.rerun',
        { id },
        { ...callOf(options), json: options.id === undefined ? {} : { id: options.id } },
      ),
    /**
     * Forks a run: a new run whose journal holds the steps before `fromStep`, which replay
     * without running; it continues live.
     */
    fork: (
      id: string,
      req: ForkRunRequest,
      o: CallOptions = {},
    ): Promise<{ id: string; forkOf?: { runId: string; fromStep: string } }> =>
      this.#call('runs.fork', { id }, { ...o, json: req }),
  };

  /** Budget policies' use vs limit, and budget gates (set budgets with `policies.set('budget', …)`). */
  readonly budgets = {
    /** One row per budget, limit and period; a tenant token sees its own tenant's. */
    list: async (q: BudgetQuery = {}, o: CallOptions = {}): Promise<BudgetUsage[]> =>
      (
        await this.#call<{ budgets: BudgetUsage[] }>(
          'budgets.list',
          {},
          { ...o, query: { agent: q.agent, tenant: q.tenant, run: q.run } },
        )
      ).budgets,
    /**
     * Decides a budget gate (admin): approve raises the limit and the run resumes; reject stops
     * the run. Answers the decided gate.
     */
    decide: (id: string, req: BudgetDecisionRequest, o: CallOptions = {}): Promise<Approval> =>
      this.#call('budgets.decide', { id }, { ...o, json: req }),
  };

  /** Schedules with their next fire times (change them with `policies.set('schedule', …)`). */
  readonly schedules = {
    list: async (o: CallOptions = {}): Promise<Schedule[]> =>
      (await this.#call<{ schedules: Schedule[] }>('schedules.list', {}, o)).schedules,
    get: (name: string, o: CallOptions = {}): Promise<Schedule> =>
      this.#call('schedules.get', { name }, o),
  };

  /** Concurrency and rate limits with their slots in use and queues (admin). */
  readonly queues = {
    list: async (o: CallOptions = {}): Promise<LimitQueue[]> =>
      (await this.#call<{ queues: LimitQueue[] }>('queues.list', {}, o)).queues,
  };

  /** The learning store. */
  readonly learning = {
    stats: (o: CallOptions = {}): Promise<LearningStats> => this.#call('learning.stats', {}, o),
    patterns: (
      options: { readonly domain?: string; readonly limit?: number } & CallOptions = {},
    ): Promise<{ total: number; patterns: Pattern[] }> =>
      this.#call(
        'learning.patterns',
        {},
        {
          ...callOf(options),
          query: { domain: options.domain, limit: options.limit },
        },
      ),
    /** The `k` patterns most similar to `q` (default 5). */
    recall: async (
      q: string,
      options: { readonly k?: number; readonly domain?: string } & CallOptions = {},
    ): Promise<RecallHit[]> =>
      (
        await this.#call<{ hits: RecallHit[] }>(
          'learning.recall',
          {},
          {
            ...callOf(options),
            query: { q, k: options.k, domain: options.domain },
          },
        )
      ).hits,
    /** Streams an RVLS file in (all or nothing unless `skipInvalid`). */
    import: (
      rvls: UploadBody,
      options: { readonly replaceEwc?: boolean; readonly skipInvalid?: boolean } & CallOptions = {},
    ): Promise<LearningImportResult> =>
      this.#t.send(ROUTES['learning.import'][0], fill('learning.import', {}), {
        ...callOf(options),
        timeoutMs: options.timeoutMs ?? 0,
        query: { replaceEwc: options.replaceEwc, skipInvalid: options.skipInvalid },
        body: rvls,
        contentType: 'application/octet-stream',
        read: readJson<LearningImportResult>,
      }),
    /** Streams the store out as an RVLS file. */
    export: (o: CallOptions = {}): Promise<Download> => this.#stream('learning.export', {}, o),
  };

  /** Kernel policies (budgets, approval rules, schedules, limits), versioned; admin tokens. */
  readonly policies = {
    /** Current policies, of every kind or one. */
    list: async (
      options: { readonly kind?: PolicyKind } & CallOptions = {},
    ): Promise<PolicyVersion[]> =>
      (
        await this.#call<{ policies: PolicyVersion[] }>(
          'policies.list',
          {},
          {
            ...callOf(options),
            query: { kind: options.kind },
          },
        )
      ).policies,
    /** The current version of a policy. */
    get: (kind: PolicyKind, name: string, o: CallOptions = {}): Promise<PolicyVersion> =>
      this.#call('policies.get', { kind, name }, o),
    /** Every version, oldest first (deletions included). */
    history: async (
      kind: PolicyKind,
      name: string,
      o: CallOptions = {},
    ): Promise<PolicyVersion[]> =>
      (await this.#call<{ versions: PolicyVersion[] }>('policies.history', { kind, name }, o))
        .versions,
    /** Stores a new version (the spec is validated by its kind). */
    set: (
      kind: PolicyKind,
      name: string,
      spec: JsonValue,
      options: PolicyChangeOptions & CallOptions = {},
    ): Promise<PolicyVersion> =>
      this.#call('policies.set', { kind, name }, { ...policyChange(options), json: spec }),
    /** Deletes a policy (a new version without a spec; the history stays). */
    delete: (
      kind: PolicyKind,
      name: string,
      options: PolicyChangeOptions & CallOptions = {},
    ): Promise<PolicyVersion> =>
      this.#call('policies.delete', { kind, name }, policyChange(options)),
  };

  /** The live kernel event feed. */
  readonly events = {
    /**
     * Kernel events as they happen, as an async iterator that reconnects after a drop and
     * resumes after the last event it yielded (`Last-Event-ID`): none lost, none twice.
     */
    stream: (options: EventStreamOptions = {}): EventStream =>
      new EventStream(this.#t, fill('events.stream', {}), options),
  };
}

/** A client for the daemon at `baseUrl`. */
export function createClient(options: KernoClientOptions): KernoClient {
  return new KernoClient(options);
}

/** `GET /api/runs`'s query string. */
function runListQuery(q: RunListQuery): RequestOptions['query'] {
  return {
    agent: q.agent,
    status: q.status,
    tenant: q.tenant,
    since: q.since,
    until: q.until,
    q: q.q,
    cursor: q.cursor,
    limit: q.limit,
  };
}

/** The call options of a merged options object. */
function callOf(o: CallOptions): CallOptions {
  return {
    ...(o.signal === undefined ? {} : { signal: o.signal }),
    ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
  };
}

/** A policy change's query (`reason`) and `If-Match` (the expected version). */
function policyChange(o: PolicyChangeOptions & CallOptions): RequestOptions {
  return {
    ...callOf(o),
    query: { reason: o.reason },
    ...(o.expectedVersion === undefined
      ? {}
      : { headers: { 'if-match': `"${o.expectedVersion}"` } }),
  };
}

async function readJson<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

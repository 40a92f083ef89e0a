/**
 * Human approval gates (HITL): when automation must not decide alone, a gate is opened, the
 * request is published (`ApprovalRequested`), and the caller waits until a human approves or
 * rejects it — or its timeout applies the gate's timeout action (default: reject after 1800 s).
 *
 * Gates are event-sourced on the log (stream `approvals`): a `requested` record and at most one
 * `decided` record per gate (its key is unique, so two kernels can never both decide one gate).
 * Pending gates therefore survive a restart, and a gate raised on one kernel can be decided
 * through another that shares the store. Decisions are recorded in the ledger as
 * `GateDecisionRecorded`.
 *
 * What an approval inbox needs: a gate may name the **group** whose members may decide it (token
 * scope `approver:<group>`; a tenant's gate is decided only by that tenant's tokens or an admin),
 * the number of **distinct approvers** it needs (n of m: each approval is a `vote` record keyed
 * by gate and approver, so nobody counts twice; the gate is approved when n approved, and one
 * rejection rejects it), a group it **escalates** to when its timeout passes, and the **similar
 * requests** (same agent, action, tool, resource and tenant) with their decisions.
 *
 * @example
 * const gate = createApprovalGate({ log: storage.log, bus, ledger });
 * await gate.start();
 * const decision = await gate.request({ agentId, summary: 'Deploy to production?' });
 * if (!decision.approved) return;
 *
 * @module
 */
import type { EventBus } from '../bus/event-bus.js';
import { KernelError, errorMessage, isKernelError } from '../errors.js';
import type { Ledger } from '../ledger/ledger.js';
import type {
  ContextItem,
  GateDecision,
  GateRequest,
  TimeoutAction,
  TimeoutPolicy,
} from '../formats/converge-experience-event.js';
import type { LogStore } from '../storage/log.js';
import { createLogView, type LogCodec, type LogView } from '../storage/log-view.js';
import { canonicalJson } from '../util/canonical-json.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { sha256Hex } from '../util/digest.js';
import { createUuidV7, type IdGenerator } from '../util/ids.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { formatTimestamp } from '../util/time.js';

/** The default timeout policy (converge): 1800 s, then reject. */
export const DEFAULT_APPROVAL_TIMEOUT: TimeoutPolicy = Object.freeze({
  timeout_secs: 1800,
  action: 'Reject',
});

/** What opens a gate. */
export interface ApprovalRequestInput {
  /** The agent asking (its id, or `system`). */
  readonly agentId: string;
  /** One line a human can decide on. */
  readonly summary: string;
  readonly rationale?: string | null | undefined;
  /** Labelled facts shown with the request. */
  readonly context?: readonly ContextItem[] | undefined;
  /** The action requiring approval and the resource involved (`ApprovalRequested` fields). */
  readonly action?: string | undefined;
  readonly resource?: string | undefined;
  /** The tool involved (similar requests are matched on it too). */
  readonly tool?: string | undefined;
  readonly reason?: string | undefined;
  /** Who may decide and how many must approve (default: anyone allowed to decide, one). */
  readonly approvers?: ApproverPolicy | undefined;
  readonly proposalId?: string | undefined;
  readonly cycle?: number | undefined;
  /** Default: 1800 s, then reject. */
  readonly timeout?: TimeoutPolicy | undefined;
  /**
   * A stable key for this request (e.g. `deploy:v42`). The same (agent name, key) always maps to
   * the same gate, so an agent re-run after a restart finds its pending gate — or its decision.
   */
  readonly key?: string | undefined;
  /** The agent's stable name (with `key`). */
  readonly agentName?: string | undefined;
  /** Why the gate was opened: an agent's own request, or the supervisor's escalation. */
  readonly origin?: 'agent' | 'escalation' | undefined;
  readonly tenantId?: string | null | undefined;
  readonly correlationId?: string | null | undefined;
  /**
   * The gate enforces a kernel policy (a budget): a tenant token never decides it, only an admin
   * token or a token of the gate's approver group.
   */
  readonly adminOnly?: boolean | undefined;
}

/** Who may decide a gate, and how many must approve it. */
export interface ApproverPolicy {
  /** Only tokens with the scope `approver:<group>` (and admin tokens) may decide. */
  readonly group?: string | undefined;
  /** Distinct approvers needed (n of m, default 1); one rejection rejects. */
  readonly required?: number | undefined;
  /**
   * With the timeout action `Escalate`: the group that may decide once the timeout passed (the
   * first group still may too).
   */
  readonly escalateTo?: string | undefined;
}

/** Who is deciding (the API passes the calling token's; the library may leave it out). */
export interface Decider {
  /** An admin decides every gate. */
  readonly admin: boolean;
  /** A tenant token's tenant: it decides only that tenant's gates. */
  readonly tenant?: string | undefined;
  /** The approver groups of the token (`approver:<group>` scopes). */
  readonly groups?: readonly string[] | undefined;
  /**
   * Who votes on an n-of-m gate (the token's id): two tokens with the same label are two
   * approvers. Default: `by`.
   */
  readonly id?: string | undefined;
}

/** One approval of an n-of-m gate. */
export interface ApprovalVote {
  readonly by: string;
  readonly at: string;
  readonly note: string | null;
  /** The voting token's id, when it is not `by` (tokens that share a label). */
  readonly voter?: string;
}

/** What approving an n-of-m gate returns while it still needs approvers. */
export interface PendingApproval {
  readonly id: string;
  readonly gateId: string;
  readonly status: 'pending';
  readonly approved: false;
  /** The approvals so far (this one included). */
  readonly votes: readonly ApprovalVote[];
  readonly required: number;
}

/** An earlier request like this one, and how it was decided. */
export interface SimilarDecision {
  readonly id: string;
  readonly decision: 'approved' | 'rejected';
  readonly by: string;
  readonly at: string;
  readonly reason: string | null;
}

/** A decision, as callers see it. */
export interface ApprovalDecision {
  /** The gate's UUID (the `ApprovalRequested` id). */
  readonly id: string;
  readonly gateId: string;
  readonly approved: boolean;
  readonly reason: string | null;
  /** Who decided: the deciding token's name at the API, `timeout` for the timeout policy. */
  readonly decidedBy: string;
  readonly decidedAt: string;
  /** A free-text note the decider added (at the API: the body's `note`, or its old `by`). */
  readonly note: string | null;
  /** Decided by the timeout policy rather than a human. */
  readonly timedOut: boolean;
}

/** Options for {@link ApprovalGate.approve} and {@link ApprovalGate.reject}. */
export interface DecideOptions {
  /** Who decides, recorded as `decided_by` (default `operator`). */
  readonly by?: string | undefined;
  /** A free-text note kept with the decision. */
  readonly note?: string | undefined;
  /** Who decides: checked against the gate's tenant and group (FORBIDDEN otherwise). */
  readonly decider?: Decider | undefined;
}

/** A gate as {@link ApprovalGate.list} shows it. */
export interface ApprovalSnapshot {
  readonly id: string;
  readonly gateId: string;
  readonly status: 'pending' | 'approved' | 'rejected';
  readonly request: GateRequest;
  readonly action: string;
  readonly resource: string;
  readonly reason: string;
  readonly origin: 'agent' | 'escalation';
  readonly agentName: string | null;
  readonly tool: string | null;
  readonly tenantId: string | null;
  /** Epoch ms when the timeout policy applies. */
  readonly deadlineMs: number;
  /** The timeout action was Escalate and the deadline passed: still waiting for a human. */
  readonly escalated: boolean;
  /** The group whose members may decide (`null`: anyone who may decide the tenant's gates). */
  readonly group: string | null;
  /** The group the gate escalates to on timeout. */
  readonly escalateTo: string | null;
  /** The groups that may decide now (the escalation group added once escalated). */
  readonly deciders: readonly string[];
  /** Distinct approvals needed. */
  readonly required: number;
  /** The approvals so far (n-of-m gates). */
  readonly votes: readonly ApprovalVote[];
  readonly decision: ApprovalDecision | null;
}

/** Options for {@link createApprovalGate}. */
export interface ApprovalGateOptions {
  readonly log: LogStore;
  readonly bus?: EventBus | undefined;
  /** Where decisions are recorded (`GateDecisionRecorded`). */
  readonly ledger?: Ledger | undefined;
  readonly clock?: Clock;
  readonly ids?: IdGenerator;
  readonly logger?: Logger;
  /** Log stream (default `approvals`). */
  readonly stream?: string;
  /** How often to look for gates decided by other kernels sharing the store (default 500 ms). */
  readonly pollMs?: number;
}

/** Called when a gate is decided (by anyone, any kernel). */
export type DecisionListener = (gate: ApprovalSnapshot, decision: ApprovalDecision) => void;

interface RequestedRecord {
  readonly type: 'requested';
  readonly id: string;
  readonly request: GateRequest;
  readonly action: string;
  readonly resource: string;
  readonly reason: string;
  readonly origin: 'agent' | 'escalation';
  readonly agent_name: string | null;
  readonly deadline_ms: number;
  readonly tenant_id: string | null;
  readonly correlation_id: string | null;
  /** Absent in records written before tools were recorded. */
  readonly tool?: string | null;
  /** Written only when true: decided by an admin (or the approver group), never by its tenant. */
  readonly admin_only?: true;
  /** Absent in records written before approver policies existed (anyone, one approval). */
  readonly approvers?: {
    readonly group: string | null;
    readonly required: number;
    readonly escalate_to: string | null;
  };
}

/** One approval of an n-of-m gate (key `vote:<id>:<approver digest>`: one per approver). */
interface VoteRecord {
  readonly type: 'vote';
  readonly id: string;
  readonly by: string;
  /** Who voted when it is not `by` (the token's id); absent in older records. */
  readonly voter?: string;
  readonly at: string;
  readonly note: string | null;
}

interface DecidedRecord {
  readonly type: 'decided';
  readonly id: string;
  readonly decision: GateDecision;
  readonly timed_out: boolean;
  /** Absent in records written before notes existed. */
  readonly note?: string | null;
}

type GateRecord = RequestedRecord | DecidedRecord | VoteRecord;

/** A gate record to append, with the time it is stamped with. */
interface GateAppend {
  readonly timeMs: number;
  readonly record: GateRecord;
}

/** Gate records on the log: unique keys `req:<id>` / `dec:<id>`; an unreadable body is `null`. */
const GATE_CODEC: LogCodec<GateAppend, GateRecord | null> = {
  encode: ({ timeMs, record }) => ({
    timeMs,
    body: canonicalJson(record),
    key:
      record.type === 'vote'
        ? `vote:${record.id}:${sha256Hex(record.voter ?? record.by).slice(0, 32)}`
        : `${record.type === 'requested' ? 'req' : 'dec'}:${record.id}`,
    kind: record.type,
    subject: record.id,
  }),
  decode: (r) => {
    try {
      return JSON.parse(r.body) as GateRecord;
    } catch {
      return null;
    }
  },
  committed: (_r, { record }) => record,
};

interface GateState {
  record: RequestedRecord;
  decision: ApprovalDecision | null;
  escalated: boolean;
  timer: TimerHandle | undefined;
  waiters: Set<(d: ApprovalDecision) => void>;
  votes: ApprovalVote[];
}

/** Creates an approval gate. Call `start()` before use. */
export function createApprovalGate(options: ApprovalGateOptions): ApprovalGate {
  return new ApprovalGate(options);
}

/** A UUID (version 8, name-based) from an agent name and a request key. */
export function approvalIdFor(agentName: string, key: string): string {
  const h = sha256Hex(`kerno.approval.v1\n${agentName.length}:${agentName}${key.length}:${key}`);
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The approval gate. */
export class ApprovalGate implements AsyncDisposable {
  readonly #view: LogView<GateAppend, GateRecord | null>;
  readonly #bus: EventBus | undefined;
  readonly #ledger: Ledger | undefined;
  readonly #clock: Clock;
  readonly #ids: IdGenerator;
  readonly #logger: Logger;
  readonly #gates = new Map<string, GateState>();
  /** Similar-request key → gate ids, oldest first. */
  readonly #similar = new Map<string, string[]>();
  readonly #listeners = new Set<DecisionListener>();
  readonly #stop = new AbortController();
  #started: Promise<void> | undefined;
  #follower: Promise<void> | undefined;

  constructor(options: ApprovalGateOptions) {
    this.#bus = options.bus;
    this.#ledger = options.ledger;
    this.#clock = options.clock ?? systemClock;
    this.#ids = options.ids ?? createUuidV7({ clock: this.#clock });
    this.#logger = options.logger ?? silentLogger;
    this.#view = createLogView({
      log: options.log,
      stream: options.stream ?? 'approvals',
      codec: GATE_CODEC,
      clock: this.#clock,
      pollMs: options.pollMs,
    });
  }

  /** Loads the stored gates (re-arming pending timeouts) and follows new ones. Idempotent. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      // Replay everything committed so far, then keep following in the background.
      const follow = this.#view.follow({ signal: this.#stop.signal });
      this.#follower = (async () => {
        try {
          for await (const record of follow) this.#apply(record);
        } catch (error) {
          if (!this.#stop.signal.aborted) {
            this.#logger.error('The approval gate stopped following the store', {
              error: errorMessage(error),
            });
          }
        }
      })();
      await follow.caughtUp;
    })();
    return this.#started;
  }

  /** Calls `listener` whenever a gate is decided. Returns a function that removes it. */
  onDecision(listener: DecisionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Opens a gate (or finds the one with the same agent name and key) and waits for its
   * decision. Aborting `signal` stops waiting; the gate stays open.
   */
  async request(
    input: ApprovalRequestInput,
    options: { signal?: AbortSignal } = {},
  ): Promise<ApprovalDecision> {
    const gate = await this.open(input);
    return this.wait(gate.id, options.signal);
  }

  /** Opens a gate without waiting (idempotent with `key`). */
  async open(input: ApprovalRequestInput): Promise<ApprovalSnapshot> {
    await this.start();
    validateInput(input);
    const id =
      input.key !== undefined
        ? approvalIdFor(input.agentName ?? input.agentId, input.key)
        : this.#ids();
    const known = this.#gates.get(id);
    if (known !== undefined) return snapshot(known);
    const now = this.#clock.now();
    const timeout = input.timeout ?? DEFAULT_APPROVAL_TIMEOUT;
    const record: RequestedRecord = {
      type: 'requested',
      id,
      request: {
        gate_id: `hitl-${id}`,
        proposal_id: input.proposalId ?? `proposal-${id}`,
        summary: input.summary,
        agent_id: input.agentId,
        rationale: input.rationale ?? null,
        context_data: input.context ?? [],
        cycle: input.cycle ?? 0,
        requested_at: formatTimestamp(now),
        timeout: { timeout_secs: timeout.timeout_secs, action: timeout.action },
      },
      action: input.action ?? 'approve',
      resource: input.resource ?? input.agentName ?? input.agentId,
      reason: input.reason ?? input.summary,
      origin: input.origin ?? 'agent',
      agent_name: input.agentName ?? null,
      deadline_ms: now + timeout.timeout_secs * 1000,
      tenant_id: input.tenantId ?? null,
      correlation_id: input.correlationId ?? null,
      // Written only when given, so a plain gate's record is the same as before.
      ...(input.tool === undefined ? {} : { tool: input.tool }),
      ...(input.adminOnly === true ? { admin_only: true as const } : {}),
      ...(input.approvers === undefined
        ? {}
        : {
            approvers: {
              group: input.approvers.group ?? null,
              required: input.approvers.required ?? 1,
              escalate_to: input.approvers.escalateTo ?? null,
            },
          }),
    };
    try {
      await this.#view.append([{ timeMs: now, record }]);
    } catch (error) {
      // Another kernel (or an earlier run) opened the same keyed gate first: use that one.
      if (!isKernelError(error, 'CONFLICT')) throw error;
    }
    const stored = await this.#view.get(`req:${id}`);
    if (stored !== undefined) this.#apply(stored);
    const state = this.#gates.get(id);
    if (state === undefined)
      throw new KernelError('INTERNAL', `Gate ${id} was written but cannot be read back`);
    if (state.record === record || canonicalJson(state.record) === canonicalJson(record)) {
      this.#bus?.publish({
        type: 'ApprovalRequested',
        id,
        action: record.action,
        resource: record.resource,
        reason: record.reason,
      });
    }
    return snapshot(state);
  }

  /** Waits for gate `id` to be decided. */
  wait(id: string, signal?: AbortSignal): Promise<ApprovalDecision> {
    const state = this.#gates.get(id);
    if (state === undefined) return Promise.reject(notFound(id));
    if (state.decision !== null) return Promise.resolve(state.decision);
    return new Promise<ApprovalDecision>((resolve, reject) => {
      const done = (d: ApprovalDecision): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(d);
      };
      const onAbort = (): void => {
        state.waiters.delete(done);
        reject(
          signal?.reason instanceof Error
            ? signal.reason
            : new KernelError('CLOSED', 'Stopped waiting for the approval'),
        );
      };
      if (signal?.aborted === true) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      state.waiters.add(done);
    });
  }

  /**
   * Approves gate `id`; `by` is who decides (recorded as `decided_by`), `note` free text. A gate
   * that needs n approvers records this approval as a vote and resolves with a
   * {@link PendingApproval} until the n-th distinct approver approves; then with the decision
   * (`decided_by` lists the approvers). The same approver approving twice is a `CONFLICT`.
   */
  async approve(
    id: string,
    options: DecideOptions = {},
  ): Promise<ApprovalDecision | PendingApproval> {
    await this.start();
    const state = this.#state(id);
    checkDecider(state, options.decider);
    const by = options.by ?? 'operator';
    const required = state.record.approvers?.required ?? 1;
    if (required <= 1) return this.#decide(id, true, by, null, false, options.note);
    if (state.decision !== null) throw alreadyDecided(state.decision);
    const voter = options.decider?.id ?? by;
    if (state.votes.some((v) => (v.voter ?? v.by) === voter)) throw alreadyVoted(state, by);
    const record: VoteRecord = {
      type: 'vote',
      id: state.record.id,
      by,
      ...(voter === by ? {} : { voter }),
      at: formatTimestamp(this.#clock.now()),
      note: options.note ?? null,
    };
    try {
      await this.#view.append([{ timeMs: this.#clock.now(), record }]);
    } catch (error) {
      if (!isKernelError(error, 'CONFLICT')) throw error;
      throw alreadyVoted(state, by);
    }
    this.#apply(record);
    if (state.decision !== null) return state.decision;
    // Votes other kernels recorded are folded in by the follower: read them before counting.
    for (const v of await this.#view.query({ subject: state.record.id, kinds: ['vote'] })) {
      this.#apply(v);
    }
    if (state.votes.length < required) {
      return {
        id: state.record.id,
        gateId: state.record.request.gate_id,
        status: 'pending',
        approved: false,
        votes: [...state.votes],
        required,
      };
    }
    try {
      return await this.#decide(
        id,
        true,
        state.votes.map((v) => v.by).join(', '),
        null,
        false,
        options.note,
      );
    } catch (error) {
      // Another approver's vote completed the gate at the same time: that is the decision.
      const decided = state.decision as ApprovalDecision | null;
      if (isKernelError(error, 'CONFLICT') && decided?.approved === true) return decided;
      throw error;
    }
  }

  /**
   * Earlier gates like gate `id` (same agent, action, tool, resource and tenant) that were
   * decided, newest first: what an approver sees next to a pending request.
   */
  similar(id: string, options: { limit?: number } = {}): SimilarDecision[] {
    const state = this.#gates.get(id.startsWith('hitl-') ? id.slice(5) : id);
    if (state === undefined) return [];
    const out: SimilarDecision[] = [];
    for (const other of this.#similar.get(similarKey(state.record)) ?? []) {
      const g = this.#gates.get(other);
      if (other === state.record.id || g?.decision == null) continue;
      const d = g.decision;
      out.push({
        id: other,
        decision: d.approved ? 'approved' : 'rejected',
        by: d.decidedBy,
        at: d.decidedAt,
        reason: d.reason,
      });
    }
    out.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    return out.slice(0, Math.max(0, options.limit ?? 5));
  }

  /**
   * Whether `decider` may decide gate `id` now: throws `FORBIDDEN` saying which tenant or
   * approver group it needs.
   */
  checkDecider(id: string, decider: Decider | undefined): void {
    checkDecider(this.#state(id), decider);
  }

  #state(id: string): GateState {
    const state = this.#gates.get(id.startsWith('hitl-') ? id.slice(5) : id);
    if (state === undefined) throw notFound(id);
    return state;
  }

  /** Rejects gate `id`; `by` is who decides (recorded as `decided_by`), `note` free text. */
  async reject(
    id: string,
    options: DecideOptions & { reason?: string } = {},
  ): Promise<ApprovalDecision> {
    await this.start();
    checkDecider(this.#state(id), options.decider);
    return this.#decide(
      id,
      false,
      options.by ?? 'operator',
      options.reason ?? null,
      false,
      options.note,
    );
  }

  /** One gate, by its UUID or its `hitl-…` gate id. */
  get(id: string): ApprovalSnapshot | undefined {
    const state = this.#gates.get(id.startsWith('hitl-') ? id.slice(5) : id);
    return state === undefined ? undefined : snapshot(state);
  }

  /** Gates, oldest first (default: pending only; with `tenant`, only that tenant's). */
  list(
    options: { status?: 'pending' | 'decided' | 'all'; tenant?: string | undefined } = {},
  ): ApprovalSnapshot[] {
    const status = options.status ?? 'pending';
    return [...this.#gates.values()]
      .filter((g) => status === 'all' || (status === 'pending') === (g.decision === null))
      .filter((g) => options.tenant === undefined || g.record.tenant_id === options.tenant)
      .map(snapshot)
      .sort((a, b) => a.request.requested_at.localeCompare(b.request.requested_at));
  }

  async #decide(
    id: string,
    approved: boolean,
    by: string,
    reason: string | null,
    timedOut: boolean,
    note?: string,
  ): Promise<ApprovalDecision> {
    await this.start();
    const key = id.startsWith('hitl-') ? id.slice(5) : id;
    const state = this.#gates.get(key);
    if (state === undefined) throw notFound(id);
    if (state.decision !== null) throw alreadyDecided(state.decision);
    const now = this.#clock.now();
    const decision: GateDecision = {
      gate_id: state.record.request.gate_id,
      verdict: approved ? 'Approve' : { Reject: { reason } },
      decided_by: by,
      decided_at: formatTimestamp(now),
    };
    const record: DecidedRecord = {
      type: 'decided',
      id: key,
      decision,
      timed_out: timedOut,
      ...(note === undefined ? {} : { note }),
    };
    try {
      await this.#view.append([{ timeMs: now, record }]);
    } catch (error) {
      if (!isKernelError(error, 'CONFLICT')) throw error;
      const stored = await this.#view.get(`dec:${key}`);
      if (stored !== undefined) this.#apply(stored);
      throw alreadyDecided(state.decision ?? toDecision(key, record));
    }
    this.#apply(record);
    const result = state.decision ?? toDecision(key, record);
    this.#bus?.publish({ type: 'ApprovalResolved', id: key, approved });
    if (this.#ledger !== undefined) {
      try {
        await this.#ledger.append(
          { type: 'GateDecisionRecorded', data: { request: state.record.request, decision } },
          {
            eventId: `gate-decision-${key}`,
            tenantId: state.record.tenant_id,
            correlationId: state.record.correlation_id,
          },
        );
      } catch (error) {
        this.#logger.error('Could not record a gate decision in the ledger', {
          gate: key,
          error: errorMessage(error),
        });
      }
    }
    return result;
  }

  /** Folds one stored record into the in-memory view (own writes and other kernels' alike). */
  #apply(rec: GateRecord | null): void {
    if (rec === null) {
      this.#logger.error('Skipping an unreadable approval record');
      return;
    }
    if (rec.type === 'requested') {
      if (this.#gates.has(rec.id)) return;
      const state: GateState = {
        record: rec,
        decision: null,
        escalated: false,
        timer: undefined,
        waiters: new Set(),
        votes: [],
      };
      this.#gates.set(rec.id, state);
      const key = similarKey(rec);
      const same = this.#similar.get(key);
      if (same === undefined) this.#similar.set(key, [rec.id]);
      else same.push(rec.id);
      this.#arm(state);
      return;
    }
    const state = this.#gates.get(rec.id);
    if (rec.type === 'vote') {
      const voter = rec.voter ?? rec.by;
      if (state !== undefined && !state.votes.some((v) => (v.voter ?? v.by) === voter)) {
        state.votes.push({
          by: rec.by,
          at: rec.at,
          note: rec.note,
          ...(rec.voter === undefined ? {} : { voter: rec.voter }),
        });
      }
      return;
    }
    if (state === undefined || state.decision !== null) return;
    state.decision = toDecision(rec.id, rec);
    if (state.timer !== undefined) this.#clock.clearTimeout(state.timer);
    state.timer = undefined;
    const decision = state.decision;
    for (const w of state.waiters) w(decision);
    state.waiters.clear();
    const snap = snapshot(state);
    for (const l of this.#listeners) {
      try {
        l(snap, decision);
      } catch (error) {
        this.#logger.error('An approval decision listener threw', { error: errorMessage(error) });
      }
    }
  }

  #arm(state: GateState): void {
    const delay = state.record.deadline_ms - this.#clock.now();
    if (delay <= 0) {
      // Expired while no kernel was running: apply the timeout policy now.
      queueMicrotask(() => void this.#expire(state));
      return;
    }
    state.timer = this.#clock.setTimeout(() => {
      state.timer = undefined;
      void this.#expire(state);
    }, delay);
  }

  async #expire(state: GateState): Promise<void> {
    if (state.decision !== null || this.#stop.signal.aborted) return;
    const action: TimeoutAction = state.record.request.timeout.action;
    const secs = state.record.request.timeout.timeout_secs;
    if (action === 'Escalate') {
      state.escalated = true;
      const to = state.record.approvers?.escalate_to ?? null;
      this.#bus?.publish({
        type: 'ApprovalRequested',
        id: state.record.id,
        action: state.record.action,
        resource: state.record.resource,
        reason: `escalated${to === null ? '' : ` to ${to}`}: no decision within ${secs} s — ${state.record.reason}`,
      });
      return;
    }
    try {
      await this.#decide(
        state.record.id,
        action === 'Approve',
        'timeout',
        action === 'Approve' ? null : `no decision within ${secs} s`,
        true,
      );
    } catch (error) {
      // Another kernel decided first: nothing to do.
      if (!isKernelError(error, 'CONFLICT')) {
        this.#logger.error('Could not apply an approval timeout', {
          gate: state.record.id,
          error: errorMessage(error),
        });
      }
    }
  }

  /** Stops following the store and cancels timers. Waiting callers stay pending. */
  async close(): Promise<void> {
    this.#stop.abort();
    for (const g of this.#gates.values()) {
      if (g.timer !== undefined) this.#clock.clearTimeout(g.timer);
      g.timer = undefined;
    }
    await this.#follower;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function toDecision(id: string, rec: DecidedRecord): ApprovalDecision {
  const verdict = rec.decision.verdict;
  return {
    id,
    gateId: rec.decision.gate_id,
    approved: verdict === 'Approve',
    reason: verdict === 'Approve' ? null : verdict.Reject.reason,
    decidedBy: rec.decision.decided_by,
    decidedAt: rec.decision.decided_at,
    note: rec.note ?? null,
    timedOut: rec.timed_out,
  };
}

function snapshot(state: GateState): ApprovalSnapshot {
  const r = state.record;
  return {
    id: r.id,
    gateId: r.request.gate_id,
    status: state.decision === null ? 'pending' : state.decision.approved ? 'approved' : 'rejected',
    request: r.request,
    action: r.action,
    resource: r.resource,
    reason: r.reason,
    origin: r.origin,
    agentName: r.agent_name,
    tool: r.tool ?? null,
    tenantId: r.tenant_id,
    deadlineMs: r.deadline_ms,
    escalated: state.escalated,
    group: r.approvers?.group ?? null,
    escalateTo: r.approvers?.escalate_to ?? null,
    deciders: deciderGroups(state),
    required: r.approvers?.required ?? 1,
    votes: [...state.votes],
    decision: state.decision,
  };
}

/** The groups that may decide a gate now (none: no group restriction). */
function deciderGroups(state: GateState): string[] {
  const a = state.record.approvers;
  if (a === undefined) return [];
  const out: string[] = [];
  if (a.group !== null) out.push(a.group);
  if (state.escalated && a.escalate_to !== null && !out.includes(a.escalate_to))
    out.push(a.escalate_to);
  return out;
}

/** The one rule of who may decide a gate. */
function checkDecider(state: GateState, decider: Decider | undefined): void {
  if (decider === undefined || decider.admin) return;
  const r = state.record;
  if (decider.tenant !== undefined && r.tenant_id !== decider.tenant) {
    // Not the tenant's gate: answered as if it did not exist, so ids of other tenants leak nothing.
    throw notFound(r.id);
  }
  const groups = deciderGroups(state);
  const group = r.approvers?.group ?? null;
  if (groups.length === 0 && group === null) {
    if (r.admin_only !== true) return;
    throw new KernelError(
      'FORBIDDEN',
      `Approval ${r.id} enforces a kernel policy (a budget): an admin token decides it, not the tenant it concerns`,
      { details: { id: r.id } },
    );
  }
  if (groups.some((g) => decider.groups?.includes(g) === true)) return;
  const pending =
    r.approvers?.escalate_to != null && !state.escalated
      ? ` (after its timeout also approver:${r.approvers.escalate_to})`
      : '';
  throw new KernelError(
    'FORBIDDEN',
    `Approval ${r.id} is decided by the group${groups.length > 1 ? 's' : ''} ${groups.join(' or ') || group}: use a token with the scope ${groups.map((g) => `approver:${g}`).join(' or ')}${pending} (\`kerno tokens create --approver <group>\`)`,
    { details: { id: r.id, groups } },
  );
}

function similarKey(r: RequestedRecord): string {
  return JSON.stringify([
    r.agent_name ?? r.request.agent_id,
    r.action,
    r.tool ?? null,
    r.resource,
    r.tenant_id,
  ]);
}

function alreadyVoted(state: GateState, by: string): KernelError {
  const required = state.record.approvers?.required ?? 1;
  return new KernelError(
    'CONFLICT',
    `${by} already approved ${state.record.id}; it needs ${required} distinct approvers (${state.votes.length} so far)`,
    { details: { id: state.record.id, by, votes: state.votes.length, required } },
  );
}

function notFound(id: string): KernelError {
  return new KernelError(
    'NOT_FOUND',
    `No approval gate ${id}; list the pending ones with \`kerno approvals ls\``,
    {
      details: { id },
    },
  );
}

function alreadyDecided(d: ApprovalDecision): KernelError {
  return new KernelError(
    'CONFLICT',
    `Approval ${d.id} was already ${d.approved ? 'approved' : 'rejected'} by ${d.decidedBy} at ${d.decidedAt}`,
    { details: { id: d.id, approved: d.approved, decidedBy: d.decidedBy } },
  );
}

function validateInput(input: ApprovalRequestInput): void {
  const bad = (m: string): never => {
    throw new KernelError('INVALID_ARGUMENT', m);
  };
  if (typeof input.agentId !== 'string' || input.agentId === '')
    bad('An approval request needs an agentId');
  if (typeof input.summary !== 'string' || input.summary.trim() === '')
    bad('An approval request needs a summary a human can decide on');
  const t = input.timeout;
  if (t !== undefined) {
    if (!Number.isSafeInteger(t.timeout_secs) || t.timeout_secs <= 0)
      bad('timeout.timeout_secs must be a positive integer');
    if (!['Reject', 'Approve', 'Escalate'].includes(t.action))
      bad('timeout.action must be Reject, Approve or Escalate');
  }
  if (input.key !== undefined && (typeof input.key !== 'string' || input.key === ''))
    bad('key must be a non-empty string');
  const a = input.approvers;
  if (a !== undefined) {
    if (a.required !== undefined && (!Number.isSafeInteger(a.required) || a.required < 1))
      bad('approvers.required must be a positive integer (n of m approvers)');
    for (const g of [a.group, a.escalateTo]) {
      if (
        g !== undefined &&
        (typeof g !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(g))
      )
        bad('an approver group is 1–64 letters, digits, ".", "_", "-" or ":"');
    }
    if (a.escalateTo !== undefined && input.timeout?.action !== 'Escalate')
      bad('approvers.escalateTo needs timeout.action "Escalate"');
  }
}

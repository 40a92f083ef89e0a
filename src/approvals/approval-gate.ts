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
  readonly reason?: string | undefined;
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
  /** Epoch ms when the timeout policy applies. */
  readonly deadlineMs: number;
  /** The timeout action was Escalate and the deadline passed: still waiting for a human. */
  readonly escalated: boolean;
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
}

interface DecidedRecord {
  readonly type: 'decided';
  readonly id: string;
  readonly decision: GateDecision;
  readonly timed_out: boolean;
  /** Absent in records written before notes existed. */
  readonly note?: string | null;
}

type GateRecord = RequestedRecord | DecidedRecord;

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
    key: `${record.type === 'requested' ? 'req' : 'dec'}:${record.id}`,
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

  /** Approves gate `id`; `by` is who decides (recorded as `decided_by`), `note` free text. */
  approve(id: string, options: DecideOptions = {}): Promise<ApprovalDecision> {
    return this.#decide(id, true, options.by ?? 'operator', null, false, options.note);
  }

  /** Rejects gate `id`; `by` is who decides (recorded as `decided_by`), `note` free text. */
  reject(id: string, options: DecideOptions & { reason?: string } = {}): Promise<ApprovalDecision> {
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

  /** Gates, oldest first (default: pending only). */
  list(options: { status?: 'pending' | 'decided' | 'all' } = {}): ApprovalSnapshot[] {
    const status = options.status ?? 'pending';
    return [...this.#gates.values()]
      .filter((g) => status === 'all' || (status === 'pending') === (g.decision === null))
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
      };
      this.#gates.set(rec.id, state);
      this.#arm(state);
      return;
    }
    const state = this.#gates.get(rec.id);
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
      this.#bus?.publish({
        type: 'ApprovalRequested',
        id: state.record.id,
        action: state.record.action,
        resource: state.record.resource,
        reason: `escalated: no decision within ${secs} s — ${state.record.reason}`,
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
    deadlineMs: r.deadline_ms,
    escalated: state.escalated,
    decision: state.decision,
  };
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
}

/**
 * The policy store: kernel policies (budgets, approval rules, schedules, concurrency and rate
 * limits) as versioned documents on the log stream `policies`. Every change appends a new
 * version (hash-chained like every record, so the history is verifiable) and an audit entry
 * naming who changed what and why. The current versions are held in memory and kept up to date
 * by following the stream, so a policy changed by another kernel sharing the store is seen here
 * without a query on the hot path.
 *
 * Two kernels writing the same policy at once cannot both win: a version's record key is
 * `kind/name@version`, so the second append of a version is a `CONFLICT`.
 *
 * Each policy kind registers a validator that turns an untrusted spec (API body, CLI file) into
 * its typed form or throws `INVALID_ARGUMENT` saying what is wrong.
 *
 * @example
 * const policies = createPolicyStore({ log, audit });
 * policies.register('budget', parseBudget);
 * await policies.start();
 * await policies.set('budget', 'research-daily', { agent: 'research', costMicros: 5_000_000 }, { by: 'ops' });
 * policies.get('budget', 'research-daily'); // { version: 1, spec: …, updatedBy: 'ops', … }
 *
 * @module
 */
import type { AuditTrail } from '../audit/audit-trail.js';
import { KernelError, errorMessage, isKernelError } from '../errors.js';
import type { LogStore } from '../storage/log.js';
import { createLogView, type LogCodec, type LogView } from '../storage/log-view.js';
import { canonicalJson, type JsonValue } from '../util/canonical-json.js';
import { systemClock, type Clock } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';

/** The kinds of policy the kernel knows. */
export type PolicyKind = 'budget' | 'rule' | 'schedule' | 'limit';

/** Every policy kind. */
export const POLICY_KINDS: readonly PolicyKind[] = ['budget', 'rule', 'schedule', 'limit'];

/** A policy's name: letters, digits, `.`, `_`, `-`, `:`; 1–128 characters. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** One version of one policy. */
export interface PolicyVersion<S = JsonValue> {
  readonly kind: PolicyKind;
  readonly name: string;
  /** 1 for the first version; each change adds one. */
  readonly version: number;
  /** The policy; `null` when this version deleted it. */
  readonly spec: S | null;
  /** Epoch ms. */
  readonly updatedAt: number;
  /** Who made the change (a token label, `cli`, `library`). */
  readonly updatedBy: string;
  readonly reason: string | null;
  /** Position on the `policies` stream. */
  readonly seq: number;
}

/** Turns an untrusted spec into a policy kind's typed form; throws `INVALID_ARGUMENT`. */
export type PolicyValidator<S> = (spec: unknown) => S;

/** Who changes a policy, and why. */
export interface PolicyChangeOptions {
  readonly by?: string | undefined;
  readonly reason?: string | undefined;
  /** Refuse the change (`CONFLICT`) unless the policy is at this version now (0: absent). */
  readonly expectedVersion?: number | undefined;
}

/** Options for {@link createPolicyStore}. */
export interface PolicyStoreOptions {
  readonly log: LogStore;
  /** Where changes are audited (omit only in tests of the store itself). */
  readonly audit?: AuditTrail | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
  /** The stream (default `policies`). */
  readonly stream?: string | undefined;
  /** How often other kernels' changes are looked for on backends without notifications. */
  readonly pollMs?: number | undefined;
}

/** Called after a policy changed (here or on another kernel sharing the store). */
export type PolicyListener = (change: PolicyVersion<unknown>) => void;

interface StoredPolicy {
  readonly kind: PolicyKind;
  readonly name: string;
  readonly version: number;
  readonly spec: JsonValue | null;
  readonly by: string;
  readonly reason: string | null;
}

interface PolicyAppend {
  readonly timeMs: number;
  readonly policy: StoredPolicy;
}

type Decoded = (StoredPolicy & { readonly seq: number; readonly timeMs: number }) | null;

const CODEC: LogCodec<PolicyAppend, Decoded> = {
  encode: ({ timeMs, policy }) => ({
    timeMs,
    body: canonicalJson(policy),
    key: `${policy.kind}/${policy.name}@${policy.version}`,
    kind: policy.kind,
    subject: `${policy.kind}/${policy.name}`,
  }),
  decode: (r) => {
    try {
      const p = JSON.parse(r.body) as StoredPolicy;
      if (!isKind(p.kind) || typeof p.name !== 'string' || !Number.isInteger(p.version))
        return null;
      return { ...p, seq: r.seq, timeMs: r.timeMs };
    } catch {
      return null;
    }
  },
};

function isKind(kind: unknown): kind is PolicyKind {
  return typeof kind === 'string' && (POLICY_KINDS as readonly string[]).includes(kind);
}

/** Checks a policy kind given by a user; throws `INVALID_ARGUMENT`. */
export function parsePolicyKind(kind: unknown): PolicyKind {
  if (!isKind(kind)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `A policy kind must be one of ${POLICY_KINDS.join(', ')}, got ${JSON.stringify(kind)}`,
    );
  }
  return kind;
}

/** Checks a policy name given by a user; throws `INVALID_ARGUMENT`. */
export function parsePolicyName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `A policy name is 1–128 letters, digits, ".", "_", "-" or ":" starting with a letter or digit, got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/** Opens a policy store (call {@link PolicyStore.start} before reading). */
export function createPolicyStore(options: PolicyStoreOptions): PolicyStore {
  return new PolicyStore(options);
}

/** Versioned kernel policies on the log. */
export class PolicyStore implements AsyncDisposable {
  readonly #view: LogView<PolicyAppend, Decoded>;
  readonly #audit: AuditTrail | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #validators = new Map<PolicyKind, PolicyValidator<unknown>>();
  /** `kind/name` → the newest version (deletions included, so versions keep counting). */
  readonly #current = new Map<string, PolicyVersion<unknown>>();
  readonly #listeners = new Set<PolicyListener>();
  readonly #stop = new AbortController();
  #started: Promise<void> | undefined;
  #follower: Promise<void> | undefined;

  constructor(options: PolicyStoreOptions) {
    this.#audit = options.audit;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#view = createLogView({
      log: options.log,
      stream: options.stream ?? 'policies',
      codec: CODEC,
      clock: this.#clock,
      pollMs: options.pollMs,
    });
  }

  /**
   * Registers the validator of a policy kind. Stored specs of that kind are re-validated when
   * read back, so a policy written by an older kernel that no longer parses is reported (logged
   * and skipped), never half-applied.
   */
  register<S>(kind: PolicyKind, validate: PolicyValidator<S>): void {
    this.#validators.set(kind, validate);
  }

  /** Loads every stored version, then follows changes in the background. Idempotent. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      const follow = this.#view.follow({ signal: this.#stop.signal });
      this.#follower = (async () => {
        try {
          for await (const record of follow) this.#apply(record);
        } catch (error) {
          if (!this.#stop.signal.aborted) {
            this.#logger.error('The policy store stopped following the store', {
              error: errorMessage(error),
            });
          }
        }
      })();
      await follow.caughtUp;
    })();
    return this.#started;
  }

  /** Calls `listener` after every change, here or on another kernel. Returns its remover. */
  onChange(listener: PolicyListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The current version of a policy, or `undefined` when there is none (or it was deleted). */
  get<S = JsonValue>(kind: PolicyKind, name: string): PolicyVersion<S> | undefined {
    const p = this.#current.get(`${kind}/${name}`);
    return p === undefined || p.spec === null ? undefined : (p as PolicyVersion<S>);
  }

  /** The current policies of a kind (or of every kind), by name. */
  list<S = JsonValue>(kind?: PolicyKind): PolicyVersion<S>[] {
    const out: PolicyVersion<S>[] = [];
    for (const p of this.#current.values()) {
      if (p.spec !== null && (kind === undefined || p.kind === kind))
        out.push(p as PolicyVersion<S>);
    }
    return out.sort((a, b) => (a.kind === b.kind ? cmp(a.name, b.name) : cmp(a.kind, b.kind)));
  }

  /** Every version of one policy, oldest first (deletions included). */
  async history(kind: PolicyKind, name: string): Promise<PolicyVersion<unknown>[]> {
    const records = await this.#view.query({ subject: `${kind}/${name}` });
    const out: PolicyVersion<unknown>[] = [];
    for (const r of records) if (r !== null) out.push(toVersion(r, r.spec));
    return out;
  }

  /**
   * Stores a new version of a policy (validated by its kind's validator) and audits the change.
   * Resolves with the version once it is durable.
   */
  async set<S>(
    kind: PolicyKind,
    name: string,
    spec: unknown,
    options: PolicyChangeOptions = {},
  ): Promise<PolicyVersion<S>> {
    parsePolicyKind(kind);
    parsePolicyName(name);
    const validate = this.#validators.get(kind);
    if (validate === undefined) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `This kernel has no ${kind} policies enabled: nothing validates them`,
      );
    }
    const parsed = validate(spec);
    return (await this.#write(kind, name, parsed as JsonValue, options)) as PolicyVersion<S>;
  }

  /** Deletes a policy (a new version with no spec); `NOT_FOUND` when there is none. */
  async delete(
    kind: PolicyKind,
    name: string,
    options: PolicyChangeOptions = {},
  ): Promise<PolicyVersion<unknown>> {
    parsePolicyKind(kind);
    if (this.get(kind, name) === undefined) {
      throw new KernelError('NOT_FOUND', `No ${kind} policy named ${JSON.stringify(name)}`);
    }
    return this.#write(kind, name, null, options);
  }

  async #write(
    kind: PolicyKind,
    name: string,
    spec: JsonValue | null,
    options: PolicyChangeOptions,
  ): Promise<PolicyVersion<unknown>> {
    await this.start();
    const current = this.#current.get(`${kind}/${name}`);
    const at = current?.spec === null ? 0 : (current?.version ?? 0);
    if (options.expectedVersion !== undefined && options.expectedVersion !== at) {
      throw new KernelError(
        'CONFLICT',
        `The ${kind} policy ${JSON.stringify(name)} is at version ${at}, not ${options.expectedVersion}: read it again and retry`,
        { details: { kind, name, version: at } },
      );
    }
    const policy: StoredPolicy = {
      kind,
      name,
      version: (current?.version ?? 0) + 1,
      spec,
      by: options.by ?? 'library',
      reason: options.reason ?? null,
    };
    let stored: Decoded | undefined;
    try {
      [stored] = await this.#view.append([{ timeMs: this.#clock.now(), policy }]);
    } catch (error) {
      if (!isKernelError(error, 'CONFLICT')) throw error;
      throw new KernelError(
        'CONFLICT',
        `The ${kind} policy ${JSON.stringify(name)} was changed at the same time by another kernel: read it again and retry`,
        { details: { kind, name } },
      );
    }
    if (stored === null || stored === undefined)
      throw new KernelError('INTERNAL', `Policy ${kind}/${name} was written but cannot be read`);
    this.#apply(stored);
    await this.#audit?.append(
      policy.by,
      { type: 'ConfigChange', data: { key: `policy/${kind}/${name}` } },
      `policy/${kind}/${name}`,
      {
        version: policy.version,
        change: spec === null ? 'delete' : 'set',
        reason: policy.reason,
        spec,
      },
    );
    return toVersion(stored, stored.spec);
  }

  #apply(record: Decoded): void {
    if (record === null) return;
    const id = `${record.kind}/${record.name}`;
    const known = this.#current.get(id);
    if (known !== undefined && known.version >= record.version) return;
    let spec: unknown = record.spec;
    if (spec !== null) {
      const validate = this.#validators.get(record.kind);
      if (validate !== undefined) {
        try {
          spec = validate(spec);
        } catch (error) {
          this.#logger.error('A stored policy no longer validates; it is ignored', {
            policy: id,
            version: record.version,
            error: errorMessage(error),
          });
          spec = null;
        }
      }
    }
    const version = toVersion(record, spec);
    this.#current.set(id, version);
    for (const listener of this.#listeners) {
      try {
        listener(version);
      } catch (error) {
        this.#logger.error('A policy listener failed', { error: errorMessage(error) });
      }
    }
  }

  /** Stops following the store. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#follower;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function toVersion(
  r: StoredPolicy & { seq: number; timeMs: number },
  spec: unknown,
): PolicyVersion<unknown> {
  return {
    kind: r.kind,
    name: r.name,
    version: r.version,
    spec: spec,
    updatedAt: r.timeMs,
    updatedBy: r.by,
    reason: r.reason,
    seq: r.seq,
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

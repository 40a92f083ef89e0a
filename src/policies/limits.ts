/**
 * Concurrency and rate limits (policy kind `limit`), per agent definition or per key (e.g. a model
 * provider `openai`): at most `maxConcurrent` runs hold a slot at once, and starts are metered by
 * a token bucket (`ratePerSec`, `burst`). A run waiting for a slot is `queued`; queued runs start
 * in priority order (higher first), then in the order they were started (FIFO). Steps take a slot
 * on a key with `ctx.step(name, fn, { limitKey })`, so model calls can be limited too.
 *
 * The slots and buckets live on the log stream `limits`, so every kernel sharing a store (several
 * kernels on one PostgreSQL) shares one limit:
 * - a limit's slot `i` is taken by appending the claim `limit/<name>/<i>@<epoch>` with the next
 *   epoch; the key is unique, so of two kernels claiming the same slot one gets `CONFLICT` and
 *   tries another. A slot is free again once its claim is released
 *   (`limit/<name>/<i>@<epoch>:released`) or its holder run has ended.
 * - the token bucket is kept as its theoretical arrival time (GCRA): each token taken appends
 *   `limit/<name>/rate@<n>` with the next `n`, the same compare-and-set.
 *
 * Queued runs survive a restart: they are unfinished runs holding no slot, queued again (in the
 * same order) when the kernel opens. A run holding a slot when its kernel stopped keeps it.
 *
 * @module
 */
import { KernelError, errorMessage, isKernelError } from '../errors.js';
import type { AdmissionRequest, RunAdmission } from '../runs/run-engine.js';
import type { LogStore } from '../storage/log.js';
import { createLogView, type LogCodec, type LogView } from '../storage/log-view.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import type { PolicyStore } from './policy-store.js';

/** A limit as stored (the `limit` policy's spec). */
export interface LimitSpec {
  /** Limit the runs of this agent definition … */
  readonly agent?: string;
  /** … or the runs and steps that name this limit key. */
  readonly key?: string;
  /** At most this many runs (or steps, for a key) hold a slot at once. */
  readonly maxConcurrent?: number;
  /** Token bucket: this many starts per second on average … */
  readonly ratePerSec?: number;
  /** … and at most this many at once (default: `ceil(ratePerSec)`, at least 1). */
  readonly burst?: number;
}

const NAME = /^[A-Za-z0-9][\w.:-]{0,127}$/;

function bad(message: string): KernelError {
  return new KernelError('INVALID_ARGUMENT', message);
}

/** The `limit` policy validator. */
export function parseLimitSpec(spec: unknown): LimitSpec {
  const example =
    '{ "agent": "research", "maxConcurrent": 2 } or { "key": "openai", "maxConcurrent": 4, "ratePerSec": 5, "burst": 10 }';
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw bad(`A limit is an object: ${example}`);
  }
  const s = spec as Record<string, unknown>;
  const known = ['agent', 'key', 'maxConcurrent', 'ratePerSec', 'burst'];
  for (const k of Object.keys(s)) {
    if (!known.includes(k)) {
      throw bad(`A limit has no field ${JSON.stringify(k)}: the fields are ${known.join(', ')}`);
    }
  }
  if ((s['agent'] === undefined) === (s['key'] === undefined)) {
    throw bad(`A limit needs exactly one of "agent" and "key": ${example}`);
  }
  for (const f of ['agent', 'key'] as const) {
    if (s[f] !== undefined && (typeof s[f] !== 'string' || !NAME.test(s[f]))) {
      throw bad(
        `"${f}" is 1-128 letters, digits, '.', '_', ':' or '-', got ${JSON.stringify(s[f])}`,
      );
    }
  }
  if (s['maxConcurrent'] === undefined && s['ratePerSec'] === undefined) {
    throw bad(`A limit needs "maxConcurrent", "ratePerSec" or both: ${example}`);
  }
  const max = s['maxConcurrent'];
  if (
    max !== undefined &&
    (!Number.isSafeInteger(max) || (max as number) < 1 || (max as number) > 10_000)
  ) {
    throw bad(`"maxConcurrent" is a whole number from 1 to 10000, got ${JSON.stringify(max)}`);
  }
  const rate = s['ratePerSec'];
  if (rate !== undefined && (typeof rate !== 'number' || !(rate > 0) || rate > 100_000)) {
    throw bad(
      `"ratePerSec" is a number above 0, at most 100000 (0.5: one every 2 s), got ${JSON.stringify(rate)}`,
    );
  }
  const burst = s['burst'];
  if (burst !== undefined) {
    if (rate === undefined) throw bad('"burst" only applies with "ratePerSec"');
    if (!Number.isSafeInteger(burst) || (burst as number) < 1 || (burst as number) > 1_000_000) {
      throw bad(`"burst" is a whole number from 1 to 1000000, got ${JSON.stringify(burst)}`);
    }
  }
  return {
    ...(s['agent'] === undefined ? {} : { agent: s['agent'] as string }),
    ...(s['key'] === undefined ? {} : { key: s['key'] as string }),
    ...(max === undefined ? {} : { maxConcurrent: max as number }),
    ...(rate === undefined
      ? {}
      : { ratePerSec: rate, burst: (burst as number | undefined) ?? Math.max(1, Math.ceil(rate)) }),
  };
}

type LimitRecord =
  | {
      readonly type: 'claim';
      readonly name: string;
      readonly slot: number;
      readonly epoch: number;
      /** `<run id>` for a run, `<run id>#<step key>` for a step. */
      readonly holder: string;
      readonly runId: string;
    }
  | {
      readonly type: 'release';
      readonly name: string;
      readonly slot: number;
      readonly epoch: number;
    }
  | {
      readonly type: 'rate';
      readonly name: string;
      readonly n: number;
      readonly tatMs: number;
      /** The run (admissions only): a run admitted again after a restart takes no second token. */
      readonly holder?: string;
    };

function keyOf(r: LimitRecord): string {
  if (r.type === 'rate') return `limit/${r.name}/rate@${r.n}`;
  const base = `limit/${r.name}/${r.slot}@${r.epoch}`;
  return r.type === 'claim' ? base : `${base}:released`;
}

const CODEC: LogCodec<{ record: LimitRecord; atMs: number }, LimitRecord | null> = {
  encode: ({ record, atMs }) => ({
    timeMs: atMs,
    key: keyOf(record),
    kind: `limit.${record.type}`,
    subject: `limit/${record.name}`,
    body: JSON.stringify(record),
  }),
  decode: (r) => {
    try {
      const v = JSON.parse(r.body) as LimitRecord;
      return typeof v.name === 'string' ? v : null;
    } catch {
      return null;
    }
  },
};

interface Slot {
  epoch: number;
  holder: string;
  runId: string;
  released: boolean;
}

interface Waiter {
  readonly kind: 'run' | 'step';
  /** Run id, or `<run id>#<step key>`. */
  readonly holder: string;
  readonly runId: string;
  readonly agent: string | undefined;
  readonly limitKey: string | undefined;
  readonly priority: number;
  readonly order: number;
  readonly grant: () => void;
}

/** One queued run or step as `limits.queues()` shows it. */
export interface QueuedEntry {
  readonly runId: string;
  /** Set for a step waiting for a slot. */
  readonly step?: string;
  readonly agent?: string;
  readonly priority: number;
  /** 1 = next to start under this limit. */
  readonly position: number;
}

/** A limit with its use and queue. */
export interface LimitQueue {
  readonly limit: string;
  readonly spec: LimitSpec;
  /** Slots held now (across every kernel sharing the store). */
  readonly inUse: number;
  readonly queued: readonly QueuedEntry[];
}

/** What the limiter needs of the run engine. */
export interface LimiterRuns {
  hasEnded(id: string): boolean;
  onStatus(listener: (run: { id: string; status: string }) => void): () => void;
}

/** Options for {@link createLimiter}. */
export interface LimiterOptions {
  readonly policies: PolicyStore;
  readonly log: LogStore;
  readonly clock: Clock;
  readonly logger?: Logger | undefined;
}

/** Creates the limiter; hand it to the run engine as `admission`, then {@link Limiter.start}. */
export function createLimiter(options: LimiterOptions): Limiter {
  return new Limiter(options);
}

const FINAL = new Set(['completed', 'failed', 'cancelled']);

/** Concurrency and rate limits, shared through the log. */
export class Limiter implements RunAdmission {
  readonly #policies: PolicyStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #view: LogView<{ record: LimitRecord; atMs: number }, LimitRecord | null>;
  /** limit name → slot index → latest claim. */
  readonly #slots = new Map<string, Map<number, Slot>>();
  /** limit name → latest bucket state. */
  readonly #rates = new Map<string, { n: number; tatMs: number }>();
  /** limit name → the runs that took one of its tokens for their admission. */
  readonly #tokenHolders = new Map<string, Set<string>>();
  #queue: Waiter[] = [];
  #order = 0;
  #runs: LimiterRuns | undefined;
  #started = false;
  #closed = false;
  #pumping = false;
  #again = false;
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  readonly #stop = new AbortController();
  readonly #detach: (() => void)[] = [];
  #follower: Promise<void> | undefined;

  constructor(options: LimiterOptions) {
    this.#policies = options.policies;
    this.#clock = options.clock;
    this.#logger = options.logger ?? silentLogger;
    this.#view = createLogView({
      log: options.log,
      stream: 'limits',
      codec: CODEC,
      clock: options.clock,
    });
  }

  /** Follows the slots and buckets, then admits the queued runs. */
  async start(runs: LimiterRuns): Promise<void> {
    this.#runs = runs;
    const live = this.#view.follow({ signal: this.#stop.signal });
    this.#follower = (async () => {
      try {
        for await (const r of live) {
          if (r === null) continue;
          this.#applyRecord(r);
          if (r.type === 'release' && this.#queue.length > 0) this.#kick();
        }
      } catch (error) {
        if (!this.#stop.signal.aborted)
          this.#logger.error('The limiter stopped following the limits', {
            error: errorMessage(error),
          });
      }
    })();
    await live.caughtUp;
    this.#detach.push(
      this.#policies.onChange((c) => {
        if (c.kind === 'limit') this.#kick();
      }),
      runs.onStatus((run) => {
        if (FINAL.has(run.status)) this.#ended(run.id);
      }),
    );
    this.#started = true;
    this.#kick();
  }

  #applyRecord(r: LimitRecord): void {
    if (r.type === 'rate') {
      // Only unfinished runs can be admitted again.
      if (r.holder !== undefined && this.#runs?.hasEnded(r.holder) !== true) {
        let holders = this.#tokenHolders.get(r.name);
        if (holders === undefined) this.#tokenHolders.set(r.name, (holders = new Set<string>()));
        holders.add(r.holder);
      }
      const known = this.#rates.get(r.name);
      if (known === undefined || known.n < r.n) this.#rates.set(r.name, { n: r.n, tatMs: r.tatMs });
      return;
    }
    let slots = this.#slots.get(r.name);
    if (slots === undefined) this.#slots.set(r.name, (slots = new Map<number, Slot>()));
    const known = slots.get(r.slot);
    if (r.type === 'claim') {
      if (known === undefined || known.epoch < r.epoch)
        slots.set(r.slot, { epoch: r.epoch, holder: r.holder, runId: r.runId, released: false });
    } else if (known !== undefined && known.epoch === r.epoch) {
      known.released = true;
    }
  }

  #limits(): { name: string; spec: LimitSpec }[] {
    return this.#policies
      .list<LimitSpec>('limit')
      .map((p) => ({ name: p.name, spec: p.spec as LimitSpec }));
  }

  #limitsFor(w: {
    kind: 'run' | 'step';
    agent: string | undefined;
    limitKey: string | undefined;
  }): { name: string; spec: LimitSpec }[] {
    return this.#limits().filter(
      ({ spec }) =>
        (w.kind === 'run' && spec.agent !== undefined && spec.agent === w.agent) ||
        (spec.key !== undefined && spec.key === w.limitKey),
    );
  }

  limited(run: AdmissionRequest): boolean {
    return this.#limitsFor({ kind: 'run', agent: run.agent, limitKey: run.limitKey }).length > 0;
  }

  enqueue(run: AdmissionRequest, admit: (id: string) => void): void {
    if (this.#queue.some((w) => w.holder === run.id)) return;
    this.#queue.push({
      kind: 'run',
      holder: run.id,
      runId: run.id,
      agent: run.agent,
      limitKey: run.limitKey,
      priority: run.priority,
      order: run.order,
      grant: () => admit(run.id),
    });
    this.#kick();
  }

  acquireStep(
    limitKey: string,
    holder: { runId: string; key: string; priority: number },
    signal: AbortSignal,
  ): Promise<() => void> {
    const id = `${holder.runId}#${holder.key}`;
    const release = (): void => {
      void this.#releaseHolder(id).then(() => this.#kick());
    };
    if (this.#limitsFor({ kind: 'step', agent: undefined, limitKey }).length === 0) {
      return Promise.resolve(() => undefined);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        kind: 'step',
        holder: id,
        runId: holder.runId,
        agent: undefined,
        limitKey,
        priority: holder.priority,
        // Steps queue after the runs already waiting on the key at the same priority.
        order: Number.MAX_SAFE_INTEGER / 2 + ++this.#order,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      const onAbort = (): void => {
        this.#queue = this.#queue.filter((w) => w !== waiter);
        reject(
          signal.reason instanceof Error ? signal.reason : new KernelError('CLOSED', 'aborted'),
        );
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
      this.#kick();
    });
  }

  #isFree(name: string, slot: Slot | undefined): boolean {
    if (slot === undefined || slot.released) return true;
    return this.#runs?.hasEnded(slot.runId) === true;
  }

  #held(name: string, holder: string): number {
    let n = 0;
    for (const s of this.#slots.get(name)?.values() ?? []) {
      if (!this.#isFree(name, s) && s.holder === holder) n++;
    }
    return n;
  }

  #inUse(name: string): number {
    let n = 0;
    for (const s of this.#slots.get(name)?.values() ?? []) if (!this.#isFree(name, s)) n++;
    return n;
  }

  /** Claims one slot of `name` for `w`; false when all are taken. */
  async #claim(name: string, max: number, w: Waiter): Promise<boolean> {
    if (this.#held(name, w.holder) > 0) return true;
    // A step on a limit its own run holds a slot of runs on the run's slot (no second claim).
    if (w.kind === 'step' && this.#held(name, w.runId) > 0) return true;
    for (let attempt = 0; attempt < 2 * max + 2; attempt++) {
      const slots = this.#slots.get(name);
      let free = -1;
      for (let i = 0; i < max; i++) {
        if (this.#isFree(name, slots?.get(i))) {
          free = i;
          break;
        }
      }
      if (free < 0) return false;
      const epoch = (slots?.get(free)?.epoch ?? 0) + 1;
      const record: LimitRecord = {
        type: 'claim',
        name,
        slot: free,
        epoch,
        holder: w.holder,
        runId: w.runId,
      };
      try {
        const [stored] = await this.#view.append([{ record, atMs: this.#clock.now() }]);
        if (stored !== null && stored !== undefined) this.#applyRecord(stored);
        return true;
      } catch (error) {
        if (!isKernelError(error, 'CONFLICT')) throw error;
        // Another kernel took this slot first: learn its claim and try the next one.
        const other = await this.#view.get(keyOf(record));
        if (other !== null && other !== undefined) this.#applyRecord(other);
      }
    }
    return false;
  }

  /** Takes a token of `name`'s bucket; the time one is there again when none is. */
  async #token(name: string, spec: LimitSpec, w: Waiter): Promise<true | number> {
    if (w.kind === 'run' && this.#tokenHolders.get(name)?.has(w.holder) === true) return true;
    const interval = 1000 / spec.ratePerSec!;
    const burst = spec.burst ?? 1;
    for (let attempt = 0; attempt < 8; attempt++) {
      const now = this.#clock.now();
      const state = this.#rates.get(name) ?? { n: 0, tatMs: -Infinity };
      const tat = Math.max(state.tatMs, now) + interval;
      if (tat - now > burst * interval + 1e-6) return tat - burst * interval;
      const record: LimitRecord = {
        type: 'rate',
        name,
        n: state.n + 1,
        tatMs: tat,
        ...(w.kind === 'run' ? { holder: w.holder } : {}),
      };
      try {
        const [stored] = await this.#view.append([{ record, atMs: now }]);
        if (stored !== null && stored !== undefined) this.#applyRecord(stored);
        return true;
      } catch (error) {
        if (!isKernelError(error, 'CONFLICT')) throw error;
        const other = await this.#view.get(keyOf(record));
        if (other !== null && other !== undefined) this.#applyRecord(other);
      }
    }
    return this.#clock.now() + interval;
  }

  async #releaseHolder(holder: string): Promise<void> {
    const out: LimitRecord[] = [];
    for (const [name, slots] of this.#slots) {
      for (const [slot, s] of slots) {
        if (s.holder === holder && !s.released)
          out.push({ type: 'release', name, slot, epoch: s.epoch });
      }
    }
    for (const record of out) {
      try {
        const [stored] = await this.#view.append([{ record, atMs: this.#clock.now() }]);
        if (stored !== null && stored !== undefined) this.#applyRecord(stored);
      } catch (error) {
        if (!isKernelError(error, 'CONFLICT'))
          this.#logger.warn('A limit slot could not be released; it frees when its run ends', {
            limit: record.name,
            error: errorMessage(error),
          });
      }
    }
  }

  #ended(runId: string): void {
    for (const holders of this.#tokenHolders.values()) holders.delete(runId);
    const before = this.#queue.length;
    this.#queue = this.#queue.filter((w) => w.kind !== 'run' || w.holder !== runId);
    const holds = [...this.#slots.values()].some((slots) =>
      [...slots.values()].some((s) => s.runId === runId && !s.released),
    );
    if (holds) void this.#releaseHolder(runId).then(() => this.#kick());
    else if (before !== this.#queue.length || this.#queue.length > 0) this.#kick();
  }

  #kick(): void {
    if (!this.#started || this.#closed) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    void (async () => {
      try {
        do {
          this.#again = false;
          await this.#pump();
        } while (this.#again && !this.#closed);
      } catch (error) {
        this.#logger.error('The limiter could not admit queued runs; it tries again in 1 s', {
          error: errorMessage(error),
        });
        this.#retryAt(this.#clock.now() + 1000);
      } finally {
        this.#pumping = false;
      }
    })();
  }

  #sorted(): Waiter[] {
    return [...this.#queue].sort((a, b) => b.priority - a.priority || a.order - b.order);
  }

  async #pump(): Promise<void> {
    const blocked = new Set<string>();
    for (const w of this.#sorted()) {
      if (this.#closed) return;
      if (!this.#queue.includes(w)) continue;
      if (this.#runs?.hasEnded(w.runId) === true) {
        this.#queue = this.#queue.filter((x) => x !== w);
        continue;
      }
      const limits = this.#limitsFor(w);
      if (limits.some((l) => blocked.has(l.name))) continue;
      const taken: string[] = [];
      let refused: string | undefined;
      for (const { name, spec } of limits) {
        if (spec.maxConcurrent === undefined) continue;
        if (await this.#claim(name, spec.maxConcurrent, w)) taken.push(name);
        else {
          refused = name;
          break;
        }
      }
      if (refused === undefined) {
        for (const { name, spec } of limits) {
          if (spec.ratePerSec === undefined) continue;
          const t = await this.#token(name, spec, w);
          if (t !== true) {
            refused = name;
            this.#retryAt(t);
            break;
          }
        }
      }
      if (refused !== undefined) {
        blocked.add(refused);
        if (taken.length > 0) await this.#releaseHolder(w.holder);
        continue;
      }
      this.#queue = this.#queue.filter((x) => x !== w);
      try {
        w.grant();
      } catch (error) {
        this.#logger.warn('Admitting a queued run failed', {
          run: w.runId,
          error: errorMessage(error),
        });
      }
    }
  }

  #retryAt(atMs: number): void {
    if (this.#closed || atMs >= this.#timerAt) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = atMs;
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Infinity;
        this.#kick();
      },
      Math.max(0, Math.ceil(atMs - this.#clock.now())),
    );
  }

  /** The limits with their slots in use and their queues (positions from 1). */
  queues(): LimitQueue[] {
    const sorted = this.#sorted();
    return this.#limits().map(({ name, spec }) => {
      const queued: QueuedEntry[] = [];
      for (const w of sorted) {
        if (!this.#limitsFor(w).some((l) => l.name === name)) continue;
        queued.push({
          runId: w.runId,
          ...(w.kind === 'step' ? { step: w.holder.slice(w.runId.length + 1) } : {}),
          ...(w.agent === undefined ? {} : { agent: w.agent }),
          priority: w.priority,
          position: queued.length + 1,
        });
      }
      return { limit: name, spec, inUse: this.#inUse(name), queued };
    });
  }

  /** The queue position of a queued run under each limit it waits for. */
  positionOf(runId: string): { limit: string; position: number }[] {
    const out: { limit: string; position: number }[] = [];
    for (const q of this.queues()) {
      const e = q.queued.find((x) => x.runId === runId && x.step === undefined);
      if (e !== undefined) out.push({ limit: q.limit, position: e.position });
    }
    return out;
  }

  /** Stops admitting. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const d of this.#detach) d();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#stop.abort();
    await this.#follower;
  }
}

/**
 * Schedules (policy kind `schedule`): durable cron and interval schedules that start runs of a
 * defined agent with an input.
 *
 * A schedule is a policy (`kernel.policies`, versioned and audited); the scheduler keeps one
 * entry per schedule in a min-heap ordered by the next due time and arms **one** timer for the
 * earliest — 10 000 schedules cost one timer, re-armed when a schedule changes.
 *
 * Each firing is a record keyed `schedule/<name>@<due ISO time>` on the stream `schedules`,
 * appended before the run starts: when several kernels share a PostgreSQL store, they all wake
 * for the same due time but only one append wins (the others get `CONFLICT` and start nothing).
 * The run's id is derived from the schedule and the due time (`sched-<name>-<YYYYMMDDTHHMMSSZ>`),
 * so restarting a firing cut short by a crash starts the same run, never a second.
 *
 * After downtime, the due times missed (older than `graceMs`, default 60 s, counted from the later
 * of the schedule's last firing and its last change) follow the schedule's `missed` policy:
 * `skip` (none), `once` (one run, for the latest) or `all` (each, at most `maxMissed`, the latest
 * ones).
 *
 * @example
 * await kernel.schedule('nightly-report', '0 2 * * *', { scope: 'all' }, { agent: 'report', timeZone: 'Europe/Berlin' });
 * await kernel.schedule('poll', { everyMs: 60_000 }, null, { agent: 'poller', missed: 'skip' });
 *
 * @module
 */
import { KernelError, errorMessage, isKernelError } from '../errors.js';
import type { LogStore } from '../storage/log.js';
import { createLogView, type LogCodec, type LogView } from '../storage/log-view.js';
import type { JsonValue } from '../util/canonical-json.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import {
  formatWallClock,
  nextCronTime,
  parseCron,
  parseTimeZone,
  type CronExpression,
} from './cron.js';
import type { PolicyStore, PolicyVersion } from './policy-store.js';

/** What to do with the due times a schedule missed while no kernel ran it. */
export type MissedPolicy = 'skip' | 'once' | 'all';

/** A schedule as stored (the `schedule` policy's spec). */
export interface ScheduleSpec {
  /** The defined agent each firing starts a run of. */
  readonly agent: string;
  /** A cron expression (5 or 6 fields, or `@hourly` …); or `everyMs`. */
  readonly cron?: string;
  /** An interval: due at `startAt + k·everyMs` (default start: the Unix epoch). */
  readonly everyMs?: number;
  /** ISO time an interval schedule counts from. */
  readonly startAt?: string;
  /** IANA time zone for cron (default `UTC`). */
  readonly timeZone: string;
  /** The run input (JSON). */
  readonly input: JsonValue;
  readonly missed: MissedPolicy;
  /** With `missed: 'all'`, at most this many missed runs (default 10). */
  readonly maxMissed: number;
  readonly paused: boolean;
}

/** How a schedule is given to {@link parseScheduleSpec} (defaults filled in). */
export type ScheduleSpecInput = Partial<ScheduleSpec> & { readonly agent: string };

const AGENT = /^[A-Za-z0-9][\w.-]{0,127}$/;
const MAX_EVERY_MS = 366 * 86_400_000;

function bad(message: string): KernelError {
  return new KernelError('INVALID_ARGUMENT', message);
}

/** The `schedule` policy validator: checks an untrusted spec, fills in defaults. */
export function parseScheduleSpec(spec: unknown): ScheduleSpec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw bad(
      'A schedule is an object: { "agent": "report", "cron": "0 2 * * *" } or { "agent": "poller", "everyMs": 60000 }, with optional timeZone, input, missed (skip|once|all), maxMissed, paused',
    );
  }
  const s = spec as Record<string, unknown>;
  const known = new Set([
    'agent',
    'cron',
    'everyMs',
    'startAt',
    'timeZone',
    'input',
    'missed',
    'maxMissed',
    'paused',
  ]);
  for (const k of Object.keys(s)) {
    if (!known.has(k))
      throw bad(
        `A schedule has no field ${JSON.stringify(k)}: the fields are ${[...known].join(', ')}`,
      );
  }
  if (typeof s['agent'] !== 'string' || !AGENT.test(s['agent'])) {
    throw bad(
      `A schedule needs "agent": the name of a defined agent, got ${JSON.stringify(s['agent'])}`,
    );
  }
  const hasCron = s['cron'] !== undefined;
  const hasEvery = s['everyMs'] !== undefined;
  if (hasCron === hasEvery) {
    throw bad(
      'A schedule needs exactly one of "cron" (e.g. "0 2 * * *") and "everyMs" (e.g. 60000)',
    );
  }
  if (hasCron && typeof s['cron'] !== 'string')
    throw bad('"cron" is a string such as "*/5 * * * *"');
  if (hasCron) parseCron(s['cron'] as string);
  if (hasEvery) {
    const every = s['everyMs'];
    if (
      typeof every !== 'number' ||
      !Number.isSafeInteger(every) ||
      every < 1000 ||
      every > MAX_EVERY_MS
    ) {
      throw bad(
        `"everyMs" is a whole number of milliseconds from 1000 to ${MAX_EVERY_MS}, got ${JSON.stringify(every)}`,
      );
    }
  }
  if (s['startAt'] !== undefined) {
    if (!hasEvery) throw bad('"startAt" only applies to an "everyMs" schedule');
    if (typeof s['startAt'] !== 'string' || Number.isNaN(Date.parse(s['startAt']))) {
      throw bad(
        `"startAt" is an ISO time such as "2026-01-01T00:00:00Z", got ${JSON.stringify(s['startAt'])}`,
      );
    }
  }
  const timeZone = s['timeZone'] === undefined ? 'UTC' : parseTimeZone(s['timeZone']);
  const missed = s['missed'] ?? 'skip';
  if (missed !== 'skip' && missed !== 'once' && missed !== 'all') {
    throw bad(`"missed" is "skip", "once" or "all", got ${JSON.stringify(missed)}`);
  }
  const maxMissed = s['maxMissed'] ?? 10;
  if (
    typeof maxMissed !== 'number' ||
    !Number.isSafeInteger(maxMissed) ||
    maxMissed < 1 ||
    maxMissed > 1000
  ) {
    throw bad(`"maxMissed" is a whole number from 1 to 1000, got ${JSON.stringify(maxMissed)}`);
  }
  const paused = s['paused'] ?? false;
  if (typeof paused !== 'boolean')
    throw bad(`"paused" is true or false, got ${JSON.stringify(paused)}`);
  const input = (s['input'] ?? null) as JsonValue;
  return {
    agent: s['agent'],
    ...(hasCron ? { cron: (s['cron'] as string).trim() } : { everyMs: s['everyMs'] as number }),
    ...(s['startAt'] === undefined ? {} : { startAt: new Date(s['startAt']).toISOString() }),
    timeZone,
    input,
    missed,
    maxMissed,
    paused,
  };
}

/** A schedule's due times, precompiled. */
export interface CompiledSchedule {
  readonly spec: ScheduleSpec;
  /** The first due time after `afterMs`, or `undefined` when there is none. */
  next(afterMs: number): number | undefined;
}

/** Compiles a (validated) schedule spec. */
export function compileSchedule(spec: ScheduleSpec): CompiledSchedule {
  if (spec.cron !== undefined) {
    const c: CronExpression = parseCron(spec.cron);
    return { spec, next: (after) => nextCronTime(c, spec.timeZone, after) };
  }
  const every = spec.everyMs!;
  const anchor = spec.startAt === undefined ? 0 : Date.parse(spec.startAt);
  return {
    spec,
    next: (after) =>
      after < anchor ? anchor : anchor + (Math.floor((after - anchor) / every) + 1) * every,
  };
}

/** The run id a firing starts: the same for the same schedule and due time, on every kernel. */
export function scheduledRunId(name: string, dueMs: number): string {
  const iso = new Date(dueMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return `sched-${name}-${iso}`;
}

/** One firing, as recorded on the `schedules` stream. */
export interface ScheduleFiring {
  readonly name: string;
  readonly dueMs: number;
  readonly runId: string;
  /** The schedule's policy version that fired. */
  readonly version: number;
}

const FIRING_CODEC: LogCodec<ScheduleFiring & { atMs: number }, ScheduleFiring | null> = {
  encode: (f) => ({
    timeMs: f.atMs,
    key: `schedule/${f.name}@${new Date(f.dueMs).toISOString()}`,
    kind: 'schedule.fired',
    subject: `schedule/${f.name}`,
    body: JSON.stringify({ name: f.name, dueMs: f.dueMs, runId: f.runId, version: f.version }),
  }),
  decode: (r) => {
    try {
      const f = JSON.parse(r.body) as ScheduleFiring;
      return typeof f.name === 'string' && Number.isSafeInteger(f.dueMs) ? f : null;
    } catch {
      return null;
    }
  },
};

/** A schedule as `schedules.list` shows it. */
export interface ScheduleInfo {
  readonly name: string;
  readonly version: number;
  readonly spec: ScheduleSpec;
  /** ISO time of the next firing (`null` while paused or when it never fires again). */
  readonly nextFireAt: string | null;
  /** The same time on the schedule's wall clock: `YYYY-MM-DD HH:MM:SS <time zone>`. */
  readonly nextFireLocal: string | null;
  /** ISO due time of the last firing this kernel knows of. */
  readonly lastFiredAt: string | null;
  readonly lastRunId: string | null;
}

/** What the scheduler needs of the run engine. */
export interface ScheduleRuns {
  start(
    agent: string,
    input: unknown,
    options: { id: string; scheduled: true },
  ): Promise<{ id: string }>;
  /** The agents defined here (a kernel fires only the schedules whose agent it defines). */
  definitions(): string[];
}

/** Options for {@link createScheduler}. */
export interface SchedulerOptions {
  readonly policies: PolicyStore;
  readonly log: LogStore;
  readonly clock: Clock;
  readonly logger?: Logger | undefined;
  /** Omit to compute next fire times without firing (a kernel without agents). */
  readonly runs?: ScheduleRuns | undefined;
  /** A due time older than this when the kernel gets to it counts as missed (default 60 000). */
  readonly graceMs?: number | undefined;
}

interface Entry {
  readonly name: string;
  readonly version: number;
  readonly updatedAt: number;
  readonly compiled: CompiledSchedule;
  /** Due time of the last firing known (here or on another kernel). */
  lastDueMs: number | undefined;
  lastRunId: string | undefined;
  /** The next due time, `undefined` while paused / never. */
  nextMs: number | undefined;
  /** Bumped whenever the entry is replaced, so stale heap items are skipped. */
  gen: number;
}

interface HeapItem {
  readonly at: number;
  readonly name: string;
  readonly gen: number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Creates the scheduler (call {@link Scheduler.start}). */
export function createScheduler(options: SchedulerOptions): Scheduler {
  return new Scheduler(options);
}

/** Fires schedules: one timer for the earliest due time of all. */
export class Scheduler {
  readonly #policies: PolicyStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #runs: ScheduleRuns | undefined;
  readonly #graceMs: number;
  readonly #firings: LogView<ScheduleFiring & { atMs: number }, ScheduleFiring | null>;
  readonly #entries = new Map<string, Entry>();
  /** Latest firing due time per schedule name (from the `schedules` stream). */
  readonly #lastFired = new Map<string, { dueMs: number; runId: string }>();
  #heap: HeapItem[] = [];
  #gen = 0;
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #closed = false;
  #firing: Promise<void> = Promise.resolve();
  readonly #stop = new AbortController();
  #detach: (() => void) | undefined;
  #follower: Promise<void> | undefined;
  #started: Promise<void> | undefined;

  constructor(options: SchedulerOptions) {
    this.#policies = options.policies;
    this.#clock = options.clock;
    this.#logger = options.logger ?? silentLogger;
    this.#runs = options.runs;
    this.#graceMs = options.graceMs ?? 60_000;
    this.#firings = createLogView({
      log: options.log,
      stream: 'schedules',
      codec: FIRING_CODEC,
      clock: options.clock,
    });
  }

  /** Loads the firings and the schedules, arms the timer; firings missed meanwhile are handled. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      await this.#policies.start();
      const live = this.#firings.follow({ signal: this.#stop.signal });
      this.#follower = (async () => {
        try {
          for await (const f of live) if (f !== null) this.#noteFiring(f);
        } catch (error) {
          if (!this.#stop.signal.aborted) {
            this.#logger.error('The scheduler stopped following schedule firings', {
              error: errorMessage(error),
            });
          }
        }
      })();
      await live.caughtUp;
      this.#detach = this.#policies.onChange((change) => {
        if (change.kind === 'schedule') this.#load(change.name);
      });
      for (const p of this.#policies.list('schedule')) this.#load(p.name);
      // A firing recorded just before a crash may not have started its run: start it (the id
      // is the firing's, so a run that exists is not started again).
      const runs = this.#runs;
      if (runs !== undefined) {
        const defined = new Set(runs.definitions());
        for (const e of this.#entries.values()) {
          const spec = e.compiled.spec;
          if (e.lastRunId !== undefined && defined.has(spec.agent)) {
            await this.#startRun(spec, e.lastRunId, e.name);
          }
        }
      }
      // Missed due times are handled at once.
      this.#onTimer();
    })();
    return this.#started;
  }

  #noteFiring(f: ScheduleFiring): void {
    const known = this.#lastFired.get(f.name);
    if (known === undefined || known.dueMs < f.dueMs)
      this.#lastFired.set(f.name, { dueMs: f.dueMs, runId: f.runId });
    const entry = this.#entries.get(f.name);
    if (entry !== undefined && (entry.lastDueMs === undefined || entry.lastDueMs < f.dueMs)) {
      entry.lastDueMs = f.dueMs;
      entry.lastRunId = f.runId;
    }
  }

  #load(name: string): void {
    const p = this.#policies.get<ScheduleSpec>('schedule', name);
    const old = this.#entries.get(name);
    if (p === undefined) {
      this.#entries.delete(name);
      return;
    }
    if (old !== undefined && old.version === p.version) return;
    const fired = this.#lastFired.get(name);
    const entry: Entry = {
      name,
      version: p.version,
      updatedAt: p.updatedAt,
      compiled: compileSchedule(p.spec as ScheduleSpec),
      lastDueMs: fired?.dueMs,
      lastRunId: fired?.runId,
      nextMs: undefined,
      gen: ++this.#gen,
    };
    this.#entries.set(name, entry);
    if (!entry.compiled.spec.paused) {
      entry.nextMs = entry.compiled.next(this.#since(entry));
      this.#push(entry);
    }
  }

  /** Due times after this are still to fire: the later of the last firing and the last change. */
  #since(entry: Entry): number {
    return Math.max(entry.lastDueMs ?? -Infinity, entry.updatedAt);
  }

  #push(entry: Entry): void {
    if (entry.nextMs === undefined) return;
    const item: HeapItem = { at: entry.nextMs, name: entry.name, gen: entry.gen };
    const h = this.#heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= item.at) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = item;
    // Replaced entries leave stale items behind: compact once they outnumber the live ones.
    if (h.length > 64 && h.length > 2 * this.#entries.size) this.#compact();
    this.#arm();
  }

  #pop(): HeapItem | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      const mAt = (k: number): number => (k === i ? last.at : h[k]!.at);
      if (l < h.length && h[l]!.at < mAt(m)) m = l;
      if (r < h.length && h[r]!.at < mAt(m)) m = r;
      if (m === i) break;
      h[i] = h[m]!;
      i = m;
    }
    h[i] = last;
    return top;
  }

  #valid(item: HeapItem): boolean {
    const e = this.#entries.get(item.name);
    return e !== undefined && e.gen === item.gen && e.nextMs === item.at;
  }

  #compact(): void {
    const live = this.#heap.filter((i) => this.#valid(i)).sort((a, b) => a.at - b.at);
    this.#heap = live; // a sorted array is a valid heap
  }

  #arm(): void {
    if (this.#closed) return;
    while (this.#heap.length > 0 && !this.#valid(this.#heap[0]!)) this.#pop();
    const next = this.#heap[0];
    if (next === undefined) return;
    if (this.#timer !== undefined && this.#timerAt <= next.at) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = next.at;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next.at - this.#clock.now()));
    this.#timer = this.#clock.setTimeout(() => this.#onTimer(), delay);
  }

  /** How many timers the scheduler holds (0 or 1, however many schedules there are). */
  get timers(): number {
    return this.#timer === undefined ? 0 : 1;
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (this.#closed) return;
    const now = this.#clock.now();
    const due: Entry[] = [];
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) {
      const item = this.#pop()!;
      if (!this.#valid(item)) continue;
      due.push(this.#entries.get(item.name)!);
    }
    const work = due.map((entry) => ({ entry, dues: this.#duesOf(entry, now) }));
    for (const { entry } of work) {
      entry.nextMs = entry.compiled.next(now);
      this.#push(entry);
    }
    this.#arm();
    if (work.length === 0) return;
    const run = this.#firing.then(async () => {
      for (const { entry, dues } of work) for (const d of dues) await this.#fire(entry, d);
    });
    this.#firing = run.catch(() => undefined);
  }

  /** The due times of `entry` in (since, now] to fire now, after its missed-run policy. */
  #duesOf(entry: Entry, now: number): number[] {
    const all: number[] = [];
    const cap = 100_000;
    for (
      let t = entry.compiled.next(this.#since(entry));
      t !== undefined && t <= now && all.length < cap;
      t = entry.compiled.next(t)
    ) {
      all.push(t);
    }
    const onTime = all.filter((t) => now - t <= this.#graceMs);
    const missed = all.filter((t) => now - t > this.#graceMs);
    const spec = entry.compiled.spec;
    let kept: number[] = [];
    if (spec.missed === 'once') kept = missed.slice(-1);
    else if (spec.missed === 'all') kept = missed.slice(-spec.maxMissed);
    if (missed.length > kept.length) {
      this.#logger.info('A schedule missed due times while no kernel ran it', {
        schedule: entry.name,
        missed: missed.length,
        firing: kept.length,
        policy: spec.missed,
      });
    }
    return [...kept, ...onTime];
  }

  async #fire(entry: Entry, dueMs: number): Promise<void> {
    if (this.#closed || this.#runs === undefined) return;
    const spec = entry.compiled.spec;
    if (!this.#runs.definitions().includes(spec.agent)) {
      this.#logger.warn(
        'A schedule is due but its agent is not defined on this kernel; not fired',
        {
          schedule: entry.name,
          agent: spec.agent,
          due: new Date(dueMs).toISOString(),
        },
      );
      return;
    }
    const runId = scheduledRunId(entry.name, dueMs);
    const firing = { name: entry.name, dueMs, runId, version: entry.version };
    try {
      await this.#firings.append([{ ...firing, atMs: this.#clock.now() }]);
    } catch (error) {
      // Another kernel fired this due time first.
      if (isKernelError(error, 'CONFLICT')) return;
      this.#logger.error('A schedule firing could not be recorded; it is not fired', {
        schedule: entry.name,
        error: errorMessage(error),
      });
      return;
    }
    this.#noteFiring(firing);
    await this.#startRun(spec, runId, entry.name);
  }

  async #startRun(spec: ScheduleSpec, runId: string, name: string): Promise<void> {
    try {
      await this.#runs!.start(spec.agent, spec.input, { id: runId, scheduled: true });
    } catch (error) {
      this.#logger.error('A scheduled run could not start', {
        schedule: name,
        run: runId,
        error: errorMessage(error),
      });
    }
  }

  /** One schedule with its next fire time; `NOT_FOUND` when there is none. */
  get(name: string): ScheduleInfo {
    const p = this.#policies.get<ScheduleSpec>('schedule', name);
    if (p === undefined) {
      throw new KernelError(
        'NOT_FOUND',
        `No schedule named ${JSON.stringify(name)}; list them with kerno schedules ls`,
      );
    }
    return this.#info(p);
  }

  /** The schedules with their next fire times. */
  list(): ScheduleInfo[] {
    return this.#policies
      .list<ScheduleSpec>('schedule')
      .map((p) => this.#info(p))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  #info(p: PolicyVersion<ScheduleSpec>): ScheduleInfo {
    const spec = p.spec as ScheduleSpec;
    const e = this.#entries.get(p.name);
    const fired = this.#lastFired.get(p.name);
    const lastDue = e?.lastDueMs ?? fired?.dueMs;
    let next: number | undefined;
    if (!spec.paused) {
      next =
        e !== undefined && e.version === p.version
          ? e.nextMs
          : compileSchedule(spec).next(Math.max(this.#clock.now(), lastDue ?? -Infinity));
    }
    return {
      name: p.name,
      version: p.version,
      spec,
      nextFireAt: next === undefined ? null : new Date(next).toISOString(),
      nextFireLocal:
        next === undefined ? null : `${formatWallClock(spec.timeZone, next)} ${spec.timeZone}`,
      lastFiredAt: lastDue === undefined ? null : new Date(lastDue).toISOString(),
      lastRunId: e?.lastRunId ?? fired?.runId ?? null,
    };
  }

  /** Waits for the firings in progress. */
  async settled(): Promise<void> {
    await this.#firing;
  }

  /** Stops firing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach?.();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#stop.abort();
    await this.#firing;
    await this.#follower;
  }
}

/** What `kernel.schedule` takes besides the name, the timing and the input. */
export interface ScheduleOptions {
  readonly agent: string;
  readonly timeZone?: string;
  readonly missed?: MissedPolicy;
  readonly maxMissed?: number;
  readonly startAt?: string;
  readonly paused?: boolean;
  readonly by?: string;
  readonly reason?: string;
}

/** The spec `kernel.schedule(name, cron | { everyMs }, input, options)` stores. */
export function scheduleSpecOf(
  timing: string | { readonly everyMs: number },
  input: unknown,
  options: ScheduleOptions,
): Record<string, unknown> {
  if (typeof options !== 'object' || options === null) {
    throw bad('kernel.schedule needs options with the agent: { agent: "report" }');
  }
  return {
    agent: options.agent,
    ...(typeof timing === 'string' ? { cron: timing } : { everyMs: timing?.everyMs }),
    ...(options.startAt === undefined ? {} : { startAt: options.startAt }),
    ...(options.timeZone === undefined ? {} : { timeZone: options.timeZone }),
    input: input ?? null,
    ...(options.missed === undefined ? {} : { missed: options.missed }),
    ...(options.maxMissed === undefined ? {} : { maxMissed: options.maxMissed }),
    ...(options.paused === undefined ? {} : { paused: options.paused }),
  };
}

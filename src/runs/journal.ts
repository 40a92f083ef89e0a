/**
 * The run journal on the log. Two kinds of stream hold a durable run:
 *
 * - the **run index** (`runs`): one `run.started` record (agent, version, input, owner) and one
 *   `run.ended` record (status, result or error, and the journal's head) per run. Keys
 *   `<runId>:started` / `<runId>:ended` make both idempotent, and a second, different end of the
 *   same run (two kernels, or a cancel racing a completion) a `CONFLICT`: a run ends once.
 * - one **journal** per run (`run:<runId>`): what the run's code asked the kernel and what came
 *   of it — a step's result or failure, a sleep's wake time, a signal, a wait's outcome, an
 *   approval. Each record's key is the step's key, so a step is recorded at most once; a replay
 *   returns the recorded result instead of running the step again.
 *
 * Every record is hash-chained like every other log record; a finished run's journal can be
 * dropped by retention while the index (which carries the journal's last `{ seq, hash }`) keeps
 * verifying.
 *
 * @module
 */
import { KernelError } from '../errors.js';
import type { LogAppend, LogBody, LogStore } from '../storage/log.js';
import { createLogView, type LogCodec, type LogView } from '../storage/log-view.js';

/** The stream holding every run's start and end. */
export const RUN_INDEX_STREAM = 'runs';

/** The stream holding one run's journal. */
export function journalStream(runId: string): string {
  return `run:${runId}`;
}

/** Where a run stands. */
export type RunStatus =
  'pending' | 'queued' | 'running' | 'sleeping' | 'waiting' | 'completed' | 'failed' | 'cancelled';

/** Every run status, in lifecycle order. */
export const RUN_STATUSES: readonly RunStatus[] = Object.freeze([
  'pending',
  'queued',
  'running',
  'sleeping',
  'waiting',
  'completed',
  'failed',
  'cancelled',
]);

/** The statuses a run ends in. */
export const FINAL_STATUSES: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'cancelled']);

/** What a step spent: model tokens and cost in millionths of a dollar. */
export interface StepUsage {
  readonly tokens?: number | undefined;
  readonly costMicrodollars?: number | undefined;
}

/** A recorded error: what survives of a thrown value in the journal. */
export interface RecordedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string | undefined;
  /** The error said it may pass on a retry (`error.flaky === true`): self-healing retries it. */
  readonly flaky?: boolean | undefined;
}

/** What a `run.recovery` note records. */
export type RunRecoveryAction =
  'retry' | 'patch_forward' | 'rollback' | 'escalate' | 'approved' | 'rejected' | 'gave_up';

/**
 * W3C trace context a record carries when tracing is on (left out otherwise): on `run.started`
 * the run's root span, on a journal record the span it was written in (a step's own span).
 */
export interface RecordTrace {
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
}

/** On `run.started`: the caller's span the run's root is a child of (`start(…, { traceparent })`). */
export interface RunParentTrace {
  readonly parent?: { readonly traceparent: string; readonly tracestate?: string } | undefined;
}

/** A run-index record. */
export type RunIndexEntry =
  | ({
      readonly type: 'run.started';
      readonly id: string;
      readonly agent: string;
      readonly version: string;
      /** JSON text of the input. */
      readonly input: string;
      readonly owner: string;
      readonly atMs: number;
      /** Queue priority under a concurrency or rate limit (higher first; absent: 0). */
      readonly priority?: number | undefined;
      /** The limit key the run takes a slot on (besides its agent's limits). */
      readonly limitKey?: string | undefined;
      /** The tenant the run belongs to (tenant tokens see only their tenant's runs). */
      readonly tenant?: string | undefined;
      /** JSON text of the config the run starts with (`ctx.config`). */
      readonly config?: string | undefined;
      /** The run this one was forked from, and the step it continued live from. */
      readonly forkOf?: { readonly runId: string; readonly fromStep: string } | undefined;
      /** The run this one reruns (same agent and input, a fresh journal). */
      readonly rerunOf?: string | undefined;
    } & RecordTrace &
      RunParentTrace)
  | {
      /**
       * A failed or cancelled run continues under the same id (resume `n`, from 1): its failed
       * steps run again, the rest replay. The key `<id>:resumed:<n>` makes each resume unique.
       */
      readonly type: 'run.resumed';
      readonly id: string;
      readonly agent: string;
      readonly n: number;
      /** Who resumed it (a token's label, `library`, `self-healing`). */
      readonly by: string;
      readonly reason?: string | undefined;
      /** JSON text of the config the run continues with (absent: the one it had). */
      readonly config?: string | undefined;
      readonly atMs: number;
    }
  | {
      readonly type: 'run.ended';
      readonly id: string;
      readonly agent: string;
      readonly status: 'completed' | 'failed' | 'cancelled';
      /** JSON text of the result (completed runs that returned a value). */
      readonly result?: string | undefined;
      readonly error?: RecordedError | undefined;
      /** The journal's head when the run ended: its chain stays verifiable after retention. */
      readonly journal: { readonly seq: number; readonly hash: string };
      readonly atMs: number;
      /** The resume this end closes (absent: the first execution); keys `<id>:ended:<n>`. */
      readonly n?: number | undefined;
    }
  | {
      /** Another kernel took the run over (generation `gen`, from 1); the key makes it unique. */
      readonly type: 'run.owner';
      readonly id: string;
      readonly agent: string;
      readonly owner: string;
      readonly gen: number;
      readonly atMs: number;
    }
  | {
      /**
       * Self-healing decided about the run's failure (note `n`, from 1; key `<id>:recovery:<n>`):
       * `retry` / `patch_forward` / `rollback` (a resume follows), `escalate` (the run is parked
       * on the approval gate `gate`: status `waiting`), `approved` / `rejected` (a human decided
       * the gate: a resume follows, or the run stays failed), `gave_up` (nothing more is tried).
       */
      readonly type: 'run.recovery';
      readonly id: string;
      readonly agent: string;
      readonly n: number;
      readonly action: RunRecoveryAction;
      /** The step whose failure this is about. */
      readonly step?: string | undefined;
      readonly failureClass?: string | undefined;
      /** Why, in plain words. */
      readonly rationale: string;
      /** The recovery run (its log is in the recovery store). */
      readonly recoveryRunId: string;
      readonly gate?: string | undefined;
      /** Who decided (a human's name for approved / rejected). */
      readonly by?: string | undefined;
      readonly atMs: number;
    }
  | {
      /**
       * A kernel executes the run again from its journal for the first time (after a restart, a
       * crash or a takeover; reopening `n`, from 1; key `<id>:reopened:<n>`): the journal's
       * records through `journalSeq` replay, the steps after them ran in this execution.
       */
      readonly type: 'run.reopened';
      readonly id: string;
      readonly agent: string;
      readonly n: number;
      readonly owner: string;
      readonly journalSeq: number;
      readonly atMs: number;
    }
  | {
      /** Something arrived for the run (a signal sent by another kernel): its owner wakes it. */
      readonly type: 'run.nudge';
      readonly id: string;
      readonly agent: string;
      readonly atMs: number;
    }
  | {
      /** Retention removed the finished run's journal (its end record keeps the journal's head). */
      readonly type: 'run.pruned';
      readonly id: string;
      readonly agent: string;
      readonly removed: number;
      readonly atMs: number;
    };

/** A run-index record as read back, with its position. */
export type StoredRunIndexEntry = RunIndexEntry & { readonly seq: number; readonly hash: string };

/**
 * A journal record. `call` is the position of the kernel call in the run (0, 1, 2 …). Any record
 * may carry the trace context it was written in ({@link RecordTrace}).
 */
export type JournalEntry = (
  | {
      readonly type: 'step';
      readonly key: string;
      readonly call: number;
      /** JSON text of the result; absent when the step returned `undefined`. */
      readonly result?: string | undefined;
      readonly attempts: number;
      readonly atMs: number;
      /** When its first attempt started. */
      readonly startedAtMs?: number | undefined;
      /** The resume it ran in (absent: the first execution). */
      readonly resume?: number | undefined;
      /** What the step spent (model tokens, cost), as its `usage` option reported. */
      readonly usage?: StepUsage | undefined;
    }
  | {
      readonly type: 'step.failed';
      readonly key: string;
      readonly call: number;
      readonly error: RecordedError;
      readonly attempts: number;
      readonly atMs: number;
      readonly startedAtMs?: number | undefined;
      /** The resume it ran in (absent: the first execution); a later resume runs it again. */
      readonly resume?: number | undefined;
    }
  | {
      /** The run was resumed (`n`, from 1): who, why, with which config. Not a call. */
      readonly type: 'resumed';
      readonly key: string;
      readonly n: number;
      readonly by: string;
      readonly reason?: string | undefined;
      readonly config?: string | undefined;
      readonly atMs: number;
    }
  | {
      readonly type: 'sleep';
      readonly key: string;
      readonly call: number;
      readonly wakeAtMs: number;
    }
  | {
      readonly type: 'wait';
      readonly key: string;
      readonly call: number;
      readonly name: string;
      readonly deadlineMs: number | null;
    }
  | {
      readonly type: 'wait.done';
      readonly key: string;
      readonly call: number;
      /** The journal seq of the signal taken, or `null` when the wait timed out. */
      readonly signal: number | null;
      readonly atMs: number;
    }
  | {
      readonly type: 'signal';
      readonly key: string;
      readonly name: string;
      /** JSON text of the payload; absent for `undefined`. */
      readonly payload?: string | undefined;
      readonly atMs: number;
    }
  | {
      readonly type: 'approval';
      readonly key: string;
      readonly call: number;
      readonly gate: string;
    }
  | {
      readonly type: 'approval.done';
      readonly key: string;
      readonly call: number;
      readonly approved: boolean;
      readonly reason: string | null;
      readonly decidedBy: string;
      readonly atMs: number;
    }
) &
  RecordTrace;

/** A journal record as read back, with its position and hash (the chain link retention anchors). */
export type StoredJournalEntry = JournalEntry & { readonly seq: number; readonly hash: string };

/** The record key a journal entry is stored under (unique within the run's journal). */
/**
 * The keys of the budget gates (`budget#…`) rejected before the run's latest resume: a resume
 * (and a fork of what came after it) does not replay them, the budget is checked again live.
 */
export function supersededBudgetGates(entries: readonly StoredJournalEntry[]): Set<string> {
  let resumedAt = -1;
  for (const e of entries) if (e.type === 'resumed' && e.seq > resumedAt) resumedAt = e.seq;
  const keys = new Set<string>();
  for (const e of entries) {
    if (
      e.type === 'approval.done' &&
      !e.approved &&
      e.key.startsWith('budget#') &&
      e.seq < resumedAt
    )
      keys.add(e.key);
  }
  return keys;
}

export function journalKey(entry: JournalEntry): string {
  switch (entry.type) {
    case 'step':
    case 'step.failed':
      // A step run again by resume n gets its own record: the failure stays on the journal.
      return entry.resume === undefined || entry.resume === 0
        ? `step:${entry.key}`
        : `step:${entry.key}@${String(entry.resume)}`;
    case 'resumed':
      return `resumed:${String(entry.n)}`;
    case 'sleep':
      return `sleep:${entry.key}`;
    case 'wait':
      return `wait:${entry.key}`;
    case 'wait.done':
      return `wait.done:${entry.key}`;
    case 'signal':
      return `signal:${entry.key}`;
    case 'approval':
      return `approval:${entry.key}`;
    case 'approval.done':
      return `approval.done:${entry.key}`;
  }
}

function timeOf(entry: JournalEntry, fallbackMs: number): number {
  return 'atMs' in entry ? entry.atMs : fallbackMs;
}

function decodeBody<T>(record: LogBody, what: string): T & { seq: number; hash: string } {
  try {
    return { ...(JSON.parse(record.body) as T), seq: record.seq, hash: record.hash };
  } catch {
    throw new KernelError(
      'CORRUPT_VALUE',
      `${what} record ${record.stream}#${String(record.seq)} is not JSON; verify the log (kerno audit verify)`,
    );
  }
}

/**
 * The journal codec: the body is the entry's JSON, the kind its type. No correlation: the stream
 * names the run, and one index fewer per record is a faster step.
 */
function journalCodec(nowMs: () => number): LogCodec<JournalEntry, StoredJournalEntry> {
  return {
    encode: (entry: JournalEntry): LogAppend => ({
      timeMs: timeOf(entry, nowMs()),
      body: JSON.stringify(entry),
      key: journalKey(entry),
      kind: entry.type,
    }),
    decode: (record) => decodeBody<JournalEntry>(record, 'Journal'),
    committed: (record, entry) => ({ ...entry, seq: record.seq, hash: record.hash }),
  };
}

/**
 * The index key of a run's owner generation `gen` (a takeover's claim). Unique, so one kernel
 * wins each generation; the holder of `gen - 1` fences its journal appends on it.
 */
export function ownerKey(runId: string, gen: number): string {
  return `${runId}:owner:${String(gen)}`;
}

/** The index key of a run's end after resume `n` (0: the first execution). */
export function endedKey(runId: string, n: number): string {
  return n === 0 ? `${runId}:ended` : `${runId}:ended:${String(n)}`;
}

const INDEX_CODEC: LogCodec<RunIndexEntry, StoredRunIndexEntry> = {
  encode: (entry: RunIndexEntry): LogAppend => ({
    timeMs: entry.atMs,
    body: JSON.stringify(entry),
    key:
      entry.type === 'run.nudge'
        ? undefined
        : entry.type === 'run.owner'
          ? ownerKey(entry.id, entry.gen)
          : entry.type === 'run.resumed'
            ? `${entry.id}:resumed:${String(entry.n)}`
            : entry.type === 'run.recovery'
              ? `${entry.id}:recovery:${String(entry.n)}`
              : entry.type === 'run.reopened'
                ? `${entry.id}:reopened:${String(entry.n)}`
                : entry.type === 'run.ended'
                  ? endedKey(entry.id, entry.n ?? 0)
                  : `${entry.id}:${entry.type.slice(4)}`,
    kind: entry.type,
    subject: entry.agent,
  }),
  decode: (record) => decodeBody<RunIndexEntry>(record, 'Run index'),
  committed: (record, entry) => ({ ...entry, seq: record.seq, hash: record.hash }),
};

/** The stream where kernels that take over runs say they are alive. */
export const RUN_OWNERS_STREAM = 'run-owners';

/** A liveness record. */
export interface OwnerBeat {
  readonly owner: string;
  readonly atMs: number;
}

const BEAT_CODEC: LogCodec<OwnerBeat, OwnerBeat & { seq: number }> = {
  encode: (beat) => ({ timeMs: beat.atMs, body: JSON.stringify(beat), subject: beat.owner }),
  decode: (record) => decodeBody<OwnerBeat>(record, 'Run owner'),
};

/** The liveness view. */
export function ownerBeatsView(log: LogStore): LogView<OwnerBeat, OwnerBeat & { seq: number }> {
  return createLogView({ log, stream: RUN_OWNERS_STREAM, codec: BEAT_CODEC });
}

/** The run index view. */
export function runIndexView(log: LogStore): LogView<RunIndexEntry, StoredRunIndexEntry> {
  return createLogView({ log, stream: RUN_INDEX_STREAM, codec: INDEX_CODEC });
}

/** One run's journal view. */
export function journalView(
  log: LogStore,
  runId: string,
  nowMs: () => number,
): LogView<JournalEntry, StoredJournalEntry> {
  return createLogView({ log, stream: journalStream(runId), codec: journalCodec(nowMs) });
}

/** Reads a whole journal, oldest first. */
export async function readJournal(
  view: LogView<JournalEntry, StoredJournalEntry>,
): Promise<StoredJournalEntry[]> {
  const out: StoredJournalEntry[] = [];
  for await (const entry of view.replay()) out.push(entry);
  return out;
}

/**
 * JSON text for a value that must survive a replay unchanged, or a typed `NOT_SERIALIZABLE`
 * error naming where it is not plain JSON. `undefined` (a step that returns nothing) gives
 * `undefined`. Dates, Maps, class instances, functions, bigints, symbols and non-finite numbers
 * are refused: they would come back from the journal as something else.
 */
export function toJsonText(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  checkPlainJson(value, what, new Set());
  return JSON.stringify(value);
}

function notSerializable(path: string, found: string): KernelError {
  return new KernelError(
    'NOT_SERIALIZABLE',
    `${path} is ${found}, which the journal cannot record as it is; return plain JSON (objects, arrays, strings, finite numbers, booleans, null) — e.g. a date as toISOString()`,
  );
}

function checkPlainJson(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw notSerializable(path, String(value));
      return;
    case 'object':
      break;
    default:
      throw notSerializable(path, `a ${typeof value}`);
  }
  if (value === null) return;
  if (seen.has(value)) throw notSerializable(path, 'a circular reference');
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined) throw notSerializable(`${path}[${String(i)}]`, 'undefined');
      checkPlainJson(item, `${path}[${String(i)}]`, seen);
    }
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw notSerializable(path, `a ${name}`);
    }
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue; // dropped by JSON, as a plain object literal would expect
      checkPlainJson(v, `${path}.${k}`, seen);
    }
  }
  seen.delete(value);
}

/** Parses JSON text written by {@link toJsonText} (`undefined` stays `undefined`). */
export function fromJsonText(text: string | undefined): unknown {
  return text === undefined ? undefined : JSON.parse(text);
}

/** What survives of a thrown value. */
export function recordError(error: unknown): RecordedError {
  if (error instanceof Error) {
    const { code, flaky } = error as { code?: unknown; flaky?: unknown };
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(flaky === true ? { flaky: true } : {}),
    };
  }
  return { name: 'Error', message: String(error) };
}

/**
 * Messages between the SQLite writer client (main thread) and its worker.
 *
 * @module
 */
import type { LogAppend, LogKeyRef, LogRecord } from '../log.js';
import type { ModuleState } from '../../model/module-state.js';
import type {
  CommitResult,
  MetaCondition,
  ModuleRecord,
  ModuleWriteResult,
  RegistryCommit,
  StoredConfig,
} from '../registry.js';

/** A write the worker performs inside the batch transaction (each op in its own savepoint). */
export type WriteOp =
  | LogAppendOp
  | LogPruneOp
  | LogStageOp
  | LogCommitStageOp
  | LogDropStageOp
  | RegistryWriteOp
  | LearningSaveOp;

/**
 * Stage entries of an atomic `appendAll` in the worker's connection-private TEMP table: nothing
 * reaches the log until {@link LogCommitStageOp}; a crash or a dropped stage leaves nothing.
 */
export interface LogStageOp {
  readonly kind: 'log.stage';
  readonly stage: number;
  /** Position of the first entry within the stage. */
  readonly from: number;
  readonly entries: readonly LogAppend[];
}

/** Append a whole stage to a stream in one op (its own savepoint): all of it or none. */
export interface LogCommitStageOp {
  readonly kind: 'log.commitStage';
  readonly stage: number;
  readonly stream: string;
  /** Entries staged (a stage lost with a failed batch is detected, not committed short). */
  readonly count: number;
}

/** Forget a stage. */
export interface LogDropStageOp {
  readonly kind: 'log.dropStage';
  readonly stage: number;
}

/** What the worker answers for a {@link LogCommitStageOp}. */
export interface LogCommitStageResult {
  readonly appended: number;
  readonly repeated: number;
  readonly head: { readonly seq: number; readonly hash: string };
}

/** Prune a log stream through a seq (see `LogStore.prune`). */
export interface LogPruneOp {
  readonly kind: 'log.prune';
  readonly stream: string;
  readonly throughSeq: number;
}

/** Append entries to a log stream (see `LogStore.append`). */
export interface LogAppendOp {
  readonly kind: 'log.append';
  readonly stream: string;
  readonly entries: readonly LogAppend[];
  /** The append's fence (see `LogAppendOptions.unlessKey`). */
  readonly unlessKey?: LogKeyRef | undefined;
}

/** Save the learning records (see `storage/learning.ts`'s save plan). */
export interface LearningSaveOp {
  readonly kind: 'learning.save';
  /** Delete every row first. */
  readonly rewrite: boolean;
  /** `[kind, id]` of rows to delete. */
  readonly removed: readonly (readonly [number, string])[];
  /** `[kind, id, line]` of rows to insert or update, in store order. */
  readonly upserts: readonly (readonly [number, string, string])[];
}

/** What the worker answers for a {@link LogAppendOp}. */
export interface LogAppendResult {
  /** Seq of the first new record (new records are consecutive). */
  readonly firstSeq: number;
  /** `prevHash` of the first new record. */
  readonly prevHash: string;
  /** Hash of each new record, in order. */
  readonly hashes: readonly string[];
  /** For each entry: the index of its new record, or the stored record it repeats (idempotent). */
  readonly slots: readonly (number | LogRecord)[];
}

/**
 * Registry writes (see `RegistryStore`). Config values arrive already encrypted when secret: no
 * plaintext secret ever crosses to the worker.
 */
export type RegistryWriteOp =
  | { readonly kind: 'registry.upsertModule'; readonly record: ModuleRecord }
  | {
      readonly kind: 'registry.setModuleState';
      readonly id: string;
      readonly state: ModuleState;
      readonly updatedAt: string;
    }
  | {
      readonly kind: 'registry.setConfig';
      readonly entry: StoredConfig;
      readonly require?: MetaCondition;
    }
  | { readonly kind: 'registry.deleteConfig'; readonly key: string }
  | { readonly kind: 'registry.commit'; readonly change: RegistryCommit };

/** The result type of each op kind. */
export interface WriteResults {
  'log.append': LogAppendResult;
  /** Records removed. */
  'log.prune': number;
  /** Entries staged. */
  'log.stage': number;
  'log.commitStage': LogCommitStageResult;
  /** Entries dropped. */
  'log.dropStage': number;
  'registry.upsertModule': ModuleWriteResult;
  'registry.setModuleState': ModuleWriteResult;
  'registry.setConfig': CommitResult;
  'registry.deleteConfig': StoredConfig | null;
  'registry.commit': CommitResult;
  /** The seq of each upserted row, in order. */
  'learning.save': number[];
}

/** A serialisable error (KernelError fields). */
export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

/** One op's outcome. */
export type OpOutcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: WireError };

/** main → worker */
export type ToWorker =
  | { readonly type: 'batch'; readonly id: number; readonly ops: readonly WriteOp[] }
  | { readonly type: 'close' };

/** worker → main */
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'batch'; readonly id: number; readonly outcomes: readonly OpOutcome[] }
  | { readonly type: 'batch-failed'; readonly id: number; readonly error: WireError }
  | { readonly type: 'fatal'; readonly error: WireError }
  | { readonly type: 'closed' };

/** Data the worker starts with. */
export interface WriterWorkerData {
  readonly file: string;
  readonly busyTimeoutMs: number;
}

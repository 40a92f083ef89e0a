/**
 * The learning store: patterns, trajectories and EWC state in memory, persisted through a
 * {@link LearningPersistence} (an oxios-compatible RVLS file by default), with TF-IDF recall.
 * It does what oxios-kernel's `RvfLearningStore` does, plus crash-safe and serialised persists,
 * a lock against a second writer, streaming loads, recall and visible skipped records.
 *
 * @example
 * const store = await openLearningStore('.kerno/learning.rvls');
 * store.savePattern({ id: 'p1', strategy: 'Retry flaky tests with backoff', embedding_weights: {},
 *   success_rate: 0.9, use_count: 5, domain: 'testing', quality: 0.85, is_long_term: false,
 *   last_used: '2026-05-14T10:00:00Z' });
 * await store.persist();
 * store.recall('flaky test keeps failing', { k: 3 });
 * await store.close();
 *
 * @module
 */
import { KernelError, errorMessage } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import { createUuidV7, type IdGenerator } from '../util/ids.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { formatChrono } from '../util/time.js';
import {
  openFileLearningPersistence,
  type FileLearningPersistenceOptions,
} from './file-persistence.js';
import type { LearningPersistence, LoadedLearning } from '../storage/learning.js';
import type { TimerHandle } from '../util/clock.js';
import { RecallIndex, type RecallHit } from './recall.js';
import {
  API_INPUT,
  defaultEwcState,
  orThrow,
  readEwc,
  readPattern,
  readTrajectory,
  readWeights,
  setOwn,
  timestampKey,
  type EwcState,
  type PatternRecord,
  type TrajectoryOutcome,
  type TrajectoryRecord,
  type TrajectoryStep,
} from '../formats/learning-records.js';

/** Summary statistics (the reference's `RvfStoreStats`, plus what loading had to skip). */
export interface LearningStoreStats {
  readonly patternCount: number;
  readonly trajectoryCount: number;
  readonly ewcTasksLearned: number;
  /** Whether there are changes since the last successful load or persist. */
  readonly isDirty: boolean;
  /** Malformed records skipped by the last load. */
  readonly skippedRecords: number;
  /** Records of the last load dropped because a later record had the same id. */
  readonly duplicateRecords: number;
}

/** Options for {@link LearningStore.recall}. */
export interface RecallOptions {
  /** How many patterns to return at most (default 5). */
  readonly k?: number;
  /** Only patterns of this domain. */
  readonly domain?: string;
}

/** What {@link LearningStore.recordTrajectory} needs; the id and `created_at` are filled in. */
export interface RecordTrajectoryInput {
  readonly steps: readonly TrajectoryStep[];
  readonly outcome: TrajectoryOutcome;
  readonly domain: string;
  /** Total duration; default: the sum of the steps' durations. */
  readonly durationMs?: number;
}

/** The learning store. Reads are synchronous (everything is in memory); I/O is async. */
export interface LearningStore extends AsyncDisposable {
  /** Where the records are persisted. */
  readonly location: string;
  /**
   * Replaces the in-memory records with what is persisted (nothing persisted: an empty store).
   * Malformed records are skipped with a warning and counted; an unreadable file throws
   * `INVALID_RVLS_FILE` and leaves the store as it was.
   */
  load(): Promise<LearningStoreStats>;
  /** Writes everything; calls never overlap and a call resolves once its changes are durable. */
  persist(): Promise<void>;
  /**
   * Persists if there are unsaved changes and the persistence is writable (a read-only or
   * missing persistence keeps changes in memory); otherwise resolves at once.
   */
  flush(): Promise<void>;
  /** Saves a pattern (replacing one with the same id); returns the stored, normalised record. */
  savePattern(pattern: PatternRecord): PatternRecord;
  /** The pattern with this id. */
  getPattern(id: string): PatternRecord | undefined;
  /** All patterns, in insertion order (a replaced pattern keeps its place). */
  getAllPatterns(): readonly PatternRecord[];
  /** The patterns of one domain. */
  getPatternsByDomain(domain: string): PatternRecord[];
  /** Removes a pattern; returns whether there was one. */
  removePattern(id: string): boolean;
  /** Saves a trajectory (replacing one with the same id); returns the stored record. */
  saveTrajectory(trajectory: TrajectoryRecord): TrajectoryRecord;
  /** Removes a trajectory; returns whether there was one. */
  removeTrajectory(id: string): boolean;
  /** Builds a trajectory with a fresh id and `created_at` = now, saves and returns it. */
  recordTrajectory(input: RecordTrajectoryInput): TrajectoryRecord;
  /** The trajectory with this id. */
  getTrajectory(id: string): TrajectoryRecord | undefined;
  /** All trajectories, in insertion order. */
  getAllTrajectories(): readonly TrajectoryRecord[];
  /** The trajectories with this outcome. */
  getTrajectoriesByOutcome(outcome: TrajectoryOutcome): TrajectoryRecord[];
  /** The `limit` most recent trajectories, newest first (equal times: insertion order). */
  recentTrajectories(limit: number): TrajectoryRecord[];
  /** Replaces the EWC state. */
  saveEwc(ewc: EwcState): EwcState;
  /** The EWC state. */
  getEwc(): EwcState;
  /** Stores a task's importance weights and counts one more task learned. */
  recordEwcTask(taskId: string, weights: readonly number[]): EwcState;
  /** The patterns that best fit `query`; see `recall.ts` for the ranking formula. */
  recall(query: string, options?: RecallOptions): RecallHit[];
  /** Counts and the dirty flag. */
  stats(): LearningStoreStats;
  /**
   * Waits for pending persists (an autosaving store flushes once more), then releases the
   * persistence (and its lock).
   */
  close(): Promise<void>;
}

/** Options for {@link createLearningStore}. */
export interface LearningStoreOptions {
  /**
   * Where records are persisted. Without one the store keeps its records in memory only:
   * `persist` just marks them saved and `load` keeps them.
   */
  readonly persistence?: LearningPersistence;
  /**
   * Persist unsaved changes every this many ms (on `clock`) and once more on close. Ignored for a
   * read-only or missing persistence. Default: only when `persist` or `flush` is called.
   */
  readonly autosaveMs?: number;
  /** Receives autosave failures (default: `logger`). */
  readonly onAutosaveError?: (error: unknown) => void;
  /** The source of `created_at` for {@link LearningStore.recordTrajectory}. */
  readonly clock?: Clock;
  /** Receives load warnings (skipped and duplicate records) and info lines. */
  readonly logger?: Logger;
  /** Ids for {@link LearningStore.recordTrajectory} (default: UUIDv7 on `clock`). */
  readonly ids?: IdGenerator;
}

/** Creates a learning store over `options.persistence`. Call `load()` to read what is persisted. */
export function createLearningStore(options: LearningStoreOptions = {}): LearningStore {
  return new Store(options);
}

/** Options for {@link openLearningStore}. */
export type OpenLearningStoreOptions = Omit<LearningStoreOptions, 'persistence'> &
  Omit<FileLearningPersistenceOptions, 'path'>;

/**
 * Opens the RVLS file at `path` (taking its lock unless `readOnly`), loads it and returns the
 * store. A missing file gives an empty store; the file is created by the first `persist()`.
 */
export async function openLearningStore(
  path: string,
  options: OpenLearningStoreOptions = {},
): Promise<LearningStore> {
  const persistence = await openFileLearningPersistence({ ...options, path });
  const store = createLearningStore({ ...options, persistence });
  try {
    await store.load();
  } catch (e) {
    await persistence.close();
    throw e;
  }
  return store;
}

const MAX_LOGGED = 20;
const U32_MAX = 0xffff_ffff;

class Store implements LearningStore {
  readonly #persistence: LearningPersistence | undefined;
  readonly #autosaveMs: number | undefined;
  readonly #onAutosaveError: (error: unknown) => void;
  #autosaveTimer: TimerHandle | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #ids: IdGenerator;
  #patterns = new Map<string, PatternRecord>();
  #trajectories = new Map<string, TrajectoryRecord>();
  #ewc: EwcState = defaultEwcState();
  #patternList: PatternRecord[] | undefined;
  #trajectoryList: TrajectoryRecord[] | undefined;
  #index: RecallIndex | undefined;
  #version = 0;
  #persistedVersion = 0;
  #skipped = 0;
  #duplicates = 0;
  /** The tail of the I/O queue (never rejects). */
  #queue: Promise<unknown> = Promise.resolve();
  /** A queued persist that has not taken its snapshot yet; later calls join it. */
  #nextPersist: Promise<void> | undefined;
  #closed = false;

  constructor(options: LearningStoreOptions) {
    this.#persistence = options.persistence;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#ids = options.ids ?? createUuidV7({ clock: this.#clock });
    const writable = this.#persistence !== undefined && !this.#persistence.readOnly;
    this.#autosaveMs = writable ? options.autosaveMs : undefined;
    if (
      this.#autosaveMs !== undefined &&
      !(Number.isFinite(this.#autosaveMs) && this.#autosaveMs > 0)
    ) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `autosaveMs must be a positive number of milliseconds (got ${String(options.autosaveMs)}).`,
      );
    }
    this.#onAutosaveError =
      options.onAutosaveError ??
      ((error) =>
        this.#logger.error('Could not persist the learning store', {
          location: this.location,
          error: errorMessage(error),
        }));
    this.#armAutosave();
  }

  get location(): string {
    return this.#persistence?.location ?? 'memory';
  }

  load(): Promise<LearningStoreStats> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const persistence = this.#persistence;
    if (persistence === undefined) return Promise.resolve(this.stats());
    return this.#enqueue(async () => {
      const loaded = await persistence.load();
      this.#replaceWith(loaded);
      return this.stats();
    });
  }

  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#persistence?.readOnly === true || !this.stats().isDirty) return Promise.resolve();
    return this.persist();
  }

  persist(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#nextPersist !== undefined) return this.#nextPersist;
    const run = this.#enqueue(async () => {
      this.#nextPersist = undefined;
      const version = this.#version;
      await this.#persistence?.save({
        patterns: this.getAllPatterns(),
        trajectories: this.getAllTrajectories(),
        ewc: this.#ewc,
      });
      this.#persistedVersion = version;
      this.#logger.debug('RVLS store persisted', {
        location: this.location,
        patterns: this.#patterns.size,
        trajectories: this.#trajectories.size,
      });
    });
    this.#nextPersist = run;
    return run;
  }

  savePattern(pattern: PatternRecord): PatternRecord {
    this.#assertOpen();
    const record = orThrow(readPattern(pattern, API_INPUT), 'pattern');
    this.#patterns.set(record.id, record);
    this.#index?.add(record);
    this.#patternList = undefined;
    this.#changed();
    return record;
  }

  getPattern(id: string): PatternRecord | undefined {
    return this.#patterns.get(id);
  }

  getAllPatterns(): readonly PatternRecord[] {
    return (this.#patternList ??= [...this.#patterns.values()]);
  }

  getPatternsByDomain(domain: string): PatternRecord[] {
    return this.getAllPatterns().filter((p) => p.domain === domain);
  }

  removePattern(id: string): boolean {
    this.#assertOpen();
    if (!this.#patterns.delete(id)) return false;
    this.#index?.remove(id);
    this.#patternList = undefined;
    this.#changed();
    return true;
  }

  saveTrajectory(trajectory: TrajectoryRecord): TrajectoryRecord {
    this.#assertOpen();
    const record = orThrow(readTrajectory(trajectory, API_INPUT), 'trajectory');
    this.#trajectories.set(record.id, record);
    this.#trajectoryList = undefined;
    this.#changed();
    return record;
  }

  removeTrajectory(id: string): boolean {
    this.#assertOpen();
    if (!this.#trajectories.delete(id)) return false;
    this.#trajectoryList = undefined;
    this.#changed();
    return true;
  }

  recordTrajectory(input: RecordTrajectoryInput): TrajectoryRecord {
    this.#assertOpen();
    const steps: unknown = input.steps;
    if (!Array.isArray(steps))
      throw new KernelError(
        'INVALID_ARGUMENT',
        'recordTrajectory needs `steps`, an array of steps.',
      );
    let duration = input.durationMs;
    if (duration === undefined) {
      duration = 0;
      for (const s of input.steps)
        duration += typeof s.duration_ms === 'number' ? s.duration_ms : 0;
    }
    return this.saveTrajectory({
      id: this.#ids(),
      steps: input.steps,
      outcome: input.outcome,
      duration_ms: duration,
      domain: input.domain,
      created_at: formatChrono(this.#clock.now(), 'Z'),
    });
  }

  getTrajectory(id: string): TrajectoryRecord | undefined {
    return this.#trajectories.get(id);
  }

  getAllTrajectories(): readonly TrajectoryRecord[] {
    return (this.#trajectoryList ??= [...this.#trajectories.values()]);
  }

  getTrajectoriesByOutcome(outcome: TrajectoryOutcome): TrajectoryRecord[] {
    return this.getAllTrajectories().filter((t) => t.outcome === outcome);
  }

  recentTrajectories(limit: number): TrajectoryRecord[] {
    if (!Number.isInteger(limit) || limit < 0) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `recentTrajectories needs a limit ≥ 0 (got ${limit}).`,
      );
    }
    const keyed = this.getAllTrajectories().map((t) => ({ t, key: timestampKey(t.created_at) }));
    keyed.sort((a, b) => (a.key === b.key ? 0 : a.key > b.key ? -1 : 1)); // stable: ties keep insertion order
    return keyed.slice(0, limit).map((e) => e.t);
  }

  saveEwc(ewc: EwcState): EwcState {
    this.#assertOpen();
    this.#ewc = orThrow(readEwc(ewc, API_INPUT), 'EWC state');
    this.#changed();
    return this.#ewc;
  }

  getEwc(): EwcState {
    return this.#ewc;
  }

  recordEwcTask(taskId: string, weights: readonly number[]): EwcState {
    this.#assertOpen();
    if (typeof taskId !== 'string' || !taskId.isWellFormed()) {
      throw new KernelError('INVALID_ARGUMENT', 'recordEwcTask needs a task id string.');
    }
    const list = orThrow(
      readWeights(weights, API_INPUT),
      `weights for task ${JSON.stringify(taskId)}`,
    );
    const prev = this.#ewc;
    if (prev.tasks_learned >= U32_MAX) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `tasks_learned is at the u32 maximum (${U32_MAX}); reset the EWC state with saveEwc.`,
      );
    }
    const taskWeights: Record<string, readonly number[]> = {};
    for (const k of Object.keys(prev.task_weights)) setOwn(taskWeights, k, prev.task_weights[k]!);
    setOwn(taskWeights, taskId, list);
    this.#ewc = {
      tasks_learned: prev.tasks_learned + 1,
      protection_strength: prev.protection_strength,
      task_weights: taskWeights,
    };
    this.#changed();
    return this.#ewc;
  }

  recall(query: string, options: RecallOptions = {}): RecallHit[] {
    if (typeof query !== 'string')
      throw new KernelError('INVALID_ARGUMENT', 'recall needs a query string.');
    const k = options.k ?? 5;
    if (!Number.isInteger(k) || k < 1) {
      throw new KernelError('INVALID_ARGUMENT', `recall needs k ≥ 1, a whole number (got ${k}).`);
    }
    this.#index ??= RecallIndex.of(this.#patterns.values());
    return this.#index.query(query, k, options.domain);
  }

  stats(): LearningStoreStats {
    return {
      patternCount: this.#patterns.size,
      trajectoryCount: this.#trajectories.size,
      ewcTasksLearned: this.#ewc.tasks_learned,
      isDirty: this.#version !== this.#persistedVersion,
      skippedRecords: this.#skipped,
      duplicateRecords: this.#duplicates,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#autosaveTimer !== undefined) this.#clock.clearTimeout(this.#autosaveTimer);
    this.#autosaveTimer = undefined;
    const last = this.#autosaveMs === undefined ? undefined : this.flush();
    this.#closed = true;
    try {
      await last;
    } finally {
      await this.#queue;
      await this.#persistence?.close();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #changed(): void {
    this.#version++;
  }

  /** Schedules the next autosave; each one re-arms after it settles, so saves never pile up. */
  #armAutosave(): void {
    const ms = this.#autosaveMs;
    if (ms === undefined || this.#closed) return;
    this.#autosaveTimer = this.#clock.setTimeout(() => {
      this.#autosaveTimer = undefined;
      if (this.#closed) return;
      this.flush()
        .catch((error: unknown) => this.#onAutosaveError(error))
        .finally(() => this.#armAutosave());
    }, ms);
  }

  #assertOpen(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): KernelError {
    return new KernelError(
      'CLOSED',
      `The learning store at ${this.location} is closed; open it again.`,
    );
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #replaceWith(loaded: LoadedLearning | undefined): void {
    const patterns = new Map<string, PatternRecord>();
    const trajectories = new Map<string, TrajectoryRecord>();
    let duplicates = 0;
    if (loaded !== undefined) {
      for (const p of loaded.patterns) {
        if (patterns.has(p.id)) this.#duplicate('pattern', p.id, ++duplicates);
        patterns.set(p.id, p);
      }
      for (const t of loaded.trajectories) {
        if (trajectories.has(t.id)) this.#duplicate('trajectory', t.id, ++duplicates);
        trajectories.set(t.id, t);
      }
      if (duplicates > MAX_LOGGED) {
        this.#logger.warn('More duplicate ids were found', {
          location: this.location,
          more: duplicates - MAX_LOGGED,
        });
      }
      for (const s of loaded.skipped.slice(0, MAX_LOGGED)) {
        this.#logger.warn('Skipping malformed RVLS record', {
          location: this.location,
          line: s.line,
          reason: s.reason,
        });
      }
      if (loaded.skippedCount > MAX_LOGGED) {
        this.#logger.warn('More malformed RVLS records were skipped', {
          location: this.location,
          more: loaded.skippedCount - MAX_LOGGED,
        });
      }
    } else {
      this.#logger.info('No existing learning records, starting fresh', {
        location: this.location,
      });
    }
    this.#patterns = patterns;
    this.#trajectories = trajectories;
    this.#ewc = loaded?.ewc ?? defaultEwcState();
    this.#patternList = undefined;
    this.#trajectoryList = undefined;
    this.#index = undefined;
    this.#skipped = loaded?.skippedCount ?? 0;
    this.#duplicates = duplicates;
    this.#version++;
    this.#persistedVersion = this.#version;
    this.#logger.info('RVLS store initialized', {
      location: this.location,
      patterns: patterns.size,
      trajectories: trajectories.size,
      ewcTasks: this.#ewc.tasks_learned,
      skipped: this.#skipped,
    });
  }

  #duplicate(kind: string, id: string, nth: number): void {
    if (nth > MAX_LOGGED) return;
    this.#logger.warn(
      `Duplicate ${kind} id in the learning records; the later record replaces the earlier one`,
      {
        location: this.location,
        id,
      },
    );
  }
}

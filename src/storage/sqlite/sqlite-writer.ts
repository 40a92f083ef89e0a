/**
 * The main-thread side of kerno's SQLite writer: queues write ops and hands them in batches to
 * where they run. While one batch is committing, everything that arrives waits and goes in the
 * next batch — group commit: one transaction and one fsync for all of it. A write resolves only
 * after its batch is durably committed.
 *
 * Batches run on a worker thread (the default: fsync and hashing stay off the event loop) or,
 * `inline`, on the calling thread: no thread hand-off per batch, so one producer writing one
 * record at a time commits faster, but the event loop is blocked during each commit — for
 * embedded scripts, not for a daemon. Both run the same batch code (`sqlite-batch.ts`).
 *
 * @module
 */
import { Worker } from 'node:worker_threads';
import { KernelError, type KernelErrorCode } from '../../errors.js';
import { workerEntry } from '../../util/worker-entry.js';
import { BatchRunner, openWriterConnection, toWire } from './sqlite-batch.js';
import type { SqliteModule } from './sqlite-driver.js';
import type {
  FromWorker,
  ToWorker,
  WireError,
  WriteOp,
  WriteResults,
  WriterWorkerData,
} from './sqlite-writer-protocol.js';

interface Pending {
  readonly op: WriteOp;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  /** Submitted as background: it waits for a foreground write (or the delay) to commit with. */
  readonly background: boolean;
}

/**
 * How long background writes wait, with no write anyone awaits queued, before they commit on
 * their own. A foreground write (or `flush`) sends them at once, in its own batch.
 */
const BACKGROUND_DELAY_MS = 2;

/** The inline writer lets the event loop turn after this many batches (see `start`). */
const INLINE_YIELD_BATCHES = 16;

/** Most ops sent in one batch (bigger bursts are split over consecutive batches). */
const MAX_BATCH_OPS = 4096;

/**
 * A batch formed while the writer sat idle with at least this many foreground ops (writes
 * someone awaits) is cut in two. Producers that each await their write (runs, ledger appenders)
 * march in lockstep: every one's next write comes in one wave, after the main thread has handled
 * the whole previous wave's results, while the writer waits — then the main thread waits for the
 * writer. Sending the first half alone lets
 * the second half commit while the main thread handles the first half's results; the halves then
 * keep alternating, each batch sent the moment the other commits. Below this a wave is too small
 * for the extra commit to pay.
 */
export const SPLIT_WAVE_OPS = 32;

/** Converts an error that crossed the thread boundary back into a KernelError. */
export function fromWire(error: WireError): KernelError {
  return new KernelError(
    error.code as KernelErrorCode,
    error.message,
    error.details === undefined ? {} : { details: error.details },
  );
}

/** Where the writer's batches run. */
export type SqliteWriterMode = 'thread' | 'inline';

/** Runs batches for {@link SqliteWriter} and reports back through the handler it was given. */
interface BatchEngine {
  /** Hands a batch over; may throw when the batch cannot be sent. */
  post(message: ToWorker & { type: 'batch' }): void;
  /**
   * Releases the writer connection (after every posted batch has been answered); `failed`: the
   * writer has failed (a worker that died is not asked to close).
   */
  stop(failed: boolean): Promise<void>;
}

/** The group-commit writer. */
export class SqliteWriter {
  readonly #engine: BatchEngine;
  #queue: Pending[] = [];
  #inFlight: Pending[] | undefined;
  #scheduled = false;
  #nextId = 1;
  #failure: KernelError | undefined;
  #closing: Promise<void> | undefined;
  #idle: (() => void)[] = [];
  #batches = 0;
  #opsCommitted = 0;
  /** Foreground ops in `#queue`: while there are none, background ops wait (see `submit`). */
  #foreground = 0;
  /** The background delay ran out, or a flush or close asked: send what is queued. */
  #due = false;
  #backgroundTimer: ReturnType<typeof setTimeout> | undefined;

  /** Cut lockstep waves in two (see {@link SPLIT_WAVE_OPS}): only when batches run elsewhere. */
  readonly #splitWaves: boolean;

  private constructor(
    start: (onMessage: (m: FromWorker) => void) => BatchEngine,
    splitWaves: boolean,
  ) {
    this.#engine = start((m) => this.#onMessage(m));
    this.#splitWaves = splitWaves;
  }

  /**
   * Starts the writer on `file` and waits until it is ready: a worker thread by default, or
   * `inline` on this thread (`driver` then opens the connection).
   */
  static async start(
    data: WriterWorkerData & { readonly mode?: SqliteWriterMode; readonly driver?: SqliteModule },
  ): Promise<SqliteWriter> {
    if (data.mode === 'inline') {
      if (data.driver === undefined)
        throw new KernelError('INVALID_ARGUMENT', 'The inline SQLite writer needs a driver');
      let runner: BatchRunner;
      try {
        runner = new BatchRunner(openWriterConnection(data.driver, data.file, data.busyTimeoutMs));
      } catch (error) {
        throw fromWire(toWire(error));
      }
      let batches = 0;
      return new SqliteWriter(
        (onMessage) => ({
          post: (message) => {
            let answer: FromWorker;
            try {
              answer = runner.runBatch(message.id, message.ops);
            } catch (error) {
              // The batch could not even be rolled back: the connection is unusable.
              answer = { type: 'fatal', error: toWire(error) };
            }
            // Answer after the caller's pump returns, as a worker would: no re-entry. Every
            // INLINE_YIELD_BATCHES batches the answer waits for the next turn of the event loop,
            // so a producer writing in a loop does not starve timers and I/O for its whole loop.
            if (++batches % INLINE_YIELD_BATCHES === 0) setImmediate(() => onMessage(answer));
            else queueMicrotask(() => onMessage(answer));
          },
          stop: () => {
            runner.close();
            return Promise.resolve();
          },
        }),
        false,
      );
    }
    const worker = await startWorker(data);
    return new SqliteWriter((onMessage) => {
      let stopping = false;
      worker.on('message', onMessage);
      worker.on('error', (error) =>
        onMessage({
          type: 'fatal',
          error: { code: 'STORAGE_ERROR', message: `The SQLite writer stopped: ${error.message}` },
        }),
      );
      worker.on('exit', (code) => {
        if (!stopping)
          onMessage({
            type: 'fatal',
            error: {
              code: 'STORAGE_ERROR',
              message: `The SQLite writer exited unexpectedly (code ${code}); reopen the store`,
            },
          });
      });
      return {
        post: (message) => worker.postMessage(message),
        stop: async (failed) => {
          stopping = true;
          if (!failed)
            await new Promise<void>((resolve) => {
              worker.on('message', (m: FromWorker) => {
                if (m.type === 'closed') resolve();
              });
              worker.once('exit', () => resolve());
              worker.postMessage({ type: 'close' } satisfies ToWorker);
            });
          await worker.terminate();
        },
      };
    }, true);
  }

  /**
   * Queues a write; resolves with its result once durably committed. A `background` write
   * (nobody waits on its latency) is held until a foreground write is queued, then both go in
   * one batch — one fsync instead of two, the second waiting for the first — or until
   * {@link BACKGROUND_DELAY_MS} has passed with none.
   */
  submit<K extends WriteOp['kind']>(
    op: Extract<WriteOp, { kind: K }>,
    background = false,
  ): Promise<WriteResults[K]> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closing !== undefined) {
      return Promise.reject(
        new KernelError('CLOSED', 'The store is closed; open it again to write'),
      );
    }
    return new Promise<WriteResults[K]>((resolve, reject) => {
      this.#queue.push({ op, resolve: resolve as (v: unknown) => void, reject, background });
      if (!background) this.#foreground++;
      this.#schedule();
    });
  }

  /** Pumps on the next microtask, so every write issued in this tick joins the batch. */
  #schedule(): void {
    if (this.#scheduled || this.#inFlight !== undefined) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#pump(true);
    });
  }

  /** Sends held background writes now, without waiting for them. */
  expedite(): void {
    if (this.#queue.length === 0) return;
    this.#due = true;
    this.#schedule();
  }

  /** Resolves when every write submitted so far has been committed (or failed). */
  flush(): Promise<void> {
    if (this.#inFlight === undefined && this.#queue.length === 0) return Promise.resolve();
    // Background writes do not wait for company when someone waits for them.
    this.#due = true;
    this.#schedule();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Counters: batches committed and ops in them (the average batch size shows group commit). */
  stats(): { batches: number; ops: number; queued: number } {
    return { batches: this.#batches, ops: this.#opsCommitted, queued: this.#queue.length };
  }

  /** Sends the next batch; `idle`: nothing was in flight when these writes were queued. */
  #pump(idle = false): void {
    if (this.#inFlight !== undefined || this.#queue.length === 0 || this.#failure !== undefined) {
      if (this.#inFlight === undefined && this.#queue.length === 0) this.#notifyIdle();
      return;
    }
    if (this.#foreground === 0 && !this.#due) {
      // Only background writes: give a foreground write a moment to come and take them along.
      this.#backgroundTimer ??= setTimeout(() => {
        this.#backgroundTimer = undefined;
        this.#due = true;
        this.#pump();
      }, BACKGROUND_DELAY_MS);
      return;
    }
    if (this.#backgroundTimer !== undefined) {
      clearTimeout(this.#backgroundTimer);
      this.#backgroundTimer = undefined;
    }
    const size = Math.min(
      idle && this.#splitWaves && this.#foreground >= SPLIT_WAVE_OPS
        ? this.#halfWave()
        : this.#queue.length,
      MAX_BATCH_OPS,
    );
    const batch = size === this.#queue.length ? this.#queue : this.#queue.slice(0, size);
    this.#queue = size === this.#queue.length ? [] : this.#queue.slice(size);
    for (const p of batch) if (!p.background) this.#foreground--;
    // What stays queued (a burst beyond one batch) goes next without waiting again.
    this.#due = this.#queue.length > 0;
    this.#inFlight = batch;
    const message = { type: 'batch' as const, id: this.#nextId++, ops: batch.map((p) => p.op) };
    try {
      this.#engine.post(message);
    } catch (error) {
      this.#inFlight = undefined;
      const e = new KernelError(
        'INVALID_ARGUMENT',
        `A write could not be sent to the SQLite writer: ${(error as Error).message}`,
        { cause: error },
      );
      for (const p of batch) p.reject(e);
      this.#pump();
    }
  }

  /**
   * How many queued ops make the first half of a wave: through the op that completes half of
   * the foreground writes, so background writes queued ahead never make a half of their own.
   */
  #halfWave(): number {
    let wanted = this.#foreground >> 1;
    for (let i = 0; i < this.#queue.length; i++) {
      if (!this.#queue[i]!.background && --wanted === 0) return i + 1;
    }
    return this.#queue.length;
  }

  #onMessage(m: FromWorker): void {
    if (m.type === 'batch' || m.type === 'batch-failed') {
      const batch = this.#inFlight ?? [];
      this.#inFlight = undefined;
      if (m.type === 'batch') {
        this.#batches++;
        this.#opsCommitted += batch.length;
        for (let i = 0; i < batch.length; i++) {
          const outcome = m.outcomes[i];
          if (outcome === undefined)
            batch[i]!.reject(new KernelError('INTERNAL', 'The SQLite writer lost a write result'));
          else if (outcome.ok) batch[i]!.resolve(outcome.value);
          else batch[i]!.reject(fromWire(outcome.error));
        }
      } else {
        const error = fromWire(m.error);
        for (const p of batch) p.reject(error);
      }
      this.#pump();
    } else if (m.type === 'fatal') {
      this.#fail(fromWire(m.error));
    }
  }

  #notifyIdle(): void {
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }

  #fail(error: KernelError): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    const pending = [...(this.#inFlight ?? []), ...this.#queue];
    this.#inFlight = undefined;
    this.#queue = [];
    this.#foreground = 0;
    if (this.#backgroundTimer !== undefined) clearTimeout(this.#backgroundTimer);
    this.#backgroundTimer = undefined;
    for (const p of pending) p.reject(error);
    this.#notifyIdle();
  }

  /** Commits what is queued, then stops the writer. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.flush();
      await this.#engine.stop(this.#failure !== undefined);
    })();
    return this.#closing;
  }
}

/** Starts the writer worker on `file` and waits until it is ready. */
async function startWorker(data: WriterWorkerData): Promise<Worker> {
  const worker = new Worker(workerEntry(import.meta.url, 'sqlite-writer-worker'), {
    workerData: { file: data.file, busyTimeoutMs: data.busyTimeoutMs } satisfies WriterWorkerData,
  });
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: FromWorker): void => {
      if (m.type === 'ready') {
        cleanup();
        resolve();
      } else if (m.type === 'fatal') {
        cleanup();
        reject(fromWire(m.error));
      }
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(
        new KernelError('STORAGE_ERROR', `Could not start the SQLite writer: ${error.message}`, {
          cause: error,
        }),
      );
    };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
  });
  return worker;
}

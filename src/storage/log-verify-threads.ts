/**
 * The main-thread side of parallel verification: one worker thread per range, each given the
 * backend's connection settings and its {@link VerifyRangeTask}, answering with progress and its
 * {@link VerifyRangeOutcome} (see `log-verify-ranges.ts`). The backends' workers
 * (`sqlite-verify-worker.ts`, `postgres-verify-worker.ts`) speak {@link RangeWorkerMessage}.
 *
 * @module
 */
import { Worker } from 'node:worker_threads';
import { KernelError, errorMessage, isKernelError, isKernelErrorCode } from '../errors.js';
import type { VerifyRangeOutcome, VerifyRangeTask } from './log.js';

/** What a range worker receives as `workerData`. */
export interface RangeWorkerData<C> {
  /** The backend's connection settings (plain data). */
  readonly connection: C;
  readonly task: VerifyRangeTask;
}

/** What a range worker posts. */
export type RangeWorkerMessage =
  | { readonly type: 'progress'; readonly checked: number }
  | { readonly type: 'done'; readonly outcome: VerifyRangeOutcome }
  | { readonly type: 'failed'; readonly code: string; readonly message: string };

/** The `failed` message for an error thrown in a worker. */
export function rangeFailure(error: unknown): RangeWorkerMessage {
  return isKernelError(error)
    ? { type: 'failed', code: error.code, message: error.message }
    : { type: 'failed', code: 'STORAGE_ERROR', message: errorMessage(error) };
}

/**
 * Runs every task on its own worker started from `entry`; resolves with the outcomes in task
 * order, or rejects with the first failure (the other workers are stopped).
 */
export async function runRangeWorkers<C>(
  entry: URL,
  connection: C,
  tasks: readonly VerifyRangeTask[],
  onProgress?: (checked: number) => void,
): Promise<VerifyRangeOutcome[]> {
  const progress = new Array<number>(tasks.length).fill(0);
  const workers: Worker[] = [];
  const runs = tasks.map(
    (task, i) =>
      new Promise<VerifyRangeOutcome>((resolve, reject) => {
        const worker = new Worker(entry, {
          workerData: { connection, task } satisfies RangeWorkerData<C>,
        });
        workers.push(worker);
        let settled = false;
        const fail = (code: string, message: string): void => {
          if (settled) return;
          settled = true;
          reject(
            new KernelError(
              isKernelErrorCode(code) ? code : 'STORAGE_ERROR',
              `Verifying ${task.stream} records after ${task.afterSeq} failed: ${message}`,
            ),
          );
        };
        worker.on('message', (m: RangeWorkerMessage) => {
          if (m.type === 'progress') {
            progress[i] = m.checked;
            onProgress?.(progress.reduce((a, b) => a + b, 0));
          } else if (m.type === 'done') {
            settled = true;
            resolve(m.outcome);
          } else fail(m.code, m.message);
        });
        worker.on('error', (error) => fail('STORAGE_ERROR', error.message));
        worker.on('exit', (code) =>
          fail('STORAGE_ERROR', `the verify worker exited (code ${code})`),
        );
      }),
  );
  try {
    return await Promise.all(runs);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * Recovery artifacts on disk, in aivcs-core's layout: `<dir>/<run_id>/recovery.json` (serde_json
 * pretty print) and `<dir>/<run_id>/recovery.digest` (SHA-256 of exactly those bytes, lower-case
 * hex, no newline). Artifacts written by aivcs verify here and the other way round.
 *
 * Writes are crash-safe: each file goes to a temporary name, is fsynced, then renamed; the digest
 * is written after the JSON, so a crash in between leaves a digest that does not match and
 * {@link readRecoveryArtifact} reports it instead of trusting a half-written run.
 *
 * @example
 * import { readRecoveryArtifact, writeRecoveryArtifact } from 'kerno';
 * await writeRecoveryArtifact(log, '.kerno/recovery'); // '.kerno/recovery/run-42/recovery.json'
 * const same = await readRecoveryArtifact('run-42', '.kerno/recovery');
 *
 * @module
 */
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { KernelError } from '../errors.js';
import { digestsEqual, sha256Hex } from '../util/digest.js';
import { decodeRecoveryLog, encodeRecoveryLog } from '../formats/aivcs-recovery.js';
import type { RecoveryLog } from './recovery-types.js';

/** File name of the artifact's JSON. */
export const RECOVERY_ARTIFACT_FILE = 'recovery.json';
/** File name of the artifact's digest. */
export const RECOVERY_DIGEST_FILE = 'recovery.digest';

/**
 * Whether `runId` can name a directory inside the artifact root: non-empty, not `.` or `..`,
 * and free of path separators and NUL.
 */
export function isSafeRunId(runId: unknown): runId is string {
  return (
    typeof runId === 'string' &&
    runId.length > 0 &&
    runId !== '.' &&
    runId !== '..' &&
    !/[/\\\0]/.test(runId)
  );
}

function checkRunId(runId: unknown): string {
  if (!isSafeRunId(runId)) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `Run id ${JSON.stringify(runId)} cannot name an artifact directory: use a non-empty name without '/', '\\', NUL, and not '.' or '..'.`,
      { details: { run_id: typeof runId === 'string' ? runId : String(runId) } },
    );
  }
  return runId;
}

/**
 * Writes `<dir>/<run_id>/recovery.json` and `recovery.digest` (creating directories) and returns
 * the JSON file's path. Throws `INVALID_ARGUMENT` for a run id that would leave `dir` or a log
 * without the RecoveryLog shape, `STORAGE_ERROR` when the file system refuses.
 */
export async function writeRecoveryArtifact(log: RecoveryLog, dir: string): Promise<string> {
  const runId = checkRunId((log as { run_id?: unknown } | null)?.run_id);
  const json = Buffer.from(encodeRecoveryLog(log), 'utf8');
  const digest = sha256Hex(json);
  const runDir = join(dir, runId);
  const artifactPath = join(runDir, RECOVERY_ARTIFACT_FILE);
  try {
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    await writeFileDurably(artifactPath, json);
    await writeFileDurably(join(runDir, RECOVERY_DIGEST_FILE), Buffer.from(digest, 'utf8'));
    await syncDirectory(runDir);
  } catch (error) {
    throw new KernelError(
      'STORAGE_ERROR',
      `Could not write the recovery artifact for run ${runId} under ${dir}: ${(error as Error).message}. Check that the directory is writable.`,
      { cause: error, details: { run_id: runId, dir } },
    );
  }
  return artifactPath;
}

/**
 * Reads and verifies `<dir>/<run_id>/recovery.json` against `recovery.digest`. Throws
 * `NOT_FOUND` when either file is missing, `DIGEST_MISMATCH` (with `expected`, the digest file's
 * trimmed text, and `actual`, the JSON's digest) when they disagree, `INVALID_ARTIFACT` when the
 * JSON is malformed or not a RecoveryLog, `INVALID_ARGUMENT` for an unsafe run id.
 */
export async function readRecoveryArtifact(runId: string, dir: string): Promise<RecoveryLog> {
  const safeRunId = checkRunId(runId);
  const runDir = join(dir, safeRunId);
  const json = await readArtifactFile(join(runDir, RECOVERY_ARTIFACT_FILE), safeRunId);
  const expected = (await readArtifactFile(join(runDir, RECOVERY_DIGEST_FILE), safeRunId))
    .toString('utf8')
    .trim();
  const actual = sha256Hex(json);
  if (!digestsEqual(expected, actual)) {
    throw new KernelError(
      'DIGEST_MISMATCH',
      `Recovery artifact for run ${safeRunId} does not match its digest: expected ${expected}, actual ${actual}. The file was modified or only partly written; do not trust it.`,
      { details: { run_id: safeRunId, expected, actual } },
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(json);
  } catch (error) {
    throw new KernelError(
      'INVALID_ARTIFACT',
      `Recovery artifact for run ${safeRunId} is not UTF-8 text; regenerate it.`,
      { cause: error, details: { run_id: safeRunId } },
    );
  }
  return decodeRecoveryLog(text);
}

/**
 * The run ids under `dir` that have a `recovery.json`, sorted. A missing `dir` gives `[]`.
 * Throws `STORAGE_ERROR` when `dir` cannot be listed.
 */
export async function listRecoveryArtifacts(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw new KernelError(
      'STORAGE_ERROR',
      `Could not list recovery artifacts in ${dir}: ${(error as Error).message}.`,
      { cause: error, details: { dir } },
    );
  }
  const runIds: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !isSafeRunId(entry.name)) continue;
    const file = await stat(join(dir, entry.name, RECOVERY_ARTIFACT_FILE)).catch(() => undefined);
    if (file?.isFile() === true) runIds.push(entry.name);
  }
  return runIds.sort();
}

async function readArtifactFile(path: string, runId: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') {
      throw new KernelError(
        'NOT_FOUND',
        `No recovery artifact for run ${runId}: ${path} does not exist. List the runs with listRecoveryArtifacts.`,
        { cause: error, details: { run_id: runId, path } },
      );
    }
    throw new KernelError('STORAGE_ERROR', `Could not read ${path}: ${(error as Error).message}.`, {
      cause: error,
      details: { run_id: runId, path },
    });
  }
}

let tempCounter = 0;

/** Writes to a unique temporary file, fsyncs it, then renames it over `path` (atomic on POSIX). */
async function writeFileDurably(path: string, data: Uint8Array): Promise<void> {
  const temp = `${path}.${process.pid}.${++tempCounter}.tmp`;
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, 'wx', 0o644);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** Makes the renames durable. Not every platform can fsync a directory (Windows); skip there. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Unsupported here; the renames are still atomic, only their durability is weaker.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String(error.code)
    : undefined;
}

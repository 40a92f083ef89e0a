/**
 * What the CLI commands share: global options, reaching the daemon or a store, printing.
 *
 * @module
 */
import { createReadStream, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { Transform, pipeline, type Readable } from 'node:stream';
import type { Command } from 'commander';
import { KernelError } from '../errors.js';
import { createKernel, type KernelCore } from '../kernel.js';
import { DaemonClient, resolveDaemon } from './client.js';
import { formatTable, type CliContext } from './output.js';

/** Options available on every command. */
export interface GlobalOptions {
  readonly home?: string;
  readonly url?: string;
  readonly token?: string;
  readonly json?: boolean;
}

/** The merged options of a command (its own and the global ones). */
export function opts<T extends object>(cmd: Command): T & GlobalOptions {
  return cmd.optsWithGlobals<T & GlobalOptions>();
}

/** A client for the daemon the options point at. */
export function daemon(o: GlobalOptions): DaemonClient {
  return new DaemonClient(resolveDaemon({ url: o.url, token: o.token, home: o.home }));
}

/**
 * Opens a kernel without agents on the store `url` (no daemon) for the duration of `fn`: the same
 * composition root as `kerno up`, so the ledger, audit trail, approvals and registry are the ones
 * the daemon would use. Its events stay in this process (a memory bus). Its learning store is
 * memory only, so it never contends with a daemon for the store's learning records — unless
 * `learning: true` (a learning import), where it is the store's own.
 */
export async function withStore<T>(
  url: string,
  fn: (kernel: KernelCore) => Promise<T>,
  options: { readonly home?: string | undefined; readonly learning?: boolean } = {},
): Promise<T> {
  const kernel = await createKernel({
    agents: false,
    store: url,
    ...(options.home === undefined ? {} : { stateDir: options.home }),
    bus: 'memory',
    ...(options.learning === true ? {} : { learningFile: null }),
  });
  try {
    return await fn(kernel);
  } finally {
    await kernel.close();
  }
}

/** The `--store` option every command that reads or changes state has. */
export const STORE_OPTION = [
  '--store <url>',
  'work on this store directly (sqlite:<path>, postgres://…) instead of asking the daemon',
] as const;

/**
 * The one seam between the two ways a command reaches state: with `--store`, `direct` runs on a
 * kernel opened on that store (see {@link withStore}); without it, `remote` asks the daemon.
 * Both answer the same shape, so the command prints the same table or JSON either way.
 */
export function viaStoreOrDaemon<T>(
  o: GlobalOptions & { readonly store?: string },
  direct: (kernel: KernelCore) => Promise<T>,
  remote: (client: DaemonClient) => Promise<T>,
): Promise<T> {
  return o.store !== undefined ? withStore(o.store, direct, { home: o.home }) : remote(daemon(o));
}

/** Who decides through the CLI on a store directly (the daemon records the token's label). */
export function localPrincipal(): string {
  let user = process.env.USER ?? process.env.USERNAME;
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers): keep the environment's name
  }
  return `cli --store (${user ?? 'unknown user'})`;
}

/** Prints `data` as JSON with --json, else as the table `toTable` builds. */
export function print(
  ctx: CliContext,
  o: GlobalOptions,
  data: unknown,
  toTable: () => { headers: readonly string[]; rows: readonly (readonly unknown[])[] } | string,
): void {
  if (o.json === true) {
    ctx.io.stdout(JSON.stringify(data, null, 2) + '\n');
    return;
  }
  const t = toTable();
  ctx.io.stdout(typeof t === 'string' ? t : formatTable(t.headers, t.rows));
}

/** Reads all of stdin as text; `usage` is the error when stdin is a terminal (nothing piped). */
export async function readStdin(usage: string): Promise<string> {
  if (process.stdin.isTTY) throw new KernelError('INVALID_ARGUMENT', usage);
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) text += chunk as string;
  return text;
}

/** Reads a whole text file, with a usage error that names it. */
export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new KernelError('INVALID_ARGUMENT', `Cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** A file as a byte stream, reporting progress by bytes read. */
export function openInput(file: string, onBytes?: (read: number, total: number) => void): Readable {
  let total: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new Error('not a regular file');
    total = stat.size;
  } catch (error) {
    throw new KernelError('INVALID_ARGUMENT', `Cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const stream = createReadStream(file);
  if (onBytes === undefined) return stream;
  // Counts bytes as the consumer pulls them: a 'data' listener would start the flow before the
  // consumer (e.g. a store still opening) is ready, and the bytes would be lost.
  let read = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      read += chunk.length;
      onBytes(read, total);
      done(null, chunk);
    },
  });
  pipeline(stream, counter, () => {});
  return counter;
}

/** Parses a JSON option value with a usage error. */
export function parseJsonOption(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `${what} is not valid JSON: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** `--limit n` as a positive integer up to `max`, with a usage error otherwise. */
export function parseLimit(text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n > max)
    throw new KernelError(
      'INVALID_QUERY',
      `--limit must be a non-negative integer of at most ${max}, got "${text.slice(0, 40)}"`,
    );
  return n;
}

/**
 * Persists a store's learning changes made by an import, failing (`STORE_LOCKED`) when another
 * process writes that store's learning records and the changes could only be kept in memory.
 */
export async function persistImportedLearning(kernel: KernelCore): Promise<void> {
  await kernel.persistLearning();
  if (kernel.learning.stats().isDirty) {
    throw new KernelError(
      'STORE_LOCKED',
      "Another process (a daemon?) writes this store's learning records: nothing was imported. Import through that daemon instead (drop --store)",
    );
  }
}

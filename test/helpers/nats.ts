/**
 * NATS for tests: the one place that names the server (`KERNO_TEST_NATS_URL`, default
 * nats://127.0.0.1:4222), probes it, and decides whether NATS tests skip (server absent) or fail
 * (`KERNO_REQUIRE_SERVICES=1`). Also runs private nats-server processes for restart tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { tempDir } from './stores.js';

/** The shared NATS server the tests use. */
export const NATS_URL = process.env.KERNO_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
/** The nats-server binary for private servers. */
export const NATS_SERVER_BIN = process.env.KERNO_TEST_NATS_SERVER ?? '/usr/sbin/nats-server';
/** When set, a missing service fails the run instead of skipping. */
export const REQUIRE_SERVICES = process.env.KERNO_REQUIRE_SERVICES === '1';

/** Why NATS tests cannot run here, or undefined when they can. */
export async function natsSkipReason(url = NATS_URL): Promise<string | undefined> {
  let reason: string | undefined;
  try {
    const nc = await connect({ servers: url, timeout: 2000, reconnect: false });
    try {
      await jetstreamManager(nc, { timeout: 2000 });
    } catch (error) {
      reason = `NATS at ${url} has no JetStream (${String(error)}); start nats-server with -js`;
    } finally {
      await nc.close();
    }
  } catch (error) {
    reason = `no NATS server at ${url} (${String(error)}); set KERNO_TEST_NATS_URL or start nats-server -js`;
  }
  return orFail(reason);
}

/** Why private-server tests cannot run here, or undefined when they can. */
export function natsServerSkipReason(): string | undefined {
  return orFail(
    existsSync(NATS_SERVER_BIN)
      ? undefined
      : `no nats-server binary at ${NATS_SERVER_BIN}; set KERNO_TEST_NATS_SERVER`,
  );
}

function orFail(reason: string | undefined): string | undefined {
  if (reason !== undefined && REQUIRE_SERVICES) {
    throw new Error(`KERNO_REQUIRE_SERVICES=1 but ${reason}`);
  }
  return reason;
}

/** `describe`, or one visibly skipped test naming the reason when the service is missing. */
export function describeWith(skip: string | undefined, name: string, fn: () => void): void {
  if (skip === undefined) describe(name, fn);
  else {
    console.warn(`[kerno tests] ${name}: skipped, ${skip}`);
    describe(name, () => it.skip(`skipped: ${skip}`, () => undefined));
  }
}

/** A subject prefix no other test run uses. */
export function uniquePrefix(): string {
  return `kt${randomBytes(6).toString('hex')}`;
}

/** Deletes JetStream streams (missing ones are ignored). */
export async function deleteStreams(names: readonly string[], url = NATS_URL): Promise<void> {
  if (names.length === 0) return;
  const nc = await connect({ servers: url, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc);
    for (const name of names) await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A nats-server process of its own, on a free port, with its store in a temp folder. */
export class PrivateNatsServer {
  readonly port: number;
  readonly storeDir: string;
  readonly #cleanup: () => void;
  readonly #jetstream: boolean;
  #proc: ChildProcess | undefined;

  private constructor(port: number, jetstream: boolean) {
    const { dir, cleanup } = tempDir('kerno-nats-');
    this.port = port;
    this.storeDir = dir;
    this.#cleanup = cleanup;
    this.#jetstream = jetstream;
  }

  /** Starts a server (with JetStream unless `jetstream: false`) and waits until it is ready. */
  static async start(options: { jetstream?: boolean } = {}): Promise<PrivateNatsServer> {
    const server = new PrivateNatsServer(await freePort(), options.jetstream ?? true);
    await server.start();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts (again, with the same port and store) and resolves when it accepts clients. */
  start(): Promise<void> {
    const args = ['-a', '127.0.0.1', '-p', String(this.port)];
    if (this.#jetstream) args.push('-js', '-sd', this.storeDir);
    const proc = spawn(NATS_SERVER_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#proc = proc;
    return new Promise((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('Server is ready')) {
          proc.stderr?.off('data', onData);
          proc.stderr?.resume();
          resolve();
        }
      };
      proc.stderr?.on('data', onData);
      proc.once('exit', (code) =>
        reject(new Error(`nats-server exited (${code}) before it was ready:\n${output}`)),
      );
      proc.once('error', reject);
    });
  }

  /** Stops it with SIGTERM and waits for the process to exit. */
  stop(): Promise<void> {
    const proc = this.#proc;
    this.#proc = undefined;
    if (proc === undefined || proc.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  }

  /** Stops it and removes its store. */
  async dispose(): Promise<void> {
    await this.stop();
    this.#cleanup();
  }
}

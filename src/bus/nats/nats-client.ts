/**
 * Loads the NATS client (an optional peer dependency) on demand, connects, and makes sure the
 * bus's JetStream stream exists. Only the NATS bus imports this file, so the embedded path never
 * loads a NATS package.
 *
 * @module
 */
import type * as JetStreamModule from '@nats-io/jetstream';
import type * as TransportModule from '@nats-io/transport-node';
import { KernelError, errorMessage } from '../../errors.js';

/** The two NATS packages the bus uses. */
export interface NatsModules {
  readonly transport: typeof TransportModule;
  readonly jetstream: typeof JetStreamModule;
}

/** A NATS connection (the client's own type). */
export type NatsConnection = TransportModule.NatsConnection;
/** A JetStream client (the client's own type). */
export type JetStreamClient = JetStreamModule.JetStreamClient;
/** A JetStream manager (the client's own type). */
export type JetStreamManager = JetStreamModule.JetStreamManager;

let loading: Promise<NatsModules> | undefined;

/** Imports `@nats-io/transport-node` and `@nats-io/jetstream`; `DEPENDENCY_MISSING` if absent. */
export function loadNats(): Promise<NatsModules> {
  loading ??= Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')]).then(
    ([transport, jetstream]) => ({ transport, jetstream }),
    (error: unknown) => {
      loading = undefined;
      throw new KernelError(
        'DEPENDENCY_MISSING',
        'The NATS bus needs the optional packages @nats-io/transport-node and @nats-io/jetstream; run `npm install @nats-io/transport-node @nats-io/jetstream`',
        { cause: error },
      );
    },
  );
  return loading;
}

/** What {@link ensureStream} creates when the stream is missing. */
export interface StreamSpec {
  readonly name: string;
  /** The subject filter the stream must capture, e.g. `kerno.acme.>`. */
  readonly subject: string;
  readonly duplicateWindowMs: number;
  /** 0 keeps messages forever. */
  readonly maxAgeMs: number;
}

/**
 * Creates the stream (file storage) if it is missing; checks that an existing one captures the
 * bus's subjects. Returns the stream's last sequence number.
 */
export async function ensureStream(
  nats: NatsModules,
  jsm: JetStreamManager,
  spec: StreamSpec,
): Promise<number> {
  const { nanos } = nats.transport;
  for (let attempt = 0; ; attempt++) {
    try {
      const info = await jsm.streams.info(spec.name);
      const subjects = info.config.subjects ?? [];
      if (!subjects.some((s) => subjectCovers(s, spec.subject))) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          `The JetStream stream "${spec.name}" exists but does not capture "${spec.subject}" (it has ${subjects.join(', ') || 'no subjects'}); choose another streamName or subjectPrefix`,
        );
      }
      return info.state.last_seq;
    } catch (error) {
      if (!isStreamNotFound(error) || attempt > 0) throw error;
    }
    try {
      const info = await jsm.streams.add({
        name: spec.name,
        subjects: [spec.subject],
        storage: nats.jetstream.StorageType.File,
        duplicate_window: nanos(spec.duplicateWindowMs),
        max_age: nanos(spec.maxAgeMs),
      });
      return info.state.last_seq;
    } catch (error) {
      // Another process created it first with another config: read it again.
      if (!errorMessage(error).includes('already in use')) throw error;
    }
  }
}

function isStreamNotFound(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'StreamNotFoundError' || error.message.includes('stream not found'))
  );
}

/** Whether NATS subject pattern `pattern` matches every subject `subject` (itself a pattern) does. */
export function subjectCovers(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const pt = p[i]!;
    if (pt === '>') return i < s.length;
    const st = s[i];
    if (st === undefined) return false;
    if (pt === '*') {
      if (st === '>') return false;
      continue;
    }
    if (pt !== st) return false;
  }
  return p.length === s.length;
}

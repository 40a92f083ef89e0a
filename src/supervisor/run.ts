/**
 * One run of a child, as the supervisor drives it: the host callbacks a runner reports to and
 * the handle it hands back. Internal to the supervisor.
 *
 * @module
 */
import type { FailureSignal } from '../model/failure.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { AgentRef, SupervisorServices } from './agent.js';

/** How a run ended. */
export type RunOutcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly failure: FailureSignal; readonly error: unknown };

/** What a runner reports to (the supervisor's side of one run). */
export interface RunHost {
  readonly ref: AgentRef;
  readonly config: unknown;
  readonly clock: Clock;
  readonly services: SupervisorServices | undefined;
  readonly logger: Logger;
  /** Secrets granted to this agent (variable → value), set in a process agent's environment. */
  readonly secretEnv?: Readonly<Record<string, string>> | undefined;
  /** The run is up (a process has spawned, a function was called). */
  started(pid: number | null): void;
  /** The agent said it is ready (`ctx.ready()`, a `ready` message). */
  ready(): void;
  /** A stop gave up waiting after `graceMs`: the run may still be going (a function). */
  abandoned(graceMs: number): void;
  /** The agent produced output. */
  output(text: string): void;
  /**
   * How long to stop reading the agent's output (ms, 0: read on): a process agent pauses its
   * stdout pipe that long, so a flooding agent blocks on its own writes instead of having its
   * lines dropped (back-pressure from the output limiter).
   */
  outputWaitMs?(): number;
  /** The agent showed a sign of life. */
  alive(): void;
  /** The agent is waiting for work (`true`) or busy again (`false`). */
  setIdle(idle: boolean): void;
}

/** A run in progress. */
export interface RunHandle {
  /** Settles exactly once, when the run has ended (or was abandoned by `stop`). */
  readonly done: Promise<RunOutcome>;
  /** Ends the run: abort (function) or SIGTERM then SIGKILL after `graceMs` (process). */
  stop(graceMs: number): Promise<void>;
}

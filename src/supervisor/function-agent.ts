/**
 * In-process agents: an async function of its context, run by the supervisor. The function is
 * asked to stop through `ctx.signal`; one that ignores it past its grace cannot be killed (it
 * shares this process) and is abandoned.
 *
 * @example
 * const agent = await supervisor.spawn({
 *   name: 'researcher',
 *   run: async (ctx) => {
 *     ctx.output('searching…');
 *     return 42;
 *   },
 * });
 *
 * @module
 */
import { KernelError } from '../errors.js';
import type { ExperienceEvent } from '../formats/converge-experience-event.js';
import type { UserExperienceEvent } from '../formats/converge-user-event.js';
import type { Clock } from '../util/clock.js';
import { deferred } from '../util/deferred.js';
import {
  failureFromError,
  serviceUnavailable,
  type AgentApprovalDecision,
  type AgentApprovalRequest,
  type AgentContext,
  type AgentLedgerOptions,
} from './agent.js';
import type { RunHandle, RunHost, RunOutcome } from './run.js';

/** The context of one in-process run. */
class FunctionContext implements AgentContext {
  readonly #host: RunHost;
  readonly signal: AbortSignal;

  constructor(host: RunHost, signal: AbortSignal) {
    this.#host = host;
    this.signal = signal;
  }

  get agentId(): string {
    return this.#host.ref.id;
  }

  get name(): string {
    return this.#host.ref.name;
  }

  get attempt(): number {
    return this.#host.ref.attempt;
  }

  get restarts(): number {
    return this.#host.ref.restarts;
  }

  get config(): unknown {
    return this.#host.config;
  }

  get clock(): Clock {
    return this.#host.clock;
  }

  output(text: string): void {
    if (typeof text !== 'string')
      throw new KernelError('INVALID_ARGUMENT', 'ctx.output() takes a string; JSON.stringify it');
    this.#host.output(text);
  }

  heartbeat(): void {
    this.#host.alive();
  }

  idle(): void {
    this.#host.setIdle(true);
  }

  busy(): void {
    this.#host.setIdle(false);
  }

  ready(): void {
    this.#host.ready();
  }

  requestApproval(request: AgentApprovalRequest): Promise<AgentApprovalDecision> {
    const services = this.#host.services;
    if (services === undefined) return Promise.reject(serviceUnavailable('requestApproval'));
    return services.requestApproval(this.#host.ref, request, this.signal);
  }

  appendLedger(
    event: ExperienceEvent | UserExperienceEvent,
    options: AgentLedgerOptions = {},
  ): Promise<unknown> {
    const services = this.#host.services;
    if (services === undefined) return Promise.reject(serviceUnavailable('appendLedger'));
    return services.appendLedger(this.#host.ref, event, options);
  }
}

/** Starts one run of an in-process agent; `graceDefault` is the stop grace when none is given. */
export function startFunctionRun(
  run: (ctx: AgentContext) => unknown,
  host: RunHost,
  graceDefault: number,
): RunHandle {
  const controller = new AbortController();
  const done = deferred<RunOutcome>();
  const ctx = new FunctionContext(host, controller.signal);
  host.started(null);
  const fail = (error: unknown): void =>
    done.resolve({ ok: false, failure: failureFromError(error), error });
  try {
    Promise.resolve(run(ctx)).then((value) => done.resolve({ ok: true, value }), fail);
  } catch (error) {
    fail(error);
  }
  const name = host.ref.name;
  return {
    done: done.promise,
    async stop(graceMs = graceDefault): Promise<void> {
      controller.abort(
        new KernelError('AGENT_STOPPED', `Agent "${name}" was stopped by its supervisor`),
      );
      const clock = host.clock;
      // A function that ignores its signal cannot be killed: after the grace it is abandoned.
      const timer = Number.isFinite(graceMs)
        ? clock.setTimeout(() => {
            const error = new KernelError(
              'AGENT_STOPPED',
              `Agent "${name}" ignored its abort signal for ${graceMs} ms and was abandoned`,
            );
            host.abandoned(graceMs);
            done.resolve({ ok: false, failure: failureFromError(error), error });
          }, graceMs)
        : undefined;
      await done.promise;
      if (timer !== undefined) clock.clearTimeout(timer);
    },
  };
}

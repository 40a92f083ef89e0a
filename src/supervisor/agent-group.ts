/**
 * Agent groups: N agents started together under one supervisor, awaited together, with a
 * result per member (`AgentGroupCreated`, then one `AgentGroupMemberCompleted` per member).
 *
 * @example
 * const result = await supervisor.group({ name: 'searcher', run: search }, { count: 4 });
 * console.log(`${result.succeeded}/${result.members.length} succeeded`);
 *
 * @module
 */
import type { KernelEvent } from '../model/kernel-event.js';
import { KernelError } from '../errors.js';
import type { IdGenerator } from '../util/ids.js';
import type { AgentEndReason, AgentOutcome, AgentSpec } from './agent.js';

/** The members of a group: one spec (with `count`) or a list of specs. */
export type AgentGroupInput = AgentSpec | readonly AgentSpec[];

/** Options of {@link Supervisor.group}. */
export interface AgentGroupOptions {
  /** How many agents to start from a single spec (default 1; not allowed with a list). */
  readonly count?: number | undefined;
  /** Aborting kills the members that are still running (they count as failed). */
  readonly signal?: AbortSignal | undefined;
}

/** How one member ended. */
export interface AgentGroupMember<R = unknown> {
  readonly agentId: string;
  readonly name: string;
  /** Whether the member completed (its last run succeeded). */
  readonly success: boolean;
  readonly reason: AgentEndReason;
  readonly result?: R;
  /** The failure message, when it did not succeed. */
  readonly error?: string;
}

/** How the whole group ended. Members are in start order. */
export interface AgentGroupResult<R = unknown> {
  readonly groupId: string;
  readonly members: readonly AgentGroupMember<R>[];
  readonly succeeded: number;
  readonly failed: number;
}

/** What a group needs from its supervisor. */
export interface AgentGroupHost {
  readonly ids: IdGenerator;
  publish(event: KernelEvent): void;
  /** Checks a spec without starting it (throws `INVALID_ARGUMENT`). */
  validate(spec: AgentSpec): void;
  spawn(spec: AgentSpec): Promise<AgentGroupMemberHandle>;
}

/** A started member. */
export interface AgentGroupMemberHandle {
  readonly id: string;
  wait(): Promise<AgentOutcome>;
  kill(): Promise<AgentOutcome>;
}

/** Starts the group, waits for every member, and reports. */
export async function runAgentGroup<R>(
  host: AgentGroupHost,
  input: AgentGroupInput,
  options: AgentGroupOptions = {},
): Promise<AgentGroupResult<R>> {
  const specs = groupSpecs(input, options.count);
  for (const spec of specs) host.validate(spec);
  const groupId = host.ids();
  host.publish({ type: 'AgentGroupCreated', groupId, agentCount: specs.length });
  const started: AgentGroupMemberHandle[] = [];
  const onAbort = (): void => {
    for (const member of started) void member.kill().catch(() => undefined);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (const spec of specs) {
      if (options.signal?.aborted === true) break;
      try {
        started.push(await host.spawn(spec));
      } catch (error) {
        // The supervisor refused (closed or escalated): take down the members already started.
        await Promise.all(started.map((m) => m.kill().catch(() => undefined)));
        throw error;
      }
    }
    if (options.signal?.aborted === true) onAbort();
    const members = await Promise.all(
      started.map(async (handle): Promise<AgentGroupMember<R>> => {
        const id = handle.id;
        const outcome = await handle.wait();
        const success = outcome.reason === 'completed';
        host.publish({ type: 'AgentGroupMemberCompleted', groupId, agentId: id, success });
        const member: AgentGroupMember<R> = {
          agentId: id,
          name: outcome.name,
          success,
          reason: outcome.reason,
        };
        if (success) return { ...member, result: outcome.result as R };
        return {
          ...member,
          error: outcome.failure?.message ?? `Agent "${outcome.name}" was stopped`,
        };
      }),
    );
    const succeeded = members.filter((m) => m.success).length;
    return { groupId, members, succeeded, failed: members.length - succeeded };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function groupSpecs(input: AgentGroupInput, count: number | undefined): readonly AgentSpec[] {
  if (Array.isArray(input)) {
    if (count !== undefined)
      throw new KernelError(
        'INVALID_ARGUMENT',
        'A group takes either a list of specs or one spec with `count`, not both',
      );
    if (input.length === 0)
      throw new KernelError('INVALID_ARGUMENT', 'A group needs at least one member spec');
    return input as readonly AgentSpec[];
  }
  const n = count ?? 1;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new KernelError(
      'INVALID_ARGUMENT',
      `Group count must be a positive integer, got ${String(n)}`,
    );
  return Array.from({ length: n }, () => input as AgentSpec);
}

/**
 * Process agent definitions on the log (stream `agent-definitions`), so a kernel opening its
 * store defines them again and resumes their unfinished runs with no user action — a daemon
 * restarted after `kill -9` carries on. `define` appends the spec; the latest per name wins.
 * In-process definitions (a `run` function) are not stored: code cannot be.
 *
 * @module
 */
import { KernelError } from '../errors.js';
import type { LogStore } from '../storage/log.js';
import { createLogView, type LogCodec, type LogView } from '../storage/log-view.js';
import type { AgentDefinition } from './run-engine.js';
import { validateProcessDefinition, type ProcessAgentDefinition } from './process-run.js';

/** The stream holding process agent definitions. */
export const DEFINITIONS_STREAM = 'agent-definitions';

/** A durable agent: in-process code (`run`) or a process (`process`). */
export type DurableAgentDefinition<I = unknown, O = unknown> =
  AgentDefinition<I, O> | ProcessAgentDefinition;

/** Whether a definition is a process agent's. */
export function isProcessDefinition(value: unknown): value is ProcessAgentDefinition {
  return typeof value === 'object' && value !== null && 'process' in value;
}

type StoredDefinition = ProcessAgentDefinition & { readonly atMs: number };

const CODEC: LogCodec<StoredDefinition, StoredDefinition> = {
  encode: (d) => ({
    timeMs: d.atMs,
    body: JSON.stringify(d),
    kind: 'agent.defined',
    subject: d.name,
  }),
  decode: (record) => {
    try {
      return JSON.parse(record.body) as StoredDefinition;
    } catch {
      throw new KernelError(
        'CORRUPT_VALUE',
        `Agent definition record #${String(record.seq)} is not JSON; verify the log (kerno audit verify)`,
      );
    }
  },
  committed: (_record, d) => d,
};

/** The definitions view. */
export function definitionsView(log: LogStore): LogView<StoredDefinition, StoredDefinition> {
  return createLogView({ log, stream: DEFINITIONS_STREAM, codec: CODEC });
}

/** Stores a process definition durably (validated first). */
export async function storeDefinition(
  view: LogView<StoredDefinition, StoredDefinition>,
  definition: ProcessAgentDefinition,
  nowMs: number,
): Promise<ProcessAgentDefinition> {
  const valid = validateProcessDefinition(definition);
  await view.write([{ ...valid, atMs: nowMs }]);
  return valid;
}

/** The stored definitions, the latest per name (a record that no longer validates is skipped). */
export async function loadDefinitions(
  view: LogView<StoredDefinition, StoredDefinition>,
  onInvalid: (name: string, error: unknown) => void,
): Promise<ProcessAgentDefinition[]> {
  const latest = new Map<string, ProcessAgentDefinition>();
  for await (const stored of view.replay()) {
    const { atMs: _at, ...definition } = stored;
    try {
      latest.set(stored.name, validateProcessDefinition(definition));
    } catch (error) {
      onInvalid(String(stored.name), error);
    }
  }
  return [...latest.values()];
}

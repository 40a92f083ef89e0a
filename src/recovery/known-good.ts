/**
 * Known-good configs: the config of an agent's latest healthy run, kept in the registry as the
 * target of a rollback.
 *
 * @example
 * const knownGood = createKnownGoodConfigs(registry);
 * await knownGood.remember('worker', { version: 1 });
 * await knownGood.get('worker'); // { version: 1 }
 *
 * @module
 */
import type { Registry } from '../registry/registry.js';

/** Where an agent's configs live in the registry. */
export const agentConfigKeys = {
  /** The config of the agent's latest healthy run. */
  knownGood: (name: string): string => `agents/${name}/known-good-config`,
  /** The config of the durable agent's latest completed run (its runs' rollback target). */
  runKnownGood: (agent: string): string => `runs/${agent}/known-good-config`,
} as const;

/** Reads and writes agents' known-good configs. */
export interface KnownGoodConfigs {
  /** Records `config` as the agent's rollback target (an undefined config is not recorded). */
  remember(name: string, config: unknown): Promise<void>;
  /** The agent's rollback target, or undefined when it never had a healthy run. */
  get(name: string): Promise<unknown>;
}

/** Creates the known-good config store on a registry. */
export function createKnownGoodConfigs(
  registry: Pick<Registry, 'setConfig' | 'tryGetConfig'>,
  keyOf: (name: string) => string = agentConfigKeys.knownGood,
): KnownGoodConfigs {
  return {
    async remember(name, config) {
      if (config === undefined) return;
      await registry.setConfig(keyOf(name), config);
    },
    get: (name) => registry.tryGetConfig(keyOf(name)),
  };
}

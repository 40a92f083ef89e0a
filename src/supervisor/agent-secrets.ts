/**
 * Per-agent secrets, granted by name: a process spec's `secrets: ['api_token']` (or
 * `{ name, env }`) becomes an environment variable in that agent alone, its value fetched at
 * spawn time through a {@link SecretResolver} the composition root supplies (the registry's
 * encrypted config). The supervisor never sees the registry, and agents never see its key.
 *
 * @module
 */
import { KernelError } from '../errors.js';

/** One secret a spec asks for: the registry config key, or the key and the variable to set. */
export type AgentSecretRef = string | { readonly name: string; readonly env?: string | undefined };

/** One grant to resolve: which agent gets which secret under which variable. */
export interface AgentSecretGrant {
  readonly agentName: string;
  /** The registry config key. */
  readonly secret: string;
  /** The environment variable it is passed as. */
  readonly env: string;
}

/**
 * Fetches a granted secret's value (and records the grant: names, never the value). An unknown
 * name rejects with a typed error (`CONFIG_NOT_FOUND` from the registry).
 */
export type SecretResolver = (grant: AgentSecretGrant) => Promise<string>;

/** The variable a bare secret name becomes: `api-token` → `API_TOKEN`. */
export function secretEnvName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

/** The grants a spec asks for, in order. */
export function secretGrants(
  agentName: string,
  refs: readonly AgentSecretRef[],
): AgentSecretGrant[] {
  return refs.map((ref) => {
    const secret = typeof ref === 'string' ? ref : ref.name;
    const env = typeof ref === 'string' ? secretEnvName(ref) : (ref.env ?? secretEnvName(ref.name));
    return { agentName, secret, env };
  });
}

/** Resolves every grant into the agent's extra environment. */
export async function resolveAgentSecrets(
  agentName: string,
  refs: readonly AgentSecretRef[] | undefined,
  resolver: SecretResolver | undefined,
): Promise<Record<string, string> | undefined> {
  if (refs === undefined || refs.length === 0) return undefined;
  if (resolver === undefined)
    throw new KernelError(
      'INVALID_ARGUMENT',
      `Agent "${agentName}" asks for secrets but this supervisor has no secret source; run it in a kernel (createKernel) or give createSupervisor a secrets resolver`,
    );
  const env: Record<string, string> = {};
  for (const grant of secretGrants(agentName, refs)) env[grant.env] = await resolver(grant);
  return env;
}

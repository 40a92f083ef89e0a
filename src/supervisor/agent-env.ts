/**
 * The environment a process agent starts with. Agents are often third-party code, so they get
 * an explicit allow-list of the daemon's variables (enough to find binaries, locale and temp
 * dirs), never the daemon's own `KERNO_*` / `OXIDE_*` settings: those include the registry's
 * master key. Whatever the spec's `env` names is added on top.
 *
 * @module
 */

/** Daemon variables an agent inherits by exact name. */
export const AGENT_ENV_ALLOW: readonly string[] = [
  'PATH',
  'HOME',
  'LANG',
  'TZ',
  'TMPDIR',
  'USER',
  'SHELL',
  'TERM',
];

/** Prefixes never inherited from the daemon, whatever else allows them. */
const DENIED_PREFIXES: readonly string[] = ['KERNO_', 'OXIDE_'];

function allowed(name: string): boolean {
  if (DENIED_PREFIXES.some((prefix) => name.startsWith(prefix))) return false;
  return AGENT_ENV_ALLOW.includes(name) || name.startsWith('LC_');
}

/** The allow-listed subset of `source` (the daemon's environment by default). */
export function inheritedAgentEnv(source: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(source)) {
    if (value !== undefined && allowed(name)) env[name] = value;
  }
  return env;
}

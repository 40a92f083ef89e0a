/**
 * `kerno agents ls|spawn|kill`.
 *
 * @module
 */
import type { Command } from 'commander';
import type { AgentInfo } from '../../supervisor/agent.js';
import { daemon, opts, parseJsonOption, print } from '../common.js';
import type { CliContext } from '../output.js';

function rows(list: readonly AgentInfo[]) {
  return {
    headers: ['id', 'name', 'kind', 'status', 'restarts', 'pid', 'last error'],
    rows: list.map((a) => [
      a.id,
      a.name,
      a.kind,
      a.outcome === null || a.outcome === undefined || a.outcome === a.status
        ? a.status
        : `${a.status} (${a.outcome})`,
      a.restarts,
      a.pid ?? '',
      (a.lastError ?? '').slice(0, 60),
    ]),
  };
}

/** Registers the `agents` commands. */
export function registerAgentCommands(program: Command, ctx: CliContext): void {
  const agents = program.command('agents').description('supervised agents');
  agents
    .command('ls')
    .description('list agents with status and restart counts')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const { agents: list } = await daemon(o).json<{ agents: AgentInfo[] }>('GET', '/api/agents');
      print(ctx, o, list, () => (list.length === 0 ? 'no agents\n' : rows(list)));
    });
  agents
    .command('spawn <name> <command> [args...]')
    .description(
      'start a process agent (any language; JSON lines on stdio, see docs/agent-protocol.md)',
    )
    .option('--restart <type>', 'permanent | transient | temporary (default transient)')
    .option('--cwd <dir>', 'working directory')
    .option('--env <KEY=VALUE...>', 'extra environment variables')
    .option(
      '--secret <NAME[=VAR]...>',
      'registry config keys granted to this agent as environment variables (VAR default: NAME upper-cased)',
    )
    .option('--config <json>', 'config handed to the agent (KERNO_AGENT_CONFIG)')
    .option('--no-recovery', 'plain restarts, without the self-healing loop')
    .option('--json', 'print JSON')
    .action(async (name: string, command: string, args: string[], _o: unknown, cmd: Command) => {
      const o = opts<{
        restart?: string;
        cwd?: string;
        env?: string[];
        secret?: string[];
        config?: string;
        recovery: boolean;
      }>(cmd);
      const env: Record<string, string> = {};
      for (const pair of o.env ?? []) {
        const i = pair.indexOf('=');
        if (i > 0) env[pair.slice(0, i)] = pair.slice(i + 1);
      }
      const secrets = (o.secret ?? []).map((s) => {
        const i = s.indexOf('=');
        return i > 0 ? { name: s.slice(0, i), env: s.slice(i + 1) } : s;
      });
      const body = {
        name,
        command,
        args,
        ...(Object.keys(env).length > 0 ? { env } : {}),
        ...(secrets.length > 0 ? { secrets } : {}),
        ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
        ...(o.restart === undefined ? {} : { restart: o.restart }),
        ...(o.config === undefined ? {} : { config: parseJsonOption(o.config, '--config') }),
        ...(o.recovery ? {} : { recovery: false }),
      };
      const info = await daemon(o).json<AgentInfo>('POST', '/api/agents', body);
      print(
        ctx,
        o,
        info,
        () => `started ${info.name} (${info.id})${info.pid === null ? '' : ` pid ${info.pid}`}\n`,
      );
    });
  agents
    .command('kill <id>')
    .description('stop an agent (SIGTERM, then SIGKILL after the grace period)')
    .option('--json', 'print JSON')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const r = await daemon(o).json<{ id: string; reason: string; status: string }>(
        'DELETE',
        `/api/agents/${encodeURIComponent(id)}`,
      );
      print(ctx, o, r, () => `stopped ${r.id} (${r.status})\n`);
    });
}

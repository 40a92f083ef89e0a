/**
 * The `kerno` command line.
 *
 * @module
 */
import { Command, CommanderError } from 'commander';
import { ERROR_HINTS, errorMessage, isKernelError } from '../errors.js';
import { registerAgentCommands } from './commands/agents.js';
import { registerApprovalCommands } from './commands/approvals.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerEventCommands } from './commands/events.js';
import { registerLearningCommands } from './commands/learning.js';
import { registerLedgerCommands } from './commands/ledger.js';
import { registerMcpCommand } from './commands/mcp.js';
import { registerPolicyCommands } from './commands/policies.js';
import { registerRecoveryCommands } from './commands/recovery.js';
import { registerRegistryCommands } from './commands/registry.js';
import { registerRunCommands } from './commands/runs.js';
import { registerStatusCommands } from './commands/status.js';
import { registerTokenCommands } from './commands/tokens.js';
import { registerUpCommand } from './commands/up.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { processIo, type CliContext, type CliIo } from './output.js';
import { VERSION } from './version.js';

/** Builds the command tree. */
export function createProgram(ctx: CliContext): Command {
  const program = new Command('kerno')
    .description(
      'kerno: a kernel for AI-agent systems (supervision, event bus, audit, ledger, registry, learning)',
    )
    .version(VERSION, '-v, --version')
    .configureOutput({
      writeOut: (s) => ctx.io.stdout(s),
      writeErr: (s) => ctx.io.stderr(s),
    })
    .option('--home <dir>', 'state folder (default: KERNO_HOME or ./.kerno)')
    .option(
      '--url <url>',
      'daemon URL (default: KERNO_URL, <state>/daemon.json, or http://127.0.0.1:7420)',
    )
    .option('--token <token>', 'API token (default: KERNO_TOKEN or <state>/token)')
    .exitOverride()
    .showHelpAfterError('(run kerno --help for usage)');
  registerUpCommand(program, ctx);
  registerStatusCommands(program, ctx);
  registerAgentCommands(program, ctx);
  registerRunCommands(program, ctx);
  registerEventCommands(program, ctx);
  registerLedgerCommands(program, ctx);
  registerAuditCommands(program, ctx);
  registerApprovalCommands(program, ctx);
  registerLearningCommands(program, ctx);
  registerRecoveryCommands(program, ctx);
  registerRegistryCommands(program, ctx);
  registerPolicyCommands(program, ctx);
  registerTokenCommands(program, ctx);
  registerMcpCommand(program, ctx);
  return program;
}

/** Runs the CLI with `argv` (without `node` and the script) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const ctx: CliContext = { io, exitCode: EXIT.OK };
  const program = createProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version are successes; help shown because no command was given is a usage error.
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
        ? EXIT.OK
        : EXIT.USAGE;
    }
    const code = exitCodeFor(error);
    io.stderr(
      isKernelError(error)
        ? `kerno: ${error.code}: ${errorMessage(error)}\n  ${ERROR_HINTS[error.code]}\n`
        : `kerno: ${errorMessage(error)}\n`,
    );
    return code;
  }
}

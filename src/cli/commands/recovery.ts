/**
 * `kerno recovery show|verify <dir> <run_id>`: recovery artifacts (aivcs format).
 *
 * @module
 */
import type { Command } from 'commander';
import { readRecoveryArtifact } from '../../recovery/recovery-artifact.js';
import { opts, print } from '../common.js';
import type { CliContext } from '../output.js';

/** Registers the `recovery` commands. */
export function registerRecoveryCommands(program: Command, ctx: CliContext): void {
  const recovery = program
    .command('recovery')
    .description('read and verify recovery artifacts (<dir>/<run_id>/recovery.json + .digest)');
  recovery
    .command('show <dir> <runId>')
    .description('print a recovery log after checking its digest')
    .option('--json', 'print the log as JSON')
    .action(async (dir: string, runId: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const log = await readRecoveryArtifact(runId, dir);
      print(ctx, o, log, () => {
        const lines = [
          `run        ${log.run_id}`,
          `outcome    ${log.outcome} after ${log.attempts_used} attempt(s) (evaluated ${log.evaluated_at})`,
          `failure    [${log.initial_failure.stage}] ${log.initial_failure.message}`,
          ...log.decisions.map(
            (d) =>
              `attempt ${d.attempt}  ${d.failure_class.padEnd(11)} → ${d.action.padEnd(13)} ${d.rationale}`,
          ),
        ];
        if (log.final_failure !== null)
          lines.push(`still      [${log.final_failure.stage}] ${log.final_failure.message}`);
        return lines.join('\n') + '\n';
      });
    });
  recovery
    .command('verify <dir> <runId>')
    .description('check recovery.json against recovery.digest (exit 1 on mismatch)')
    .option('--json', 'print JSON')
    .action(async (dir: string, runId: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const log = await readRecoveryArtifact(runId, dir);
      print(ctx, o, { ok: true, run_id: log.run_id }, () => `ok: ${runId} matches its digest\n`);
    });
}

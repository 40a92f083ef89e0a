/**
 * `kerno recovery ls|get`: the recovery runs the kernel recorded (daemon, or a store with
 * --store); `kerno recovery show|verify <dir> <run_id>`: recovery artifacts (aivcs format).
 *
 * @module
 */
import type { Command } from 'commander';
import { KernelError } from '../../errors.js';
import { readRecoveryArtifact } from '../../recovery/recovery-artifact.js';
import type { StoredRecovery } from '../../recovery/recovery-store.js';
import type { RecoveryLog } from '../../recovery/recovery-types.js';
import { escapeControl } from '../../util/escape.js';
import { STORE_OPTION, opts, parseLimit, print, viaStoreOrDaemon } from '../common.js';
import type { CliContext } from '../output.js';

/** Registers the `recovery` commands. */
export function registerRecoveryCommands(program: Command, ctx: CliContext): void {
  const recovery = program
    .command('recovery')
    .description('read and verify recovery artifacts (<dir>/<run_id>/recovery.json + .digest)');
  recovery
    .command('ls')
    .description('recovery runs the kernel recorded, oldest first')
    .option('--agent <name>', 'only this agent’s runs')
    .option('--limit <n>', 'the newest n (default 50, at most 1000)')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ agent?: string; limit?: string; store?: string }>(cmd);
      const limit = parseLimit(o.limit, 1000) ?? 50;
      const q = new URLSearchParams({ limit: String(limit) });
      if (o.agent !== undefined) q.set('agent', o.agent);
      const runs = await viaStoreOrDaemon(
        o,
        async (k) =>
          o.agent === undefined
            ? k.recoveries.recent(limit)
            : (await k.recoveries.forAgent(o.agent, limit)).map((log) => ({
                agent: o.agent!,
                log,
              })),
        async (d) => (await d.json<{ runs: StoredRecovery[] }>('GET', `/api/recovery?${q}`)).runs,
      );
      print(ctx, o, runs, () =>
        runs.length === 0
          ? 'no recovery runs\n'
          : {
              headers: ['run', 'agent', 'outcome', 'attempts', 'evaluated', 'failure'],
              rows: runs.map((r) => [
                r.log.run_id,
                clean(r.agent),
                r.log.outcome,
                r.log.attempts_used,
                r.log.evaluated_at,
                clean(`[${r.log.initial_failure.stage}] ${r.log.initial_failure.message}`).slice(
                  0,
                  60,
                ),
              ]),
            },
      );
    });
  recovery
    .command('get <runId>')
    .description('one recorded recovery run with its decisions')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (runId: string, _o: unknown, cmd: Command) => {
      const o = opts<{ store?: string }>(cmd);
      const run = await viaStoreOrDaemon(
        o,
        async (k) => {
          const found = await k.recoveries.get(runId);
          if (found === undefined) throw new KernelError('NOT_FOUND', `No recovery run ${runId}`);
          return found;
        },
        (d) => d.json<StoredRecovery>('GET', `/api/recovery/${encodeURIComponent(runId)}`),
      );
      print(ctx, o, run, () => `agent      ${clean(run.agent)}\n${logText(run.log)}`);
    });
  recovery
    .command('show <dir> <runId>')
    .description('print a recovery log after checking its digest')
    .option('--json', 'print the log as JSON')
    .action(async (dir: string, runId: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const log = await readRecoveryArtifact(runId, dir);
      print(ctx, o, log, () => logText(log));
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

const clean = (text: string): string => escapeControl(text).replace(/[\n\t]/g, ' ');

/** A recovery log as text (agent-controlled text escaped). */
function logText(log: RecoveryLog): string {
  const lines = [
    `run        ${clean(log.run_id)}`,
    `outcome    ${log.outcome} after ${log.attempts_used} attempt(s) (evaluated ${log.evaluated_at})`,
    `failure    [${log.initial_failure.stage}] ${clean(log.initial_failure.message)}`,
    ...log.decisions.map(
      (d) =>
        `attempt ${d.attempt}  ${d.failure_class.padEnd(11)} → ${d.action.padEnd(13)} ${clean(d.rationale)}`,
    ),
  ];
  if (log.final_failure !== null)
    lines.push(`still      [${log.final_failure.stage}] ${clean(log.final_failure.message)}`);
  return lines.join('\n') + '\n';
}

/**
 * `kerno queues`: the concurrency and rate limits with their slots in use and the runs (and
 * steps) queued under each, in the order they start. Limits are policies of kind `limit`
 * (`kerno policies set limit <name> --spec '{"agent":"research","maxConcurrent":2}'`).
 *
 * @module
 */
import type { Command } from 'commander';
import type { LimitQueue, LimitSpec } from '../../policies/limits.js';
import { escapeControl } from '../../util/escape.js';
import { STORE_OPTION, opts, print, viaStoreOrDaemon } from '../common.js';
import type { CliContext } from '../output.js';

const clean = (text: string): string => escapeControl(text).replace(/[\n\t]/g, ' ');

function describe(spec: LimitSpec): string {
  const on = spec.agent !== undefined ? `agent ${spec.agent}` : `key ${spec.key ?? ''}`;
  const parts = [on];
  if (spec.maxConcurrent !== undefined) parts.push(`max ${spec.maxConcurrent}`);
  if (spec.ratePerSec !== undefined) parts.push(`${spec.ratePerSec}/s burst ${spec.burst ?? 1}`);
  return clean(parts.join(', '));
}

/** Registers `queues`. */
export function registerQueueCommands(program: Command, ctx: CliContext): void {
  program
    .command('queues')
    .description('limits with their slots in use and the queued runs, by position')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ store?: string }>(cmd);
      const queues = await viaStoreOrDaemon(
        o,
        async (k) => k.limits.queues(),
        async (d) => (await d.json<{ queues: LimitQueue[] }>('GET', '/api/queues')).queues,
      );
      print(ctx, o, queues, () => {
        if (queues.length === 0) {
          return 'no limits (set one with kerno policies set limit <name> --spec \'{"agent":"research","maxConcurrent":2}\')\n';
        }
        const rows: unknown[][] = [];
        for (const q of queues) {
          if (q.queued.length === 0)
            rows.push([q.limit, describe(q.spec), q.inUse, '', '', '', '']);
          for (const e of q.queued) {
            rows.push([
              q.limit,
              describe(q.spec),
              q.inUse,
              e.position,
              e.runId,
              clean(e.step ?? e.agent ?? ''),
              e.priority,
            ]);
          }
        }
        return {
          headers: ['limit', 'on', 'in use', 'position', 'run', 'agent / step', 'priority'],
          rows,
        };
      });
    });
}

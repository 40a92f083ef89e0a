/**
 * `kerno events tail`: follow the live event stream (SSE) of the daemon.
 *
 * @module
 */
import type { Command } from 'commander';
import { KernelError } from '../../errors.js';
import { daemon, opts, parseLimit } from '../common.js';
import type { CliContext } from '../output.js';

/** Registers the `events` commands. */
export function registerEventCommands(program: Command, ctx: CliContext): void {
  const events = program.command('events').description('watch kernel events');
  events
    .command('tail')
    .description('print kernel events as they happen (Ctrl-C to stop)')
    .option('--type <types>', 'only these event types (comma-separated)')
    .option('--since <id>', 'replay from after this event id')
    .option('--limit <n>', 'stop after n events')
    .option('--json', 'print one JSON object per line')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ type?: string; since?: string; limit?: string }>(cmd);
      const limit = parseLimit(o.limit, Number.MAX_SAFE_INTEGER) ?? Number.POSITIVE_INFINITY;
      if (o.since !== undefined && !/^\d+$/.test(o.since))
        throw new KernelError(
          'INVALID_QUERY',
          `--since must be an event id (a non-negative integer), got "${o.since.slice(0, 40)}"`,
        );
      if (limit === 0) return;
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      let seen = 0;
      try {
        // Reconnects after a drop (a daemon restart, a proxy timeout) and resumes after the last
        // recorded event printed: none of those is printed twice or skipped. Run steps' events
        // are not recorded (their record is the run's journal): they come while connected, with
        // no id of their own, and print as "live".
        const stream = daemon(o).call(async (api) => {
          for await (const e of api.events.stream({
            types: o.type?.split(','),
            since: o.since === undefined ? undefined : Number(o.since),
            signal: ac.signal,
            maxReconnects: Number.POSITIVE_INFINITY,
          })) {
            // JSON.stringify escapes control characters: agent text cannot drive the terminal.
            const data = JSON.stringify(e.data);
            if (o.json === true)
              ctx.io.stdout(
                e.live === true
                  ? `{"id":null,"live":true,"event":${data}}\n`
                  : `{"id":${e.id},"event":${data}}\n`,
              );
            else
              ctx.io.stdout(
                `${(e.live === true ? 'live' : String(e.id)).padStart(8)}  ${e.type.padEnd(26)} ${data}\n`,
              );
            if (++seen >= limit) break;
          }
        });
        await stream;
      } catch (error) {
        if ((error as Error).name !== 'AbortError') throw error;
      } finally {
        ac.abort();
        process.off('SIGINT', stop);
      }
    });
}

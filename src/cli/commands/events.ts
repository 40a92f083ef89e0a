/**
 * `kerno events tail`: follow the live event stream (SSE) of the daemon.
 *
 * @module
 */
import type { Command } from 'commander';
import { daemon, opts } from '../common.js';
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
      const limit = o.limit === undefined ? Number.POSITIVE_INFINITY : Number(o.limit);
      const q = new URLSearchParams();
      if (o.type !== undefined) q.set('types', o.type);
      if (o.since !== undefined) q.set('since', o.since);
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      let seen = 0;
      try {
        const res = await daemon(o).request('GET', `/api/events?${q.toString()}`, {
          signal: ac.signal,
        });
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        while (seen < limit) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i: number;
          while ((i = buf.indexOf('\n\n')) !== -1 && seen < limit) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const id = /^id: (.*)$/m.exec(frame)?.[1];
            const type = /^event: (.*)$/m.exec(frame)?.[1];
            const data = /^data: (.*)$/m.exec(frame)?.[1];
            if (id === undefined || data === undefined) continue;
            seen++;
            if (o.json === true) ctx.io.stdout(`{"id":${id},"event":${data}}\n`);
            else ctx.io.stdout(`${id.padStart(8)}  ${(type ?? '').padEnd(26)} ${data}\n`);
          }
        }
        ac.abort();
      } catch (error) {
        if ((error as Error).name !== 'AbortError') throw error;
      } finally {
        process.off('SIGINT', stop);
      }
    });
}

/**
 * `kerno learning inspect|import|export|recall`: RVLS files, locally or with the daemon.
 *
 * @module
 */
import { stat, writeFile } from 'node:fs/promises';
import { KernelError } from '../../errors.js';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { openLearningStore } from '../../learning/learning-store.js';
import type { RecallHit } from '../../learning/recall.js';
import { daemon, openInput, opts, print } from '../common.js';
import { createProgress, type CliContext } from '../output.js';

/** Registers the `learning` commands. */
export function registerLearningCommands(program: Command, ctx: CliContext): void {
  const learning = program
    .command('learning')
    .description('inspect, import, export and query learning stores (RVLS files)');

  learning
    .command('inspect <file>')
    .description('summarise an RVLS file: counts, domains, EWC state, skipped lines')
    .option('--json', 'print JSON')
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      await mustExist(file);
      const store = await openLearningStore(file, { readOnly: true });
      try {
        const stats = store.stats();
        const domains = new Map<string, number>();
        for (const p of store.getAllPatterns())
          domains.set(p.domain, (domains.get(p.domain) ?? 0) + 1);
        const ewc = store.getEwc();
        const summary = {
          file,
          ...stats,
          domains: Object.fromEntries([...domains].sort((a, b) => b[1] - a[1])),
          ewc: {
            tasks_learned: ewc.tasks_learned,
            protection_strength: ewc.protection_strength,
            tasks: Object.keys(ewc.task_weights).length,
          },
        };
        print(ctx, o, summary, () => {
          const lines = [
            `${file}`,
            `  patterns      ${stats.patternCount}`,
            `  trajectories  ${stats.trajectoryCount}`,
            `  EWC tasks     ${ewc.tasks_learned} (protection strength ${ewc.protection_strength})`,
            `  skipped lines ${stats.skippedRecords}`,
            `  domains       ${[...domains].map(([d, n]) => `${d} (${n})`).join(', ') || '—'}`,
          ];
          return lines.join('\n') + '\n';
        });
      } finally {
        await store.close();
      }
    });

  learning
    .command('recall <file> <query...>')
    .description('rank the patterns of an RVLS file against a query')
    .option('-k, --k <n>', 'how many (default 5)', '5')
    .option('--domain <name>', 'only this domain')
    .option('--json', 'print JSON')
    .action(async (file: string, words: string[], _o: unknown, cmd: Command) => {
      const o = opts<{ k: string; domain?: string }>(cmd);
      const store = await openLearningStore(file, { readOnly: true });
      try {
        const hits = store.recall(words.join(' '), {
          k: Number(o.k),
          ...(o.domain === undefined ? {} : { domain: o.domain }),
        });
        printHits(ctx, o, hits);
      } finally {
        await store.close();
      }
    });

  learning
    .command('import <file>')
    .description(
      "merge an RVLS file into the daemon's learning store (all or nothing: a malformed line imports nothing and is named)",
    )
    .option('--replace-ewc', 'also replace the EWC state with the file’s')
    .option('--skip-invalid', 'skip malformed lines (as oxios loads) instead of importing nothing')
    .option('--json', 'print JSON')
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const o = opts<{ replaceEwc?: boolean; skipInvalid?: boolean }>(cmd);
      const progress = createProgress(ctx.io, 'importing');
      const input = openInput(file, (read, total) => progress.update(read, total));
      const q = new URLSearchParams();
      if (o.replaceEwc === true) q.set('replaceEwc', 'true');
      if (o.skipInvalid === true) q.set('skipInvalid', 'true');
      const res = await daemon(o).request(
        'POST',
        `/api/learning/import${q.size > 0 ? `?${q.toString()}` : ''}`,
        {
          body: Readable.toWeb(input) as ReadableStream,
          contentType: 'application/octet-stream',
        },
      );
      progress.done();
      const result = (await res.json()) as {
        patterns: number;
        trajectories: number;
        ewcReplaced: boolean;
        skipped: number;
      };
      print(
        ctx,
        o,
        result,
        () =>
          `merged ${result.patterns} patterns and ${result.trajectories} trajectories; skipped ${result.skipped} lines${result.ewcReplaced ? '; EWC replaced' : ''}\n`,
      );
    });

  learning
    .command('export <file>')
    .description("write the daemon's learning store to an RVLS file")
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const res = await daemon(o).request('GET', '/api/learning/export');
      const bytes = new Uint8Array(await res.arrayBuffer());
      await writeFile(file, bytes);
      ctx.io.stderr(`wrote ${bytes.length} bytes to ${file}\n`);
    });
}

function printHits(ctx: CliContext, o: { json?: boolean }, hits: readonly RecallHit[]): void {
  print(ctx, o, hits, () => ({
    headers: ['score', 'similarity', 'domain', 'id', 'strategy'],
    rows: hits.map((h) => [
      h.score.toFixed(4),
      h.similarity.toFixed(4),
      h.pattern.domain,
      h.pattern.id,
      h.pattern.strategy.slice(0, 80),
    ]),
  }));
}

/**
 * A file to inspect must exist: opening a missing path read-only would summarise an empty
 * store and exit 0, hiding a typo.
 */
async function mustExist(file: string): Promise<void> {
  try {
    await stat(file);
  } catch (e) {
    throw new KernelError('NOT_FOUND', `No such file: ${file}`, {
      cause: e,
      details: { path: file },
    });
  }
}

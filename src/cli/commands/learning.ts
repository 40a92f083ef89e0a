/**
 * `kerno learning inspect|import|export|recall`: RVLS files (and oxios memory.db imports),
 * locally, with the daemon or a store.
 *
 * @module
 */
import { stat, writeFile } from 'node:fs/promises';
import { KernelError } from '../../errors.js';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { openLearningStore } from '../../learning/learning-store.js';
import type { RecallHit } from '../../learning/recall.js';
import {
  daemon,
  openInput,
  opts,
  persistImportedLearning,
  print,
  withStore,
  type GlobalOptions,
} from '../common.js';
import {
  importOxiosMemory,
  importRvls,
  type LearningImportResult,
  type OxiosMemoryImportResult,
} from '../../learning/learning-import.js';
import { readOxiosMemory, type OxiosMemoryDatabase } from '../../formats/oxios-memory.js';
import { defaultEwcState } from '../../formats/learning-records.js';
import { encodeRvls } from '../../formats/rvls.js';
import { loadSqlite } from '../../storage/sqlite/sqlite-driver.js';
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
    .command('import [file]')
    .description(
      "merge an RVLS file, or the patterns of an oxios memory.db (--oxios-memory), into the daemon's learning store (or a store with --store); all or nothing: a malformed line imports nothing and is named",
    )
    .option('--oxios-memory <db>', 'import the `patterns` table of an oxios memory.db (1.0–1.39)')
    .option('--replace-ewc', 'also replace the EWC state with the file’s (RVLS only)')
    .option(
      '--skip-invalid',
      'skip malformed RVLS lines (as oxios loads) instead of importing nothing',
    )
    .option('--store <url>', 'import into this store directly instead of the daemon')
    .option('--json', 'print JSON')
    .action(async (file: string | undefined, _o: unknown, cmd: Command) => {
      const o = opts<{
        replaceEwc?: boolean;
        skipInvalid?: boolean;
        oxiosMemory?: string;
        store?: string;
      }>(cmd);
      if ((file === undefined) === (o.oxiosMemory === undefined)) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          'Give either an RVLS file or --oxios-memory <memory.db>, not both or neither',
        );
      }
      if (o.oxiosMemory !== undefined) {
        const result = await importOxiosMemoryFile(o.oxiosMemory, o);
        print(
          ctx,
          o,
          result,
          () =>
            `merged ${result.patterns} patterns from ${o.oxiosMemory}` +
            (result.embeddingsDropped > 0
              ? `; ${result.embeddingsDropped} dense embeddings not kept (kerno recalls by TF-IDF over the strategy)`
              : '') +
            '\n',
        );
        return;
      }
      const progress = createProgress(ctx.io, 'importing');
      const input = openInput(file!, (read, total) => progress.update(read, total));
      let result: LearningImportResult;
      if (o.store !== undefined) {
        result = await withStore(
          o.store,
          async (k) => {
            const r = await importRvls(k.learning, input, {
              source: file!,
              replaceEwc: o.replaceEwc === true,
              skipInvalid: o.skipInvalid === true,
            });
            await persistImportedLearning(k);
            return r;
          },
          { learning: true, home: o.home },
        );
      } else {
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
        result = (await res.json()) as LearningImportResult;
      }
      progress.done();
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

/**
 * Imports the patterns of an oxios memory.db: into a store directly (`--store`), or read here
 * and sent to the daemon as RVLS through its import route (the same merge either way).
 */
async function importOxiosMemoryFile(
  file: string,
  o: GlobalOptions & { store?: string },
): Promise<OxiosMemoryImportResult> {
  await mustExist(file);
  const Database = await loadSqlite();
  let db;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new KernelError(
      'INVALID_UPSTREAM_FILE',
      `${file} could not be opened as SQLite (${(error as Error).message}); expected an oxios memory.db`,
      { cause: error, details: { path: file } },
    );
  }
  const source: OxiosMemoryDatabase = db;
  try {
    if (o.store !== undefined) {
      return await withStore(
        o.store,
        async (k) => {
          const r = importOxiosMemory(k.learning, source, { source: file });
          await persistImportedLearning(k);
          return r;
        },
        { learning: true, home: o.home },
      );
    }
    const read = readOxiosMemory(source, file);
    const rvls = encodeRvls({ patterns: read.patterns, trajectories: [], ewc: defaultEwcState() });
    const res = await daemon(o).request('POST', '/api/learning/import', {
      body: rvls,
      contentType: 'application/octet-stream',
    });
    const merged = (await res.json()) as LearningImportResult;
    return {
      patterns: merged.patterns,
      embeddingsDropped: read.embeddingsDropped,
      weightsKept: read.weightsKept,
    };
  } finally {
    db.close();
  }
}

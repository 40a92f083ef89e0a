/**
 * `npm run bench`: every benchmark, side by side with its peer in the same run, in one table.
 * `npm run bench -- --only bus,audit` runs some suites; `--json <file>` also writes the rows,
 * `--markdown <file>` the table as Markdown. Each suite runs in a fresh process (peers measured
 * beside kerno in that same process), so no suite measures the heap and workers another left.
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { renderMarkdown, renderTable, type BenchRow, type BenchSuite } from './harness.js';
import { apiSuite } from './suites/api.js';
import { floodSuite } from './suites/flood.js';
import { auditSuite } from './suites/audit.js';
import { budgetsSuite } from './suites/budgets.js';
import { busSuite } from './suites/bus.js';
import { learningSuite } from './suites/learning.js';
import { ledgerSuite } from './suites/ledger.js';
import { natsSuite } from './suites/nats.js';
import { postgresSuite } from './suites/postgres.js';
import { registrySuite } from './suites/registry.js';
import { rulesSuite } from './suites/rules.js';
import { runsSuite } from './suites/runs.js';
import { schedulingSuite } from './suites/scheduling.js';
import { supervisorSuite } from './suites/supervisor.js';
import { verifySuite } from './suites/verify.js';

const SUITES: readonly BenchSuite[] = [
  busSuite,
  auditSuite,
  ledgerSuite,
  registrySuite,
  learningSuite,
  supervisorSuite,
  apiSuite,
  floodSuite,
  postgresSuite,
  natsSuite,
  runsSuite,
  schedulingSuite,
  verifySuite,
  budgetsSuite,
  rulesSuite,
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

/** A suite still running after this long is killed and reported failed. */
const SUITE_TIMEOUT_MS = Number(process.env['KERNO_BENCH_SUITE_TIMEOUT_MS'] ?? 20 * 60_000);

/** Runs one suite in a fresh process, so no suite measures another's heap and workers. */
function runIsolated(suite: BenchSuite): Promise<BenchRow[]> {
  return new Promise((resolve, reject) => {
    const child = fork(process.argv[1]!, ['--child', suite.name], {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let rows: BenchRow[] | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, SUITE_TIMEOUT_MS);
    child.on('message', (message) => (rows = message as BenchRow[]));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (rows !== undefined) resolve(rows);
      else if (timedOut) reject(new Error(`timed out after ${SUITE_TIMEOUT_MS / 60_000} min`));
      else reject(new Error(`exited with ${signal ?? code} before reporting`));
    });
  });
}

const child = arg('--child');
if (child !== undefined) {
  const suite = SUITES.find((s) => s.name === child);
  if (suite === undefined) throw new Error(`no suite ${child}`);
  const rows = await suite.run();
  process.send?.(rows, () => process.exit(0));
} else {
  const only = arg('--only')?.split(',');
  const rows: BenchRow[] = [];
  for (const suite of SUITES) {
    if (only !== undefined && !only.includes(suite.name)) continue;
    process.stderr.write(`running ${suite.name} …\n`);
    const t0 = performance.now();
    try {
      rows.push(...(await runIsolated(suite)));
    } catch (error) {
      process.exitCode = 1;
      process.stderr.write(`  ${suite.name} FAILED: ${(error as Error).message}\n`);
      rows.push({
        group: suite.name,
        name: `${suite.name} suite`,
        value: 0,
        unit: '',
        failed: true,
        note: `failed: ${(error as Error).message}`,
      });
    }
    process.stderr.write(
      `  ${suite.name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );
  }
  console.log(renderTable(rows));
  const jsonFile = arg('--json');
  if (jsonFile !== undefined) writeFileSync(jsonFile, JSON.stringify(rows, null, 2) + '\n');
  const markdownFile = arg('--markdown');
  if (markdownFile !== undefined) writeFileSync(markdownFile, renderMarkdown(rows) + '\n');
}

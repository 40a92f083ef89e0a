/**
 * `npm run bench`: every benchmark, side by side with its peer in the same run, in one table.
 * `npm run bench -- --only bus,audit` runs some suites; `--json <file>` also writes the rows.
 */
import { writeFileSync } from 'node:fs';
import { renderTable, type BenchRow, type BenchSuite } from './harness.js';
import { apiSuite } from './suites/api.js';
import { auditSuite } from './suites/audit.js';
import { busSuite } from './suites/bus.js';
import { learningSuite } from './suites/learning.js';
import { ledgerSuite } from './suites/ledger.js';
import { natsSuite } from './suites/nats.js';
import { postgresSuite } from './suites/postgres.js';
import { registrySuite } from './suites/registry.js';
import { supervisorSuite } from './suites/supervisor.js';

const SUITES: readonly BenchSuite[] = [
  busSuite,
  auditSuite,
  ledgerSuite,
  registrySuite,
  learningSuite,
  supervisorSuite,
  apiSuite,
  postgresSuite,
  natsSuite,
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

const only = arg('--only')?.split(',');
const rows: BenchRow[] = [];
for (const suite of SUITES) {
  if (only !== undefined && !only.includes(suite.name)) continue;
  process.stderr.write(`running ${suite.name} …\n`);
  const t0 = performance.now();
  rows.push(...(await suite.run()));
  process.stderr.write(
    `  ${suite.name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
}
console.log(renderTable(rows));
const jsonFile = arg('--json');
if (jsonFile !== undefined) writeFileSync(jsonFile, JSON.stringify(rows, null, 2) + '\n');

/**
 * `kerno/testing`: the contract suites kerno runs on its own backends, for running against
 * yours. They are written for vitest (an optional peer dependency) and import it only here, so
 * `import 'kerno'` never loads it.
 *
 * @example
 * import { logContract } from 'kerno/testing';
 * logContract('my-store', async () => { const log = await openMine(); return { log, close: () => log.close() }; }, { durable: true });
 *
 * @module
 */
export { take, type BackendHarness } from './harness.js';
export { logContract, type LogHarness } from './log-contract.js';
export { logViewContract, type LogTamper, type LogViewHarness } from './log-view-contract.js';
export { ledgerContract, type LedgerContractOptions } from './ledger-contract.js';
export { registryContract } from './registry-contract.js';
export { busContract } from './bus-contract.js';
export {
  learningPersistenceContract,
  storageLearningContract,
  SNAPSHOT,
  pattern,
} from './learning-persistence-contract.js';

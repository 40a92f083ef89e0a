import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ledgerContract } from '../../src/testing/ledger-contract.js';
import { BACKENDS, SQLITE_INLINE } from '../helpers/stores.js';

const convergeEnvelopes = JSON.parse(
  readFileSync(join(import.meta.dirname, '../fixtures/ledger/converge-envelopes.json'), 'utf8'),
) as unknown[];

for (const [name, backend] of Object.entries({
  ...BACKENDS,
  'sqlite (inline writer)': SQLITE_INLINE,
})) {
  ledgerContract(name, () => backend.open(), { convergeEnvelopes });
}

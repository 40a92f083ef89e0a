import { BACKENDS, SQLITE_INLINE } from '../helpers/stores.js';
import { registryContract } from '../../src/testing/registry-contract.js';

for (const [name, backend] of Object.entries({
  ...BACKENDS,
  'sqlite (inline writer)': SQLITE_INLINE,
})) {
  registryContract(name, () => backend.open(), { durable: backend.durable });
}

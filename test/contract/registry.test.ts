import { BACKENDS } from '../helpers/stores.js';
import { registryContract } from '../../src/testing/registry-contract.js';

for (const [name, backend] of Object.entries(BACKENDS)) {
  registryContract(name, () => backend.open(), { durable: backend.durable });
}

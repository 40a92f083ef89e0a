import { BACKENDS } from '../helpers/stores.js';
import { ledgerContract } from './ledger-contract.js';

for (const [name, backend] of Object.entries(BACKENDS)) ledgerContract(name, () => backend.open());

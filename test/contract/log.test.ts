import { BACKENDS, SQLITE_INLINE } from '../helpers/stores.js';
import { logContract } from '../../src/testing/log-contract.js';

for (const [name, backend] of Object.entries({
  ...BACKENDS,
  'sqlite (inline writer)': SQLITE_INLINE,
})) {
  logContract(
    name,
    async () => {
      const h = await backend.open();
      return {
        get log() {
          return h.storage.log;
        },
        ...(h.reopen === undefined ? {} : { reopen: async () => (await h.reopen!()).log }),
        close: () => h.close(),
      };
    },
    { durable: backend.durable },
  );
}

import { createMemoryBus, createNatsBus } from '../../src/index.js';
import {
  NATS_URL,
  deleteStreams,
  describeWith,
  natsSkipReason,
  uniquePrefix,
} from '../helpers/nats.js';
import { busContract } from '../../src/testing/bus-contract.js';

busContract('memory', async (options) => {
  const bus = createMemoryBus(options);
  return { bus, close: () => bus.close() };
});

describeWith(await natsSkipReason(), 'NATS JetStream', () => {
  busContract('nats', async (options) => {
    const bus = await createNatsBus({
      ...options,
      servers: NATS_URL,
      subjectPrefix: uniquePrefix(),
    });
    return {
      bus,
      close: async () => {
        await bus.close();
        await deleteStreams([bus.streamName]);
      },
    };
  });
});

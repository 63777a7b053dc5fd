import { Lockstep } from '@lockstep/merchant';
import { createMockGateway } from '@lockstep/merchant/testing';
import { setupServer } from 'msw/node';
import { merchantContract } from './contract.ts';

merchantContract('msw mock gateway', async () => {
  const mock = await createMockGateway();
  const server = setupServer(...mock.handlers);
  server.listen();
  return {
    lockstep: new Lockstep({ apiKey: mock.secretKey, baseUrl: mock.baseUrl }),
    buyer: mock.buyer,
    merchantBalanceMinor: mock.merchantBalanceMinor,
    async close() {
      server.close();
      await mock.close();
    },
  };
});

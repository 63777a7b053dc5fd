import { Lockstep } from '@lockstep/merchant';
import { createMockGateway } from '@lockstep/merchant/testing';
import { setupServer } from 'msw/node';
import { merchantContract } from './contract.ts';

merchantContract('msw mock gateway', async () => {
  // No fees, as the real gateway the same suite runs against is started (contract-gateway).
  const mock = await createMockGateway({ commission: { creation: {}, withdrawal: {} } });
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

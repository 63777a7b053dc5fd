import { describe, expect, it, vi } from 'vitest';
import { startTestGateway } from '../support/gateway.ts';
import { account, checkout, closedAfterEach, orderReaches, startShop } from './shop-harness.ts';

const cleanup = closedAfterEach();

/**
 * The example shop hears of a pay-later order whose pay deadline passed part paid: the order
 * reads `refunding` while the buyer takes its part back, then `refunded` (helper-88: it kept
 * saying "Waiting for your pay-in" and ended `cancelled`, as if nothing had been paid).
 */
describe('the example shop and a buyer who did not pay up in time', () => {
  it('a part-paid order is refunding once the pay deadline passes, refunded once the buyer took it back', async () => {
    // Only Date is faked: timers and the webhooks' signatures run as usual.
    vi.useFakeTimers({ toFake: ['Date'] });
    cleanup(async () => vi.useRealTimers());
    const gw = await startTestGateway({ listen: true });
    cleanup(() => gw.close());
    const handle = await startShop(gw);
    cleanup(() => handle.stop());
    const buyer = await gw.buyerToken();
    const order = await checkout(handle);
    const created = await gw.request('POST', '/v1/temporary-accounts', {
      token: buyer,
      body: { invoice: order.invoiceToken, payLater: true },
    });
    const code = created.body.code as string;
    await orderReaches(handle, order.id, 'awaiting_funds');
    await vi.waitFor(
      async () =>
        expect(
          (await account(gw, code)).parties.find((party: { role: string }) => party.role === 'seller')
            .lockPpm,
        ).toBe(1_000_000),
      { timeout: 10_000 },
    );
    const some = await gw.request('POST', `/v1/temporary-accounts/${code}/deposit`, {
      token: buyer,
      body: { amountMinor: 1_000 },
    });
    expect(some.status).toBe(200);
    vi.setSystemTime(Date.now() + 8 * 86_400_000);
    expect((await gw.gateway.deadlineSweep?.sweep())?.passed).toBe(1);
    await orderReaches(handle, order.id, 'refunding');
    const back = await gw.request('POST', `/v1/temporary-accounts/${code}/withdraw`, {
      token: await gw.buyerToken(),
      body: {},
    });
    expect(back.body.status).toBe('dissolved');
    await orderReaches(handle, order.id, 'refunded');
  }, 60_000);
});

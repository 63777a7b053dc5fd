import { describe, expect, it, vi } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import {
  account,
  adminAuth,
  adminPost,
  buyerPays,
  checkout,
  closedAfterEach,
  orderReaches,
  type ShopHandle,
  startShop,
} from './shop-harness.ts';

const cleanup = closedAfterEach();

/** A gateway and the example shop, with Date faked so a test moves the clock past a deadline. */
async function shopWithClock() {
  // Only Date is faked: timers and the webhooks' signatures run as usual. It goes on running
  // from where a test set it: frozen, a webhook delivery that failed once under load was never
  // due for its retry (the worker schedules by the clock), and the order never moved (the full
  // suite at f6a93fd, once).
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
  cleanup(async () => vi.useRealTimers());
  const gw = await startTestGateway({ listen: true });
  cleanup(() => gw.close());
  const handle = await startShop(gw);
  cleanup(() => handle.stop());
  return { gw, handle };
}

/** The buyer takes all it paid back: the deal closes, and the order reads `refunded`. */
async function buyerTakesItBack(gw: TestGateway, handle: ShopHandle, orderId: string, code: string) {
  const back = await gw.request('POST', `/v1/temporary-accounts/${code}/withdraw`, {
    token: await gw.buyerToken(),
    body: {},
  });
  expect(back.body.status).toBe('dissolved');
  await orderReaches(handle, orderId, 'refunded');
}

/**
 * The example shop hears of a pay-later order whose pay deadline passed part paid: the order
 * reads `refunding` while the buyer takes its part back, then `refunded` (helper-88: it kept
 * saying "Waiting for your pay-in" and ended `cancelled`, as if nothing had been paid).
 */
describe('the example shop and a buyer who did not pay up in time', () => {
  it('a part-paid order is refunding once the pay deadline passes, refunded once the buyer took it back', async () => {
    const { gw, handle } = await shopWithClock();
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
    await buyerTakesItBack(gw, handle, order.id, code);
  }, 60_000);
});

/**
 * The example shop that did not ship in time: the bank took its lock off for good and refuses a
 * late shipment, so the order reads `refunding` and the admin offers no Mark shipped (helper-89:
 * it read "being packed", the admin shipped, and the buyer took all its money back).
 */
describe('the example shop that did not ship in time', () => {
  it('a funded order is refunding once the ship deadline passes; shipping is not offered, and refused', async () => {
    const { gw, handle } = await shopWithClock();
    const order = await checkout(handle, 'cups');
    const code = await buyerPays(gw, order.invoiceToken);
    await orderReaches(handle, order.id, 'funded');
    const adminPage = async () =>
      (
        await handle.shop.app.request(`${handle.url}/admin`, { headers: { authorization: adminAuth } })
      ).text();
    expect(await adminPage()).toContain(`/admin/orders/${order.id}/ship`);
    vi.setSystemTime(Date.now() + 15 * 86_400_000);
    expect((await gw.gateway.deadlineSweep?.sweep())?.passed).toBe(1);
    await orderReaches(handle, order.id, 'refunding');
    expect(await adminPage()).not.toContain(`/admin/orders/${order.id}/ship`);
    const shipped = await adminPost(
      handle,
      `/admin/orders/${order.id}/ship`,
      'carrier=Yamato&trackingNumber=T-1',
    );
    expect(shipped.status).toBe(409);
    // The bank refuses it too, whatever a shop's own book says.
    const late = await gw.request('POST', `/v1/temporary-accounts/${code}/ship`, {
      token: gw.seed.secretKey,
      body: { carrier: 'Yamato', trackingNumber: 'T-1' },
    });
    expect([late.status, late.body.error?.code]).toEqual([409, 'deadline_passed']);
    expect((await account(gw, code)).shipment).toBeNull();
    await buyerTakesItBack(gw, handle, order.id, code);
  }, 60_000);
});

/**
 * An order left unpaid past its invoice's hour: its pay page offers a new invoice, so the buyer
 * can still pay it (helper-89: the page offered the expired one for ever, the widget said "ask
 * the shop for a new one", and the shop had no way to give one).
 */
describe('the example shop and an order whose invoice expired unpaid', () => {
  it('the pay page issues a new invoice; the old one stays refused, the new one pays the order', async () => {
    const { gw, handle } = await shopWithClock();
    const order = await checkout(handle, 'cups');
    const payPage = async () => {
      const response = await handle.shop.app.request(`${handle.url}/orders/${order.id}/pay`);
      expect(response.status).toBe(200);
      return /invoice="([^"]+)"/.exec(await response.text())?.[1];
    };
    expect(await payPage()).toBe(order.invoiceToken);
    // Just past its hour: kept a few minutes (the shop's clock may run ahead of the bank's).
    vi.setSystemTime(Date.now() + 3_600_000 + 60_000);
    expect(await payPage()).toBe(order.invoiceToken);
    vi.setSystemTime(Date.now() + 3_600_000);
    const fresh = await payPage();
    expect(fresh).toBeTruthy();
    expect(fresh).not.toBe(order.invoiceToken);
    // Asked again, the same new invoice (not one per page view).
    expect(await payPage()).toBe(fresh);
    const stale = await gw.request('POST', '/v1/temporary-accounts', {
      token: await gw.buyerToken(),
      body: { invoice: order.invoiceToken },
    });
    expect([stale.status, stale.body.error?.code]).toEqual([410, 'invoice_expired']);
    const code = await buyerPays(gw, fresh as string);
    await orderReaches(handle, order.id, 'funded');
    expect(handle.shop.orders.get(order.id)?.accountCode).toBe(code);
  }, 60_000);
});

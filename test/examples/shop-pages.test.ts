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

/**
 * The example shop's pages as a buyer and its admin meet them (helper-75's walk-through): whose
 * orders "Your orders" lists, where a paid order's pay page leads, what a refund looks like.
 */
const cleanup = closedAfterEach();

async function shopAndGateway(
  options: Parameters<typeof startTestGateway>[0] = {},
): Promise<{ gw: TestGateway; handle: ShopHandle }> {
  const gw = await startTestGateway({ listen: true, ...options });
  cleanup(() => gw.close());
  const handle = await startShop(gw);
  cleanup(() => handle.stop());
  return { gw, handle };
}

/** A GET on the shop as a browser with these cookies. */
function get(handle: ShopHandle, pathname: string, cookie = '') {
  return handle.shop.app.request(`${handle.url}${pathname}`, { headers: cookie ? { cookie } : {} });
}

/** A checkout as a browser: its order id and the cookie the shop set. */
async function browserCheckout(handle: ShopHandle, cookie = '') {
  const response = await handle.shop.app.request(`${handle.url}/checkout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
    body: 'item=cups',
  });
  expect(response.status).toBe(303);
  const orderId = String(response.headers.get('location')).split('/')[2] as string;
  const set = String(response.headers.get('set-cookie'));
  expect(set).toMatch(/HttpOnly/i);
  return { orderId, cookie: set.split(';')[0] as string };
}

/** An order paid, funded, and then reported as a problem by the buyer: disputed. */
async function disputedOrder() {
  const { gw, handle } = await shopAndGateway();
  const order = await checkout(handle);
  const code = await buyerPays(gw, order.invoiceToken);
  await orderReaches(handle, order.id, 'funded');
  const buyer = await gw.buyerToken();
  const rejected = await gw.request('POST', `/v1/temporary-accounts/${code}/reject`, {
    token: buyer,
    body: {},
  });
  expect(rejected.status).toBe(200);
  await orderReaches(handle, order.id, 'disputed');
  return { gw, handle, order, code, buyer };
}

describe('example shop pages', () => {
  it('"Your orders" lists the orders of this browser only (it listed every buyer’s to anyone)', async () => {
    const { handle } = await shopAndGateway();
    const first = await browserCheckout(handle);
    const second = await browserCheckout(handle, first.cookie);
    const other = await browserCheckout(handle);
    const mine = await (await get(handle, '/orders', second.cookie)).text();
    expect(mine).toContain(first.orderId);
    expect(mine).toContain(second.orderId);
    expect(mine).not.toContain(other.orderId);
    const stranger = await (await get(handle, '/orders')).text();
    for (const order of [first, second, other]) expect(stranger).not.toContain(order.orderId);
    expect(stranger).toContain('No orders from this browser yet.');
  });

  it('a paid order’s pay page leads to its order page (it said only "already paid")', async () => {
    const { gw, handle } = await shopAndGateway();
    const order = await checkout(handle);
    expect((await get(handle, `/orders/${order.id}/pay`)).status).toBe(200);
    await buyerPays(gw, order.invoiceToken);
    await orderReaches(handle, order.id, 'funded');
    const again = await get(handle, `/orders/${order.id}/pay`);
    expect(again.status).toBe(303);
    expect(again.headers.get('location')).toBe(`/orders/${order.id}`);
    // The order page keeps the shop's status current (its script polls the status endpoint).
    const orderPage = await (await get(handle, `/orders/${order.id}`)).text();
    expect(orderPage).toContain('<script src="/shop.js" defer></script>');
    // In words for the buyer; the code for the script beside them.
    expect(orderPage).toContain('data-status="funded">Paid: being packed</strong>');
    const shipped = await adminPost(
      handle,
      `/admin/orders/${order.id}/ship`,
      'carrier=Yamato&trackingNumber=T-9',
    );
    expect(shipped.status).toBe(303);
    expect(await (await get(handle, `/orders/${order.id}/status`)).json()).toMatchObject({
      status: 'shipped',
      statusText: 'Shipped',
      carrier: 'Yamato',
      trackingNumber: 'T-9',
    });
  });

  it('a refund shows as "refunding" until the buyer takes the money back, then "refunded"', async () => {
    const { gw, handle, order, code, buyer } = await disputedOrder();
    expect((await adminPost(handle, `/admin/orders/${order.id}/refund`)).status).toBe(303);
    expect(handle.shop.orders.get(order.id)?.status).toBe('refunding');
    const adminPage = await (
      await handle.shop.app.request(`${handle.url}/admin`, {
        headers: { authorization: adminAuth },
      })
    ).text();
    expect(adminPage).toContain('Our lock is off: the buyer takes the money back at the bank.');
    // Refunding twice is refused: the order is no longer disputed.
    expect((await adminPost(handle, `/admin/orders/${order.id}/refund`)).status).toBe(409);
    const back = await gw.request('POST', `/v1/temporary-accounts/${code}/withdraw`, {
      token: buyer,
      body: {},
    });
    expect(back.body.status).toBe('dissolved');
    await orderReaches(handle, order.id, 'refunded');
  });

  it('a buyer who pays later (rule 7): the order awaits the money, ships once paid in; one never paid is cancelled', async () => {
    const { gw, handle } = await shopAndGateway();
    const buyer = await gw.buyerToken();
    const payLater = async (invoice: string) => {
      const created = await gw.request('POST', '/v1/temporary-accounts', {
        token: buyer,
        body: { invoice, payLater: true },
      });
      expect(created.status).toBe(201);
      return created.body.code as string;
    };
    const admin = async () =>
      (
        await handle.shop.app.request(`${handle.url}/admin`, { headers: { authorization: adminAuth } })
      ).text();

    const paid = await checkout(handle);
    const code = await payLater(paid.invoiceToken);
    await orderReaches(handle, paid.id, 'awaiting_funds');
    // The shop links the order first, then locks (its webhook handler): wait for the lock.
    await vi.waitFor(
      async () =>
        expect(
          (await account(gw, code)).parties.find((party: { role: string }) => party.role === 'seller'),
        ).toMatchObject({ lockPpm: 1_000_000 }),
      { timeout: 10_000 },
    );
    expect(await admin()).toContain('The buyer pays later; ship once it is funded.');
    expect(await admin()).toContain('Cancel the order (any part paid goes back to the buyer)');
    expect(
      (await adminPost(handle, `/admin/orders/${paid.id}/ship`, 'carrier=Yamato&trackingNumber=T-1')).status,
    ).toBe(409);
    const paidIn = await gw.request('POST', `/v1/temporary-accounts/${code}/deposit`, {
      token: buyer,
      body: { amountMinor: paid.amountMinor },
    });
    expect(paidIn.body.status).toBe('funded');
    await orderReaches(handle, paid.id, 'funded');

    const unpaid = await checkout(handle);
    const unpaidCode = await payLater(unpaid.invoiceToken);
    await orderReaches(handle, unpaid.id, 'awaiting_funds');
    expect((await adminPost(handle, `/admin/orders/${unpaid.id}/cancel`)).status).toBe(303);
    expect(handle.shop.orders.get(unpaid.id)?.status).toBe('cancelled');
    expect((await account(gw, unpaidCode)).status).toBe('dissolved');
    // The account.dissolved webhook that follows changes nothing (not "refunded").
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(handle.shop.orders.get(unpaid.id)?.status).toBe('cancelled');

    // Part paid in: cancelling turns the shop's lock off, the buyer takes its part back.
    const part = await checkout(handle);
    const partCode = await payLater(part.invoiceToken);
    await orderReaches(handle, part.id, 'awaiting_funds');
    const some = await gw.request('POST', `/v1/temporary-accounts/${partCode}/deposit`, {
      token: buyer,
      body: { amountMinor: 1_000 },
    });
    expect(some.body).toMatchObject({ status: 'awaiting_funds', balanceMinor: 1_000 });
    expect((await adminPost(handle, `/admin/orders/${part.id}/cancel`)).status).toBe(303);
    expect(handle.shop.orders.get(part.id)?.status).toBe('refunding');
    // The bank takes no more money into the cancelled deal (the rest would fund a deal with no
    // order behind it), and says why.
    const rest = await gw.request('POST', `/v1/temporary-accounts/${partCode}/deposit`, {
      token: buyer,
      body: { amountMinor: part.amountMinor - 1_000 },
    });
    expect(rest.status).toBe(409);
    expect(rest.body.error.code).toBe('deal_cancelled');
    const back = await gw.request('POST', `/v1/temporary-accounts/${partCode}/withdraw`, {
      token: buyer,
      body: {},
    });
    expect(back.body).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
    await orderReaches(handle, part.id, 'refunded');

    // The buyer closes its own unpaid deal at the bank: the shop hears of it and cancels.
    const dropped = await checkout(handle);
    const droppedCode = await payLater(dropped.invoiceToken);
    await orderReaches(handle, dropped.id, 'awaiting_funds');
    const closed = await gw.request('POST', `/v1/temporary-accounts/${droppedCode}/dissolve`, {
      token: buyer,
      body: {},
    });
    expect(closed.body.status).toBe('dissolved');
    await orderReaches(handle, dropped.id, 'cancelled');
  });

  it('a paid order the shop will not ship is cancelled: the buyer takes all it paid back, the bank’s creation fee too (helper-90)', async () => {
    // The shop could only release its lock, and the bank kept the buyer's ¥100 fee.
    const { gw, handle } = await shopAndGateway({
      commission: { creation: { JPY: { flatMinor: 100, basisPoints: 0 } }, withdrawal: {} },
    });
    const order = await checkout(handle);
    const code = await buyerPays(gw, order.invoiceToken);
    await orderReaches(handle, order.id, 'funded');
    const page = await (
      await handle.shop.app.request(`${handle.url}/admin`, { headers: { authorization: adminAuth } })
    ).text();
    expect(page).toContain('Cancel the order (the buyer gets all its money back)');
    expect((await adminPost(handle, `/admin/orders/${order.id}/cancel`)).status).toBe(303);
    expect(handle.shop.orders.get(order.id)?.status).toBe('refunding');
    const cancelled = await account(gw, code);
    expect(cancelled).toMatchObject({
      status: 'awaiting_funds',
      balanceMinor: order.amountMinor + 100,
      deadlines: { cancelled: true },
      mayShip: false,
    });
    // Nothing ships now, neither from the shop's page nor at the bank.
    expect(
      (await adminPost(handle, `/admin/orders/${order.id}/ship`, 'carrier=Yamato&trackingNumber=T-1')).status,
    ).toBe(409);
    const buyer = await gw.buyerToken();
    const back = await gw.request('POST', `/v1/temporary-accounts/${code}/withdraw`, {
      token: buyer,
      body: {},
    });
    expect(back.body).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
    await orderReaches(handle, order.id, 'refunded');
    expect((await gw.admin.reconcile()).balanced).toBe(true);
  });

  it('shipping an order whose buyer reported a problem before its webhook came is refused with the reason (helper-79)', async () => {
    const { handle, order } = await disputedOrder();
    // The shop's book still says funded: the buyer's deal.rejected has not reached it yet.
    handle.shop.orders.transition(order.id, ['disputed'], 'funded');
    const shipped = await adminPost(
      handle,
      `/admin/orders/${order.id}/ship`,
      'carrier=Yamato&trackingNumber=T-1',
    );
    expect(shipped.status).toBe(409);
    expect(await shipped.text()).toMatch(/^Not shipped: The buyer already rejected this deal/);
    expect(handle.shop.orders.get(order.id)?.status).toBe('funded');
  });

  it('the bank decides the dispute for the buyer: the order reads refunding, no refund offered, refunded once taken back (helper-89)', async () => {
    const { gw, handle, order, code, buyer } = await disputedOrder();
    await gw.admin.resolveDispute(code, 'buyer', 'arrived broken');
    // It stayed "Problem reported: the shop is looking into it", offering to release our lock.
    await orderReaches(handle, order.id, 'refunding', 15_000);
    const admin = await (
      await handle.shop.app.request(`${handle.url}/admin`, { headers: { authorization: adminAuth } })
    ).text();
    expect(admin).not.toContain(`/admin/orders/${order.id}/refund`);
    const back = await gw.request('POST', `/v1/temporary-accounts/${code}/withdraw`, {
      token: buyer,
      body: {},
    });
    expect(back.body.status).toBe('dissolved');
    await orderReaches(handle, order.id, 'refunded', 15_000);
  });

  it('a refund offered, then the bank decides the dispute for the shop: the shop takes the payment (helper-77)', async () => {
    const { gw, handle, order, code } = await disputedOrder();
    expect((await adminPost(handle, `/admin/orders/${order.id}/refund`)).status).toBe(303);
    await gw.admin.resolveDispute(code, 'seller', 'the goods were fine');
    await orderReaches(handle, order.id, 'completed', 15_000);
    expect((await account(gw, code)).status).toBe('dissolved');
  });
});

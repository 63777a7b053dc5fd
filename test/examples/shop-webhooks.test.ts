import { describe, expect, it } from 'vitest';
import { OrderBook } from '../../examples/shop/src/orders.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { waitFor } from '../support/receiver.ts';
import {
  account,
  adminPost,
  buyerPays,
  checkout,
  closedAfterEach,
  flakyProxy,
  orderReaches,
  type ShopHandle,
  startShop,
} from './shop-harness.ts';

const cleanup = closedAfterEach();

async function gateway(): Promise<TestGateway> {
  const gw = await startTestGateway({ listen: true });
  cleanup(() => gw.close());
  return gw;
}

/** Order paid, funded and shipped through the shop; returns the order id and account code. */
async function shippedOrder(gw: TestGateway, handle: Pick<ShopHandle, 'shop' | 'url'>) {
  const order = await checkout(handle);
  const code = await buyerPays(gw, order.invoiceToken);
  await orderReaches(handle, order.id, 'funded');
  const shipped = await adminPost(
    handle,
    `/admin/orders/${order.id}/ship`,
    'carrier=Yamato&trackingNumber=T-1',
  );
  expect(shipped.status).toBe(303);
  expect(handle.shop.orders.get(order.id)?.status).toBe('shipped');
  return { orderId: order.id, code };
}

describe('example shop webhooks: outages and crashes', () => {
  it('happy path: accept -> the shop takes the payment and completes the order', async () => {
    const gw = await gateway();
    const handle = await startShop(gw);
    cleanup(() => handle.stop());
    const { orderId, code } = await shippedOrder(gw, handle);
    const buyer = await gw.buyerToken();
    expect(
      (await gw.request('POST', `/v1/temporary-accounts/${code}/accept`, { token: buyer, body: {} })).status,
    ).toBe(200);
    await orderReaches(handle, orderId, 'completed');
    expect((await account(gw, code)).status).toBe('dissolved');
  });

  it('the buyer turns its lock off at its bank instead of accepting: the shop takes the payment then, not at the verdict deadline', async () => {
    const gw = await gateway();
    const handle = await startShop(gw);
    cleanup(() => handle.stop());
    const { orderId, code } = await shippedOrder(gw, handle);
    const buyer = await gw.buyerToken();
    const unlocked = await gw.request('POST', `/v1/temporary-accounts/${code}/unlock`, {
      token: buyer,
      body: {},
    });
    expect([unlocked.status, unlocked.body.verdict]).toEqual([200, null]);
    await orderReaches(handle, orderId, 'completed');
    expect((await account(gw, code)).status).toBe('dissolved');
    expect((await gw.admin.reconcile()).balanced).toBe(true);
  });

  it('a shop stopped while it handles deal.accepted finishes the handling before its order book closes', async () => {
    const gw = await gateway();
    const handle = await startShop(gw);
    const { orderId, code } = await shippedOrder(gw, handle);
    // The withdrawal is under way when the shop is told to stop.
    const withdraw = handle.shop.lockstep.temporaryAccounts.withdraw.bind(
      handle.shop.lockstep.temporaryAccounts,
    );
    let stopping: Promise<void> | undefined;
    handle.shop.lockstep.temporaryAccounts.withdraw = (async (...args: Parameters<typeof withdraw>) => {
      stopping ??= handle.shop.close();
      await new Promise((resolve) => setTimeout(resolve, 300));
      return withdraw(...args);
    }) as never;
    const buyer = await gw.buyerToken();
    expect(
      (await gw.request('POST', `/v1/temporary-accounts/${code}/accept`, { token: buyer, body: {} })).status,
    ).toBe(200);
    await waitFor(() => stopping !== undefined, 10_000);
    await stopping;
    await handle.stop();
    // The order book, opened again as the next start would: the order was completed, not left
    // half-way by a database closed under the handler ("database is not open").
    const reopened = new OrderBook(handle.databasePath);
    try {
      expect(reopened.get(orderId)?.status).toBe('completed');
    } finally {
      reopened.close();
    }
    expect((await account(gw, code)).status).toBe('dissolved');
    expect(handle.webhookLog.find((entry) => entry.type === 'deal.accepted')?.status).toBe(200);
  });

  it('a transient gateway outage during the withdrawal on deal.accepted: the retried webhook takes the payment', async () => {
    const gw = await gateway();
    const proxy = await flakyProxy(gw.url);
    cleanup(() => proxy.close());
    const handle = await startShop(gw, { gatewayUrl: proxy.url });
    cleanup(() => handle.stop());
    const { orderId, code } = await shippedOrder(gw, handle);
    // The gateway answers 503 to the shop's withdrawal three times (the SDK's call + its 2 retries).
    proxy.fail((method, url) => method === 'POST' && url.endsWith('/withdraw'), 3);
    const buyer = await gw.buyerToken();
    expect(
      (await gw.request('POST', `/v1/temporary-accounts/${code}/accept`, { token: buyer, body: {} })).status,
    ).toBe(200);
    // The shop answered the delivery of deal.accepted with an error, and the gateway retried it.
    await waitFor(
      () => handle.webhookLog.filter((entry) => entry.type === 'deal.accepted').length >= 2,
      15_000,
    );
    const attempts = handle.webhookLog.filter((entry) => entry.type === 'deal.accepted');
    expect(attempts[0]?.status).toBe(500);
    expect(attempts.at(-1)?.status).toBe(200);
    expect(proxy.failed.length).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const state = await account(gw, code);
    // Promise: the retry of the webhook takes the payment (the outage is over).
    expect(
      { order: handle.shop.orders.get(orderId)?.status, account: state.status, balance: state.balanceMinor },
      'after the retry of deal.accepted the shop has neither withdrawn nor marked the order for the admin',
    ).toEqual({ order: 'completed', account: 'dissolved', balance: 0 });
  }, 30_000);

  it('the shop crashes while handling deal.accepted: the gateway retry after restart takes the payment', async () => {
    const gw = await startTestGateway({
      listen: true,
      webhooks: { pollIntervalMs: 100, backoffBaseMs: 50, backoffMaxMs: 500, attemptTimeoutMs: 1_000 },
    });
    cleanup(() => gw.close());
    const first = await startShop(gw);
    const { orderId, code } = await shippedOrder(gw, first);
    // Crash: the process dies just as it is about to call withdraw (connections cut, nothing answers).
    let crashed = false;
    first.shop.lockstep.temporaryAccounts.withdraw = (() => {
      crashed = true;
      (first.server as unknown as { closeAllConnections(): void }).closeAllConnections();
      first.server.close();
      return new Promise(() => undefined);
    }) as never;
    const buyer = await gw.buyerToken();
    expect(
      (await gw.request('POST', `/v1/temporary-accounts/${code}/accept`, { token: buyer, body: {} })).status,
    ).toBe(200);
    await waitFor(() => crashed, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Restart the shop: same port, same order database.
    const second = await startShop(gw, {
      port: first.port,
      databasePath: first.databasePath,
      register: false,
    });
    cleanup(() => second.stop());
    await waitFor(() => second.webhookLog.some((entry) => entry.type === 'deal.accepted'), 15_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const state = await account(gw, code);
    expect(second.webhookLog.find((entry) => entry.type === 'deal.accepted')?.status).toBe(200);
    expect(
      { order: second.shop.orders.get(orderId)?.status, account: state.status, balance: state.balanceMinor },
      'the redelivered deal.accepted was swallowed as a duplicate: nothing withdrawn, order stuck',
    ).toEqual({ order: 'completed', account: 'dissolved', balance: 0 });
  }, 40_000);
});

import { describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import {
  account,
  adminPost,
  buyerPays,
  checkout,
  closedAfterEach,
  events,
  orderReaches,
  type ShopHandle,
  startShop,
} from './shop-harness.ts';

/**
 * The shop's webhook handler driven by hand with real, gateway-signed events of a real deal, in
 * an order we choose (the shop's endpoint is not registered, so the gateway delivers nothing).
 */
const cleanup = closedAfterEach();

async function deliver(gw: TestGateway, handle: Pick<ShopHandle, 'shop' | 'url'>, event: unknown) {
  const body = JSON.stringify(event);
  const response = await handle.shop.app.request(`${handle.url}/webhooks/lockstep`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'lockstep-signature': await gw.gateway.keys.signWebhook(body),
      'lockstep-event-id': (event as { id: string }).id,
      'lockstep-delivery-id': `dlv_manual_${Math.random()}`,
    },
    body,
  });
  return { status: response.status, body: await response.json() };
}

async function setup() {
  const gw = await startTestGateway({ listen: true });
  cleanup(() => gw.close());
  const handle = await startShop(gw, { register: false });
  cleanup(() => handle.stop());
  const delivered = new Set<string>();
  /** Delivers, in seq order, every event of the account not delivered yet (except `skip`). */
  const catchUp = async (code: string, skip: string[] = []) => {
    for (let round = 0; round < 5; round++) {
      const pending = (await events(gw, code)).filter((e) => !delivered.has(e.id) && !skip.includes(e.type));
      if (pending.length === 0) return;
      for (const event of pending) {
        delivered.add(event.id);
        expect((await deliver(gw, handle, event)).status).toBe(200);
      }
    }
  };
  /** An order paid through the shop, funded (its events delivered) and shipped from the admin. */
  const shippedOrder = async () => {
    const order = await checkout(handle);
    const code = await buyerPays(gw, order.invoiceToken);
    await catchUp(code);
    await orderReaches(handle, order.id, 'funded', 1);
    expect(
      (await adminPost(handle, `/admin/orders/${order.id}/ship`, 'carrier=Y&trackingNumber=1')).status,
    ).toBe(303);
    return { order, code };
  };
  return { gw, handle, delivered, catchUp, shippedOrder };
}

describe('example shop, webhooks out of order and repeated', () => {
  it('deal.accepted delivered twice: one withdrawal, order completed', async () => {
    const { gw, handle, catchUp, shippedOrder } = await setup();
    const { order, code } = await shippedOrder();
    const buyer = await gw.buyerToken();
    await gw.request('POST', `/v1/temporary-accounts/${code}/accept`, { token: buyer, body: {} });
    const accepted = (await events(gw, code)).find((e) => e.type === 'deal.accepted')!;
    const [a, b] = await Promise.all([deliver(gw, handle, accepted), deliver(gw, handle, accepted)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    await catchUp(code);
    expect(handle.shop.orders.get(order.id)?.status).toBe('completed');
    expect((await events(gw, code)).filter((e) => e.type === 'account.withdrawn')).toHaveLength(1);
  });

  it('dispute.resolved (for the seller) delivered before deal.rejected: the shop still takes the payment', async () => {
    const { gw, handle, catchUp, shippedOrder } = await setup();
    const { order, code } = await shippedOrder();
    await catchUp(code);
    const buyer = await gw.buyerToken();
    expect(
      (
        await gw.request('POST', `/v1/temporary-accounts/${code}/reject`, {
          token: buyer,
          body: { reason: 'broken' },
        })
      ).status,
    ).toBe(200);
    await gw.admin.resolveDispute(code, 'seller', 'photos show it intact');
    const all = await events(gw, code);
    const rejected = all.find((e) => e.type === 'deal.rejected')!;
    const resolved = all.find((e) => e.type === 'dispute.resolved')!;
    expect(resolved.data.for).toBe('seller');
    // Out of order: the resolution first, the rejection after it.
    expect((await deliver(gw, handle, resolved)).status).toBe(200);
    expect((await deliver(gw, handle, rejected)).status).toBe(200);
    await catchUp(code, ['deal.rejected', 'dispute.resolved']);
    const state = await account(gw, code);
    expect(
      { order: handle.shop.orders.get(order.id)?.status, account: state.status, balance: state.balanceMinor },
      'the shop ignored dispute.resolved (order was "shipped"), then marked the order "disputed" for good',
    ).toEqual({ order: 'completed', account: 'dissolved', balance: 0 });
  });
});

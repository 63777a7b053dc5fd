import { describe, expect, it } from 'vitest';
import { startTestGateway } from '../support/gateway.ts';
import { buyerPays, checkout, closedAfterEach, orderReaches, startShop } from './shop-harness.ts';

const cleanup = closedAfterEach();

describe('example shop registerWebhook', () => {
  it('after its endpoint was disabled, a restart of the shop registers a working endpoint again', async () => {
    const gw = await startTestGateway({ listen: true });
    cleanup(() => gw.close());
    const first = await startShop(gw);
    const listed = await gw.request('GET', '/v1/webhook-endpoints', { token: gw.seed.secretKey });
    expect(listed.body.data).toHaveLength(1);
    const endpointId = listed.body.data[0].id;
    // The merchant disables the endpoint (say, while the shop was down for maintenance).
    const disabled = await gw.request('POST', `/v1/webhook-endpoints/${endpointId}/disable`, {
      token: gw.seed.secretKey,
      body: {},
    });
    expect(disabled.body.enabled).toBe(false);
    await first.stop();
    // The shop restarts: main.ts calls registerWebhook() ("registers this shop's webhook endpoint once").
    const second = await startShop(gw, { port: first.port, databasePath: first.databasePath });
    cleanup(() => second.stop());
    const after = await gw.request('GET', '/v1/webhook-endpoints', { token: gw.seed.secretKey });
    const enabled = after.body.data.filter(
      (endpoint: { url: string; enabled: boolean }) =>
        endpoint.enabled && endpoint.url === `${second.url}/webhooks/lockstep`,
    );
    expect(
      after.body.data.map((e: { id: string; enabled: boolean }) => ({ id: e.id, enabled: e.enabled })),
      'registerWebhook replayed the stored answer of Idempotency-Key webhook-<url> (the old, disabled endpoint)',
    ).toContainEqual(expect.objectContaining({ enabled: true }));
    expect(enabled).toHaveLength(1);
    // And so an order is never seen as paid.
    const order = await checkout(second);
    await buyerPays(gw, order.invoiceToken);
    await orderReaches(second, order.id, 'funded', 5_000);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { runDeal, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { receiver } from '../support/receiver.ts';

/**
 * A delivery is retried for the whole give-up window from its own first attempt. Deliveries
 * queued behind a failing one of the same account wait untried; they were given up after one
 * attempt each once that one was, their events being older than the window by then
 * (helper-44's review). The window is scaled down from 3 days to 1.5 s.
 */
let gateway: TestGateway | undefined;
let hooks: Awaited<ReturnType<typeof receiver>> | undefined;
afterEach(async () => {
  await hooks?.close();
  await gateway?.close();
});

describe('webhook give-up', () => {
  it('an outage just past the window loses the first delivery only, not the backlog behind it', async () => {
    const giveUpAfterMs = 1_500;
    // Down until 300 ms after the first try of seq 2, which comes once seq 1 is given up.
    let outageUntil = Number.POSITIVE_INFINITY;
    hooks = await receiver((delivery) => {
      if (JSON.parse(delivery.body).seq === 2 && outageUntil === Number.POSITIVE_INFINITY) {
        outageUntil = Date.now() + 300;
      }
      return Date.now() < outageUntil ? 503 : 200;
    });
    gateway = await startTestGateway({
      webhooks: { pollIntervalMs: 50, backoffBaseMs: 50, backoffMaxMs: 200, giveUpAfterMs },
    });
    const seller = gateway.seed.secretKey;
    expect(
      (await gateway.request('POST', '/v1/webhook-endpoints', { token: seller, body: { url: hooks.url } }))
        .status,
    ).toBe(201);
    const code = await runDeal(gateway);
    const events = (await gateway.request('GET', `/v1/temporary-accounts/${code}/events`, { token: seller }))
      .body.data as Array<{ seq: number }>;
    const statuses = (seq: number) =>
      (hooks?.deliveries ?? [])
        .filter((delivery) => JSON.parse(delivery.body).seq === seq)
        .map((d) => d.status);
    // Every event after the first reaches the shop, in order, once the receiver is back.
    await vi.waitFor(
      () => {
        for (const { seq } of events.slice(1)) expect(statuses(seq)).toContain(200);
      },
      { timeout: 20_000, interval: 100 },
    );
    // The first was retried through the window and given up.
    expect(statuses(1).length).toBeGreaterThan(3);
    expect(statuses(1)).not.toContain(200);
  }, 40_000);
});

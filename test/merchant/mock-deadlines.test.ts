import { Lockstep, StateConflictError, WebhookSignatureError } from '@lockstep/merchant';
import { createMockGateway, type MockGateway } from '@lockstep/merchant/testing';
import { createWebhookVerifier } from '@lockstep/merchant/webhooks';
import { decodeProtectedHeader } from 'jose';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A shop's own tests of deadlines and disputes against the msw mock gateway: the mock's clock
 * moves when the test says so (`advanceTime`), and the test plays the bank in a dispute.
 */
const dayMs = 24 * 60 * 60 * 1000;
let mock: MockGateway;
let server: ReturnType<typeof setupServer>;
let lockstep: Lockstep;
let order = 0;

beforeAll(async () => {
  mock = await createMockGateway();
  server = setupServer(...mock.handlers);
  server.listen();
  lockstep = new Lockstep({ apiKey: mock.secretKey, baseUrl: mock.baseUrl });
});
afterAll(async () => {
  server.close();
  await mock.close();
});

/** An order of ¥3,000 paid by the mock's buyer and locked by the shop. */
async function lockedOrder() {
  const invoice = await lockstep.invoices.create({
    amountMinor: 3_000,
    currency: 'JPY',
    orderReference: `deadline-${order++}`,
    description: 'Matcha, 30 g',
    payeeContact: 'orders@tea.example',
  });
  const code = await mock.buyer.pay(invoice.token as string);
  const funded = await lockstep.temporaryAccounts.ensureFunded(code);
  expect(funded.funded).toBe(true);
  return code;
}

describe('the mock gateway’s deadlines and disputes', () => {
  it('a shop that does not ship in 14 days loses its lock, and the buyer takes the money back', async () => {
    const buyerBefore = await mock.buyer.balanceMinor();
    const code = await lockedOrder();
    expect(await mock.advanceTime(13 * dayMs)).toEqual({ passed: 0 });
    expect(await mock.advanceTime(2 * dayMs)).toEqual({ passed: 1 });
    const account = await lockstep.temporaryAccounts.retrieve(code);
    expect(account.deadlines.shipMissed).toBe(true);
    await expect(lockstep.temporaryAccounts.lock(code)).rejects.toBeInstanceOf(StateConflictError);
    expect((await mock.buyer.withdraw(code)).status).toBe('dissolved');
    // All but the ¥100 the demo bank (the mock's default commission) kept for opening the account.
    expect(await mock.buyer.balanceMinor()).toBe(buyerBefore - 100);
  });

  it('a buyer who reports a problem, and the bank decides for the shop: the shop is paid', async () => {
    const shopBefore = await mock.merchantBalanceMinor();
    const code = await lockedOrder();
    await lockstep.temporaryAccounts.markShipped(code, { carrier: 'Yamato', trackingNumber: 'M-1' });
    await mock.buyer.reject(code, 'arrived late');
    await mock.resolveDispute(code, 'seller', 'delivered as described');
    const paid = await lockstep.temporaryAccounts.withdraw(code);
    expect(paid.status).toBe('dissolved');
    // Less the demo bank's 1% withdrawal fee.
    expect(await mock.merchantBalanceMinor()).toBe(shopBefore + 2_970);
  });

  it("gives the shop its events as signed deliveries, for its webhook handler's own tests", async () => {
    // The mock delivers nothing itself; a shop testing its handler with verification on needs
    // deliveries the bank signed (helper-41's review: it had to switch verification off).
    const code = await lockedOrder();
    // Signed at the mock bank's clock, which the tests above moved 15 days on.
    const verifier = createWebhookVerifier({ baseUrl: mock.baseUrl, now: mock.now });
    const deliveries = await mock.deliveries(code);
    const verified = [];
    for (const delivery of deliveries) verified.push(await verifier.verify(delivery.body, delivery.headers));
    expect(verified).toEqual((await lockstep.temporaryAccounts.events(code)).data);
    // A body changed after signing is refused, as from the real gateway.
    const [first] = deliveries;
    const changed = (first?.body ?? '').replace('"seq":1', '"seq":9');
    await expect(verifier.verify(changed, first?.headers ?? {})).rejects.toBeInstanceOf(
      WebhookSignatureError,
    );
  });

  it('a verifier set up before the clock passes a signing key’s 90 days verifies the next deliveries at once, rotation after rotation (helper-104, helper-106)', async () => {
    // The key set this verifier fetched already holds the key that signs after the rotation: it
    // was refused for the verifier's 5 s refetch cooldown (WebhookUnknownKeyError).
    const verifier = createWebhookVerifier({ baseUrl: mock.baseUrl, now: mock.now });
    const [before] = await mock.deliveries(await lockedOrder());
    await verifier.verify(before?.body ?? '', before?.headers ?? {});
    await mock.advanceTime(91 * dayMs);
    const [after] = await mock.deliveries(await lockedOrder());
    const kid = (headers: Record<string, string> | undefined) =>
      decodeProtectedHeader(`${(headers?.['lockstep-signature'] ?? '').split('..')[0]}..`).kid;
    expect(kid(after?.headers)).not.toBe(kid(before?.headers));
    await expect(verifier.verify(after?.body ?? '', after?.headers ?? {})).resolves.toMatchObject({
      type: 'account.created',
    });
    // Past the next rotation too: a key the verifier never saw, looked up at once, since the
    // verifier's clock (the mock's) has moved past its refetch cooldown (helper-106).
    await mock.advanceTime(90 * dayMs);
    const [later] = await mock.deliveries(await lockedOrder());
    await expect(verifier.verify(later?.body ?? '', later?.headers ?? {})).resolves.toMatchObject({
      type: 'account.created',
    });
  });

  it('its deliveries carry the headers the gateway sends, user-agent included', async () => {
    // As service/webhooks.ts sends them; the mock left out `user-agent: Lockstep-Webhooks/1`, which
    // a shop's handler may filter on (helper-60's review).
    const [first] = await mock.deliveries(await lockedOrder());
    expect(Object.keys(first?.headers ?? {}).sort()).toEqual([
      'content-type',
      'lockstep-delivery-id',
      'lockstep-event-id',
      'lockstep-signature',
      'user-agent',
    ]);
    expect(first?.headers['user-agent']).toBe('Lockstep-Webhooks/1');
  });

  it('an idempotency key is kept 7 days, as the gateway keeps it: a retry after that runs anew', async () => {
    const code = await lockedOrder();
    const key = `unlock-${code}`;
    const first = await lockstep.temporaryAccounts.unlock(code, { idempotencyKey: key });
    await lockstep.temporaryAccounts.lock(code);
    // Within the 7 days the key answers what it answered (the lock stays on).
    await mock.advanceTime(6 * dayMs);
    const replayed = await lockstep.temporaryAccounts.unlock(code, { idempotencyKey: key });
    expect(replayed.version).toBe(first.version);
    expect(
      (await lockstep.temporaryAccounts.retrieve(code)).parties.find((p) => p.role === 'seller')?.lockPpm,
    ).toBe(1_000_000);
    // After them it is forgotten: the same call unlocks again.
    await mock.advanceTime(2 * dayMs);
    const anew = await lockstep.temporaryAccounts.unlock(code, { idempotencyKey: key });
    expect(anew.version).toBeGreaterThan(first.version);
    expect(anew.parties.find((p) => p.role === 'seller')?.lockPpm).toBe(0);
  });
});

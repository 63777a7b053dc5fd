import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * An invoice pays for nothing once it expired by the bank's clock when the payment runs, not
 * only by its signature's expiry checked before (helper-91: a payment checked just before the
 * hour could open the account after it, when the shop may have issued its order a new invoice).
 * Here the bank's clock moves on an hour between the signature check and the payment's unit.
 */
let gateway: TestGateway;
let aheadMs = 0;

beforeAll(async () => {
  gateway = await startTestGateway({ now: () => new Date(Date.now() + aheadMs) });
});
afterAll(() => gateway.close());

describe('an invoice that expires while it is being paid', () => {
  it('is refused as expired by the payment itself, and nothing is opened', async () => {
    const issued = await gateway.request('POST', '/v1/invoices', {
      token: gateway.seed.secretKey,
      body: {
        amountMinor: 1_000,
        currency: 'JPY',
        orderReference: 'expiring',
        description: 'Sencha, 100 g',
        payeeContact: 'tea@shop.test',
        expiresInSeconds: 3_600,
      },
    });
    expect(issued.status).toBe(201);
    const invoice = issued.body as { token: string };
    // The signature is checked within the hour; the payment's unit runs after it.
    const invoices = gateway.gateway.invoices;
    const verifySignature = invoices.verifySignature.bind(invoices);
    invoices.verifySignature = async (token) => {
      const claims = await verifySignature(token);
      aheadMs = 61 * 60 * 1000;
      return claims;
    };
    try {
      const paid = await gateway.request('POST', '/v1/temporary-accounts', {
        token: await gateway.buyerToken(),
        body: { invoice: invoice.token },
      });
      expect([paid.status, paid.body.error?.code]).toEqual([410, 'invoice_expired']);
    } finally {
      invoices.verifySignature = verifySignature;
      aheadMs = 0;
    }
    // Nothing was claimed: within its hour it still pays, once.
    const later = await gateway.request('POST', '/v1/temporary-accounts', {
      token: await gateway.buyerToken(),
      body: { invoice: invoice.token },
    });
    expect(later.status).toBe(201);
  });
});

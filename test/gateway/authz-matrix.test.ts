import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * Every route × every kind of caller. Nobody reads or moves what is not theirs: strangers get
 * 404 for accounts (they learn nothing), anonymous and revoked callers 401, wrong roles 403.
 * After the whole matrix, the books and the account are exactly as before.
 */
let gateway: TestGateway;
const tokens: Record<string, string | undefined> = {};
let code: string;
let invoiceId: string;
let endpointId: string;

beforeAll(async () => {
  gateway = await startTestGateway();
  tokens.anonymous = undefined;
  tokens.buyer = await gateway.buyerToken();
  tokens.otherBuyer = await gateway.login('tanaka', 'tanaka-demo-pass');
  tokens.seller = gateway.seed.secretKey;
  const other = await gateway.admin.createCustomer({
    userId: 'other-shop',
    displayName: 'Other Shop',
    password: 'other-shop-pass',
  });
  tokens.otherMerchant = (
    await gateway.admin.createMerchant(other.id, { name: 'Other Shop', allowedOrigins: [] })
  ).secretKey;
  const revoked = await gateway.admin.createApiKey(gateway.seed.sellerId, 'secret');
  await gateway.admin.revokeApiKey(gateway.seed.sellerId, revoked.record.id);
  tokens.revokedKey = revoked.key;
  const created = await gateway.request('POST', '/v1/temporary-accounts', {
    token: tokens.buyer,
    // More than the buyer has: the account awaits a pay-in, so no command in the matrix can move money.
    body: { payeeUserId: 'ibm-shop', amountMinor: 500_000, currency: 'JPY' },
  });
  code = created.body.code;
  invoiceId = (
    await gateway.request('POST', '/v1/invoices', {
      token: tokens.seller,
      body: { amountMinor: 100, currency: 'JPY', orderReference: 'o', description: 'd', payeeContact: 'c' },
    })
  ).body.id;
  endpointId = (
    await gateway.request('POST', '/v1/webhook-endpoints', {
      token: tokens.seller,
      body: { url: 'http://127.0.0.1:9/hook' },
    })
  ).body.id;
});
afterAll(() => gateway.close());

type Caller = 'anonymous' | 'buyer' | 'otherBuyer' | 'seller' | 'otherMerchant' | 'revokedKey';
const callers: Caller[] = ['anonymous', 'buyer', 'otherBuyer', 'seller', 'otherMerchant', 'revokedKey'];

// Expected status per caller, in the order of `callers`. Read-only or state-preserving bodies
// are used so the matrix itself moves no money (locks are set to what they already are).
const matrix: Array<[string, string, () => unknown, number[]]> = [
  ['GET', '/v1/me', () => undefined, [401, 200, 200, 403, 403, 401]],
  ['GET', '/v1/accounts', () => undefined, [401, 200, 200, 403, 403, 401]],
  ['GET', '/v1/temporary-accounts', () => undefined, [401, 200, 200, 200, 200, 401]],
  ['GET', '/v1/temporary-accounts/{code}', () => undefined, [401, 200, 404, 200, 404, 401]],
  ['GET', '/v1/temporary-accounts/{code}/events', () => undefined, [401, 200, 404, 200, 404, 401]],
  ['POST', '/v1/temporary-accounts/{code}/lock', () => ({}), [401, 200, 404, 200, 404, 401]],
  ['POST', '/v1/temporary-accounts/{code}/unlock', () => ({}), [401, 200, 404, 200, 404, 401]],
  [
    'POST',
    '/v1/temporary-accounts/{code}/deposit',
    // What the deal still needs, more than the buyer holds (more than it needs is a 409).
    () => ({ amountMinor: 500_000 }),
    [401, 402, 404, 403, 403, 401],
  ],
  [
    'POST',
    '/v1/temporary-accounts/{code}/withdraw',
    () => ({ amountMinor: 10_000_000 }),
    [401, 402, 404, 402, 404, 401],
  ],
  ['POST', '/v1/temporary-accounts/{code}/check-funds', () => ({}), [401, 403, 404, 200, 404, 401]],
  [
    'POST',
    '/v1/temporary-accounts/{code}/ship',
    () => ({ carrier: 'x', trackingNumber: 'y' }),
    [401, 403, 404, 409, 404, 401],
  ],
  ['POST', '/v1/temporary-accounts/{code}/accept', () => ({}), [401, 409, 404, 403, 404, 401]],
  ['POST', '/v1/temporary-accounts/{code}/reject', () => ({}), [401, 409, 404, 403, 404, 401]],
  ['POST', '/v1/invoices', () => ({ amountMinor: 1 }), [401, 403, 403, 400, 400, 401]],
  ['GET', '/v1/invoices/{invoice}', () => undefined, [401, 403, 403, 200, 404, 401]],
  ['GET', '/v1/webhook-endpoints', () => undefined, [401, 403, 403, 200, 200, 401]],
  ['POST', '/v1/webhook-endpoints/{endpoint}/disable', () => ({}), [401, 403, 403, 200, 404, 401]],
  ['GET', '/v1/events', () => undefined, [401, 200, 200, 200, 200, 401]],
  // Last, because they change the account: the seller cancels the deal not paid up (the buyer
  // may not: 403), which dissolves it (empty), so dissolving it after finds it closed.
  ['POST', '/v1/temporary-accounts/{code}/cancel', () => ({}), [401, 403, 404, 200, 404, 401]],
  ['POST', '/v1/temporary-accounts/{code}/dissolve', () => ({}), [401, 409, 404, 409, 404, 401]],
  ['DELETE', '/v1/sessions/current', () => undefined, [401, 204, 204, 403, 403, 401]],
];

describe('authorization matrix', () => {
  it('every route x {anonymous, buyer, another buyer, seller, another merchant, revoked key}', async () => {
    const before = JSON.stringify(await gateway.admin.reconcile());
    const failures: string[] = [];
    for (const [method, template, body, expected] of matrix) {
      const path = template
        .replace('{code}', code)
        .replace('{invoice}', invoiceId)
        .replace('{endpoint}', endpointId);
      for (const [index, caller] of callers.entries()) {
        const response = await gateway.request(method, path, { token: tokens[caller], body: body() });
        if (response.status !== expected[index]) {
          failures.push(
            `${method} ${template} as ${caller}: ${response.status} (expected ${expected[index]}) ${JSON.stringify(response.body)}`,
          );
        }
        if (response.status >= 400) expect(response.body.error.code).toEqual(expect.any(String));
        // Strangers never see the account's content.
        if ((caller === 'otherBuyer' || caller === 'otherMerchant') && template.includes('{code}')) {
          expect(JSON.stringify(response.body)).not.toContain('balanceMinor');
        }
      }
    }
    expect(failures).toEqual([]);
    // Strangers' event feeds do not include this account's events.
    tokens.otherBuyer = await gateway.login('tanaka', 'tanaka-demo-pass'); // logged out by the matrix
    for (const caller of ['otherBuyer', 'otherMerchant'] as const) {
      const feed = await gateway.request('GET', '/v1/events', { token: tokens[caller] });
      expect(feed.body.data.some((event: { accountCode: string }) => event.accountCode === code)).toBe(false);
    }
    expect(JSON.stringify(await gateway.admin.reconcile())).toBe(before);
  });
});

describe("a merchant's secret key on a deal where the merchant is the buyer", () => {
  it('reads it, but only the customer session pays in, locks, accepts, rejects or withdraws', async () => {
    // The shop buys from another customer with its own customer login (drawing 8).
    await gateway.admin.topUp(gateway.seed.sellerAccountId, 1_000);
    const shopSession = await gateway.login('ibm-shop', 'ibm-demo-pass');
    const created = await gateway.request('POST', '/v1/temporary-accounts', {
      token: shopSession,
      body: { payeeUserId: 'tanaka', amountMinor: 300, currency: 'JPY' },
    });
    expect(created.status).toBe(201);
    const deal = created.body.code as string;
    // Room for a pay-in: a deal takes no more than its amount.
    const taken = await gateway.request('POST', `/v1/temporary-accounts/${deal}/withdraw`, {
      token: shopSession,
      body: { amountMinor: 100 },
    });
    expect(taken.status).toBe(200);
    const view = async () =>
      (await gateway.request('GET', `/v1/temporary-accounts/${deal}`, { token: shopSession })).body;
    const before = { account: await view(), books: JSON.stringify(await gateway.admin.reconcile()) };

    const refused: Array<[string, unknown]> = [
      ['deposit', { amountMinor: 300 }],
      ['lock', {}],
      ['unlock', {}],
      ['accept', {}],
      ['reject', { reason: 'key' }],
      ['withdraw', { amountMinor: 1 }],
      // Refused for the role before the named usual account is looked up (not a 404).
      ['withdraw', { amountMinor: 1, toAccountId: 'usa_not_there' }],
      ['dissolve', {}],
      ['cancel', {}],
      ['check-funds', {}],
      ['ship', { carrier: 'x', trackingNumber: 'y' }],
    ];
    for (const [action, body] of refused) {
      const response = await gateway.request('POST', `/v1/temporary-accounts/${deal}/${action}`, {
        token: gateway.seed.secretKey,
        body,
        headers: { 'idempotency-key': `key-as-buyer-${action}-${JSON.stringify(body).length}` },
      });
      expect([action, response.status, response.body.error?.code]).toEqual([action, 403, 'role_not_allowed']);
    }
    const read = await gateway.request('GET', `/v1/temporary-accounts/${deal}`, {
      token: gateway.seed.secretKey,
    });
    expect(read.status).toBe(200);
    expect({ account: await view(), books: JSON.stringify(await gateway.admin.reconcile()) }).toEqual(before);

    // The same action with the customer's own session goes through.
    const paid = await gateway.request('POST', `/v1/temporary-accounts/${deal}/deposit`, {
      token: shopSession,
      body: { amountMinor: 100 },
    });
    expect(paid.status).toBe(200);
    expect(paid.body.balanceMinor).toBe(before.account.balanceMinor + 100);
  });
});

describe("a merchant's secret key as the seller", () => {
  it('never pays the merchant’s money in, so it cannot hand it to a buyer of its choosing', async () => {
    // helper-34's path: the key opens a deal for an accomplice, pays in as seller, unlocks,
    // and the accomplice withdraws.
    await gateway.admin.topUp(gateway.seed.sellerAccountId, 5_000);
    const shopSession = await gateway.login('ibm-shop', 'ibm-demo-pass');
    const shopBalance = async () =>
      (await gateway.request('GET', '/v1/accounts', { token: shopSession })).body.usualAccounts[0]
        .balanceMinor as number;
    const before = await shopBalance();
    expect(before).toBeGreaterThanOrEqual(5_000);
    const deal = await gateway.request('POST', '/v1/temporary-accounts', {
      token: gateway.seed.secretKey,
      body: { buyerUserId: 'tanaka', amountMinor: 5_000, currency: 'JPY' },
    });
    expect(deal.status).toBe(201);
    const deposit = await gateway.request('POST', `/v1/temporary-accounts/${deal.body.code}/deposit`, {
      token: gateway.seed.secretKey,
      body: { amountMinor: 5_000 },
    });
    expect([deposit.status, deposit.body.error?.code]).toEqual([403, 'role_not_allowed']);
    const after = await gateway.request('GET', `/v1/temporary-accounts/${deal.body.code}`, {
      token: gateway.seed.secretKey,
    });
    expect(after.body.balanceMinor).toBe(0);
    expect(await shopBalance()).toBe(before);
  });
});

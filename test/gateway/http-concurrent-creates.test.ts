import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * A buyer's create from payee and amount is funded now if the usual account holds the amount
 * and the fee, else it awaits a pay-in (docs/api.md): never 402, whatever runs at the same time.
 * On PostgreSQL concurrent creates decided on a stale balance and the journal refused the
 * funding with 402 (helper-45's review). Runs on both stores (the vitest "postgres" project).
 */
let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({
    commission: { creation: { JPY: { flatMinor: 100, basisPoints: 0 } }, withdrawal: {} },
  });
});
afterAll(() => gateway.close());

async function usualBalance(token: string): Promise<number> {
  const accounts = await gateway.request('GET', '/v1/accounts', { token });
  return accounts.body.usualAccounts[0].balanceMinor as number;
}

describe('creates racing for one usual account', () => {
  it('are each 201: funded while the money lasts (amount and fee), awaiting funds after', async () => {
    const buyer = await gateway.buyerToken();
    const before = await usualBalance(buyer); // 100,000
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        gateway.request('POST', '/v1/temporary-accounts', {
          token: buyer,
          body: { payeeUserId: 'ibm-shop', amountMinor: 9_900, currency: 'JPY' },
        }),
      ),
    );
    expect(results.map((result) => result.status)).toEqual(results.map(() => 201));
    const funded = results.filter((result) => result.body.status === 'funded').length;
    expect(funded).toBe(10);
    expect(before - (await usualBalance(buyer))).toBe(funded * 10_000);
    const books = await gateway.admin.reconcile();
    expect(books.balanced).toBe(true);
  });
});

/**
 * The bank's pages as a customer uses them (helper-46's review): amounts as typed, what the
 * notices say. Each test failed on the code before, except the bad-input refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageGet, pageLogIn, postForm } from '../support/bank-pages.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({
    allowedOrigins: ['https://shop.example'],
    commission: {
      creation: { JPY: { flatMinor: 100, basisPoints: 0 } },
      withdrawal: { JPY: { flatMinor: 50, basisPoints: 100 } },
    },
  });
});
afterAll(() => gateway.close());

const form = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  postForm(gateway, path, fields, headers);
const logIn = (userId = 'mizuta', password = 'mizuta-demo-pass') => pageLogIn(gateway, userId, password);
const get = (path: string, cookie: string) => pageGet(gateway, path, cookie);
let n = 0;
async function create(
  s: { cookie: string; csrf: string },
  amount: string,
  currency = 'JPY',
  extra: Record<string, string> = {},
) {
  const accounts = (
    await gateway.request('GET', '/v1/accounts', { token: await gateway.login('mizuta', 'mizuta-demo-pass') })
  ).body;
  return form(
    '/bank/temporary-accounts',
    {
      csrf: s.csrf,
      idempotencyKey: `zz-${n++}-${Math.random()}`,
      payeeUserId: 'ibm-shop',
      amount,
      currency,
      fundFrom: accounts.usualAccounts[0].id,
      ...extra,
    },
    { cookie: s.cookie },
  );
}

describe('amount parsing on the create form', () => {
  it('refuses "12,34" USD (a decimal comma) instead of creating 1,234.00 USD', async () => {
    const s = await logIn();
    const r = await create(s, '12,34', 'USD', { fundFrom: '' });
    // Either a refusal (400) or, at least, not an amount 100x what was typed.
    if (r.status === 303) {
      const page = await get(r.headers.get('location') as string, s.cookie);
      expect(page.text).not.toContain('1,234.00 USD');
    } else {
      expect(r.status).toBe(400);
    }
  });

  it('refuses a JPY amount with stray commas "1,0" instead of creating 10 JPY', async () => {
    const s = await logIn();
    const r = await create(s, '1,0');
    expect(r.status).toBe(400);
  });

  it('answers full-width digits, spaces, and too large amounts with a clear 4xx, not a 500', async () => {
    const s = await logIn();
    for (const amount of ['１０５００', '10 500', '10500.5', '1e3', '-5', '0', '']) {
      const r = await create(s, amount);
      expect.soft(r.status, amount).toBeGreaterThanOrEqual(400);
      expect.soft(r.status, amount).toBeLessThan(500);
    }
  });
});

describe('currency choice', () => {
  it('offers the currencies the customer holds (a JPY-only customer was offered USD, then refused)', async () => {
    const s = await logIn();
    const page = await get('/bank/temporary-accounts/new', s.cookie);
    const select = /<select id="currency"[^>]*>([\s\S]*?)<\/select>/.exec(page.text)?.[1] ?? '';
    expect([...select.matchAll(/<option[^>]*>(\w+)<\/option>/g)].map((match) => match[1])).toEqual(['JPY']);
  });
});

describe('create notice', () => {
  it('does not say "created and funded" when the buyer lacked the money and the account awaits funds', async () => {
    const s = await logIn('tanaka', 'tanaka-demo-pass');
    const token = await gateway.login('tanaka', 'tanaka-demo-pass');
    const accounts = (await gateway.request('GET', '/v1/accounts', { token })).body;
    const r = await form(
      '/bank/temporary-accounts',
      {
        csrf: s.csrf,
        idempotencyKey: 'zz-unfunded-1',
        payeeUserId: 'ibm-shop',
        amount: '99999999',
        currency: 'JPY',
        ...(accounts.usualAccounts[0] ? { fundFrom: accounts.usualAccounts[0].id } : {}),
      },
      { cookie: s.cookie },
    );
    expect(r.status).toBe(303);
    const page = await get(r.headers.get('location') as string, s.cookie);
    expect(page.text).toContain('Awaiting funds');
    expect(page.text).not.toContain('created and funded');
  });
});

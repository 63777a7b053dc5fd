/**
 * The bank's pages as a customer uses them (helper-46's review): amounts as typed, what the
 * notices say. Each test failed on the code before, except the bad-input refusals.
 */
import { describe, expect, it } from 'vitest';
import { bankPagesGateway } from '../support/bank-pages.ts';

const bank = bankPagesGateway();
const { form, logIn } = bank;
const get = bank.get;
let n = 0;
async function create(
  s: { cookie: string; csrf: string },
  amount: string,
  currency = 'JPY',
  extra: Record<string, string> = {},
) {
  const accounts = (
    await bank.gateway.request('GET', '/v1/accounts', {
      token: await bank.gateway.login('mizuta', 'mizuta-demo-pass'),
    })
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
    const token = await bank.gateway.login('tanaka', 'tanaka-demo-pass');
    const accounts = (await bank.gateway.request('GET', '/v1/accounts', { token })).body;
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

/** The status page of a new funded deal of Mizuta's (through the create form). */
async function funded(s: { cookie: string; csrf: string }) {
  const r = await create(s, '1000');
  expect(r.status).toBe(303);
  return /temporary-accounts\/([^?]+)/.exec(r.headers.get('location') as string)?.[1] as string;
}
/** The buyer takes part of a deal back (before the seller locks), so it needs that again. */
async function takeBack(code: string, amountMinor: number) {
  const taken = await bank.gateway.request('POST', `/v1/temporary-accounts/${code}/withdraw`, {
    token: await bank.gateway.login('mizuta', 'mizuta-demo-pass'),
    body: { amountMinor },
  });
  expect(taken.status).toBe(200);
}
const title = (text: string) => /<title>([^<]*)<\/title>/.exec(text)?.[1] ?? '';
/** The start tag of the element with this id. */
const tag = (text: string, id: string) =>
  new RegExp(`<[a-z0-9]+ [^>]*id="${id}"[^>]*>`).exec(text)?.[0] ?? '';

describe('the pay-in form', () => {
  it('offers the buyer what the deal still needs (it takes no more), and no form once it holds it all', async () => {
    const s = await logIn();
    const code = await funded(s);
    const page = () => get(`/bank/temporary-accounts/${code}`, s.cookie);
    expect(tag((await page()).text, 'deposit-amount')).toBe('');
    await takeBack(code, 400);
    expect(tag((await page()).text, 'deposit-amount')).toContain('value="400"');
  });

  it('offers nothing once the seller was paid part of it: paid is paid (helper-63)', async () => {
    // A ¥1,000 deal, accepted, the seller took ¥400: the page offered ¥400 again, and the
    // gateway took it, so the seller could take ¥1,400.
    const s = await logIn();
    const code = await funded(s);
    const buyer = await bank.gateway.login('mizuta', 'mizuta-demo-pass');
    const seller = bank.gateway.seed.secretKey;
    for (const [token, action, body] of [
      [seller, 'lock', {}],
      [seller, 'ship', { carrier: 'Yamato', trackingNumber: 'Y-1' }],
      [buyer, 'accept', {}],
      [seller, 'withdraw', { amountMinor: 400 }],
    ] as const) {
      const answer = await bank.gateway.request('POST', `/v1/temporary-accounts/${code}/${action}`, {
        token,
        body,
      });
      expect([action, answer.status]).toEqual([action, 200]);
    }
    expect(tag((await get(`/bank/temporary-accounts/${code}`, s.cookie)).text, 'deposit-amount')).toBe('');
    const again = await bank.gateway.request('POST', `/v1/temporary-accounts/${code}/deposit`, {
      token: buyer,
      body: { amountMinor: 400 },
    });
    expect([again.status, again.body.error.code, again.body.error.details.dueMinor]).toEqual([
      409,
      'exceeds_amount_due',
      0,
    ]);
  });

  it('never offers the seller to pay the buyer’s amount in (helper-63)', async () => {
    // The seller opens a deal for the buyer: its page prefilled the buyer's whole amount.
    const opened = await bank.gateway.request('POST', '/v1/temporary-accounts', {
      token: bank.gateway.seed.secretKey,
      body: { buyerUserId: 'mizuta', amountMinor: 900, currency: 'JPY' },
    });
    expect(opened.status).toBe(201);
    const sellerPage = await get(
      `/bank/temporary-accounts/${opened.body.code}`,
      (await logIn('ibm-shop', 'ibm-demo-pass')).cookie,
    );
    expect(tag(sellerPage.text, 'deposit-amount')).toBe(''); // no form at all: refused (helper-66)
    const buyerPage = await get(`/bank/temporary-accounts/${opened.body.code}`, (await logIn()).cookie);
    expect(tag(buyerPage.text, 'deposit-amount')).toContain('value="900"');
  });

  it('tells a buyer with no usual account in the currency to remit, fee included, not to pay in (helper-64)', async () => {
    // The page offered the pay-in form, which answered 404 ("You have no usual account in JPY"),
    // and nothing said that a remittance pays, nor how much.
    await bank.gateway.admin.createCustomer({
      userId: 'no-usual',
      displayName: 'No Usual',
      password: 'no-usual-pass',
    });
    const opened = await bank.gateway.request('POST', '/v1/temporary-accounts', {
      token: bank.gateway.seed.secretKey,
      body: { buyerUserId: 'no-usual', amountMinor: 1_500, currency: 'JPY' },
    });
    expect(opened.status).toBe(201);
    const code = opened.body.code as string;
    const page = (
      await get(`/bank/temporary-accounts/${code}`, (await logIn('no-usual', 'no-usual-pass')).cookie)
    ).text;
    expect(tag(page, 'deposit-amount')).toBe('');
    const hint = /<p class="hint" id="no-usual-pay-in">([\s\S]*?)<\/p>/.exec(page)?.[1] ?? '';
    expect(hint.replace(/<\/?code>/g, '')).toBe(
      `You have no usual account in JPY at this bank. Pay by a transfer from another bank or at the counter: send 1,600 JPY (the bank keeps its fee of 100 JPY from it), quoting ${code}. The bank books it to this account.`,
    );
    // The seller, who has a usual account in JPY, is told nothing of remittances.
    const buyerPage = (
      await get(`/bank/temporary-accounts/${code}`, (await logIn('ibm-shop', 'ibm-demo-pass')).cookie)
    ).text;
    expect(buyerPage).not.toContain('no-usual-pay-in');
  });

  it('gives the seller no pay-in form on its deal, and the API refuses its pay-in (helper-66)', async () => {
    // The seller's pay-in funded the deal and stayed the buyer's to take back while the seller's
    // lock was off; taken back in full, it dissolved the deal the buyer was to pay.
    const sellerKey = bank.gateway.seed.secretKey;
    const opened = await bank.gateway.request('POST', '/v1/temporary-accounts', {
      token: sellerKey,
      body: { buyerUserId: 'mizuta', amountMinor: 1_500, currency: 'JPY' },
    });
    const code = opened.body.code as string;
    const sellerSession = await bank.gateway.login('ibm-shop', 'ibm-demo-pass');
    const sellerUsual = (await bank.gateway.request('GET', '/v1/accounts', { token: sellerSession })).body;
    await bank.gateway.admin.topUp(sellerUsual.usualAccounts[0].id, 1_000);
    const before = JSON.stringify(await bank.gateway.admin.reconcile());
    const refused = await bank.gateway.request('POST', `/v1/temporary-accounts/${code}/deposit`, {
      token: sellerSession,
      body: { amountMinor: 1_000 },
    });
    expect([refused.status, refused.body.error.code]).toEqual([403, 'role_not_allowed']);
    expect(JSON.stringify(await bank.gateway.admin.reconcile())).toBe(before);
    const sellerPage = await get(
      `/bank/temporary-accounts/${code}`,
      (await logIn('ibm-shop', 'ibm-demo-pass')).cookie,
    );
    expect(tag(sellerPage.text, 'deposit-amount')).toBe('');
    const buyerPage = (await get(`/bank/temporary-accounts/${code}`, (await logIn()).cookie)).text;
    expect(buyerPage.match(/Awaiting funds[^<]*/)?.[0]).toContain('1,500 JPY missing');
    expect(tag(buyerPage, 'deposit-amount')).toContain('value="1,500"');
  });
});

describe('refusals (accessibility review): said in the title, tied to their field, and what was typed kept', () => {
  it('says a refused take-out is more than the caller may take, not only what the locks let out', async () => {
    const s = await logIn();
    const code = await funded(s);
    // Also a member taking more than its own of a deal that is off (not only the locks).
    const page = await get(`/bank/temporary-accounts/${code}?error=exceeds_movable_amount`, s.cookie);
    expect(tag(page.text, 'page-error')).toMatch(/role="alert"/);
    expect(page.text).toContain(
      'Refused: more than you may take out now (what the locks let out, or, where the money goes back to who paid it, your own share)',
    );
  });

  it('gives a refused amount back in its field, marked, without putting it in the address', async () => {
    const s = await logIn();
    const code = await funded(s);
    await takeBack(code, 300); // so the deal takes a pay-in and its page has the form
    const r = await form(
      `/bank/temporary-accounts/${code}/deposit`,
      { csrf: s.csrf, idempotencyKey: `zz-${n++}`, amount: '12x' },
      { cookie: s.cookie },
    );
    expect(r.status).toBe(303);
    const location = r.headers.get('location') as string;
    expect(location).toContain('error=invalid_amount');
    expect(location).not.toContain('12x');
    const entered = r.headers.getSetCookie().find((line) => line.startsWith('ls_entered='));
    expect(entered).toMatch(/HttpOnly/);
    expect(entered).toMatch(/SameSite=Strict/);
    const page = await get(location, `${s.cookie}; ${entered?.split(';')[0]}`);
    expect(title(page.text)).toMatch(/^Error: Temporary account/);
    expect(tag(page.text, 'page-error')).toMatch(/role="alert"/);
    expect(tag(page.text, 'page-error')).toMatch(/tabindex="-1"/);
    const field = tag(page.text, 'deposit-amount');
    expect(field).toContain('value="12x"');
    expect(field).toContain('aria-invalid="true"');
    expect(field).toContain('aria-describedby="page-error"');
    expect(page.headers.getSetCookie().some((line) => /^ls_entered=;/.test(line))).toBe(true);
    // A link to the same address marks the field but cannot fill it.
    const linked = await get(location, s.cookie);
    expect(tag(linked.text, 'deposit-amount')).toContain('value="300"');
  });

  it('keeps the payee ID and the amount of a refused create form, and marks the amount', async () => {
    const s = await logIn();
    const r = await create(s, '12x');
    expect(r.status).toBe(400);
    const text = await r.text();
    expect(title(text)).toMatch(/^Error: /);
    expect(tag(text, 'payeeUserId')).toContain('value="ibm-shop"');
    const amount = tag(text, 'amount');
    expect(amount).toContain('value="12x"');
    expect(amount).toContain('aria-invalid="true"');
    expect(amount).toMatch(/aria-describedby="[^"]*page-error/);
    expect(tag(text, 'page-error')).toMatch(/tabindex="-1"/);
  });

  it('says an unknown payee on the payee ID field', async () => {
    const s = await logIn();
    const r = await create(s, '500', 'JPY', { payeeUserId: 'nobody-here' });
    expect(r.status).toBeGreaterThanOrEqual(400);
    const text = await r.text();
    expect(tag(text, 'payeeUserId')).toContain('value="nobody-here"');
    expect(tag(text, 'payeeUserId')).toContain('aria-invalid="true"');
    expect(tag(text, 'amount')).toContain('value="500"');
  });
});

describe('status page structure (accessibility review)', () => {
  it('keeps the menu and the history out of the swapped, silent facts; one short status line', async () => {
    const s = await logIn();
    const page = await get(`/bank/temporary-accounts/${await funded(s)}`, s.cookie);
    const status = /<div id="status"[^>]*>([\s\S]*?)<\/div>/.exec(page.text);
    expect(status?.[0]).not.toMatch(/aria-live/);
    expect(status?.[1]).not.toMatch(/<form|<button|<input|class="history"/);
    expect(status?.[1]).toContain('data-field="lock"');
    expect(tag(page.text, 'live-summary')).toMatch(/role="status"/);
    expect(tag(page.text, 'menu-heading')).toMatch(/tabindex="-1"/);
  });

  it('names every form after its button or its heading', async () => {
    const s = await logIn();
    const pages = [
      (await get(`/bank/temporary-accounts/${await funded(s)}`, s.cookie)).text,
      (await get('/bank/temporary-accounts/new', s.cookie)).text,
    ];
    for (const text of pages) {
      const forms = [...text.matchAll(/<form [^>]*>/g)].map((match) => match[0]);
      expect(forms.length).toBeGreaterThan(1);
      for (const start of forms) {
        const id = /aria-labelledby="([^"]+)"/.exec(start)?.[1];
        expect(id, start).toBeTruthy();
        const name = new RegExp(`id="${id}"[^>]*>([^<]+)<`).exec(text)?.[1]?.trim();
        expect(name, start).toBeTruthy();
      }
    }
  });

  it('lets the server judge the create amount: no pattern, and a hint tied to the field', async () => {
    const s = await logIn();
    const text = (await get('/bank/temporary-accounts/new', s.cookie)).text;
    const amount = tag(text, 'amount');
    expect(amount).not.toMatch(/pattern=/);
    const hint = /aria-describedby="([^"]+)"/.exec(amount)?.[1] as string;
    expect(new RegExp(`id="${hint}"[^>]*>[^<]*10,500`).test(text)).toBe(true);
  });
});

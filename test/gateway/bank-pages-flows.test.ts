/**
 * The bank's pages through whole flows (helper-46's review): fees said before they are taken,
 * no action offered that the API refuses, nothing of another customer's account shown.
 */
import { describe, expect, it } from 'vitest';
import { bankPagesGateway } from '../support/bank-pages.ts';

const bank = bankPagesGateway();
const { form, logIn } = bank;
const buyer = () => logIn('mizuta', 'mizuta-demo-pass');
const seller = () => logIn('ibm-shop', 'ibm-demo-pass');
const tanaka = () => logIn('tanaka', 'tanaka-demo-pass');
const get = bank.get;
let n = 0;
const key = () => `zzf-${n++}-${Math.random()}`;
async function act(
  s: { cookie: string; csrf: string },
  code: string,
  action: string,
  fields: Record<string, string> = {},
  k = key(),
) {
  const r = await form(
    `/bank/temporary-accounts/${code}/${action}`,
    { csrf: s.csrf, idempotencyKey: k, ...fields },
    { cookie: s.cookie },
  );
  // What a refused form held, kept for the page the redirect leads to.
  const kept = r.headers.getSetCookie().find((line) => line.startsWith('ls_entered='));
  return { status: r.status, location: r.headers.get('location'), kept: kept?.split(';')[0] ?? '' };
}
/** The seller ships through the API (the bank's pages have no shipping): the buyer releases then. */
async function ship(code: string) {
  const token = await bank.gateway.login('ibm-shop', 'ibm-demo-pass');
  const shipped = await bank.gateway.request('POST', `/v1/temporary-accounts/${code}/ship`, {
    token,
    body: { carrier: 'Yamato', trackingNumber: 'T-1' },
  });
  expect(shipped.status).toBe(200);
}
async function createFunded(
  s: { cookie: string; csrf: string },
  amount: string,
  who = 'mizuta',
  pw = 'mizuta-demo-pass',
) {
  const { usual } = await bank.usualAccount(who, pw);
  const r = await form(
    '/bank/temporary-accounts',
    {
      csrf: s.csrf,
      idempotencyKey: key(),
      payeeUserId: 'ibm-shop',
      amount,
      currency: 'JPY',
      fundFrom: usual.id,
    },
    { cookie: s.cookie },
  );
  expect(r.status).toBe(303);
  const code = /temporary-accounts\/([^?]+)/.exec(r.headers.get('location') as string)?.[1] as string;
  return code;
}
const forms = (html: string) => [...html.matchAll(/data-action="(\w+)"/g)].map((m) => m[1]);
const usualBalance = (html: string) => /data-field="usual-balance">([^<]*)</.exec(html)?.[1];

describe('flows', () => {
  it('aggregation: usual balance lower by amount + creation fee, and the fee is said somewhere', async () => {
    const b = await buyer();
    const before = usualBalance((await get('/bank', b.cookie)).text);
    const code = await createFunded(b, '10000');
    const after = (await get('/bank', b.cookie)).text;
    console.log('before', before, 'after', usualBalance(after));
    const status = (await get(`/bank/temporary-accounts/${code}`, b.cookie)).text;
    expect(status).toMatch(/bank fee 100 JPY/);
  });

  it('a buyer who released the payment is not offered "Lock", which the API refuses', async () => {
    const b = await buyer();
    const s = await seller();
    const code = await createFunded(b, '1000');
    expect((await act(s, code, 'lock')).location).toContain('notice=lock');
    // Not shipped yet: releasing is not offered (the API says not_shipped), reporting is.
    const unshipped = (await get(`/bank/temporary-accounts/${code}`, b.cookie)).text;
    expect(forms(unshipped)).not.toContain('accept');
    expect(forms(unshipped)).toContain('reject');
    expect(unshipped).toContain('You can release the payment once the seller has shipped.');
    await ship(code);
    expect(forms((await get(`/bank/temporary-accounts/${code}`, b.cookie)).text)).toContain('accept');
    expect((await act(b, code, 'accept')).location).toContain('notice=accept');
    const page = (await get(`/bank/temporary-accounts/${code}`, b.cookie)).text;
    const offered = forms(page);
    if (offered.includes('lock')) {
      const r = await act(b, code, 'lock');
      expect.soft(r.location, 'lock offered but').toContain('notice=lock');
    }
    expect(offered).not.toContain('lock');
  });

  it('a seller that is a plain customer ships from its page, and the buyer then releases there (helper-77)', async () => {
    const b = await buyer();
    const s = await seller();
    const code = await createFunded(b, '1200');
    // Before shipping, a release (a stale form) is refused with words, not "The bank refused this".
    const early = await act(b, code, 'accept');
    expect(early.location).toContain('error=not_shipped');
    expect((await get(early.location as string, b.cookie)).text).toContain('the seller has not shipped yet');
    const buyerPage = (await get(`/bank/temporary-accounts/${code}`, b.cookie)).text;
    expect(forms(buyerPage)).not.toContain('ship');
    // Unlocking lets the seller take the money without the goods: said beside the button.
    expect(buyerPage).toContain('With your lock off, the seller can take the money, shipped or not.');
    const sellerPage = (await get(`/bank/temporary-accounts/${code}`, s.cookie)).text;
    expect(forms(sellerPage)).toContain('ship');
    // Empty fields: refused, nothing shipped.
    const empty = await act(s, code, 'ship', { carrier: 'Handed over', trackingNumber: '' });
    expect(empty.location).toContain('error=validation_failed');
    // What was typed comes back in the form.
    expect((await get(empty.location as string, `${s.cookie}; ${empty.kept}`)).text).toContain(
      'value="Handed over"',
    );
    const shipped = await act(s, code, 'ship', { carrier: 'Handed over', trackingNumber: 'R-1' });
    expect(shipped.location).toContain('notice=ship');
    expect(forms((await get(`/bank/temporary-accounts/${code}`, s.cookie)).text)).not.toContain('ship');
    expect(forms((await get(`/bank/temporary-accounts/${code}`, b.cookie)).text)).toContain('accept');
    expect((await act(b, code, 'accept')).location).toContain('notice=accept');
    await act(s, code, 'unlock');
    expect((await act(s, code, 'withdraw', { amount: '' })).location).toContain('notice=withdraw');
    // Closed: the locks hold nothing (they read "on (1)").
    const closed = (await get(`/bank/temporary-accounts/${code}`, b.cookie)).text;
    expect([...closed.matchAll(/data-field="lock">([^<]*)</g)].map((m) => m[1]?.trim())).toEqual([
      '— (closed)',
      '— (closed)',
    ]);
  });

  it('a stale "Mark shipped" after the buyer reported a problem is refused in words and changes nothing (helper-78)', async () => {
    const b = await buyer();
    const s = await seller();
    const code = await createFunded(b, '1300');
    await act(s, code, 'lock');
    expect((await act(b, code, 'reject', { reason: 'Box arrived empty' })).location).toContain(
      'notice=reject',
    );
    const before = (
      await bank.gateway.request('GET', `/v1/temporary-accounts/${code}`, {
        token: await bank.gateway.buyerToken(),
      })
    ).body;
    const stale = await act(s, code, 'ship', { carrier: 'Yamato', trackingNumber: 'T-9' });
    expect(stale.location).toContain('error=verdict_already_given');
    expect((await get(stale.location as string, s.cookie)).text).toContain(
      'the buyer has already decided on this deal',
    );
    const after = (
      await bank.gateway.request('GET', `/v1/temporary-accounts/${code}`, {
        token: await bank.gateway.buyerToken(),
      })
    ).body;
    expect(after).toMatchObject({ version: before.version, shipment: null });
    // The seller reads why, and whose lock changed.
    const sellerPage = (await get(`/bank/temporary-accounts/${code}`, s.cookie)).text;
    expect(sellerPage).toContain('Problem reported: &quot;Box arrived empty&quot;');
    expect(sellerPage).toMatch(/\(seller(&#39;|')s lock on\)/);
    // Unlocking is a refund here: the seller is told so beside the button.
    expect(sellerPage).toContain('with your lock off, the buyer can take the money back (a refund)');
  });

  it('says the creation fee before creating, and closes an empty account it made (helper-78)', async () => {
    const b = await buyer();
    expect((await get('/bank/temporary-accounts/new', b.cookie)).text).toContain(
      'The bank charges a creation fee of 100 JPY on an account in JPY, paid with the money that funds the account',
    );
    // More than the usual account holds: an account awaiting funds, which the buyer can close.
    const code = await createFunded(b, '99999999');
    const page = (await get(`/bank/temporary-accounts/${code}`, b.cookie)).text;
    expect(forms(page)).toContain('dissolve');
    // The pay-in form says the fee that leaves with it, and the total (helper-86).
    expect(page).toMatch(
      /aria-describedby="deposit-fee" \/>\s*<p class="hint" id="deposit-fee">The bank's fee of 100 JPY is charged to your usual account with this pay-in: 100,000,099 JPY in all for 99,999,999 JPY\./,
    );
    // Refused, the amount field keeps the fee hint and names the error, in one attribute (a
    // second aria-describedby was dropped by the browser).
    const refusedPayIn = await act(b, code, 'deposit', { amount: '0' });
    expect(refusedPayIn.location).toContain('&form=deposit');
    const field = /<input id="deposit-amount"[^>]*>/.exec(
      (await get(refusedPayIn.location as string, `${b.cookie}; ${refusedPayIn.kept}`)).text,
    )?.[0];
    expect([field?.match(/aria-describedby=/g)?.length, field]).toEqual([
      1,
      expect.stringContaining('aria-invalid="true" aria-describedby="deposit-fee page-error"'),
    ]);
    // The buyer's to close: the seller is not offered it (its transfer would then be refused).
    const s = await seller();
    expect(forms((await get(`/bank/temporary-accounts/${code}`, s.cookie)).text)).not.toContain('dissolve');
    // It cannot be undone: the page says so and the bank wants the tick; without it, nothing.
    expect(page).toContain('Closing it ends this deal for good');
    const unconfirmed = await act(b, code, 'dissolve');
    expect(unconfirmed.location).toContain('error=not_confirmed');
    expect((await get(unconfirmed.location as string, b.cookie)).text).toContain('tick the box to confirm');
    expect(
      (
        await bank.gateway.request('GET', `/v1/temporary-accounts/${code}`, {
          token: await bank.gateway.buyerToken(),
        })
      ).body.status,
    ).toBe('awaiting_funds');
    const closed = await act(b, code, 'dissolve', { confirm: 'yes' });
    expect(closed.location).toContain('notice=dissolve');
    const view = await bank.gateway.request('GET', `/v1/temporary-accounts/${code}`, {
      token: await bank.gateway.buyerToken(),
    });
    expect(view.body.status).toBe('dissolved');
  });

  it('a fractional account takes a share in its Lock form; a member outside the release group says it holds nothing (helper-78)', async () => {
    const token = await bank.gateway.buyerToken();
    // Created on the page, as a standing account (fractional locks).
    const b0 = await buyer();
    expect((await get('/bank/temporary-accounts/new', b0.cookie)).text).toContain('A standing account');
    const { usual } = await bank.usualAccount('mizuta', 'mizuta-demo-pass');
    const posted = await form(
      '/bank/temporary-accounts',
      {
        csrf: b0.csrf,
        idempotencyKey: key(),
        payeeUserId: 'ibm-shop',
        amount: '10000',
        currency: 'JPY',
        fundFrom: usual.id,
        mode: 'fractional',
      },
      { cookie: b0.cookie },
    );
    const code = /temporary-accounts\/([^?]+)/.exec(posted.headers.get('location') as string)?.[1] as string;
    const created = await bank.gateway.request('GET', `/v1/temporary-accounts/${code}`, { token });
    expect(created.body.mode).toBe('fractional');
    const s = await seller();
    // A share of 0 is no lock: refused, nothing recorded (it said "Your lock is on").
    const zero = await act(s, created.body.code, 'lock', { share: '0' });
    expect(zero.location).toContain('error=invalid_lock_share');
    // A refused share comes back in its field, marked (helper-78).
    for (const share of ['0', '1.5']) {
      const refused = share === '0' ? zero : await act(s, created.body.code, 'lock', { share });
      expect(refused.location).toContain('error=invalid_lock_share&form=lock');
      const field = /<input id="share"[^>]*>/.exec(
        (await get(refused.location as string, `${s.cookie}; ${refused.kept}`)).text,
      )?.[0];
      expect(field).toContain(`value="${share}"`);
      expect(field).toContain('aria-invalid="true"');
    }
    expect(
      (await bank.gateway.request('GET', `/v1/temporary-accounts/${code}`, { token })).body.version,
    ).toBe(created.body.version);
    const locked = await act(s, created.body.code, 'lock', { share: '0.3' });
    expect(locked.location).toContain('notice=lock');
    const view = await bank.gateway.request('GET', `/v1/temporary-accounts/${created.body.code}`, { token });
    expect(view.body.parties.find((party: { role: string }) => party.role === 'seller').lockPpm).toBe(
      300_000,
    );
    // A member in another group than the release group's: its lock blocks nobody.
    const grouped = await bank.gateway.request('POST', '/v1/temporary-accounts', {
      token,
      body: {
        payeeUserId: 'ibm-shop',
        amountMinor: 2_000,
        currency: 'JPY',
        members: [{ userId: 'tanaka', group: 'x' }],
        releasePolicy: { kind: 'group', group: 'g' },
        buyerGroup: 'g',
        sellerGroup: 'g',
      },
    });
    expect(grouped.status).toBe(201);
    const t = await tanaka();
    expect((await act(t, grouped.body.code, 'lock')).location).toContain('notice=lock');
    const b = await buyer();
    expect((await get(`/bank/temporary-accounts/${grouped.body.code}`, b.cookie)).text).toContain(
      'holds nothing: outside the release group',
    );
    // A member of a deal without a release group is not said to be outside one.
    const plain = await bank.gateway.request('POST', '/v1/temporary-accounts', {
      token,
      body: { payeeUserId: 'ibm-shop', amountMinor: 2_000, currency: 'JPY', members: [{ userId: 'tanaka' }] },
    });
    expect(plain.status).toBe(201);
    expect((await act(t, plain.body.code, 'lock')).location).toContain('notice=lock');
    const plainPage = (await get(`/bank/temporary-accounts/${plain.body.code}`, b.cookie)).text;
    expect(plainPage).not.toContain('outside the release group');
    // With a member, the buyer's Unlock says the money goes only once no other lock holds it.
    expect(plainPage).toContain('once no other party&#39;s lock holds it');
  });

  it('names any refusal of the catalogue, and puts no words of a link on the page', async () => {
    const b = await buyer();
    const code = await createFunded(b, '900');
    const page = async (error: string) =>
      (await get(`/bank/temporary-accounts/${code}?error=${error}`, b.cookie)).text;
    expect(await page('dispute_resolved')).toContain('the bank has decided this deal');
    expect(await page('internal_error')).toContain('The bank refused this (<code>internal_error</code>).');
    expect(await page('you_were_hacked')).not.toContain('you_were_hacked');
  });

  it('seller withdraw: the fee is disclosed before or after (net amount), not only "Withdrawn"', async () => {
    const b = await buyer();
    const s = await seller();
    const code = await createFunded(b, '10000');
    await act(s, code, 'lock');
    await ship(code);
    expect((await act(b, code, 'accept')).location).toContain('notice=accept');
    await act(s, code, 'unlock');
    const before = (await get(`/bank/temporary-accounts/${code}`, s.cookie)).text;
    console.log('seller sees movable', /You may move out<\/dt><dd class="amount">([^<]*)/.exec(before)?.[1]);
    const r = await act(s, code, 'withdraw', { amount: '' });
    console.log(r);
    const page = (await get(r.location as string, s.cookie)).text;
    console.log(
      page.match(/class="notice"[^>]*>[^<]*/)?.[0],
      page.match(/<li data-event="account.withdrawn">.*?<\/li>/s)?.[0],
    );
    const beforeNoHistory = before.replace(/<ol class="history"[^>]*>[\s\S]*?<\/ol>/, '');
    expect(beforeNoHistory).toMatch(/fee|9,850/i);
  });

  it("another customer's code shows nothing of the account, on GET and on each action", async () => {
    const b = await buyer();
    const t = await tanaka();
    const code = await createFunded(b, '1000');
    const page = await get(`/bank/temporary-accounts/${code}`, t.cookie);
    expect(page.status).toBe(404);
    expect(page.text).not.toContain('1,000');
    expect(page.text).not.toContain('Mizuta');
    for (const action of ['deposit', 'withdraw', 'lock', 'unlock', 'accept', 'reject']) {
      const r = await act(t, code, action, { amount: '1' });
      expect
        .soft([action, r.status, r.location])
        .toEqual([
          action,
          r.status === 404 ? 404 : 303,
          r.location?.includes('error=not_found') || r.status === 404 ? r.location : 'not_found',
        ]);
    }
    const stream = await bank.gateway.gateway.app.request(`/bank/temporary-accounts/${code}/stream`, {
      headers: { cookie: t.cookie },
    });
    expect(stream.status).toBe(404);
  });

  it('a deposit form submitted twice (double click) pays in once', async () => {
    const t = await tanaka();
    const { token, usual } = await bank.usualAccount('tanaka', 'tanaka-demo-pass');
    const r = await form(
      '/bank/temporary-accounts',
      {
        csrf: t.csrf,
        idempotencyKey: key(),
        payeeUserId: 'ibm-shop',
        amount: '1000',
        currency: 'JPY',
        fundFrom: usual.id,
      },
      { cookie: t.cookie },
    );
    const code = /temporary-accounts\/([^?]+)/.exec(r.headers.get('location') as string)?.[1] as string;
    // Half taken back, so the deal needs 500 again (a deal takes no more than its amount).
    expect((await act(t, code, 'withdraw', { amount: '500' })).location).not.toMatch(/error=/);
    const k = key();
    await Promise.all([
      act(t, code, 'deposit', { amount: '500' }, k),
      act(t, code, 'deposit', { amount: '500' }, k),
    ]);
    const view = (await bank.gateway.request('GET', `/v1/temporary-accounts/${code}`, { token })).body;
    expect(view.balanceMinor).toBe(1000);
  });

  it('funding that fails only because of the creation fee is neither called "funded" nor left unexplained', async () => {
    const t = await tanaka();
    const { usual } = await bank.usualAccount('tanaka', 'tanaka-demo-pass');
    const amount = usual.balanceMinor - 50; // enough for the amount, not for amount + 100 fee
    const r = await form(
      '/bank/temporary-accounts',
      {
        csrf: t.csrf,
        idempotencyKey: key(),
        payeeUserId: 'ibm-shop',
        amount: String(amount),
        currency: 'JPY',
        fundFrom: usual.id,
      },
      { cookie: t.cookie },
    );
    const location = r.headers.get('location') as string;
    const code = /temporary-accounts\/([^?]+)/.exec(location)?.[1] as string;
    const page = (await get(location, t.cookie)).text;
    console.log(
      page.match(/class="notice"[^>]*>[^<]*/)?.[0],
      '|',
      page.match(/data-field="status">[^<]*/)?.[0],
    );
    const pay = await act(t, code, 'deposit', { amount: String(amount) });
    console.log('pay in the missing amount:', pay.location);
    expect.soft(page).not.toContain('created and funded');
    expect(page.replace(/<ol class="history"[^>]*>[\s\S]*?<\/ol>/, '')).toMatch(/fee/i);
  });

  it('an awaiting-funds account says how much the pay-in will really take (fee included)', async () => {
    const t = await tanaka();
    const { usual } = await bank.usualAccount('tanaka', 'tanaka-demo-pass');
    // More than Tanaka holds: the account awaits funds and the creation fee is due on pay-in.
    const r = await form(
      '/bank/temporary-accounts',
      {
        csrf: t.csrf,
        idempotencyKey: key(),
        payeeUserId: 'ibm-shop',
        amount: String(usual.balanceMinor + 1),
        currency: 'JPY',
        fundFrom: usual.id,
      },
      { cookie: t.cookie },
    );
    const code = /temporary-accounts\/([^?]+)/.exec(r.headers.get('location') as string)?.[1] as string;
    const page = (await get(`/bank/temporary-accounts/${code}`, t.cookie)).text;
    console.log(page.match(/data-field="status">[^<]*/)?.[0]);
    expect(page).toMatch(/fee/i);
  });
});

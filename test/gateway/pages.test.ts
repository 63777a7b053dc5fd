import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoLogins } from '../../packages/gateway/src/seed.ts';
import { cookiesOf, postForm } from '../support/bank-pages.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/** The bank pages' and the widget's HTTP-level protections (the browser tests cover the flows). */
let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({ allowedOrigins: ['https://shop.example'] });
});
afterAll(() => gateway.close());

const form = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  postForm(gateway, path, fields, headers);

async function logIn() {
  const page = await gateway.gateway.app.request('/bank/login');
  const preLogin = cookiesOf(page.headers).ls_prelogin as string;
  const response = await form(
    '/bank/login',
    { csrf: preLogin, userId: demoLogins.buyer.userId, password: demoLogins.buyer.password },
    { cookie: `ls_prelogin=${preLogin}` },
  );
  expect(response.status).toBe(303);
  const jar = cookiesOf(response.headers);
  return {
    cookie: `ls_session=${jar.ls_session}; ls_csrf=${jar.ls_csrf}`,
    csrf: jar.ls_csrf as string,
    headers: response.headers,
  };
}

describe('bank pages', () => {
  it('serve a strict CSP, refuse framing, and set HttpOnly, Secure, SameSite=Strict cookies', async () => {
    const page = await gateway.gateway.app.request('/bank/login');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const { headers } = await logIn();
    for (const line of headers.getSetCookie().filter((item) => /^ls_(session|csrf)=/.test(item))) {
      expect(line).toMatch(/HttpOnly/);
      expect(line).toMatch(/Secure/);
      expect(line).toMatch(/SameSite=Strict/);
    }
  });

  it('refuse a login form without its token and a post from another site', async () => {
    const noToken = await form('/bank/login', {
      userId: demoLogins.buyer.userId,
      password: demoLogins.buyer.password,
    });
    expect(noToken.status).toBe(403);
    const crossSite = await form(
      '/bank/login',
      { userId: 'x', password: 'y' },
      { origin: 'https://evil.example' },
    );
    expect(crossSite.status).toBe(403);
  });

  it('refuse a form with a NUL character (PostgreSQL cannot store one) with a 400', async () => {
    const page = await gateway.gateway.app.request('/bank/login');
    const preLogin = cookiesOf(page.headers).ls_prelogin as string;
    const response = await form(
      '/bank/login',
      { csrf: preLogin, userId: `${demoLogins.buyer.userId}\0`, password: demoLogins.buyer.password },
      { cookie: `ls_prelogin=${preLogin}` },
    );
    expect(response.status).toBe(400);
  });

  it('answer an action on a code with a CR LF in it with a redirect, not a 500', async () => {
    const session = await logIn();
    const response = await form(
      '/bank/temporary-accounts/ta%0d%0aX-Evil:%201/unlock',
      { csrf: session.csrf, idempotencyKey: 'crlf-1' },
      { cookie: session.cookie },
    );
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(
      '/bank/temporary-accounts/ta%0D%0AX-Evil%3A%201?error=not_found',
    );
    expect(response.headers.get('x-evil')).toBeNull();
  });

  it("refuse an action without the session's CSRF token, and change nothing", async () => {
    const session = await logIn();
    const token = await gateway.buyerToken();
    const before = (await gateway.request('GET', '/v1/accounts', { token })).body;
    const refused = await form(
      '/bank/temporary-accounts',
      { payeeUserId: demoLogins.seller.userId, amount: '500', currency: 'JPY', idempotencyKey: 'k-1' },
      { cookie: session.cookie },
    );
    expect(refused.status).toBe(403);
    const wrong = await form(
      '/bank/temporary-accounts',
      {
        csrf: 'not-the-token',
        payeeUserId: demoLogins.seller.userId,
        amount: '500',
        currency: 'JPY',
        idempotencyKey: 'k-2',
      },
      { cookie: session.cookie },
    );
    expect(wrong.status).toBe(403);
    expect((await gateway.request('GET', '/v1/accounts', { token })).body).toEqual(before);
    // With the token it works, and the same form submitted twice applies once.
    const fields = {
      csrf: session.csrf,
      payeeUserId: demoLogins.seller.userId,
      amount: '500',
      currency: 'JPY',
      idempotencyKey: 'k-3',
    };
    expect((await form('/bank/temporary-accounts', fields, { cookie: session.cookie })).status).toBe(303);
    expect((await form('/bank/temporary-accounts', fields, { cookie: session.cookie })).status).toBe(303);
    const after = (await gateway.request('GET', '/v1/accounts', { token })).body;
    expect(after.usualAccounts[0].balanceMinor).toBe(before.usualAccounts[0].balanceMinor - 500);
  });

  it('serve the create form (Drawing 8) at /new and an account status page at its code', async () => {
    const session = await logIn();
    const page = await gateway.gateway.app.request('/bank/temporary-accounts/new', {
      headers: { cookie: session.cookie },
    });
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain('name="payeeUserId"');
    expect(text).toContain('name="csrf"');
    const missing = await gateway.gateway.app.request(
      '/bank/temporary-accounts/ta_0000000000000000000000000a',
      {
        headers: { cookie: session.cookie },
      },
    );
    expect(missing.status).toBe(404);
  });

  it("show a deal's ship deadline on its status page once the seller's lock holds the money", async () => {
    const created = await gateway.request('POST', '/v1/temporary-accounts', {
      token: await gateway.buyerToken(),
      body: { payeeUserId: 'ibm-shop', amountMinor: 1_000, currency: 'JPY' },
    });
    const locked = await gateway.request('POST', `/v1/temporary-accounts/${created.body.code}/lock`, {
      token: gateway.seed.secretKey,
      body: {},
    });
    const session = await logIn();
    const page = await gateway.gateway.app.request(`/bank/temporary-accounts/${created.body.code}`, {
      headers: { cookie: session.cookie },
    });
    // Said to the minute, readably ("2026-12-13 05:00 UTC"), not as the API's ISO text.
    const shipBy: string = locked.body.deadlines.shipBy;
    const text = await page.text();
    expect(text).toContain(`The seller ships by ${shipBy.slice(0, 10)} ${shipBy.slice(11, 16)} UTC`);
    // The history names what happened in words, with the instant kept machine-readable.
    expect(text).toMatch(
      /<li data-event="lock.changed"><time datetime="[^"]+">\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC<\/time> Lock changed/,
    );
    expect(text).not.toMatch(/<\/time> [a-z]+\.[a-z_]+/);
  });

  it("show only known refusal codes (a link cannot put its words on the bank's page)", async () => {
    const session = await logIn();
    const page = await gateway.gateway.app.request('/bank?error=Your+account+is+frozen.+Call+%2B81-000', {
      headers: { cookie: session.cookie },
    });
    const text = await page.text();
    expect(text).not.toContain('frozen');
    expect(text).toContain('The bank refused this.');
  });

  it('accept a form from the public origin (TLS ended at a proxy) and refuse other sites', async () => {
    const session = await logIn();
    const fields = {
      csrf: session.csrf,
      payeeUserId: demoLogins.seller.userId,
      amount: '1',
      currency: 'JPY',
      idempotencyKey: 'k-origin',
    };
    const viaProxy = await form('/bank/temporary-accounts', fields, {
      cookie: session.cookie,
      origin: new URL(gateway.gateway.publicUrl).origin,
    });
    expect(viaProxy.status).toBe(303);
    const foreign = await form(
      '/bank/temporary-accounts',
      { ...fields, idempotencyKey: 'k-origin-2' },
      {
        cookie: session.cookie,
        origin: 'https://evil.example',
      },
    );
    expect(foreign.status).toBe(403);
  });

  it("answer a live stream under the page request's own id", async () => {
    const session = await logIn();
    const created = await gateway.request('POST', '/v1/temporary-accounts', {
      token: await gateway.buyerToken(),
      body: { payeeUserId: 'ibm-shop', amountMinor: 1_000, currency: 'JPY' },
    });
    expect(created.status).toBe(201);
    const aborted = new AbortController();
    const stream = await gateway.gateway.app.request(`/bank/temporary-accounts/${created.body.code}/stream`, {
      headers: { cookie: session.cookie, 'x-request-id': 'page-trace-7' },
      signal: aborted.signal,
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.headers.get('x-request-id')).toBe('page-trace-7');
    aborted.abort();
    await stream.body?.cancel().catch(() => {});
  });

  it('show only their own notices and refusals from a link, never names every object has', async () => {
    const session = await logIn();
    const mainOf = async (query: string) => {
      const page = await gateway.gateway.app.request(`/bank?${query}`, {
        headers: { cookie: session.cookie },
      });
      return /<main>([\s\S]*?)<\/main>/.exec(await page.text())?.[1] ?? '';
    };
    expect(await mainOf('notice=accept')).toContain('You released the payment.');
    // `?notice=constructor` showed "function Object() { [native code] }" (helper-42's review).
    for (const name of ['constructor', '__proto__', 'toString']) {
      const notice = await mainOf(`notice=${name}`);
      expect(notice).not.toContain('class="notice"');
      const refusal = await mainOf(`error=${name}`);
      expect(refusal).toContain('The bank refused this.');
      expect(`${notice}${refusal}`).not.toMatch(/native code|\[object Object\]/);
    }
  });

  it('send a visitor without a session to the login page', async () => {
    const response = await gateway.gateway.app.request('/bank');
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/bank/login');
  });

  it('return a visitor to the page that asked for the login, never to another site (helper-81)', async () => {
    // The widget links the bank's page of a deal; without a session it went to the overview.
    const asked = await gateway.gateway.app.request('/bank/temporary-accounts/ta_abc123');
    expect(asked.status).toBe(303);
    const location = asked.headers.get('location') as string;
    expect(location).toBe('/bank/login?next=%2Fbank%2Ftemporary-accounts%2Fta_abc123');
    const page = await gateway.gateway.app.request(location);
    expect(await page.text()).toContain(
      '<input type="hidden" name="next" value="/bank/temporary-accounts/ta_abc123" />',
    );
    const preLogin = cookiesOf(page.headers).ls_prelogin as string;
    const login = (next: string) =>
      form(
        '/bank/login',
        { csrf: preLogin, userId: demoLogins.buyer.userId, password: demoLogins.buyer.password, next },
        { cookie: `ls_prelogin=${preLogin}` },
      );
    expect((await login('/bank/temporary-accounts/ta_abc123')).headers.get('location')).toBe(
      '/bank/temporary-accounts/ta_abc123',
    );
    for (const elsewhere of [
      'https://evil.example/',
      '//evil.example/bank',
      '/bank/../x',
      '/bank?x=1',
      '/shop',
    ]) {
      expect((await login(elsewhere)).headers.get('location'), elsewhere).toBe('/bank');
    }
    const outside = await gateway.gateway.app.request('/bank/login?next=%2F%2Fevil.example');
    expect(await outside.text()).not.toContain('name="next"');
  });

  it('say on the login page that a form sent without a session did nothing (helper-78)', async () => {
    // An old tab's form after logging out: nothing is carried out, and the page says so.
    const sent = await gateway.gateway.app.request('/bank/temporary-accounts/ta_x/unlock', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: 'ls_session=cs_gone' },
      body: 'csrf=x&idempotencyKey=k',
    });
    expect(sent.status).toBe(303);
    const location = sent.headers.get('location') as string;
    expect(location).toBe('/bank/login?notDone=1');
    const login = await (await gateway.gateway.app.request(location)).text();
    expect(login).toContain('You were logged out, so nothing was done. Log in and try again.');
    expect(await (await gateway.gateway.app.request('/bank/login')).text()).not.toContain('nothing was done');
  });
});

describe('checkout widget endpoints', () => {
  const frame = (query: Record<string, string>) =>
    gateway.gateway.app.request(`/widget/frame?${new URLSearchParams(query).toString()}`);

  it("frame only for the merchant's registered origins", async () => {
    const pk = gateway.seed.publishableKey;
    const allowed = await frame({
      mode: 'pay',
      pk,
      origin: 'https://shop.example',
      invoice: 'a.b.c-0123456789',
    });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('content-security-policy')).toContain('frame-ancestors https://shop.example');
    const foreign = await frame({ mode: 'pay', pk, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect((await frame({ mode: 'pay', pk: 'pk_unknown', origin: 'https://shop.example' })).status).toBe(403);
    expect(
      (await frame({ mode: 'pay', pk: gateway.seed.secretKey, origin: 'https://shop.example' })).status,
    ).toBe(403);
  });

  it("frame only for the key's merchant's own deals and invoices", async () => {
    // Another registered shop framed, under its own key, the checkout of IBM Shop's deal and
    // offered the buyer Release and Report for it (helper-42's review).
    const other = await gateway.admin.createCustomer({
      userId: 'other-shop',
      password: 'other-shop-pass',
      displayName: 'Other Shop',
    });
    const otherPk = (
      await gateway.admin.createMerchant(other.id, {
        name: 'Other Shop',
        allowedOrigins: ['https://other.example'],
      })
    ).publishableKey;
    const deal = await gateway.request('POST', '/v1/temporary-accounts', {
      token: await gateway.buyerToken(),
      body: { payeeUserId: 'ibm-shop', amountMinor: 3_000, currency: 'JPY' },
    });
    const invoice = await gateway.request('POST', '/v1/invoices', {
      token: gateway.seed.secretKey,
      body: {
        amountMinor: 1_200,
        currency: 'JPY',
        orderReference: 'ibm-77',
        description: 'Tea',
        payeeContact: 'a@b.c',
      },
    });
    const ibm = { pk: gateway.seed.publishableKey, origin: 'https://shop.example' };
    const theirs = { pk: otherPk, origin: 'https://other.example' };
    const order = { mode: 'order', account: deal.body.code as string };
    const pay = { mode: 'pay', invoice: invoice.body.token as string };
    expect((await frame({ ...ibm, ...order })).status).toBe(200);
    expect((await frame({ ...ibm, ...pay })).status).toBe(200);
    const refusedOrder = await frame({ ...theirs, ...order });
    expect(refusedOrder.status).toBe(403);
    expect(refusedOrder.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect((await frame({ ...theirs, ...pay })).status).toBe(403);
    // A deal that does not exist gets the same answer as another merchant's: codes cannot be probed.
    const unknown = await frame({ ...theirs, mode: 'order', account: 'ta_doesnotexist0000000000000' });
    expect([unknown.status, await unknown.text()]).toEqual([403, await refusedOrder.text()]);
  });

  it('serves the confirmation window for Release and Report to no frame at all', async () => {
    const response = await gateway.gateway.app.request('/widget/confirm?lang=ja');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    // It must keep its opener (the order iframe) to receive the request and report back.
    expect(response.headers.get('cross-origin-opener-policy')).toBeNull();
    const page = await response.text();
    expect(page).toContain('data-mode="confirm"');
    expect(page).toContain('lang="ja"');
  });

  it('never reflects markup from its query into the page', async () => {
    const response = await frame({
      mode: 'order',
      pk: gateway.seed.publishableKey,
      origin: 'https://shop.example',
      account: '"><script>alert(1)</script>',
      't-accent': 'red;}</style><script>alert(2)</script>',
      lang: '"><img src=x onerror=alert(3)>',
    });
    const text = await response.text();
    expect(text).not.toContain('<script>alert');
    expect(text).not.toContain('<img src=x');
    expect(text).toContain('data-account=""');
  });

  it('serves the loader with caching headers and answers 304 to a known ETag', async () => {
    const loader = await gateway.gateway.app.request('/checkout.js');
    expect(loader.status).toBe(200);
    expect(loader.headers.get('content-type')).toContain('text/javascript');
    const etag = loader.headers.get('etag') as string;
    expect(
      (await gateway.gateway.app.request('/checkout.js', { headers: { 'if-none-match': etag } })).status,
    ).toBe(304);
    expect(await loader.text()).toContain('lockstep-checkout');
  });
});

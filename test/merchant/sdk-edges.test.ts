/**
 * The merchant SDK's promises at their edges (helper-41's review): every key the API accepts
 * works in the helpers, a lock already on stays as the shop set it, every error is a
 * LockstepError with a stable code, and the msw mock serves a base URL with a path as the SDK
 * allows (the verifier's edges are in webhooks.test.ts).
 */
import {
  DealMismatchError,
  dealMismatches,
  Lockstep,
  LockstepAbortedError,
  LockstepConfigError,
  LockstepError,
  LockstepResponseError,
  LockstepValidationError,
} from '@lockstep/merchant';
import { createMockGateway } from '@lockstep/merchant/testing';
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoLogins } from '../../packages/gateway/src/seed.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

// ---------------------------------------------------------------- real gateway (client.ts)
describe('client against a real gateway', () => {
  let gw: TestGateway;
  let lockstep: Lockstep;
  beforeAll(async () => {
    gw = await startTestGateway({ listen: true });
    lockstep = new Lockstep({ apiKey: gw.seed.secretKey, baseUrl: gw.url });
  });
  afterAll(() => gw?.close());

  it('ensureFunded accepts any Idempotency-Key the API accepts (1-255 printable ASCII)', async () => {
    const account = await lockstep.temporaryAccounts.create({
      buyerUserId: 'tanaka',
      amountMinor: 100,
      currency: 'JPY',
    });
    const key = 'k'.repeat(255);
    // The same key is fine for a plain lock ...
    await expect(
      lockstep.temporaryAccounts.lock(account.code, {}, { idempotencyKey: key }),
    ).resolves.toMatchObject({ code: account.code });
    // ... and for ensureFunded (its lock step derived `<key>:lock` from it, 260 characters:
    // 400 idempotency_key_invalid).
    const result = await lockstep.temporaryAccounts.ensureFunded(account.code, { idempotencyKey: key });
    expect(result).toMatchObject({ funded: false, shortfallMinor: 100 });
  });

  it('ensureFunded called again with the same key after the shop’s lock came off locks again', async () => {
    // Its lock step replayed the first call's stored lock under a key derived from the caller's,
    // so it reported the deal funded with the shop's lock off: a shop would ship on money the
    // buyer could take back (helper-60's review).
    const buyer = await gw.buyerToken();
    const created = await gw.request('POST', '/v1/temporary-accounts', {
      token: buyer,
      body: { payeeUserId: 'ibm-shop', amountMinor: 900, currency: 'JPY' },
    });
    const code = created.body.code as string;
    const sellerLock = (account: { parties: Array<{ role: string; lock: string }> }) =>
      account.parties.find((party) => party.role === 'seller')?.lock;
    const first = await lockstep.temporaryAccounts.ensureFunded(code, { idempotencyKey: 'fund-order-77' });
    expect([first.funded, sellerLock(first.account)]).toEqual([true, '1']);
    await lockstep.temporaryAccounts.unlock(code);
    const again = await lockstep.temporaryAccounts.ensureFunded(code, { idempotencyKey: 'fund-order-77' });
    expect([again.funded, sellerLock(again.account)]).toEqual([true, '1']);
    expect(sellerLock(await lockstep.temporaryAccounts.retrieve(code))).toBe('1');
  });

  it('ensureFunded leaves a lock that is already on as it is ("if it is not already")', async () => {
    const buyer = await gw.buyerToken();
    const created = await gw.request('POST', '/v1/temporary-accounts', {
      token: buyer,
      body: { payeeUserId: 'ibm-shop', amountMinor: 1_000, currency: 'JPY', mode: 'fractional' },
    });
    expect(created.status).toBe(201);
    const code = created.body.code as string;
    const locked = await lockstep.temporaryAccounts.lock(code, { share: '0.5' });
    expect(locked.parties.find((party) => party.role === 'seller')?.lock).toBe('0.5');
    const funding = await lockstep.temporaryAccounts.ensureFunded(code);
    // Not funded: the buyer can take half back under a 0.5 lock (it said funded: true).
    expect(funding).toMatchObject({
      funded: false,
      balanceMinor: 1_000,
      shortfallMinor: 0,
      protectedMinor: 500,
    });
    // It was raised from 0.5 to 1 (a second lock.changed): the shop's own lock is the only one.
    expect(funding.account.parties.find((party) => party.role === 'seller')?.lock).toBe('0.5');
    const events = await lockstep.temporaryAccounts.events(code);
    expect(
      events.data.filter((event) => event.type === 'lock.changed' && event.actor !== 'bank'),
    ).toHaveLength(1);
  });

  it('ensureFunded after an advance the buyer allowed: funded, as the gateway says (helper-66)', async () => {
    // The buyer unlocked and the shop took ¥400 of ¥1,000 before shipping: the deal is funded
    // (what the shop took is paid) and nothing more can be paid in, but ensureFunded compared
    // the ¥600 left with the ¥1,000 and never said funded: the shop would never ship.
    const buyer = await gw.buyerToken();
    const created = await gw.request('POST', '/v1/temporary-accounts', {
      token: buyer,
      body: { payeeUserId: 'ibm-shop', amountMinor: 1_000, currency: 'JPY' },
    });
    const code = created.body.code as string;
    const unlocked = await gw.request('POST', `/v1/temporary-accounts/${code}/unlock`, {
      token: buyer,
      body: {},
    });
    expect(unlocked.status).toBe(200);
    await lockstep.temporaryAccounts.withdraw(code, { amountMinor: 400 });
    const relocked = await gw.request('POST', `/v1/temporary-accounts/${code}/lock`, {
      token: buyer,
      body: {},
    });
    expect(relocked.body).toMatchObject({ status: 'funded', balanceMinor: 600, amountDueMinor: 0 });
    const funding = await lockstep.temporaryAccounts.ensureFunded(code);
    expect(funding).toMatchObject({ funded: true, shortfallMinor: 0, protectedMinor: 600 });
  });

  it('ensureFunded: a partial lock on a fully paid fractional account is not funded, a full lock is', async () => {
    // A 0.5 lock was reported funded: true, but it keeps only half of the balance for the shop
    // (DOMAIN.md rule 4): the buyer may take the other half back.
    const buyer = await gw.buyerToken();
    const open = async () => {
      const created = await gw.request('POST', '/v1/temporary-accounts', {
        token: buyer,
        body: { payeeUserId: 'ibm-shop', amountMinor: 1_000, currency: 'JPY', mode: 'fractional' },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ balanceMinor: 1_000, requiredMinor: 1_000 });
      return created.body.code as string;
    };
    const code = await open();
    await lockstep.temporaryAccounts.lock(code, { share: '0.5' });
    const half = await lockstep.temporaryAccounts.ensureFunded(code);
    expect(half).toMatchObject({
      funded: false,
      balanceMinor: 1_000,
      requiredMinor: 1_000,
      shortfallMinor: 0,
      protectedMinor: 500,
    });
    await lockstep.temporaryAccounts.lock(code);
    const full = await lockstep.temporaryAccounts.ensureFunded(code);
    expect(full).toMatchObject({ funded: true, shortfallMinor: 0, protectedMinor: 1_000 });
    const refused = await gw.request('POST', `/v1/temporary-accounts/${code}/withdraw`, {
      token: buyer,
      body: {},
    });
    expect(refused.body.error?.code).toBe('locked_by_other_party');

    // protectedMinor is what the buyer's withdrawals really leave, share by share, however many
    // (each took half of what was left, down to ¥1 under a 0.5 lock: helper-65's review).
    for (const [share, kept] of [
      ['0.5', 500],
      ['0.75', 750],
      ['0.999', 999],
    ] as const) {
      const drained = await open();
      await lockstep.temporaryAccounts.lock(drained, { share });
      const funding = await lockstep.temporaryAccounts.ensureFunded(drained);
      expect(funding, share).toMatchObject({ funded: false, protectedMinor: kept });
      let balance = 1_000;
      for (;;) {
        // One minor unit at a time when it can: the slowest way down.
        const view = await gw.request('GET', `/v1/temporary-accounts/${drained}`, { token: buyer });
        const amountMinor = view.body.movableMinor > 1 ? Math.ceil(view.body.movableMinor / 2) : undefined;
        const taken = await gw.request('POST', `/v1/temporary-accounts/${drained}/withdraw`, {
          token: buyer,
          body: amountMinor === undefined ? {} : { amountMinor },
        });
        if (taken.status !== 200) {
          expect(taken.body.error?.code, share).toBe('locked_by_other_party');
          break;
        }
        balance = taken.body.balanceMinor;
      }
      expect(balance, share).toBe(kept);
    }
  });

  it('ensureFunded with expect locks only the deal the order was invoiced for', async () => {
    // Any bank customer can open an account naming the shop, for any amount, and the shop is
    // told (account.created): ensureFunded said funded: true for a ¥1 account (helper-50).
    const invoice = await lockstep.invoices.create({
      amountMinor: 10_500,
      currency: 'JPY',
      orderReference: 'order-expect',
      description: 'Tea',
      payeeContact: 'tea@shop.test',
    });
    const terms = { invoiceId: invoice.id, amountMinor: 10_500, currency: 'JPY' };
    const stranger = await gw.login('tanaka', 'tanaka-demo-pass');
    const planted = await gw.request('POST', '/v1/temporary-accounts', {
      token: stranger,
      body: { payeeUserId: 'ibm-shop', amountMinor: 1, currency: 'JPY' },
    });
    expect(planted.status).toBe(201);
    const refused = lockstep.temporaryAccounts.ensureFunded(planted.body.code, { expect: terms });
    await expect(refused).rejects.toBeInstanceOf(DealMismatchError);
    await expect(refused).rejects.toMatchObject({
      code: 'deal_mismatch',
      mismatches: [`invoiceId: expected ${invoice.id}, got null`, 'requiredMinor: expected 10500, got 1'],
    });
    // Nothing was locked.
    const untouched = await lockstep.temporaryAccounts.retrieve(planted.body.code);
    expect(untouched.parties.find((party) => party.role === 'seller')?.lockPpm).toBe(0);
    // The order's own deal passes.
    const paid = await gw.request('POST', '/v1/temporary-accounts', {
      token: await gw.buyerToken(),
      body: { invoice: invoice.token },
    });
    expect(paid.status).toBe(201);
    const funding = await lockstep.temporaryAccounts.ensureFunded(paid.body.code, { expect: terms });
    expect(funding).toMatchObject({ funded: true, requiredMinor: 10_500 });
    expect(funding.account.parties.find((party) => party.role === 'seller')?.lockPpm).toBe(1_000_000);
  });

  it('ensureFunded with expect refuses an account where the shop is the buyer, not the seller', async () => {
    // Tanaka, with a shop of her own, opens an account as its seller naming this shop's user as
    // the buyer, pays in the order's amount herself and locks it: amount, currency, mode and
    // roles all matched, so dealMismatches gave [] (a shop deciding on it took the account for
    // its order's payment), and ensureFunded got as far as the gateway's PermissionError
    // instead of DealMismatchError (helper-60's review).
    const tanakaShop = await gw.admin.createMerchant(gw.seed.buyer2Id, {
      name: 'Tanaka',
      allowedOrigins: [],
    });
    const tanaka = await gw.login('tanaka', 'tanaka-demo-pass');
    const opened = await gw.request('POST', '/v1/temporary-accounts', {
      token: tanakaShop.secretKey,
      body: { buyerUserId: 'ibm-shop', amountMinor: 4_800, currency: 'JPY' },
    });
    expect(opened.status).toBe(201);
    const code = opened.body.code as string;
    // Her pay-in as the deal's seller is refused now (helper-66); she locks all the same.
    const paidIn = await gw.request('POST', `/v1/temporary-accounts/${code}/deposit`, {
      token: tanaka,
      body: { amountMinor: 4_800 },
    });
    expect([paidIn.status, paidIn.body.error?.code]).toEqual([403, 'role_not_allowed']);
    const locked = await gw.request('POST', `/v1/temporary-accounts/${code}/lock`, {
      token: tanaka,
      body: {},
    });
    expect(locked.status, JSON.stringify(locked.body)).toBe(200);
    const terms = { amountMinor: 4_800, currency: 'JPY' as const };
    const account = await lockstep.temporaryAccounts.retrieve(code);
    expect(account.viewerRole).toBe('buyer');
    expect(dealMismatches(account, terms)).toEqual(['viewerRole: expected seller, got buyer']);
    const refused = lockstep.temporaryAccounts.ensureFunded(code, { expect: terms });
    await expect(refused).rejects.toBeInstanceOf(DealMismatchError);
    // Without expect the gateway refuses a secret key acting as the buyer (at the funds check).
    await expect(lockstep.temporaryAccounts.ensureFunded(code)).rejects.toMatchObject({
      code: 'role_not_allowed',
    });
    // The shop's own deal on the same terms passes.
    const sold = await lockstep.temporaryAccounts.create({ buyerUserId: 'tanaka', ...terms });
    expect(sold.viewerRole).toBe('seller');
    expect(dealMismatches(sold, terms)).toEqual([]);
  });

  it('refuses a timeout of 0 ms, which would fail every call', () => {
    expect(() => new Lockstep({ apiKey: gw.seed.secretKey, baseUrl: gw.url, timeoutMs: 0 })).toThrow(
      LockstepConfigError,
    );
  });

  it('an aborted call is a LockstepError too: LockstepAbortedError, code "aborted"', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await lockstep.temporaryAccounts.list({}, { signal: controller.signal }).catch((e) => e);
    expect(error).toBeInstanceOf(LockstepAbortedError);
    expect(error.code).toBe('aborted');
  });
});

// ---------------------------------------------------------------- testing/index.ts
describe('msw mock gateway', () => {
  it('works with a baseUrl that carries a path, as the SDK does', async () => {
    const mock = await createMockGateway({ baseUrl: 'https://bank.review.test/lockstep' });
    const server = setupServer(...mock.handlers);
    server.listen();
    try {
      const lockstep = new Lockstep({ apiKey: mock.secretKey, baseUrl: mock.baseUrl, maxRetries: 0 });
      // Every call was 404 "No route for GET /lockstep/v1/temporary-accounts".
      await expect(lockstep.temporaryAccounts.list()).resolves.toMatchObject({ object: 'list' });
      const invoice = await lockstep.invoices.create({
        amountMinor: 500,
        currency: 'JPY',
        orderReference: 'path-1',
        description: 'Sencha',
        payeeContact: 'orders@tea.example',
      });
      await expect(mock.buyer.pay(invoice.token as string)).resolves.toMatch(/^ta_/);
    } finally {
      server.close();
      await mock.close();
    }
  });

  it('ensureFunded says the same as the real gateway: a 0.5 lock is not funded, a full lock is', async () => {
    const mock = await createMockGateway();
    const server = setupServer(...mock.handlers);
    server.listen();
    try {
      const lockstep = new Lockstep({ apiKey: mock.secretKey, baseUrl: mock.baseUrl, maxRetries: 0 });
      // The buyer opens a fractional account naming the shop and pays ¥1,000 in (the mock's
      // MockBuyer pays invoices only: the gateway's own API, as a bank page would call it).
      const app = mock.gateway.app;
      const session = await app.request('/v1/sessions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: demoLogins.buyer.userId, password: demoLogins.buyer.password }),
      });
      const buyer = ((await session.json()) as { token: string }).token;
      const asBuyer = (path: string, body: unknown) =>
        app.request(path, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${buyer}`,
            'content-type': 'application/json',
            'idempotency-key': crypto.randomUUID(),
          },
          body: JSON.stringify(body),
        });
      const created = await asBuyer('/v1/temporary-accounts', {
        payeeUserId: 'ibm-shop',
        amountMinor: 1_000,
        currency: 'JPY',
        mode: 'fractional',
      });
      expect(created.status).toBe(201);
      const code = ((await created.json()) as { code: string }).code;
      await lockstep.temporaryAccounts.lock(code, { share: '0.5' });
      await expect(lockstep.temporaryAccounts.ensureFunded(code)).resolves.toMatchObject({
        funded: false,
        balanceMinor: 1_000,
        shortfallMinor: 0,
        protectedMinor: 500,
      });
      await lockstep.temporaryAccounts.lock(code);
      await expect(lockstep.temporaryAccounts.ensureFunded(code)).resolves.toMatchObject({
        funded: true,
        protectedMinor: 1_000,
      });
      const refused = await asBuyer(`/v1/temporary-accounts/${code}/withdraw`, {});
      expect(refused.status).toBe(409);
    } finally {
      server.close();
      await mock.close();
    }
  });
});

// ---------------------------------------------------------------- client.ts, no gateway needed
describe('client edges (helper-60)', () => {
  const baseUrl = 'https://gateway.edges.test';
  const apiKey = 'sk_test_0123456789abcdef';
  const server = setupServer();
  const sent: string[] = [];
  beforeAll(() => server.listen());
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());
  /** Records every request; answers each with `answer` (default a 404 error body). */
  function gatewayAnswering(
    answer = (_request: Request): Response =>
      HttpResponse.json({ error: { code: 'not_found', message: 'x' } }, { status: 404 }),
  ) {
    sent.length = 0;
    server.use(
      http.all(`${baseUrl}/*`, ({ request }) => {
        sent.push(`${request.method} ${new URL(request.url).pathname}`);
        return answer(request);
      }),
    );
    return new Lockstep({ apiKey, baseUrl, maxRetries: 0 });
  }

  it('ensureFunded against a gateway older than heldMinor: a whole lock holds the balance, a partial one nothing sure', async () => {
    // Without this, an SDK upgraded before its gateway never said funded, even under a whole lock.
    for (const [lockPpm, funded, protectedMinor] of [
      [1_000_000, true, 900],
      [500_000, false, 0],
    ] as const) {
      const account = {
        object: 'temporary_account',
        code: 'ta_old',
        currency: 'JPY',
        balanceMinor: 900,
        requiredMinor: 900,
        status: 'funded',
        viewerRole: 'seller',
        parties: [
          { customerId: 'cus_b', role: 'buyer', lock: '1', lockPpm: 1_000_000 },
          { customerId: 'cus_s', role: 'seller', lock: String(lockPpm / 1_000_000), lockPpm },
        ],
      };
      const lockstep = gatewayAnswering((request) =>
        new URL(request.url).pathname.endsWith('/check-funds')
          ? HttpResponse.json({
              object: 'funds_check',
              sufficient: true,
              balanceMinor: 900,
              requiredMinor: 900,
              shortfallMinor: 0,
              account,
            })
          : HttpResponse.json(account),
      );
      await expect(lockstep.temporaryAccounts.ensureFunded('ta_old')).resolves.toMatchObject({
        funded,
        protectedMinor,
      });
    }
  });

  it('a code or id of "." or ".." is refused before any request (URL resolution sent it elsewhere)', async () => {
    // withdraw('..') posted to /v1/withdraw, retrieve('.') got /v1/temporary-accounts (a list).
    const lockstep = gatewayAnswering();
    const calls = (value: string) => [
      () => lockstep.temporaryAccounts.retrieve(value),
      () => lockstep.temporaryAccounts.withdraw(value),
      () => lockstep.temporaryAccounts.lock(value),
      () => lockstep.temporaryAccounts.ensureFunded(value),
      () => lockstep.temporaryAccounts.events(value),
      () => lockstep.invoices.retrieve(value),
      () => lockstep.webhookEndpoints.disable(value),
    ];
    for (const value of ['.', '..']) {
      for (const call of calls(value)) {
        const error = await call().catch((caught) => caught);
        expect(error).toBeInstanceOf(LockstepValidationError);
        expect(error).toMatchObject({ code: 'invalid_param' });
      }
    }
    expect(sent).toEqual([]);
    // A code that merely contains dots is sent, encoded, as its own segment.
    await lockstep.temporaryAccounts.retrieve('...').catch(() => undefined);
    await lockstep.temporaryAccounts.retrieve('a/..').catch(() => undefined);
    expect(sent).toEqual(['GET /v1/temporary-accounts/...', 'GET /v1/temporary-accounts/a%2F..']);
  });

  it('an idempotencyKey the gateway would not accept is a LockstepValidationError before any request', async () => {
    // 'lock-注文-42' cannot be carried by a header: fetch threw a bare TypeError, no LockstepError.
    const lockstep = gatewayAnswering((request) =>
      HttpResponse.json({ object: request.url.endsWith('/invoices') ? 'invoice' : 'temporary_account' }),
    );
    for (const key of ['lock-注文-42', 'order 42', 'line\nbreak', '', 'k'.repeat(256)]) {
      const error = await lockstep.temporaryAccounts
        .lock('ta_1', {}, { idempotencyKey: key })
        .catch((caught) => caught);
      expect(error, JSON.stringify(key)).toBeInstanceOf(LockstepValidationError);
      expect(error).toMatchObject({ code: 'invalid_param', param: 'idempotencyKey' });
    }
    expect(sent).toEqual([]);
    // The gateway's whole range passes: 1-255 printable ASCII.
    await lockstep.temporaryAccounts.lock('ta_1', {}, { idempotencyKey: `~!${'k'.repeat(253)}` });
    await lockstep.invoices.create(
      { amountMinor: 1, currency: 'JPY', orderReference: 'o', description: 'd', payeeContact: 'c' },
      { idempotencyKey: 'x' },
    );
    expect(sent).toEqual(['POST /v1/temporary-accounts/ta_1/lock', 'POST /v1/invoices']);
  });

  it('a 2xx answer that is not JSON (a web page, a captive proxy) is a LockstepResponseError', async () => {
    // It threw a bare SyntaxError from JSON.parse.
    const page = () =>
      HttpResponse.html('<html>Sign in to the Wi-Fi</html>', { headers: { 'x-request-id': 'req_page' } });
    const lockstep = gatewayAnswering(page);
    for (const call of [
      () => lockstep.temporaryAccounts.retrieve('ta_1'),
      () => lockstep.temporaryAccounts.checkFunds('ta_1'),
    ]) {
      const error = await call().catch((caught) => caught);
      expect(error).toBeInstanceOf(LockstepResponseError);
      expect(error).toBeInstanceOf(LockstepError);
      expect(error).toMatchObject({ code: 'invalid_response', status: 200, requestId: 'req_page' });
      expect(error.cause).toBeInstanceOf(SyntaxError);
    }
    expect(sent).toEqual(['GET /v1/temporary-accounts/ta_1', 'POST /v1/temporary-accounts/ta_1/check-funds']);
  });

  it('a 2xx JSON answer of another shape (a proxy\'s {"status":"ok"}, null, []) is a LockstepResponseError', async () => {
    // ensureFunded read `.parties` of it: a bare TypeError (helper-67's review).
    for (const body of ['{"status":"ok"}', 'null', '[]', '"ok"', '42', '{"object":"list","data":[]}']) {
      const lockstep = gatewayAnswering(
        () =>
          new Response(body, {
            headers: { 'content-type': 'application/json', 'x-request-id': 'req_proxy' },
          }),
      );
      for (const call of [
        () => lockstep.temporaryAccounts.ensureFunded('ta_1'),
        () => lockstep.temporaryAccounts.checkFunds('ta_1'),
        () => lockstep.invoices.retrieve('in_1'),
      ]) {
        const error = await call().catch((caught) => caught);
        expect(error, body).toBeInstanceOf(LockstepResponseError);
        expect(error).toMatchObject({ code: 'invalid_response', status: 200, requestId: 'req_proxy' });
      }
      // ensureFunded stopped at its first answer: nothing was locked.
      expect(sent).toEqual([
        'GET /v1/temporary-accounts/ta_1',
        'POST /v1/temporary-accounts/ta_1/check-funds',
        'GET /v1/invoices/in_1',
      ]);
    }
    // The list calls want a list.
    const lockstep = gatewayAnswering(() => HttpResponse.json({ object: 'temporary_account' }));
    await expect(lockstep.events.list()).rejects.toBeInstanceOf(LockstepResponseError);
  });
});

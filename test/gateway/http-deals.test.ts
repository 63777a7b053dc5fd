import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCommission } from '../../packages/gateway/src/config.ts';
import { exactRequestHash } from '../../packages/gateway/src/service/bank.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * The deals of DOMAIN.md through the HTTP API, with the demo commission schedule (¥100 to open,
 * 1% of what the seller takes), balances checked to the yen.
 */
let gateway: TestGateway;
let buyer: string;
let seller: string;

beforeAll(async () => {
  gateway = await startTestGateway({ commission: demoCommission });
  buyer = await gateway.buyerToken();
  seller = gateway.seed.secretKey;
});
afterAll(() => gateway.close());

async function post(token: string, path: string, body: unknown = {}, headers: Record<string, string> = {}) {
  return gateway.request('POST', path, { token, body, headers });
}

/** A POST of exactly these bytes as JSON, under an idempotency key. */
async function postRaw(token: string, path: string, rawBody: string, key: string) {
  return gateway.request('POST', path, {
    token,
    rawBody,
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
  });
}

async function balances(token: string) {
  const aggregation = await gateway.request('GET', '/v1/accounts', { token });
  expect(aggregation.status).toBe(200);
  return aggregation.body.usualAccounts.map(
    (account: { balanceMinor: number }) => account.balanceMinor,
  ) as number[];
}

async function sellerBalance() {
  const seller = await gateway.login('ibm-shop', 'ibm-demo-pass');
  return (await balances(seller))[0];
}

describe('the whole deal over HTTP', () => {
  it('from a signed invoice: pay, lock + check, ship, release, withdraw, dissolved; balances and fees to the yen', async () => {
    const [buyerBefore] = await balances(buyer);
    const sellerBefore = await sellerBalance();
    const invoice = await post(seller, '/v1/invoices', {
      amountMinor: 10_500,
      currency: 'JPY',
      orderReference: 'order-1',
      description: 'Uji green tea',
      payeeContact: 'shop@example.com',
    });
    expect(invoice.status).toBe(201);
    expect(invoice.body).toMatchObject({
      object: 'invoice',
      amountMinor: 10_500,
      payeeName: 'IBM Shop',
      temporaryAccountCode: null,
    });
    const verified = await gateway.request('POST', '/v1/invoices/verify', {
      body: { token: invoice.body.token },
    });
    expect(verified.status).toBe(200);
    expect(verified.body.token).toBeUndefined();

    const created = await post(buyer, '/v1/temporary-accounts', { invoice: invoice.body.token });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      status: 'funded',
      balanceMinor: 10_500,
      requiredMinor: 10_500,
      invoiceId: invoice.body.id,
    });
    expect(
      created.body.parties.map((party: { role: string; lock: string }) => [party.role, party.lock]),
    ).toEqual([
      ['buyer', '1'],
      ['seller', '0'],
    ]);
    const code = created.body.code;
    expect((await balances(buyer))[0]).toBe(buyerBefore! - 10_500 - 100);

    const check = await post(seller, `/v1/temporary-accounts/${code}/check-funds`);
    expect(check.body).toMatchObject({ sufficient: true, shortfallMinor: 0 });
    const locked = await post(seller, `/v1/temporary-accounts/${code}/lock`);
    expect(locked.body.parties.map((party: { lock: string }) => party.lock)).toEqual(['1', '1']);
    expect(locked.body.movableMinor).toBe(0);
    const shipped = await post(seller, `/v1/temporary-accounts/${code}/ship`, {
      carrier: 'Yamato',
      trackingNumber: 'YT-1',
    });
    expect(shipped.body.shipment).toMatchObject({ carrier: 'Yamato', trackingNumber: 'YT-1' });
    const released = await post(buyer, `/v1/temporary-accounts/${code}/accept`);
    expect(released.body).toMatchObject({ verdict: 'accepted' });
    const withdrawn = await post(seller, `/v1/temporary-accounts/${code}/withdraw`);
    expect(withdrawn.body).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
    expect(await sellerBalance()).toBe(sellerBefore! + 10_500 - 105);

    const invoiceAfter = await gateway.request('GET', `/v1/invoices/${invoice.body.id}`, { token: seller });
    expect(invoiceAfter.body.temporaryAccountCode).toBe(code);
    const events = await gateway.request('GET', `/v1/temporary-accounts/${code}/events`, { token: buyer });
    expect(events.body.data.map((event: { type: string }) => event.type)).toEqual([
      'account.created',
      'account.deposited',
      'account.funded',
      'funds.checked',
      'lock.changed',
      'deadline.set',
      'account.shipped',
      'deadline.set',
      'deal.accepted',
      'lock.changed',
      'account.withdrawn',
      'account.dissolved',
    ]);
    // Dissolved: the record stays readable, nothing moves.
    expect(
      (await post(buyer, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 1 })).body.error.code,
    ).toBe('account_dissolved');
    const books = await gateway.admin.reconcile();
    expect(books.balanced).toBe(true);
    expect(books.perCurrency[0]?.feesMinor).toBeGreaterThanOrEqual(205);
  });

  it('steps 117-118: not enough money, the seller is told the shortfall, the buyer pays in', async () => {
    const poor = await gateway.login('tanaka', 'tanaka-demo-pass'); // ¥50,000
    const created = await post(poor, '/v1/temporary-accounts', {
      payeeUserId: 'ibm-shop',
      amountMinor: 60_000,
      currency: 'JPY',
    });
    expect(created.body).toMatchObject({
      status: 'awaiting_funds',
      balanceMinor: 0,
      creationFeeDueMinor: 100,
    });
    const code = created.body.code;
    await post(seller, `/v1/temporary-accounts/${code}/lock`);
    const check = await post(seller, `/v1/temporary-accounts/${code}/check-funds`);
    expect(check.body).toMatchObject({ sufficient: false, shortfallMinor: 60_000 });
    const tooMuch = await post(poor, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 60_000 });
    expect(tooMuch.status).toBe(402);
    expect(tooMuch.body.error.code).toBe('insufficient_funds');
    const part = await post(poor, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 40_000 });
    expect(part.body).toMatchObject({
      status: 'awaiting_funds',
      balanceMinor: 40_000,
      creationFeeDueMinor: 0,
    });
    await gateway.admin.topUp(
      (await gateway.request('GET', '/v1/accounts', { token: poor })).body.usualAccounts[0].id,
      30_000,
    );
    // A deal holds its amount and no more: the seller takes the whole balance, so a mistyped
    // ¥30,000 went to it (helper-58's review). Refused, nothing changed.
    const before = {
      account: (await gateway.request('GET', `/v1/temporary-accounts/${code}`, { token: poor })).body,
      books: JSON.stringify(await gateway.admin.reconcile()),
      usual: await balances(poor),
    };
    const over = await post(poor, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 30_000 });
    expect(over.status).toBe(409);
    expect(over.body.error).toMatchObject({
      code: 'exceeds_amount_due',
      details: { dueMinor: 20_000, requestedMinor: 30_000 },
    });
    expect({
      account: (await gateway.request('GET', `/v1/temporary-accounts/${code}`, { token: poor })).body,
      books: JSON.stringify(await gateway.admin.reconcile()),
      usual: await balances(poor),
    }).toEqual(before);
    const rest = await post(poor, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 20_000 });
    expect(rest.body).toMatchObject({ status: 'funded', balanceMinor: 60_000 });
    expect((await post(seller, `/v1/temporary-accounts/${code}/check-funds`)).body.sufficient).toBe(true);
    const full = await post(poor, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 1 });
    expect([full.status, full.body.error.code, full.body.error.details.dueMinor]).toEqual([
      409,
      'exceeds_amount_due',
      0,
    ]);
  });

  it('rule 7 for an invoice: the buyer opens the deal to pay later, nothing taken; the pay-in funds it with the fee', async () => {
    const invoice = await post(seller, '/v1/invoices', {
      amountMinor: 8_000,
      currency: 'JPY',
      orderReference: 'order-later',
      description: 'Kyusu teapot',
      payeeContact: 'shop@example.com',
    });
    const [buyerBefore = 0] = await balances(buyer);
    // The buyer has the money and still chose to pay later: nothing moves now.
    const created = await post(buyer, '/v1/temporary-accounts', {
      invoice: invoice.body.token,
      payLater: true,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      status: 'awaiting_funds',
      balanceMinor: 0,
      requiredMinor: 8_000,
      amountDueMinor: 8_000,
      creationFeeDueMinor: 100,
      invoiceId: invoice.body.id,
    });
    const code = created.body.code as string;
    expect(await balances(buyer)).toEqual([buyerBefore]);
    // The invoice is the deal's now: the shop sees the account; nobody pays the invoice again.
    const invoiceAfter = await gateway.request('GET', `/v1/invoices/${invoice.body.id}`, { token: seller });
    expect(invoiceAfter.body.temporaryAccountCode).toBe(code);
    const again = await post(await gateway.login('tanaka', 'tanaka-demo-pass'), '/v1/temporary-accounts', {
      invoice: invoice.body.token,
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('invoice_already_used');
    const told = await gateway.request('GET', `/v1/temporary-accounts/${code}/events`, { token: seller });
    expect(
      told.body.data.map((event: { type: string; data: { deadline?: string } }) => [
        event.type,
        event.data.deadline,
      ]),
    ).toEqual([
      ['account.created', undefined],
      ['deadline.set', 'pay'],
    ]);
    expect(created.body.deadlines.payBy).toEqual(expect.any(String));

    // The seller locks, as for any deal; it may not ship an unpaid deal.
    expect((await post(seller, `/v1/temporary-accounts/${code}/lock`)).status).toBe(200);
    const check = await post(seller, `/v1/temporary-accounts/${code}/check-funds`);
    expect(check.body).toMatchObject({ sufficient: false, shortfallMinor: 8_000 });
    const ship = await post(seller, `/v1/temporary-accounts/${code}/ship`, {
      carrier: 'Yamato',
      trackingNumber: 'T-1',
    });
    expect(ship.status).toBe(409);
    expect(ship.body.error.code).toBe('account_awaiting_funds');

    // The pay-in of the amount funds it; the creation fee is charged with it.
    const paid = await post(buyer, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 8_000 });
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);
    expect(paid.body).toMatchObject({ status: 'funded', balanceMinor: 8_000, creationFeeDueMinor: 0 });
    expect(await balances(buyer)).toEqual([buyerBefore - 8_100]);
    expect((await post(seller, `/v1/temporary-accounts/${code}/check-funds`)).body).toMatchObject({
      sufficient: true,
    });
    expect((await gateway.admin.reconcile()).balanced).toBe(true);
  });

  it('step 124: a dissolved account refuses pay-ins and withdrawals as dissolved, also for a party with no usual account in its currency', async () => {
    // Such a party was told "You have no usual account in JPY" (404), and opening one only led
    // to the real refusal (helper-58's review).
    await gateway.admin.createCustomer({
      userId: 'walk-in',
      displayName: 'Walk-in',
      password: 'walk-in-pass',
    });
    const walkIn = await gateway.login('walk-in', 'walk-in-pass');
    const created = await post(buyer, '/v1/temporary-accounts', {
      payeeUserId: 'ibm-shop',
      amountMinor: 700,
      currency: 'JPY',
      members: [{ userId: 'walk-in' }],
    });
    const code = created.body.code;
    const refund = await post(buyer, `/v1/temporary-accounts/${code}/withdraw`);
    expect(refund.body.status).toBe('dissolved');
    for (const [action, body] of [
      ['deposit', { amountMinor: 100 }],
      ['withdraw', {}],
    ] as const) {
      const refused = await post(walkIn, `/v1/temporary-accounts/${code}/${action}`, body);
      expect([action, refused.status, refused.body.error.code]).toEqual([action, 409, 'account_dissolved']);
    }
  });

  it('steps 120-121: the buyer rejects, the seller releases its lock, the buyer takes the refund', async () => {
    const [before] = await balances(buyer);
    const created = await post(buyer, '/v1/temporary-accounts', {
      payeeUserId: 'ibm-shop',
      amountMinor: 3_000,
      currency: 'JPY',
    });
    const code = created.body.code;
    await post(seller, `/v1/temporary-accounts/${code}/lock`);
    await post(seller, `/v1/temporary-accounts/${code}/ship`, { carrier: 'Sagawa', trackingNumber: 'S-9' });
    const rejected = await post(buyer, `/v1/temporary-accounts/${code}/reject`, { reason: 'Arrived broken' });
    expect(rejected.body.verdict).toBe('rejected');
    expect((await post(seller, `/v1/temporary-accounts/${code}/withdraw`)).body.error.code).toBe(
      'locked_by_other_party',
    );
    expect((await post(buyer, `/v1/temporary-accounts/${code}/withdraw`)).body.error.code).toBe(
      'locked_by_other_party',
    );
    await post(seller, `/v1/temporary-accounts/${code}/unlock`);
    const refund = await post(buyer, `/v1/temporary-accounts/${code}/withdraw`);
    expect(refund.body).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
    // The creation fee is the bank's; the principal came back.
    expect((await balances(buyer))[0]).toBe(before! - 100);
  });

  it('[0035] fractional locks: a 0.3 seller lock lets the buyer take back at most 70%', async () => {
    const created = await post(buyer, '/v1/temporary-accounts', {
      payeeUserId: 'ibm-shop',
      amountMinor: 10_001,
      currency: 'JPY',
      mode: 'fractional',
    });
    const code = created.body.code;
    const locked = await post(seller, `/v1/temporary-accounts/${code}/lock`, { share: '0.3' });
    // What each lock holds from the others: the buyer's whole lock all of it, the seller's 0.3
    // its share rounded up, which the buyer's withdrawals below do not wear down.
    expect(locked.body.parties.map((party: { heldMinor: number }) => party.heldMinor)).toEqual([
      10_001, 3_001,
    ]);
    expect(locked.body.parties[1]).toMatchObject({ lock: '0.3', lockPpm: 300_000 });
    const view = await gateway.request('GET', `/v1/temporary-accounts/${code}`, { token: buyer });
    expect(view.body.movableMinor).toBe(7_000); // floor(10001 * 0.7) = 7000
    const over = await post(buyer, `/v1/temporary-accounts/${code}/withdraw`, { amountMinor: 7_001 });
    expect(over.status).toBe(409);
    expect(over.body.error).toMatchObject({
      code: 'exceeds_movable_amount',
      details: { movableMinor: 7_000 },
    });
    const ok = await post(buyer, `/v1/temporary-accounts/${code}/withdraw`, { amountMinor: 7_000 });
    expect(ok.body).toMatchObject({ balanceMinor: 3_001, status: 'funded', movableMinor: 0 });
    expect(ok.body.parties[1].heldMinor).toBe(3_001);
    const deal = await post(buyer, `/v1/temporary-accounts`, {
      payeeUserId: 'ibm-shop',
      amountMinor: 10,
      currency: 'JPY',
    });
    expect(
      (await post(seller, `/v1/temporary-accounts/${deal.body.code}/lock`, { share: '0.5' })).body.error.code,
    ).toBe('lock_share_not_allowed');
  });

  it('[0035] three parties with a group policy: the seller waits for the buyer and the guarantor', async () => {
    await gateway.admin.createCustomer({
      userId: 'guarantor',
      displayName: 'Guarantor',
      password: 'guarantor-pass',
    });
    const body = {
      payeeUserId: 'ibm-shop',
      amountMinor: 2_000,
      currency: 'JPY',
      members: [{ userId: 'guarantor', group: 'escrow' }],
      releasePolicy: { kind: 'group', group: 'escrow' },
    };
    // Without the buyer in the group, the guarantor (and the seller, until the guarantor
    // locked) could take the buyer's money at once (helper-39's review); without the seller,
    // once it had shipped, the buyer could take the money back, or the guarantor the payment
    // (helper-58's review).
    for (const groups of [{}, { buyerGroup: 'escrow' }, { sellerGroup: 'escrow' }]) {
      const refused = await post(buyer, '/v1/temporary-accounts', { ...body, ...groups });
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('invalid_parties');
    }
    const created = await post(buyer, '/v1/temporary-accounts', {
      ...body,
      buyerGroup: 'escrow',
      sellerGroup: 'escrow',
    });
    expect(created.status).toBe(201);
    const code = created.body.code;
    expect(created.body.parties.map((party: { role: string }) => party.role)).toEqual([
      'buyer',
      'seller',
      'member',
    ]);
    const guarantor = await gateway.login('guarantor', 'guarantor-pass');
    const view = async (token: string) =>
      (await gateway.request('GET', `/v1/temporary-accounts/${code}`, { token })).body;
    expect((await view(guarantor)).movableMinor).toBe(0);
    expect((await view(seller)).movableMinor).toBe(0);
    await post(guarantor, `/v1/temporary-accounts/${code}/lock`);
    await post(seller, `/v1/temporary-accounts/${code}/lock`);
    await post(seller, `/v1/temporary-accounts/${code}/ship`, { carrier: 'Yamato', trackingNumber: 'YT-G' });
    // Shipped: the seller's lock holds the buyer's refund and the guarantor.
    expect((await view(buyer)).movableMinor).toBe(0);
    expect((await view(guarantor)).movableMinor).toBe(0);
    await post(buyer, `/v1/temporary-accounts/${code}/accept`);
    // The buyer released; the guarantor's lock still holds the seller.
    expect((await post(seller, `/v1/temporary-accounts/${code}/withdraw`)).body.error.code).toBe(
      'locked_by_other_party',
    );
    await post(guarantor, `/v1/temporary-accounts/${code}/unlock`);
    const taken = await post(seller, `/v1/temporary-accounts/${code}/withdraw`);
    expect(taken.body.status).toBe('dissolved');
  });

  it("a member does not close the buyer's and seller's empty account; the buyer does", async () => {
    await gateway.admin.createCustomer({
      userId: 'bystander',
      displayName: 'Bystander',
      password: 'bystander-pass',
    });
    const created = await post(buyer, '/v1/temporary-accounts', {
      payeeUserId: 'ibm-shop',
      amountMinor: 2_000,
      currency: 'JPY',
      payLater: true,
      members: [{ userId: 'bystander' }],
    });
    expect([created.status, created.body.balanceMinor]).toEqual([201, 0]);
    const code = created.body.code;
    const member = await gateway.login('bystander', 'bystander-pass');
    const refused = await post(member, `/v1/temporary-accounts/${code}/dissolve`);
    expect([refused.status, refused.body.error?.code]).toEqual([403, 'role_not_allowed']);
    const after = await gateway.request('GET', `/v1/temporary-accounts/${code}`, { token: buyer });
    expect([after.body.status, after.body.version]).toEqual(['awaiting_funds', created.body.version]);
    expect((await post(buyer, `/v1/temporary-accounts/${code}/dissolve`)).body.status).toBe('dissolved');
  });

  it('[0036] a deal a member pays for is charged the creation fee with that pay-in', async () => {
    const friend = await gateway.admin.createCustomer({
      userId: 'friend',
      displayName: 'Friend',
      password: 'friend-pass',
    });
    const friendAccount = await gateway.admin.createUsualAccount(friend.id, 'JPY');
    await gateway.admin.topUp(friendAccount.id, 500_000);
    const member = await gateway.login('friend', 'friend-pass');
    const feesBefore = (await gateway.admin.reconcile()).perCurrency[0]?.feesMinor ?? 0;
    // More than the buyer holds: the deal awaits a pay-in, the ¥100 creation fee still due.
    const created = await post(buyer, '/v1/temporary-accounts', {
      payeeUserId: 'ibm-shop',
      amountMinor: 200_000,
      currency: 'JPY',
      members: [{ userId: 'friend' }],
    });
    expect(created.body).toMatchObject({ status: 'awaiting_funds', creationFeeDueMinor: 100 });
    const code = created.body.code;
    const paid = await post(member, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 200_000 });
    expect(paid.body).toMatchObject({ status: 'funded', creationFeeDueMinor: 0 });
    expect(await balances(member)).toEqual([500_000 - 200_000 - 100]);
    await post(seller, `/v1/temporary-accounts/${code}/lock`);
    await post(seller, `/v1/temporary-accounts/${code}/ship`, { carrier: 'Yamato', trackingNumber: 'T2' });
    await post(buyer, `/v1/temporary-accounts/${code}/accept`);
    expect((await post(seller, `/v1/temporary-accounts/${code}/withdraw`)).body.status).toBe('dissolved');
    const books = await gateway.admin.reconcile();
    expect(books.balanced).toBe(true);
    // ¥100 to open and 1% of the ¥200,000 the seller took (it was ¥2,000: helper-39's review).
    expect((books.perCurrency[0]?.feesMinor ?? 0) - feesBefore).toBe(2_100);
  });

  it('[0035] seller-created: the merchant opens the account for the buyer, who pays in', async () => {
    const created = await post(seller, '/v1/temporary-accounts', {
      buyerUserId: 'mizuta',
      amountMinor: 1_500,
      currency: 'JPY',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'awaiting_funds' });
    expect(created.body.parties.map((party: { lock: string }) => party.lock)).toEqual(['0', '1']);
    const paid = await post(buyer, `/v1/temporary-accounts/${created.body.code}/deposit`, {
      amountMinor: 1_500,
    });
    expect(paid.body).toMatchObject({ status: 'funded', balanceMinor: 1_500 });
    expect(paid.body.movableMinor).toBe(0); // the seller's lock holds the buyer
  });
});

describe('locks set to what they are', () => {
  it('change nothing: the same version, no event, no webhook (helper-79: recorded as a change from 0 to 0)', async () => {
    const created = await post(buyer, '/v1/temporary-accounts', {
      payeeUserId: 'ibm-shop',
      amountMinor: 500,
      currency: 'JPY',
    });
    const code = created.body.code as string;
    const events = async () =>
      (await gateway.request('GET', `/v1/temporary-accounts/${code}/events`, { token: buyer })).body.data
        .length;
    const locked = await post(seller, `/v1/temporary-accounts/${code}/lock`);
    expect(locked.status).toBe(200);
    const before = await events();
    const again = await post(seller, `/v1/temporary-accounts/${code}/lock`);
    expect(again.status).toBe(200);
    expect(again.body.version).toBe(locked.body.version);
    expect(again.body.updatedAt).toBe(locked.body.updatedAt);
    expect(await events()).toBe(before);
    // The buyer's lock is on from the start; an unlock of a lock that is off is the same.
    await post(seller, `/v1/temporary-accounts/${code}/unlock`);
    const off = await events();
    const offAgain = await post(seller, `/v1/temporary-accounts/${code}/unlock`);
    expect(offAgain.status).toBe(200);
    expect(await events()).toBe(off);
    // A real change is still one.
    expect((await post(seller, `/v1/temporary-accounts/${code}/lock`)).body.version).toBe(
      offAgain.body.version + 1,
    );
  });
});

describe('idempotency', () => {
  it('a retry returns the first result and applies nothing twice', async () => {
    const [before] = await balances(buyer);
    const body = { payeeUserId: 'ibm-shop', amountMinor: 700, currency: 'JPY' };
    const first = await post(buyer, '/v1/temporary-accounts', body, { 'idempotency-key': 'create-once-1' });
    const again = await post(buyer, '/v1/temporary-accounts', body, { 'idempotency-key': 'create-once-1' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect((await balances(buyer))[0]).toBe(before! - 700 - 100);
  });

  it('the same key with a different request is refused and changes nothing', async () => {
    const body = { payeeUserId: 'ibm-shop', amountMinor: 700, currency: 'JPY' };
    await post(buyer, '/v1/temporary-accounts', body, { 'idempotency-key': 'create-once-2' });
    const [before] = await balances(buyer);
    const other = await post(
      buyer,
      '/v1/temporary-accounts',
      { ...body, amountMinor: 701 },
      { 'idempotency-key': 'create-once-2' },
    );
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_reused');
    expect((await balances(buyer))[0]).toBe(before);
  });

  it('a retry with the same values in another key order or layout is the same request (helper-76)', async () => {
    // A shop that rebuilds its params after a crash sends the same object in another order.
    const [before] = await balances(buyer);
    const first = await post(
      buyer,
      '/v1/temporary-accounts',
      { payeeUserId: 'ibm-shop', amountMinor: 600, currency: 'JPY' },
      { 'idempotency-key': 'create-reordered' },
    );
    expect(first.status).toBe(201);
    for (const rawBody of [
      '{"currency":"JPY","amountMinor":600,"payeeUserId":"ibm-shop"}',
      '{\n  "amountMinor": 600,\n  "currency": "JPY",\n  "payeeUserId": "ibm-shop"\n}',
    ]) {
      const again = await postRaw(buyer, '/v1/temporary-accounts', rawBody, 'create-reordered');
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(first.body);
    }
    // Other values under the key are still another request.
    const other = await postRaw(
      buyer,
      '/v1/temporary-accounts',
      '{"currency":"JPY","amountMinor":601,"payeeUserId":"ibm-shop"}',
      'create-reordered',
    );
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_reused');
    expect((await balances(buyer))[0]).toBe(before! - 600 - 100);
  });

  it('a key stored before bodies were hashed in one form still replays its exact request', async () => {
    // Rows stored by the release before hold the hash of the body's bytes; they live 7 days.
    const source = await post(
      buyer,
      '/v1/temporary-accounts',
      { payeeUserId: 'ibm-shop', amountMinor: 650, currency: 'JPY' },
      { 'idempotency-key': 'create-legacy-source' },
    );
    const me = await gateway.request('GET', '/v1/me', { token: buyer });
    const rawBody = '{ "currency": "JPY", "amountMinor": 650, "payeeUserId": "ibm-shop" }';
    await gateway.gateway.store.transaction((tx) =>
      tx.putIdempotency({
        scope: me.body.id,
        key: 'create-legacy',
        requestHash: exactRequestHash('POST', '/v1/temporary-accounts', rawBody),
        statusCode: 201,
        responseBody: JSON.stringify(source.body),
        createdAt: new Date().toISOString(),
      }),
    );
    const [before] = await balances(buyer);
    const again = await postRaw(buyer, '/v1/temporary-accounts', rawBody, 'create-legacy');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(source.body);
    expect((await balances(buyer))[0]).toBe(before);
  });

  it('two concurrent requests with one key apply once', async () => {
    const [before] = await balances(buyer);
    const body = { payeeUserId: 'ibm-shop', amountMinor: 900, currency: 'JPY' };
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        post(buyer, '/v1/temporary-accounts', body, { 'idempotency-key': 'race-1' }),
      ),
    );
    expect(new Set(answers.map((answer) => answer.body.code)).size).toBe(1);
    expect(answers.every((answer) => answer.status === 201)).toBe(true);
    expect((await balances(buyer))[0]).toBe(before! - 900 - 100);
  });

  it('refuses a malformed key', async () => {
    const bad = await post(
      buyer,
      '/v1/temporary-accounts',
      { payeeUserId: 'ibm-shop', amountMinor: 1, currency: 'JPY' },
      {
        'idempotency-key': 'x'.repeat(300),
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('idempotency_key_invalid');
  });
});

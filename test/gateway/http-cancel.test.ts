import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoLogins } from '../../packages/gateway/src/seed.ts';
import { pageGet, pageLogIn, postForm } from '../support/bank-pages.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * A seller's cancel of a deal not shipped, as the shop (API) and a seller on the bank's pages
 * see it, at a bank with a ¥100 creation fee: what the deal then says of its funding, its locks
 * and its money, and what each party's page offers (helper-87's review).
 */
let gateway: TestGateway;
let seller: string;
let buyer: string;

beforeAll(async () => {
  gateway = await startTestGateway({
    commission: { creation: { JPY: { flatMinor: 100, basisPoints: 0 } }, withdrawal: {} },
  });
  seller = gateway.seed.secretKey;
  buyer = await gateway.buyerToken();
});
afterAll(() => gateway.close());

const call = (token: string, path: string, body: unknown = {}) =>
  gateway.request('POST', `/v1/temporary-accounts${path}`, { token, body });
/** The account as `token`'s holder reads it (the buyer's, unless told). */
const read = async (code: string, token = buyer) =>
  (await gateway.request('GET', `/v1/temporary-accounts/${code}`, { token })).body;

/** The balance of `token`'s holder's first usual account. */
const usualBalanceMinor = async (token: string) =>
  (await gateway.request('GET', '/v1/accounts', { token })).body.usualAccounts[0].balanceMinor as number;

/**
 * A ¥5,000 deal awaiting funds, `paidInMinor` paid in: the shop opened it for the buyer (the
 * shop's lock on), or, with members, the buyer opened it to pay later (the shop's lock on too).
 */
async function sellerOpened(paidInMinor: number, members: string[] = []) {
  const created =
    members.length > 0
      ? await call(buyer, '', {
          payeeUserId: demoLogins.seller.userId,
          amountMinor: 5_000,
          currency: 'JPY',
          payLater: true,
          members: members.map((userId) => ({ userId })),
        })
      : await call(seller, '', { buyerUserId: demoLogins.buyer.userId, amountMinor: 5_000, currency: 'JPY' });
  expect(created.status).toBe(201);
  const code = created.body.code as string;
  if (members.length > 0) expect((await call(seller, `/${code}/lock`)).status).toBe(200);
  if (paidInMinor > 0) {
    expect((await call(buyer, `/${code}/deposit`, { amountMinor: paidInMinor })).status).toBe(200);
  }
  return code;
}

describe('a seller cancels a deal not paid up', () => {
  it('the fee given back may take it over its amount: it still reads unfunded, and checking funds is refused', async () => {
    const code = await sellerOpened(4_950);
    const cancelled = await call(seller, `/${code}/cancel`);
    expect(cancelled.body).toMatchObject({
      status: 'awaiting_funds',
      balanceMinor: 5_050,
      funding: { sufficient: false },
      deadlines: { cancelled: true },
    });
    // The buyer's lock holds nothing from the others: the money is all its own (the seller paid
    // none in); it said the whole balance (helper-90).
    expect(cancelled.body.parties.find((party: { role: string }) => party.role === 'buyer')).toMatchObject({
      lockPpm: 1_000_000,
      heldMinor: 0,
    });
    const checked = await call(seller, `/${code}/check-funds`);
    expect([checked.status, checked.body.error?.code]).toEqual([409, 'deal_cancelled']);
    // Shipping, accepting and rejecting answer why, as pay-ins do: they said
    // `account_awaiting_funds` (helper-90), asking for a pay-in the bank refuses.
    const shipped = await call(seller, `/${code}/ship`, { carrier: 'Yamato', trackingNumber: 'X' });
    const accepted = await call(buyer, `/${code}/accept`);
    const rejected = await call(buyer, `/${code}/reject`, { reason: 'never came' });
    expect([shipped, accepted, rejected].map((answer) => [answer.status, answer.body.error?.code])).toEqual([
      [409, 'deal_cancelled'],
      [409, 'deal_cancelled'],
      [409, 'deal_cancelled'],
    ]);
    expect((await read(code)).version).toBe(cancelled.body.version);
    // The bank's page says where the ¥100 came from.
    const { cookie } = await pageLogIn(gateway, demoLogins.buyer.userId, demoLogins.buyer.password);
    const page = (await pageGet(gateway, `/bank/temporary-accounts/${code}`, cookie)).text;
    expect(page).toContain(
      'Cancelled by the seller (the bank&#39;s creation fee of 100 JPY given back into it)',
    );
    // Neither Lock nor Unlock for the buyer: the money is the buyer's to take.
    expect(page).not.toContain('data-action="lock"');
    expect(page).not.toContain('data-action="unlock"');
    expect(page).toContain('data-action="withdraw"');
    expect(page).toContain('<button type="submit" id="withdraw-button">Take back what you paid in</button>');
    const back = await call(buyer, `/${code}/withdraw`);
    expect(back.body).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
    expect((await gateway.admin.reconcile()).balanced).toBe(true);
  });

  it("a member's lock on a deal one yen short is not cancelled away; once it lets go, it is not turned on again (helper-94)", async () => {
    const code = await sellerOpened(0, [demoLogins.buyer2.userId]);
    const member = await gateway.login(demoLogins.buyer2.userId, demoLogins.buyer2.password);
    expect((await call(member, `/${code}/deposit`, { amountMinor: 4_999 })).body.status).toBe(
      'awaiting_funds',
    );
    expect((await call(member, `/${code}/lock`)).status).toBe(200);
    const before = await read(code);
    const refused = await call(seller, `/${code}/cancel`);
    expect([refused.status, refused.body.error?.code, refused.body.error?.details]).toEqual([
      409,
      'invalid_state',
      { memberLocksOn: 1 },
    ]);
    expect(await read(code)).toEqual(before);
    expect((await read(code, seller)).mayCancel).toBe(false);
    // The member lets go: the shop calls the deal off, and the money goes back to the member
    // who paid it in, with the creation fee it paid (it went to the buyer before).
    expect((await call(member, `/${code}/unlock`)).status).toBe(200);
    expect((await call(seller, `/${code}/cancel`)).status).toBe(200);
    const view = await read(code);
    expect(view.parties.find((party: { role: string }) => party.role === 'member')).toMatchObject({
      lockPpm: 0,
      heldMinor: 0,
    });
    expect([view.balanceMinor, view.movableMinor, (await read(code, member)).movableMinor]).toEqual([
      5_099, 0, 5_099,
    ]);
    const buyerTakes = await call(buyer, `/${code}/withdraw`);
    // Refused as none of it the buyer's (it was told another party's lock held it: helper-97).
    expect([buyerTakes.status, buyerTakes.body.error?.code, buyerTakes.body.error?.message]).toEqual([
      409,
      'deal_cancelled',
      'What this deal holds goes back to who paid it in, and none of it is yours to take.',
    ]);
    const relock = await call(member, `/${code}/lock`);
    expect([relock.status, relock.body.error?.code]).toEqual([409, 'deal_cancelled']);
    expect((await read(code, member)).mayLock).toBe(false);
    // The member's bank page offers it as the buyer's does.
    const page = await pageLogIn(gateway, demoLogins.buyer2.userId, demoLogins.buyer2.password);
    expect((await pageGet(gateway, `/bank/temporary-accounts/${code}`, page.cookie)).text).toContain(
      '<button type="submit" id="withdraw-button">Take back what you paid in</button>',
    );
    const usualBefore = await usualBalanceMinor(member);
    expect((await call(member, `/${code}/withdraw`)).body).toMatchObject({
      status: 'dissolved',
      balanceMinor: 0,
    });
    expect((await usualBalanceMinor(member)) - usualBefore).toBe(5_099);
    expect((await gateway.admin.reconcile()).balanced).toBe(true);
  });

  it("the seller's page: a confirmed Cancel on a deal not paid up; then no Withdraw of the buyer's money", async () => {
    const code = await sellerOpened(1_000);
    const s = await pageLogIn(gateway, demoLogins.seller.userId, demoLogins.seller.password);
    const before = (await pageGet(gateway, `/bank/temporary-accounts/${code}`, s.cookie)).text;
    expect(before).toContain('data-action="cancel"');
    expect(before).toContain('Cancelling calls the deal off for good');
    const send = (fields: Record<string, string>) =>
      postForm(
        gateway,
        `/bank/temporary-accounts/${code}/cancel`,
        { csrf: s.csrf, idempotencyKey: `page-${Math.random()}`, ...fields },
        { cookie: s.cookie },
      );
    const unticked = await send({});
    expect(unticked.headers.get('location')).toContain('error=not_confirmed');
    expect((await read(code)).deadlines.cancelled).toBe(false);
    const ticked = await send({ confirm: 'yes' });
    expect(ticked.headers.get('location')).toContain('notice=cancel');
    expect((await read(code)).deadlines.cancelled).toBe(true);
    const after = (await pageGet(gateway, ticked.headers.get('location') as string, s.cookie)).text;
    expect(after).not.toContain('data-action="cancel"');
    expect(after).not.toContain('data-action="withdraw"');
    expect(after).toContain('The deal is off: it takes no more money');
  });

  it("a paid-up deal the seller will not ship: cancelled from the seller's page, out of ?status=funded, the buyer's money and fee back (helper-90)", async () => {
    // It was refused (invalid_state: "turn your lock off instead"), and the bank kept the fee.
    const code = await sellerOpened(5_000);
    expect(await read(code)).toMatchObject({ status: 'funded', balanceMinor: 5_000 });
    const s = await pageLogIn(gateway, demoLogins.seller.userId, demoLogins.seller.password);
    expect((await pageGet(gateway, `/bank/temporary-accounts/${code}`, s.cookie)).text).toContain(
      'data-action="cancel"',
    );
    const ticked = await postForm(
      gateway,
      `/bank/temporary-accounts/${code}/cancel`,
      { csrf: s.csrf, idempotencyKey: `page-${Math.random()}`, confirm: 'yes' },
      { cookie: s.cookie },
    );
    expect(ticked.headers.get('location')).toContain('notice=cancel');
    expect(await read(code)).toMatchObject({
      status: 'awaiting_funds',
      balanceMinor: 5_100,
      funding: { sufficient: false },
      deadlines: { cancelled: true, payMissed: true },
      mayShip: false,
    });
    const funded = await gateway.request('GET', '/v1/temporary-accounts?status=funded&limit=100', {
      token: seller,
    });
    expect(funded.body.data.map((deal: { code: string }) => deal.code)).not.toContain(code);
    const shipped = await call(seller, `/${code}/ship`, { carrier: 'Yamato', trackingNumber: 'X' });
    expect([shipped.status, shipped.body.error?.code]).toEqual([409, 'deal_cancelled']);
    const back = await call(buyer, `/${code}/withdraw`);
    expect(back.body).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
    expect((await gateway.admin.reconcile()).balanced).toBe(true);
    // Shipped: not cancelled.
    const sent = await sellerOpened(5_000);
    expect((await call(seller, `/${sent}/ship`, { carrier: 'Yamato', trackingNumber: 'Y' })).status).toBe(
      200,
    );
    const late = await call(seller, `/${sent}/cancel`);
    expect([late.status, late.body.error?.code]).toEqual([409, 'already_shipped']);
    expect((await read(sent, seller)).mayCancel).toBe(false);
  });

  it("a paid-up deal a member's lock holds is not cancelled: the buyer would take the member's money (helper-92)", async () => {
    const code = await sellerOpened(0, [demoLogins.buyer2.userId]);
    const member = await gateway.login(demoLogins.buyer2.userId, demoLogins.buyer2.password);
    expect((await call(member, `/${code}/deposit`, { amountMinor: 5_000 })).body.status).toBe('funded');
    expect((await call(member, `/${code}/lock`)).status).toBe(200);
    const refused = await call(seller, `/${code}/cancel`);
    expect([refused.status, refused.body.error?.code, refused.body.error?.details]).toEqual([
      409,
      'invalid_state',
      { memberLocksOn: 1 },
    ]);
    const asSeller = await read(code, seller);
    expect([asSeller.status, asSeller.mayCancel, asSeller.version]).toEqual([
      'funded',
      false,
      (await read(code)).version,
    ]);
    // The member turns its lock off: the shop may call the deal off.
    expect((await call(member, `/${code}/unlock`)).status).toBe(200);
    expect((await call(seller, `/${code}/cancel`)).body).toMatchObject({ deadlines: { cancelled: true } });
  });

  it('a cancelled deal no longer says a creation fee is due: no pay-in can come (helper-90)', async () => {
    const empty = await sellerOpened(0);
    expect((await read(empty)).creationFeeDueMinor).toBe(100);
    expect((await call(seller, `/${empty}/cancel`)).body).toMatchObject({
      status: 'dissolved',
      creationFeeDueMinor: 0,
      amountDueMinor: 0,
    });
    // Part paid (the fee charged with the pay-in, then given back): nothing due either.
    const part = await sellerOpened(1_000);
    expect((await call(seller, `/${part}/cancel`)).body).toMatchObject({
      status: 'awaiting_funds',
      creationFeeDueMinor: 0,
    });
  });

  it('cancelling a deal the buyer closed, or took back, answers 200 and changes nothing', async () => {
    const code = await sellerOpened(0);
    const closed = await call(buyer, `/${code}/dissolve`);
    expect(closed.body.status).toBe('dissolved');
    const again = await call(seller, `/${code}/cancel`);
    expect([again.status, again.body.version]).toEqual([200, closed.body.version]);
    // Taken back in full before the shop's cancel: closed by the buyer; the bank keeps its fee,
    // as when the buyer walks away from any deal (the cancel finds nothing to give it back to).
    const taken = await sellerOpened(1_000);
    expect((await call(seller, `/${taken}/unlock`)).status).toBe(200);
    const back = await call(buyer, `/${taken}/withdraw`);
    expect(back.body).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
    const late = await call(seller, `/${taken}/cancel`);
    expect([late.status, late.body.version, late.body.deadlines.cancelled]).toEqual([
      200,
      back.body.version,
      false,
    ]);
  });

  it('a seller holding an advance the buyer allowed cannot cancel, open or emptied, and its page offers no Cancel (helper-88)', async () => {
    const code = await sellerOpened(1_000);
    expect((await call(buyer, `/${code}/unlock`)).status).toBe(200);
    expect((await call(seller, `/${code}/unlock`)).status).toBe(200);
    expect((await call(seller, `/${code}/withdraw`, { amountMinor: 400 })).status).toBe(200);
    const open = await call(seller, `/${code}/cancel`);
    expect([open.status, open.body.error?.code, open.body.error?.details]).toEqual([
      409,
      'invalid_state',
      { sellerTookMinor: 400 },
    ]);
    const s = await pageLogIn(gateway, demoLogins.seller.userId, demoLogins.seller.password);
    expect((await pageGet(gateway, `/bank/temporary-accounts/${code}`, s.cookie)).text).not.toContain(
      'data-action="cancel"',
    );
    expect((await read(code, seller)).mayCancel).toBe(false);
    // Taking the rest dissolves the deal: the cancel is still refused, not "200, closed".
    const rest = await call(seller, `/${code}/withdraw`);
    expect(rest.body.status).toBe('dissolved');
    const emptied = await call(seller, `/${code}/cancel`);
    expect([emptied.status, emptied.body.error?.code]).toEqual([409, 'invalid_state']);
  });
});

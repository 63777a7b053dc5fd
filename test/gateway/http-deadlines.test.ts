import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoLogins } from '../../packages/gateway/src/seed.ts';
import { pageGet, pageLogIn } from '../support/bank-pages.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * A deal's deadlines over HTTP (@lockstep/core deadlines.ts): a seller who locks and never
 * ships does not hold the buyer's money for ever, and a buyer who never answers does not hold
 * the seller's. Defaults: 14 days to ship after the seller's lock, 14 days for the verdict.
 */
const dayMs = 24 * 60 * 60 * 1000;
let clock = new Date('2026-11-26T10:00:00.000Z');
let gateway: TestGateway;
let seller: string;

beforeAll(async () => {
  // The sweep runs when the test says so, two deals per page (so it pages through the rest).
  gateway = await startTestGateway({ now: () => clock, deadlines: { firstDelayMs: 1e9, batchSize: 2 } });
  seller = gateway.seed.secretKey;
});
afterAll(() => gateway.close());

const later = (ms: number) => {
  clock = new Date(clock.getTime() + ms);
};
/** The buyer's calls log in anew: days pass between them, and a session lasts 12 hours. */
const buyer = Symbol('buyer');
type Caller = string | typeof buyer;
const tokenOf = async (caller: Caller) => (caller === buyer ? gateway.buyerToken() : caller);
const post = async (caller: Caller, path: string, body: unknown = {}) =>
  gateway.request('POST', path, { token: await tokenOf(caller), body });
const get = async (path: string) => gateway.request('GET', path, { token: await tokenOf(buyer) });

/** A funded deal for ¥5,000 of the demo buyer with the demo shop, the seller's lock on. */
async function lockedDeal() {
  const created = await post(buyer, '/v1/temporary-accounts', {
    payeeUserId: 'ibm-shop',
    amountMinor: 5_000,
    currency: 'JPY',
  });
  expect(created.status).toBe(201);
  const code = created.body.code as string;
  const locked = await post(seller, `/v1/temporary-accounts/${code}/lock`);
  expect(locked.status).toBe(200);
  return { code, locked: locked.body };
}

/** The bank's status page of an account as one of the demo customers sees it (HTML). */
async function bankPage(code: string, login: { userId: string; password: string } = demoLogins.buyer) {
  const { cookie } = await pageLogIn(gateway, login.userId, login.password);
  return (await pageGet(gateway, `/bank/temporary-accounts/${code}`, cookie)).text;
}

const lockOf = (account: { parties: Array<{ role: string; lockPpm: number }> }, role: string) =>
  account.parties.find((party) => party.role === role)?.lockPpm;

async function eventTypes(code: string) {
  const events = await get(`/v1/temporary-accounts/${code}/events`);
  return (events.body.data as Array<{ type: string; actor: string; data: Record<string, unknown> }>).map(
    (event) => `${event.type}${event.type.startsWith('deadline.') ? `:${event.data.deadline}` : ''}`,
  );
}

describe('deal deadlines', () => {
  it('a seller who locks and never ships: its lock comes off after 14 days and the buyer takes the money back', async () => {
    const { code, locked } = await lockedDeal();
    expect(locked.deadlines).toEqual({
      shipBy: new Date(clock.getTime() + 14 * dayMs).toISOString(),
      verdictBy: null,
      shipMissed: false,
      payBy: null,
      payMissed: false,
      cancelled: false,
      verdictMissed: false,
    });
    // The seller may ship it; the buyer may not.
    const sellerSees = await gateway.request('GET', `/v1/temporary-accounts/${code}`, { token: seller });
    expect([sellerSees.body.mayShip, (await get(`/v1/temporary-accounts/${code}`)).body.mayShip]).toEqual([
      true,
      false,
    ]);
    // Unlocking and locking again does not buy time.
    later(dayMs);
    await post(seller, `/v1/temporary-accounts/${code}/unlock`);
    const relocked = await post(seller, `/v1/temporary-accounts/${code}/lock`);
    expect(relocked.body.deadlines.shipBy).toBe(locked.deadlines.shipBy);
    // Told once, when set (`deadline.set`, by the bank, with the date), not at every lock.
    const events = await get(`/v1/temporary-accounts/${code}/events`);
    const set = events.body.data.filter((event: { type: string }) => event.type === 'deadline.set');
    expect(set).toHaveLength(1);
    expect(set[0]).toMatchObject({
      actor: 'bank',
      data: { deadline: 'ship', dueAt: locked.deadlines.shipBy },
    });
    expect(set[0].seq).toBe(locked.version);
    // Before the deadline the buyer cannot take the money back.
    later(12 * dayMs);
    expect(await gateway.gateway.deadlineSweep?.sweep()).toMatchObject({ passed: 0 });
    expect((await post(buyer, `/v1/temporary-accounts/${code}/withdraw`)).body.error.code).toBe(
      'locked_by_other_party',
    );
    later(2 * dayMs);
    expect(await gateway.gateway.deadlineSweep?.sweep()).toMatchObject({ passed: 1 });
    const after = await get(`/v1/temporary-accounts/${code}`);
    expect(lockOf(after.body, 'seller')).toBe(0);
    expect(after.body.movableMinor).toBe(5_000);
    expect((await eventTypes(code)).slice(-2)).toEqual(['deadline.passed:ship', 'lock.changed']);
    expect(after.body.deadlines.shipMissed).toBe(true);
    const sellerView = await gateway.request('GET', `/v1/temporary-accounts/${code}`, { token: seller });
    expect([sellerView.body.mayLock, after.body.mayLock]).toEqual([false, true]);
    // Nor does it offer shipping, which is refused now (helper-91: the seller's page offered it).
    expect(sellerView.body.mayShip).toBe(false);
    // It left the seller's shipping queue, as a cancelled deal does: funded no more.
    expect(after.body.status).toBe('awaiting_funds');
    const listed = async (status: string) =>
      (
        await gateway.request('GET', `/v1/temporary-accounts?status=${status}&limit=100`, { token: seller })
      ).body.data.map((account: { code: string }) => account.code);
    expect(await listed('funded')).not.toContain(code);
    expect(await listed('awaiting_funds')).toContain(code);
    expect(await bankPage(code, demoLogins.seller)).not.toContain('data-action="ship"');
    const page = await bankPage(code);
    expect(page).toContain('The seller missed its shipping deadline: the money is yours to take back.');
    expect(page).toContain('<button type="submit" id="withdraw-button">Take your money back</button>');
    // The seller may not ship late (helper-89: the shipment was recorded, the shop shipped, and
    // the buyer took all its money back) nor lock it again (helper-37's review); the buyer takes
    // the money back and the deal dissolves.
    const late = await post(seller, `/v1/temporary-accounts/${code}/ship`, {
      carrier: 'Yamato',
      trackingNumber: 'YT-late',
    });
    expect(late.status).toBe(409);
    expect(late.body.error).toMatchObject({
      code: 'deadline_passed',
      details: { shipBy: locked.deadlines.shipBy },
    });
    expect((await get(`/v1/temporary-accounts/${code}`)).body.shipment).toBeNull();
    const again = await post(seller, `/v1/temporary-accounts/${code}/lock`);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'deadline_passed',
      details: { shipBy: locked.deadlines.shipBy },
    });
    const refund = await post(buyer, `/v1/temporary-accounts/${code}/withdraw`);
    expect(refund.status).toBe(200);
    expect(refund.body.status).toBe('dissolved');
    // Nothing more is due on it.
    expect(await gateway.gateway.deadlineSweep?.sweep()).toMatchObject({ passed: 0 });
  });

  it("a command after the deadline applies it itself: the buyer's refund does not wait for the sweep", async () => {
    const { code } = await lockedDeal();
    later(15 * dayMs);
    const refund = await post(buyer, `/v1/temporary-accounts/${code}/withdraw`);
    expect(refund.status).toBe(200);
    expect(refund.body.status).toBe('dissolved');
    expect((await eventTypes(code)).slice(-4)).toEqual([
      'deadline.passed:ship',
      'lock.changed',
      'account.withdrawn',
      'account.dissolved',
    ]);
  });

  it('a buyer who never gives a verdict: the deal is accepted 14 days after shipping and the seller is paid', async () => {
    const { code } = await lockedDeal();
    later(3 * dayMs);
    const shipped = await post(seller, `/v1/temporary-accounts/${code}/ship`, {
      carrier: 'Yamato',
      trackingNumber: 'YT-1',
    });
    expect(shipped.status).toBe(200);
    // Shipped in time: the ship deadline is kept for the record, the verdict's starts now.
    expect(shipped.body.deadlines.verdictBy).toBe(new Date(clock.getTime() + 14 * dayMs).toISOString());
    later(13 * dayMs);
    expect(await gateway.gateway.deadlineSweep?.sweep()).toMatchObject({ passed: 0 });
    expect((await post(seller, `/v1/temporary-accounts/${code}/withdraw`)).body.error.code).toBe(
      'locked_by_other_party',
    );
    later(dayMs);
    expect(await gateway.gateway.deadlineSweep?.sweep()).toMatchObject({ passed: 1 });
    const after = await get(`/v1/temporary-accounts/${code}`);
    expect(after.body.verdict).toBe('accepted');
    // Accepted by the bank, not released by the buyer: said so (helper-89: the widget read "You
    // released the payment", the bank's history a bare deal.accepted).
    expect(after.body.deadlines.verdictMissed).toBe(true);
    const history = await bankPage(code);
    expect(history).toContain('Deadline passed (verdict deadline)');
    expect(history).toContain('Payment released (by the bank: the buyer gave no verdict by the deadline)');
    expect(lockOf(after.body, 'buyer')).toBe(0);
    // The view says what the lock command would answer: the buyer may not lock again.
    expect(after.body.mayLock).toBe(false);
    expect((await eventTypes(code)).slice(-3)).toEqual([
      'deadline.passed:verdict',
      'deal.accepted',
      'lock.changed',
    ]);
    // Accepted is final: the buyer may not lock again to hold the seller's payment (helper-38).
    const relock = await post(buyer, `/v1/temporary-accounts/${code}/lock`);
    expect(relock.status).toBe(409);
    expect(relock.body.error.code).toBe('verdict_already_given');
    const paid = await post(seller, `/v1/temporary-accounts/${code}/withdraw`);
    expect(paid.status).toBe(200);
    expect(paid.body.status).toBe('dissolved');
  });

  it("a member's lock does not hold an accepted deal's payment past the verdict deadline, nor comes on again (helper-94)", async () => {
    const member = async () => gateway.login(demoLogins.buyer2.userId, demoLogins.buyer2.password);
    const created = await post(buyer, '/v1/temporary-accounts', {
      payeeUserId: 'ibm-shop',
      amountMinor: 5_000,
      currency: 'JPY',
      members: [{ userId: demoLogins.buyer2.userId }],
    });
    expect(created.status).toBe(201);
    const code = created.body.code as string;
    expect((await post(await member(), `/v1/temporary-accounts/${code}/lock`)).status).toBe(200);
    expect((await post(seller, `/v1/temporary-accounts/${code}/lock`)).status).toBe(200);
    const shipped = await post(seller, `/v1/temporary-accounts/${code}/ship`, {
      carrier: 'Yamato',
      trackingNumber: 'M-1',
    });
    expect(shipped.status).toBe(200);
    later(dayMs);
    expect((await post(buyer, `/v1/temporary-accounts/${code}/accept`)).body.verdict).toBe('accepted');
    expect((await post(seller, `/v1/temporary-accounts/${code}/withdraw`)).body.error.code).toBe(
      'locked_by_other_party',
    );
    // The buyer's page says until when the member's lock holds it (its Deadline line said "—").
    const { verdictBy } = (await get(`/v1/temporary-accounts/${code}`)).body.deadlines;
    const session = await pageLogIn(gateway, demoLogins.buyer.userId, demoLogins.buyer.password);
    expect((await pageGet(gateway, `/bank/temporary-accounts/${code}`, session.cookie)).text).toContain(
      `lock holds it until ${verdictBy.slice(0, 10)} ${verdictBy.slice(11, 16)} UTC at the latest`,
    );
    later(13 * dayMs);
    const swept = await gateway.gateway.deadlineSweep?.sweep();
    expect(swept?.passed).toBeGreaterThanOrEqual(1);
    const after = await get(`/v1/temporary-accounts/${code}`);
    expect(lockOf(after.body, 'member')).toBe(0);
    expect((await eventTypes(code)).slice(-2)).toEqual(['deadline.passed:verdict', 'lock.changed']);
    // Nor does it come on again: nothing would end it now.
    const again = await post(await member(), `/v1/temporary-accounts/${code}/lock`);
    expect([again.status, again.body.error?.code]).toEqual([409, 'verdict_already_given']);
    const paid = await post(seller, `/v1/temporary-accounts/${code}/withdraw`);
    expect([paid.status, paid.body.status]).toEqual([200, 'dissolved']);
  });

  it('a missed ship deadline gives a member its own pay-in back and the buyer the rest, whatever the locks (helper-97)', async () => {
    const member = async () => gateway.login(demoLogins.buyer2.userId, demoLogins.buyer2.password);
    const created = await post(buyer, '/v1/temporary-accounts', {
      payeeUserId: 'ibm-shop',
      amountMinor: 5_000,
      currency: 'JPY',
      payLater: true,
      members: [{ userId: demoLogins.buyer2.userId }],
    });
    expect(created.status).toBe(201);
    const code = created.body.code as string;
    const path = `/v1/temporary-accounts/${code}`;
    expect((await post(await member(), `${path}/deposit`, { amountMinor: 3_000 })).status).toBe(200);
    expect((await post(buyer, `${path}/deposit`, { amountMinor: 2_000 })).body.status).toBe('funded');
    expect((await post(await member(), `${path}/lock`)).status).toBe(200);
    expect((await post(seller, `${path}/lock`)).status).toBe(200);
    later(15 * dayMs);
    await gateway.gateway.deadlineSweep?.sweep();
    const asMember = (await gateway.request('GET', path, { token: await member() })).body;
    const asBuyer = (await get(path)).body;
    expect([asMember.deadlines.shipMissed, asMember.movableMinor, asBuyer.movableMinor]).toEqual([
      true,
      3_000,
      2_000,
    ]);
    const sellerTakes = await post(seller, `${path}/withdraw`);
    expect([sellerTakes.status, sellerTakes.body.error?.code]).toEqual([409, 'deadline_passed']);
    // No report of a problem reopens the locks' say (helper-98), and none is offered.
    const report = await post(buyer, `${path}/reject`, { reason: 'never came' });
    expect([report.status, report.body.error?.code]).toEqual([409, 'deadline_passed']);
    const session = await pageLogIn(gateway, demoLogins.buyer.userId, demoLogins.buyer.password);
    expect((await pageGet(gateway, `/bank/temporary-accounts/${code}`, session.cookie)).text).not.toContain(
      'Report a problem',
    );
    expect((await post(await member(), `${path}/withdraw`)).body.balanceMinor).toBe(2_000);
    // Taken back below its amount, it asks for no pay-in (it did) and takes none.
    const left = (await get(path)).body;
    expect([left.amountDueMinor, left.funding.sufficient, left.movableMinor]).toEqual([0, false, 2_000]);
    const payIn = await post(buyer, `${path}/deposit`, { amountMinor: 3_000 });
    expect([payIn.status, payIn.body.error?.code]).toEqual([409, 'deadline_passed']);
    expect((await post(buyer, `${path}/withdraw`)).body.status).toBe('dissolved');
    expect((await gateway.admin.reconcile()).balanced).toBe(true);
  });

  it('a rejected deal has no deadline: the money stays held until the seller releases it', async () => {
    const { code } = await lockedDeal();
    await post(seller, `/v1/temporary-accounts/${code}/ship`, { carrier: 'Yamato', trackingNumber: 'YT-2' });
    const rejected = await post(buyer, `/v1/temporary-accounts/${code}/reject`, { reason: 'broken' });
    expect(rejected.status).toBe(200);
    later(60 * dayMs);
    expect(await gateway.gateway.deadlineSweep?.sweep()).toMatchObject({ passed: 0 });
    const after = await get(`/v1/temporary-accounts/${code}`);
    expect(after.body.verdict).toBe('rejected');
    expect(lockOf(after.body, 'seller')).toBe(1_000_000);
    expect(lockOf(after.body, 'buyer')).toBe(1_000_000);
  });

  it('a shipped deal given a part refund still meets its verdict deadline: the seller is paid the rest (helper-100)', async () => {
    const { code } = await lockedDeal();
    const path = `/v1/temporary-accounts/${code}`;
    const shipped = await post(seller, `${path}/ship`, { carrier: 'Yamato', trackingNumber: 'YT-100' });
    const { verdictBy } = shipped.body.deadlines;
    later(dayMs);
    // A part refund: the seller unlocks, the buyer takes ¥1,000 back, the seller locks again.
    expect((await post(seller, `${path}/unlock`)).status).toBe(200);
    const refund = await post(buyer, `${path}/withdraw`, { amountMinor: 1_000 });
    // Still funded (it was made "awaiting funds", which no deadline waits on), nothing due.
    expect([refund.status, refund.body.status, refund.body.balanceMinor, refund.body.amountDueMinor]).toEqual(
      [200, 'funded', 4_000, 0],
    );
    expect((await post(seller, `${path}/lock`)).status).toBe(200);
    // Short of nothing: a shortfall no pay-in could make good is not told (helper-101).
    expect(refund.body.funding).toEqual({ sufficient: true, shortfallMinor: 0 });
    const checked = await post(seller, `${path}/check-funds`);
    expect([checked.body.sufficient, checked.body.shortfallMinor]).toEqual([true, 0]);
    const more = await post(buyer, `${path}/deposit`, { amountMinor: 1 });
    expect([more.status, more.body.error?.code]).toEqual([409, 'exceeds_amount_due']);
    later(30 * dayMs);
    expect(clock.toISOString() > verdictBy).toBe(true);
    expect(await gateway.gateway.bank.passDeadlinesOf(code)).toBe('passed');
    const paid = await post(seller, `${path}/withdraw`);
    expect([paid.status, paid.body.status]).toEqual([200, 'dissolved']);
    expect(await eventTypes(code)).toContain('deal.accepted');
    expect((await gateway.admin.reconcile()).balanced).toBe(true);
  });

  it('a shipped deal an older release stored as awaiting funds after a part refund is put right by the sweep (helper-100)', async () => {
    const { code } = await lockedDeal();
    const path = `/v1/temporary-accounts/${code}`;
    await post(seller, `${path}/ship`, { carrier: 'Yamato', trackingNumber: 'YT-101' });
    await post(seller, `${path}/unlock`);
    await post(buyer, `${path}/withdraw`, { amountMinor: 1_000 });
    await post(seller, `${path}/lock`);
    // As the release before stored it: awaiting funds, so no deadline indexed. The store
    // migration makes every open deal without one due once; this call for the one deal does it.
    await gateway.gateway.store.transaction(async (tx) => {
      const account = await tx.getTemporaryAccount(code);
      const old = { ...(account as NonNullable<typeof account>), status: 'awaiting_funds' as const };
      await tx.updateTemporaryAccount(old, old.version);
    });
    expect((await get(path)).body.status).toBe('awaiting_funds');
    // Handled past its verdict deadline: the buyer, refused a verdict until now, gets a whole
    // new window, told as deadline.set, not an acceptance made for it at once (helper-101).
    later(30 * dayMs);
    expect(await gateway.gateway.bank.passDeadlinesOf(code)).toBe('rescheduled');
    const rescued = await get(path);
    expect([rescued.body.status, rescued.body.verdict, rescued.body.deadlines.verdictBy]).toEqual([
      'funded',
      null,
      new Date(clock.getTime() + 14 * dayMs).toISOString(),
    ]);
    expect((await eventTypes(code)).at(-1)).toBe('deadline.set:verdict');
    expect(rescued.body.funding).toEqual({ sufficient: true, shortfallMinor: 0 });
    later(14 * dayMs);
    expect(await gateway.gateway.bank.passDeadlinesOf(code)).toBe('passed');
    const after = await get(path);
    expect([after.body.status, after.body.verdict, lockOf(after.body, 'buyer')]).toEqual([
      'funded',
      'accepted',
      0,
    ]);
    expect((await post(seller, `${path}/withdraw`)).status).toBe(200);
    expect((await gateway.admin.reconcile()).balanced).toBe(true);
  });

  it('a deal from before deadlines gets them from the first time the bank handles it', async () => {
    const { code } = await lockedDeal();
    // As a release without deadlines left it: locked, no deadlines. The upgrade makes every open
    // deal due once (the migration), which is what this call for the one deal does.
    await gateway.gateway.store.transaction(async (tx) => {
      const account = await tx.getTemporaryAccount(code);
      const { deadlines: _none, ...old } = account as NonNullable<typeof account>;
      await tx.updateTemporaryAccount(old, old.version);
    });
    expect((await get(`/v1/temporary-accounts/${code}`)).body.deadlines.shipBy).toBeNull();
    const before = await get(`/v1/temporary-accounts/${code}`);
    expect(await gateway.gateway.bank.passDeadlinesOf(code)).toBe('rescheduled');
    const adopted = await get(`/v1/temporary-accounts/${code}`);
    expect(adopted.body.deadlines.shipBy).toBe(new Date(clock.getTime() + 14 * dayMs).toISOString());
    // The parties are told, as for any deal: a new version and its event.
    expect(adopted.body.version).toBe(before.body.version + 1);
    expect((await eventTypes(code)).at(-1)).toBe('deadline.set:ship');
    // Set once: handled again, nothing more is told.
    expect(await gateway.gateway.bank.passDeadlinesOf(code)).toBe('rescheduled');
    expect((await get(`/v1/temporary-accounts/${code}`)).body.version).toBe(adopted.body.version);
    later(14 * dayMs);
    expect(await gateway.gateway.deadlineSweep?.sweep()).toMatchObject({ passed: 1 });
    expect(lockOf((await get(`/v1/temporary-accounts/${code}`)).body, 'seller')).toBe(0);
  });

  it('a part-paid deal whose ship clock the old rule started gets a pay deadline instead, and its seller keeps its lock (helper-83)', async () => {
    const opened = await post(seller, '/v1/temporary-accounts', {
      buyerUserId: 'mizuta',
      amountMinor: 3_000,
      currency: 'JPY',
    });
    const code = opened.body.code as string;
    expect((await post(buyer, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 1 })).status).toBe(
      200,
    );
    // As the release before stored it: the seller's lock on a part payment set shipBy, no payBy.
    const oldShipBy = new Date(clock.getTime() + 14 * dayMs).toISOString();
    await gateway.gateway.store.transaction(async (tx) => {
      const account = await tx.getTemporaryAccount(code);
      const old = {
        ...(account as NonNullable<typeof account>),
        deadlines: { shipBy: oldShipBy, verdictBy: null, shipMissed: false },
      };
      await tx.updateTemporaryAccount(old, old.version);
    });
    later(15 * dayMs);
    // Past that date the seller's lock would have come off for good; it is a pay deadline now.
    expect(await gateway.gateway.bank.passDeadlinesOf(code)).toBe('rescheduled');
    const now = (await get(`/v1/temporary-accounts/${code}`)).body;
    expect(now.deadlines).toMatchObject({
      shipBy: null,
      shipMissed: false,
      payBy: new Date(clock.getTime() + 7 * dayMs).toISOString(),
    });
    expect(lockOf(now, 'seller')).toBe(1_000_000);
    const paid = await post(buyer, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 2_999 });
    expect(paid.body).toMatchObject({ status: 'funded' });
    expect(paid.body.deadlines).toMatchObject({
      shipBy: new Date(clock.getTime() + 14 * dayMs).toISOString(),
      payBy: null,
    });
    expect(
      (
        await post(seller, `/v1/temporary-accounts/${code}/ship`, {
          carrier: 'Yamato',
          trackingNumber: 'L-2',
        })
      ).status,
    ).toBe(200);
    // Done with: released and paid, nothing left due.
    expect((await post(buyer, `/v1/temporary-accounts/${code}/accept`)).status).toBe(200);
    expect((await post(seller, `/v1/temporary-accounts/${code}/withdraw`)).body.status).toBe('dissolved');
  });

  it("a buyer's pay-in into a deal the seller locked starts the ship deadline, and the seller is told", async () => {
    const opened = await post(seller, '/v1/temporary-accounts', {
      buyerUserId: 'mizuta',
      amountMinor: 3_000,
      currency: 'JPY',
    });
    expect(opened.status).toBe(201);
    const code = opened.body.code as string;
    // The seller's lock is on from the start, but the deal is not paid: no ship deadline, and
    // a pay deadline for the buyer (told at once).
    expect(opened.body.deadlines).toMatchObject({
      shipBy: null,
      payBy: new Date(clock.getTime() + 7 * dayMs).toISOString(),
    });
    expect(await eventTypes(code)).toEqual(['account.created', 'deadline.set:pay']);
    const paid = await post(buyer, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 3_000 });
    expect(paid.status).toBe(200);
    expect(paid.body.deadlines.shipBy).toBe(new Date(clock.getTime() + 14 * dayMs).toISOString());
    const types = await eventTypes(code);
    expect(types.at(-1)).toBe('deadline.set:ship');
    expect(types.filter((type) => type.startsWith('deadline.set'))).toEqual([
      'deadline.set:pay',
      'deadline.set:ship',
    ]);
    expect(paid.body.deadlines.payBy).toBeNull(); // paid up: done with
    const events = await gateway.request('GET', `/v1/temporary-accounts/${code}/events`, { token: seller });
    expect(events.body.data.at(-1)).toMatchObject({
      type: 'deadline.set',
      actor: 'bank',
      seq: paid.body.version,
    });
    // Called off: the seller releases, the buyer takes the money back, nothing stays due.
    await post(seller, `/v1/temporary-accounts/${code}/unlock`);
    expect((await post(buyer, `/v1/temporary-accounts/${code}/withdraw`)).body.status).toBe('dissolved');
  });

  it('a deal opened to pay later is paid up in 7 days, or the shop’s lock comes off, what was paid goes back, and an empty one closes (helper-82)', async () => {
    const payLater = async () => {
      const invoice = await post(seller, '/v1/invoices', {
        amountMinor: 8_000,
        currency: 'JPY',
        orderReference: `later-${Math.random()}`,
        description: 'Kyusu',
        payeeContact: 'shop@example.com',
      });
      const created = await post(buyer, '/v1/temporary-accounts', {
        invoice: invoice.body.token,
        payLater: true,
      });
      expect(created.status).toBe(201);
      const code = created.body.code as string;
      expect((await post(seller, `/v1/temporary-accounts/${code}/lock`)).status).toBe(200);
      return code;
    };
    const partPaid = await payLater();
    const untouched = await payLater();
    // One yen in: the shop cannot ship an unpaid deal, so its ship clock does not start.
    const yen = await post(buyer, `/v1/temporary-accounts/${partPaid}/deposit`, { amountMinor: 1 });
    expect(yen.body).toMatchObject({ status: 'awaiting_funds', balanceMinor: 1 });
    expect(yen.body.deadlines).toMatchObject({
      shipBy: null,
      payBy: new Date(clock.getTime() + 7 * dayMs).toISOString(),
    });
    // The shop's lock holds the part paid until then.
    expect((await post(buyer, `/v1/temporary-accounts/${partPaid}/withdraw`)).body.error.code).toBe(
      'locked_by_other_party',
    );
    later(7 * dayMs);
    expect(await gateway.gateway.deadlineSweep?.sweep()).toMatchObject({ passed: 2 });
    expect((await eventTypes(partPaid)).slice(-2)).toEqual(['deadline.passed:pay', 'lock.changed']);
    expect((await eventTypes(untouched)).slice(-3)).toEqual([
      'deadline.passed:pay',
      'lock.changed',
      'account.dissolved',
    ]);
    // The bank's page says so, not "¥0 missing" (helper-83).
    const { cookie } = await pageLogIn(gateway, demoLogins.buyer.userId, demoLogins.buyer.password);
    const page = await pageGet(gateway, `/bank/temporary-accounts/${partPaid}`, cookie);
    expect(page.text).toContain('Not paid up in time: it takes no more money');
    expect(page.text).toContain('what was paid in goes back to who paid it');
    const lapsed = (await get(`/v1/temporary-accounts/${partPaid}`)).body;
    expect(lapsed).toMatchObject({
      status: 'awaiting_funds',
      amountDueMinor: 0,
      movableMinor: 1,
      mayLock: true,
    });
    expect(lapsed.deadlines).toMatchObject({ payMissed: true, shipBy: null });
    // It takes no more money, the shop may not lock it again; the buyer takes its part back.
    const late = await post(buyer, `/v1/temporary-accounts/${partPaid}/deposit`, { amountMinor: 7_999 });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('deadline_passed');
    const relock = await post(seller, `/v1/temporary-accounts/${partPaid}/lock`);
    expect(relock.status).toBe(409);
    expect(relock.body.error.code).toBe('deadline_passed');
    const back = await post(buyer, `/v1/temporary-accounts/${partPaid}/withdraw`);
    expect(back.body).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
    expect(await gateway.gateway.deadlineSweep?.sweep()).toMatchObject({ passed: 0 });
    expect((await gateway.admin.reconcile()).balanced).toBe(true);
  });

  it('a cancelled deal’s part is the buyer’s: the seller takes nothing after the buyer unlocked, the page offers no Unlock, nothing passes later (helper-85, helper-86)', async () => {
    const created = await post(buyer, '/v1/temporary-accounts', {
      payeeUserId: 'ibm-shop',
      amountMinor: 90_000_000,
      currency: 'JPY',
    });
    const code = created.body.code as string;
    expect(created.body.status).toBe('awaiting_funds');
    expect((await post(buyer, `/v1/temporary-accounts/${code}/deposit`, { amountMinor: 2_000 })).status).toBe(
      200,
    );
    expect((await post(seller, `/v1/temporary-accounts/${code}/lock`)).status).toBe(200);
    expect((await post(buyer, `/v1/temporary-accounts/${code}/unlock`)).status).toBe(200);
    const cancelled = await post(seller, `/v1/temporary-accounts/${code}/cancel`, {});
    expect(cancelled.body).toMatchObject({ balanceMinor: 2_000, deadlines: { cancelled: true } });
    const taken = await post(seller, `/v1/temporary-accounts/${code}/withdraw`, {});
    expect([taken.status, taken.body.error?.code]).toEqual([409, 'deal_cancelled']);
    // With the buyer's lock on, its page offers the take-back, not Unlock (which said "the
    // seller can take the money"): nothing holds the money from the buyer on a deal that is off.
    expect((await post(buyer, `/v1/temporary-accounts/${code}/lock`)).status).toBe(200);
    const page = await bankPage(code);
    expect(page).not.toContain('data-action="unlock"');
    expect(page).toContain('data-action="withdraw"');
    later(30 * dayMs);
    expect((await gateway.gateway.deadlineSweep?.sweep())?.passed ?? 0).toBe(0);
    const back = await post(buyer, `/v1/temporary-accounts/${code}/withdraw`, {});
    expect(back.body).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
    // Cancelling it again changes nothing, closed as it is.
    expect((await post(seller, `/v1/temporary-accounts/${code}/cancel`, {})).status).toBe(200);
  });

  it('one sweep goes through every deal due, page by page', async () => {
    const codes = [];
    for (let index = 0; index < 5; index++) codes.push((await lockedDeal()).code);
    later(15 * dayMs);
    expect(await gateway.gateway.deadlineSweep?.sweep()).toMatchObject({ passed: 5 });
    for (const code of codes) {
      expect(lockOf((await get(`/v1/temporary-accounts/${code}`)).body, 'seller')).toBe(0);
    }
  });

  it('a dispute has a way out: the bank resolves it for one side, events and all', async () => {
    const { code } = await lockedDeal();
    await post(seller, `/v1/temporary-accounts/${code}/ship`, { carrier: 'Yamato', trackingNumber: 'YT-9' });
    await post(buyer, `/v1/temporary-accounts/${code}/reject`, { reason: 'wrong item' });
    await expect(gateway.admin.resolveDispute(code, 'nobody')).rejects.toMatchObject({
      code: 'validation_failed',
    });
    const resolved = await gateway.admin.resolveDispute(code, 'buyer', 'the shop sent the wrong item');
    expect(resolved.dispute).toMatchObject({ resolvedFor: 'buyer', reason: 'the shop sent the wrong item' });
    const view = await get(`/v1/temporary-accounts/${code}`);
    expect(view.body.dispute).toMatchObject({ resolvedFor: 'buyer' });
    expect(lockOf(view.body, 'seller')).toBe(0);
    expect((await eventTypes(code)).slice(-2)).toEqual(['dispute.resolved', 'lock.changed']);
    // The bank's page says for whom, and why (helper-89: the reason was shown nowhere).
    const history = await bankPage(code);
    expect(history).toContain('Dispute decided (for the buyer: &quot;the shop sent the wrong item&quot;)');
    // The money is the buyer's: the page says so and names the button for it (helper-89: a bare
    // Withdraw beside an Unlock whose hint said the seller could then take it).
    expect(history).toContain('The bank decided the dispute for you: the money is yours to take back.');
    expect(history).toContain('<button type="submit" id="withdraw-button">Take your money back</button>');
    // Its lock holds nothing from the seller now (the money goes back to who paid it in): no
    // Unlock is offered, nor a hint that the seller could then take it.
    expect(history).not.toContain('the seller could take it instead');
    const sellerTakes = await post(seller, `/v1/temporary-accounts/${code}/withdraw`);
    expect([sellerTakes.status, sellerTakes.body.error?.code]).toEqual([409, 'dispute_resolved']);
    expect(view.body.deadlines.verdictMissed).toBe(false);
    const relock = await post(seller, `/v1/temporary-accounts/${code}/lock`);
    expect(relock.status).toBe(409);
    expect(relock.body.error.code).toBe('dispute_resolved');
    const refund = await post(buyer, `/v1/temporary-accounts/${code}/withdraw`);
    expect(refund.body.status).toBe('dissolved');
    await expect(gateway.admin.resolveDispute(code, 'seller')).rejects.toMatchObject({
      code: 'account_dissolved',
    });
  });
});

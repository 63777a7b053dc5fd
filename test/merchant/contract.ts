import {
  IdempotencyError,
  InvalidRequestError,
  InvoiceError,
  LockConflictError,
  type Lockstep,
  LockstepValidationError,
  NotFoundError,
  StateConflictError,
} from '@lockstep/merchant';
import type { MockBuyer } from '@lockstep/merchant/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The SDK contract: one suite, run against the msw mock gateway and against a real gateway
 * process on localhost. Both must pass, so the mock cannot drift from the real API.
 */
export interface ContractHarness {
  lockstep: Lockstep;
  buyer: Omit<MockBuyer, 'customerId'>;
  merchantBalanceMinor(): Promise<number>;
  close(): Promise<void>;
}

export function merchantContract(name: string, setup: () => Promise<ContractHarness>): void {
  describe(`merchant SDK contract: ${name}`, () => {
    let harness: ContractHarness;
    let orderCounter = 0;
    beforeAll(async () => {
      harness = await setup();
    }, 60_000);
    afterAll(() => harness?.close());

    const invoiceFor = (amountMinor: number) =>
      harness.lockstep.invoices.create({
        amountMinor,
        currency: 'JPY',
        orderReference: `order-${name}-${orderCounter++}`,
        description: 'Sencha, 100 g',
        payeeContact: 'orders@tea.example',
      });

    it('runs a whole deal: invoice, pay, lock and check, ship, release, withdraw', async () => {
      const { lockstep, buyer } = harness;
      const buyerBefore = await buyer.balanceMinor();
      const merchantBefore = await harness.merchantBalanceMinor();
      const invoice = await invoiceFor(4_800);
      expect(invoice).toMatchObject({ object: 'invoice', amountMinor: 4_800, currency: 'JPY' });
      expect(invoice.token?.split('.')).toHaveLength(3);
      expect(await lockstep.invoices.retrieve(invoice.id)).toMatchObject({
        id: invoice.id,
        temporaryAccountCode: null,
      });

      const code = await buyer.pay(invoice.token as string);
      const opened = await lockstep.temporaryAccounts.retrieve(code);
      expect(opened).toMatchObject({
        status: 'funded',
        balanceMinor: 4_800,
        requiredMinor: 4_800,
        invoiceId: invoice.id,
      });
      expect(opened.parties.find((party) => party.role === 'buyer')?.lock).toBe('1');
      expect(opened.parties.find((party) => party.role === 'seller')?.lock).toBe('0');

      const funding = await lockstep.temporaryAccounts.ensureFunded(code);
      expect(funding).toMatchObject({
        funded: true,
        balanceMinor: 4_800,
        requiredMinor: 4_800,
        shortfallMinor: 0,
      });
      expect(funding.account.parties.find((party) => party.role === 'seller')?.lock).toBe('1');

      const shipped = await lockstep.temporaryAccounts.markShipped(code, {
        carrier: 'Yamato',
        trackingNumber: 'YT-1',
      });
      expect(shipped.shipment).toMatchObject({ carrier: 'Yamato', trackingNumber: 'YT-1' });

      // The buyer's lock is still on: the merchant cannot take the money, and is told why.
      const refused = await lockstep.temporaryAccounts.withdraw(code).catch((error) => error);
      expect(refused).toBeInstanceOf(LockConflictError);
      expect(refused).toMatchObject({ code: 'locked_by_other_party', status: 409 });
      expect(refused.requestId).toMatch(/\S+/);

      await buyer.release(code);
      const done = await lockstep.temporaryAccounts.withdraw(code);
      expect(done).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
      expect(await buyer.balanceMinor()).toBe(buyerBefore - 4_800);
      expect(await harness.merchantBalanceMinor()).toBe(merchantBefore + 4_800);

      const events = await lockstep.temporaryAccounts.events(code);
      expect(events.data.map((event) => event.type)).toEqual([
        'account.created',
        'account.deposited',
        'account.funded',
        'lock.changed',
        'deadline.set',
        'funds.checked',
        'account.shipped',
        'deadline.set',
        'deal.accepted',
        'lock.changed',
        'account.withdrawn',
        'account.dissolved',
      ]);
      // The bank tells both deadlines as it sets them: ship by (at the seller's lock), then
      // decide by (at shipping), 14 days each by default.
      const set = events.data.filter((event) => event.type === 'deadline.set');
      expect(set.map((event) => [event.actor, event.data.deadline])).toEqual([
        ['bank', 'ship'],
        ['bank', 'verdict'],
      ]);
      for (const event of set) {
        expect(Date.parse(String(event.data.dueAt)) - Date.parse(event.at)).toBe(14 * 24 * 3_600_000);
      }
    });

    it('a buyer who pays later (rule 7): the deal awaits funds, the merchant ships only once it is funded', async () => {
      const { lockstep, buyer } = harness;
      const buyerBefore = await buyer.balanceMinor();
      const invoice = await invoiceFor(2_500);
      const code = await buyer.pay(invoice.token as string, { later: true });
      expect(await buyer.balanceMinor()).toBe(buyerBefore);
      expect(await lockstep.invoices.retrieve(invoice.id)).toMatchObject({ temporaryAccountCode: code });
      await lockstep.temporaryAccounts.lock(code);
      expect(await lockstep.temporaryAccounts.checkFunds(code)).toMatchObject({
        sufficient: false,
        shortfallMinor: 2_500,
      });
      await expect(
        lockstep.temporaryAccounts.markShipped(code, { carrier: 'Yamato', trackingNumber: 'L-1' }),
      ).rejects.toMatchObject({ code: 'account_awaiting_funds' });
      expect(await buyer.payIn(code)).toMatchObject({ status: 'funded', balanceMinor: 2_500 });
      expect(await buyer.balanceMinor()).toBe(buyerBefore - 2_500);
      expect(await lockstep.temporaryAccounts.checkFunds(code)).toMatchObject({ sufficient: true });
      expect(
        (await lockstep.temporaryAccounts.markShipped(code, { carrier: 'Yamato', trackingNumber: 'L-1' }))
          .shipment,
      ).toMatchObject({ carrier: 'Yamato' });
      const types = (await lockstep.temporaryAccounts.events(code)).data.map((event) => event.type);
      // Told at once by when it is to be paid up (the pay deadline), then the merchant's lock.
      expect(types.slice(0, 3)).toEqual(['account.created', 'deadline.set', 'lock.changed']);
      expect(types).toContain('account.funded');

      // One never paid into is cancelled by the merchant; one holding money is not.
      const unpaid = await buyer.pay((await invoiceFor(700)).token as string, { later: true });
      await expect(lockstep.temporaryAccounts.dissolve(code)).rejects.toMatchObject({
        code: 'account_not_empty',
      });
      expect(await lockstep.temporaryAccounts.dissolve(unpaid)).toMatchObject({ status: 'dissolved' });
      expect(await buyer.balanceMinor()).toBe(buyerBefore - 2_500);
    });

    it('the merchant cancels a pay-later order: no more money goes in, the buyer takes back its part', async () => {
      const { lockstep, buyer } = harness;
      const before = await buyer.balanceMinor();
      const code = await buyer.pay((await invoiceFor(3_000)).token as string, { later: true });
      await lockstep.temporaryAccounts.lock(code);
      await buyer.payIn(code, 1_000);
      const cancelled = await lockstep.temporaryAccounts.cancel(code, { idempotencyKey: `cancel-${code}` });
      expect(cancelled).toMatchObject({
        status: 'awaiting_funds',
        balanceMinor: 1_000,
        deadlines: { payMissed: true, cancelled: true },
      });
      expect(cancelled.parties.find((party) => party.role === 'seller')?.lockPpm).toBe(0);
      // Cancelling again changes nothing; paying the rest or locking again is refused.
      expect((await lockstep.temporaryAccounts.cancel(code)).version).toBe(cancelled.version);
      // The buyer's refusal is the SDK's typed error, from the mock as from the gateway (helper-104).
      await expect(buyer.payIn(code, 2_000)).rejects.toSatisfy(
        (error) =>
          error instanceof StateConflictError && error.code === 'deal_cancelled' && error.status === 409,
      );
      await expect(lockstep.temporaryAccounts.lock(code)).rejects.toMatchObject({ code: 'deal_cancelled' });
      expect(await buyer.withdraw(code)).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
      expect(await buyer.balanceMinor()).toBe(before);
      const types = (await lockstep.temporaryAccounts.events(code)).data.map((event) => event.type);
      expect(types).toContain('deal.cancelled');

      // One never paid into is dissolved at once.
      const unpaid = await buyer.pay((await invoiceFor(400)).token as string, { later: true });
      expect(await lockstep.temporaryAccounts.cancel(unpaid)).toMatchObject({ status: 'dissolved' });
      // A paid-up one the merchant will not ship: funded no more, and all of it the buyer's.
      const beforePaid = await buyer.balanceMinor();
      const paid = await buyer.pay((await invoiceFor(500)).token as string);
      await lockstep.temporaryAccounts.ensureFunded(paid);
      expect(await lockstep.temporaryAccounts.cancel(paid)).toMatchObject({
        status: 'awaiting_funds',
        mayShip: false,
        deadlines: { cancelled: true },
      });
      expect((await buyer.withdraw(paid)).status).toBe('dissolved');
      expect(await buyer.balanceMinor()).toBe(beforePaid);
      // A shipped one is not cancelled.
      const sent = await buyer.pay((await invoiceFor(600)).token as string);
      await lockstep.temporaryAccounts.ensureFunded(sent);
      await lockstep.temporaryAccounts.markShipped(sent, { carrier: 'Yamato', trackingNumber: 'C-1' });
      await expect(lockstep.temporaryAccounts.cancel(sent)).rejects.toMatchObject({
        code: 'already_shipped',
        status: 409,
      });
    });

    it('"report a problem": the merchant releases its lock and the buyer takes the money back', async () => {
      const { lockstep, buyer } = harness;
      const before = await buyer.balanceMinor();
      const code = await buyer.pay((await invoiceFor(1_200)).token as string);
      await lockstep.temporaryAccounts.ensureFunded(code);
      const rejected = await buyer.reject(code, 'Wrong tea');
      expect(rejected.verdict).toBe('rejected');
      expect(await buyer.withdraw(code).catch((error) => error)).toBeInstanceOf(Error);
      await lockstep.temporaryAccounts.unlock(code);
      const refunded = await buyer.withdraw(code);
      expect(refunded.status).toBe('dissolved');
      expect(await buyer.balanceMinor()).toBe(before);
    });

    it('an invoice pays once', async () => {
      const invoice = await invoiceFor(500);
      await harness.buyer.pay(invoice.token as string);
      await expect(harness.buyer.pay(invoice.token as string)).rejects.toSatisfy(
        (error) => error instanceof InvoiceError && error.code === 'invoice_already_used',
      );
    });

    it("a seller-created account awaits the buyer's pay-in and says what is missing", async () => {
      const account = await harness.lockstep.temporaryAccounts.create({
        buyerUserId: 'tanaka',
        amountMinor: 2_000,
        currency: 'JPY',
      });
      expect(account).toMatchObject({ status: 'awaiting_funds', balanceMinor: 0, requiredMinor: 2_000 });
      const funding = await harness.lockstep.temporaryAccounts.ensureFunded(account.code);
      expect(funding).toMatchObject({ funded: false, shortfallMinor: 2_000 });
    });

    it('retries with one Idempotency-Key return the first answer; another body with it is refused', async () => {
      const { lockstep } = harness;
      const params = {
        amountMinor: 700,
        currency: 'JPY' as const,
        orderReference: `idem-${name}`,
        description: 'Matcha',
        payeeContact: 'orders@tea.example',
      };
      const first = await lockstep.invoices.create(params, {
        idempotencyKey: `inv-${name.replace(/\W+/g, '-')}`,
      });
      const again = await lockstep.invoices.create(params, {
        idempotencyKey: `inv-${name.replace(/\W+/g, '-')}`,
      });
      expect(again.id).toBe(first.id);
      const other = await lockstep.invoices
        .create({ ...params, amountMinor: 701 }, { idempotencyKey: `inv-${name.replace(/\W+/g, '-')}` })
        .catch((error) => error);
      expect(other).toBeInstanceOf(IdempotencyError);
      expect(other).toMatchObject({ code: 'idempotency_key_reused', status: 422 });
    });

    it('maps refusals to typed errors', async () => {
      const { lockstep } = harness;
      const missing = await lockstep.temporaryAccounts.retrieve('TA-DOES-NOT-EXIST').catch((error) => error);
      expect(missing).toBeInstanceOf(NotFoundError);
      expect(missing).toMatchObject({ code: 'not_found', status: 404 });

      const invalid = await lockstep.invoices
        .create({ amountMinor: 10, currency: 'JPY', orderReference: '', description: 'x', payeeContact: 'y' })
        .catch((error) => error);
      expect(invalid).toBeInstanceOf(InvalidRequestError);
      expect(invalid).toMatchObject({ code: 'validation_failed', status: 400 });

      const code = await harness.buyer.pay((await invoiceFor(300)).token as string);
      await lockstep.temporaryAccounts.markShipped(code, { carrier: 'Yamato', trackingNumber: 'T' });
      const twice = await lockstep.temporaryAccounts
        .markShipped(code, { carrier: 'Yamato', trackingNumber: 'T' })
        .catch((error) => error);
      expect(twice).toBeInstanceOf(StateConflictError);
      expect(twice).toMatchObject({ code: 'already_shipped', status: 409 });
    });

    it('refuses a non-integer amount before any request', async () => {
      const error = await harness.lockstep.invoices
        .create({
          amountMinor: 48.5,
          currency: 'JPY',
          orderReference: 'x',
          description: 'x',
          payeeContact: 'x',
        })
        .catch((caught) => caught);
      expect(error).toBeInstanceOf(LockstepValidationError);
      expect(error).toMatchObject({ code: 'invalid_amount', param: 'amountMinor' });
    });

    it('lists accounts, webhook endpoints and the merchant event feed', async () => {
      const { lockstep } = harness;
      const accounts = await lockstep.temporaryAccounts.list({ limit: 100 });
      expect(accounts.data.length).toBeGreaterThan(0);
      const endpoint = await lockstep.webhookEndpoints.create({ url: 'https://shop.example/hooks' });
      expect((await lockstep.webhookEndpoints.list()).data.map((item) => item.id)).toContain(endpoint.id);
      expect((await lockstep.webhookEndpoints.disable(endpoint.id)).enabled).toBe(false);
      const feed = await lockstep.events.list({ limit: 5 });
      expect(feed.data).toHaveLength(5);
      const next = await lockstep.events.list({ after: feed.data[4]?.id, limit: 5 });
      expect(next.data[0]?.id).not.toBe(feed.data[4]?.id);
    });
  });
}

import {
  accept,
  bankActor,
  type CommandOutcome,
  type CommissionSchedule,
  createAccount,
  deposit,
  dissolve,
  markShipped,
  type Result,
  remit,
  setLock,
  type TemporaryAccount,
  type Transfer,
  withdraw,
} from '@lockstep/core';
import { describe, expect, it } from 'vitest';

/**
 * Rule 7 ([0023], step 113): a buyer without a usual account gets an account awaiting a
 * remittance and pays in later, from outside the bank. `remit` follows the pay-in's rules and
 * keeps the creation fee still due from the remittance.
 */
const now = '2026-11-25T10:00:00.000Z';
const full = 1_000_000;
const fee100: CommissionSchedule = {
  creation: { JPY: { flatMinor: 100, basisPoints: 0 } },
  withdrawal: { JPY: { flatMinor: 0, basisPoints: 100 } },
};
const buyerAndSeller = [
  { customerId: 'mizuta', role: 'buyer' as const },
  { customerId: 'ibm', role: 'seller' as const },
];

function must(result: Result<CommandOutcome>): CommandOutcome {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

function code(result: Result<unknown>): string {
  return result.ok ? 'ok' : result.error.code;
}

/** A ¥5,000 deal the buyer created with no usual account: it awaits a remittance, fee ¥100 due. */
function awaiting(by = 'mizuta', mode: 'deal' | 'fractional' = 'deal'): TemporaryAccount {
  return must(
    createAccount({
      code: 'ta_r',
      by,
      now,
      currency: 'JPY',
      requiredMinor: 5_000,
      mode,
      parties: buyerAndSeller,
      fundFrom: null,
      commission: fee100,
    }),
  ).account;
}

/** Every transfer moves money between two ledger accounts: the per-account sums total zero. */
function net(transfers: Transfer[]): Map<string, number> {
  const sums = new Map<string, number>();
  for (const transfer of transfers) {
    sums.set(transfer.from, (sums.get(transfer.from) ?? 0) - transfer.amountMinor);
    sums.set(transfer.to, (sums.get(transfer.to) ?? 0) + transfer.amountMinor);
  }
  return sums;
}

const lockOf = (account: TemporaryAccount, role: string) =>
  account.parties.find((party) => party.role === role)?.lockPpm;

describe('remit', () => {
  it('funds a seller-created deal for its buyer: the fee is kept from it, the buyer’s lock turns on', () => {
    const account = awaiting('ibm');
    expect([account.status, account.creationFeeDueMinor, lockOf(account, 'buyer')]).toEqual([
      'awaiting_funds',
      100,
      0,
    ]);
    const outcome = must(remit(account, { now, amountMinor: 5_100 }));
    expect(outcome.events.map((event) => [event.type, event.actor])).toEqual([
      ['account.deposited', bankActor],
      ['lock.changed', bankActor],
      ['account.funded', bankActor],
    ]);
    expect(outcome.events[0]?.data).toEqual({
      amountMinor: 5_000,
      fromAccountId: null,
      balanceMinor: 5_000,
      feeMinor: 100,
      source: 'remittance',
    });
    expect(outcome.events[1]?.data).toMatchObject({ customerId: 'mizuta', role: 'buyer', lockPpm: full });
    expect(outcome.events.map((event) => event.seq)).toEqual([2, 3, 4]);
    expect(outcome.account).toMatchObject({
      status: 'funded',
      balanceMinor: 5_000,
      creationFeeDueMinor: 0,
      version: 4,
    });
    expect(lockOf(outcome.account, 'buyer')).toBe(full);
    expect(outcome.transfers).toEqual([
      {
        from: 'external:JPY',
        to: 'temporary:ta_r',
        amountMinor: 5_000,
        currency: 'JPY',
        purpose: 'principal',
      },
      { from: 'external:JPY', to: 'fees:JPY', amountMinor: 100, currency: 'JPY', purpose: 'creation_fee' },
    ]);
    expect(net(outcome.transfers)).toEqual(
      new Map([
        ['external:JPY', -5_100],
        ['temporary:ta_r', 5_000],
        ['fees:JPY', 100],
      ]),
    );
  });

  it('then the deal runs as any other: the seller locks and ships, the buyer accepts, the seller withdraws', () => {
    let account = must(remit(awaiting(), { now, amountMinor: 5_100 })).account;
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full })).account;
    account = must(
      markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'YT-1' }),
    ).account;
    account = must(accept(account, { by: 'mizuta', now })).account;
    const paid = must(
      withdraw(account, {
        by: 'ibm',
        now,
        to: { id: 'acc-ibm', ownerId: 'ibm', currency: 'JPY', balanceMinor: 0 },
        commission: fee100,
      }),
    );
    expect(paid.account.status).toBe('dissolved');
    expect(paid.transfers.map((transfer) => transfer.amountMinor)).toEqual([4_950, 50]);
  });

  it('in parts: the fee is kept from the first, the second completes the deal, and no more is taken', () => {
    const account = awaiting();
    // The creator's lock is already on: the buyer created it, so no lock change.
    const first = must(remit(account, { now, amountMinor: 2_100 }));
    expect(first.events.map((event) => event.type)).toEqual(['account.deposited']);
    expect(first.account).toMatchObject({
      status: 'awaiting_funds',
      balanceMinor: 2_000,
      creationFeeDueMinor: 0,
    });

    const over = remit(first.account, { now, amountMinor: 3_001 });
    expect(over.ok ? null : [over.error.code, over.error.details]).toEqual([
      'exceeds_amount_due',
      { dueMinor: 3_000, feeDueMinor: 0, requestedMinor: 3_001 },
    ]);
    const second = must(remit(first.account, { now, amountMinor: 3_000 }));
    expect(second.events.map((event) => event.type)).toEqual(['account.deposited', 'account.funded']);
    expect(second.events[0]?.data).toMatchObject({ amountMinor: 3_000, feeMinor: 0 });
    expect(second.transfers).toHaveLength(1);
    expect(second.account).toMatchObject({ status: 'funded', balanceMinor: 5_000 });
    expect(remit(second.account, { now, amountMinor: 1 })).toMatchObject({
      ok: false,
      error: { code: 'exceeds_amount_due', message: expect.stringMatching(/whole amount already/) },
    });
  });

  it('refuses more than the amount and the fee due, a remittance that does not cover the fee, and bad amounts', () => {
    const account = awaiting();
    const over = remit(account, { now, amountMinor: 5_101 });
    expect(over.ok ? null : [over.error.code, over.error.message, over.error.details]).toEqual([
      'exceeds_amount_due',
      'This deal still needs 5000 minor units and the creation fee of 100; remit at most 5100.',
      { dueMinor: 5_000, feeDueMinor: 100, requestedMinor: 5_101 },
    ]);
    expect(code(remit(account, { now, amountMinor: 100 }))).toBe('insufficient_funds');
    expect(code(remit(account, { now, amountMinor: 99 }))).toBe('insufficient_funds');
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(code(remit(account, { now, amountMinor: bad })), String(bad)).toBe('invalid_amount');
    }
    // 101 is the fee and one unit for the account.
    expect(must(remit(account, { now, amountMinor: 101 })).account.balanceMinor).toBe(1);
  });

  it('refuses a dissolved account', () => {
    const closed = must(dissolve(awaiting(), { by: 'mizuta', now })).account;
    expect(code(remit(closed, { now, amountMinor: 5_100 }))).toBe('account_dissolved');
  });

  it('after the buyer paid the fee from a usual account, all of a remittance goes to the deal', () => {
    const account = awaiting();
    const paid = must(
      deposit(account, {
        by: 'mizuta',
        now,
        amountMinor: 1_000,
        from: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 1_100 },
      }),
    ).account;
    expect(paid.creationFeeDueMinor).toBe(0);
    const rest = must(remit(paid, { now, amountMinor: 4_000 }));
    expect(rest.transfers).toEqual([
      {
        from: 'external:JPY',
        to: 'temporary:ta_r',
        amountMinor: 4_000,
        currency: 'JPY',
        purpose: 'principal',
      },
    ]);
    expect(rest.account.status).toBe('funded');
  });

  it('a fractional account takes more than its amount, as a pay-in would', () => {
    const account = awaiting('mizuta', 'fractional');
    const outcome = must(remit(account, { now, amountMinor: 9_100 }));
    expect(outcome.account).toMatchObject({ balanceMinor: 9_000, status: 'funded', creationFeeDueMinor: 0 });
  });
});

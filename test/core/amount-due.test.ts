import {
  accept,
  amountDueMinor,
  type CommandOutcome,
  checkFunds,
  createAccount,
  deposit,
  markShipped,
  noCommission,
  type Result,
  setLock,
  shortfallMinor,
  type TemporaryAccount,
  withdraw,
} from '@lockstep/core';
import { describe, expect, it } from 'vitest';

/**
 * What a deal still takes (amountDueMinor) counts what the seller took of others' money as paid,
 * and the seller's own pay-in it took back as nothing (helper-64's review: the seller's own
 * money taken back left a seller-created deal that refused every pay-in and never funded).
 */
const now = '2026-11-26T10:00:00.000Z';
const full = 1_000_000;
const parties = [
  { customerId: 'mizuta', role: 'buyer' as const },
  { customerId: 'ibm', role: 'seller' as const },
];
const usual = (ownerId: string, balanceMinor: number) => ({
  id: `acc-${ownerId}`,
  ownerId,
  currency: 'JPY' as const,
  balanceMinor,
});

function must(result: Result<CommandOutcome>): TemporaryAccount {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value.account;
}

function code(result: Result<unknown>): string {
  return result.ok ? 'ok' : result.error.code;
}

/** Awaiting funds exactly while something is still due: a deal is never stuck unfundable. */
function expectConsistent(account: TemporaryAccount) {
  const due = amountDueMinor(account) ?? 0;
  expect(account.status === 'awaiting_funds').toBe(due > 0);
  expect(shortfallMinor(account)).toBe(due);
}

/** A ¥5,000 deal, opened by the buyer (funded from `fundFrom`) or by the seller (unfunded). */
function open5000(code: string, by: string, fundFrom: ReturnType<typeof usual> | null) {
  const created = createAccount({
    code,
    by,
    now,
    currency: 'JPY',
    requiredMinor: 5_000,
    mode: 'deal',
    parties,
    fundFrom,
    commission: noCommission,
  });
  return must(created);
}

describe('what a deal still takes', () => {
  it('the seller does not pay into a deal: refused, nothing changed (helper-66)', () => {
    // A seller's pay-in funded the deal, and stayed the buyer's to take back while the seller's
    // lock was off; taken back in full it dissolved a deal the buyer was to pay.
    for (const account of [open5000('ta_s', 'ibm', null), open5000('ta_u', 'mizuta', null)]) {
      const refused = deposit(account, { by: 'ibm', now, amountMinor: 1_000, from: usual('ibm', 1_000) });
      expect(code(refused)).toBe('role_not_allowed');
    }
  });

  it("a deal stored after its seller took back its own pay-in still takes the buyer's whole amount", () => {
    // Stored before sellers' pay-ins were refused: the seller paid ¥3,000 into its ¥5,000 deal
    // and took ¥2,000 of it back. Counted as a payout, the deal took ¥2,000 and never funded.
    let account: TemporaryAccount = {
      ...open5000('ta_t', 'ibm', null),
      balanceMinor: 1_000,
      sellerPaidInMinor: 3_000,
      sellerWithdrawnMinor: 2_000,
    };
    expect(amountDueMinor(account)).toBe(4_000);
    expectConsistent(account);
    account = must(deposit(account, { by: 'mizuta', now, amountMinor: 4_000, from: usual('mizuta', 5_000) }));
    expect(account.status).toBe('funded');
    expectConsistent(account);
    expect(code(checkFunds(account, { by: 'ibm', now }))).toBe('ok');
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full }));
    account = must(markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'YT-1' }));
    account = must(accept(account, { by: 'mizuta', now }));
    // The fee is charged on what the seller took of the buyer's money only: 1% of ¥4,000.
    const onePercent = { creation: {}, withdrawal: { JPY: { flatMinor: 0, basisPoints: 100 } } };
    const paid = withdraw(account, { by: 'ibm', now, to: usual('ibm', 0), commission: onePercent });
    expect(
      paid.ok && paid.value.transfers.find((transfer) => transfer.purpose === 'withdrawal_fee')?.amountMinor,
    ).toBe(40);
    expect(paid.ok && paid.value.account.status).toBe('dissolved');
  });

  it("what the seller took of the buyer's money before shipment is paid: the deal stays funded and ships", () => {
    let account = open5000('ta_b', 'mizuta', usual('mizuta', 5_000));
    expect(account.status).toBe('funded');
    // The buyer lets the seller take an advance of ¥2,000.
    account = must(setLock(account, { by: 'mizuta', now, lockPpm: 0 }));
    account = must(
      withdraw(account, {
        by: 'ibm',
        now,
        amountMinor: 2_000,
        to: usual('ibm', 0),
        commission: noCommission,
      }),
    );
    expect(account.status).toBe('funded');
    expect(amountDueMinor(account)).toBe(0);
    expectConsistent(account);
    // The buyer locks again; the seller locks and ships against what it holds and took.
    account = must(setLock(account, { by: 'mizuta', now, lockPpm: full }));
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full }));
    account = must(markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'YT-2' }));
    account = must(accept(account, { by: 'mizuta', now }));
    account = must(withdraw(account, { by: 'ibm', now, to: usual('ibm', 0), commission: noCommission }));
    expect(account.status).toBe('dissolved');
    expect(account.sellerWithdrawnMinor).toBe(5_000);
  });
});

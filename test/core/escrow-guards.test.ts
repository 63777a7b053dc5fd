import {
  accept,
  type CommandOutcome,
  createAccount,
  deposit,
  dissolve,
  markShipped,
  noCommission,
  type Result,
  reject,
  setLock,
  type TemporaryAccount,
  type UsualAccountView,
  withdraw,
} from '@lockstep/core';
import { describe, expect, it } from 'vitest';

/**
 * Guards that keep the escrow an escrow in the corners of DOMAIN.md (found by review): each
 * case is a sequence of commands that used to let money move against a rule.
 */
const now = '2026-11-25T10:00:00.000Z';
const full = 1_000_000;
const usual = (ownerId: string, balanceMinor: number): UsualAccountView => ({
  id: `acc-${ownerId}`,
  ownerId,
  currency: 'JPY',
  balanceMinor,
});

const buyerAndSeller = [
  { customerId: 'mizuta', role: 'buyer' as const },
  { customerId: 'ibm', role: 'seller' as const },
];

/** A JPY deal between Mizuta (buyer) and IBM (seller); each case says what differs. */
function deal(
  terms: { code: string; by: string; requiredMinor: number } & Partial<Parameters<typeof createAccount>[0]>,
) {
  return createAccount({ now, currency: 'JPY', parties: buyerAndSeller, commission: noCommission, ...terms });
}

function must(result: Result<CommandOutcome>): TemporaryAccount {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value.account;
}

function code(result: Result<unknown>): string {
  return result.ok ? 'ok' : result.error.code;
}

describe('rule 3 with a seller-created account', () => {
  it("the buyer's pay-in turns the buyer's lock on: the seller waits for the release", () => {
    let account = must(deal({ code: 's1', by: 'ibm', requiredMinor: 3_000 }));
    const paid = deposit(account, { by: 'mizuta', now, amountMinor: 3_000, from: usual('mizuta', 3_000) });
    expect(paid.ok && paid.value.events.map((event) => event.type)).toEqual([
      'account.deposited',
      'lock.changed',
      'account.funded',
    ]);
    account = must(paid);
    expect(account.parties.find((party) => party.role === 'buyer')?.lockPpm).toBe(full);
    const early = withdraw(account, { by: 'ibm', now, to: usual('ibm', 0), commission: noCommission });
    expect(code(early)).toBe('locked_by_other_party');
    account = must(markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'T' }));
    account = must(accept(account, { by: 'mizuta', now }));
    expect(
      must(withdraw(account, { by: 'ibm', now, to: usual('ibm', 0), commission: noCommission })).status,
    ).toBe('dissolved');
  });
});

describe('a seller-opened or invoiced account is a plain deal', () => {
  it('refuses members, groups, another release policy or mode', () => {
    const base = { code: 'p1', requiredMinor: 1_000 };
    const two = buyerAndSeller;
    expect(code(deal({ ...base, by: 'ibm' }))).toBe('ok');
    expect(
      code(
        deal({
          ...base,
          by: 'ibm',
          parties: [...two, { customerId: 'tanaka', role: 'member', group: 'g' }],
          releasePolicy: { kind: 'group', group: 'g' },
        }),
      ),
    ).toBe('invalid_parties');
    expect(code(deal({ ...base, by: 'mizuta', invoiceId: 'inv_1', mode: 'fractional' }))).toBe(
      'invalid_parties',
    );
  });
});

describe('rule 5 with a named group', () => {
  it('refuses a release group that would leave the buyer or the seller waiting for nobody', () => {
    const create = (sellerGroup: string | null, buyerGroup: string | null) =>
      deal({
        code: 'g1',
        by: 'mizuta',
        requiredMinor: 1_000,
        parties: [
          { customerId: 'mizuta', role: 'buyer', group: buyerGroup ?? undefined },
          { customerId: 'ibm', role: 'seller', group: sellerGroup ?? undefined },
        ],
        releasePolicy: { kind: 'group', group: 'g' },
      });
    expect(code(create('g', null))).toBe('invalid_parties'); // the seller would wait for nobody
    expect(code(create(null, 'g'))).toBe('invalid_parties'); // the buyer would wait for nobody
    expect(code(create('g', 'g'))).toBe('ok');
  });
});

describe('deal step 5: not enough money means no shipment', () => {
  it('a deal whose money is taken back below the amount is awaiting funds again, and cannot ship', () => {
    let account = must(
      deal({ code: 'u1', by: 'mizuta', requiredMinor: 10_500, fundFrom: usual('mizuta', 20_000) }),
    );
    // The seller has not locked yet, so the buyer may take money back.
    account = must(
      withdraw(account, {
        by: 'mizuta',
        now,
        amountMinor: 10_000,
        to: usual('mizuta', 0),
        commission: noCommission,
      }),
    );
    expect(account.status).toBe('awaiting_funds');
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full }));
    expect(code(markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'T' }))).toBe(
      'account_awaiting_funds',
    );
    expect(code(accept(account, { by: 'mizuta', now }))).toBe('account_awaiting_funds');
    account = must(
      deposit(account, { by: 'mizuta', now, amountMinor: 10_000, from: usual('mizuta', 10_000) }),
    );
    expect(account.status).toBe('funded');
    expect(
      must(markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'T' })).shipment,
    ).not.toBeNull();
  });
});

describe('the verdict comes after the shipment (step 7 follows step 6)', () => {
  it('a deal is not released before it ships (not_shipped), changes nothing, and is released after', () => {
    let account = must(
      deal({ code: 'v1', by: 'mizuta', requiredMinor: 10_500, fundFrom: usual('mizuta', 20_000) }),
    );
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full }));
    const early = accept(account, { by: 'mizuta', now });
    expect(code(early)).toBe('not_shipped');
    // The buyer may still turn its own lock off (rule 2): that is no verdict.
    expect(must(setLock(account, { by: 'mizuta', now, lockPpm: 0 })).verdict).toBeNull();
    account = must(markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'T' }));
    const released = must(accept(account, { by: 'mizuta', now }));
    expect(released.verdict).toBe('accepted');
    expect(released.parties.find((party) => party.role === 'buyer')?.lockPpm).toBe(0);
  });

  it('a deal the buyer rejected before shipping is not shipped afterwards (a stale form, helper-78)', () => {
    let account = must(
      deal({ code: 'v2', by: 'mizuta', requiredMinor: 10_500, fundFrom: usual('mizuta', 20_000) }),
    );
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full }));
    account = must(reject(account, { by: 'mizuta', now, reason: 'never came' }));
    const late = markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'T' });
    expect(code(late)).toBe('verdict_already_given');
  });

  it('a fractional account has no disputes: its seller records a shipment after the buyer released (helper-79)', () => {
    let account = must(
      deal({
        code: 'v3',
        by: 'mizuta',
        requiredMinor: 10_000,
        fundFrom: usual('mizuta', 20_000),
        mode: 'fractional',
      }),
    );
    account = must(accept(account, { by: 'mizuta', now }));
    const shipped = must(markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'T' }));
    expect(shipped.shipment).toMatchObject({ carrier: 'Yamato' });
  });
});

describe('rule 9: the withdrawal fee cannot be split away', () => {
  it('160 small withdrawals pay the same fee as one (1.5% of 10,500 = 157)', () => {
    const commission = { creation: {}, withdrawal: { JPY: { flatMinor: 0, basisPoints: 150 } } };
    const open = () => {
      let account = must(
        deal({
          code: 'f1',
          by: 'mizuta',
          requiredMinor: 10_500,
          fundFrom: usual('mizuta', 20_000),
          commission,
        }),
      );
      account = must(setLock(account, { by: 'ibm', now, lockPpm: full }));
      account = must(markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'T' }));
      return must(accept(account, { by: 'mizuta', now }));
    };
    let split = open();
    let fees = 0;
    while (split.status !== 'dissolved') {
      const step = withdraw(split, {
        by: 'ibm',
        now,
        amountMinor: Math.min(66, split.balanceMinor),
        to: usual('ibm', 0),
        commission,
      });
      if (!step.ok) throw new Error(step.error.code);
      fees += step.value.transfers
        .filter((transfer) => transfer.purpose === 'withdrawal_fee')
        .reduce((sum, transfer) => sum + transfer.amountMinor, 0);
      split = step.value.account;
    }
    const whole = withdraw(open(), { by: 'ibm', now, to: usual('ibm', 0), commission });
    const wholeFee = whole.ok
      ? whole.value.transfers.find((transfer) => transfer.purpose === 'withdrawal_fee')?.amountMinor
      : -1;
    expect(wholeFee).toBe(157);
    expect(fees).toBe(157);
  });
});

describe('closing an empty account is the buyer’s, the seller’s or its maker’s', () => {
  const three = [...buyerAndSeller, { customerId: 'tanaka', role: 'member' as const }];

  it('a member does not close the buyer’s and seller’s account (role_not_allowed, nothing changes)', () => {
    const account = must(deal({ code: 'm1', by: 'mizuta', requiredMinor: 3_000, parties: three }));
    const refused = dissolve(account, { by: 'tanaka', now });
    expect(code(refused)).toBe('role_not_allowed');
    expect(must(dissolve(account, { by: 'mizuta', now })).status).toBe('dissolved');
    expect(must(dissolve(account, { by: 'ibm', now })).status).toBe('dissolved');
  });

  it('a member closes an empty account it opened itself', () => {
    const account = must(deal({ code: 'm2', by: 'tanaka', requiredMinor: 3_000, parties: three }));
    expect(must(dissolve(account, { by: 'tanaka', now })).status).toBe('dissolved');
  });
});

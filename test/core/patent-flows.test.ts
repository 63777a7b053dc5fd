import {
  accept,
  type CommandOutcome,
  type CommissionSchedule,
  checkFunds,
  createAccount,
  deposit,
  dissolve,
  markShipped,
  movableMinor,
  noCommission,
  type Result,
  reject,
  setLock,
  type TemporaryAccount,
  type UsualAccountView,
  withdraw,
} from '@lockstep/core';
import { describe, expect, it } from 'vitest';

const now = '2026-11-24T10:00:00.000Z';
const full = 1_000_000;
const usual = (ownerId: string, balanceMinor: number, id = `acc-${ownerId}`): UsualAccountView => ({
  id,
  ownerId,
  currency: 'JPY',
  balanceMinor,
});

function must(result: Result<CommandOutcome>): CommandOutcome {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

function code(result: Result<unknown>): string {
  return result.ok ? 'ok' : result.error.code;
}

function deal(
  options: { buyerBalance?: number; commission?: CommissionSchedule; mode?: 'deal' | 'fractional' } = {},
) {
  return must(
    createAccount({
      code: '100',
      by: 'mizuta',
      now,
      currency: 'JPY',
      requiredMinor: 10_500,
      parties: [
        { customerId: 'mizuta', role: 'buyer' },
        { customerId: 'ibm', role: 'seller' },
      ],
      mode: options.mode,
      fundFrom: usual('mizuta', options.buyerBalance ?? 50_000),
      commission: options.commission ?? noCommission,
    }),
  );
}

describe('[0033] the temporary account row', () => {
  it('is code 100, User1 Mizuta, User2 IBM, balance 10500 JPY, User1_Lock 1, User2_Lock 0', () => {
    const { account, events, transfers } = deal();
    expect(account.code).toBe('100');
    expect(account.balanceMinor).toBe(10_500);
    expect(account.currency).toBe('JPY');
    expect(account.parties).toEqual([
      { customerId: 'mizuta', role: 'buyer', lockPpm: full, group: null },
      { customerId: 'ibm', role: 'seller', lockPpm: 0, group: null },
    ]);
    expect(events.map((event) => event.type)).toEqual([
      'account.created',
      'account.deposited',
      'account.funded',
    ]);
    expect(transfers).toEqual([
      {
        from: 'usual:acc-mizuta',
        to: 'temporary:100',
        amountMinor: 10_500,
        currency: 'JPY',
        purpose: 'principal',
      },
    ]);
  });
});

/** The seller marks the deal shipped: the buyer releases only then (a verdict on goods sent). */
function shipped(account: TemporaryAccount): TemporaryAccount {
  return must(markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'T-1' })).account;
}

describe('Drawing 3 (steps 101-107): the deal', () => {
  it('buyer funds and locks, seller locks and ships, buyer releases, seller withdraws, account dissolves', () => {
    let account: TemporaryAccount = deal().account; // steps 101-103
    expect(account.status).toBe('funded');
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full })).account; // step 104
    expect(movableMinor(account, 'ibm')).toBe(0);
    expect(movableMinor(account, 'mizuta')).toBe(0);
    account = must(
      markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'T-1' }),
    ).account; // 105
    account = must(accept(account, { by: 'mizuta', now })).account; // step 106
    expect(account.parties.find((party) => party.role === 'buyer')?.lockPpm).toBe(0);
    expect(movableMinor(account, 'ibm')).toBe(10_500);
    const out = must(withdraw(account, { by: 'ibm', now, to: usual('ibm', 0), commission: noCommission })); // 107
    expect(out.transfers).toEqual([
      { from: 'temporary:100', to: 'usual:acc-ibm', amountMinor: 10_500, currency: 'JPY', purpose: 'payout' },
    ]);
    expect(out.account.status).toBe('dissolved');
  });
});

describe('Drawing 4 (steps 111-124)', () => {
  it('steps 117-118: not enough money — the seller sees the shortfall, the buyer pays in, then it is enough', () => {
    let account = deal({ buyerBalance: 5_000 }).account; // cannot fund now: awaits a remittance
    expect(account.status).toBe('awaiting_funds');
    expect(account.balanceMinor).toBe(0);
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full })).account; // step 115
    const first = must(checkFunds(account, { by: 'ibm', now })); // step 116
    expect(first.events[0]?.data).toMatchObject({ sufficient: false, shortfallMinor: 10_500 });
    account = must(
      deposit(first.account, { by: 'mizuta', now, amountMinor: 10_500, from: usual('mizuta', 20_000) }),
    ).account; // step 113 after 118
    expect(account.status).toBe('funded');
    const second = must(checkFunds(account, { by: 'ibm', now }));
    expect(second.events[0]?.data).toMatchObject({ sufficient: true, shortfallMinor: 0 });
    expect(code(markShipped(account, { by: 'ibm', now, carrier: 'Y', trackingNumber: '1' }))).toBe('ok');
  });

  it('steps 120-121: the buyer rejects; money stays held until the seller releases, then the buyer takes it back', () => {
    let account = deal().account;
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full })).account;
    account = must(markShipped(account, { by: 'ibm', now, carrier: 'Y', trackingNumber: '1' })).account;
    account = must(reject(account, { by: 'mizuta', now, reason: 'broken' })).account;
    expect(account.verdict).toBe('rejected');
    expect(code(withdraw(account, { by: 'ibm', now, to: usual('ibm', 0), commission: noCommission }))).toBe(
      'locked_by_other_party',
    );
    expect(
      code(withdraw(account, { by: 'mizuta', now, to: usual('mizuta', 0), commission: noCommission })),
    ).toBe('locked_by_other_party');
    account = must(setLock(account, { by: 'ibm', now, lockPpm: 0 })).account; // seller releases
    const refund = must(
      withdraw(account, { by: 'mizuta', now, to: usual('mizuta', 0), commission: noCommission }),
    );
    expect(refund.transfers[0]?.amountMinor).toBe(10_500);
    expect(refund.account.status).toBe('dissolved'); // step 124
  });
});

describe('Drawing 5 (steps 131-134): the move rule', () => {
  it('a withdrawal fails while another party’s lock is on and succeeds when none is', () => {
    let account = deal().account;
    // The buyer's own lock does not stop the buyer (step 132: only *other* locks count).
    expect(movableMinor(account, 'mizuta')).toBe(10_500);
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full })).account;
    expect(
      code(withdraw(account, { by: 'mizuta', now, to: usual('mizuta', 0), commission: noCommission })),
    ).toBe('locked_by_other_party'); // 133
    account = must(setLock(account, { by: 'ibm', now, lockPpm: 0 })).account;
    expect(
      code(withdraw(account, { by: 'mizuta', now, to: usual('mizuta', 0), commission: noCommission })),
    ).toBe('ok'); // 134
  });
});

describe('[0035] fractional locks', () => {
  it('a 0.3 lock protects 30% of the balance, rounding in favour of the lock holder, across several dealings', () => {
    let account = deal({ mode: 'fractional' }).account;
    account = must(setLock(account, { by: 'ibm', now, lockPpm: 300_000 })).account;
    expect(movableMinor(account, 'mizuta')).toBe(7_350); // floor(10500 * 0.7)
    expect(
      code(
        withdraw(account, {
          by: 'mizuta',
          now,
          amountMinor: 7_351,
          to: usual('mizuta', 0),
          commission: noCommission,
        }),
      ),
    ).toBe('exceeds_movable_amount');
    account = must(
      withdraw(account, {
        by: 'mizuta',
        now,
        amountMinor: 1_001,
        to: usual('mizuta', 0),
        commission: noCommission,
      }),
    ).account;
    expect(account.balanceMinor).toBe(9_499);
    // The lock still holds the ¥3,150 it protected: the buyer's own withdrawal does not wear it
    // down (it was floor(9499 * 0.7) = 6,649, and so on down to ¥1 by withdrawing again and
    // again: helper-65's review).
    expect(movableMinor(account, 'mizuta')).toBe(6_349);
    for (const amountMinor of [3_000, 3_000, 349]) {
      account = must(
        withdraw(account, {
          by: 'mizuta',
          now,
          amountMinor,
          to: usual('mizuta', 0),
          commission: noCommission,
        }),
      ).account;
    }
    expect(account.balanceMinor).toBe(3_150);
    expect(movableMinor(account, 'mizuta')).toBe(0);
    // A pay-in is protected in the same share: 30% of ¥1,001 rounded up is ¥301.
    account = must(
      deposit(account, { by: 'mizuta', now, amountMinor: 1_001, from: usual('mizuta', 1_001) }),
    ).account;
    expect(movableMinor(account, 'mizuta')).toBe(700);
    // Setting the lock higher never holds less than it held (0.5 of ¥4,151 is ¥2,076 < ¥3,451);
    // setting it lower holds its share of the balance then, at most.
    account = must(setLock(account, { by: 'ibm', now, lockPpm: 500_000 })).account;
    expect(movableMinor(account, 'mizuta')).toBe(700);
    account = must(setLock(account, { by: 'ibm', now, lockPpm: 200_000 })).account;
    expect(movableMinor(account, 'mizuta')).toBe(3_320); // 4,151 - ceil(4151 * 0.2) = 4,151 - 831
    expect(account.status).toBe('funded');
    account = must(setLock(account, { by: 'ibm', now, lockPpm: 0 })).account;
    account = must(
      withdraw(account, { by: 'mizuta', now, to: usual('mizuta', 0), commission: noCommission }),
    ).account;
    expect(account.status).toBe('dissolved'); // lives until the balance reaches 0
  });

  it('a deal-mode account refuses partial locks', () => {
    expect(code(setLock(deal().account, { by: 'ibm', now, lockPpm: 500_000 }))).toBe(
      'lock_share_not_allowed',
    );
  });
});

describe('[0035] three or more parties', () => {
  /** Buyer, seller and a guarantor; `groups` names each one's group, in that order. */
  const create = (
    policy: 'all_others' | 'group',
    groups: Array<string | null> = ['principals', 'principals', 'guarantors'],
  ) =>
    createAccount({
      code: 'g1',
      by: 'mizuta',
      now,
      currency: 'JPY',
      requiredMinor: 9_000,
      parties: [
        { customerId: 'mizuta', role: 'buyer', group: groups[0] ?? null },
        { customerId: 'ibm', role: 'seller', group: groups[1] ?? null },
        { customerId: 'guarantor', role: 'member', group: groups[2] ?? null },
      ],
      releasePolicy: policy === 'group' ? { kind: 'group', group: 'escrow' } : { kind: 'all_others' },
      fundFrom: usual('mizuta', 10_000),
      commission: noCommission,
    });
  const threeParty = (policy: 'all_others' | 'group', groups?: Array<string | null>) =>
    must(create(policy, groups)).account;

  it('AND over all others: the guarantor’s lock alone holds the money', () => {
    let account = threeParty('all_others');
    account = must(setLock(account, { by: 'guarantor', now, lockPpm: full })).account;
    account = must(accept(shipped(account), { by: 'mizuta', now })).account;
    expect(movableMinor(account, 'ibm')).toBe(0);
    account = must(setLock(account, { by: 'guarantor', now, lockPpm: 0 })).account;
    expect(movableMinor(account, 'ibm')).toBe(9_000);
    // Once the buyer accepted, a member's lock does not come on again: nothing would end it
    // (helper-94).
    const relock = setLock(account, { by: 'guarantor', now, lockPpm: full });
    expect(relock.ok ? null : relock.error.code).toBe('verdict_already_given');
  });

  it('AND over a named group: only the locks of the group count; buyer and seller are in it', () => {
    // Buyer and seller are the group "escrow", the guarantor is outside it: its lock holds
    // nobody, and it waits for both of theirs.
    let account = threeParty('group', ['escrow', 'escrow', null]);
    account = must(setLock(account, { by: 'guarantor', now, lockPpm: full })).account;
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full })).account;
    // The seller locked: neither the buyer nor the guarantor can take the money now.
    expect(movableMinor(account, 'mizuta')).toBe(0);
    expect(movableMinor(account, 'guarantor')).toBe(0);
    account = must(accept(shipped(account), { by: 'mizuta', now })).account;
    // The buyer released: the seller is paid, the guarantor's lock notwithstanding.
    expect(movableMinor(account, 'ibm')).toBe(9_000);
    expect(movableMinor(account, 'guarantor')).toBe(0);
  });

  it('an account opened before with the seller outside its group: the seller’s lock holds all the same', () => {
    // Such groups are refused now (helper-58); stored ones keep working, safely.
    const opened = threeParty('group', ['escrow', 'escrow', 'escrow']);
    let account: TemporaryAccount = {
      ...opened,
      parties: opened.parties.map((party) => (party.role === 'seller' ? { ...party, group: null } : party)),
    };
    account = must(setLock(account, { by: 'guarantor', now, lockPpm: full })).account;
    account = must(setLock(account, { by: 'ibm', now, lockPpm: full })).account;
    account = must(setLock(account, { by: 'guarantor', now, lockPpm: 0 })).account;
    // Shipped goods: the buyer cannot take the money back past the seller's lock...
    expect(movableMinor(account, 'mizuta')).toBe(0);
    account = must(accept(shipped(account), { by: 'mizuta', now })).account;
    // ...nor the guarantor take the seller's payment once the buyer released.
    expect(movableMinor(account, 'guarantor')).toBe(0);
    expect(movableMinor(account, 'ibm')).toBe(9_000);
  });

  it('a release group the buyer or the seller is not in, or that leaves a party waiting for no lock, is refused', () => {
    // Only the buyer's lock is on at creation: a guarantor that is the whole group could take
    // the buyer's money at any time, and the seller until the guarantor locked (helper-39).
    expect(code(create('group', [null, null, 'escrow']))).toBe('invalid_parties');
    expect(code(create('group', [null, 'escrow', 'escrow']))).toBe('invalid_parties');
    // The buyer alone in the group would wait for nobody.
    expect(code(create('group', ['escrow', null, null]))).toBe('invalid_parties');
    // Outside the group, the seller's lock would hold nobody back: once it had shipped, the
    // buyer could take the money back, or the guarantor the payment (helper-58).
    expect(code(create('group', ['escrow', null, 'escrow']))).toBe('invalid_parties');
  });
});

describe('[0035] the seller creates the account', () => {
  it('the seller’s lock is on, the buyer’s off; the buyer pays in; the seller cannot take it until the buyer locks and releases', () => {
    let account = must(
      createAccount({
        code: 's1',
        by: 'ibm',
        now,
        currency: 'JPY',
        requiredMinor: 3_000,
        parties: [
          { customerId: 'mizuta', role: 'buyer' },
          { customerId: 'ibm', role: 'seller' },
        ],
        commission: noCommission,
      }),
    ).account;
    expect(account.status).toBe('awaiting_funds');
    expect(account.parties.map((party) => party.lockPpm)).toEqual([0, full]);
    account = must(
      deposit(account, { by: 'mizuta', now, amountMinor: 3_000, from: usual('mizuta', 3_000) }),
    ).account;
    expect(account.status).toBe('funded');
    // The buyer cannot take it back while the seller's lock is on.
    expect(movableMinor(account, 'mizuta')).toBe(0);
  });
});

describe('[0036] commission', () => {
  const commission: CommissionSchedule = {
    creation: { JPY: { flatMinor: 100, basisPoints: 0 } },
    withdrawal: { JPY: { flatMinor: 10, basisPoints: 150 } },
  };

  it('charges the creation fee to the buyer at funding and keeps the withdrawal fee from the seller', () => {
    const created = deal({ commission });
    expect(created.transfers).toContainEqual({
      from: 'usual:acc-mizuta',
      to: 'fees:JPY',
      amountMinor: 100,
      currency: 'JPY',
      purpose: 'creation_fee',
    });
    let account = must(accept(shipped(created.account), { by: 'mizuta', now })).account;
    const out = must(withdraw(account, { by: 'ibm', now, to: usual('ibm', 0), commission }));
    // 10 + floor(10500 * 1.5%) = 10 + 157 = 167
    expect(out.transfers).toEqual([
      { from: 'temporary:100', to: 'usual:acc-ibm', amountMinor: 10_333, currency: 'JPY', purpose: 'payout' },
      { from: 'temporary:100', to: 'fees:JPY', amountMinor: 167, currency: 'JPY', purpose: 'withdrawal_fee' },
    ]);
    account = out.account;
    expect(account.status).toBe('dissolved');
  });

  it('charges the creation fee on the buyer’s first pay-in when the account awaited a remittance', () => {
    const created = deal({ commission, buyerBalance: 10_500 }); // 10500 + 100 fee > 10500
    expect(created.account.status).toBe('awaiting_funds');
    expect(created.account.creationFeeDueMinor).toBe(100);
    const paid = must(
      deposit(created.account, { by: 'mizuta', now, amountMinor: 10_500, from: usual('mizuta', 20_000) }),
    );
    expect(paid.transfers.map((transfer) => [transfer.purpose, transfer.amountMinor])).toEqual([
      ['principal', 10_500],
      ['creation_fee', 100],
    ]);
    expect(paid.account.creationFeeDueMinor).toBe(0);
  });
});

describe('step 124: dissolution', () => {
  it('nothing moves through a dissolved account; its record stays readable', () => {
    let account = deal().account;
    account = must(
      withdraw(account, { by: 'mizuta', now, to: usual('mizuta', 0), commission: noCommission }),
    ).account;
    expect(account.status).toBe('dissolved');
    expect(account.code).toBe('100');
    expect(code(deposit(account, { by: 'mizuta', now, amountMinor: 1, from: usual('mizuta', 5) }))).toBe(
      'account_dissolved',
    );
    expect(code(setLock(account, { by: 'ibm', now, lockPpm: full }))).toBe('account_dissolved');
    expect(code(dissolve(account, { by: 'ibm', now }))).toBe('account_dissolved');
  });

  it('an empty account can be closed; a non-empty one cannot', () => {
    const waiting = deal({ buyerBalance: 0 }).account;
    expect(code(dissolve(deal().account, { by: 'mizuta', now }))).toBe('account_not_empty');
    expect(must(dissolve(waiting, { by: 'ibm', now })).account.status).toBe('dissolved');
  });
});

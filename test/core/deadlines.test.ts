import {
  accept,
  amountDueMinor,
  type CommandOutcome,
  cancelDeal,
  checkFunds,
  createAccount,
  deadlineNotice,
  defaultDeadlinePolicy,
  deposit,
  heldFromOthersMinor,
  markShipped,
  movableMinor,
  nextDeadline,
  noCommission,
  type Party,
  passDeadlines,
  type Result,
  reject,
  resolveDispute,
  setLock,
  startDeadlines,
  type TemporaryAccount,
  underDeadlines,
  withdraw,
} from '@lockstep/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fundedDeal, value } from './deal-fixture.ts';

/**
 * A deal's deadlines as pure rules (deadlines.ts): when they start, what passing them does, and
 * that passing them never moves money, never turns a lock on, and happens once.
 */
const dayMs = 24 * 60 * 60 * 1000;
const t0 = Date.parse('2026-11-26T10:00:00.000Z');
const at = (days: number) => new Date(t0 + days * dayMs).toISOString();
const full = 1_000_000;

/** Runs a command as the bank does: the deadlines it starts are set on its outcome. */
function step(outcome: Result<CommandOutcome>, now: string): TemporaryAccount {
  return startDeadlines(value(outcome).account, defaultDeadlinePolicy, now);
}

/** The deal of deal-fixture.ts, created at day 0. */
const funded = (mode: 'deal' | 'fractional' = 'deal') => fundedDeal(at(0), mode);

/**
 * A deal of ¥5,000 opened at day 0 by `by`, nothing paid in: by the seller, its lock is on; by
 * the buyer, it may name members.
 */
const openedBy = (
  by: 'ibm' | 'mizuta',
  members: string[] = [],
  commission = noCommission,
  requiredMinor = 5_000,
) =>
  value(
    createAccount({
      code: `ta_${by}`,
      by,
      now: at(0),
      currency: 'JPY',
      requiredMinor,
      parties: [
        { customerId: 'mizuta', role: 'buyer' },
        { customerId: 'ibm', role: 'seller' },
        ...members.map((customerId) => ({ customerId, role: 'member' as const })),
      ],
      commission,
    }),
  ).account;

/** A ¥100 creation fee in yen, nothing on withdrawals. */
const yenFee = { creation: { JPY: { flatMinor: 100, basisPoints: 0 } }, withdrawal: {} };

/** A ¥10,000 deal the buyer opened at day 0 to pay later, with members tanaka and sato. */
const twoMembersDeal = (commission = noCommission) =>
  startDeadlines(openedBy('mizuta', ['tanaka', 'sato'], commission, 10_000), defaultDeadlinePolicy, at(0));

/** A seller-created deal of ¥5,000 at day 0: the seller's lock on, nothing paid in. */
const sellerOpened = () => openedBy('ibm');

/** `by` takes `amountMinor` (absent: all it may) out to its usual account on `day`. */
const takeOut = (account: TemporaryAccount, by: string, day: number, amountMinor?: number) =>
  withdraw(account, {
    by,
    now: at(day),
    ...(amountMinor === undefined ? {} : { amountMinor }),
    to: { id: `acc-${by}`, ownerId: by, currency: 'JPY', balanceMinor: 0 },
    commission: noCommission,
  });

/** The buyer takes `amountMinor` back on `day`, as the bank runs it. */
const takeBack = (account: TemporaryAccount, day: number, amountMinor: number) =>
  step(
    withdraw(account, {
      by: 'mizuta',
      now: at(day),
      amountMinor,
      to: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 5_000 },
      commission: noCommission,
    }),
    at(day),
  );

/** The buyer (or `by`) pays `amountMinor` in on `day` from a usual account holding enough. */
const payIn = (account: TemporaryAccount, day: number, amountMinor: number, by = 'mizuta') =>
  step(
    deposit(account, {
      by,
      now: at(day),
      amountMinor,
      from: { id: `acc-${by}`, ownerId: by, currency: 'JPY', balanceMinor: 10_000 },
    }),
    at(day),
  );

/** What the buyer's pay-in of ¥3,000 and the seller's lock on `day` are refused with (null: taken). */
const refusals = (account: TemporaryAccount, day: number) => {
  const late = deposit(account, {
    by: 'mizuta',
    now: at(day),
    amountMinor: 3_000,
    from: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 10_000 },
  });
  const relock = setLock(account, { by: 'ibm', now: at(day), lockPpm: full });
  return [late.ok ? null : late.error.code, relock.ok ? null : relock.error.code];
};

const sellerLocked = (days: number) => {
  const account = funded();
  return step(setLock(account, { by: 'ibm', now: at(days), lockPpm: full }), at(days));
};

describe('deal deadlines', () => {
  it('start at the seller’s lock (ship by) and at the shipment (verdict by), and never move', () => {
    const account = funded();
    expect(account.deadlines).toBeUndefined();
    const locked = sellerLocked(1);
    expect(locked.deadlines).toEqual({ shipBy: at(15), verdictBy: null, shipMissed: false, payBy: null });
    expect(nextDeadline(locked)).toBe(at(15));
    const unlocked = step(setLock(locked, { by: 'ibm', now: at(2), lockPpm: 0 }), at(2));
    // Still pending while the seller's lock is off: it may be turned on again before.
    expect(nextDeadline(unlocked)).toBe(at(15));
    const relocked = step(setLock(unlocked, { by: 'ibm', now: at(3), lockPpm: full }), at(3));
    expect(relocked.deadlines?.shipBy).toBe(at(15));
    const shipped = step(
      markShipped(relocked, { by: 'ibm', now: at(4), carrier: 'Yamato', trackingNumber: 'YT-1' }),
      at(4),
    );
    expect(shipped.deadlines).toEqual({ shipBy: at(15), verdictBy: at(18), shipMissed: false, payBy: null });
    expect(nextDeadline(shipped)).toBe(at(18));
    const accepted = step(accept(shipped, { by: 'mizuta', now: at(5) }), at(5));
    expect(nextDeadline(accepted)).toBeNull();
  });

  it('a missed shipment takes the seller’s lock off for good, so the buyer may take the money back', () => {
    const locked = sellerLocked(0);
    expect(passDeadlines(locked, at(13.9))).toBeNull();
    const passed = passDeadlines(locked, at(14)) as CommandOutcome;
    expect(passed.events.map((event) => [event.type, event.actor, event.seq])).toEqual([
      ['deadline.passed', 'bank', locked.version + 1],
      ['lock.changed', 'bank', locked.version + 2],
    ]);
    expect(passed.account.parties.map((party) => party.lockPpm)).toEqual([full, 0]);
    // Funded no more, as a cancelled deal: out of the shops' shipping queues (`?status=funded`).
    expect(locked.status).toBe('funded');
    expect(passed.account.status).toBe('awaiting_funds');
    expect(amountDueMinor(passed.account)).toBe(0);
    // One stored funded by the release before is put right the first time the bank handles it.
    const stored: TemporaryAccount = { ...passed.account, status: 'funded' };
    expect(value(underDeadlines(stored, defaultDeadlinePolicy, at(15))).account.status).toBe(
      'awaiting_funds',
    );
    const relock = setLock(passed.account, { by: 'ibm', now: at(14), lockPpm: full });
    expect(relock.ok ? null : relock.error.code).toBe('deadline_passed');
    // Shipping late is refused (helper-89: it was recorded, the shop shipped, and the buyer took
    // all its money back), also before the sweep ran: the command applies the deadline first.
    for (const [account, now] of [
      [passed.account, at(15)],
      [locked, at(14.5)],
    ] as const) {
      const late = markShipped(account, { by: 'ibm', now, carrier: 'Yamato', trackingNumber: 'late' });
      expect(late.ok ? null : [late.error.code, late.error.details]).toEqual([
        'deadline_passed',
        { shipBy: at(14) },
      ]);
    }
    // Refused as late, not as short of funds, once the buyer took part back (helper-91: it asked
    // for a pay-in the deal could never ship for).
    const partTaken = { ...passed.account, balanceMinor: 4_000 };
    const shortAndLate = markShipped(partTaken, {
      by: 'ibm',
      now: at(15),
      carrier: 'Y',
      trackingNumber: 'l',
    });
    expect(shortAndLate.ok ? null : shortAndLate.error.code).toBe('deadline_passed');
    const lateThroughDeadlines = underDeadlines(locked, defaultDeadlinePolicy, at(14.5), (current) =>
      markShipped(current, { by: 'ibm', now: at(14.5), carrier: 'Yamato', trackingNumber: 'late' }),
    );
    expect(lateThroughDeadlines.ok ? null : lateThroughDeadlines.error.code).toBe('deadline_passed');
    // With its lock off all along, the seller's missed deadline is still recorded once.
    const neverRelocked = sellerLocked(0);
    const off = step(setLock(neverRelocked, { by: 'ibm', now: at(1), lockPpm: 0 }), at(1));
    const missed = passDeadlines(off, at(14)) as CommandOutcome;
    expect(missed.events.map((event) => event.type)).toEqual(['deadline.passed']);
    expect(missed.account.deadlines?.shipMissed).toBe(true);
    expect(nextDeadline(missed.account)).toBeNull();
    const refund = withdraw(passed.account, {
      by: 'mizuta',
      now: at(14),
      to: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 5_000 },
      commission: noCommission,
    });
    expect(value(refund).account.status).toBe('dissolved');
  });

  it('a silent buyer accepts at the verdict deadline; a rejected deal and a fractional account have none', () => {
    const locked = sellerLocked(0);
    const shipped = step(
      markShipped(locked, { by: 'ibm', now: at(1), carrier: 'Yamato', trackingNumber: 'YT-1' }),
      at(1),
    );
    const passed = passDeadlines(shipped, at(15)) as CommandOutcome;
    expect(passed.account.verdict).toBe('accepted');
    expect(passed.events.map((event) => event.type)).toEqual([
      'deadline.passed',
      'deal.accepted',
      'lock.changed',
    ]);
    const rejected = step(reject(shipped, { by: 'mizuta', now: at(2) }), at(2));
    expect(nextDeadline(rejected)).toBeNull();
    expect(passDeadlines(rejected, at(400))).toBeNull();
    const fractional = funded('fractional');
    const lockedFractional = step(setLock(fractional, { by: 'ibm', now: at(0), lockPpm: 250_000 }), at(0));
    expect(lockedFractional.deadlines).toBeUndefined();
    expect(passDeadlines(lockedFractional, at(400))).toBeNull();
  });

  it('a verdict ends the ship deadline; an accepting buyer may not lock again (helper-38)', () => {
    // Rejected before shipping: a dispute, which the bank resolves, not the ship deadline.
    const locked = sellerLocked(0);
    const rejected = step(reject(locked, { by: 'mizuta', now: at(1) }), at(1));
    expect(nextDeadline(rejected)).toBeNull();
    expect(passDeadlines(rejected, at(30))).toBeNull();
    // Accepted (by the buyer or its deadline): the buyer's lock stays off for the seller.
    const shipped = step(
      markShipped(locked, { by: 'ibm', now: at(1), carrier: 'c', trackingNumber: 't' }),
      at(1),
    );
    const accepted = (passDeadlines(shipped, at(15)) as CommandOutcome).account;
    const relock = setLock(accepted, { by: 'mizuta', now: at(16), lockPpm: full });
    expect(relock.ok ? null : relock.error.code).toBe('verdict_already_given');
  });

  it('a part-paid deal is paid up by its pay deadline, or the seller’s lock comes off and what was paid goes back (helper-38, helper-82)', () => {
    // A seller-created deal: the seller's lock is on from the start; the buyer pays ¥2,000.
    const opened = startDeadlines(sellerOpened(), defaultDeadlinePolicy, at(0));
    expect(opened.deadlines).toEqual({ shipBy: null, verdictBy: null, shipMissed: false, payBy: at(7) });
    const partPaid = payIn(opened, 2, 2_000);
    expect(partPaid.status).toBe('awaiting_funds');
    // The seller cannot ship a deal not paid up, so its ship clock does not run yet (a buyer's
    // one yen started it, and the seller lost its lock on a deal it could never ship).
    expect(partPaid.deadlines).toMatchObject({ shipBy: null, payBy: at(7) });
    expect(nextDeadline(partPaid)).toBe(at(7));
    expect(passDeadlines(partPaid, at(6.9))).toBeNull();
    const lapsed = passDeadlines(partPaid, at(7)) as CommandOutcome;
    expect(lapsed.events.map((event) => [event.type, event.data])).toEqual([
      ['deadline.passed', { deadline: 'pay', dueAt: at(7) }],
      ['lock.changed', { customerId: 'ibm', role: 'seller', fromLockPpm: full, lockPpm: 0 }],
    ]);
    const freed = lapsed.account;
    expect(freed.deadlines).toMatchObject({ payMissed: true, shipBy: null });
    expect(nextDeadline(freed)).toBeNull();
    // It takes no more money, and the seller may not lock it again.
    expect(refusals(freed, 8)).toEqual(['deadline_passed', 'deadline_passed']);
    const back = withdraw(freed, {
      by: 'mizuta',
      now: at(8),
      to: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 8_000 },
      commission: noCommission,
    });
    expect(value(back).account).toMatchObject({ status: 'dissolved', balanceMinor: 0 });

    // Paid up in time: the pay deadline is done with, and the seller's lock starts the ship clock.
    const paidUp = payIn(partPaid, 3, 3_000);
    expect(paidUp.deadlines).toMatchObject({ payBy: null, shipBy: at(17) });
    expect(passDeadlines(paidUp, at(7))).toBeNull();

    // Never paid into: dissolved when the pay deadline passes.
    const empty = passDeadlines(opened, at(7)) as CommandOutcome;
    expect(empty.events.map((event) => [event.type, event.data])).toEqual([
      ['deadline.passed', { deadline: 'pay', dueAt: at(7) }],
      ['lock.changed', { customerId: 'ibm', role: 'seller', fromLockPpm: full, lockPpm: 0 }],
      ['account.dissolved', { reason: 'unpaid' }],
    ]);
    expect(empty.account.status).toBe('dissolved');
  });

  it('a seller cancels a deal not yet paid up: it takes no more money, the part paid goes back to the buyer', () => {
    const opened = startDeadlines(sellerOpened(), defaultDeadlinePolicy, at(0));
    const partPaid = payIn(opened, 1, 2_000);
    // Only the seller cancels; the buyer's way out of an empty deal is dissolving it.
    const byBuyer = cancelDeal(partPaid, { by: 'mizuta', now: at(2) });
    expect(byBuyer.ok ? null : byBuyer.error.code).toBe('role_not_allowed');
    const cancelled = value(
      underDeadlines(partPaid, defaultDeadlinePolicy, at(2), (current) =>
        cancelDeal(current, { by: 'ibm', now: at(2) }),
      ),
    );
    expect(cancelled.events.map((event) => [event.type, event.data])).toEqual([
      [
        'deal.cancelled',
        { customerId: 'ibm', balanceBeforeMinor: 2_000, feeRefundedMinor: 0, balanceMinor: 2_000 },
      ],
      ['lock.changed', { customerId: 'ibm', role: 'seller', fromLockPpm: full, lockPpm: 0 }],
    ]);
    expect(cancelled.transfers).toEqual([]);
    const account = cancelled.account;
    expect(account).toMatchObject({ status: 'awaiting_funds', balanceMinor: 2_000 });
    expect(account.deadlines).toMatchObject({ payMissed: true, cancelled: true, payBy: at(7) });
    // No deadline left to pass: the pay deadline is done with.
    expect(nextDeadline(account)).toBeNull();
    expect(passDeadlines(account, at(30))).toBeNull();
    // No more money in (the buyer paying the rest would fund a deal the shop called off), no
    // seller lock again, and the buyer takes back what it paid in.
    expect(refusals(account, 3)).toEqual(['deal_cancelled', 'deal_cancelled']);
    expect(movableMinor(account, 'mizuta')).toBe(2_000);
    expect(takeBack(account, 3, 2_000)).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
    // Cancelling again changes nothing.
    expect(value(cancelDeal(account, { by: 'ibm', now: at(4) }))).toEqual({
      account,
      events: [],
      transfers: [],
    });

    // Nothing paid in: dissolved at once.
    const empty = value(cancelDeal(opened, { by: 'ibm', now: at(1) }));
    expect(empty.events.map((event) => event.type)).toEqual([
      'deal.cancelled',
      'lock.changed',
      'account.dissolved',
    ]);
    expect(empty.events.at(-1)?.data).toEqual({ reason: 'cancelled' });

    // A fractional account is not a deal to cancel.
    const fractional = cancelDeal(funded('fractional'), { by: 'ibm', now: at(1) });
    expect(fractional.ok ? null : fractional.error.code).toBe('invalid_state');
  });

  it('a cancelled deal’s money is the buyer’s: not the seller’s after the buyer unlocked, not held by a member, not kept as an advance (helper-85)', () => {
    const cancel = (account: TemporaryAccount, day: number) =>
      value(
        underDeadlines(account, defaultDeadlinePolicy, at(day), (current) =>
          cancelDeal(current, { by: 'ibm', now: at(day) }),
        ),
      ).account;
    const sellerTakes = (account: TemporaryAccount, day: number) =>
      withdraw(account, {
        by: 'ibm',
        now: at(day),
        to: { id: 'acc-i', ownerId: 'ibm', currency: 'JPY', balanceMinor: 0 },
        commission: noCommission,
      });
    const partPaid = payIn(startDeadlines(sellerOpened(), defaultDeadlinePolicy, at(0)), 1, 3_000);
    // The buyer turned its lock off (rule 2) before the shop cancelled: the seller still takes nothing.
    const unlocked = step(setLock(partPaid, { by: 'mizuta', now: at(1), lockPpm: 0 }), at(1));
    const off = cancel(unlocked, 2);
    expect(movableMinor(off, 'ibm')).toBe(0);
    const taken = sellerTakes(off, 2);
    expect(taken.ok ? null : taken.error.code).toBe('deal_cancelled');
    expect(movableMinor(off, 'mizuta')).toBe(3_000);
    // The same once the pay deadline, not the seller, closed it.
    const lapsed = passDeadlines(unlocked, at(7))?.account as TemporaryAccount;
    const late = sellerTakes(lapsed, 8);
    expect(late.ok ? null : late.error.code).toBe('deadline_passed');
    expect(movableMinor(lapsed, 'mizuta')).toBe(3_000);

    // A seller that took an advance the buyer allowed does not cancel while it holds it.
    const advanced = step(
      withdraw(step(setLock(unlocked, { by: 'ibm', now: at(1), lockPpm: 0 }), at(1)), {
        by: 'ibm',
        now: at(1),
        amountMinor: 2_000,
        to: { id: 'acc-i', ownerId: 'ibm', currency: 'JPY', balanceMinor: 0 },
        commission: noCommission,
      }),
      at(1),
    );
    const refused = cancelDeal(advanced, { by: 'ibm', now: at(2) });
    expect(refused.ok ? null : [refused.error.code, refused.error.details]).toEqual([
      'invalid_state',
      { sellerTookMinor: 2_000 },
    ]);

    // A member's lock holding the money is not cancelled away: the member decides first
    // (helper-94: the buyer took what a member paid in). Once it lets go, the money is the buyer's.
    const withMember = openedBy('mizuta', ['tanaka']);
    const memberLocked = step(
      setLock(payIn(startDeadlines(withMember, defaultDeadlinePolicy, at(0)), 1, 2_000), {
        by: 'tanaka',
        now: at(1),
        lockPpm: full,
      }),
      at(1),
    );
    expect(movableMinor(memberLocked, 'mizuta')).toBe(0);
    const kept = cancelDeal(memberLocked, { by: 'ibm', now: at(2) });
    expect(kept.ok ? null : [kept.error.code, kept.error.details]).toEqual([
      'invalid_state',
      { memberLocksOn: 1 },
    ]);
    const memberLetGo = step(setLock(memberLocked, { by: 'tanaka', now: at(2), lockPpm: 0 }), at(2));
    const memberOff = cancel(memberLetGo, 2);
    expect(movableMinor(memberOff, 'mizuta')).toBe(2_000);
    expect(movableMinor(memberOff, 'tanaka')).toBe(0);
    expect(takeBack(memberOff, 3, 2_000)).toMatchObject({ status: 'dissolved' });
  });

  it('a member’s lock does not hold the seller’s payment past the verdict deadline, accepted or silent; none comes on after an accept (helper-94)', () => {
    // Funded by the buyer at day 0 with a member; the member locks, the seller locks and ships.
    const opened = startDeadlines(openedBy('mizuta', ['tanaka']), defaultDeadlinePolicy, at(0));
    const paid = payIn(opened, 0, 5_000);
    const memberLocked = step(setLock(paid, { by: 'tanaka', now: at(0), lockPpm: full }), at(0));
    const sellerOn = step(setLock(memberLocked, { by: 'ibm', now: at(1), lockPpm: full }), at(1));
    const shipped = step(
      markShipped(sellerOn, { by: 'ibm', now: at(2), carrier: 'Yamato', trackingNumber: 'YT-1' }),
      at(2),
    );
    const verdictBy = shipped.deadlines?.verdictBy as string;
    expect(verdictBy).toBe(at(16));

    // Silent buyer: at the verdict deadline the buyer's and the member's locks come off.
    const silent = passDeadlines(shipped, at(16))?.account as TemporaryAccount;
    expect(silent.verdict).toBe('accepted');
    expect(silent.parties.map((party) => [party.customerId, party.lockPpm])).toEqual([
      ['mizuta', 0],
      ['ibm', full],
      ['tanaka', 0],
    ]);
    expect(movableMinor(silent, 'ibm')).toBe(5_000);

    // The buyer accepts on day 3, the member's lock still on: the seller waits for the member
    // until the verdict deadline, not for ever.
    const accepted = step(accept(shipped, { by: 'mizuta', now: at(3) }), at(3));
    expect(movableMinor(accepted, 'ibm')).toBe(0);
    expect(nextDeadline(accepted)).toBe(verdictBy);
    // The pages say so (they said nothing once the buyer had given its verdict: helper-95).
    expect(deadlineNotice(accepted)).toEqual({ kind: 'memberLocksBy', at: verdictBy });
    expect(passDeadlines(accepted, at(15))).toBeNull();
    const passed = passDeadlines(accepted, at(16));
    expect(passed?.events.map((event) => [event.type, event.data.customerId ?? null])).toEqual([
      ['deadline.passed', null],
      ['lock.changed', 'tanaka'],
    ]);
    const released = passed?.account as TemporaryAccount;
    expect(movableMinor(released, 'ibm')).toBe(5_000);
    expect(nextDeadline(released)).toBeNull();
    expect(deadlineNotice(released)).toBeNull();

    // A deal accepted before deadlines, a member's lock on, gets a verdict deadline from the
    // bank's first handling, so that lock ends too (helper-95).
    const older = startDeadlines({ ...accepted, deadlines: undefined }, defaultDeadlinePolicy, at(5));
    expect(nextDeadline(older)).toBe(at(19));

    // A member that let go after the accept does not lock again.
    const letGo = step(setLock(accepted, { by: 'tanaka', now: at(4), lockPpm: 0 }), at(4));
    expect(nextDeadline(letGo)).toBeNull();
    const relock = setLock(letGo, { by: 'tanaka', now: at(4), lockPpm: full });
    expect(relock.ok ? null : relock.error.code).toBe('verdict_already_given');
  });

  it('a member outside the release group holds nobody back: its lock does not stop a cancel (helper-94)', () => {
    const opened = value(
      createAccount({
        code: 'ta_group',
        by: 'mizuta',
        now: at(0),
        currency: 'JPY',
        requiredMinor: 5_000,
        parties: [
          { customerId: 'mizuta', role: 'buyer', group: 'escrow' },
          { customerId: 'ibm', role: 'seller', group: 'escrow' },
          { customerId: 'tanaka', role: 'member' },
        ],
        releasePolicy: { kind: 'group', group: 'escrow' },
        commission: noCommission,
      }),
    ).account;
    const paid = payIn(
      step(
        setLock(startDeadlines(opened, defaultDeadlinePolicy, at(0)), {
          by: 'ibm',
          now: at(0),
          lockPpm: full,
        }),
        at(0),
      ),
      1,
      5_000,
    );
    const memberOn = step(setLock(paid, { by: 'tanaka', now: at(1), lockPpm: full }), at(1));
    const cancelled = value(cancelDeal(memberOn, { by: 'ibm', now: at(2) })).account;
    expect(cancelled.deadlines?.cancelled).toBe(true);
    expect(movableMinor(cancelled, 'mizuta')).toBe(5_000);
    // Shipped and accepted instead: the seller is paid, and no page says the member's lock holds
    // it (helper-97), nor does the deal wait on its verdict deadline.
    const shipped = step(
      markShipped(memberOn, { by: 'ibm', now: at(2), carrier: 'Yamato', trackingNumber: 'G-1' }),
      at(2),
    );
    const accepted = step(accept(shipped, { by: 'mizuta', now: at(3) }), at(3));
    expect(movableMinor(accepted, 'ibm')).toBe(5_000);
    expect([deadlineNotice(accepted), nextDeadline(accepted)]).toEqual([null, null]);
  });

  it('a member’s lock does not leave the buyer’s pay-in stuck once the pay deadline passed (helper-95)', () => {
    // A member locks, paying nothing; the buyer pays ¥3,000 in; the seller's cancel waits on the
    // member; the pay deadline passes unfunded.
    const opened = startDeadlines(openedBy('mizuta', ['tanaka']), defaultDeadlinePolicy, at(0));
    const locked = step(setLock(opened, { by: 'tanaka', now: at(0), lockPpm: full }), at(0));
    const paid = payIn(locked, 1, 3_000);
    const refused = cancelDeal(paid, { by: 'ibm', now: at(2) });
    expect(refused.ok ? null : refused.error.code).toBe('invalid_state');
    const lapsed = passDeadlines(paid, at(8))?.account as TemporaryAccount;
    expect(lapsed.deadlines?.payMissed).toBe(true);
    // The money is the buyer's: the member's lock holds nothing there, and it may not lock again.
    const member = lapsed.parties.find((party) => party.customerId === 'tanaka') as Party;
    expect(heldFromOthersMinor(lapsed, member)).toBe(0);
    expect(movableMinor(lapsed, 'mizuta')).toBe(3_000);
    const relock = setLock(step(setLock(lapsed, { by: 'tanaka', now: at(9), lockPpm: 0 }), at(9)), {
      by: 'tanaka',
      now: at(9),
      lockPpm: full,
    });
    expect(relock.ok ? null : relock.error.code).toBe('deadline_passed');
    expect(takeBack(lapsed, 9, 3_000)).toMatchObject({ status: 'dissolved' });
  });

  it('a deal that is off gives a member back its own pay-ins, and the creation fee it paid once a cancel gave it back; the buyer the rest', () => {
    const memberTakes = (account: TemporaryAccount, day: number, amountMinor?: number) =>
      takeOut(account, 'tanaka', day, amountMinor);
    // A member pays ¥2,000 first (the ¥100 creation fee with it), the buyer ¥1,000; unfunded.
    const opened = startDeadlines(openedBy('mizuta', ['tanaka'], yenFee), defaultDeadlinePolicy, at(0));
    const paid = payIn(payIn(opened, 1, 2_000, 'tanaka'), 1, 1_000);
    expect([paid.balanceMinor, paid.creationFeePaidMinor]).toEqual([3_000, 100]);
    // The pay deadline passes: each takes back what it paid in (the fee stays charged).
    const lapsed = passDeadlines(paid, at(8))?.account as TemporaryAccount;
    expect([
      movableMinor(lapsed, 'tanaka'),
      movableMinor(lapsed, 'mizuta'),
      movableMinor(lapsed, 'ibm'),
    ]).toEqual([2_000, 1_000, 0]);
    const tooMuch = memberTakes(lapsed, 9, 2_001);
    expect(tooMuch.ok ? null : [tooMuch.error.code, tooMuch.error.details?.movableMinor]).toEqual([
      'exceeds_movable_amount',
      2_000,
    ]);
    const memberBack = step(memberTakes(lapsed, 9, 1_500), at(9));
    expect([movableMinor(memberBack, 'tanaka'), movableMinor(memberBack, 'mizuta')]).toEqual([500, 1_000]);
    const buyerBack = takeBack(memberBack, 9, 1_000);
    expect(buyerBack.balanceMinor).toBe(500);
    const last = step(memberTakes(buyerBack, 9), at(9));
    expect(last).toMatchObject({ status: 'dissolved', balanceMinor: 0 });

    // The seller cancels instead: the fee comes back, and it is the member's, who paid it.
    const cancelled = value(cancelDeal(paid, { by: 'ibm', now: at(2) })).account;
    expect(cancelled.balanceMinor).toBe(3_100);
    expect([movableMinor(cancelled, 'tanaka'), movableMinor(cancelled, 'mizuta')]).toEqual([2_100, 1_000]);
    // A member that paid nothing takes nothing; its lock on holds nothing of the others'.
    const buyerOnly = payIn(
      startDeadlines(openedBy('mizuta', ['tanaka'], yenFee), defaultDeadlinePolicy, at(0)),
      1,
      1_000,
    );
    const off = value(cancelDeal(buyerOnly, { by: 'ibm', now: at(2) })).account;
    expect([movableMinor(off, 'tanaka'), movableMinor(off, 'mizuta')]).toEqual([0, 1_100]);
    const nothing = memberTakes(off, 3);
    expect(nothing.ok ? null : nothing.error.code).toBe('deal_cancelled');
  });

  it('members short of their own money share what there is pro rata; no claims beyond the balance (helper-97)', () => {
    // ¥10,000 to pay later; tanaka pays ¥2,000 (the ¥100 fee with it), sato ¥2,000, the buyer
    // ¥1,000; no other lock on, the buyer takes ¥4,000 back on the live deal; the shop cancels.
    const paid = payIn(payIn(payIn(twoMembersDeal(yenFee), 1, 2_000, 'tanaka'), 1, 2_000, 'sato'), 1, 1_000);
    const buyerTook = takeBack(
      step(setLock(paid, { by: 'mizuta', now: at(1), lockPpm: 0 }), at(1)),
      1,
      4_000,
    );
    const cancelled = value(cancelDeal(buyerTook, { by: 'ibm', now: at(2) })).account;
    expect(cancelled.balanceMinor).toBe(1_100);
    const movable = (account: TemporaryAccount) =>
      ['tanaka', 'sato', 'mizuta', 'ibm'].map((id) => movableMinor(account, id));
    // 1,100 x 2,100/4,100 = 563.4 and 1,100 x 2,000/4,100 = 536.6: the unit left goes to sato.
    expect(movable(cancelled)).toEqual([563, 537, 0, 0]);
    const satoBack = step(takeOut(cancelled, 'sato', 3), at(3));
    expect(movable(satoBack)).toEqual([563, 0, 0, 0]);
    // A state stored without the cut (or any other) still never offers more than there is.
    const uncut = {
      ...buyerTook,
      deadlines: { ...(buyerTook.deadlines as NonNullable<TemporaryAccount['deadlines']>), payMissed: true },
    };
    const offered = movable(uncut);
    expect(offered.reduce((sum, each) => sum + each, 0)).toBe(uncut.balanceMinor);
  });

  it('a deal past its ship deadline unshipped gives each payer back its own, whatever the locks (helper-97)', () => {
    // A member pays ¥3,000 and locks, the buyer ¥2,000; the seller locks and never ships.
    const opened = startDeadlines(openedBy('mizuta', ['tanaka']), defaultDeadlinePolicy, at(0));
    const paid = payIn(payIn(opened, 0, 3_000, 'tanaka'), 0, 2_000);
    const memberOn = step(setLock(paid, { by: 'tanaka', now: at(0), lockPpm: full }), at(0));
    const sellerOn = step(setLock(memberOn, { by: 'ibm', now: at(1), lockPpm: full }), at(1));
    const missed = passDeadlines(sellerOn, at(15))?.account as TemporaryAccount;
    expect(missed.deadlines?.shipMissed).toBe(true);
    // The member's lock held the buyer's ¥2,000 and the buyer's the member's ¥3,000 for ever.
    expect([
      movableMinor(missed, 'tanaka'),
      movableMinor(missed, 'mizuta'),
      movableMinor(missed, 'ibm'),
    ]).toEqual([3_000, 2_000, 0]);
    const sellerTakes = withdraw(step(setLock(missed, { by: 'mizuta', now: at(16), lockPpm: 0 }), at(16)), {
      by: 'ibm',
      now: at(16),
      to: { id: 'acc-i', ownerId: 'ibm', currency: 'JPY', balanceMinor: 0 },
      commission: noCommission,
    });
    expect(sellerTakes.ok ? null : sellerTakes.error.code).toBe('deadline_passed');
    // No dispute reopens the locks' say, no member's lock comes on, no pay-in or check is taken
    // (helper-98: a report gave the buyer the member's money; a take-back asked for a pay-in).
    const codes = (...outcomes: Result<CommandOutcome>[]) =>
      outcomes.map((outcome) => (outcome.ok ? null : outcome.error.code));
    const memberOff = step(setLock(missed, { by: 'tanaka', now: at(16), lockPpm: 0 }), at(16));
    const memberBack = step(takeOut(memberOff, 'tanaka', 16), at(16));
    expect(amountDueMinor(memberBack)).toBe(0);
    expect(
      codes(
        reject(missed, { by: 'mizuta', now: at(16) }),
        setLock(memberOff, { by: 'tanaka', now: at(16), lockPpm: full }),
        deposit(memberBack, {
          by: 'mizuta',
          now: at(16),
          amountMinor: 3_000,
          from: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 10_000 },
        }),
        checkFunds(memberBack, { by: 'ibm', now: at(16) }),
      ),
    ).toEqual(['deadline_passed', 'deadline_passed', 'deadline_passed', 'deadline_passed']);
    const buyerBack = takeBack(memberBack, 16, 2_000);
    expect(buyerBack.status).toBe('dissolved');
  });

  it('a deal past its ship deadline stored with members claiming more than it holds is fitted the first time the bank handles it', () => {
    // Two members paid ¥3,000 each, the buyer ¥4,000; the buyer took ¥7,000 back on the live
    // deal; the ship deadline passed under a release that did not fit claims.
    const paid = payIn(payIn(payIn(twoMembersDeal(), 0, 3_000, 'tanaka'), 0, 3_000, 'sato'), 0, 4_000);
    const sellerOn = step(setLock(paid, { by: 'ibm', now: at(0), lockPpm: full }), at(0));
    const sellerOff = step(setLock(sellerOn, { by: 'ibm', now: at(1), lockPpm: 0 }), at(1));
    const taken = takeBack(
      step(setLock(sellerOff, { by: 'mizuta', now: at(1), lockPpm: 0 }), at(1)),
      1,
      7_000,
    );
    const stored: TemporaryAccount = {
      ...taken,
      deadlines: { ...(taken.deadlines as NonNullable<TemporaryAccount['deadlines']>), shipMissed: true },
    };
    // In party order, the first member would get it all; fitted, they share it.
    expect([movableMinor(stored, 'tanaka'), movableMinor(stored, 'sato')]).toEqual([3_000, 0]);
    // The first to ask, through the bank's command path, gets its share, not the whole.
    const first = value(
      underDeadlines(stored, defaultDeadlinePolicy, at(20), (current) => takeOut(current, 'tanaka', 20)),
    );
    expect(first.account.balanceMinor).toBe(1_500);
    const handled = startDeadlines(stored, defaultDeadlinePolicy, at(20));
    expect([
      movableMinor(handled, 'tanaka'),
      movableMinor(handled, 'sato'),
      movableMinor(handled, 'mizuta'),
    ]).toEqual([1_500, 1_500, 0]);
  });

  it('a dispute the bank decides for the buyer gives a member its own back, whatever the locks (helper-99)', () => {
    // A member pays ¥3,000, the buyer ¥2,000; the seller locks; the buyer reports a problem
    // before shipping; the member locks to protect its money; the bank decides for the buyer.
    const opened = startDeadlines(openedBy('mizuta', ['tanaka']), defaultDeadlinePolicy, at(0));
    const paid = payIn(payIn(opened, 0, 3_000, 'tanaka'), 0, 2_000);
    const sellerOn = step(setLock(paid, { by: 'ibm', now: at(1), lockPpm: full }), at(1));
    const rejected = step(reject(sellerOn, { by: 'mizuta', now: at(2) }), at(2));
    const memberOn = step(setLock(rejected, { by: 'tanaka', now: at(2), lockPpm: full }), at(2));
    const decided = value(resolveDispute(memberOn, { for: 'buyer', now: at(3) })).account;
    expect([
      movableMinor(decided, 'tanaka'),
      movableMinor(decided, 'mizuta'),
      movableMinor(decided, 'ibm'),
    ]).toEqual([3_000, 2_000, 0]);
    const sellerTakes = takeOut(decided, 'ibm', 4);
    expect(sellerTakes.ok ? null : sellerTakes.error.code).toBe('dispute_resolved');
    const memberBack = step(takeOut(decided, 'tanaka', 4), at(4));
    expect(takeBack(memberBack, 4, 2_000).status).toBe('dissolved');
  });

  it('on a deal that goes off, the payers can always take out exactly what it holds (property)', () => {
    const payers = ['mizuta', 'tanaka', 'sato'] as const;
    const action = fc.oneof(
      fc.record({
        kind: fc.constant('payIn' as const),
        by: fc.constantFrom(...payers),
        amountMinor: fc.integer({ min: 1, max: 4_000 }),
      }),
      fc.record({
        kind: fc.constant('withdraw' as const),
        by: fc.constantFrom(...payers),
        amountMinor: fc.integer({ min: 1, max: 4_000 }),
      }),
      fc.record({
        kind: fc.constant('lock' as const),
        by: fc.constantFrom(...payers, 'ibm'),
        on: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 12 }), fc.boolean(), fc.boolean(), (actions, cancel, fee) => {
        let account = twoMembersDeal(fee ? yenFee : noCommission);
        for (const next of actions) {
          const outcome =
            next.kind === 'payIn'
              ? deposit(account, {
                  by: next.by,
                  now: at(1),
                  amountMinor: next.amountMinor,
                  from: { id: `acc-${next.by}`, ownerId: next.by, currency: 'JPY', balanceMinor: 1e9 },
                })
              : next.kind === 'withdraw'
                ? withdraw(account, {
                    by: next.by,
                    now: at(1),
                    amountMinor: next.amountMinor,
                    to: { id: `acc-${next.by}`, ownerId: next.by, currency: 'JPY', balanceMinor: 0 },
                    commission: noCommission,
                  })
                : setLock(account, { by: next.by, now: at(1), lockPpm: next.on ? full : 0 });
          if (outcome.ok) account = startDeadlines(outcome.value.account, defaultDeadlinePolicy, at(1));
        }
        if (account.status === 'dissolved' || account.status === 'funded') return;
        const cancelled = cancelDeal(account, { by: 'ibm', now: at(2) });
        const off = cancel && cancelled.ok ? cancelled.value.account : passDeadlines(account, at(9))?.account;
        if (!off || off.status === 'dissolved') return;
        const claims = [...payers, 'ibm'].map((id) => movableMinor(off, id));
        expect(claims.reduce((sum, each) => sum + each, 0)).toBe(off.balanceMinor);
        // Each takes its claim in turn: the account empties, and nobody else's claim changed.
        let left = off;
        for (const [index, id] of [...payers].entries()) {
          const claim = claims[index] as number;
          expect(movableMinor(left, id)).toBe(claim);
          if (claim === 0) continue;
          left = value(
            withdraw(left, {
              by: id,
              now: at(10),
              to: { id: `acc-${id}`, ownerId: id, currency: 'JPY', balanceMinor: 0 },
              commission: noCommission,
            }),
          ).account;
        }
        expect(left.status).toBe('dissolved');
      }),
      { numRuns: 300 },
    );
  });

  it('a cancelled deal whose ship clock had started is not told later that it missed shipping (helper-85)', () => {
    // Funded, locked by the seller (ship clock), unlocked, one yen taken back, then cancelled.
    const locked = sellerLocked(0);
    const unlocked = step(setLock(locked, { by: 'ibm', now: at(1), lockPpm: 0 }), at(1));
    const short = takeBack(unlocked, 1, 1);
    expect(short).toMatchObject({ status: 'awaiting_funds' });
    expect(short.deadlines?.shipBy).toBe(at(14));
    const off = value(cancelDeal(short, { by: 'ibm', now: at(2) })).account;
    expect(nextDeadline(off)).toBeNull();
    expect(passDeadlines(off, at(15))).toBeNull();
  });

  it('a seller’s cancel gives the buyer back the bank’s creation fee with its part; a missed pay deadline does not (helper-85, helper-86)', () => {
    const commission = { creation: { JPY: { flatMinor: 100, basisPoints: 0 } }, withdrawal: {} };
    const opened = startDeadlines(openedBy('ibm', [], commission), defaultDeadlinePolicy, at(0));
    const paid = value(
      deposit(opened, {
        by: 'mizuta',
        now: at(1),
        amountMinor: 2_000,
        from: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 10_000 },
      }),
    );
    expect(paid.transfers.map((transfer) => [transfer.purpose, transfer.amountMinor])).toEqual([
      ['principal', 2_000],
      ['creation_fee', 100],
    ]);
    expect(paid.account.creationFeePaidMinor).toBe(100);
    const cancelled = value(cancelDeal(paid.account, { by: 'ibm', now: at(2) }));
    expect(cancelled.transfers).toEqual([
      {
        from: 'fees:JPY',
        to: 'temporary:ta_ibm',
        amountMinor: 100,
        currency: 'JPY',
        purpose: 'creation_fee_refund',
      },
    ]);
    expect(cancelled.events[0]?.data).toEqual({
      customerId: 'ibm',
      balanceBeforeMinor: 2_000,
      feeRefundedMinor: 100,
      balanceMinor: 2_100,
    });
    expect(cancelled.account).toMatchObject({ balanceMinor: 2_100, creationFeePaidMinor: 0 });
    expect(movableMinor(cancelled.account, 'mizuta')).toBe(2_100);
    // Lapsed instead: the fee stays charged (the buyer did not pay up), nothing moves.
    const lapsed = passDeadlines(paid.account, at(7)) as CommandOutcome;
    expect(lapsed.transfers).toEqual([]);
    expect(lapsed.account.balanceMinor).toBe(2_000);
  });

  it('a paid-up deal the seller will not ship is cancelled: funded no more, and the buyer takes back all it paid, the creation fee too (helper-90)', () => {
    // It was refused (invalid_state): the shop unlocked instead, and the bank kept the fee.
    const commission = { creation: { JPY: { flatMinor: 100, basisPoints: 0 } }, withdrawal: {} };
    const opened = startDeadlines(openedBy('ibm', [], commission), defaultDeadlinePolicy, at(0));
    const paid = payIn(opened, 1, 5_000);
    expect(paid).toMatchObject({ status: 'funded', balanceMinor: 5_000, creationFeePaidMinor: 100 });
    expect(paid.deadlines?.shipBy).toBe(at(15));
    const cancelled = value(
      underDeadlines(paid, defaultDeadlinePolicy, at(2), (current) =>
        cancelDeal(current, { by: 'ibm', now: at(2) }),
      ),
    );
    expect(cancelled.events.map((event) => [event.type, event.data])).toEqual([
      [
        'deal.cancelled',
        { customerId: 'ibm', balanceBeforeMinor: 5_000, feeRefundedMinor: 100, balanceMinor: 5_100 },
      ],
      ['lock.changed', { customerId: 'ibm', role: 'seller', fromLockPpm: full, lockPpm: 0 }],
    ]);
    expect(cancelled.transfers.map((transfer) => [transfer.purpose, transfer.amountMinor])).toEqual([
      ['creation_fee_refund', 100],
    ]);
    const account = cancelled.account;
    // Funded no more: out of the shop's shipping queue, and nothing ships or is accepted.
    expect(account).toMatchObject({ status: 'awaiting_funds', balanceMinor: 5_100, creationFeePaidMinor: 0 });
    expect(account.deadlines).toMatchObject({ payMissed: true, cancelled: true });
    const ship = markShipped(account, { by: 'ibm', now: at(3), carrier: 'Yamato', trackingNumber: 'YT-1' });
    expect(ship.ok ? null : ship.error.code).toBe('deal_cancelled');
    expect(refusals(account, 3)).toEqual(['deal_cancelled', 'deal_cancelled']);
    // Its ship deadline is done with: no "ship deadline passed" later.
    expect(nextDeadline(account)).toBeNull();
    expect(passDeadlines(account, at(30))).toBeNull();
    // The buyer's own lock is still on; the money is its to take, all of it, and its lock holds
    // nothing from the others (it said the whole balance: helper-90).
    expect(movableMinor(account, 'mizuta')).toBe(5_100);
    const buyerOf = (deal: TemporaryAccount) => deal.parties.find((party) => party.role === 'buyer') as Party;
    expect(heldFromOthersMinor(account, buyerOf(account))).toBe(0);
    expect(movableMinor(account, 'ibm')).toBe(0);
    expect(takeBack(account, 3, 5_100)).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
    // Shipped first: no cancel.
    const shipped = step(
      markShipped(paid, { by: 'ibm', now: at(2), carrier: 'Yamato', trackingNumber: 'YT-1' }),
      at(2),
    );
    const late = cancelDeal(shipped, { by: 'ibm', now: at(3) });
    expect(late.ok ? null : late.error.code).toBe('already_shipped');
  });

  it('cancelling a deal that was cancelled, or lapsed, and closed since changes nothing (helper-85)', () => {
    const opened = startDeadlines(sellerOpened(), defaultDeadlinePolicy, at(0));
    const gone = value(cancelDeal(opened, { by: 'ibm', now: at(1) })).account;
    expect(gone.status).toBe('dissolved');
    expect(value(cancelDeal(gone, { by: 'ibm', now: at(2) })).events).toEqual([]);
    // Past its pay deadline, not yet swept: the deadline passes first, the cancel then changes nothing.
    const lapsing = value(
      underDeadlines(opened, defaultDeadlinePolicy, at(8), (current) =>
        cancelDeal(current, { by: 'ibm', now: at(8) }),
      ),
    );
    expect(lapsing.account.status).toBe('dissolved');
    expect(lapsing.events.at(-1)?.data).toEqual({ reason: 'unpaid' });
    // The buyer may not cancel, closed or not.
    const byBuyer = cancelDeal(gone, { by: 'mizuta', now: at(2) });
    expect(byBuyer.ok ? null : byBuyer.error.code).toBe('role_not_allowed');
  });

  it('a seller cannot restart its ship clock by having the deal taken back below its amount (helper-84)', () => {
    const locked = sellerLocked(1); // shipBy day 15
    const unlocked = step(setLock(locked, { by: 'ibm', now: at(14), lockPpm: 0 }), at(14));
    const takenBack = takeBack(unlocked, 14, 1);
    expect(takenBack.status).toBe('awaiting_funds');
    expect(takenBack.deadlines).toMatchObject({ shipBy: at(15), payBy: at(21) });
    const relocked = step(setLock(takenBack, { by: 'ibm', now: at(14), lockPpm: full }), at(14));
    // The ship deadline still passes at day 15, before the pay deadline.
    expect(nextDeadline(relocked)).toBe(at(15));
    const passed = passDeadlines(relocked, at(16)) as CommandOutcome;
    expect(passed.events.map((event) => [event.type, event.data.deadline ?? null])).toEqual([
      ['deadline.passed', 'ship'],
      ['lock.changed', null],
    ]);
    expect(passed.account.deadlines?.shipMissed).toBe(true);
    expect(passed.account.parties.find((party) => party.role === 'seller')?.lockPpm).toBe(0);
    // The buyer may take the rest back; no pay deadline is left to run.
    expect(nextDeadline(passed.account)).toBeNull();
  });

  it('a shipped deal taken back below its amount stays funded: the buyer decides, silence accepts, the seller takes the rest (helper-100)', () => {
    // A part refund: the seller ships, unlocks, the buyer takes ¥4,000 of ¥5,000 back, the
    // seller locks again. The deal was made "awaiting funds", which no deadline waits on and no
    // verdict takes: the buyer's lock held the rest from the seller for good.
    const shipped = step(
      markShipped(sellerLocked(0), { by: 'ibm', now: at(1), carrier: 'Yamato', trackingNumber: 'YT-3' }),
      at(1),
    );
    const unlocked = step(setLock(shipped, { by: 'ibm', now: at(2), lockPpm: 0 }), at(2));
    const takenBack = step(
      setLock(takeBack(unlocked, 2, 4_000), { by: 'ibm', now: at(2), lockPpm: full }),
      at(2),
    );
    expect(movableMinor(takenBack, 'mizuta')).toBe(0);
    expect(takenBack).toMatchObject({ status: 'funded', balanceMinor: 1_000, verdict: null });
    // It was paid up when it shipped: nothing is asked of the buyer again.
    expect(amountDueMinor(takenBack)).toBe(0);
    expect(nextDeadline(takenBack)).toBe(at(15));
    // The buyer may still decide, either way, in time.
    expect(accept(takenBack, { by: 'mizuta', now: at(3) }).ok).toBe(true);
    expect(reject(takenBack, { by: 'mizuta', now: at(3) }).ok).toBe(true);
    expect(passDeadlines(takenBack, at(14))).toBeNull();
    // Silence accepts: the buyer's lock comes off, and the seller may take the ¥1,000 left.
    const passed = passDeadlines(takenBack, at(15)) as CommandOutcome;
    expect(passed.account.verdict).toBe('accepted');
    expect(movableMinor(passed.account, 'ibm')).toBe(1_000);
    expect(movableMinor(passed.account, 'mizuta')).toBe(0);
  });

  it('a shipped deal an older release stored as awaiting funds is funded the first time the bank handles it (helper-100)', () => {
    const shipped = step(
      markShipped(funded(), { by: 'ibm', now: at(1), carrier: 'Yamato', trackingNumber: 'YT-4' }),
      at(1),
    );
    const stored: TemporaryAccount = { ...takeBack(shipped, 2, 4_000), status: 'awaiting_funds' };
    expect(nextDeadline(stored)).toBeNull();
    // Any command, or the sweep the store migration makes it due for, puts it right.
    const handled = value(underDeadlines(stored, defaultDeadlinePolicy, at(3))).account;
    expect(handled.status).toBe('funded');
    expect(nextDeadline(handled)).toBe(at(15));
    // Past its deadline by then, it is not accepted at once: the buyer could give no verdict
    // (it was refused), so it gets a whole new window, told as `deadline.set` (helper-101).
    const late = value(underDeadlines(stored, defaultDeadlinePolicy, at(30)));
    expect([late.account.status, late.account.verdict, late.account.deadlines?.verdictBy]).toEqual([
      'funded',
      null,
      at(44),
    ]);
    expect(late.events.map((event) => [event.type, event.data.deadline, event.data.dueAt])).toEqual([
      ['deadline.set', 'verdict', at(44)],
    ]);
    expect(reject(late.account, { by: 'mizuta', now: at(31) }).ok).toBe(true);
    const accepted = value(underDeadlines(late.account, defaultDeadlinePolicy, at(44))).account;
    expect([accepted.verdict, movableMinor(accepted, 'ibm')]).toEqual(['accepted', 1_000]);
    // Unshipped, the same take-back still un-funds it (nothing can ship until it is paid up).
    const unshipped = takeBack(funded(), 2, 4_000);
    expect(unshipped.status).toBe('awaiting_funds');
    expect(value(underDeadlines(unshipped, defaultDeadlinePolicy, at(3))).account.status).toBe(
      'awaiting_funds',
    );
  });

  it('passing deadlines never moves money, never turns a lock on, and happens once (property)', () => {
    // Random days for the seller's lock, an optional shipment and the sweep; random verdicts.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.option(fc.integer({ min: 0, max: 20 })),
        fc.constantFrom<'none' | 'accept' | 'reject'>('none', 'accept', 'reject'),
        fc.integer({ min: 0, max: 60 }),
        (lockDay, shipAfter, verdict, sweepAfter) => {
          let account = sellerLocked(lockDay);
          let day = lockDay;
          if (shipAfter !== null && shipAfter < 14) {
            day += shipAfter;
            account = step(
              markShipped(account, { by: 'ibm', now: at(day), carrier: 'c', trackingNumber: 't' }),
              at(day),
            );
            if (verdict !== 'none') {
              const command = verdict === 'accept' ? accept : reject;
              account = step(command(account, { by: 'mizuta', now: at(day) }), at(day));
            }
          }
          const sweepAt = at(day + sweepAfter);
          const passed = passDeadlines(account, sweepAt);
          if (!passed) {
            expect(nextDeadline(account) === null || (nextDeadline(account) as string) > sweepAt).toBe(true);
            return;
          }
          expect(passed.transfers).toEqual([]);
          expect(passed.account.balanceMinor).toBe(account.balanceMinor);
          passed.account.parties.forEach((party, index) => {
            expect(party.lockPpm).toBeLessThanOrEqual(account.parties[index]?.lockPpm ?? 0);
          });
          expect(passed.account.version).toBe(account.version + passed.events.length);
          expect(passDeadlines(passed.account, sweepAt)).toBeNull();
          expect(nextDeadline(passed.account)).toBeNull();
        },
      ),
    );
  });

  it('a pay deadline passing never moves money, never turns a lock on, happens once, and leaves the part paid to the buyer (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_999 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 20 }),
        (paidMinor, payDay, sweepAfter) => {
          let account = startDeadlines(sellerOpened(), defaultDeadlinePolicy, at(0));
          if (paidMinor > 0) {
            const from = { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY' as const, balanceMinor: 10_000 };
            account = step(
              deposit(account, { by: 'mizuta', now: at(payDay), amountMinor: paidMinor, from }),
              at(payDay),
            );
          }
          expect(account.status).toBe('awaiting_funds');
          expect(account.deadlines?.shipBy ?? null).toBeNull();
          const sweepAt = at(payDay + sweepAfter);
          const passed = passDeadlines(account, sweepAt);
          if (!passed) {
            expect((nextDeadline(account) as string) > sweepAt).toBe(true);
            return;
          }
          expect(passed.transfers).toEqual([]);
          expect(passed.account.balanceMinor).toBe(account.balanceMinor);
          passed.account.parties.forEach((party, index) => {
            expect(party.lockPpm).toBeLessThanOrEqual(account.parties[index]?.lockPpm ?? 0);
          });
          expect(passed.account.version).toBe(account.version + passed.events.length);
          expect(passDeadlines(passed.account, sweepAt)).toBeNull();
          expect(nextDeadline(passed.account)).toBeNull();
          expect(passed.account.status).toBe(paidMinor === 0 ? 'dissolved' : 'awaiting_funds');
          expect(movableMinor(passed.account, 'mizuta')).toBe(paidMinor);
          expect(setLock(passed.account, { by: 'ibm', now: sweepAt, lockPpm: full }).ok).toBe(false);
        },
      ),
    );
  });

  it("a seller who missed its ship deadline never holds the buyer's money again, whatever it does (property)", () => {
    type Move = 'lock' | 'unlock' | 'ship' | 'accept' | 'reject' | 'refund' | 'sweep';
    const moves = fc.array(
      fc.record({
        move: fc.constantFrom<Move>('lock', 'unlock', 'ship', 'accept', 'reject', 'refund', 'sweep'),
        days: fc.integer({ min: 0, max: 9 }),
      }),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(moves, (script) => {
        // As the bank runs a command (underDeadlines): a passed deadline first, then the
        // command, then the deadlines it starts. A refused command changes nothing.
        let account = funded();
        let day = 0;
        const told = { ship: 0, verdict: 0 };
        for (const { move, days } of script) {
          day += days;
          const now = at(day);
          const commands: Record<Move, ((current: TemporaryAccount) => Result<CommandOutcome>) | undefined> =
            {
              lock: (current) => setLock(current, { by: 'ibm', now, lockPpm: full }),
              unlock: (current) => setLock(current, { by: 'ibm', now, lockPpm: 0 }),
              ship: (current) => markShipped(current, { by: 'ibm', now, carrier: 'c', trackingNumber: 't' }),
              accept: (current) => accept(current, { by: 'mizuta', now }),
              reject: (current) => reject(current, { by: 'mizuta', now }),
              refund: (current) =>
                withdraw(current, {
                  by: 'mizuta',
                  now,
                  to: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 0 },
                  commission: noCommission,
                }),
              sweep: undefined,
            };
          const outcome = underDeadlines(account, defaultDeadlinePolicy, now, commands[move]);
          if (outcome.ok) {
            // Events number on from the version without a gap, and the version is the last.
            const { events } = outcome.value;
            expect(events.map((event) => event.seq)).toEqual(
              events.map((_, index) => account.version + index + 1),
            );
            account = outcome.value.account;
            expect(account.version).toBe(events.at(-1)?.seq ?? account.version);
            for (const event of events) {
              if (event.type === 'deadline.set') told[event.data.deadline as 'ship' | 'verdict']++;
            }
          }
          // Every deadline set is told exactly once, when set.
          expect(told).toEqual({
            ship: account.deadlines?.shipBy ? 1 : 0,
            verdict: account.deadlines?.verdictBy ? 1 : 0,
          });
          if (account.status === 'dissolved') return;
          const seller = account.parties.find((party) => party.role === 'seller');
          if (account.deadlines?.shipMissed) {
            // Missed: the seller's lock stays off, so the buyer may take everything back
            // (unless the buyer's own verdict let the seller have it).
            expect(seller?.lockPpm).toBe(0);
          }
          const shipBy = account.deadlines?.shipBy;
          if (shipBy && shipBy <= now && !account.shipment && account.verdict === null) {
            // Past the deadline unshipped, the next thing the bank does frees the money.
            const next = passDeadlines(account, now)?.account ?? account;
            expect(next.parties.find((party) => party.role === 'seller')?.lockPpm).toBe(0);
          }
        }
      }),
    );
  });
});

import {
  type CommandOutcome,
  createAccount,
  defaultDeadlinePolicy,
  markShipped,
  movableMinor,
  noCommission,
  passDeadlines,
  type Result,
  reject,
  resolveDispute,
  setLock,
  startDeadlines,
  type TemporaryAccount,
  withdraw,
} from '@lockstep/core';
import { describe, expect, it } from 'vitest';
import { fundedDeal, value } from './deal-fixture.ts';

/** A dispute's way out (disputes.ts): the bank decides a rejected deal for one side. */
const now = '2026-11-26T10:00:00.000Z';
const full = 1_000_000;

const codeOf = <T>(result: Result<T>) => (result.ok ? null : result.error.code);

/** A ¥5,000 deal, seller locked and shipped; `rejected` also has the buyer's rejection. */
function deal(rejected = true): TemporaryAccount {
  let account = fundedDeal(now);
  account = value(setLock(account, { by: 'ibm', now, lockPpm: full })).account;
  account = value(markShipped(account, { by: 'ibm', now, carrier: 'c', trackingNumber: 't' })).account;
  return rejected ? value(reject(account, { by: 'mizuta', now, reason: 'broken' })).account : account;
}

const takeAll = (account: TemporaryAccount, by: string) =>
  withdraw(account, {
    by,
    now,
    to: { id: `acc-${by}`, ownerId: by, currency: 'JPY', balanceMinor: 0 },
    commission: noCommission,
  });

describe('resolving a dispute', () => {
  it('for the buyer: the seller’s lock comes off for good and the buyer takes the money back', () => {
    const disputed = deal();
    expect(codeOf(takeAll(disputed, 'mizuta'))).toBe('locked_by_other_party');
    const resolved = value(resolveDispute(disputed, { for: 'buyer', reason: 'not as described', now }));
    expect(resolved.events.map((event) => [event.type, event.actor])).toEqual([
      ['dispute.resolved', 'bank'],
      ['lock.changed', 'bank'],
    ]);
    expect(resolved.account.dispute).toEqual({
      resolvedFor: 'buyer',
      resolvedAt: now,
      reason: 'not as described',
    });
    expect(codeOf(setLock(resolved.account, { by: 'ibm', now, lockPpm: full }))).toBe('dispute_resolved');
    expect(value(takeAll(resolved.account, 'mizuta')).account.status).toBe('dissolved');
  });

  it('for the seller: the buyer’s lock comes off for good and the seller takes the money', () => {
    const resolved = value(resolveDispute(deal(), { for: 'seller', now })) as CommandOutcome;
    expect(resolved.account.parties.map((party) => party.lockPpm)).toEqual([0, full]);
    expect(codeOf(setLock(resolved.account, { by: 'mizuta', now, lockPpm: full }))).toBe('dispute_resolved');
    expect(codeOf(takeAll(resolved.account, 'mizuta'))).toBe('locked_by_other_party');
    // The winner may still turn its own lock off and on again.
    const off = value(setLock(resolved.account, { by: 'ibm', now, lockPpm: 0 })).account;
    expect(setLock(off, { by: 'ibm', now, lockPpm: full }).ok).toBe(true);
    expect(value(takeAll(resolved.account, 'ibm')).account.status).toBe('dissolved');
  });

  it('for the seller also when its lock was off and barred by a missed deadline (helper-38)', () => {
    // Locked at day 0, not shipped by day 14: lock off, barred; the buyer then rejects.
    const locked = startDeadlines(
      value(setLock(fundedDeal(now), { by: 'ibm', now, lockPpm: full })).account,
      defaultDeadlinePolicy,
      now,
    );
    const missed = (passDeadlines(locked, '2026-12-10T10:00:00.000Z') as CommandOutcome).account;
    // Refused now: the money goes back to who paid it in (helper-98: a dispute opened here gave the
    // locks back their say over a member's money). An older release took it: such a stored deal.
    expect(codeOf(reject(missed, { by: 'mizuta', now: '2026-12-11T10:00:00.000Z' }))).toBe('deadline_passed');
    const rejected = {
      ...value(reject(locked, { by: 'mizuta', now: '2026-12-09T10:00:00.000Z' })).account,
      deadlines: missed.deadlines,
    };
    const resolved = value(
      resolveDispute(rejected, { for: 'seller', now: '2026-12-12T10:00:00.000Z' }),
    ).account;
    // Only the seller can move the money: its lock is on again, the buyer's off and barred.
    expect(resolved.parties.map((party) => party.lockPpm)).toEqual([0, full]);
    expect(codeOf(takeAll(resolved, 'mizuta'))).toBe('locked_by_other_party');
    expect(passDeadlines(resolved, '2027-12-12T10:00:00.000Z')).toBeNull();
    // The winner may turn its lock off and on again, missed deadline or not: off, the buyer
    // could take the money back, and a lock barred for good would leave it so.
    const off = value(setLock(resolved, { by: 'ibm', now, lockPpm: 0 })).account;
    expect(takeAll(off, 'mizuta').ok).toBe(true);
    const relocked = value(setLock(off, { by: 'ibm', now, lockPpm: full })).account;
    expect(codeOf(takeAll(relocked, 'mizuta'))).toBe('locked_by_other_party');
    expect(value(takeAll(resolved, 'ibm')).account.status).toBe('dissolved');
  });

  it('takes every lock but the winner’s off, members’ too, and bars them', () => {
    let account = value(
      createAccount({
        code: 'ta_3',
        by: 'mizuta',
        now,
        currency: 'JPY',
        requiredMinor: 5_000,
        parties: [
          { customerId: 'mizuta', role: 'buyer' },
          { customerId: 'ibm', role: 'seller' },
          { customerId: 'guarantor', role: 'member' },
        ],
        fundFrom: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 10_000 },
        commission: noCommission,
      }),
    ).account;
    account = value(setLock(account, { by: 'guarantor', now, lockPpm: full })).account;
    account = value(reject(account, { by: 'mizuta', now })).account;
    const resolved = value(resolveDispute(account, { for: 'seller', now })).account;
    expect(resolved.parties.map((party) => party.lockPpm)).toEqual([0, full, 0]);
    expect(codeOf(setLock(resolved, { by: 'guarantor', now, lockPpm: full }))).toBe('dispute_resolved');
    expect(value(takeAll(resolved, 'ibm')).account.status).toBe('dissolved');
  });

  it('under a release group, only the winner can move the money, in or out of the group', () => {
    // Buyer and guarantor were the release group, the seller outside it, so its lock held
    // nobody: resolved for the seller, the buyer could still take the refund (helper-39). Such
    // a group is refused now (helper-58), but accounts opened before may still have one.
    const grouped = () => {
      let account: TemporaryAccount = {
        ...value(
          createAccount({
            code: 'ta_4',
            by: 'mizuta',
            now,
            currency: 'JPY',
            requiredMinor: 9_000,
            parties: [
              { customerId: 'mizuta', role: 'buyer', group: 'escrow' },
              { customerId: 'ibm', role: 'seller', group: 'escrow' },
              { customerId: 'guarantor', role: 'member', group: 'escrow' },
            ],
            releasePolicy: { kind: 'group', group: 'escrow' },
            fundFrom: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 10_000 },
            commission: noCommission,
          }),
        ).account,
      };
      // As stored by a release before: the seller outside the group.
      account = {
        ...account,
        parties: account.parties.map((party) =>
          party.role === 'seller' ? { ...party, group: null } : party,
        ),
      };
      account = value(setLock(account, { by: 'guarantor', now, lockPpm: full })).account;
      account = value(setLock(account, { by: 'ibm', now, lockPpm: full })).account;
      return value(reject(account, { by: 'mizuta', now })).account;
    };
    for (const winner of ['seller', 'buyer'] as const) {
      const outcome = value(resolveDispute(grouped(), { for: winner, reason: 'decided', now }));
      const movable = ['mizuta', 'ibm', 'guarantor'].map((id) => movableMinor(outcome.account, id));
      expect([winner, movable]).toEqual([winner, winner === 'seller' ? [0, 9_000, 0] : [9_000, 0, 0]]);
      expect(outcome.account.releasePolicy).toEqual({ kind: 'all_others' });
      expect(outcome.events[0]).toMatchObject({
        type: 'dispute.resolved',
        data: { for: winner, releasePolicy: 'all_others' },
      });
    }
  });

  it('only a rejected deal, once', () => {
    expect(codeOf(resolveDispute(deal(false), { for: 'buyer', now }))).toBe('invalid_state');
    const resolved = value(resolveDispute(deal(), { for: 'buyer', now })).account;
    expect(codeOf(resolveDispute(resolved, { for: 'seller', now }))).toBe('dispute_resolved');
  });
});

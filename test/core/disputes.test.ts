import {
  type CommandOutcome,
  markShipped,
  noCommission,
  type Result,
  reject,
  resolveDispute,
  setLock,
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
    expect(codeOf(setLock(resolved.account, { by: 'mizuta', now, lockPpm: full }))).toBe('dispute_resolved');
    // The winner may still turn its own lock on and off.
    expect(setLock(resolved.account, { by: 'ibm', now, lockPpm: 0 }).ok).toBe(true);
    expect(value(takeAll(resolved.account, 'ibm')).account.status).toBe('dissolved');
  });

  it('only a rejected deal, once', () => {
    expect(codeOf(resolveDispute(deal(false), { for: 'buyer', now }))).toBe('invalid_state');
    const resolved = value(resolveDispute(deal(), { for: 'buyer', now })).account;
    expect(codeOf(resolveDispute(resolved, { for: 'seller', now }))).toBe('dispute_resolved');
  });
});

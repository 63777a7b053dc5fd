import {
  type CommandOutcome,
  createAccount,
  deposit,
  heldMinor,
  movableMinor,
  noCommission,
  type Result,
  setLock,
  type TemporaryAccount,
  withdraw,
} from '@lockstep/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/**
 * Rule 4 ([0035]): a partial lock "protects that share of the balance from the others". Read
 * word for word per withdrawal (balance x (1 - lock) of what is left), the others wore it down
 * by withdrawing again and again: a 0.5 lock on ¥1,000 kept ¥1 (helper-65's review). It holds
 * its share of the balance when set, plus its share of each pay-in, whatever the others do.
 */
const now = '2026-11-26T10:00:00.000Z';
const ceilShare = (amountMinor: number, lockPpm: number) =>
  Number((BigInt(amountMinor) * BigInt(lockPpm) + 999_999n) / 1_000_000n);

function must(result: Result<CommandOutcome>): TemporaryAccount {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value.account;
}

function opened(balanceMinor: number, lockPpm: number): TemporaryAccount {
  const account = must(
    createAccount({
      code: 'ta_f',
      by: 'mizuta',
      now,
      currency: 'JPY',
      requiredMinor: balanceMinor,
      mode: 'fractional',
      parties: [
        { customerId: 'mizuta', role: 'buyer' },
        { customerId: 'ibm', role: 'seller' },
      ],
      fundFrom: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor },
      commission: noCommission,
    }),
  );
  return must(setLock(account, { by: 'ibm', now, lockPpm }));
}

const seller = (account: TemporaryAccount) => account.parties.find((party) => party.role === 'seller');

describe('[0035] a partial lock holds its share against any number of withdrawals', () => {
  it('the others never take more than the share the lock left them, however they split it (property)', () => {
    type Step = { kind: 'withdraw'; part: number } | { kind: 'deposit'; amountMinor: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constant('withdraw' as const), part: fc.double({ min: 0, max: 1, noNaN: true }) }),
      fc.record({
        kind: fc.constant('deposit' as const),
        amountMinor: fc.integer({ min: 1, max: 1_000_000 }),
      }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000_000 }),
        fc.integer({ min: 1, max: 999_999 }),
        fc.array(step, { maxLength: 30 }),
        (startMinor, lockPpm, steps) => {
          let account = opened(startMinor, lockPpm);
          // What the lock must keep: its share when set, plus its share of every pay-in.
          let keptMinor = ceilShare(startMinor, lockPpm);
          let inMinor = startMinor;
          let outMinor = 0;
          for (const next of steps) {
            const movable = movableMinor(account, 'mizuta');
            expect(movable).toBe(account.balanceMinor - keptMinor);
            if (next.kind === 'deposit') {
              account = must(
                deposit(account, {
                  by: 'mizuta',
                  now,
                  amountMinor: next.amountMinor,
                  from: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: next.amountMinor },
                }),
              );
              keptMinor += ceilShare(next.amountMinor, lockPpm);
              inMinor += next.amountMinor;
              continue;
            }
            const amountMinor = Math.floor(movable * next.part);
            const to = { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY' as const, balanceMinor: 0 };
            const over = withdraw(account, {
              by: 'mizuta',
              now,
              amountMinor: movable + 1,
              to,
              commission: noCommission,
            });
            expect(over.ok).toBe(false); // never a minor unit beyond what the lock leaves
            if (amountMinor === 0) continue;
            account = must(
              withdraw(account, { by: 'mizuta', now, amountMinor, to, commission: noCommission }),
            );
            outMinor += amountMinor;
          }
          expect(account.balanceMinor).toBe(inMinor - outMinor);
          expect(account.balanceMinor).toBeGreaterThanOrEqual(keptMinor);
          expect(heldMinor(account, seller(account) as NonNullable<ReturnType<typeof seller>>)).toBe(
            keptMinor,
          );
        },
      ),
    );
  });

  it('the lock holder taking money out itself keeps its lock over what is left, at most', () => {
    let account = opened(1_000, 500_000); // the seller's 0.5 lock holds ¥500
    // The buyer unlocks; the seller takes ¥800: its lock now holds the ¥200 left, not ¥500.
    account = must(setLock(account, { by: 'mizuta', now, lockPpm: 0 }));
    account = must(
      withdraw(account, {
        by: 'ibm',
        now,
        amountMinor: 800,
        to: { id: 'acc-i', ownerId: 'ibm', currency: 'JPY', balanceMinor: 0 },
        commission: noCommission,
      }),
    );
    expect(seller(account)?.heldMinor).toBe(200);
    expect(movableMinor(account, 'mizuta')).toBe(0);
  });

  it('an account stored before held amounts reads its partial lock as its share of the balance', () => {
    const before = opened(1_001, 300_000);
    const stored = {
      ...before,
      parties: before.parties.map(({ heldMinor: _, ...party }) => party),
    };
    expect(movableMinor(stored, 'mizuta')).toBe(700); // 1,001 - ceil(300.3)
    const after = must(
      withdraw(stored, {
        by: 'mizuta',
        now,
        amountMinor: 700,
        to: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 0 },
        commission: noCommission,
      }),
    );
    expect(movableMinor(after, 'mizuta')).toBe(0);
  });
});

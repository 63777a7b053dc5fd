import {
  type CommandOutcome,
  createAccount,
  deposit,
  heldFromOthersMinor,
  heldMinor,
  movableMinor,
  noCommission,
  type Party,
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
          // What the lock must keep: its share when set, plus its share of every pay-in, summed
          // exactly and rounded up once (in favour of the holder).
          let paidInMinor = startMinor;
          const kept = () => ceilShare(paidInMinor, lockPpm);
          let inMinor = startMinor;
          let outMinor = 0;
          for (const next of steps) {
            const movable = movableMinor(account, 'mizuta');
            expect(movable).toBe(account.balanceMinor - kept());
            if (next.kind === 'deposit') {
              account = must(
                deposit(account, {
                  by: 'mizuta',
                  now,
                  amountMinor: next.amountMinor,
                  from: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: next.amountMinor },
                }),
              );
              paidInMinor += next.amountMinor;
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
          expect(account.balanceMinor).toBeGreaterThanOrEqual(kept());
          expect(heldMinor(account, seller(account) as NonNullable<ReturnType<typeof seller>>)).toBe(kept());
        },
      ),
    );
  });

  it('two partial locks, both parties paying in and taking out: holds stay within the balance, and only their holder lowers them (property)', () => {
    type Move = { who: 'mizuta' | 'ibm'; kind: 'withdraw' | 'deposit' | 'relock'; part: number; ppm: number };
    const move: fc.Arbitrary<Move> = fc.record({
      who: fc.constantFrom('mizuta' as const, 'ibm' as const),
      kind: fc.constantFrom('withdraw' as const, 'deposit' as const, 'relock' as const),
      part: fc.double({ min: 0, max: 1, noNaN: true }),
      ppm: fc.integer({ min: 1, max: 999_999 }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.integer({ min: 1, max: 999_999 }),
        fc.integer({ min: 1, max: 999_999 }),
        fc.array(move, { maxLength: 40 }),
        (startMinor, buyerPpm, sellerPpm, moves) => {
          let account = must(
            setLock(opened(startMinor, sellerPpm), { by: 'mizuta', now, lockPpm: buyerPpm }),
          );
          let totalMinor = startMinor;
          const holdOf = (who: string) =>
            heldMinor(account, account.parties.find((party) => party.customerId === who) as Party);
          for (const next of moves) {
            const other = next.who === 'mizuta' ? 'ibm' : 'mizuta';
            const otherHeld = holdOf(other);
            const usualOf = { id: `acc-${next.who}`, ownerId: next.who, currency: 'JPY' as const };
            if (next.kind === 'relock') {
              account = must(setLock(account, { by: next.who, now, lockPpm: next.ppm }));
            } else if (next.kind === 'deposit') {
              const amountMinor = 1 + Math.floor(next.part * 100_000);
              account = must(
                deposit(account, {
                  by: next.who,
                  now,
                  amountMinor,
                  from: { ...usualOf, balanceMinor: amountMinor },
                }),
              );
              totalMinor += amountMinor;
              expect(holdOf(other)).toBeGreaterThanOrEqual(otherHeld); // a pay-in never lowers it
            } else {
              const movable = movableMinor(account, next.who);
              expect(movable).toBe(account.balanceMinor - otherHeld);
              const amountMinor = Math.floor(movable * next.part);
              if (amountMinor === 0) continue;
              account = must(
                withdraw(account, {
                  by: next.who,
                  now,
                  amountMinor,
                  to: { ...usualOf, balanceMinor: 0 },
                  commission: noCommission,
                }),
              );
              totalMinor -= amountMinor;
              if (account.status === 'dissolved') return;
              expect(holdOf(other)).toBe(otherHeld); // not worn down by the taker
            }
            for (const party of account.parties) {
              expect(party.heldMinor ?? 0).toBeGreaterThanOrEqual(0);
              expect(party.heldMinor ?? 0).toBeLessThanOrEqual(account.balanceMinor);
              // Less than one minor unit of rounding, and none on a hold of nothing.
              const rounding = party.heldRoundingMicroMinor ?? 0;
              expect(Number.isInteger(rounding) && rounding >= 0 && rounding < 1_000_000).toBe(true);
              if ((party.heldMinor ?? 0) === 0) expect(rounding).toBe(0);
            }
            expect(account.balanceMinor).toBe(totalMinor);
          }
        },
      ),
    );
  });

  it('many small pay-ins add up their exact shares, rounded once (helper-66: each rounded up)', () => {
    // A 1-ppm lock: 100 pay-ins of ¥1 are ¥0.0001 of share; rounded up per pay-in they held ¥101
    // of ¥101 and left the buyer nothing.
    let account = opened(1, 1);
    const pay = (amountMinor: number) =>
      must(
        deposit(account, {
          by: 'mizuta',
          now,
          amountMinor,
          from: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: amountMinor },
        }),
      );
    for (let index = 0; index < 100; index++) account = pay(1);
    expect(account.balanceMinor).toBe(101);
    expect(heldMinor(account, seller(account) as Party)).toBe(1);
    expect(movableMinor(account, 'mizuta')).toBe(100);
    // A third: 30 pay-ins of ¥100 are ¥1,000 of share, not 30 x ¥34 = ¥1,020.
    account = opened(100, 333_334);
    for (let index = 0; index < 29; index++) account = pay(100);
    expect(heldMinor(account, seller(account) as Party)).toBe(1_001); // ceil(3,000 x 0.333334)
    expect(movableMinor(account, 'mizuta')).toBe(1_999);
  });

  it('the lock holder taking money out itself gives up its share of what it takes', () => {
    let account = opened(1_000, 500_000); // the seller's 0.5 lock holds ¥500
    // The buyer unlocks; the seller takes ¥800: its lock gives up half of it, ¥400.
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
    expect(seller(account)?.heldMinor).toBe(100);
    expect(movableMinor(account, 'mizuta')).toBe(100);
  });

  it('two partial locks: whoever takes first leaves the other its hold (helper-66)', () => {
    // Buyer 0.5, seller 0.2 on ¥1,000. The buyer took ¥800 and its lock kept holding all of the
    // ¥200 left: the seller's 0.2 lock protected ¥200 it could not take.
    let account = opened(1_000, 200_000);
    account = must(setLock(account, { by: 'mizuta', now, lockPpm: 500_000 }));
    const to = (ownerId: string) => ({
      id: `acc-${ownerId}`,
      ownerId,
      currency: 'JPY' as const,
      balanceMinor: 0,
    });
    account = must(
      withdraw(account, { by: 'mizuta', now, amountMinor: 800, to: to('mizuta'), commission: noCommission }),
    );
    expect(movableMinor(account, 'ibm')).toBe(100); // the buyer's hold: ¥500 - ¥400
    // Paying in and taking the same money back leaves the hold as it was (it rose to all of it).
    account = must(setLock(account, { by: 'ibm', now, lockPpm: 0 }));
    const before = account.parties.map((party) => party.heldMinor);
    expect(before).toEqual([100, undefined]);
    account = must(
      deposit(account, {
        by: 'mizuta',
        now,
        amountMinor: 1_000,
        from: { id: 'acc-mizuta', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 1_000 },
      }),
    );
    account = must(
      withdraw(account, {
        by: 'mizuta',
        now,
        amountMinor: 1_000,
        to: to('mizuta'),
        commission: noCommission,
      }),
    );
    expect(account.parties.map((party) => party.heldMinor)).toEqual(before);
  });

  it('setting a partial lock again, or higher, never lowers its hold (helper-66)', () => {
    let account = opened(1_000, 0);
    account = must(setLock(account, { by: 'mizuta', now, lockPpm: 500_000 })); // the buyer holds ¥500
    account = must(setLock(account, { by: 'ibm', now, lockPpm: 0 }));
    const to = { id: 'acc-ibm', ownerId: 'ibm', currency: 'JPY' as const, balanceMinor: 0 };
    account = must(withdraw(account, { by: 'ibm', now, amountMinor: 500, to, commission: noCommission }));
    expect(movableMinor(account, 'ibm')).toBe(0); // the buyer's lock holds all ¥500 left
    account = must(setLock(account, { by: 'mizuta', now, lockPpm: 500_000 })); // a retry
    expect(movableMinor(account, 'ibm')).toBe(0); // it fell to ¥250
    account = must(setLock(account, { by: 'mizuta', now, lockPpm: 800_000 }));
    expect(movableMinor(account, 'ibm')).toBe(0); // it fell to ¥400
    account = must(setLock(account, { by: 'mizuta', now, lockPpm: 100_000 }));
    expect(movableMinor(account, 'ibm')).toBe(450); // lower: its share of the balance then
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

  it('a lock that blocks nobody holds nothing from anyone (a member outside the group)', () => {
    const created = createAccount({
      code: 'ta_g',
      by: 'mizuta',
      now,
      currency: 'JPY',
      requiredMinor: 1_000,
      mode: 'fractional',
      parties: [
        { customerId: 'mizuta', role: 'buyer', group: 'g' },
        { customerId: 'ibm', role: 'seller', group: 'g' },
        { customerId: 'aunt', role: 'member' },
      ],
      releasePolicy: { kind: 'group', group: 'g' },
      fundFrom: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 1_000 },
      commission: noCommission,
    });
    const account = must(setLock(must(created), { by: 'aunt', now, lockPpm: 500_000 }));
    const aunt = account.parties.find(
      (party) => party.customerId === 'aunt',
    ) as TemporaryAccount['parties'][number];
    expect(heldMinor(account, aunt)).toBe(500);
    expect(heldFromOthersMinor(account, aunt)).toBe(0);
    expect(movableMinor(account, 'ibm')).toBe(0); // the buyer's whole lock, not the member's
    const buyer = account.parties[0] as TemporaryAccount['parties'][number];
    expect(heldFromOthersMinor(account, buyer)).toBe(1_000);
  });
});

describe('a lock set to its own share', () => {
  it('changes nothing: no event, the same hold, the same version (helper-80)', () => {
    let account = opened(1_000, 500_000);
    account = must(
      withdraw(account, {
        by: 'mizuta',
        now,
        to: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 0 },
        commission: noCommission,
      }),
    );
    const again = setLock(account, { by: 'ibm', now, lockPpm: 500_000 });
    if (!again.ok) throw new Error(again.error.code);
    expect(again.value.events).toEqual([]);
    expect(again.value.account).toBe(account);
    expect(heldMinor(account, seller(account) as Party)).toBe(500);
  });
});

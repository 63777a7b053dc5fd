import {
  type AccountEvent,
  type CommandOutcome,
  type Deadlines,
  eventSink,
  finish,
  type Party,
  type TemporaryAccount,
  withLock,
} from './account.ts';
import { fail, type Result } from './errors.ts';

/**
 * A deal's deadlines, so neither side's money or goods wait on the other for ever (the patent
 * leaves it open; buyers and sellers of escrow expect them):
 *
 * - **ship by**: once the seller locks a funded deal, the buyer cannot take the money back. If
 *   the seller has not shipped by `shipWithinMs` after that lock, the seller's lock comes off
 *   and stays off: the buyer may take the money back (or still wait for the goods).
 * - **verdict by**: once the seller ships, the buyer has `verdictWithinMs` to accept or reject.
 *   Silence accepts: the buyer's lock comes off and the seller may take the money.
 *
 * A rejected deal has no deadline: the money stays held until the seller releases it.
 * Fractional accounts live across many dealings and have none either.
 */
export interface DeadlinePolicy {
  shipWithinMs: number;
  verdictWithinMs: number;
}

/** 14 days to ship after the seller's lock, 14 days for the buyer's verdict after shipping. */
export const defaultDeadlinePolicy: DeadlinePolicy = {
  shipWithinMs: 14 * 24 * 60 * 60 * 1000,
  verdictWithinMs: 14 * 24 * 60 * 60 * 1000,
};

/** Who acts for the bank when a deadline passes (the events' actor). */
export const bankActor = 'bank';

/**
 * The deadlines a command's new state starts: `shipBy` at the seller's first lock of a funded,
 * unshipped deal, `verdictBy` at the shipment. A deadline once set is never moved (a seller
 * cannot unlock and lock again to buy time).
 */
export function startDeadlines(
  before: TemporaryAccount,
  after: TemporaryAccount,
  policy: DeadlinePolicy,
  now: string,
): TemporaryAccount {
  if (after.mode !== 'deal' || after.status === 'dissolved') return after;
  const deadlines: Deadlines = after.deadlines ?? { shipBy: null, verdictBy: null };
  let { shipBy, verdictBy } = deadlines;
  const seller = after.parties.find((party) => party.role === 'seller');
  if (shipBy === null && !after.shipment && after.status === 'funded' && (seller?.lockPpm ?? 0) > 0) {
    shipBy = plus(now, policy.shipWithinMs);
  }
  if (verdictBy === null && after.shipment && !before.shipment) {
    verdictBy = plus(after.shipment.shippedAt, policy.verdictWithinMs);
  }
  if (shipBy === deadlines.shipBy && verdictBy === deadlines.verdictBy && after.deadlines) return after;
  if (shipBy === null && verdictBy === null) return after;
  return { ...after, deadlines: { shipBy, verdictBy } };
}

/**
 * What the deadlines due at `now` do to the account, or null when none is due: the seller's
 * lock comes off after a missed shipment; the deal is accepted for a silent buyer.
 */
export function passDeadlines(account: TemporaryAccount, now: string): CommandOutcome | null {
  const due = dueDeadline(account, now);
  if (!due) return null;
  const events: AccountEvent[] = [];
  const emit = eventSink(events, { by: bankActor, now }, account.version);
  let next = account;
  if (due.kind === 'ship') {
    emit(next, 'deadline.passed', { deadline: 'ship', dueAt: due.at });
    const seller = due.party;
    next = withLock(next, seller.customerId, 0);
    emit(next, 'lock.changed', {
      customerId: seller.customerId,
      role: 'seller',
      fromLockPpm: seller.lockPpm,
      lockPpm: 0,
    });
  } else {
    emit(next, 'deadline.passed', { deadline: 'verdict', dueAt: due.at });
    const buyer = due.party;
    next = { ...next, verdict: 'accepted' };
    emit(next, 'deal.accepted', { customerId: buyer.customerId, byDeadline: true });
    if (buyer.lockPpm !== 0) {
      next = withLock(next, buyer.customerId, 0);
      emit(next, 'lock.changed', {
        customerId: buyer.customerId,
        role: 'buyer',
        fromLockPpm: buyer.lockPpm,
        lockPpm: 0,
      });
    }
  }
  return finish(next, events, [], now);
}

/**
 * When the account next needs the bank to act on a deadline, or null: the store indexes it so
 * the gateway finds deals whose deadline passed while nobody touched them.
 */
export function nextDeadline(account: TemporaryAccount): string | null {
  return dueDeadline(account, '9999-12-31T23:59:59.999Z')?.at ?? null;
}

/** A seller's lock turned on again after its ship deadline passed unshipped is refused. */
export function shipDeadlineMissed(
  account: TemporaryAccount,
  party: Party,
  lockPpm: number,
  now: string,
): Result<never> | undefined {
  const shipBy = account.deadlines?.shipBy;
  if (party.role !== 'seller' || lockPpm === 0 || !shipBy || account.shipment || shipBy > now) return;
  return fail(
    'deadline_passed',
    'The deadline to ship this deal has passed: the seller may not lock it again.',
    { shipBy },
  );
}

function dueDeadline(
  account: TemporaryAccount,
  now: string,
): { kind: 'ship' | 'verdict'; at: string; party: Party } | null {
  if (account.mode !== 'deal' || account.status === 'dissolved' || !account.deadlines) return null;
  const { shipBy, verdictBy } = account.deadlines;
  const seller = account.parties.find((party) => party.role === 'seller');
  const buyer = account.parties.find((party) => party.role === 'buyer');
  if (shipBy && shipBy <= now && !account.shipment && seller && seller.lockPpm > 0) {
    return { kind: 'ship', at: shipBy, party: seller };
  }
  if (verdictBy && verdictBy <= now && account.shipment && account.verdict === null && buyer) {
    return { kind: 'verdict', at: verdictBy, party: buyer };
  }
  return null;
}

function plus(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}

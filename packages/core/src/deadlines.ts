import {
  type AccountEvent,
  type AccountEventType,
  type CommandOutcome,
  type Context,
  type Deadlines,
  eventSink,
  finish,
  heldFromOthersMinor,
  ledgerKey,
  type Party,
  payersRefusal,
  returnsToPayers,
  sellerTookMinor,
  settleMembersClaims,
  type TemporaryAccount,
  type Transfer,
  withLock,
} from './account.ts';
import { failWith, ok, type Refusal, type Result, refusal } from './errors.ts';

/**
 * A deal's deadlines, so neither side's money or goods wait on the other for ever (the patent
 * leaves it open; buyers and sellers of escrow expect them):
 *
 * - **ship by**: once the seller's lock holds the buyer's money, the buyer cannot take it back.
 *   If the seller has not shipped by `shipWithinMs` after that, the seller's lock comes off and
 *   stays off: the buyer may take the money back, and a shipment is refused (helper-89: a late
 *   one was recorded, and the buyer took goods and money). A verdict first (a rejection before
 *   shipping is a dispute) ends it.
 * - **verdict by**: once the seller ships, the buyer has `verdictWithinMs` to accept or reject.
 *   Silence accepts: the buyer's lock comes off and the seller may take the money. Members' locks
 *   come off then too, also on a deal the buyer accepted before (a member may not lock one).
 * - **pay by**: a deal awaiting its money (rule 7: opened to pay later, or seller-created) is
 *   paid up within `payWithinMs`. Until it is, the seller cannot ship, so its ship deadline
 *   starts only once the deal is funded (a buyer paying one yen started it, and the seller lost
 *   its lock on a deal it could never ship: helper-82's review). If the deal is not funded in
 *   time, it takes no more money and the seller's lock comes off for good, so what was paid in
 *   goes back (a member takes back its own pay-ins, the buyer the rest), and an empty one is
 *   dissolved.
 *
 * A rejected deal has no deadline: the money stays held until the seller releases it or the
 * bank resolves the dispute (disputes.ts).
 * Fractional accounts live across many dealings and have none either.
 */
export interface DeadlinePolicy {
  shipWithinMs: number;
  verdictWithinMs: number;
  /** A deal opened awaiting its money is paid up within this (default 7 days). */
  payWithinMs?: number;
}

/**
 * 14 days to ship after the seller's lock, 14 days for the buyer's verdict after shipping, 7
 * days to pay up a deal opened awaiting funds.
 */
export const defaultDeadlinePolicy: DeadlinePolicy = {
  shipWithinMs: 14 * 24 * 60 * 60 * 1000,
  verdictWithinMs: 14 * 24 * 60 * 60 * 1000,
  payWithinMs: 7 * 24 * 60 * 60 * 1000,
};

/** Who acts for the bank when a deadline passes (the events' actor). */
export const bankActor = 'bank';

/**
 * The deadlines a command's new state (`after`) starts: `shipBy` once the seller's lock first
 * holds money of an unshipped deal without a verdict, `verdictBy` once the deal is shipped
 * without a verdict. A deadline once set is never moved (a seller cannot unlock and lock again
 * to buy time). A deal from before deadlines gets them here, from `now`, the first time the bank
 * handles it.
 */
export function startDeadlines(
  after: TemporaryAccount,
  policy: DeadlinePolicy,
  now: string,
): TemporaryAccount {
  if (after.mode !== 'deal' || after.status === 'dissolved') return after;
  // A deal whose money goes back to its payers, stored before claims were fitted, is fitted the
  // first time the bank handles it (a no-op once they fit: helper-98).
  if (returnsToPayers(after)) after = settleMembersClaims(after);
  const deadlines: Deadlines = after.deadlines ?? { shipBy: null, verdictBy: null, shipMissed: false };
  let { shipBy, verdictBy } = deadlines;
  let payBy = deadlines.payBy ?? null;
  const seller = after.parties.find((party) => party.role === 'seller');
  const open = !after.shipment && after.verdict === null && !after.dispute;
  // The seller's lock holding the money of a funded deal starts the clock. Before the deal is
  // funded the seller cannot ship; the pay deadline gives the buyer's part back if it never is.
  if (
    shipBy === null &&
    open &&
    after.status === 'funded' &&
    after.balanceMinor > 0 &&
    (seller?.lockPpm ?? 0) > 0
  ) {
    shipBy = plus(now, policy.shipWithinMs);
  }
  // A deal accepted before deadlines with a member's lock on gets one too: it ends that lock
  // (helper-95: nothing else would).
  if (verdictBy === null && after.shipment && (after.verdict === null || memberHoldsAccepted(after))) {
    verdictBy = plus(now, policy.verdictWithinMs);
  }
  if (after.status === 'funded') {
    payBy = null; // Paid up: done with (a deal taken back below its amount later gets a new one).
  } else if (open && !deadlines.payMissed && !deadlines.shipMissed) {
    // Not paid up: the buyer's pay deadline runs. A ship clock the earlier rule started on a
    // part payment (stored without payBy) is dropped: the seller could not ship. One a funded
    // deal started stays, also once taken back below its amount (helper-84: clearing it let a
    // seller unlock, have one yen taken back, lock again and start a new clock).
    if (isOldRuleShipClock(after)) shipBy = null;
    if (payBy === null) payBy = plus(now, policy.payWithinMs ?? defaultPayWithinMs);
  }
  if (shipBy === deadlines.shipBy && verdictBy === deadlines.verdictBy && payBy === (deadlines.payBy ?? null))
    return after;
  return { ...after, deadlines: { ...deadlines, shipBy, verdictBy, payBy } };
}

const defaultPayWithinMs = 7 * 24 * 60 * 60 * 1000;

/**
 * A ship deadline the rule before pay deadlines set on a part payment: a deal awaiting funds
 * whose deadlines were written without `payBy` (every write since carries it).
 */
function isOldRuleShipClock(account: TemporaryAccount): boolean {
  const deadlines = account.deadlines;
  return (
    account.status === 'awaiting_funds' &&
    !!deadlines?.shipBy &&
    !deadlines.shipMissed &&
    deadlines.payBy === undefined &&
    !account.shipment
  );
}

/**
 * The status a stored deal has under today's rules, put right the first time the bank handles
 * it (the store migrations make every open deal without a deadline due once for the sweep):
 * - A shipped deal with no verdict the buyer took part of back (as the seller's unlock let it)
 *   is funded: its verdict deadline waits on it. Such a withdrawal made it `awaiting_funds`,
 *   which no deadline waits on and no verdict takes, so the buyer's lock held the rest from the
 *   seller for good (helper-100). One whose verdict deadline went by meanwhile is not accepted
 *   at once: the buyer could give no verdict then (refused `account_awaiting_funds`), so it gets
 *   a whole new window from now (`startDeadlines`, told as `deadline.set`: helper-101).
 * - A deal past its ship deadline unshipped is funded no more, as `passDeadlines` now leaves it.
 */
function statusPutRight(account: TemporaryAccount, now: string): TemporaryAccount {
  if (
    account.mode === 'deal' &&
    account.status === 'funded' &&
    account.deadlines?.shipMissed &&
    !account.shipment
  ) {
    return { ...account, status: 'awaiting_funds' };
  }
  const stranded =
    account.mode === 'deal' &&
    account.status === 'awaiting_funds' &&
    !!account.shipment &&
    account.verdict === null &&
    !account.dispute &&
    account.balanceMinor > 0;
  if (!stranded) return account;
  const deadlines = account.deadlines;
  const lapsed = !!deadlines?.verdictBy && deadlines.verdictBy <= now;
  return {
    ...account,
    status: 'funded',
    ...(lapsed ? { deadlines: { ...deadlines, verdictBy: null } } : {}),
  };
}

/**
 * A command as the bank runs every one (none: the deadline sweep): a deadline that passed is
 * applied first, so the command sees the deal as the deadline left it; then the command; then
 * the deadlines its new state starts. A refused command refuses the whole (nothing is kept).
 */
export function underDeadlines(
  account: TemporaryAccount,
  policy: DeadlinePolicy,
  now: string,
  command?: (current: TemporaryAccount) => Result<CommandOutcome>,
): Result<CommandOutcome> {
  const stored = statusPutRight(account, now);
  const passed = passDeadlines(stored, now);
  // Claims stored before they were fitted are fitted before the command runs (helper-99: the
  // first member to withdraw took the other's share, and a refused command kept no fit).
  const reached = passed?.account ?? stored;
  const current = returnsToPayers(reached) ? settleMembersClaims(reached) : reached;
  const commanded = command ? command(current) : ok({ account: current, events: [], transfers: [] });
  if (!commanded.ok) return commanded;
  const events = [...(passed?.events ?? []), ...commanded.value.events];
  const started = announceStarted(
    commanded.value.account,
    startDeadlines(commanded.value.account, policy, now),
    now,
  );
  return ok({
    account: started.account,
    events: [...events, ...started.events],
    transfers: commanded.value.transfers,
  });
}

/**
 * A deadline the bank just set is told like any change of the deal (`deadline.set`, actor
 * `bank`, with `dueAt`): a seller's systems learn by when to ship, a buyer's by when to decide,
 * also when the buyer's pay-in or the bank's adoption of an older deal started it, not only
 * the seller's own command.
 */
function announceStarted(
  before: TemporaryAccount,
  after: TemporaryAccount,
  now: string,
): { account: TemporaryAccount; events: AccountEvent[] } {
  if (after === before) return { account: after, events: [] };
  const events: AccountEvent[] = [];
  const emit = eventSink(events, { by: bankActor, now }, after.version);
  const was = before.deadlines;
  const set = after.deadlines as Deadlines;
  if (set.shipBy && set.shipBy !== was?.shipBy)
    emit(after, 'deadline.set', { deadline: 'ship', dueAt: set.shipBy });
  if (set.verdictBy && set.verdictBy !== was?.verdictBy) {
    emit(after, 'deadline.set', { deadline: 'verdict', dueAt: set.verdictBy });
  }
  if (set.payBy && set.payBy !== was?.payBy)
    emit(after, 'deadline.set', { deadline: 'pay', dueAt: set.payBy });
  const done = finish(after, events, [], now);
  return { account: done.account, events };
}

/**
 * What the deadlines due at `now` do to the account, or null when none is due: a missed
 * shipment takes the seller's lock off for good (`shipMissed`); a silent buyer's funded deal
 * is accepted.
 */
export function passDeadlines(account: TemporaryAccount, now: string): CommandOutcome | null {
  const due = dueDeadline(account, now);
  if (!due) return null;
  const events: AccountEvent[] = [];
  const emit = eventSink(events, { by: bankActor, now }, account.version);
  let next = account;
  if (due.kind === 'pay') {
    next = { ...next, deadlines: { ...(next.deadlines as Deadlines), payMissed: true } };
    emit(next, 'deadline.passed', { deadline: 'pay', dueAt: due.at });
    next = closeToPayIns(next, due.party, emit, 'unpaid');
  } else if (due.kind === 'ship') {
    // Funded no more, as a cancelled deal (`cancelDeal`): it leaves the shops' shipping queues
    // (`?status=funded` listed it, and its shipment was refused `deadline_passed`).
    next = {
      ...next,
      status: next.status === 'funded' ? 'awaiting_funds' : next.status,
      deadlines: { ...(next.deadlines as Deadlines), shipMissed: true },
    };
    emit(next, 'deadline.passed', { deadline: 'ship', dueAt: due.at });
    // Its money goes back to who paid it in (`returnsToPayers`), the members' claims fitted.
    next = settleMembersClaims(lockOff(next, due.party, emit));
  } else {
    emit(next, 'deadline.passed', { deadline: 'verdict', dueAt: due.at });
    if (next.verdict === null) {
      next = {
        ...next,
        verdict: 'accepted',
        deadlines: { ...(next.deadlines as Deadlines), verdictMissed: true },
      };
      emit(next, 'deal.accepted', { customerId: due.party.customerId, byDeadline: true });
      next = lockOff(next, due.party, emit);
    }
    // The buyer's side is done: a member's lock still on would hold the seller's payment with no
    // verdict or deadline left to end it (helper-94). Members had until now, as the buyer had.
    for (const member of next.parties.filter((party) => party.role === 'member')) {
      next = lockOff(next, member, emit);
    }
  }
  return finish(next, events, [], now);
}

/**
 * Why the seller `by` may not cancel the deal now; `unchanged` when a cancel would change
 * nothing (the deal is already closed to pay-ins, or closed before anything shipped: cancelled,
 * lapsed, closed or taken back by the buyer); undefined when it may: a deal not shipped, with no
 * verdict, dispute or advance taken, paid up or not. `cancelDeal` and the views (`mayCancel`)
 * share it, so the pages offer Cancel only where the API takes it.
 */
export function cancelRefused(account: TemporaryAccount, by: string): Refusal | 'unchanged' | undefined {
  const party = account.parties.find((candidate) => candidate.customerId === by);
  if (!party) return refusal('not_a_party', 'You are not a party to this temporary account.');
  if (party.role !== 'seller') return refusal('role_not_allowed', 'Only the seller cancels a deal.');
  if (account.mode !== 'deal') {
    return refusal('invalid_state', 'A fractional account is not a deal to cancel: dissolve it once empty.');
  }
  if (account.shipment) {
    return account.status === 'dissolved'
      ? refusal('account_dissolved', 'This temporary account is dissolved; nothing moves through it.')
      : refusal('already_shipped', 'The goods were shipped: the deal is not cancelled.');
  }
  if (account.verdict !== null || account.dispute) {
    return refusal('invalid_state', 'The buyer gave its verdict on this deal: it is not cancelled.');
  }
  // What the seller took of the buyer's money (an advance the buyer allowed) would stay taken,
  // also once the deal is closed since (helper-85; helper-88: a seller that took it all, so the
  // deal dissolved, was answered 200).
  const tookMinor = sellerTookMinor(account);
  if (tookMinor > 0) {
    return refusal(
      'invalid_state',
      "You have taken part of the buyer's money from this deal: it is not cancelled while you hold it.",
      { sellerTookMinor: tookMinor },
    );
  }
  if (account.status === 'dissolved' || account.deadlines?.payMissed) return 'unchanged';
  // Cancelled, what the deal holds would go back to who paid it in, whatever a member's lock
  // (helper-92: a member paid the deal in full and locked it, and the seller's cancel let the
  // buyer take it all; helper-94: the same on a deal one yen short of its amount; a member now
  // takes back its own pay-ins, but its lock also held the buyer's). A member whose lock holds
  // money from the others decides first; one outside the release group's named group holds
  // nobody back and does not stop it (helper-94).
  const memberLocks = account.parties.filter(
    (other) => other.role === 'member' && heldFromOthersMinor(account, other) > 0,
  );
  if (memberLocks.length > 0) {
    return refusal(
      'invalid_state',
      "A member's lock holds this deal's money: it is not cancelled while a member holds it. The member turns its lock off first.",
      { memberLocksOn: memberLocks.length },
    );
  }
  return undefined;
}

/**
 * The seller calls off a deal before shipping: a shop cancelling the order of a buyer who chose to
 * pay later, a deal it opened awaiting a remittance, or a paid-up order it will not ship (out of
 * stock). Its pay window closes now, as if the pay deadline passed: it takes no more money
 * (`deal_cancelled`), the seller's lock comes off for good, so the buyer may take back what it
 * paid in, and an empty one is dissolved (`reason: "cancelled"`). A paid-up deal is funded no
 * more (`awaiting_funds`, as a deal that is off reads: out of the shops' shipping queues); it is
 * not cancelled while a member's lock is on it (`cancelRefused`). The
 * creation fee the buyer paid comes back with its money. A deal already closed to pay-ins changes
 * nothing. A funded deal could not be cancelled before: the shop unlocked, and the bank kept the
 * buyer's creation fee for a deal that did not happen by the seller's choice (helper-90).
 */
export function cancelDeal(account: TemporaryAccount, input: Context): Result<CommandOutcome> {
  const refused = cancelRefused(account, input.by);
  if (refused === 'unchanged') return ok({ account, events: [], transfers: [] });
  if (refused) return failWith(refused);
  const seller = account.parties.find((party) => party.customerId === input.by) as Party;
  const events: AccountEvent[] = [];
  const emit = eventSink(events, input, account.version);
  // The bank's creation fee the buyer paid is given back with its part: the deal did not
  // happen by the seller's choice (helper-85, helper-86: the buyer silently lost it). A deal
  // whose pay deadline passes keeps it charged: the buyer did not pay up.
  const feeRefundedMinor = account.creationFeePaidMinor ?? 0;
  const transfers: Transfer[] =
    feeRefundedMinor > 0
      ? [
          {
            from: ledgerKey.fees(account.currency),
            to: ledgerKey.temporary(account.code),
            amountMinor: feeRefundedMinor,
            currency: account.currency,
            purpose: 'creation_fee_refund',
          },
        ]
      : [];
  let next: TemporaryAccount = {
    ...account,
    status: account.status === 'funded' ? 'awaiting_funds' : account.status,
    balanceMinor: account.balanceMinor + feeRefundedMinor,
    creationFeePaidMinor: 0,
    // A fee a member paid comes back as the member's, with its pay-ins (`movableBackToPayers`).
    parties: account.parties.map((party) => {
      const { creationFeePaidMinor: feeMinor = 0, ...rest } = party;
      return feeMinor > 0 ? { ...rest, paidInMinor: (party.paidInMinor ?? 0) + feeMinor } : party;
    }),
    deadlines: {
      ...(account.deadlines ?? { shipBy: null, verdictBy: null, shipMissed: false }),
      payMissed: true,
      cancelled: true,
    },
  };
  emit(next, 'deal.cancelled', {
    customerId: input.by,
    balanceBeforeMinor: account.balanceMinor,
    feeRefundedMinor,
    balanceMinor: next.balanceMinor,
  });
  next = closeToPayIns(next, seller, emit, 'cancelled');
  return ok(finish(next, events, transfers, input.now));
}

/**
 * A deal whose pay window closed unfunded: the seller's lock off (it may not lock again), and
 * an empty one dissolved; what it holds goes back to who paid it in (`movableBackToPayers`).
 */
function closeToPayIns(
  account: TemporaryAccount,
  seller: Party,
  emit: (account: TemporaryAccount, type: AccountEventType, data: AccountEvent['data']) => void,
  reason: 'unpaid' | 'cancelled',
): TemporaryAccount {
  let next = settleMembersClaims(lockOff(account, seller, emit));
  if (next.balanceMinor === 0) {
    next = { ...next, status: 'dissolved' };
    emit(next, 'account.dissolved', { reason });
  }
  return next;
}

/**
 * When the account next needs the bank to act on a deadline, or null: the store indexes it so
 * the gateway finds deals whose deadline passed while nobody touched them. A pending deadline
 * is indexed whatever the locks are now (a lock may be turned on again by the time it passes).
 */
export function nextDeadline(account: TemporaryAccount): string | null {
  return pendingDeadline(account)?.at ?? null;
}

/**
 * A seller's lock turned on after its ship deadline passed unshipped is refused, also once it
 * has shipped late since (else a late shipment would let it hold the buyer's money again).
 * A dispute the bank resolved for the seller overrides that: its lock is then what keeps the
 * buyer from taking the money, so it may turn it off and on again like any winner.
 */
export function shipDeadlineMissed(
  account: TemporaryAccount,
  party: Party,
  lockPpm: number,
  now: string,
): Refusal | undefined {
  if (party.role !== 'seller' || lockPpm === 0 || account.mode !== 'deal') return;
  if (account.dispute?.resolvedFor === 'seller') return;
  if (!shipDeadlinePassed(account, now)) return;
  return refusal(
    'deadline_passed',
    'The deadline to ship this deal has passed: the seller may not lock it again.',
    { shipBy: account.deadlines?.shipBy ?? null },
  );
}

/**
 * Whether the deal's ship deadline passed unshipped: recorded (`shipMissed`), or due by `now`
 * before the sweep reached it. A deal that shipped late under an older release stays missed.
 */
export function shipDeadlinePassed(account: TemporaryAccount, now: string): boolean {
  const deadlines = account.deadlines;
  return (
    account.mode === 'deal' &&
    (deadlines?.shipMissed === true || (!!deadlines?.shipBy && deadlines.shipBy <= now && !account.shipment))
  );
}

/**
 * A deal whose pay deadline passed unfunded takes no more money (`deadline_passed`), and its
 * seller may not lock it again: the buyer may take back what it holds.
 */
export function payDeadlineMissed(account: TemporaryAccount): Refusal | undefined {
  if (account.mode !== 'deal' || account.deadlines?.payMissed !== true) return;
  if (account.deadlines.cancelled) {
    return refusal(
      'deal_cancelled',
      "The seller cancelled this deal: it takes no more money, and the seller's lock stays off.",
    );
  }
  return refusal('deadline_passed', 'The deadline to pay this deal has passed: it takes no more money.', {
    payBy: account.deadlines.payBy ?? null,
  });
}

/**
 * On a deal closed to pay-ins (pay deadline passed, or cancelled) the seller's lock, or a
 * member's, turned on is refused: what the deal holds goes back to who paid it in, and such a
 * lock would only look as if it held it (helper-87).
 */
export function payDeadlineBarsLock(
  account: TemporaryAccount,
  party: Party,
  lockPpm: number,
): Refusal | undefined {
  if (party.role === 'buyer' || lockPpm === 0) return undefined;
  // A member's lock past a missed ship deadline would only look as if it held (helper-98).
  return payDeadlineMissed(account) ?? (party.role === 'member' ? payersRefusal(account) : undefined);
}

/** What a party should be told of a deal's deadlines or dispute now (the widget, the bank's page). */
export type DeadlineNotice =
  | { kind: 'payMissed' }
  | { kind: 'cancelled' }
  | { kind: 'payBy'; at: string }
  | { kind: 'dispute'; resolvedFor: 'buyer' | 'seller' }
  | { kind: 'shipMissed' }
  | { kind: 'shipBy'; at: string }
  | { kind: 'verdictBy'; at: string }
  | { kind: 'memberLocksBy'; at: string };

/**
 * The notice that applies to a deal, from its state or its API view alike, or null: how the bank
 * decided its dispute; else, while open and without a verdict, a missed shipment, the ship
 * deadline, or (shipped) the verdict deadline; on an accepted deal a member's lock still holds,
 * the verdict deadline that takes it off (it said nothing: helper-95).
 */
export function deadlineNotice(account: {
  status: string;
  verdict: string | null;
  shipment: unknown;
  deadlines?: Deadlines | null;
  dispute?: { resolvedFor: 'buyer' | 'seller' } | null;
  /** Absent (an older gateway's view): every member's lock counts. */
  releasePolicy?: { kind: string; group?: string };
  parties: readonly { role: string; lockPpm: number; group?: string | null }[];
}): DeadlineNotice | null {
  const { deadlines, dispute } = account;
  if (dispute) return { kind: 'dispute', resolvedFor: dispute.resolvedFor };
  if (
    account.status !== 'dissolved' &&
    account.shipment &&
    deadlines?.verdictBy &&
    memberHoldsAccepted(account)
  )
    return { kind: 'memberLocksBy', at: deadlines.verdictBy };
  if (account.status === 'dissolved' || account.verdict !== null || !deadlines) return null;
  if (!account.shipment && deadlines.payMissed)
    return { kind: deadlines.cancelled ? 'cancelled' : 'payMissed' };
  if (!account.shipment && account.status === 'awaiting_funds' && deadlines.payBy)
    return { kind: 'payBy', at: deadlines.payBy };
  if (!account.shipment && deadlines.shipMissed) return { kind: 'shipMissed' };
  if (!account.shipment && deadlines.shipBy) return { kind: 'shipBy', at: deadlines.shipBy };
  if (account.shipment && deadlines.verdictBy) return { kind: 'verdictBy', at: deadlines.verdictBy };
  return null;
}

type Pending = { kind: 'pay' | 'ship' | 'verdict'; at: string; party: Party };

/** The deadline the account waits on, due or not. */
function pendingDeadline(account: TemporaryAccount): Pending | null {
  if (account.mode !== 'deal' || account.status === 'dissolved' || !account.deadlines) return null;
  const { shipBy, verdictBy, shipMissed, payBy, payMissed } = account.deadlines;
  const seller = account.parties.find((party) => party.role === 'seller');
  const buyer = account.parties.find((party) => party.role === 'buyer');
  const open = !account.shipment && account.verdict === null && !account.dispute && !!seller;
  const pay: Pending | null =
    payBy && !payMissed && !shipMissed && account.status === 'awaiting_funds' && open && seller
      ? { kind: 'pay', at: payBy, party: seller }
      : null;
  // A verdict (a rejection before shipping is a dispute) or a resolved dispute ends the ship
  // deadline: from then on the buyer's verdict and the bank decide (helper-38's review). The
  // earlier rule's clock on a part payment is not one (the next handling drops it).
  // A deal closed to pay-ins (cancelled, or its pay deadline passed) has nothing to ship: its
  // ship clock is done with (helper-85: a cancelled deal was told its ship deadline passed).
  const ship: Pending | null =
    shipBy && !shipMissed && !payMissed && open && seller && !isOldRuleShipClock(account)
      ? { kind: 'ship', at: shipBy, party: seller }
      : null;
  // A deal taken back below its amount may wait on both: the earlier passes first.
  if (pay && ship) return pay.at <= ship.at ? pay : ship;
  if (pay || ship) return pay ?? ship;
  // Accepting needs a funded deal, as the buyer's own accept does. A deal the buyer accepted
  // still waits on it while a member's lock is on: it comes off then.
  if (verdictBy && account.shipment && buyer) {
    const silent = account.verdict === null && account.status === 'funded';
    if (silent || memberHoldsAccepted(account)) return { kind: 'verdict', at: verdictBy, party: buyer };
  }
  return null;
}

/** A deal the buyer accepted that a member's lock still holds: its verdict deadline ends that lock. */
function memberHoldsAccepted(account: {
  verdict: string | null;
  releasePolicy?: { kind: string; group?: string };
  parties: readonly { role: string; lockPpm: number; group?: string | null }[];
}): boolean {
  // Only a lock that holds the others back: a member outside the release group's named group
  // holds nobody, and the seller is paid whatever it does (helper-97: the pages said it held).
  const policy = account.releasePolicy ?? { kind: 'all_others' };
  return (
    account.verdict === 'accepted' &&
    account.parties.some(
      (party) =>
        party.role === 'member' &&
        party.lockPpm > 0 &&
        (policy.kind === 'all_others' || party.group === policy.group),
    )
  );
}

function dueDeadline(account: TemporaryAccount, now: string): Pending | null {
  const pending = pendingDeadline(account);
  return pending && pending.at <= now ? pending : null;
}

/** The party's lock off (with its event), if it was on. */
function lockOff(
  account: TemporaryAccount,
  party: Party,
  emit: (account: TemporaryAccount, type: 'lock.changed', data: AccountEvent['data']) => void,
): TemporaryAccount {
  if (party.lockPpm === 0) return account;
  const next = withLock(account, party.customerId, 0);
  emit(next, 'lock.changed', {
    customerId: party.customerId,
    role: party.role,
    fromLockPpm: party.lockPpm,
    lockPpm: 0,
  });
  return next;
}

function plus(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}

import { type CommissionSchedule, creationFeeFor, feeFor } from './commission.ts';
import {
  bankActor,
  payDeadlineBarsLock,
  payDeadlineMissed,
  shipDeadlineMissed,
  shipDeadlinePassed,
} from './deadlines.ts';
import { type DisputeResolution, disputeLost } from './disputes.ts';
import { fail, failWith, ok, type Refusal, type Result, refusal } from './errors.ts';
import { amountMinorMax, type CurrencyCode, mulDivCeil, parseAmountMinor } from './money.ts';
import { lockPpmFull } from './share.ts';

/**
 * The temporary account of the patent (Drawing 11): one deal's money held by the buyer's bank,
 * with one lock per party. Everything here is pure: commands take the current state and return
 * the next state, the events to publish and the ledger transfers to post — or a typed error,
 * in which case nothing changes.
 */

export type PartyRole = 'buyer' | 'seller' | 'member';

export interface Party {
  /** The bank customer this party is. */
  customerId: string;
  role: PartyRole;
  /** The party's lock, in parts per million of the balance (0 = off, 1_000_000 = full). */
  lockPpm: number;
  /**
   * What a partial lock holds from the others, in minor units (`heldMinor`): set to its share
   * of the balance when the lock is set, grown by its share of every pay-in, capped by the
   * balance, and not worn down by the others' withdrawals. Absent with a whole lock (it holds
   * all or nothing) and on partial locks stored before it (then: the share of the balance).
   */
  heldMinor?: number;
  /**
   * How much of `heldMinor` is rounding, in millionths of a minor unit (0 to 999,999; absent is
   * 0): the hold is kept exact (`heldMinor` x 10^6 − this, in millionths) and rounded up once, so
   * many small pay-ins do not each round up in the holder's favour (100 pay-ins of ¥1 under a
   * 1-ppm lock held ¥101 where the share is ¥0.0001: helper-66's review).
   */
  heldRoundingMicroMinor?: number;
  /** Optional group name for "AND over a named group" release policies ([0035]). */
  group: string | null;
  /**
   * A member's own money in a deal (absent: 0): what it paid in, and the creation fee it paid
   * once a cancel gave that back; and what it took out. On a deal that is off, what it paid in
   * and did not take out is its own to take back (`movableBackToPayers`): it went to the buyer
   * (helper-95's note: a co-payer's money was the buyer's once the deal was called off).
   */
  paidInMinor?: number;
  takenOutMinor?: number;
  /** The creation fee this member paid with its first pay-in (absent: none). */
  creationFeePaidMinor?: number;
}

/**
 * Whose locks hold money in: every other party's ([0035] "AND over all members other than
 * oneself"), or only the other members of a named group.
 */
export type ReleasePolicy = { kind: 'all_others' } | { kind: 'group'; group: string };

/**
 * `deal`: whole locks only (on/off), one dealing. `fractional`: locks may be any share from 0
 * to 1 and the account lives across several dealings. Both dissolve when a withdrawal empties
 * the account (step 124; [0035]).
 */
export type AccountMode = 'deal' | 'fractional';

export type AccountStatus = 'awaiting_funds' | 'funded' | 'dissolved';

export type Verdict = 'accepted' | 'rejected';

export interface Deadlines {
  shipBy: string | null;
  verdictBy: string | null;
  /** The ship deadline passed unshipped: the seller's lock came off and stays off. */
  shipMissed: boolean;
  /** A deal awaiting funds is paid up by then (rule 7); null once funded. Absent on older deals. */
  payBy?: string | null;
  /**
   * The deal's pay window closed (its pay deadline passed unfunded, or the seller cancelled it):
   * it takes no more money, and what it holds goes back to who paid it in (`dealIsOff`).
   */
  payMissed?: boolean;
  /**
   * The seller cancelled the deal before shipping (deadlines.ts `cancelDeal`): its pay window
   * closed then, so `payMissed` is set with it and the same rules follow.
   */
  cancelled?: boolean;
  /**
   * The verdict deadline passed without the buyer's verdict: the bank accepted the deal for it
   * (a widget said "You released the payment" of such a deal: helper-89). Absent on older deals.
   */
  verdictMissed?: boolean;
}

export interface Shipment {
  carrier: string;
  trackingNumber: string;
  shippedAt: string;
}

export interface TemporaryAccount {
  /** Unique for ever in the bank, never reused (Account_Code). */
  code: string;
  currency: CurrencyCode;
  balanceMinor: number;
  /** What the deal calls for (the invoice amount); the seller checks the balance against it. */
  requiredMinor: number;
  createdBy: string;
  parties: Party[];
  mode: AccountMode;
  releasePolicy: ReleasePolicy;
  status: AccountStatus;
  invoiceId: string | null;
  /** Creation fee still owed by the buyer (charged on its first pay-in, or kept from a remittance). */
  creationFeeDueMinor: number;
  /**
   * The creation fee the bank charged for this account (absent: none, or charged before this was
   * kept): a seller's cancel gives it back into the account, for the buyer to take back.
   */
  creationFeePaidMinor?: number;
  /** What the seller has taken out so far, and the withdrawal fees kept on it (absent: 0). */
  sellerWithdrawnMinor?: number;
  withdrawalFeesMinor?: number;
  /**
   * What the seller has paid in itself (absent: 0). Taking that back is no payout of the deal:
   * without it, a seller that took back its own pay-in left a deal nobody could fund.
   */
  sellerPaidInMinor?: number;
  shipment: Shipment | null;
  verdict: Verdict | null;
  /**
   * A deal's deadlines (deadlines.ts), set as the deal reaches them: the seller ships by
   * `shipBy` (from its lock), the buyer gives a verdict by `verdictBy` (from the shipment).
   * Absent on accounts from before deadlines, and on fractional ones: none apply.
   */
  deadlines?: Deadlines;
  /** How the bank resolved the buyer's rejection, if it did (disputes.ts). */
  dispute?: DisputeResolution;
  /** Sequence number of the last event; the next event is `version + 1`. */
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** Ledger account keys. The store owns their balances; the domain only names them. */
export type LedgerAccountKey =
  | `usual:${string}`
  | `temporary:${string}`
  | `fees:${CurrencyCode}`
  | `external:${CurrencyCode}`;

export const ledgerKey = {
  usual: (usualAccountId: string): LedgerAccountKey => `usual:${usualAccountId}`,
  temporary: (code: string): LedgerAccountKey => `temporary:${code}`,
  fees: (currency: CurrencyCode): LedgerAccountKey => `fees:${currency}`,
  external: (currency: CurrencyCode): LedgerAccountKey => `external:${currency}`,
};

/** One movement of money: `from` is debited and `to` credited by the same amount. */
export interface Transfer {
  from: LedgerAccountKey;
  to: LedgerAccountKey;
  amountMinor: number;
  currency: CurrencyCode;
  /** What the movement is, for statements: principal, creation_fee, withdrawal_fee, ... */
  purpose: 'principal' | 'creation_fee' | 'creation_fee_refund' | 'withdrawal_fee' | 'top_up' | 'payout';
}

/** Every event a temporary account can produce, in the order a whole deal produces them. */
export const accountEventTypes = [
  'account.created',
  'account.deposited',
  'account.funded',
  'lock.changed',
  'deadline.set',
  'funds.checked',
  'account.shipped',
  'deal.accepted',
  'deal.rejected',
  'deal.cancelled',
  'deadline.passed',
  'dispute.resolved',
  'account.withdrawn',
  'account.dissolved',
] as const;

export type AccountEventType = (typeof accountEventTypes)[number];

export interface AccountEvent {
  type: AccountEventType;
  accountCode: string;
  /** Per-account sequence number, gap-free from 1, so receivers can order and de-duplicate. */
  seq: number;
  at: string;
  /** The customer whose command caused it. */
  actor: string;
  data: Record<string, string | number | boolean | null>;
}

export interface CommandOutcome {
  account: TemporaryAccount;
  events: AccountEvent[];
  transfers: Transfer[];
}

/** The usual (ordinary) account a party pays from or withdraws to, as the bank sees it now. */
export interface UsualAccountView {
  id: string;
  ownerId: string;
  currency: CurrencyCode;
  balanceMinor: number;
}

export interface Context {
  /** The customer issuing the command. */
  by: string;
  /** ISO-8601 timestamp of the command. */
  now: string;
}

// ---------------------------------------------------------------------------------------------
// Creation

export interface PartySpec {
  customerId: string;
  role: PartyRole;
  group?: string | null;
}

export interface CreateAccountInput extends Context {
  code: string;
  currency: CurrencyCode;
  requiredMinor: number;
  parties: PartySpec[];
  mode?: AccountMode;
  releasePolicy?: ReleasePolicy;
  invoiceId?: string | null;
  /**
   * The buyer's usual account to fund from at creation (step 113). Absent, or without enough
   * money for the amount and the fee, the account waits for a remittance ([0023]).
   */
  fundFrom?: UsualAccountView | null;
  commission: CommissionSchedule;
}

const partyCountMax = 16;
const groupNamePattern = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export function createAccount(input: CreateAccountInput): Result<CommandOutcome> {
  const amount = parseAmountMinor(input.requiredMinor);
  if (!amount.ok) return amount;

  const parties = validateParties(input);
  if (!parties.ok) return parties;

  const releasePolicy = input.releasePolicy ?? { kind: 'all_others' };
  // A buyer paying the seller's invoice, or a buyer the seller opened the account for, agreed to
  // a plain deal between the two of them: nobody may add members, groups, another release
  // policy or mode, which could leave the other side's lock out of the release condition.
  const creator = parties.value.find((party) => party.customerId === input.by);
  if (input.invoiceId || creator?.role === 'seller') {
    const plain =
      parties.value.length === 2 &&
      parties.value.every((party) => party.group === null) &&
      releasePolicy.kind === 'all_others' &&
      (input.mode ?? 'deal') === 'deal';
    if (!plain) {
      return fail(
        'invalid_parties',
        'An invoiced or seller-opened account is a plain deal: no members, groups, release policy or mode.',
      );
    }
  }
  if (releasePolicy.kind === 'group') {
    if (!parties.value.some((party) => party.group === releasePolicy.group)) {
      return fail('unknown_group', `No party is in group "${releasePolicy.group}".`);
    }
    // Only the maker's lock, the buyer's, is on at creation: a party that does not wait for it
    // could take the buyer's money before anyone else locks (a guarantor that was the whole
    // group could, at any time, and so could the seller until the guarantor locked: helper-39's
    // review). So the buyer is in the group, and so is someone it waits for: an AND over no
    // locks is always true, which would let that party take the money at any time.
    const buyer = parties.value.find((party) => party.role === 'buyer');
    if (buyer && buyer.group !== releasePolicy.group) {
      return fail(
        'invalid_parties',
        `The buyer must be in release group "${releasePolicy.group}": until the others lock, its lock alone holds the money.`,
      );
    }
    // The seller too: outside the group its lock would hold nobody back, so once it had
    // shipped, the buyer could take the money back, or a member the payment (helper-58's
    // review), while the seller's lock showed on.
    const seller = parties.value.find((party) => party.role === 'seller');
    if (seller && seller.group !== releasePolicy.group) {
      return fail(
        'invalid_parties',
        `The seller must be in release group "${releasePolicy.group}": outside it, its lock would hold nobody back.`,
      );
    }
    const unblocked = parties.value.find(
      (party) =>
        !parties.value.some(
          (other) => other.customerId !== party.customerId && other.group === releasePolicy.group,
        ),
    );
    if (unblocked) {
      return fail(
        'invalid_parties',
        `With release group "${releasePolicy.group}", the ${unblocked.role} would have no other party's lock to wait for.`,
      );
    }
  }

  const buyer = parties.value.find((party) => party.role === 'buyer');
  const creationFee = creationFeeFor(input.commission, input.currency, amount.value);
  let account: TemporaryAccount = {
    code: input.code,
    currency: input.currency,
    balanceMinor: 0,
    requiredMinor: amount.value,
    createdBy: input.by,
    parties: parties.value,
    mode: input.mode ?? 'deal',
    releasePolicy,
    status: 'awaiting_funds',
    invoiceId: input.invoiceId ?? null,
    creationFeeDueMinor: buyer ? creationFee : 0,
    shipment: null,
    verdict: null,
    version: 0,
    createdAt: input.now,
    updatedAt: input.now,
  };

  const events: AccountEvent[] = [];
  const emit = eventSink(events, input);
  emit(account, 'account.created', {
    createdBy: input.by,
    requiredMinor: account.requiredMinor,
    currency: account.currency,
    mode: account.mode,
  });

  // Funding now (steps 111-113) only when the creator is the buyer, pays from its own account
  // in the deal's currency and has enough for the amount and the creation fee. Otherwise the
  // account awaits a remittance; a wrong account is an error, not a silent fallback.
  const transfers: Transfer[] = [];
  const source = input.fundFrom;
  if (source) {
    if (!buyer || buyer.customerId !== input.by) {
      return fail('role_not_allowed', 'Only the buyer funds an account at creation.');
    }
    const check = checkUsualAccount(source, input.by, account.currency);
    if (!check.ok) return check;
    if (source.balanceMinor >= amount.value + account.creationFeeDueMinor) {
      const funded = payIn(account, fromUsual(source), amount.value, buyer, emit);
      account = funded.account;
      transfers.push(...funded.transfers);
    }
  }
  account = { ...account, version: events.length };
  return ok({ account, events, transfers });
}

function validateParties(input: CreateAccountInput): Result<Party[]> {
  if (!Array.isArray(input.parties) || input.parties.length < 2) {
    return fail('invalid_parties', 'A temporary account has at least two parties.');
  }
  if (input.parties.length > partyCountMax) {
    return fail('invalid_parties', `A temporary account has at most ${partyCountMax} parties.`);
  }
  const seen = new Set<string>();
  let buyers = 0;
  let sellers = 0;
  const parties: Party[] = [];
  for (const spec of input.parties) {
    if (seen.has(spec.customerId)) {
      return fail('duplicate_party', `Customer ${spec.customerId} is listed twice.`);
    }
    seen.add(spec.customerId);
    if (spec.role === 'buyer') buyers++;
    else if (spec.role === 'seller') sellers++;
    else if (spec.role !== 'member') {
      return fail('invalid_parties', `Unknown role ${JSON.stringify(spec.role)}.`);
    }
    const group = spec.group ?? null;
    if (group !== null && !groupNamePattern.test(group)) {
      return fail('invalid_parties', 'A group name is 1-32 of a-z, 0-9, "_" or "-".');
    }
    // Rule 1 ([0033]): the creator's lock is on, every other party's lock is off.
    parties.push({
      customerId: spec.customerId,
      role: spec.role,
      group,
      lockPpm: spec.customerId === input.by ? lockPpmFull : 0,
    });
  }
  if (buyers !== 1 || sellers !== 1) {
    return fail('invalid_parties', 'A temporary account has exactly one buyer and one seller.');
  }
  if (!seen.has(input.by)) {
    return fail('not_a_party', 'The creator must be one of the parties.');
  }
  return ok(parties);
}

// ---------------------------------------------------------------------------------------------
// The move rule (Drawing 5, steps 131-134; [0035])

/**
 * The parties whose locks can hold money back from `customerId`: every other party, or only
 * the other members of the policy's group. The buyer's and the seller's locks always count:
 * a group leaves out members only (an account opened before a group had to hold both may
 * have the seller outside it; its lock holds the others back all the same).
 */
export function blockingParties(account: TemporaryAccount, customerId: string): Party[] {
  return account.parties.filter(
    (party) => party.customerId !== customerId && holdsOthersBack(account, party),
  );
}

/** Whether a party's lock counts against the others (see `blockingParties`). */
function holdsOthersBack(account: TemporaryAccount, party: Party): boolean {
  const policy = account.releasePolicy;
  return policy.kind === 'all_others' || party.group === policy.group || party.role !== 'member';
}

/**
 * How much `customerId` may move out now: the balance less what the largest of the others'
 * locks holds (rule 4: balance x (1 - the largest lock among the others) when the locks were
 * set). With whole locks this is the full balance when no other lock is on and zero otherwise
 * — the move rule of Drawing 5. On a deal that is off the money goes back to who paid it in
 * instead (`movableBackToPayers`).
 */
export function movableMinor(account: TemporaryAccount, customerId: string): number {
  if (account.status === 'dissolved') return 0;
  const largestHeld = blockingParties(account, customerId).reduce(
    (largest, party) => Math.max(largest, heldMinor(account, party)),
    0,
  );
  const byLocks = Math.max(0, account.balanceMinor - largestHeld);
  return returnsToPayers(account) ? movableBackToPayers(account, customerId, byLocks) : byLocks;
}

/**
 * A deal whose money goes back to who paid it in, whatever the locks (`movableBackToPayers`):
 * one that is off (`dealIsOff`), and one whose ship deadline passed unshipped, with no verdict or
 * dispute: the seller's lock is off for good and nothing will ship. There a member's lock held
 * the buyer's money and the buyer's held the member's, with no deadline left to end either
 * (helper-97: both took 0 for ever, and whoever let go first lost its money to the other).
 */
export function returnsToPayers(account: {
  mode: string;
  deadlines?: { payMissed?: boolean; shipMissed?: boolean } | null;
  shipment: unknown;
  verdict: string | null;
  dispute?: { resolvedFor: string } | null;
}): boolean {
  if (dealIsOff(account)) return true;
  // The bank decided the buyer's dispute for it: the deal's money goes back, a member's own to
  // the member (helper-99: the buyer took a co-paying member's money, or, the member's lock on,
  // both were stuck until the bank gave the buyer all of it).
  if (account.mode === 'deal' && account.dispute?.resolvedFor === 'buyer') return true;
  return (
    account.mode === 'deal' &&
    account.deadlines?.shipMissed === true &&
    !account.shipment &&
    account.verdict === null &&
    !account.dispute
  );
}

/**
 * A deal whose pay window closed before anything shipped (its pay deadline passed unfunded, or
 * the seller cancelled it): the deal is off, and what it holds goes back to who paid it in (the
 * buyer, and members their own pay-ins). Takes the account or its API view.
 */
export function dealIsOff(account: {
  mode: string;
  deadlines?: { payMissed?: boolean } | null;
  shipment: unknown;
}): boolean {
  return account.mode === 'deal' && account.deadlines?.payMissed === true && !account.shipment;
}

/**
 * Why nothing is shipped, accepted or rejected on a deal that is off: `deal_cancelled` or
 * `deadline_passed`, as its pay-ins and locks are refused. They answered `account_awaiting_funds`
 * (helper-90), asking for a pay-in the bank refuses, even of a cancelled deal holding more than
 * its amount once the creation fee came back.
 */
function dealOffRefusal(account: TemporaryAccount): Refusal | undefined {
  return dealIsOff(account) ? payDeadlineMissed(account) : undefined;
}

/**
 * Why a deal whose money goes back to its payers (`returnsToPayers`) takes no pay-in, verdict,
 * funds check or member's lock: `deal_cancelled` or `deadline_passed`. Past a missed ship
 * deadline a buyer's rejection opened a dispute that gave the locks back their say, and took a
 * member's money (helper-98); a member's pay-in taken back made the deal ask for money again,
 * and a pay-in was taken for a deal nothing would ship for.
 */
export function payersRefusal(account: TemporaryAccount): Refusal | undefined {
  if (!returnsToPayers(account)) return undefined;
  if (account.dispute) {
    return refusal(
      'dispute_resolved',
      'The bank decided this dispute for the buyer: what the deal holds goes back to who paid it in.',
    );
  }
  return (
    dealOffRefusal(account) ??
    refusal(
      'deadline_passed',
      'The deadline to ship this deal has passed: it takes no more money, and what it holds goes back to who paid it in.',
      { shipBy: account.deadlines?.shipBy ?? null },
    )
  );
}

/**
 * Why a party takes nothing from a deal whose money goes back to its payers: the seller, as the
 * deal is closed; a buyer or member, as none of it is its own (a buyer was told another party's
 * lock held it, when none did: helper-97).
 */
function notYoursRefusal(account: TemporaryAccount, role: PartyRole): Refusal | undefined {
  const closed = payersRefusal(account);
  if (!closed || role === 'seller') return closed;
  return refusal(
    closed.code,
    'What this deal holds goes back to who paid it in, and none of it is yours to take.',
    closed.details,
  );
}

/**
 * On a deal that is off (or past its ship deadline unshipped: `returnsToPayers`), its money goes
 * back to whoever paid it in, whatever the locks: a member takes back its own pay-ins not yet
 * taken out (and the creation fee it paid, once a cancel gave that back), the buyer all the rest.
 * The members' claims never add up to more than there is (`memberClaimsMinor`). Neither the seller, whose lock the buyer may have turned
 * off, nor a member's lock keeps the buyer's part (helper-85: the seller took a cancelled deal's
 * part-payment from a buyer who had unlocked, and a member's lock held it for ever; helper-95:
 * one that kept holding left the buyer's own pay-in stuck for good, nothing pending to end it),
 * and the buyer does not take a member's (it did: a co-payer's money went to the buyer). A
 * seller's cancel is refused while a member's lock holds money (`cancelRefused`); a pay deadline
 * that passes does not wait. The seller takes back only its own pay-ins not yet taken back, as
 * the locks allow.
 */
function movableBackToPayers(account: TemporaryAccount, customerId: string, byLocks: number): number {
  const party = account.parties.find((candidate) => candidate.customerId === customerId);
  if (party?.role === 'seller') return Math.min(byLocks, sellersOwnLeftMinor(account));
  if (party?.role !== 'buyer' && party?.role !== 'member') return 0;
  const claims = memberClaimsMinor(account);
  return party.role === 'member' ? (claims.byMember.get(customerId) ?? 0) : claims.buyerMinor;
}

/**
 * What each member may take back of a deal whose money returns to its payers, and what is left
 * for the buyer: each member its own money left, within what the seller's own pay-ins leave,
 * in the parties' order, so that claims never exceed the balance (helper-97: with two members,
 * each was offered the whole rest after the buyer had taken some of theirs on the live deal, and
 * the first to ask took the other's too). When the deal goes off, `settleMembersClaims` cuts
 * claims that do not fit pro rata, so the order decides nothing there.
 */
function memberClaimsMinor(account: TemporaryAccount): { byMember: Map<string, number>; buyerMinor: number } {
  let poolMinor = Math.max(0, account.balanceMinor - sellersOwnLeftMinor(account));
  const byMember = new Map<string, number>();
  for (const party of account.parties) {
    if (party.role !== 'member') continue;
    const claimMinor = Math.min(poolMinor, membersOwnLeftMinor(party));
    byMember.set(party.customerId, claimMinor);
    poolMinor -= claimMinor;
  }
  return { byMember, buyerMinor: poolMinor };
}

/**
 * @internal Shared with deadlines.ts. As a deal's money starts going back to its payers: when
 * the members' own money left adds up to more than the balance holds for them (the buyer took
 * some of it while the deal was on, as the locks allowed), each member's claim is cut to its
 * share of what there is, pro rata, rounded down, the units left over going one each to the
 * largest remainders (the earlier party first on a tie). `paidInMinor` then says what is its own.
 */
export function settleMembersClaims(account: TemporaryAccount): TemporaryAccount {
  const poolMinor = Math.max(0, account.balanceMinor - sellersOwnLeftMinor(account));
  const owed = account.parties
    .map((party, order) => ({ party, order, owedMinor: membersOwnLeftMinor(party) }))
    .filter((claim) => claim.owedMinor > 0);
  const totalMinor = owed.reduce((sum, claim) => sum + claim.owedMinor, 0);
  if (totalMinor <= poolMinor) return account;
  const total = BigInt(totalMinor);
  const shares = owed.map((claim) => {
    const exact = BigInt(poolMinor) * BigInt(claim.owedMinor);
    return { ...claim, shareMinor: Number(exact / total), remainder: exact % total };
  });
  let restMinor = poolMinor - shares.reduce((sum, claim) => sum + claim.shareMinor, 0);
  const byRemainder = [...shares].sort((a, b) =>
    a.remainder === b.remainder ? a.order - b.order : a.remainder > b.remainder ? -1 : 1,
  );
  for (const claim of byRemainder) {
    if (restMinor === 0) break;
    claim.shareMinor += 1;
    restMinor -= 1;
  }
  const cut = new Map(shares.map((claim) => [claim.party.customerId, claim.shareMinor]));
  return {
    ...account,
    parties: account.parties.map((party) => {
      const shareMinor = cut.get(party.customerId);
      return shareMinor === undefined
        ? party
        : { ...party, paidInMinor: (party.takenOutMinor ?? 0) + shareMinor };
    }),
  };
}

/** A member's own money in a deal it has not taken out (0 for the buyer and the seller). */
function membersOwnLeftMinor(party: Party): number {
  if (party.role !== 'member') return 0;
  return Math.max(0, (party.paidInMinor ?? 0) - (party.takenOutMinor ?? 0));
}

/** The seller's own pay-ins into a deal it has not taken back, within the balance. */
function sellersOwnLeftMinor(account: TemporaryAccount): number {
  return Math.min(
    account.balanceMinor,
    Math.max(0, (account.sellerPaidInMinor ?? 0) - (account.sellerWithdrawnMinor ?? 0)),
  );
}

/** What the seller has taken of the others' money from a deal so far (an advance the buyer allowed). */
export function sellerTookMinor(account: TemporaryAccount): number {
  return sellerPaidOutMinor(account, 0);
}

/**
 * What a party's lock holds from the others now ([0035]: "it protects that share of the
 * balance from the others"). A whole lock holds the balance, no lock nothing. A partial lock
 * holds its share of the balance as it was when the lock was set, plus its share of every
 * pay-in since, summed exactly and rounded up once (in favour of the lock holder), and never
 * more than the balance.
 * The others' withdrawals do not wear it down: read word for word, "balance x (1 - lock)" of
 * the balance left after each withdrawal let a 0.5 lock be taken down to one yen by
 * withdrawing again and again (helper-58's and helper-65's reviews).
 */
export function heldMinor(account: TemporaryAccount, party: Party): number {
  if (party.lockPpm === 0) return 0;
  if (party.lockPpm === lockPpmFull) return account.balanceMinor;
  const held = party.heldMinor ?? mulDivCeil(account.balanceMinor, party.lockPpm, lockPpmFull);
  return Math.min(held, account.balanceMinor);
}

/**
 * What a party's lock holds back from anyone: its `heldMinor`, or nothing when it is in no other
 * party's blocking set (a member outside the release group's named group). The view shows this:
 * a lock that blocks nobody protects nothing (helper-66's review).
 */
export function heldFromOthersMinor(account: TemporaryAccount, party: Party): number {
  // On a deal that is off only the buyer's lock holds anything from the others: the seller's own
  // pay-ins, all the seller could take (`movableBackToPayers`). It said the whole balance, the
  // buyer's own money too (helper-90).
  if (returnsToPayers(account)) {
    return party.role === 'buyer' ? Math.min(heldMinor(account, party), sellersOwnLeftMinor(account)) : 0;
  }
  // In another party's blocking set: its lock counts, and there is another party.
  const blocks =
    holdsOthersBack(account, party) && account.parties.some((other) => other.customerId !== party.customerId);
  return blocks ? heldMinor(account, party) : 0;
}

/** Millionths of a minor unit per minor unit: exact holds are kept in these. */
const micro = BigInt(lockPpmFull);
const largerOf = (a: bigint, b: bigint) => (a > b ? a : b);
const smallerOf = (a: bigint, b: bigint) => (a < b ? a : b);

/**
 * What a party's lock holds, exactly, in millionths of a minor unit: `heldMinor` less its
 * rounding; for a partial lock stored before held amounts, its share of the balance.
 */
function exactHeldMicro(account: TemporaryAccount, party: Party): bigint {
  if (party.lockPpm === 0) return 0n;
  const balanceMicro = BigInt(account.balanceMinor) * micro;
  if (party.lockPpm === lockPpmFull) return balanceMicro;
  const held =
    party.heldMinor === undefined
      ? BigInt(account.balanceMinor) * BigInt(party.lockPpm)
      : BigInt(party.heldMinor) * micro - BigInt(party.heldRoundingMicroMinor ?? 0);
  return smallerOf(held, balanceMicro);
}

/** A lock's share of `amountMinor`, exactly, in millionths of a minor unit. */
function shareMicro(amountMinor: number, lockPpm: number): bigint {
  return BigInt(amountMinor) * BigInt(lockPpm);
}

/** The partial locks' held amounts after `amountMinor` was paid in (already in the balance). */
function holdPayIn(before: TemporaryAccount, after: TemporaryAccount, amountMinor: number): TemporaryAccount {
  return rehold(after, (party) => exactHeldMicro(before, party) + shareMicro(amountMinor, party.lockPpm));
}

/**
 * Sets each partial lock's hold from its exact amount (millionths of a minor unit), kept between
 * 0 and the balance and rounded up once, in favour of the holder; whole locks and no locks carry
 * none.
 */
function rehold(account: TemporaryAccount, heldMicro: (party: Party) => bigint): TemporaryAccount {
  if (!account.parties.some(isPartial)) return account;
  const balanceMicro = BigInt(account.balanceMinor) * micro;
  return {
    ...account,
    parties: account.parties.map((party) => {
      if (!isPartial(party)) return party;
      return withHold(party, smallerOf(largerOf(heldMicro(party), 0n), balanceMicro));
    }),
  };
}

/** `party` holding `heldMicro` (≥ 0): `heldMinor` rounded up, and the rounding kept. */
function withHold(party: Party, heldMicro: bigint): Party {
  const { heldRoundingMicroMinor: _previous, ...rest } = party;
  const heldMinor = (heldMicro + micro - 1n) / micro;
  const rounding = Number(heldMinor * micro - heldMicro);
  return {
    ...rest,
    heldMinor: Number(heldMinor),
    ...(rounding > 0 ? { heldRoundingMicroMinor: rounding } : {}),
  };
}

function isPartial(party: Party): boolean {
  return party.lockPpm > 0 && party.lockPpm < lockPpmFull;
}

// ---------------------------------------------------------------------------------------------
// Commands

export interface DepositInput extends Context {
  amountMinor: number;
  from: UsualAccountView;
  commission?: CommissionSchedule;
}

/** Pays money in from the caller's usual account (step 113 for an account awaiting funds). */
export function deposit(account: TemporaryAccount, input: DepositInput): Result<CommandOutcome> {
  const live = requireLive(account, input.by);
  if (!live.ok) return live;
  // A deal is the buyer's payment (or a member's for it): a seller's pay-in counted toward the
  // amount, funded the deal, and stayed the buyer's to take back while the seller's lock was
  // off (helper-66's review). Fractional accounts serve several dealings; anyone pays in.
  if (account.mode === 'deal' && live.value.role === 'seller') {
    return fail('role_not_allowed', 'The seller does not pay into a deal; the buyer (or a member) does.');
  }
  const closed = payDeadlineMissed(account) ?? payersRefusal(account);
  if (closed) return failWith(closed);
  const amount = parseAmountMinor(input.amountMinor);
  if (!amount.ok) return amount;
  const check = checkUsualAccount(input.from, input.by, account.currency);
  if (!check.ok) return check;
  const party = live.value;
  // A deal holds its amount and no more ([0023]): the seller takes the whole balance, so a
  // mistyped ¥10,000 into a ¥1,000 deal went to the seller (helper-58's review). Checked before
  // the funds: adding money for a pay-in that is refused anyway helps nobody.
  const dueMinor = amountDueMinor(account);
  if (dueMinor !== undefined && amount.value > dueMinor) return overpaid('pay in', dueMinor, amount.value, 0);
  const feeDue = paysCreationFee(party) ? account.creationFeeDueMinor : 0;
  if (input.from.balanceMinor < amount.value + feeDue) {
    return fail('insufficient_funds', 'The usual account does not hold enough for this pay-in.', {
      availableMinor: input.from.balanceMinor,
      requestedMinor: amount.value + feeDue,
    });
  }
  if (account.balanceMinor + amount.value > amountMinorMax) {
    return fail('amount_out_of_range', 'The temporary account would exceed its largest balance.');
  }
  const events: AccountEvent[] = [];
  const emit = eventSink(events, input, account.version);
  const paid = payIn(account, fromUsual(input.from), amount.value, party, emit);
  return ok(finish(paid.account, events, paid.transfers, input.now));
}

/**
 * What a deal still takes paid in: its amount less what it holds and what the seller has taken
 * out of it already (a payout is paid: helper-63's review), and nothing once it shipped
 * (`shortfallMinor`), the buyer gave its verdict or the bank decided a dispute. A fractional
 * account takes any pay-in (undefined).
 */
export function amountDueMinor(account: TemporaryAccount): number | undefined {
  if (account.mode !== 'deal') return undefined;
  if (account.status === 'dissolved' || account.verdict !== null || account.dispute) return 0;
  // Not paid up in time, cancelled, or past its ship deadline: it takes no more.
  if (account.deadlines?.payMissed || returnsToPayers(account)) return 0;
  return shortfallMinor(account);
}

/**
 * How much the deal's amount is not covered by (the seller's check, steps 115-118). None once
 * shipped: it was paid up to ship, and a part refund the seller allowed since is not owed back
 * (helper-101: a shipped deal read "short" by an amount no pay-in could make good).
 */
export function shortfallMinor(account: TemporaryAccount): number {
  if (account.mode === 'deal' && account.shipment) return 0;
  return Math.max(0, account.requiredMinor - coveredMinor(account));
}

/**
 * What counts toward the deal's amount: what the account holds and what the seller has taken of
 * others' money already. The seller's own pay-ins it took back are not a payout (helper-64's
 * review: a seller-created deal whose seller took back its own pay-in refused every pay-in and
 * could never be funded).
 */
function coveredMinor(account: TemporaryAccount): number {
  if (account.mode !== 'deal') return account.balanceMinor;
  return account.balanceMinor + sellerPaidOutMinor(account, 0);
}

/** What the seller has taken of others' money, with `moreMinor` taken now: not its own pay-ins. */
function sellerPaidOutMinor(account: TemporaryAccount, moreMinor: number): number {
  return Math.max(0, (account.sellerWithdrawnMinor ?? 0) + moreMinor - (account.sellerPaidInMinor ?? 0));
}

/**
 * A pay-in or a remittance (which must also cover the creation fee still due) beyond what the
 * deal still takes.
 */
function overpaid(
  verb: 'pay in' | 'remit',
  dueMinor: number,
  requestedMinor: number,
  feeDueMinor: number,
): Result<never> {
  const done = verb === 'pay in' ? 'paid in' : 'remitted';
  const most =
    feeDueMinor > 0
      ? ` and the creation fee of ${feeDueMinor}; ${verb} at most ${dueMinor + feeDueMinor}`
      : `; ${verb} at most that`;
  return fail(
    'exceeds_amount_due',
    dueMinor === 0
      ? `This deal holds its whole amount already (or paid it out); nothing more can be ${done}.`
      : `This deal still needs ${dueMinor} minor units${most}.`,
    verb === 'remit' ? { dueMinor, feeDueMinor, requestedMinor } : { dueMinor, requestedMinor },
  );
}

export interface RemitInput {
  /** ISO-8601 timestamp of the remittance's booking. */
  now: string;
  /** What arrived from outside the bank, in minor units, the creation fee still due included. */
  amountMinor: number;
}

/**
 * A remittance from outside the bank (another bank's transfer, cash at the counter) into a
 * temporary account: how a buyer without a usual account pays in (rule 7, [0023]; step 113).
 * The money comes from the bank's external ledger account in the currency (as an operator's
 * top-up does) and is credited on behalf of the buyer, always: the bank books the slip against
 * the account, not a person, and cannot tell who sent it, so it is the buyer's money, held
 * under the buyer's lock; a member pays in from its own usual account (`deposit`).
 *
 * The same rules as the buyer's pay-in: a deal takes no more than it still needs
 * (`exceeds_amount_due`), the buyer's lock turns on (before its verdict), the account is funded
 * once it holds the amount, a dissolved account refuses. The creation fee still due ([0036]) is
 * taken from the remittance, first: the buyer has no usual account to charge it to, and a deal
 * funded in full takes no later pay-in that could pay it, so left due it would never be paid.
 * The buyer remits what a pay-in from a usual account would have cost: the amount plus the fee.
 * A remittance that does not cover more than the fee is refused (`insufficient_funds`).
 *
 * The events are `account.deposited` (with `source: "remittance"`, `fromAccountId: null`;
 * `amountMinor` is what the account received, `feeMinor` the fee kept from the remittance) and
 * what follows from it, with the actor `bank`: no customer's command caused them.
 */
export function remit(account: TemporaryAccount, input: RemitInput): Result<CommandOutcome> {
  const buyer = account.parties.find((party) => party.role === 'buyer');
  if (!buyer) return fail('invalid_state', 'This temporary account has no buyer to remit for.');
  if (account.status === 'dissolved') {
    return fail('account_dissolved', 'This temporary account is dissolved; nothing moves through it.');
  }
  const closed = payDeadlineMissed(account) ?? payersRefusal(account);
  if (closed) return failWith(closed);
  const amount = parseAmountMinor(input.amountMinor);
  if (!amount.ok) return amount;
  const feeDueMinor = account.creationFeeDueMinor;
  const dueMinor = amountDueMinor(account);
  const creditedMinor = amount.value - feeDueMinor;
  if (dueMinor !== undefined && (dueMinor === 0 || creditedMinor > dueMinor)) {
    return overpaid('remit', dueMinor, amount.value, feeDueMinor);
  }
  if (creditedMinor <= 0) {
    return fail(
      'insufficient_funds',
      `The remittance does not cover the creation fee still due (${feeDueMinor}) and more.`,
      { feeDueMinor, requestedMinor: amount.value },
    );
  }
  if (account.balanceMinor + creditedMinor > amountMinorMax) {
    return fail('amount_out_of_range', 'The temporary account would exceed its largest balance.');
  }
  const events: AccountEvent[] = [];
  const context = { by: bankActor, now: input.now };
  const emit = eventSink(events, context, account.version);
  const paid = payIn(
    account,
    { ledger: ledgerKey.external(account.currency), fromAccountId: null, source: 'remittance' },
    creditedMinor,
    buyer,
    emit,
  );
  return ok(finish(paid.account, events, paid.transfers, input.now));
}

/**
 * The creation fee still due ([0036]) is paid with the first pay-in by the buyer's side: the
 * buyer, or a member paying in for it (a deal a member funded was otherwise never charged the
 * fee: helper-39's review). The seller's own pay-in never pays it.
 */
function paysCreationFee(party: Party): boolean {
  return party.role !== 'seller';
}

/** Where a pay-in's money (and the creation fee it pays) comes from. */
interface PayInSource {
  ledger: LedgerAccountKey;
  /** The usual account paid from, for the event; null for a remittance from outside. */
  fromAccountId: string | null;
  source: 'usual_account' | 'remittance';
}

function fromUsual(usual: UsualAccountView): PayInSource {
  return { ledger: ledgerKey.usual(usual.id), fromAccountId: usual.id, source: 'usual_account' };
}

/**
 * Credits `amountMinor` to the account from `from` for `payer` (whose lock a buyer's pay-in
 * turns on), charging the creation fee still due to the same source when the payer pays it.
 */
function payIn(
  account: TemporaryAccount,
  from: PayInSource,
  amountMinor: number,
  payer: Party | undefined,
  emit: Emit,
): { account: TemporaryAccount; transfers: Transfer[] } {
  const transfers: Transfer[] = [
    {
      from: from.ledger,
      to: ledgerKey.temporary(account.code),
      amountMinor,
      currency: account.currency,
      purpose: 'principal',
    },
  ];
  let next = holdPayIn(
    account,
    { ...account, balanceMinor: account.balanceMinor + amountMinor },
    amountMinor,
  );
  if (payer?.role === 'seller') {
    next = { ...next, sellerPaidInMinor: (account.sellerPaidInMinor ?? 0) + amountMinor };
  }
  const memberPays = payer?.role === 'member' && account.mode === 'deal';
  if (memberPays) {
    next = withParty(next, payer.customerId, (member) => ({
      paidInMinor: (member.paidInMinor ?? 0) + amountMinor,
    }));
  }
  if (payer && paysCreationFee(payer) && account.creationFeeDueMinor > 0) {
    if (memberPays) {
      next = withParty(next, payer.customerId, (member) => ({
        creationFeePaidMinor: (member.creationFeePaidMinor ?? 0) + account.creationFeeDueMinor,
      }));
    }
    transfers.push({
      from: from.ledger,
      to: ledgerKey.fees(account.currency),
      amountMinor: account.creationFeeDueMinor,
      currency: account.currency,
      purpose: 'creation_fee',
    });
    next = {
      ...next,
      creationFeeDueMinor: 0,
      creationFeePaidMinor: (account.creationFeePaidMinor ?? 0) + account.creationFeeDueMinor,
    };
  }
  emit(next, 'account.deposited', {
    amountMinor,
    fromAccountId: from.fromAccountId,
    balanceMinor: next.balanceMinor,
    feeMinor: transfers[1]?.amountMinor ?? 0,
    source: from.source,
  });
  // The buyer's money is held for the buyer: paying in turns the buyer's lock on (as funding at
  // creation does), so the seller cannot take it before the buyer releases (rule 3).
  if (payer?.role === 'buyer' && payer.lockPpm === 0 && next.verdict === null) {
    next = withLock(next, payer.customerId, lockPpmFull);
    emit(next, 'lock.changed', {
      customerId: payer.customerId,
      role: 'buyer',
      fromLockPpm: 0,
      lockPpm: lockPpmFull,
    });
  }
  if (next.status === 'awaiting_funds' && coveredMinor(next) >= next.requiredMinor) {
    next = { ...next, status: 'funded' };
    emit(next, 'account.funded', { balanceMinor: next.balanceMinor });
  }
  return { account: next, transfers };
}

export interface SetLockInput extends Context {
  /** Whose lock to set; a party may only set its own ([0034]). Defaults to the caller. */
  customerId?: string;
  lockPpm: number;
}

/** Sets the caller's own lock to a share of the balance (0 = unlock, 1_000_000 = full). */
export function setLock(account: TemporaryAccount, input: SetLockInput): Result<CommandOutcome> {
  const live = requireLive(account, input.by);
  if (!live.ok) return live;
  if (input.customerId !== undefined && input.customerId !== input.by) {
    if (!account.parties.some((party) => party.customerId === input.customerId)) {
      return fail('unknown_party', 'That customer is not a party to this account.');
    }
    return fail('not_own_lock', "A party may change only its own lock, never another's.");
  }
  if (!Number.isInteger(input.lockPpm) || input.lockPpm < 0 || input.lockPpm > lockPpmFull) {
    return fail('invalid_lock_share', 'A lock share is a number from 0 to 1.');
  }
  if (account.mode === 'deal' && input.lockPpm !== 0 && input.lockPpm !== lockPpmFull) {
    return fail(
      'lock_share_not_allowed',
      'Partial locks need a fractional-mode account; a deal account locks fully or not at all.',
    );
  }
  const refused = lockOnRefused(account, live.value, input.lockPpm, input.now);
  if (refused) return failWith(refused);
  // A lock set to what it is changes nothing: no event, no new version, no webhook (it was
  // recorded as a change from 0 to 0: helper-79's review). A partial lock set to its own share
  // keeps its hold too (withLock keeps the hold of an unchanged share), so it is no change.
  if (input.lockPpm === live.value.lockPpm) return ok({ account, events: [], transfers: [] });
  const events: AccountEvent[] = [];
  const emit = eventSink(events, input, account.version);
  const next = withLock(account, input.by, input.lockPpm);
  emit(next, 'lock.changed', {
    customerId: input.by,
    role: live.value.role,
    fromLockPpm: live.value.lockPpm,
    lockPpm: input.lockPpm,
  });
  return ok(finish(next, events, [], input.now));
}

/**
 * The seller's amount check (steps 115-118): is the balance enough for the deal? The outcome is
 * an event, so the buyer is told when it is not and the bank waits for a pay-in.
 */
export function checkFunds(account: TemporaryAccount, input: Context): Result<CommandOutcome> {
  const live = requireLive(account, input.by);
  if (!live.ok) return live;
  if (live.value.role !== 'seller') {
    return fail('role_not_allowed', 'Only the seller checks the amount.');
  }
  // A deal that is off is never funded, whatever it holds (a refunded fee may take it over its
  // amount): "sufficient" would tell a shop to ship a cancelled order (helper-87).
  const off = payDeadlineMissed(account) ?? payersRefusal(account);
  if (off) return failWith(off);
  const missingMinor = shortfallMinor(account);
  const events: AccountEvent[] = [];
  const emit = eventSink(events, input, account.version);
  emit(account, 'funds.checked', {
    sufficient: missingMinor === 0,
    balanceMinor: account.balanceMinor,
    requiredMinor: account.requiredMinor,
    shortfallMinor: missingMinor,
  });
  return ok(finish(account, events, [], input.now));
}

export interface MarkShippedInput extends Context {
  carrier: string;
  trackingNumber: string;
}

/** The seller records shipment (steps 105, 119), once, on a funded account. */
export function markShipped(account: TemporaryAccount, input: MarkShippedInput): Result<CommandOutcome> {
  const live = requireLive(account, input.by);
  if (!live.ok) return live;
  const refused = shipRefused(account, live.value, input.now);
  if (refused) return failWith(refused);
  const shipment: Shipment = {
    carrier: input.carrier,
    trackingNumber: input.trackingNumber,
    shippedAt: input.now,
  };
  const next = { ...account, shipment };
  const events: AccountEvent[] = [];
  eventSink(events, input, account.version)(next, 'account.shipped', {
    carrier: shipment.carrier,
    trackingNumber: shipment.trackingNumber,
  });
  return ok(finish(next, events, [], input.now));
}

/**
 * Why `party` (of a live account) may not mark it shipped now, or undefined: `markShipped`
 * refuses with it, and the view offers shipping (`mayShip`) only without one (helper-91: the
 * bank's page offered Mark shipped past the ship deadline, which the API refused).
 */
export function shipRefused(account: TemporaryAccount, party: Party, now: string): Refusal | undefined {
  if (party.role !== 'seller') return refusal('role_not_allowed', 'Only the seller ships.');
  const off = dealOffRefusal(account);
  if (off) return off;
  // A deal whose ship deadline passed is the buyer's to take back: the bank took the seller's
  // lock off for good. A shipment recorded then (it answered 200) told the shop the deal was on;
  // it shipped, and the buyer took all its money back (helper-89). Refused before the goods
  // leave, and before the funds are counted: a deal taken back in part since asked for a pay-in
  // it could never ship for (helper-91).
  if (shipDeadlinePassed(account, now)) {
    return refusal(
      'deadline_passed',
      'The deadline to ship this deal has passed: the buyer may take its money back, so do not ship it. Agree a new deal with the buyer if it still wants the goods.',
      { shipBy: account.deadlines?.shipBy ?? null },
    );
  }
  if (
    account.status !== 'funded' ||
    (account.mode === 'deal' && coveredMinor(account) < account.requiredMinor)
  ) {
    return refusal('account_awaiting_funds', 'Ship only once the account holds the full amount.', {
      balanceMinor: account.balanceMinor,
      requiredMinor: account.requiredMinor,
    });
  }
  if (account.shipment) return refusal('already_shipped', 'This deal is already marked shipped.');
  // A buyer that reported a problem before shipping opened a dispute: a shipment recorded after
  // it (a stale form) rewrote the deal's record under the bank's judgement (helper-78's review).
  if (account.mode === 'deal' && (account.verdict !== null || account.dispute)) {
    return refusal(
      account.dispute ? 'dispute_resolved' : 'verdict_already_given',
      account.dispute
        ? 'The bank decided this deal: it is not shipped now.'
        : `The buyer already ${account.verdict} this deal: it is not shipped now.`,
    );
  }
  return undefined;
}

/**
 * Whether the buyer's release (`accept`) waits for the seller's shipment: in a deal, until it
 * ships. Views offer Release by it (the bank's pages, the checkout widget), as `accept` refuses.
 */
export function awaitsShipment(account: { mode: string; shipment: unknown }): boolean {
  return account.mode === 'deal' && !account.shipment;
}

/**
 * The buyer is satisfied and releases its lock (steps 106, 122): a verdict on goods received,
 * so in a deal only once the seller has shipped (step 7 follows step 6). Accepting first let
 * the seller take the money with nothing shipped, and the example shop then could no longer
 * mark the order shipped (helper-75's review). The buyer may still turn its own lock off at any
 * time (rule 2): that is `unlock`, not a verdict.
 */
export function accept(account: TemporaryAccount, input: Context): Result<CommandOutcome> {
  const buyer = requireBuyerVerdict(account, input);
  if (!buyer.ok) return buyer;
  if (awaitsShipment(account)) {
    return fail(
      'not_shipped',
      'The seller has not shipped yet: release the payment once the goods are sent.',
    );
  }
  const events: AccountEvent[] = [];
  const emit = eventSink(events, input, account.version);
  let next: TemporaryAccount = { ...account, verdict: 'accepted' };
  emit(next, 'deal.accepted', { customerId: input.by });
  if (buyer.value.lockPpm !== 0) {
    next = withLock(next, input.by, 0);
    emit(next, 'lock.changed', {
      customerId: input.by,
      role: 'buyer',
      fromLockPpm: buyer.value.lockPpm,
      lockPpm: 0,
    });
  }
  return ok(finish(next, events, [], input.now));
}

/**
 * The buyer is not satisfied (steps 120-121). The buyer's lock stays (or is turned) on, so the
 * money stays held until the seller releases its lock and the buyer takes the money back.
 */
export function reject(
  account: TemporaryAccount,
  input: Context & { reason?: string },
): Result<CommandOutcome> {
  const buyer = requireBuyerVerdict(account, input);
  if (!buyer.ok) return buyer;
  const events: AccountEvent[] = [];
  const emit = eventSink(events, input, account.version);
  let next: TemporaryAccount = { ...account, verdict: 'rejected' };
  emit(next, 'deal.rejected', { customerId: input.by, reason: input.reason ?? null });
  if (buyer.value.lockPpm !== lockPpmFull) {
    next = withLock(next, input.by, lockPpmFull);
    emit(next, 'lock.changed', {
      customerId: input.by,
      role: 'buyer',
      fromLockPpm: buyer.value.lockPpm,
      lockPpm: lockPpmFull,
    });
  }
  return ok(finish(next, events, [], input.now));
}

export interface WithdrawInput extends Context {
  /** How much to take; absent means everything the move rule allows now. */
  amountMinor?: number;
  to: UsualAccountView;
  commission: CommissionSchedule;
}

/**
 * Moves money out to the caller's usual account (steps 107, 123 for the seller; a refund for
 * the buyer), only as far as the other parties' locks allow. The seller's withdrawal pays the
 * bank's withdrawal fee. A withdrawal that empties the account dissolves it (step 124).
 */
export function withdraw(account: TemporaryAccount, input: WithdrawInput): Result<CommandOutcome> {
  const live = requireLive(account, input.by);
  if (!live.ok) return live;
  const check = checkUsualAccount(input.to, input.by, account.currency);
  if (!check.ok) return check;
  const movable = movableMinor(account, input.by);
  // On a deal whose money goes back to its payers, nothing but its own is anyone's to take:
  // refused as the closed deal, not as a lock (none may hold it).
  const off = movable === 0 && account.balanceMinor > 0 && notYoursRefusal(account, live.value.role);
  if (off) return failWith(off);
  const requested = input.amountMinor === undefined ? movable : input.amountMinor;
  if (input.amountMinor !== undefined) {
    const amount = parseAmountMinor(input.amountMinor);
    if (!amount.ok) return amount;
  }
  if (movable === 0) {
    if (account.balanceMinor === 0) {
      return fail('insufficient_funds', 'The temporary account is empty.', { balanceMinor: 0 });
    }
    return fail('locked_by_other_party', "Another party's lock holds this money.", {
      movableMinor: 0,
      balanceMinor: account.balanceMinor,
    });
  }
  if (requested > movable) {
    const lockedByOthers = movable < account.balanceMinor;
    return fail(
      lockedByOthers ? 'exceeds_movable_amount' : 'insufficient_funds',
      !lockedByOthers
        ? 'The temporary account does not hold that much.'
        : returnsToPayers(account)
          ? 'Only part of what this deal holds is yours: the rest goes back to who paid it in.'
          : "The other parties' locks allow moving only part of the balance.",
      { movableMinor: movable, requestedMinor: requested, balanceMinor: account.balanceMinor },
    );
  }
  // The seller's fee is computed on everything it has taken from this account so far, minus
  // the fees already kept: splitting a withdrawal into small ones cannot round the fee away.
  const withdrawnBefore = account.sellerWithdrawnMinor ?? 0;
  const feesBefore = account.withdrawalFeesMinor ?? 0;
  // What the seller takes back of its own pay-ins is not a payout: no fee on it (helper-66).
  const paidOutMinor = sellerPaidOutMinor(account, requested);
  const fee =
    live.value.role === 'seller'
      ? Math.max(
          0,
          Math.min(
            requested,
            feeFor(input.commission.withdrawal[account.currency], paidOutMinor, true) - feesBefore,
          ),
        )
      : 0;
  const transfers: Transfer[] = [];
  if (requested - fee > 0) {
    transfers.push({
      from: ledgerKey.temporary(account.code),
      to: ledgerKey.usual(input.to.id),
      amountMinor: requested - fee,
      currency: account.currency,
      purpose: 'payout',
    });
  }
  if (fee > 0) {
    transfers.push({
      from: ledgerKey.temporary(account.code),
      to: ledgerKey.fees(account.currency),
      amountMinor: fee,
      currency: account.currency,
      purpose: 'withdrawal_fee',
    });
  }
  const events: AccountEvent[] = [];
  const emit = eventSink(events, input, account.version);
  // The others' locks hold what they held (the move rule kept it in the account). The
  // caller's own partial lock gives up its share of what the caller takes, as it gained its
  // share of each pay-in: its hold held the seller's money back after the buyer took most of
  // the balance, and paying in and taking the same money back raised it (helper-66's review).
  const balanceMinor = account.balanceMinor - requested;
  let next: TemporaryAccount = rehold({ ...account, balanceMinor }, (party) => {
    const held = exactHeldMicro(account, party);
    return party.customerId === input.by ? held - shareMicro(requested, party.lockPpm) : held;
  });
  if (live.value.role === 'seller') {
    next = {
      ...next,
      sellerWithdrawnMinor: withdrawnBefore + requested,
      withdrawalFeesMinor: feesBefore + fee,
    };
  } else if (live.value.role === 'member' && account.mode === 'deal') {
    next = withParty(next, input.by, (member) => ({
      takenOutMinor: (member.takenOutMinor ?? 0) + requested,
    }));
  }
  // A deal whose money is taken back below the invoiced amount before it ships is no longer
  // funded: nothing can ship until it is paid up again. What the seller took of others' money
  // still counts toward the amount (it is paid), its own pay-in it took back does not. A shipped
  // deal stays funded (`statusPutRight`): what the seller's unlock let the buyer take back is
  // a part refund, and the buyer's verdict and its deadline still decide the rest.
  if (
    next.mode === 'deal' &&
    next.status === 'funded' &&
    !next.shipment &&
    next.verdict === null &&
    next.balanceMinor > 0 &&
    coveredMinor(next) < next.requiredMinor
  ) {
    next = { ...next, status: 'awaiting_funds' };
  }
  emit(next, 'account.withdrawn', {
    customerId: input.by,
    role: live.value.role,
    amountMinor: requested,
    feeMinor: fee,
    toAccountId: input.to.id,
    balanceMinor: next.balanceMinor,
  });
  if (next.balanceMinor === 0) {
    next = { ...next, status: 'dissolved' };
    emit(next, 'account.dissolved', { reason: 'emptied' });
  }
  return ok(finish(next, events, transfers, input.now));
}

/**
 * Closes an empty account (e.g. one that never received its remittance). After dissolution no
 * money moves through it again; its record and history stay for audit (step 124).
 */
export function dissolve(account: TemporaryAccount, input: Context): Result<CommandOutcome> {
  const live = requireLive(account, input.by);
  if (!live.ok) return live;
  // A member is a third party to the buyer's and seller's account: closing it would end their
  // deal (one awaiting a remittance, say) for them. Unless the member opened it itself. A
  // fractional account serves many dealings of its parties alike: any of them closes it empty.
  if (account.mode === 'deal' && live.value.role === 'member' && account.createdBy !== input.by) {
    return fail('role_not_allowed', "Only the buyer, the seller or the account's maker closes it.");
  }
  if (account.balanceMinor !== 0) {
    return fail('account_not_empty', 'Only an empty temporary account can be dissolved.', {
      balanceMinor: account.balanceMinor,
    });
  }
  const next: TemporaryAccount = { ...account, status: 'dissolved' };
  const events: AccountEvent[] = [];
  eventSink(events, input, account.version)(next, 'account.dissolved', { reason: 'closed' });
  return ok(finish(next, events, [], input.now));
}

// ---------------------------------------------------------------------------------------------
// Helpers

type Emit = (account: TemporaryAccount, type: AccountEventType, data: AccountEvent['data']) => void;

/**
 * Why `party` may not turn its lock on (to `lockPpm` > 0) now, if it may not: a buyer who
 * accepted, a seller past its ship deadline, the loser of a dispute. `setLock` refuses with it;
 * a view offers the lock only when there is none.
 */
export function lockOnRefused(
  account: TemporaryAccount,
  party: Party,
  lockPpm: number,
  now: string,
): Refusal | undefined {
  return (
    acceptedStaysReleased(account, party, lockPpm) ??
    shipDeadlineMissed(account, party, lockPpm, now) ??
    payDeadlineBarsLock(account, party, lockPpm) ??
    disputeLost(account, party, lockPpm)
  );
}

/**
 * A buyer who accepted a deal released its lock for the seller's payment: turning it on again
 * would hold the seller's money with no verdict or deadline left to end it (helper-38's review).
 * A member's lock turned on after the buyer accepted would do the same (helper-94); one already
 * on comes off at the verdict deadline (deadlines.ts).
 */
function acceptedStaysReleased(
  account: TemporaryAccount,
  party: Party,
  lockPpm: number,
): Refusal | undefined {
  if (account.mode !== 'deal' || party.role === 'seller' || account.verdict !== 'accepted') return;
  if (lockPpm === 0 || (party.role === 'member' && lockPpm <= party.lockPpm)) return; // Letting go.
  return refusal(
    'verdict_already_given',
    party.role === 'buyer'
      ? 'You accepted this deal: your lock stays off so the seller can be paid.'
      : 'The buyer accepted this deal: a member may not lock it again, so the seller can be paid.',
  );
}

/** @internal Shared with deadlines.ts. */
export function eventSink(events: AccountEvent[], context: Context, version = 0): Emit {
  return (account, type, data) => {
    events.push({
      type,
      accountCode: account.code,
      seq: version + events.length + 1,
      at: context.now,
      actor: context.by,
      data,
    });
  };
}

/** @internal Shared with deadlines.ts. */
export function finish(
  account: TemporaryAccount,
  events: AccountEvent[],
  transfers: Transfer[],
  now: string,
): CommandOutcome {
  return {
    account: { ...account, version: account.version + events.length, updatedAt: now },
    events,
    transfers,
  };
}

/** The caller's party on a live (not dissolved) account, or why not. */
export function requireLive(account: TemporaryAccount, customerId: string): Result<Party> {
  const party = account.parties.find((candidate) => candidate.customerId === customerId);
  // Checked before dissolution so a stranger learns nothing about the account's state.
  if (!party) return fail('not_a_party', 'You are not a party to this temporary account.');
  if (account.status === 'dissolved') {
    return fail('account_dissolved', 'This temporary account is dissolved; nothing moves through it.');
  }
  return ok(party);
}

function requireBuyerVerdict(account: TemporaryAccount, input: Context): Result<Party> {
  const live = requireLive(account, input.by);
  if (!live.ok) return live;
  if (live.value.role !== 'buyer') {
    return fail('role_not_allowed', 'Only the buyer accepts or rejects the deal.');
  }
  const off = payersRefusal(account);
  if (off) return failWith(off);
  if (account.status !== 'funded') {
    return fail('account_awaiting_funds', 'The deal is not funded yet.');
  }
  if (account.verdict !== null) {
    return fail('verdict_already_given', `The buyer already ${account.verdict} this deal.`);
  }
  return live;
}

function checkUsualAccount(
  usual: UsualAccountView,
  ownerId: string,
  currency: CurrencyCode,
): Result<UsualAccountView> {
  if (usual.ownerId !== ownerId) {
    return fail('forbidden', 'That usual account is not yours.');
  }
  if (usual.currency !== currency) {
    return fail(
      'currency_mismatch',
      `The usual account is in ${usual.currency}; the temporary account is in ${currency}.`,
    );
  }
  return ok(usual);
}

/** @internal Shared with deadlines.ts: `customerId`'s party with `change` applied. */
export function withParty(
  account: TemporaryAccount,
  customerId: string,
  change: (party: Party) => Partial<Party>,
): TemporaryAccount {
  return {
    ...account,
    parties: account.parties.map((party) =>
      party.customerId === customerId ? { ...party, ...change(party) } : party,
    ),
  };
}

/** @internal Shared with deadlines.ts. */
export function withLock(account: TemporaryAccount, customerId: string, lockPpm: number): TemporaryAccount {
  return {
    ...account,
    parties: account.parties.map((party) => {
      if (party.customerId !== customerId) return party;
      const { heldMinor: _previous, heldRoundingMicroMinor: _rounding, ...rest } = party;
      if (lockPpm === 0 || lockPpm === lockPpmFull) return { ...rest, lockPpm };
      // A partial lock holds its share of the balance as it is when the lock is set. Setting
      // it again, or higher, never holds less than it held, nor setting it lower more: the same
      // share sent again dropped a hold the others' withdrawals had left at the whole balance
      // to half of it, and the others took the difference (helper-66's review).
      const before = exactHeldMicro(account, party);
      const share = shareMicro(account.balanceMinor, lockPpm);
      const held =
        lockPpm > party.lockPpm
          ? largerOf(before, share)
          : lockPpm < party.lockPpm
            ? smallerOf(before, share)
            : before;
      return withHold({ ...rest, lockPpm }, held);
    }),
  };
}

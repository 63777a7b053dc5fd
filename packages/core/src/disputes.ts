import {
  type AccountEvent,
  type CommandOutcome,
  eventSink,
  finish,
  type Party,
  settleMembersClaims,
  type TemporaryAccount,
  withLock,
} from './account.ts';
import { bankActor } from './deadlines.ts';
import { fail, ok, type Refusal, type Result, refusal } from './errors.ts';
import { lockPpmFull } from './share.ts';

/**
 * A dispute's way out ([0033] step 121: "or the matter is otherwise resolved"). A rejected deal
 * holds the money with both locks on until the seller releases its lock; a seller that never
 * does would hold it for ever. The bank decides instead: the winner's lock goes on and every
 * other party's lock (members' too) comes off, and every party's lock counts from then (a
 * release group ends), so only the winner can move the money: for the buyer a refund, for the
 * seller the payment. Nobody but the winner may turn a lock on again.
 */
export type DisputeWinner = 'buyer' | 'seller';

export interface DisputeResolution {
  resolvedFor: DisputeWinner;
  resolvedAt: string;
  reason: string | null;
}

export function resolveDispute(
  account: TemporaryAccount,
  input: { for: DisputeWinner; reason?: string | null; now: string },
): Result<CommandOutcome> {
  if (account.status === 'dissolved') {
    return fail('account_dissolved', 'This temporary account is dissolved; nothing moves through it.');
  }
  if (account.mode !== 'deal' || account.verdict !== 'rejected') {
    return fail('invalid_state', 'Only a deal the buyer rejected is a dispute to resolve.');
  }
  if (account.dispute) {
    return fail('dispute_resolved', `This dispute was resolved for the ${account.dispute.resolvedFor}.`);
  }
  const winner = account.parties.find((party) => party.role === input.for);
  if (!winner) return fail('invalid_state', `This deal has no ${input.for}.`);
  const events: AccountEvent[] = [];
  const emit = eventSink(events, { by: bankActor, now: input.now }, account.version);
  // Every lock counts from now on: under a release group the winner may be outside it, and its
  // lock would hold nobody back (the loser could take the money: helper-39's review).
  let next: TemporaryAccount = {
    ...account,
    releasePolicy: { kind: 'all_others' },
    dispute: { resolvedFor: input.for, resolvedAt: input.now, reason: input.reason ?? null },
  };
  emit(next, 'dispute.resolved', {
    for: input.for,
    reason: input.reason ?? null,
    ...(account.releasePolicy.kind === 'group' ? { releasePolicy: 'all_others' } : {}),
  });
  // The winner's lock on, every other lock off (members' too): only the winner can move the
  // money now, whatever locks were on or barred before (helper-38's review).
  for (const party of account.parties) {
    const lockPpm = party === winner ? lockPpmFull : 0;
    if (party.lockPpm === lockPpm) continue;
    next = withLock(next, party.customerId, lockPpm);
    emit(next, 'lock.changed', {
      customerId: party.customerId,
      role: party.role,
      fromLockPpm: party.lockPpm,
      lockPpm,
    });
  }
  // Decided for the buyer, the money goes back to who paid it in (`returnsToPayers`), the
  // members' claims fitted to what there is.
  if (input.for === 'buyer') next = settleMembersClaims(next);
  return ok(finish(next, events, [], input.now));
}

/** After a resolved dispute, nobody but the winner may turn a lock on. */
export function disputeLost(account: TemporaryAccount, party: Party, lockPpm: number): Refusal | undefined {
  const resolvedFor = account.dispute?.resolvedFor;
  if (!resolvedFor || lockPpm === 0) return;
  if (party.role === resolvedFor) return;
  return refusal(
    'dispute_resolved',
    `The bank resolved this dispute for the ${resolvedFor}: your lock stays off.`,
  );
}

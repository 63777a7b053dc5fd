import {
  type AccountEvent,
  type CommandOutcome,
  eventSink,
  finish,
  type Party,
  type TemporaryAccount,
  withLock,
} from './account.ts';
import { bankActor } from './deadlines.ts';
import { fail, ok, type Result } from './errors.ts';

/**
 * A dispute's way out ([0033] step 121: "or the matter is otherwise resolved"). A rejected deal
 * holds the money with both locks on until the seller releases its lock; a seller that never
 * does would hold it for ever. The bank decides instead: for the buyer, the seller's lock comes
 * off (the buyer takes the money back); for the seller, the buyer's lock comes off (the seller
 * takes it). The losing side may not turn its lock on again. Members' locks are untouched.
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
  const loserRole = input.for === 'buyer' ? 'seller' : 'buyer';
  const events: AccountEvent[] = [];
  const emit = eventSink(events, { by: bankActor, now: input.now }, account.version);
  let next: TemporaryAccount = {
    ...account,
    dispute: { resolvedFor: input.for, resolvedAt: input.now, reason: input.reason ?? null },
  };
  emit(next, 'dispute.resolved', { for: input.for, reason: input.reason ?? null });
  for (const party of account.parties.filter((candidate) => candidate.role === loserRole)) {
    if (party.lockPpm === 0) continue;
    next = withLock(next, party.customerId, 0);
    emit(next, 'lock.changed', {
      customerId: party.customerId,
      role: party.role,
      fromLockPpm: party.lockPpm,
      lockPpm: 0,
    });
  }
  return ok(finish(next, events, [], input.now));
}

/** The side a resolved dispute went against may not turn its lock on again. */
export function disputeLost(
  account: TemporaryAccount,
  party: Party,
  lockPpm: number,
): Result<never> | undefined {
  const resolvedFor = account.dispute?.resolvedFor;
  if (!resolvedFor || lockPpm === 0) return;
  const loserRole = resolvedFor === 'buyer' ? 'seller' : 'buyer';
  if (party.role !== loserRole) return;
  return fail(
    'dispute_resolved',
    `The bank resolved this dispute for the ${resolvedFor}: your lock stays off.`,
  );
}

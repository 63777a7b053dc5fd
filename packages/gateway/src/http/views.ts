import {
  amountDueMinor,
  type CommissionSchedule,
  cancelRefused,
  creationFeeFor,
  formatLockShare,
  heldFromOthersMinor,
  lockOnRefused,
  lockPpmFull,
  shortfallMinor as missingMinor,
  movableMinor,
  returnsToPayers,
  shipRefused,
  type TemporaryAccount,
} from '@lockstep/core';
import type { InvoiceRecord, StoredEvent, StoreReader } from '../storage/store.ts';
import type { EventView, InvoiceView, TemporaryAccountView } from './schemas.ts';

/** Display names change rarely; cache them so a status read costs no extra queries. */
const displayNames = new Map<string, string>();

async function displayName(reader: CustomerReader, customerId: string): Promise<string> {
  const cached = displayNames.get(customerId);
  if (cached !== undefined) return cached;
  const customer = await reader.getCustomer(customerId);
  const name = customer?.displayName ?? customerId;
  if (displayNames.size > 50_000) displayNames.clear();
  displayNames.set(customerId, name);
  return name;
}

/** Where `accountView` reads the parties' display names (cached) from. */
export type CustomerReader = Pick<StoreReader, 'getCustomer'>;

/** The Drawing 9 status of a temporary account as the caller sees it. */
export async function accountView(
  reader: CustomerReader,
  account: TemporaryAccount,
  viewerId: string,
  now = new Date().toISOString(),
): Promise<TemporaryAccountView> {
  const parties = [];
  for (const party of account.parties) {
    parties.push({
      customerId: party.customerId,
      displayName: await displayName(reader, party.customerId),
      role: party.role,
      lock: formatLockShare(party.lockPpm),
      lockPpm: party.lockPpm,
      heldMinor: heldFromOthersMinor(account, party),
      group: party.group,
    });
  }
  const shortfallMinor = missingMinor(account);
  return {
    object: 'temporary_account',
    code: account.code,
    currency: account.currency,
    balanceMinor: account.balanceMinor,
    requiredMinor: account.requiredMinor,
    status: account.status,
    mode: account.mode,
    parties,
    releasePolicy: account.releasePolicy,
    invoiceId: account.invoiceId,
    shipment: account.shipment,
    verdict: account.verdict,
    deadlines: {
      shipBy: account.deadlines?.shipBy ?? null,
      verdictBy: account.deadlines?.verdictBy ?? null,
      shipMissed: account.deadlines?.shipMissed ?? false,
      payBy: account.deadlines?.payBy ?? null,
      payMissed: account.deadlines?.payMissed ?? false,
      cancelled: account.deadlines?.cancelled ?? false,
      verdictMissed: account.deadlines?.verdictMissed ?? false,
    },
    dispute: account.dispute ?? null,
    // A deal that is off is never funded, whatever it holds (helper-87).
    funding: { sufficient: shortfallMinor === 0 && !returnsToPayers(account), shortfallMinor },
    movableMinor: movableMinor(account, viewerId),
    viewerRole: account.parties.find((party) => party.customerId === viewerId)?.role ?? null,
    mayLock: mayLock(account, viewerId, now),
    mayCancel: cancelRefused(account, viewerId) === undefined,
    mayShip: mayShip(account, viewerId, now),
    // Charged with a first pay-in only: none can come once the account is closed to them, and
    // a cancelled deal never paid into said a fee was still due (helper-90).
    creationFeeDueMinor:
      account.status === 'dissolved' || returnsToPayers(account) ? 0 : account.creationFeeDueMinor,
    amountDueMinor: amountDueMinor(account) ?? null,
    version: account.version,
    createdAt: account.createdAt,
    updatedAt: account.updatedAt,
  };
}

/** Whether the viewer may mark the deal shipped now: the rules `markShipped` applies (core). */
function mayShip(account: TemporaryAccount, viewerId: string, now: string): boolean {
  const party = account.parties.find((candidate) => candidate.customerId === viewerId);
  return !!party && account.status !== 'dissolved' && !shipRefused(account, party, now);
}

/** Whether the viewer may turn its lock on now: the rules `setLock` applies (core). */
function mayLock(account: TemporaryAccount, viewerId: string, now: string): boolean {
  const party = account.parties.find((candidate) => candidate.customerId === viewerId);
  return !!party && account.status !== 'dissolved' && !lockOnRefused(account, party, lockPpmFull, now);
}

export function eventView(event: StoredEvent): EventView {
  return {
    object: 'event',
    id: event.id,
    type: event.type,
    accountCode: event.accountCode,
    seq: event.seq,
    at: event.at,
    actor: event.actor,
    data: event.data,
  };
}

/**
 * An invoice as its merchant, or a buyer verifying it, sees it: with the bank's fee the buyer
 * pays on top of the amount at today's schedule (the widget chooses an account for both).
 */
export function invoiceView(
  record: InvoiceRecord,
  payeeName: string,
  withToken: boolean,
  commission: CommissionSchedule,
): InvoiceView {
  return {
    object: 'invoice',
    id: record.id,
    merchantId: record.merchantId,
    payeeName,
    amountMinor: record.amountMinor,
    currency: record.currency,
    creationFeeMinor: creationFeeFor(commission, record.currency, record.amountMinor),
    orderReference: record.orderReference,
    description: record.description,
    payeeContact: record.payeeContact,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    temporaryAccountCode: record.temporaryAccountCode,
    ...(withToken ? { token: record.token } : {}),
  };
}

export { lockPpmFull };

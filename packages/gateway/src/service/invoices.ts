import { type CurrencyCode, LockstepError } from '@lockstep/core';
import { newId } from '../ids.ts';
import type { InvoiceRecord, MerchantRecord, StoreReader, StoreTx } from '../storage/store.ts';
import type { KeyRing } from './keys.ts';

export interface InvoiceInput {
  amountMinor: number;
  currency: CurrencyCode;
  orderReference: string;
  description: string;
  payeeContact: string;
  expiresInSeconds?: number;
}

const defaultLifetimeSeconds = 24 * 60 * 60;

/**
 * Signed electronic invoices (step 102): the merchant asks, the gateway signs with its own key,
 * so the buyer's bank can tell the invoice is genuine and unchanged. An invoice creates at most
 * one temporary account (`claimInvoice`).
 */
export class Invoices {
  private readonly keys: KeyRing;
  private readonly clock: () => Date;

  constructor(keys: KeyRing, now: () => Date = () => new Date()) {
    this.keys = keys;
    this.clock = now;
  }

  /**
   * Signs a new invoice with the active key: the slow work, done outside any store unit so a
   * batch of commits (or of reads) never waits on a signature.
   */
  async prepare(
    merchant: MerchantRecord | null,
    input: InvoiceInput,
  ): Promise<{ record: InvoiceRecord; payeeName: string }> {
    if (!merchant) throw new LockstepError('forbidden', 'Only merchants issue invoices.');
    const merchantId = merchant.customerId;
    const now = this.clock();
    const expiresAt = new Date(now.getTime() + (input.expiresInSeconds ?? defaultLifetimeSeconds) * 1000);
    const id = newId('inv');
    const token = await this.keys.signInvoice(
      {
        merchantId,
        payeeName: merchant.name,
        amountMinor: input.amountMinor,
        currency: input.currency,
        orderReference: input.orderReference,
        description: input.description,
        payeeContact: input.payeeContact,
      },
      id,
      expiresAt,
    );
    const record: InvoiceRecord = {
      id,
      merchantId,
      amountMinor: input.amountMinor,
      currency: input.currency,
      orderReference: input.orderReference,
      description: input.description,
      payeeContact: input.payeeContact,
      createdAt: now.toISOString(),
      expiresAt: expiresAt.toISOString(),
      token,
      temporaryAccountCode: null,
    };
    return { record, payeeName: merchant.name };
  }

  /** Stores a prepared invoice (inside the request's transaction). */
  async insert(tx: StoreTx, prepared: { record: InvoiceRecord; payeeName: string }) {
    await tx.insertInvoice(prepared.record);
    return prepared;
  }

  /** Checks the signature only (no store access), so it can run before a transaction. */
  verifySignature(token: string): Promise<InvoiceClaims> {
    return this.keys.verifyInvoice(token);
  }

  /** The stored invoice that verified claims name; the terms must match exactly. */
  async match(
    reader: StoreReader,
    claims: InvoiceClaims,
  ): Promise<{ record: InvoiceRecord; payeeName: string }> {
    const record = await reader.getInvoice(claims.sub);
    if (
      !record ||
      record.merchantId !== claims.merchantId ||
      record.amountMinor !== claims.amountMinor ||
      record.currency !== claims.currency ||
      record.orderReference !== claims.orderReference
    ) {
      throw new LockstepError('invoice_invalid', 'This invoice is not a valid signed invoice.');
    }
    const merchant = await reader.getMerchant(record.merchantId);
    return { record, payeeName: merchant?.name ?? String(claims.payeeName) };
  }

  /**
   * As `match`, and refuses an invoice that already created its temporary account, or expired by
   * `now` (the unit's time): its signature's expiry was checked before the unit ran, so a
   * payment checked just before the invoice expired could open an account after (helper-91),
   * when a shop may already have issued its order a new invoice.
   */
  async verifyForPayment(reader: StoreReader, claims: InvoiceClaims, now: string): Promise<InvoiceRecord> {
    const { record } = await this.match(reader, claims);
    if (Date.parse(record.expiresAt) <= Date.parse(now)) {
      throw new LockstepError('invoice_expired', 'This invoice has expired.');
    }
    if (record.temporaryAccountCode !== null) {
      throw new LockstepError(
        'invoice_already_used',
        'This invoice has already been used: a temporary account was opened for it.',
        {
          temporaryAccountCode: null,
        },
      );
    }
    return record;
  }
}

export type InvoiceClaims = Awaited<ReturnType<KeyRing['verifyInvoice']>>;

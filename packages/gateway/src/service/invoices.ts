import { type CurrencyCode, LockstepError } from '@lockstep/core';
import { newId } from '../ids.ts';
import type { InvoiceRecord, StoreReader, StoreTx } from '../storage/store.ts';
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

  async create(
    tx: StoreTx,
    merchantId: string,
    input: InvoiceInput,
  ): Promise<{ record: InvoiceRecord; payeeName: string }> {
    const merchant = await tx.getMerchant(merchantId);
    if (!merchant) throw new LockstepError('forbidden', 'Only merchants issue invoices.');
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
    await tx.insertInvoice(record);
    return { record, payeeName: merchant.name };
  }

  /**
   * Verifies a token and returns the stored invoice it names. The signed claims must match the
   * stored record exactly: a valid signature over other terms is refused too.
   */
  async verify(reader: StoreReader, token: string): Promise<{ record: InvoiceRecord; payeeName: string }> {
    const claims = await this.keys.verifyInvoice(token);
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

  /** As `verify`, and refuses an invoice that already created its temporary account. */
  async verifyForPayment(reader: StoreReader, token: string): Promise<InvoiceRecord> {
    const { record } = await this.verify(reader, token);
    if (record.temporaryAccountCode !== null) {
      throw new LockstepError('invoice_already_used', 'This invoice has already been paid.', {
        temporaryAccountCode: null,
      });
    }
    return record;
  }
}

import { type CurrencyCode, LockstepError, parseAmountMinor, type TemporaryAccount } from '@lockstep/core';
import { newId, randomToken } from '../ids.ts';
import type { LedgerBalance, StoreReader } from '../storage/store.ts';
import { createApiKey, hashPassword } from './auth.ts';
import { type Bank, requestHash } from './bank.ts';

/**
 * The bank operator's actions (the CLI and the demo seed use these): customers, merchants,
 * usual accounts, API keys, remittances from outside, and the reconciliation report.
 */
export class Admin {
  private readonly bank: Bank;

  constructor(bank: Bank) {
    this.bank = bank;
  }

  async createCustomer(input: { userId: string; displayName: string; password: string }) {
    checkNewCustomer(input);
    const passwordHash = await hashPassword(input.password);
    const record = {
      id: newId('cus'),
      userId: input.userId,
      displayName: input.displayName,
      passwordHash,
      failedLoginCount: 0,
      loginLockedUntil: null,
      createdAt: this.bank.now(),
    };
    await this.bank.store.transaction(async (tx) => {
      if (await tx.getCustomerByUserId(input.userId)) {
        throw new LockstepError('conflict', `The user ID "${input.userId}" is taken.`);
      }
      await tx.insertCustomer(record);
    });
    return record;
  }

  async createUsualAccount(ownerId: string, currency: CurrencyCode, name = 'Ordinary deposit') {
    const record = { id: newId('acc'), ownerId, currency, name, createdAt: this.bank.now() };
    await this.bank.store.transaction(async (tx) => {
      if (!(await tx.getCustomer(ownerId))) throw new LockstepError('not_found', 'No such customer.');
      await tx.insertUsualAccount(record);
    });
    return record;
  }

  /**
   * Makes a customer a merchant with allowed widget origins, and issues its two keys. Only once:
   * on a merchant it overwrote the name and origins (a shop's checkout origin vanished) and
   * added another live key pair; `updateMerchant` and `createApiKey` do those on purpose.
   */
  async createMerchant(customerId: string, input: { name: string; allowedOrigins: string[] }) {
    checkMerchantChange(input);
    const allowedOrigins = normalizeOrigins(input.allowedOrigins);
    return this.bank.store.transaction(async (tx) => {
      if (!(await tx.getCustomer(customerId))) throw new LockstepError('not_found', 'No such customer.');
      const now = this.bank.now();
      // Inserted or refused in one statement: a check, then an upsert, let two concurrent
      // creations on PostgreSQL both pass the check and both mint live keys.
      const created = await tx.insertMerchant({
        customerId,
        name: input.name,
        allowedOrigins,
        createdAt: now,
      });
      if (!created) {
        throw new LockstepError(
          'conflict',
          `${customerId} is already a merchant (merchant:update changes its name or origins, key:create issues keys).`,
        );
      }
      const secret = await createApiKey(tx, customerId, 'secret', now);
      const publishable = await createApiKey(tx, customerId, 'publishable', now);
      return { secretKey: secret.key, publishableKey: publishable.key };
    });
  }

  /**
   * Changes a merchant's name and/or its allowed origins (the list is replaced), nothing else:
   * no keys are issued or revoked.
   */
  async updateMerchant(customerId: string, input: { name?: string; allowedOrigins?: string[] }) {
    checkMerchantChange(input);
    const allowedOrigins = input.allowedOrigins && normalizeOrigins(input.allowedOrigins);
    return this.bank.store.transaction(async (tx) => {
      const merchant = await tx.getMerchantForUpdate(customerId);
      if (!merchant) throw new LockstepError('not_found', 'No such merchant.');
      const updated = {
        ...merchant,
        name: input.name ?? merchant.name,
        allowedOrigins: allowedOrigins ?? merchant.allowedOrigins,
      };
      await tx.upsertMerchant(updated);
      return updated;
    });
  }

  /** Lookups for the demo seed, which reuses what an earlier seed created. */
  async findCustomer(userId: string) {
    return this.bank.store.read((reader) => reader.getCustomerByUserId(userId));
  }

  async getMerchant(customerId: string) {
    return this.bank.store.read((reader) => reader.getMerchant(customerId));
  }

  async listUsualAccounts(ownerId: string) {
    return this.bank.store.read((reader) => reader.listUsualAccounts(ownerId));
  }

  async createApiKey(merchantId: string, kind: 'secret' | 'publishable') {
    return this.bank.store.transaction(async (tx) => {
      if (!(await tx.getMerchant(merchantId))) throw new LockstepError('not_found', 'No such merchant.');
      return createApiKey(tx, merchantId, kind, this.bank.now());
    });
  }

  /** A merchant's API keys as an operator may see them: never their hashes. */
  async listApiKeys(merchantId: string) {
    return this.bank.store.read(async (reader) => {
      if (!(await reader.getMerchant(merchantId))) throw new LockstepError('not_found', 'No such merchant.');
      return (await reader.listApiKeys(merchantId)).map(({ id, kind, prefix, createdAt, revokedAt }) => ({
        id,
        kind,
        prefix,
        createdAt,
        revokedAt,
      }));
    });
  }

  /**
   * Revokes one of a merchant's keys. A key that is not this merchant's is an error, not
   * `false`: a "revoke the leaked key" script with a wrong id reported success. Revoking a
   * revoked key again changes nothing and says so (`alreadyRevoked`).
   */
  async revokeApiKey(
    merchantId: string,
    keyId: string,
  ): Promise<{ keyId: string; revoked: true; alreadyRevoked: boolean; revokedAt: string }> {
    return this.bank.store.transaction(async (tx) => {
      if (!(await tx.getMerchant(merchantId))) throw new LockstepError('not_found', 'No such merchant.');
      const key = (await tx.listApiKeys(merchantId)).find((record) => record.id === keyId);
      if (!key) throw new LockstepError('not_found', 'No such key for this merchant.');
      if (key.revokedAt !== null) {
        return { keyId, revoked: true, alreadyRevoked: true, revokedAt: key.revokedAt };
      }
      const now = this.bank.now();
      if (!(await tx.revokeApiKey(keyId, merchantId, now))) {
        // Revoked between the read and the update (another process): it is revoked all the same.
        const again = (await tx.listApiKeys(merchantId)).find((record) => record.id === keyId);
        return { keyId, revoked: true, alreadyRevoked: true, revokedAt: again?.revokedAt ?? now };
      }
      return { keyId, revoked: true, alreadyRevoked: false, revokedAt: now };
    });
  }

  /**
   * Cash in from outside the bank into a usual account (external → usual). `reference` (the
   * operator's slip number, say) is the idempotency key: running the same top-up again after an
   * unknown outcome (a connection lost during the commit) applies it at most once. Without one,
   * a fresh reference is used.
   */
  async topUp(
    usualAccountId: string,
    amountMinor: number,
    reference?: string,
  ): Promise<{ reference: string; replayed: boolean }> {
    const amount = parseAmountMinor(amountMinor);
    if (!amount.ok) throw amount.error;
    const key = reference ?? `topup_${randomToken(16)}`;
    const idempotency = {
      key,
      requestHash: requestHash('TOP-UP', usualAccountId, String(amount.value)),
    };
    const result = await this.bank.mutate('operator', idempotency, async (unit) => {
      await this.bank.topUp(unit, usualAccountId, amount.value);
      return { status: 200, body: null };
    });
    return { reference: key, replayed: result.replayed };
  }

  /**
   * Money remitted from outside the bank (another bank's transfer, cash at the counter) into a
   * temporary account, for its buyer: how a buyer without a usual account funds a deal that
   * awaits a remittance (rule 7). The creation fee still due is kept from it, the rest credited
   * (core `remit`). `reference` (the slip number) makes a rerun after an unknown outcome apply
   * it at most once, kept for good as a top-up's is; `replayed` says a rerun changed nothing.
   * Refused (over what the deal still needs, a dissolved account, no such account), nothing
   * changes and the reference stays free.
   */
  async remit(code: string, amountMinor: number, reference?: string): Promise<Remittance> {
    const amount = parseAmountMinor(amountMinor);
    if (!amount.ok) throw amount.error;
    const key = reference ?? `remit_${randomToken(16)}`;
    const idempotency = { key, requestHash: requestHash('REMIT', code, String(amount.value)) };
    const result = await this.bank.mutate(
      'operator',
      idempotency,
      async (unit) => {
        const { account, transfers } = await this.bank.remit(unit, code, amount.value);
        const feeMinor = transfers
          .filter((transfer) => transfer.purpose === 'creation_fee')
          .reduce((sum, transfer) => sum + transfer.amountMinor, 0);
        const body: Omit<Remittance, 'reference' | 'replayed'> = {
          code: account.code,
          remittedMinor: amount.value,
          creditedMinor: amount.value - feeMinor,
          feeMinor,
          balanceMinor: account.balanceMinor,
          requiredMinor: account.requiredMinor,
          status: account.status,
        };
        return { status: 200, body };
      },
      { account: code },
    );
    return { reference: key, ...result.body, replayed: result.replayed };
  }

  /**
   * Resolves a dispute (a deal the buyer rejected) for the buyer or the seller: the losing
   * side's lock comes off for good, so the winner can take the money (docs/api.md, Disputes).
   */
  async resolveDispute(code: string, forParty: string, reason?: string): Promise<TemporaryAccount> {
    if (forParty !== 'buyer' && forParty !== 'seller') {
      throw new LockstepError('validation_failed', 'A dispute is resolved for the buyer or the seller.', {
        field: 'for',
      });
    }
    return this.bank.resolveDispute(code, { for: forParty, reason: reason ?? null });
  }

  /** Proves the books balance: every ledger account summed per currency is exactly zero. */
  async reconcile(): Promise<Reconciliation> {
    return this.bank.read((reader) => reconcile(reader));
  }
}

/**
 * A new customer's user ID and password, as the bank takes them (validation_failed otherwise);
 * the CLI checks them before it opens the store. A password read later (stdin) is checked then.
 */
export function checkNewCustomer(input: { userId: string; password?: string }): void {
  if (!/^[A-Za-z0-9._@-]{3,64}$/.test(input.userId)) {
    throw new LockstepError('validation_failed', 'A user ID is 3-64 of A-Z, a-z, 0-9, ".", "_", "@", "-".');
  }
  if (input.password !== undefined && input.password.length < 8) {
    throw new LockstepError('validation_failed', 'A password has at least 8 characters.');
  }
}

/** A merchant's name (not blank) and origins, as given to create or change it. */
export function checkMerchantChange(input: { name?: string; allowedOrigins?: string[] }): void {
  if (input.name === undefined && input.allowedOrigins === undefined) {
    throw new LockstepError('validation_failed', 'Nothing to change: give a name and/or the origins.');
  }
  if (input.name !== undefined && input.name.trim() === '') {
    throw new LockstepError('validation_failed', 'A merchant name is not empty.');
  }
  if (input.allowedOrigins) normalizeOrigins(input.allowedOrigins);
}

/** Origins stored exactly as browsers send them (lower case, no default port, no path); no wildcards. */
export function normalizeOrigins(origins: string[]): string[] {
  return origins.map((origin) => {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (
      !url ||
      (url.protocol !== 'https:' && url.protocol !== 'http:') ||
      url.hostname.includes('*') ||
      url.username ||
      url.password ||
      !/^https?:\/\/[^/?#\s]+\/?$/i.test(origin)
    ) {
      throw new LockstepError('validation_failed', `"${origin}" is not an origin (scheme://host[:port]).`);
    }
    return url.origin;
  });
}

/** What the operator is told of a remittance (as it was when first applied, on a rerun). */
export interface Remittance {
  reference: string;
  code: string;
  /** What arrived from outside the bank. */
  remittedMinor: number;
  /** What the temporary account received: the remittance less the creation fee kept from it. */
  creditedMinor: number;
  feeMinor: number;
  balanceMinor: number;
  requiredMinor: number;
  status: TemporaryAccount['status'];
  /** True when this reference was applied before: this run changed nothing. */
  replayed: boolean;
}

export interface Reconciliation {
  balanced: boolean;
  perCurrency: Array<{
    currency: CurrencyCode;
    usualMinor: number;
    temporaryMinor: number;
    feesMinor: number;
    externalMinor: number;
    totalMinor: number;
  }>;
  negativeAccounts: LedgerBalance[];
  temporaryMismatches: string[];
  /** Ledger accounts whose balance is not the sum of their postings (money moved off the books). */
  ledgerMismatches: string[];
  unbalancedEntries: string[];
}

export async function reconcile(reader: StoreReader): Promise<Reconciliation> {
  const balances = await reader.listBalances();
  const rows = new Map<CurrencyCode, Reconciliation['perCurrency'][number]>();
  for (const balance of balances) {
    let row = rows.get(balance.currency);
    if (!row) {
      row = {
        currency: balance.currency,
        usualMinor: 0,
        temporaryMinor: 0,
        feesMinor: 0,
        externalMinor: 0,
        totalMinor: 0,
      };
      rows.set(balance.currency, row);
    }
    const kind = balance.ledgerKey.split(':')[0];
    if (kind === 'usual') row.usualMinor += balance.balanceMinor;
    else if (kind === 'temporary') row.temporaryMinor += balance.balanceMinor;
    else if (kind === 'fees') row.feesMinor += balance.balanceMinor;
    else row.externalMinor += balance.balanceMinor;
    row.totalMinor += balance.balanceMinor;
  }
  const negativeAccounts = balances.filter((b) => b.balanceMinor < 0 && !b.ledgerKey.startsWith('external:'));
  const temporaryMismatches: string[] = [];
  for (const balance of balances) {
    if (!balance.ledgerKey.startsWith('temporary:')) continue;
    const code = balance.ledgerKey.slice('temporary:'.length);
    const account = await reader.getTemporaryAccount(code);
    if (!account || account.balanceMinor !== balance.balanceMinor) temporaryMismatches.push(code);
  }
  const unbalancedEntries: string[] = [];
  // Each account's postings, summed: its balance must be exactly that (a balance changed without
  // a journal entry kept every total at zero, so it passed: helper-43's review).
  const postedMinor = new Map<string, number>();
  let afterId: string | undefined;
  for (;;) {
    const page = await reader.listJournal({ afterId, limit: 1000 });
    for (const entry of page) {
      const sums = new Map<string, number>();
      for (const posting of entry.postings) {
        sums.set(posting.currency, (sums.get(posting.currency) ?? 0) + posting.amountMinor);
        postedMinor.set(posting.ledgerKey, (postedMinor.get(posting.ledgerKey) ?? 0) + posting.amountMinor);
      }
      if ([...sums.values()].some((sum) => sum !== 0)) unbalancedEntries.push(entry.id);
    }
    if (page.length < 1000) break;
    afterId = page[page.length - 1]?.id;
  }
  const ledgerMismatches: string[] = balances
    .filter((balance) => (postedMinor.get(balance.ledgerKey) ?? 0) !== balance.balanceMinor)
    .map((balance) => balance.ledgerKey);
  const known = new Set<string>(balances.map((balance) => balance.ledgerKey));
  for (const [key, sum] of postedMinor) if (!known.has(key) && sum !== 0) ledgerMismatches.push(key);
  const perCurrency = [...rows.values()];
  return {
    balanced:
      perCurrency.every((row) => row.totalMinor === 0) &&
      negativeAccounts.length === 0 &&
      temporaryMismatches.length === 0 &&
      ledgerMismatches.length === 0 &&
      unbalancedEntries.length === 0,
    perCurrency,
    negativeAccounts,
    temporaryMismatches,
    ledgerMismatches,
    unbalancedEntries,
  };
}

import {
  accept,
  type CommandOutcome,
  type CommissionSchedule,
  type CurrencyCode,
  cancelDeal,
  checkFunds,
  createAccount,
  type DeadlinePolicy,
  defaultDeadlinePolicy,
  deposit,
  dissolve,
  LockstepError,
  ledgerKey,
  markShipped,
  type PartySpec,
  type ReleasePolicy,
  type Result,
  reject,
  remit,
  requireLive,
  resolveDispute,
  setLock,
  type TemporaryAccount,
  type Transfer,
  type UsualAccountView,
  underDeadlines,
  withdraw,
} from '@lockstep/core';
import { newAccountCode, newSortableId, sha256Hex } from '../ids.ts';
import type { Store, StoredEvent, StoreReader, StoreTx } from '../storage/store.ts';

/**
 * The gateway's use cases: each command runs in one store transaction together with its
 * idempotency record, its events, its webhook outbox rows and its ledger entry, so either all
 * of it is durable or none of it is. The rules themselves live in `@lockstep/core`; this layer
 * loads state, checks who may act, calls the rule and stores what it returns.
 */

/** Who is calling. A merchant is a bank customer (the seller), so both carry a customerId. */
export type Principal =
  | { kind: 'customer'; customerId: string }
  | { kind: 'merchant'; customerId: string; apiKeyId: string };

export interface Idempotency {
  key: string;
  /** `requestHash` of the request: the same key with another request is refused. */
  requestHash: string;
  /**
   * The hash releases before 2026-11-27 stored: of the body's exact bytes. A key stored then
   * and retried after an upgrade is still the same request (the rows live 7 days, then this
   * can go).
   */
  exactBytesHash?: () => string;
}

export interface MutationResult<T> {
  status: number;
  body: T;
  /** `body` as JSON: the exact bytes stored for replays, sent as they are. */
  bodyJson: string;
  /** True when this answer is the stored answer of an earlier request with the same key. */
  replayed: boolean;
}

/** What a unit of work collects besides its writes: the events to publish once durable. */
export interface Unit {
  tx: StoreTx;
  events: StoredEvent[];
  /** Whether the unit queued webhook deliveries (only then is the worker woken). */
  outboxQueued: boolean;
  /** The unit's instant, read once: every timestamp the command writes is this one. */
  now: string;
}

/** What became durable in one unit, for the live listeners of this process. */
export interface Committed {
  events: StoredEvent[];
  outboxQueued: boolean;
}

export interface BankOptions {
  store: Store;
  commission: CommissionSchedule;
  now?: () => Date;
  /** How long a seller has to ship, and a buyer to give a verdict (default 14 days each). */
  deadlines?: DeadlinePolicy;
  /** Called after a unit with events is durable (SSE streams; the webhook worker if it queued deliveries). */
  onCommitted?: (committed: Committed) => void;
}

export const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

/** The scope of the bank's own units (no idempotency key is ever stored under it). */
const bankActorScope = 'bank';

export class Bank {
  readonly store: Store;
  readonly commission: CommissionSchedule;
  readonly deadlines: DeadlinePolicy;
  private readonly clock: () => Date;
  private readonly onCommitted: (committed: Committed) => void;

  constructor(options: BankOptions) {
    this.store = options.store;
    this.commission = options.commission;
    this.deadlines = options.deadlines ?? defaultDeadlinePolicy;
    this.clock = options.now ?? (() => new Date());
    this.onCommitted = options.onCommitted ?? (() => {});
  }

  now(): string {
    return this.clock().toISOString();
  }

  /**
   * Runs a mutating request once. With an idempotency key, the first answer is stored in the
   * same transaction as the command's writes; a retry gets that answer back, and the same key
   * with a different request is refused. Failures are not stored: a failed command changed
   * nothing, so retrying it is safe.
   */
  async mutate<T>(
    scope: string,
    idempotency: Idempotency | undefined,
    work: (unit: Unit) => Promise<{ status: number; body: T }>,
    /**
     * What the command will read, so a store with round trips may fetch it early: the temporary
     * account it acts on, and whose usual accounts it moves money from or to.
     */
    options: { account?: string; usualAccountsOf?: string } = {},
  ): Promise<MutationResult<T>> {
    if (idempotency && !idempotencyKeyPattern.test(idempotency.key)) {
      throw new LockstepError(
        'idempotency_key_invalid',
        'An Idempotency-Key is 1-255 printable ASCII characters.',
      );
    }
    let committed: Committed = { events: [], outboxQueued: false };
    const result = await this.store.transaction(async (tx) => {
      // The account is asked for after the idempotency lookup is sent (so after its lock) and
      // before it is awaited: a store with round trips sends both at once.
      const lookup = idempotency ? tx.getIdempotency(scope, idempotency.key) : undefined;
      if (options.account) tx.prefetchAccount?.(options.account);
      if (options.usualAccountsOf) tx.prefetchUsualAccounts?.(options.usualAccountsOf);
      if (idempotency) {
        const previous = await lookup;
        if (previous) {
          if (
            previous.requestHash !== idempotency.requestHash &&
            previous.requestHash !== idempotency.exactBytesHash?.()
          ) {
            throw new LockstepError(
              'idempotency_key_reused',
              'This Idempotency-Key was used with a different request.',
            );
          }
          return {
            status: previous.statusCode,
            body: JSON.parse(previous.responseBody) as T,
            bodyJson: previous.responseBody,
            replayed: true,
          };
        }
      }
      const unit: Unit = { tx, events: [], outboxQueued: false, now: this.now() };
      const answer = await work(unit);
      const bodyJson = JSON.stringify(answer.body);
      if (idempotency) {
        await tx.putIdempotency({
          scope,
          key: idempotency.key,
          requestHash: idempotency.requestHash,
          statusCode: answer.status,
          responseBody: bodyJson,
          createdAt: unit.now,
        });
      }
      committed = { events: unit.events, outboxQueued: unit.outboxQueued };
      return { ...answer, bodyJson, replayed: false };
    });
    if (committed.events.length > 0) this.onCommitted(committed);
    return result;
  }

  read<T>(work: (reader: StoreReader) => Promise<T>): Promise<T> {
    return this.store.read(work);
  }

  /** A read of one store call (see `Store.lookup`). */
  lookup<T>(work: (reader: StoreReader) => Promise<T>): Promise<T> {
    return this.store.lookup(work);
  }

  // -------------------------------------------------------------------------------------------
  // Temporary accounts

  /**
   * Creates a temporary account (steps 103, 111-113; Drawing 8; or by the seller). Funding comes
   * from `fundFrom`, or by default from the buyer's usual account in the deal's currency.
   */
  async createTemporaryAccount(
    unit: Unit,
    principal: Principal,
    input: {
      currency: CurrencyCode;
      requiredMinor: number;
      parties: PartySpec[];
      mode?: TemporaryAccount['mode'];
      releasePolicy?: ReleasePolicy;
      invoiceId?: string | null;
      fundFromAccountId?: string | null;
      /** The buyer opens it awaiting funds and pays in later (rule 7): nothing is taken now. */
      payLater?: boolean;
    },
  ): Promise<TemporaryAccount> {
    const { tx } = unit;
    const by = principal.customerId;
    for (const party of input.parties) {
      if (!(await tx.getCustomer(party.customerId))) {
        throw new LockstepError('unknown_party', 'A listed party is not a customer of this bank.');
      }
    }
    const creatorIsBuyer = input.parties.some((party) => party.customerId === by && party.role === 'buyer');
    let fundFrom: UsualAccountView | null = null;
    if (creatorIsBuyer && !input.payLater) {
      fundFrom = input.fundFromAccountId
        ? await this.ownUsualAccount(tx, by, input.fundFromAccountId)
        : await this.defaultUsualAccount(tx, by, input.currency, false);
      // Funded now or awaiting funds is decided on the balance as it is, held until the commit:
      // concurrent creates on PostgreSQL decided on a stale one, and the journal then refused
      // the funding with 402 where the deal should have awaited funds (helper-45's review).
      if (fundFrom && tx.lockUsualBalance) {
        fundFrom = { ...fundFrom, balanceMinor: await tx.lockUsualBalance(fundFrom.id) };
      }
    }
    const code = newAccountCode();
    const created = expect(
      createAccount({
        code,
        by,
        now: unit.now,
        currency: input.currency,
        requiredMinor: input.requiredMinor,
        parties: input.parties,
        mode: input.mode,
        releasePolicy: input.releasePolicy,
        invoiceId: input.invoiceId ?? null,
        fundFrom,
        commission: this.commission,
      }),
    );
    // The deadlines its first state starts (one awaiting funds is paid up by `payBy`), told now.
    const started = expect(underDeadlines(created.account, this.deadlines, unit.now));
    const outcome = { ...created, account: started.account, events: [...created.events, ...started.events] };
    // Paying an invoice means paying it: an invoice is claimed by an account without the money
    // only when the buyer asked to pay later (rule 7), never as a quiet fallback of "Pay".
    if (creatorIsBuyer && input.invoiceId && !input.payLater && outcome.account.status !== 'funded') {
      throw new LockstepError(
        'insufficient_funds',
        'The paying account does not hold the invoiced amount and fee.',
        {
          requiredMinor: input.requiredMinor + outcome.account.creationFeeDueMinor,
        },
      );
    }
    await tx.insertTemporaryAccount(outcome.account);
    if (input.invoiceId) {
      const claimed = await tx.claimInvoice(input.invoiceId, code);
      if (!claimed) {
        throw new LockstepError(
          'invoice_already_used',
          'This invoice has already created a temporary account.',
        );
      }
    }
    await this.record(unit, outcome, 'temporary_account.create');
    return outcome.account;
  }

  async lock(unit: Unit, principal: Principal, code: string, lockPpm: number) {
    return this.apply(unit, principal, code, 'lock', (account, context) =>
      setLock(account, { ...context, lockPpm }),
    );
  }

  async deposit(
    unit: Unit,
    principal: Principal,
    code: string,
    input: { amountMinor: number; fromAccountId?: string | null },
  ) {
    if (principal.kind === 'merchant') {
      // A key never pays: as seller it could pay the merchant's money in and unlock, and a
      // buyer it picked would withdraw it (helper-34's review).
      throw new LockstepError(
        'role_not_allowed',
        "A secret API key never pays in; pay in with the customer's own session.",
      );
    }
    const account = await this.partyAccount(unit.tx, principal, code);
    refuseIfDissolved(account, principal.customerId);
    const from = input.fromAccountId
      ? await this.ownUsualAccount(unit.tx, principal.customerId, input.fromAccountId)
      : await this.defaultUsualAccount(unit.tx, principal.customerId, account.currency, true);
    return this.apply(
      unit,
      principal,
      code,
      'deposit',
      (current, context) =>
        deposit(current, {
          ...context,
          amountMinor: input.amountMinor,
          from: from as UsualAccountView,
        }),
      account,
    );
  }

  async withdraw(
    unit: Unit,
    principal: Principal,
    code: string,
    input: { amountMinor?: number; toAccountId?: string | null },
  ) {
    const account = await this.partyAccount(unit.tx, principal, code);
    keyActsAsSellerOnly(principal, account); // before the usual account is looked up (a 404)
    refuseIfDissolved(account, principal.customerId);
    const to = input.toAccountId
      ? await this.ownUsualAccount(unit.tx, principal.customerId, input.toAccountId)
      : await this.defaultUsualAccount(unit.tx, principal.customerId, account.currency, true);
    return this.apply(
      unit,
      principal,
      code,
      'withdraw',
      (current, context) =>
        withdraw(current, {
          ...context,
          amountMinor: input.amountMinor,
          to: to as UsualAccountView,
          commission: this.commission,
        }),
      account,
    );
  }

  async checkFunds(unit: Unit, principal: Principal, code: string) {
    return this.apply(unit, principal, code, 'check_funds', (account, context) =>
      checkFunds(account, context),
    );
  }

  async markShipped(
    unit: Unit,
    principal: Principal,
    code: string,
    input: { carrier: string; trackingNumber: string },
  ) {
    return this.apply(unit, principal, code, 'ship', (account, context) =>
      markShipped(account, { ...context, ...input }),
    );
  }

  async accept(unit: Unit, principal: Principal, code: string) {
    return this.apply(unit, principal, code, 'accept', (account, context) => accept(account, context));
  }

  async reject(unit: Unit, principal: Principal, code: string, reason?: string) {
    return this.apply(unit, principal, code, 'reject', (account, context) =>
      reject(account, { ...context, reason }),
    );
  }

  async cancelDeal(unit: Unit, principal: Principal, code: string) {
    return this.apply(unit, principal, code, 'cancel', (account, context) => cancelDeal(account, context));
  }

  async dissolve(unit: Unit, principal: Principal, code: string) {
    return this.apply(unit, principal, code, 'dissolve', (account, context) => dissolve(account, context));
  }

  /** The account if the caller is one of its parties; otherwise `not_found`, revealing nothing. */
  async partyAccount(reader: StoreReader, principal: Principal, code: string): Promise<TemporaryAccount> {
    const account = await reader.getTemporaryAccount(code);
    if (!account?.parties.some((party) => party.customerId === principal.customerId)) {
      throw new LockstepError('not_found', 'No such temporary account.');
    }
    return account;
  }

  // -------------------------------------------------------------------------------------------
  // Operator actions (CLI, demo seed)

  /** Moves money from the outside world into a usual account (a remittance or cash deposit). */
  async topUp(unit: Unit, usualAccountId: string, amountMinor: number): Promise<void> {
    const account = await unit.tx.getUsualAccount(usualAccountId);
    if (!account) throw new LockstepError('not_found', 'No such usual account.');
    const transfer: Transfer = {
      from: ledgerKey.external(account.currency),
      to: ledgerKey.usual(account.id),
      amountMinor,
      currency: account.currency,
      purpose: 'top_up',
    };
    await unit.tx.postJournal({
      id: newSortableId('jrn'),
      kind: 'top_up',
      reference: usualAccountId,
      at: unit.now,
      transfers: [transfer],
    });
  }

  /**
   * A remittance from outside the bank into a temporary account (core `remit`): how a buyer
   * without a usual account pays in. The operator's action, so no party's view is checked; the
   * deadlines due are applied first and the ones it starts are set, as for a pay-in.
   */
  async remit(unit: Unit, code: string, amountMinor: number): Promise<CommandOutcome> {
    const account = await unit.tx.getTemporaryAccount(code);
    if (!account) throw new LockstepError('not_found', 'No such temporary account.');
    const outcome = expect(
      underDeadlines(account, this.deadlines, unit.now, (current) =>
        remit(current, { now: unit.now, amountMinor }),
      ),
    );
    await unit.tx.updateTemporaryAccount(outcome.account, account.version);
    await this.record(unit, outcome, 'remittance');
    return outcome;
  }

  // -------------------------------------------------------------------------------------------

  private async apply(
    unit: Unit,
    principal: Principal,
    code: string,
    kind: string,
    command: (account: TemporaryAccount, context: { by: string; now: string }) => Result<CommandOutcome>,
    /** The account as this unit already read it (and the caller checked it is a party's). */
    loaded?: TemporaryAccount,
  ): Promise<{ account: TemporaryAccount; outcome: CommandOutcome }> {
    const account = loaded ?? (await this.partyAccount(unit.tx, principal, code));
    keyActsAsSellerOnly(principal, account);
    // A deadline that passed is applied first, in the same unit (a buyer's refund need not wait
    // for the sweep); the deadlines the command starts are set on its outcome.
    const outcome = expect(
      underDeadlines(account, this.deadlines, unit.now, (current) =>
        command(current, { by: principal.customerId, now: unit.now }),
      ),
    );
    // A command that changed nothing (a lock set to what it is, with no deadline due) writes
    // nothing: the answer is the account as stored.
    if (outcome.events.length === 0 && outcome.transfers.length === 0) {
      return { account, outcome: { ...outcome, account } };
    }
    await unit.tx.updateTemporaryAccount(outcome.account, account.version);
    await this.record(unit, outcome, kind);
    return { account: outcome.account, outcome };
  }

  /**
   * The bank decides a dispute (a rejected deal): for the buyer the seller's lock comes off, for
   * the seller the buyer's (core disputes.ts). An operator's action, outside any party's view.
   */
  async resolveDispute(
    code: string,
    input: { for: 'buyer' | 'seller'; reason?: string | null },
  ): Promise<TemporaryAccount> {
    const result = await this.mutate('operator', undefined, async (unit) => {
      const account = await unit.tx.getTemporaryAccount(code);
      if (!account) throw new LockstepError('not_found', 'No such temporary account.');
      const outcome = expect(resolveDispute(account, { ...input, now: unit.now }));
      await unit.tx.updateTemporaryAccount(outcome.account, account.version);
      await this.record(unit, outcome, 'dispute');
      return { status: 200, body: outcome.account };
    });
    return result.body;
  }

  /**
   * Applies the deadlines due on one account (the deadline sweep, for deals nobody touches).
   * Answers whether any was due. Another process applying it first is no error: nothing is due
   * here then, or the version check refuses this unit (`conflict`) and the caller moves on.
   */
  async passDeadlinesOf(code: string): Promise<'passed' | 'rescheduled' | 'gone'> {
    const result = await this.mutate(bankActorScope, undefined, async (unit) => {
      const account = await unit.tx.getTemporaryAccount(code);
      if (!account) return { status: 200, body: 'gone' as const };
      // A deal from before deadlines gets them now (the migration made every open deal due).
      const outcome = expect(underDeadlines(account, this.deadlines, unit.now));
      // Also with nothing due: written again, the stored next deadline is the state's own (an
      // older release may have written the state without it).
      await unit.tx.updateTemporaryAccount(outcome.account, account.version);
      if (outcome.events.length > 0) await this.record(unit, outcome, 'deadline');
      // Only deadlines set (`deadline.set`: an older deal adopted), or none: rescheduled.
      const passed = outcome.events.some((event) => event.type === 'deadline.passed');
      return { status: 200, body: passed ? ('passed' as const) : ('rescheduled' as const) };
    });
    return result.body;
  }

  private async record(unit: Unit, outcome: CommandOutcome, kind: string): Promise<void> {
    const { tx } = unit;
    const stored = await tx.appendEvents(outcome.events);
    unit.events.push(...stored);
    if (await this.enqueueWebhooks(tx, outcome.account, stored, unit.now)) unit.outboxQueued = true;
    // The ledger last: on a shared database its rows stay locked until the commit, and a busy
    // customer's usual account is a hot row, so the less that follows, the shorter the wait.
    if (outcome.transfers.length > 0) {
      await tx.postJournal({
        id: newSortableId('jrn'),
        kind,
        reference: outcome.account.code,
        at: unit.now,
        transfers: outcome.transfers,
      });
    }
  }

  /**
   * Every merchant party's enabled endpoints get every event of the account (step 114).
   * Answers whether any delivery was queued.
   */
  private async enqueueWebhooks(
    tx: StoreTx,
    account: TemporaryAccount,
    events: StoredEvent[],
    now: string,
  ): Promise<boolean> {
    if (events.length === 0) return false;
    const endpoints = await tx.listWebhookEndpointsOf(account.parties.map((party) => party.customerId));
    const rows = endpoints
      .filter((endpoint) => endpoint.enabled)
      .flatMap((endpoint) =>
        events.map((event) => ({
          id: newSortableId('dlv'),
          endpointId: endpoint.id,
          eventId: event.id,
          accountCode: event.accountCode,
          seq: event.seq,
          attemptCount: 0,
          nextAttemptAt: now,
          deliveredAt: null,
          lastError: null,
        })),
      );
    if (rows.length === 0) return false;
    await tx.insertOutbox(rows);
    return true;
  }

  private async ownUsualAccount(
    reader: StoreReader,
    customerId: string,
    accountId: string,
  ): Promise<UsualAccountView> {
    const account = await reader.getUsualAccount(accountId);
    if (!account || account.ownerId !== customerId) {
      throw new LockstepError('not_found', 'No such usual account of yours.');
    }
    return account;
  }

  /** The caller's first usual account in the currency; `required` makes its absence an error. */
  private async defaultUsualAccount(
    reader: StoreReader,
    customerId: string,
    currency: CurrencyCode,
    required: boolean,
  ): Promise<UsualAccountView | null> {
    const accounts = await reader.listUsualAccounts(customerId);
    const match = accounts.find((account) => account.currency === currency) ?? null;
    if (!match && required) {
      throw new LockstepError('not_found', `You have no usual account in ${currency}.`);
    }
    return match;
  }
}

/** Unwraps a domain result inside a transaction: a domain error aborts the whole unit. */
function expect<T>(result: Result<T>): T {
  if (!result.ok) throw result.error;
  return result.value;
}

/**
 * Hash of a request for idempotency: method, path and the body as JSON in one form (keys
 * sorted, no spaces), so a retry that builds the same object in another key order, or formats
 * it otherwise, is the same request (helper-76's review: a shop rebuilding its params after a
 * crash got 422 idempotency_key_reused). A body that is not JSON counts by its exact bytes.
 */
export function requestHash(method: string, path: string, body: string): string {
  let form = body;
  if (body !== '') {
    try {
      form = canonicalJson(JSON.parse(body));
    } catch {
      // Not JSON: such a request is refused before anything is stored; hashed as sent.
    }
  }
  return exactRequestHash(method, path, form);
}

/** Hash of method, path and the body's exact bytes (what releases before 2026-11-27 stored). */
export function exactRequestHash(method: string, path: string, body: string): string {
  return sha256Hex(`${method.toUpperCase()} ${path}\n${body}`);
}

/** JSON with every object's keys in sorted order and no whitespace. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    const members = Object.keys(object)
      .sort()
      .map((name) => `${JSON.stringify(name)}:${canonicalJson(object[name])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * A pay-in or withdrawal on a dissolved account is refused as such before the caller's usual
 * account is looked up: a party without one in the currency was told to open one (a 404), only
 * to be refused then (helper-58's review).
 */
function refuseIfDissolved(account: TemporaryAccount, customerId: string): void {
  const live = requireLive(account, customerId);
  if (!live.ok) throw live.error;
}

/**
 * A merchant's secret API key acts for the merchant only as a seller (and never pays in, see
 * `deposit`). Where the merchant's
 * customer is the buyer or a member of a deal (it bought something with its customer login), a
 * key may read the account but not pay in, lock, release, accept, reject or withdraw: a leaked
 * key must not move the merchant's own money (helper-31's audit), as it may not create a deal
 * that pays anyone either. Those actions take the customer's own session.
 */
function keyActsAsSellerOnly(principal: Principal, account: TemporaryAccount): void {
  if (principal.kind !== 'merchant') return;
  const party = account.parties.find((candidate) => candidate.customerId === principal.customerId);
  if (party?.role !== 'seller') {
    throw new LockstepError(
      'role_not_allowed',
      `A secret API key acts only as the seller; as the ${party?.role ?? 'party'} here, use your customer session.`,
    );
  }
}

import type {
  AccountEvent,
  CurrencyCode,
  LedgerAccountKey,
  TemporaryAccount,
  Transfer,
  UsualAccountView,
} from '@lockstep/core';

/**
 * The storage port of the gateway. `storage/` is the only place that knows SQL; the service
 * layer talks to this interface, so the embedded SQLite adapter and the PostgreSQL adapter are
 * interchangeable and are proven by one contract suite (`test/gateway/store-contract.ts`).
 *
 * Every write goes through `transaction()`. An adapter may group the work of concurrent
 * transactions into one durable commit (group commit), but each unit of work stays isolated
 * (a failure rolls back only its own writes) and none resolves before its commit is durable.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Runs `work` in one transaction. If `work` throws, none of its writes happen and the error
   * is rethrown. Resolves only after the commit is durable. `work` should await only store
   * calls: other async work (crypto, network) belongs before or after it, because the embedded
   * store runs the units of a group commit one after another.
   */
  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Runs read-only `work` against one consistent snapshot. */
  read<T>(work: (tx: StoreReader) => Promise<T>): Promise<T>;
  /**
   * Runs read-only `work` that makes exactly one store call (a key or session lookup), which
   * is consistent by itself: a store may skip the transaction around it. A second call fails.
   * PostgreSQL holds a lookup to one *statement*, the embedded store to one *call*: keep
   * lookups to the single-row getters (API key, session, customer), which are one statement on
   * both, and await the call before returning (the work's failure ends the lookup).
   */
  lookup<T>(work: (tx: StoreReader) => Promise<T>): Promise<T>;
  /**
   * Events committed through *other* processes sharing this store, so live streams here see
   * them too: other gateway processes on PostgreSQL (NOTIFY), the operator CLI beside a gateway
   * on the embedded store (its file's commits, looked for every 250 ms). The listener may also
   * get events this process committed itself. `onResync` runs when some may have been missed
   * (the listener reconnected, or too many came at once to pass on).
   */
  onForeignEvents?(listener: (events: StoredEvent[]) => void, onResync?: () => void): () => void;
  /**
   * Runs `listener` once a unit that revoked an API key has committed, through this process or
   * (on a shared store) any other, and whenever such news may have been missed: a cache of
   * keys drops what it holds, so a revoked key stops working at once, not when a cache expires.
   */
  onKeyRevoked(listener: () => void): () => void;
  /**
   * A number that changes whenever another connection (the admin CLI, another process) has
   * committed to the store since: a cache checks it to know its rows may be stale. Absent where
   * other processes' commits are announced (`onKeyRevoked` through NOTIFY on PostgreSQL).
   */
  foreignCommits?(): number;
  /**
   * Whether the store can serve now, for `/healthz` (helper-49's review: it answered ok with
   * the database unreachable, and on an embedded store that had stopped taking writes).
   * `permanent`: it will not recover in this process (a failed commit or sync on the embedded
   * store); the gateway then stops so that its supervisor restarts it.
   */
  health(): Promise<StoreHealth>;
  /** Runs `listener` once if the store fails for good (see `health`). */
  onFailure?(listener: (error: Error) => void): void;
  close(): Promise<void>;
}

export type StoreHealth = { ok: true } | { ok: false; reason: string; permanent: boolean };

// ---------------------------------------------------------------------------------------------
// Records

export interface CustomerRecord {
  id: string;
  /** The login name (Drawing 6 "user ID"); unique. */
  userId: string;
  displayName: string;
  /** scrypt hash in PHC-like string form; never the password. */
  passwordHash: string;
  failedLoginCount: number;
  /** ISO timestamp until which logins are refused, or null. */
  loginLockedUntil: string | null;
  createdAt: string;
}

export interface MerchantRecord {
  /** A merchant is a bank customer; this is its customer id. */
  customerId: string;
  name: string;
  /** Exact web origins allowed to embed the widget (scheme://host[:port]). */
  allowedOrigins: string[];
  createdAt: string;
}

export interface UsualAccountRecord {
  id: string;
  ownerId: string;
  currency: CurrencyCode;
  name: string;
  createdAt: string;
}

export interface ApiKeyRecord {
  id: string;
  merchantId: string;
  kind: 'secret' | 'publishable';
  /** A non-secret prefix shown to people to tell keys apart (e.g. `sk_live_ab12`). */
  prefix: string;
  /** SHA-256 (hex) of the whole key; secret keys are never stored in clear. */
  keyHash: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface SessionRecord {
  /** SHA-256 (hex) of the session token; the token itself lives only in the client's cookie. */
  tokenHash: string;
  customerId: string;
  /** SHA-256 (hex) of the CSRF token bound to this session. */
  csrfTokenHash: string;
  createdAt: string;
  expiresAt: string;
}

export interface InvoiceRecord {
  id: string;
  merchantId: string;
  amountMinor: number;
  currency: CurrencyCode;
  orderReference: string;
  description: string;
  payeeContact: string;
  createdAt: string;
  expiresAt: string;
  /** The compact JWS handed to the merchant. */
  token: string;
  /** The temporary account created from it; an invoice creates at most one. */
  temporaryAccountCode: string | null;
}

export interface SigningKeyRecord {
  kid: string;
  alg: 'EdDSA' | 'ES256';
  publicJwk: Record<string, unknown>;
  /**
   * The private JWK, or `{ sealed: <compact JWE> }` once sealed with the operator's
   * key-encryption key (service/keys.ts).
   */
  privateJwk: Record<string, unknown>;
  /** From this instant the key signs: ahead for the active key's successor, published meanwhile. */
  createdAt: string;
  /** After this instant the key signs nothing new. */
  retiresAt: string;
  /** After this instant the key no longer verifies anything. */
  expiresAt: string;
}

export interface WebhookEndpointRecord {
  id: string;
  merchantId: string;
  url: string;
  enabled: boolean;
  createdAt: string;
}

/** An event as stored: the domain event plus its global id. */
export interface StoredEvent extends AccountEvent {
  /** Globally unique event id (`evt_...`), for receivers to de-duplicate. */
  id: string;
}

export interface OutboxRecord {
  id: string;
  endpointId: string;
  eventId: string;
  accountCode: string;
  seq: number;
  attemptCount: number;
  nextAttemptAt: string;
  deliveredAt: string | null;
  lastError: string | null;
  /**
   * Waiting behind an unfinished earlier delivery of its endpoint and account: not due, whatever
   * `nextAttemptAt` says, until that one is finished. A claim then never walks a backlog it could
   * not deliver (a dead endpoint's, say). A separate flag, so that an older release, which does
   * not know it, still delivers such rows in order (its claim checks the order itself).
   */
  parked: boolean;
}

/** A delivery to queue: the store decides whether it waits parked. */
export type NewOutboxRecord = Omit<OutboxRecord, 'parked'>;

export interface IdempotencyRecord {
  /** Who sent the request (merchant or customer id); keys are per principal. */
  scope: string;
  key: string;
  /** SHA-256 (hex) of method, path and body, to refuse a reused key with a different request. */
  requestHash: string;
  statusCode: number;
  responseBody: string;
  createdAt: string;
}

export interface JournalEntryInput {
  id: string;
  /** What caused it: `temporary_account.create`, `deposit`, `withdraw`, `top_up`, ... */
  kind: string;
  /** The temporary account code or other reference, for audit. */
  reference: string | null;
  at: string;
  transfers: Transfer[];
}

export interface PostingRecord {
  entryId: string;
  ledgerKey: LedgerAccountKey;
  /** Signed: positive credits the account (raises its balance), negative debits it. */
  amountMinor: number;
  currency: CurrencyCode;
}

export interface JournalEntryRecord {
  id: string;
  kind: string;
  reference: string | null;
  at: string;
  postings: PostingRecord[];
}

export interface LedgerBalance {
  ledgerKey: LedgerAccountKey;
  currency: CurrencyCode;
  balanceMinor: number;
}

// ---------------------------------------------------------------------------------------------
// Operations

export interface StoreReader {
  getCustomer(id: string): Promise<CustomerRecord | null>;
  getCustomerByUserId(userId: string): Promise<CustomerRecord | null>;
  getMerchant(customerId: string): Promise<MerchantRecord | null>;
  listMerchants(): Promise<MerchantRecord[]>;

  getUsualAccount(id: string): Promise<(UsualAccountRecord & UsualAccountView) | null>;
  listUsualAccounts(ownerId: string): Promise<Array<UsualAccountRecord & UsualAccountView>>;

  getApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | null>;
  listApiKeys(merchantId: string): Promise<ApiKeyRecord[]>;

  getSession(tokenHash: string): Promise<SessionRecord | null>;

  getInvoice(id: string): Promise<InvoiceRecord | null>;

  listSigningKeys(): Promise<SigningKeyRecord[]>;

  getTemporaryAccount(code: string): Promise<TemporaryAccount | null>;
  /**
   * Accounts whose next deadline (`nextDeadline` of @lockstep/core, kept beside each account's
   * state) is at or before `now`, earliest first (then by code), after `after` when given.
   */
  listAccountsDue(
    now: string,
    limit: number,
    after?: { at: string; code: string },
  ): Promise<Array<{ at: string; code: string }>>;
  /** Accounts where the customer is a party, newest first. */
  listTemporaryAccounts(
    customerId: string,
    options: { limit: number; status?: TemporaryAccount['status'] },
  ): Promise<TemporaryAccount[]>;
  /** The account's events with seq > afterSeq, in order, at most `limit`. */
  listEvents(code: string, afterSeq: number, limit: number): Promise<StoredEvent[]>;
  getEvent(id: string): Promise<StoredEvent | null>;
  /**
   * Events of every account the customer is a party to, in commit order, after the event with
   * id `afterId` (exclusive; from the start when absent), at most `limit`. A cursor is never
   * overtaken: an adapter whose commit order is not known at insert time (PostgreSQL) may hold
   * back the newest events until every transaction that could precede them has finished.
   */
  listEventsForCustomer(
    customerId: string,
    options: { afterId?: string; limit: number },
  ): Promise<StoredEvent[]>;

  listWebhookEndpoints(merchantId: string): Promise<WebhookEndpointRecord[]>;
  /** The endpoints of several merchants at once (one query per command on the hot path). */
  listWebhookEndpointsOf(merchantIds: string[]): Promise<WebhookEndpointRecord[]>;
  getOutbox(id: string): Promise<OutboxRecord | null>;

  getIdempotency(scope: string, key: string): Promise<IdempotencyRecord | null>;

  getBalance(ledgerKey: LedgerAccountKey): Promise<number>;
  /** Every ledger account's balance (for reconciliation and tests). */
  listBalances(): Promise<LedgerBalance[]>;
  /** Journal entries in insertion order, for audit and invariant checks. */
  listJournal(options: { afterId?: string; limit: number }): Promise<JournalEntryRecord[]>;
}

export interface StoreTx extends StoreReader {
  /**
   * The merchant, its row locked until the unit ends (write units only): two concurrent
   * merchant:update runs do not each write back the other's stale half. Only the operator's
   * update takes it: every checkout reads the merchant, and must never wait on it.
   */
  getMerchantForUpdate(customerId: string): Promise<MerchantRecord | null>;
  insertCustomer(record: CustomerRecord): Promise<void>;
  /**
   * Counts a login attempt of `subject` (a customer, or an unknown user ID's hash) from one
   * client source (or `*`, all of them), atomically, so concurrent guesses cannot all see the
   * same count: starting again from 1 after a lock ran out, or when the count was last touched
   * before `staleBefore`; refused (nothing counted) while that count is locked.
   */
  reserveSourceAttempt(
    customerId: string,
    source: string,
    now: string,
    staleBefore: string,
  ): Promise<{ attempt: number; known: boolean } | { lockedUntil: string }>;
  /**
   * Locks the source's login until `lockedUntil`; or, after a good password, forgets its
   * failures and remembers the source as the customer's own until `knownUntil`.
   */
  settleSourceAttempts(
    customerId: string,
    source: string,
    outcome: { lockedUntil: string } | { knownUntil: string },
  ): Promise<void>;
  /**
   * Forgets all but the `keep` latest known sources of `subject` (those not locked at `now`),
   * so logins from ever new addresses cannot grow its rows without bound; returns how many.
   */
  forgetKnownSourcesBeyond(subject: string, keep: number, now: string): Promise<number>;
  /**
   * Deletes up to `limit` rows untouched since `before` that neither lock (any more) nor
   * remember a known source at `now`; returns how many it deleted.
   */
  deleteStaleSourceFailures(before: string, now: string, limit: number): Promise<number>;
  /**
   * Counts a failed-login attempt of a client source over all user IDs in its window, unless
   * the window already holds `max`: a window that started at or before `expiredBy` starts
   * again at `now` with this attempt. Answers whether it counted, and when its window started.
   */
  reserveSourceWindow(
    source: string,
    now: string,
    expiredBy: string,
    max: number,
  ): Promise<{ counted: boolean; windowStartedAt: string }>;
  /** Gives back an attempt `reserveSourceWindow` counted, if its window is still the same. */
  releaseSourceWindow(source: string, windowStartedAt: string): Promise<void>;
  /** Deletes up to `limit` windows that started before `before`; returns how many. */
  deleteStaleSourceWindows(before: string, limit: number): Promise<number>;
  /**
   * Makes the customer a merchant unless it is one already (then false, nothing changed). Two
   * concurrent creations for one customer: one inserts, the other gets false.
   */
  insertMerchant(record: MerchantRecord): Promise<boolean>;
  upsertMerchant(record: MerchantRecord): Promise<void>;

  /** Creates the usual account and its ledger account with a zero balance. */
  insertUsualAccount(record: UsualAccountRecord): Promise<void>;

  insertApiKey(record: ApiKeyRecord): Promise<void>;
  revokeApiKey(id: string, merchantId: string, at: string): Promise<boolean>;

  insertSession(record: SessionRecord): Promise<void>;
  deleteSession(tokenHash: string): Promise<void>;
  /** Deletes up to `limit` sessions expired at `now`; returns how many it deleted. */
  deleteExpiredSessions(now: string, limit: number): Promise<number>;

  insertInvoice(record: InvoiceRecord): Promise<void>;
  /**
   * Marks the invoice used by a temporary account. Returns false (and changes nothing) when the
   * invoice already created one, so an invoice never creates two.
   */
  claimInvoice(id: string, temporaryAccountCode: string): Promise<boolean>;

  /** Inserts the key, or replaces the stored key with the same kid (retiring it). */
  /** Inserts a key, or moves an existing key's retirement and expiry earlier (never later). */
  upsertSigningKey(record: SigningKeyRecord): Promise<void>;

  /**
   * Replaces a key's stored private JWK `plain` with `sealed`; false (and nothing changed) when
   * the key no longer holds `plain` (another process sealed it first). Touches nothing else.
   */
  sealSigningKey(
    kid: string,
    plain: Record<string, unknown>,
    sealed: Record<string, unknown>,
  ): Promise<boolean>;

  /**
   * Stores a new temporary account and opens its ledger account. Throws a `conflict`
   * LockstepError if the code was ever used before.
   */
  insertTemporaryAccount(account: TemporaryAccount): Promise<void>;
  /**
   * Replaces the account's state if its stored version is `expectedVersion` (optimistic
   * concurrency); throws a `conflict` LockstepError otherwise.
   */
  updateTemporaryAccount(account: TemporaryAccount, expectedVersion: number): Promise<void>;
  /**
   * A hint, before anything is awaited: this unit is a command on the temporary account `code`
   * and will read it (locked) and its parties' webhook endpoints. A store with round trips
   * fetches them together with what the unit reads first; one without may ignore it.
   */
  prefetchAccount?(code: string): void;
  /** A hint like `prefetchAccount`: the unit will list this customer's usual accounts. */
  prefetchUsualAccounts?(ownerId: string): void;
  /**
   * Locks a usual account's balance for the rest of the unit and answers it as it is now, for a
   * decision that depends on it (fund a new deal now, or leave it awaiting funds). A store whose
   * units already run one at a time (the embedded one) has no need of it.
   */
  lockUsualBalance?(usualAccountId: string): Promise<number>;
  /** Appends events to the account's history; returns them with their global ids. */
  appendEvents(events: AccountEvent[]): Promise<StoredEvent[]>;

  /**
   * Posts a balanced journal entry: each transfer debits `from` and credits `to`. If any account
   * other than an external one would go negative, the unit fails with an `insufficient_funds`
   * LockstepError and nothing of it is written (a store may throw here or when the unit
   * commits).
   */
  postJournal(entry: JournalEntryInput): Promise<void>;

  insertWebhookEndpoint(record: WebhookEndpointRecord): Promise<void>;
  setWebhookEndpointEnabled(id: string, merchantId: string, enabled: boolean): Promise<boolean>;
  /**
   * Queues deliveries. One that has an unfinished earlier delivery of its endpoint and account
   * (in the store or before it in `records`) is parked until `markOutboxDelivered` or
   * `markOutboxGivenUp` finishes the one before.
   */
  insertOutbox(records: NewOutboxRecord[]): Promise<void>;
  /**
   * Claims up to `limit` due deliveries (nextAttemptAt <= now, not delivered), pushing their
   * nextAttemptAt to `leaseUntil` so another worker does not take them meanwhile. Deliveries of
   * one endpoint are returned in (accountCode, seq) order, and a delivery is not claimed while
   * an earlier one for the same endpoint and account is undelivered (ordering per account).
   */
  claimDueOutbox(now: string, leaseUntil: string, limit: number): Promise<OutboxRecord[]>;
  /**
   * Records an attempt's outcome (these three). With `lease` (the `nextAttemptAt` the claim
   * returned), only while that lease still holds: a worker whose lease ran out and was
   * re-claimed by another changes nothing, so it cannot mark the row done while the new attempt
   * is in flight. Delivered: the next parked delivery of its endpoint and account is unparked,
   * due at `at`.
   */
  markOutboxDelivered(id: string, at: string, lease?: string): Promise<void>;
  /** Failed: due again at `nextAttemptAt`; the deliveries behind it stay parked. */
  markOutboxFailed(id: string, error: string, nextAttemptAt: string, lease?: string): Promise<void>;
  /**
   * Finishes a delivery without success (given up, or its endpoint disabled): it no longer
   * holds back later events of its account; `lastError` says `given up: <reason>`. Like a
   * delivery, it unparks the next delivery of its endpoint and account, due at `at`.
   */
  markOutboxGivenUp(id: string, at: string, reason: string, lease?: string): Promise<void>;
  /**
   * Sweeps up after a process of an older release (which queues deliveries unparked and
   * finishes them without unparking the next): parks every delivery behind an unfinished one,
   * then unparks, due at `at` at the earliest, every parked one with nothing before it. Returns
   * how many it unparked.
   */
  unparkOutbox(at: string): Promise<number>;

  putIdempotency(record: IdempotencyRecord): Promise<void>;
  /**
   * Deletes up to `limit` of the oldest stored answers created before `before`, except an
   * operator's top-up references (kept for good); returns how many. A retry with a deleted
   * answer's key runs as a new request.
   */
  deleteIdempotencyBefore(before: string, limit: number): Promise<number>;
}

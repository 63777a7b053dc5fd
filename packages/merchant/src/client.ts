import ky, { isHTTPError, isNetworkError, isTimeoutError, type KyInstance } from 'ky';
import {
  apiErrorFrom,
  DealMismatchError,
  LockstepAbortedError,
  LockstepConfigError,
  LockstepConnectionError,
  LockstepResponseError,
  LockstepValidationError,
} from './errors.ts';
import type {
  CreateInvoiceParams,
  CreateTemporaryAccountParams,
  CreateWebhookEndpointParams,
  Event,
  FundsCheck,
  Invoice,
  LockParams,
  ShipParams,
  TemporaryAccount,
  WebhookEndpoint,
  WithdrawParams,
} from './generated/gateway-types.ts';

export interface LockstepOptions {
  /** A secret API key (`sk_...`), from the bank. Keep it on the server. */
  apiKey: string;
  /** The gateway's base URL, e.g. `https://gateway.bank.example`. */
  baseUrl: string;
  /** Per attempt (default 30 s): bounds the wait for the headers, and again the body's read. */
  timeoutMs?: number;
  /**
   * Retries after the first attempt (default 2), one budget per call: network errors, timeouts,
   * 408, 429, 5xx, and an answer whose body broke off or stalled after its headers.
   */
  maxRetries?: number;
  /** Upper bound of one backoff delay (default 10 s); a longer `Retry-After` is capped to it. */
  backoffLimitMs?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  /**
   * The Idempotency-Key of a POST. Default: a fresh random key per call, reused by the SDK's own
   * retries. Pass your own (e.g. derived from your order id) to make a call safe to repeat
   * across process restarts.
   */
  idempotencyKey?: string;
  /** Aborts the call. */
  signal?: AbortSignal;
}

export interface List<T> {
  object: 'list';
  data: T[];
}

/** What `ensureFunded` found (steps 116-118): the seller's lock is on; is the money there? */
export interface FundingResult {
  /**
   * True when the gateway finds the balance sufficient and the shop's lock keeps at least the
   * required amount, or the whole balance when that is less (`protectedMinor >=
   * min(requiredMinor, balanceMinor)`): the buyer cannot take it back. The balance is less after
   * an advance the buyer allowed: the seller took part of the amount already, and the deal is
   * funded with less than the amount in it.
   */
  funded: boolean;
  balanceMinor: number;
  requiredMinor: number;
  /**
   * What the balance lacks of the required amount: the buyer still has to pay it in (0 once
   * paid). `funded` can be false at 0, when the shop's lock holds less than the amount.
   */
  shortfallMinor: number;
  /**
   * What the shop's lock keeps for it whatever the other parties do (the gateway's `heldMinor`
   * of the shop's party): the whole balance under a full lock, 0 with the lock off. A partial
   * lock (a fractional account) holds its share of the balance when it was set plus its share of
   * every pay-in since: 500 of 1,000 under a 0.5 lock.
   */
  protectedMinor: number;
  account: TemporaryAccount;
}

/** The deal a shop expects behind a temporary account: what its order was invoiced for. */
export interface DealTerms {
  /** The invoice the order was paid with (`invoices.create(...).id`). */
  invoiceId?: string;
  amountMinor?: number;
  currency?: string;
}

export interface EnsureFundedOptions extends RequestOptions {
  /**
   * Lock only a plain deal on these terms: two parties (the buyer and this shop as the seller), mode `deal`,
   * release by the other party, and each term given. Otherwise `DealMismatchError`, nothing
   * locked. Without it any account naming the shop counts, whatever its amount.
   */
  expect?: DealTerms;
}

const secretKeyPattern = /^sk_[A-Za-z0-9_-]{16,}$/;
const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

/**
 * The Lockstep merchant client: a few obvious calls, typed everywhere, safe to retry.
 *
 * ```ts
 * const lockstep = new Lockstep({ apiKey: process.env.LOCKSTEP_SECRET_KEY, baseUrl });
 * const invoice = await lockstep.invoices.create({ amountMinor: 4800, currency: 'JPY', ... });
 * ```
 *
 * Every POST carries an Idempotency-Key (yours, or a random one reused across the SDK's
 * retries). Network errors, timeouts, 408, 429, 5xx and an answer whose body broke off are
 * retried with backoff (within `maxRetries`, the same key), honouring Retry-After; a 409 (another
 * party's lock is on, or the state forbids it) is never retried.
 */
export class Lockstep {
  readonly invoices: Invoices;
  readonly temporaryAccounts: TemporaryAccounts;
  readonly webhookEndpoints: WebhookEndpoints;
  readonly events: Events;
  private readonly http: KyInstance;
  private readonly retries: number;
  private readonly backoffLimitMs: number;

  constructor(options: LockstepOptions) {
    if (!options || typeof options.apiKey !== 'string' || options.apiKey === '') {
      throw new LockstepConfigError(
        'missing_api_key',
        'Pass your secret API key: new Lockstep({ apiKey, baseUrl }).',
      );
    }
    if (options.apiKey.startsWith('pk_')) {
      throw new LockstepConfigError(
        'invalid_api_key',
        'That is a publishable key (pk_...), meant for the checkout widget. The server SDK needs a secret key (sk_...).',
      );
    }
    if (!secretKeyPattern.test(options.apiKey)) {
      throw new LockstepConfigError(
        'invalid_api_key',
        'A secret API key looks like sk_ followed by at least 16 characters.',
      );
    }
    let baseUrl: URL;
    try {
      baseUrl = new URL(options.baseUrl);
    } catch {
      throw new LockstepConfigError(
        'invalid_base_url',
        `baseUrl must be an absolute URL, got ${String(options.baseUrl)}.`,
      );
    }
    if (baseUrl.protocol !== 'https:' && baseUrl.protocol !== 'http:') {
      throw new LockstepConfigError('invalid_base_url', 'baseUrl must be an http(s) URL.');
    }
    const retries = options.maxRetries ?? 2;
    const timeoutMs = options.timeoutMs ?? 30_000;
    const backoffLimitMs = options.backoffLimitMs ?? 10_000;
    // A timeout of 0 would fail every call at once (helper-41's review): at least 1 ms.
    for (const [name, value, min, max] of [
      ['maxRetries', retries, 0, 10],
      ['timeoutMs', timeoutMs, 1, 2_147_483_647],
      ['backoffLimitMs', backoffLimitMs, 0, 2_147_483_647],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        throw new LockstepConfigError('invalid_option', `${name} must be an integer from ${min} to ${max}.`);
      }
    }
    this.retries = retries;
    this.backoffLimitMs = backoffLimitMs;
    this.http = ky.create({
      // With a trailing slash, so a gateway mounted under a path keeps it (paths are relative).
      baseUrl: baseUrl.href.replace(/\/?$/, '/'),
      fetch: options.fetch,
      timeout: timeoutMs,
      headers: { authorization: `Bearer ${options.apiKey}`, accept: 'application/json' },
      retry: {
        limit: retries,
        // POST is safe to retry: every POST carries an idempotency key.
        methods: ['get', 'post', 'delete'],
        statusCodes: [408, 429, 500, 502, 503, 504],
        // Retry-After is honoured on every retried status (up to backoffLimitMs).
        afterStatusCodes: [429, 500, 502, 503, 504],
        delay: backoffMs,
        backoffLimit: backoffLimitMs,
        maxRetryAfter: backoffLimitMs,
        jitter: true,
        retryOnTimeout: true,
        // A 409 is a state or lock conflict and is never retried, except "this key is in use":
        // our own earlier attempt is still running, and retrying the same key replays its answer.
        shouldRetry: ({ error }) => {
          if (isHTTPError(error) && error.response.status === 409) {
            const data = error.data as { error?: { code?: string } } | undefined;
            return data?.error?.code === 'idempotency_key_in_use';
          }
          return undefined;
        },
      },
    });
    this.invoices = new Invoices(this);
    this.temporaryAccounts = new TemporaryAccounts(this);
    this.webhookEndpoints = new WebhookEndpoints(this);
    this.events = new Events(this);
  }

  /** @internal */
  async request<T>(
    method: 'get' | 'post',
    path: string,
    /** The `object` the answer must be (`temporary_account`, `list`...). */
    object: string,
    options: {
      json?: unknown;
      /** Entries left undefined are not sent (ky drops them). */
      searchParams?: Record<string, string | number | undefined>;
      request?: RequestOptions;
    } = {},
  ): Promise<T> {
    const headers: Record<string, string> = {};
    let key: string | undefined;
    if (method === 'post') {
      key = options.request?.idempotencyKey ?? randomKey();
      // What the gateway accepts (bank.ts idempotencyKeyPattern). A key a header cannot carry
      // ('lock-注文-42') made fetch throw a bare TypeError (helper-60's review).
      if (typeof key !== 'string' || !idempotencyKeyPattern.test(key)) {
        throw new LockstepValidationError(
          'invalid_param',
          'idempotencyKey',
          'An idempotencyKey is 1-255 printable ASCII characters, without spaces.',
        );
      }
      headers['idempotency-key'] = key;
    }
    const signal = options.request?.signal;
    // One budget of retries for the call, shared by ky's own (before the headers: network
    // errors, timeouts, 408/429/5xx) and ours (a body read that failed after them).
    let retriesLeft = this.retries;
    for (;;) {
      const pending = this.http(path.replace(/^\//, ''), {
        method,
        headers,
        json: method === 'post' ? (options.json ?? {}) : undefined,
        searchParams: options.searchParams,
        signal,
        retry: { limit: retriesLeft },
        hooks: {
          beforeRetry: [
            () => {
              retriesLeft--;
            },
          ],
        },
      });
      let response: Response;
      let text: string;
      try {
        response = await pending;
      } catch (error) {
        throw failure(error, signal, key);
      }
      try {
        // Through ky's own body method, not `response.text()`: ky's timeout covers only the wait
        // for the headers, its body methods bound the read by `timeoutMs` too and abort the
        // request when it runs out. A 2xx body that stalled after the headers hung the call.
        text = await pending.text();
      } catch (error) {
        if (signal?.aborted) throw new LockstepAbortedError({ cause: error, idempotencyKey: key });
        // The connection broke in the middle of the answer (undici's bare `TypeError:
        // terminated` reached the caller, helper-65's review), or the answer stalled: the call
        // was applied, or not. Sent again with the same key, the gateway replays its answer
        // (helper-67's review: it was not retried, and the SDK's own key was not given out).
        if (retriesLeft > 0) {
          const retry = this.retries - retriesLeft + 1;
          retriesLeft--;
          try {
            // ky's own backoff (full jitter, capped), for the retries it cannot see.
            await pause(Math.min(this.backoffLimitMs, Math.random() * backoffMs(retry)), signal);
          } catch (cause) {
            throw new LockstepAbortedError({ cause, idempotencyKey: key });
          }
          continue;
        }
        throw isTimeoutError(error)
          ? new LockstepConnectionError("The gateway's answer did not arrive in time.", {
              cause: error,
              code: 'timeout',
              idempotencyKey: key,
            })
          : new LockstepConnectionError(
              `The connection broke while the gateway's answer was read (${(error as Error).message}): send the call again with the same idempotencyKey to learn its outcome.`,
              { cause: error, idempotencyKey: key },
            );
      }
      const requestId = response.headers.get('x-request-id') ?? undefined;
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (cause) {
        // A web page or a proxy's answer: a bare SyntaxError before (helper-60's review).
        throw new LockstepResponseError(response.status, requestId, { cause });
      }
      // JSON of another shape (a proxy's `{"status":"ok"}`, `null`, `[]`) escaped ensureFunded
      // as a bare TypeError (helper-67's review). No call of the SDK expects an empty answer.
      if (
        typeof body !== 'object' ||
        body === null ||
        Array.isArray(body) ||
        (body as { object?: unknown }).object !== object
      ) {
        throw new LockstepResponseError(response.status, requestId, {
          message: `The answer (HTTP ${response.status}) is not a Lockstep "${object}": is baseUrl the gateway's?`,
        });
      }
      return body as T;
    }
  }
}

/** The LockstepError for a failed request (its headers never came, or said an error). */
function failure(
  error: unknown,
  signal: AbortSignal | undefined,
  idempotencyKey: string | undefined,
): unknown {
  // isHTTPError is also an instanceof check (and a name check, across realms).
  if (isHTTPError(error)) {
    if (error.response.status === 408) {
      return new LockstepConnectionError('The gateway or a proxy timed out the request.', {
        cause: error,
        code: 'timeout',
        idempotencyKey,
      });
    }
    return apiErrorFrom(
      error.data,
      error.response.status,
      error.response.headers.get('x-request-id') ?? undefined,
    );
  }
  if (isTimeoutError(error)) {
    return new LockstepConnectionError('The gateway did not answer in time.', {
      cause: error,
      code: 'timeout',
      idempotencyKey,
    });
  }
  if (isNetworkError(error)) {
    return new LockstepConnectionError(`Could not reach the gateway: ${(error as Error).message}`, {
      cause: error,
      idempotencyKey,
    });
  }
  // The caller's own signal: still a LockstepError with a stable code.
  if (signal?.aborted) return new LockstepAbortedError({ cause: error, idempotencyKey });
  return error;
}

/** The delay before retry `attempt` (from 1), before jitter: ky's default, shared with ky. */
function backoffMs(attempt: number): number {
  return 300 * 2 ** (attempt - 1);
}

/** Waits `ms`, or rejects when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A group of calls (`lockstep.invoices`...), on the client's `request`. */
class Resource {
  protected readonly client: Lockstep;
  constructor(client: Lockstep) {
    this.client = client;
  }
}

class Invoices extends Resource {
  /** Step 102: a signed invoice for an order. Its `token` goes to the checkout widget. */
  async create(params: CreateInvoiceParams, options?: RequestOptions): Promise<Invoice> {
    requireAmount(params.amountMinor, 'amountMinor');
    return this.client.request('post', '/v1/invoices', 'invoice', { json: params, request: options });
  }

  async retrieve(id: string, options?: RequestOptions): Promise<Invoice> {
    return this.client.request('get', `/v1/invoices/${segment(id, 'id')}`, 'invoice', { request: options });
  }
}

class TemporaryAccounts extends Resource {
  /** Drawing 9: balance, every party's lock and role, shipment, verdict. */
  async retrieve(code: string, options?: RequestOptions): Promise<TemporaryAccount> {
    return this.client.request('get', accountPath(code), 'temporary_account', { request: options });
  }

  async list(params: { status?: TemporaryAccount['status']; limit?: number } = {}, options?: RequestOptions) {
    return this.client.request<List<TemporaryAccount>>('get', '/v1/temporary-accounts', 'list', {
      searchParams: { status: params.status || undefined, limit: params.limit },
      request: options,
    });
  }

  /** A temporary account the buyer pays into (the seller creates it). */
  async create(
    params: Extract<CreateTemporaryAccountParams, { buyerUserId: string }>,
    options?: RequestOptions,
  ): Promise<TemporaryAccount> {
    requireAmount(params.amountMinor, 'amountMinor');
    return this.client.request<TemporaryAccount>('post', '/v1/temporary-accounts', 'temporary_account', {
      json: params,
      request: options,
    });
  }

  /** Turns the merchant's lock on, fully or with a share ("0.5", 0.25). */
  async lock(code: string, params: LockParams = {}, options?: RequestOptions): Promise<TemporaryAccount> {
    return this.client.request('post', `${accountPath(code)}/lock`, 'temporary_account', {
      json: params,
      request: options,
    });
  }

  /** Turns the merchant's lock off: the buyer can then take the money back (a refund). */
  async unlock(code: string, options?: RequestOptions): Promise<TemporaryAccount> {
    return this.client.request('post', `${accountPath(code)}/unlock`, 'temporary_account', {
      request: options,
    });
  }

  /**
   * Closes an empty temporary account (`account_not_empty` otherwise; `account.dissolved`,
   * reason `closed`). Its record stays readable; its invoice stays used. To call off a deal not
   * paid up, whatever it holds, use `cancel`.
   */
  async dissolve(code: string, options?: RequestOptions): Promise<TemporaryAccount> {
    return this.client.request('post', `${accountPath(code)}/dissolve`, 'temporary_account', {
      request: options,
    });
  }

  /**
   * Cancels a deal not shipped, paid up or not (the order of a buyer who chose to pay later, a
   * deal you opened awaiting a remittance, or a paid order you will not ship): it takes no more
   * money, your lock comes off for good, what was paid in goes back to who paid it (the buyer, or
   * a member of the deal its own) with the bank's creation fee, and an empty one is dissolved (`account.dissolved`, reason `cancelled`). A
   * paid-up deal reads `awaiting_funds` again (funded no more). Cancelling it again changes
   * nothing; a shipped deal (`already_shipped`), one with the buyer's verdict, or one you took an
   * advance from (`invalid_state`) is refused.
   */
  async cancel(code: string, options?: RequestOptions): Promise<TemporaryAccount> {
    return this.client.request('post', `${accountPath(code)}/cancel`, 'temporary_account', {
      request: options,
    });
  }

  /** Step 119: the goods left; the buyer sees carrier and tracking number. */
  async markShipped(code: string, params: ShipParams, options?: RequestOptions): Promise<TemporaryAccount> {
    return this.client.request('post', `${accountPath(code)}/ship`, 'temporary_account', {
      json: params,
      request: options,
    });
  }

  /**
   * Steps 123-124: moves the money the locks allow to the merchant's usual account (all of it by
   * default). Fails with `LockConflictError` while the buyer's lock is on.
   */
  async withdraw(
    code: string,
    params: WithdrawParams = {},
    options?: RequestOptions,
  ): Promise<TemporaryAccount> {
    if (params.amountMinor !== undefined) requireAmount(params.amountMinor, 'amountMinor');
    return this.client.request('post', `${accountPath(code)}/withdraw`, 'temporary_account', {
      json: params,
      request: options,
    });
  }

  /** Step 117: compares the balance with the invoiced amount; the buyer is told the result. */
  async checkFunds(code: string, options?: RequestOptions): Promise<FundsCheck> {
    return this.client.request('post', `${accountPath(code)}/check-funds`, 'funds_check', {
      request: options,
    });
  }

  /**
   * Steps 116-118 in one call: turns the merchant's lock on (if it is not already) and checks
   * that the balance covers the account's required amount and that the lock holds it (all of
   * the balance, when an advance the buyer allowed left less than the amount in it). Resolves
   * with `funded: false` and the shortfall when it does not — ship nothing until it does. A
   * partial lock already on stays as set, and holds only its share (`protectedMinor`): lock
   * fully to be funded. Pass `expect` (the order's
   * invoice, amount and currency) so that an account another customer opened naming the shop,
   * for any amount, is refused (`DealMismatchError`) rather than taken for the order's payment.
   */
  async ensureFunded(code: string, options?: EnsureFundedOptions): Promise<FundingResult> {
    const { expect: terms, ...requestOptions } = options ?? {};
    // Both steps get fresh keys (each still kept across the SDK's own retries of it). Turning a
    // lock on is the same however often it is sent, and a stored answer is stale: under a key
    // derived from the caller's, a second call replayed the first call's lock after the lock
    // had come off, and reported the deal funded with the shop's lock off (helper-60's review).
    // The check's stored answer would freeze "not yet funded" the same way.
    const stepOptions = { ...requestOptions, idempotencyKey: undefined };
    // A lock already on stays as it is: a partial share is the shop's choice, not to be made
    // whole here (helper-41's review). A merchant key acts as the seller.
    const current = await this.retrieve(code, { signal: requestOptions.signal });
    if (terms) {
      const mismatches = dealMismatches(current, terms);
      if (mismatches.length > 0) throw new DealMismatchError(code, mismatches);
    }
    const seller = current.parties.find((party) => party.role === 'seller');
    if (!seller || seller.lockPpm === 0) await this.lock(code, {}, stepOptions);
    const check = await this.checkFunds(code, stepOptions);
    // Funded means the money is there and held for the shop: a lock taken off since (by the shop
    // itself, a missed deadline, a dispute) leaves it to the buyer, and a partial lock leaves
    // the buyer the rest (it said funded under a 0.5 lock).
    const sellerNow = check.account.parties.find((party) => party.role === 'seller');
    const lockPpm = sellerNow?.lockPpm ?? 0;
    // A gateway older than heldMinor: a whole lock holds the balance, a partial one nothing sure.
    const protectedMinor = sellerNow?.heldMinor ?? (lockPpm === 1_000_000 ? check.account.balanceMinor : 0);
    return {
      // At most the balance: after an advance the buyer allowed (the seller took part of the
      // amount before shipping), the deal is funded with less than the amount in it, all of it
      // under the shop's whole lock (helper-66's review: it never said funded again).
      funded:
        check.sufficient &&
        lockPpm > 0 &&
        protectedMinor >= Math.min(check.requiredMinor, check.balanceMinor),
      balanceMinor: check.balanceMinor,
      requiredMinor: check.requiredMinor,
      shortfallMinor: check.shortfallMinor,
      protectedMinor,
      account: check.account,
    };
  }

  /** The account's events in order (after `afterSeq`). */
  async events(code: string, params: { afterSeq?: number; limit?: number } = {}, options?: RequestOptions) {
    return this.client.request<List<Event>>('get', `${accountPath(code)}/events`, 'list', {
      searchParams: { after: params.afterSeq, limit: params.limit },
      request: options,
    });
  }
}

class WebhookEndpoints extends Resource {
  create(params: CreateWebhookEndpointParams, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this.client.request('post', '/v1/webhook-endpoints', 'webhook_endpoint', {
      json: params,
      request: options,
    });
  }

  async list(options?: RequestOptions): Promise<List<WebhookEndpoint>> {
    return this.client.request('get', '/v1/webhook-endpoints', 'list', { request: options });
  }

  async disable(id: string, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this.client.request(
      'post',
      `/v1/webhook-endpoints/${segment(id, 'id')}/disable`,
      'webhook_endpoint',
      { request: options },
    );
  }
}

class Events extends Resource {
  /**
   * Events of every account the merchant is party to, oldest first, after the event `after`.
   * Page with the last id of the previous page only: an event id from a webhook or the stream is
   * a point in its account's order, not in this feed's (on PostgreSQL the feed holds back events
   * of transactions still running), so resuming from one may skip events. Resume one account
   * with `temporaryAccounts.events(code, { afterSeq })` instead.
   */
  async list(
    params: { after?: string; limit?: number } = {},
    options?: RequestOptions,
  ): Promise<List<Event>> {
    return this.client.request('get', '/v1/events', 'list', {
      searchParams: { after: params.after || undefined, limit: params.limit },
      request: options,
    });
  }
}

function requireAmount(value: unknown, param: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new LockstepValidationError(
      'invalid_amount',
      param,
      `${param} must be a positive integer in minor units (e.g. 4800 for ¥4,800 or $48.00 as 4800), got ${String(value)}.`,
    );
  }
}

/**
 * How `account` differs from a plain two-party deal on `terms` (empty: it is one): the check
 * `ensureFunded({ expect })` makes, for a shop that decides before it calls anything.
 */
export function dealMismatches(account: TemporaryAccount, terms: DealTerms): string[] {
  const found: string[] = [];
  const differs = (name: string, expected: unknown, actual: unknown) => {
    if (expected !== actual) found.push(`${name}: expected ${String(expected)}, got ${String(actual)}`);
  };
  if (terms.amountMinor !== undefined) requireAmount(terms.amountMinor, 'expect.amountMinor');
  if (terms.invoiceId !== undefined) differs('invoiceId', terms.invoiceId, account.invoiceId);
  if (terms.amountMinor !== undefined) differs('requiredMinor', terms.amountMinor, account.requiredMinor);
  if (terms.currency !== undefined) differs('currency', terms.currency, account.currency);
  differs('mode', 'deal', account.mode);
  differs('releasePolicy', 'all_others', account.releasePolicy.kind);
  const roles = account.parties.map((party) => party.role).sort();
  if (roles.join() !== 'buyer,seller')
    found.push(`parties: expected buyer and seller, got ${roles.join(', ')}`);
  // The shop sells: any customer may open an account as its seller naming the shop's user as
  // the buyer, and pay in the order's amount itself (helper-60's review).
  differs('viewerRole', 'seller', account.viewerRole);
  return found;
}

function segment(value: string, param: string): string {
  // "." and ".." pass encodeURIComponent and URL resolution removes them: withdraw('..') posted
  // to /v1/withdraw, another endpoint (helper-60's review). No code or id is one.
  if (typeof value !== 'string' || value === '' || value.length > 128 || value === '.' || value === '..') {
    throw new LockstepValidationError(
      'invalid_param',
      param,
      `${param} must be a non-empty string of at most 128 characters, not "." or "..".`,
    );
  }
  return encodeURIComponent(value);
}

function accountPath(code: string): string {
  return `/v1/temporary-accounts/${segment(code, 'code')}`;
}

function randomKey(): string {
  return `sdk_${globalThis.crypto.randomUUID()}`;
}

import type { CommissionSchedule } from '@lockstep/core';
// The SDK's own error classes, by the package's name: built, this entry imports them from the
// main entry rather than bundling a copy, so `instanceof InsufficientFundsError` holds.
import { apiErrorFrom } from '@lockstep/merchant';
import { http } from 'msw';
import { demoCommission } from '../../../gateway/src/config.ts';
import { createGateway, type Gateway } from '../../../gateway/src/gateway.ts';
import { eventView } from '../../../gateway/src/http/views.ts';
import { demoLogins, seedDemo } from '../../../gateway/src/seed.ts';
import { Admin } from '../../../gateway/src/service/admin.ts';
import { openSqliteStore } from '../../../gateway/src/storage/sqlite.ts';
import type { TemporaryAccount } from '../generated/gateway-types.ts';

/**
 * `@lockstep/merchant/testing`: an offline Lockstep gateway for a shop's own tests.
 *
 * The mock is not a re-implementation: it is the gateway's own HTTP app and its domain rules
 * (`@lockstep/core`) over an in-memory store, reached through `msw` handlers instead of the
 * network. So it answers exactly what the real gateway answers — same validation, same error
 * codes, same locks, same signed invoices and JWKS — and cannot drift from it. A contract test
 * runs one SDK suite against this mock and against a real gateway process.
 *
 * ```ts
 * const mock = await createMockGateway();
 * const server = setupServer(...mock.handlers);
 * server.listen();
 * const lockstep = new Lockstep({ apiKey: mock.secretKey, baseUrl: mock.baseUrl });
 * const invoice = await lockstep.invoices.create({...});
 * const code = await mock.buyer.pay(invoice.token!);
 * ```
 *
 * Needs Node >= 22.13 (it uses `node:sqlite`, without a flag from 22.13), like the gateway.
 */
export interface MockGatewayOptions {
  /** The URL the SDK under test points at (default `https://gateway.lockstep.test`). */
  baseUrl?: string;
  /**
   * The bank's commission. Default: the demo bank's, as `pnpm start` charges it (¥100 / $0.50
   * to open a temporary account, 1% of what the seller withdraws), so a shop's tests meet fees
   * as production will (helper-104: with none, a buyer paying with their whole balance passed
   * here and was refused `insufficient_funds` there). Pass your bank's schedule to test your
   * bookkeeping (`feeMinor`), or `{ creation: {}, withdrawal: {} }` for none.
   */
  commission?: CommissionSchedule;
  /** The demo buyer's starting balance in JPY (default 100,000). */
  buyerBalanceMinor?: number;
  /** Origins allowed to embed the widget. */
  allowedOrigins?: string[];
}

/**
 * The demo buyer. A refusal throws as the SDK's calls do: a `LockstepApiError` of its family
 * (`InsufficientFundsError`, `StateConflictError`...) with the gateway's `code` and `details`.
 */
export interface MockBuyer {
  /** The buyer's customer id at the bank. */
  readonly customerId: string;
  /**
   * Pays an invoice (steps 103, 111-113): creates the temporary account, buyer's lock on. With
   * `{ later: true }` the buyer opens it to pay later (rule 7): the account awaits its funds
   * (`account.created`, status `awaiting_funds`) until `payIn`.
   */
  pay(invoiceToken: string, options?: { later?: boolean }): Promise<string>;
  /**
   * Pays into an account awaiting funds from the buyer's usual account (default: all that is
   * still due); the creation fee still due is charged with it. Funds the deal once it holds its
   * amount (`account.deposited`, `account.funded`).
   */
  payIn(code: string, amountMinor?: number): Promise<TemporaryAccount>;
  /** Releases the buyer's lock after inspecting the goods (steps 120-122): once shipped (`not_shipped` before). */
  release(code: string): Promise<TemporaryAccount>;
  /** Reports a problem: the buyer keeps the lock on. */
  reject(code: string, reason?: string): Promise<TemporaryAccount>;
  /** Takes the money back once the seller released its lock (a refund). */
  withdraw(code: string): Promise<TemporaryAccount>;
  /** The buyer's usual-account balance in minor units. */
  balanceMinor(): Promise<number>;
}

export interface MockGateway {
  baseUrl: string;
  /** The demo merchant's secret key, for `new Lockstep({ apiKey })`. */
  secretKey: string;
  publishableKey: string;
  /** Give these to msw's `setupServer(...)` (or `server.use(...)`). */
  handlers: ReturnType<typeof http.all>[];
  buyer: MockBuyer;
  /** The merchant's usual-account balance in minor units. */
  merchantBalanceMinor(): Promise<number>;
  /**
   * Moves the mock bank's clock forward and applies the deadlines then due, as the real
   * gateway's sweep does (docs/api.md, Deadlines): test what your shop does when it misses the
   * ship deadline, or when a silent buyer's deal is accepted. Answers how many deals changed.
   * The gateway's housekeeping runs too: answers kept under an idempotency key for longer than
   * their 7 days are forgotten, so a retry after that runs as a new request, as it would there.
   */
  advanceTime(ms: number): Promise<{ passed: number }>;
  /** The mock bank's clock: real time plus what `advanceTime` added. */
  now(): Date;
  /** The bank decides a dispute (a deal the buyer rejected) for the buyer or the seller. */
  resolveDispute(code: string, winner: 'buyer' | 'seller', reason?: string): Promise<void>;
  /**
   * The account's events as the gateway delivers them to a webhook endpoint (the mock delivers
   * none itself, and returns them whether or not you registered one: the real gateway sends
   * only to an enabled endpoint of yours): each body and its headers, signed with the mock
   * bank's key, whose JWKS the handlers serve, so `createWebhookVerifier({ baseUrl: mock.baseUrl })` verifies them. Post
   * them to your own handler to test it with verification on. Signed at the mock bank's clock:
   * after `advanceTime`, give the verifier `now: mock.now`.
   */
  deliveries(code: string): Promise<Array<{ body: string; headers: Record<string, string> }>>;
  /** The gateway itself, for assertions beyond the API. */
  gateway: Gateway;
  close(): Promise<void>;
}

export async function createMockGateway(options: MockGatewayOptions = {}): Promise<MockGateway> {
  const baseUrl = (options.baseUrl ?? 'https://gateway.lockstep.test').replace(/\/$/, '');
  // A gateway mounted under a path, as the SDK allows: the mock's routes start after it.
  const basePath = new URL(baseUrl).pathname.replace(/\/$/, '');
  const underBase = async (request: Request): Promise<Request> => {
    if (!basePath) return request;
    const url = new URL(request.url);
    url.pathname = url.pathname.slice(basePath.length) || '/';
    const body =
      request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer();
    return new Request(url, { method: request.method, headers: request.headers, body });
  };
  // The mock's clock: real time plus what `advanceTime` added.
  let aheadMs = 0;
  const gateway = await createGateway({
    store: await openSqliteStore({ path: ':memory:' }),
    publicUrl: baseUrl,
    commission: options.commission ?? demoCommission,
    logLevel: 'silent',
    webhooks: false,
    now: () => new Date(Date.now() + aheadMs),
    // Deadlines pass, and housekeeping forgets idempotency keys and sessions, when the test says
    // so (`advanceTime`), not on a timer.
    deadlines: { firstDelayMs: 2 ** 31 - 1 },
    housekeeping: { firstDelayMs: 2 ** 31 - 1 },
  });
  const admin = new Admin(gateway.bank);
  const seed = await seedDemo(admin, {
    allowedOrigins: options.allowedOrigins ?? ['http://localhost:3000'],
    buyerBalanceMinor: options.buyerBalanceMinor,
  });
  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const response = await gateway.app.request(path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'idempotency-key': crypto.randomUUID(),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const payload = await response.json();
    // As the SDK throws it: `code`, `status`, `details` and the class of its family.
    if (!response.ok)
      throw apiErrorFrom(payload, response.status, response.headers.get('x-request-id') ?? undefined);
    return payload;
  };
  let session: string | undefined;
  const buyerToken = async () => {
    if (!session) {
      const response = await gateway.app.request('/v1/sessions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: demoLogins.buyer.userId, password: demoLogins.buyer.password }),
      });
      session = ((await response.json()) as { token: string }).token;
    }
    return session;
  };
  const balance = async (accountId: string) =>
    (await gateway.bank.read((reader) => reader.getUsualAccount(accountId)))?.balanceMinor ?? 0;
  return {
    baseUrl,
    secretKey: seed.secretKey,
    publishableKey: seed.publishableKey,
    handlers: [http.all(`${baseUrl}/*`, async ({ request }) => gateway.app.fetch(await underBase(request)))],
    buyer: {
      customerId: seed.buyerId,
      async pay(invoiceToken, options) {
        const account = await call(await buyerToken(), 'POST', '/v1/temporary-accounts', {
          invoice: invoiceToken,
          ...(options?.later ? { payLater: true } : {}),
        });
        return account.code as string;
      },
      async payIn(code, amountMinor) {
        const at = `/v1/temporary-accounts/${encodeURIComponent(code)}`;
        const token = await buyerToken();
        const due = amountMinor ?? ((await call(token, 'GET', at)) as TemporaryAccount).amountDueMinor;
        if (!due) throw new Error(`mock buyer: nothing is due on ${code}; pass an amount to pay in`);
        return call(token, 'POST', `${at}/deposit`, { amountMinor: due });
      },
      async release(code) {
        return call(
          await buyerToken(),
          'POST',
          `/v1/temporary-accounts/${encodeURIComponent(code)}/accept`,
          {},
        );
      },
      async reject(code, reason) {
        return call(
          await buyerToken(),
          'POST',
          `/v1/temporary-accounts/${encodeURIComponent(code)}/reject`,
          reason ? { reason } : {},
        );
      },
      async withdraw(code) {
        return call(
          await buyerToken(),
          'POST',
          `/v1/temporary-accounts/${encodeURIComponent(code)}/withdraw`,
          {},
        );
      },
      balanceMinor: () => balance(seed.buyerAccountId),
    },
    merchantBalanceMinor: () => balance(seed.sellerAccountId),
    async advanceTime(ms) {
      if (!Number.isSafeInteger(ms) || ms < 0)
        throw new RangeError('advanceTime takes whole milliseconds >= 0');
      aheadMs += ms;
      session = undefined; // The buyer's session may have expired meanwhile.
      const swept = await gateway.deadlineSweep?.sweep();
      // As the real gateway's housekeeping would have by then: an idempotency key older than its
      // 7 days' retention runs as a new request (docs/api.md).
      await gateway.housekeeping?.sweep();
      return { passed: swept?.passed ?? 0 };
    },
    async resolveDispute(code, winner, reason) {
      await admin.resolveDispute(code, winner, reason);
    },
    now: () => new Date(Date.now() + aheadMs),
    async deliveries(code) {
      const events = await gateway.bank.read((reader) => reader.listEvents(code, 0, 10_000));
      return Promise.all(
        events.map(async (event) => {
          // As the gateway's webhook worker sends it (service/webhooks.ts).
          const body = JSON.stringify(eventView(event));
          return {
            body,
            headers: {
              'content-type': 'application/json',
              'user-agent': 'Lockstep-Webhooks/1',
              'lockstep-signature': await gateway.keys.signWebhook(body),
              'lockstep-event-id': event.id,
              'lockstep-delivery-id': `dlv_mock_${event.id}`,
            },
          };
        }),
      );
    },
    gateway,
    close: () => gateway.close(),
  };
}

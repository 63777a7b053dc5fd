import { z } from '@hono/zod-openapi';
import {
  type CurrencyCode,
  LockstepError,
  lockPpmFull,
  shortfallMinor as missingMinor,
  type PartySpec,
  parseLockShare,
} from '@lockstep/core';
import type { Context } from 'hono';
import type { Principal, Unit } from '../../service/bank.ts';
import type { InvoiceClaims } from '../../service/invoices.ts';
import type { StoreReader } from '../../storage/store.ts';
import {
  answer,
  anyPrincipal,
  customerPrincipal,
  type GatewayApp,
  type GatewayEnv,
  idempotencyOf,
} from '../context.ts';
import {
  Aggregation,
  CodeParam,
  CreateTemporaryAccountRequest,
  DepositRequest,
  EmptyRequest,
  EventList,
  FundsCheck,
  LockRequest,
  QueryInteger,
  RejectRequest,
  ShipRequest,
  TemporaryAccount,
  TemporaryAccountList,
  WithdrawRequest,
} from '../schemas.ts';
import { accountView, eventView } from '../views.ts';
import { jsonRoute } from './define.ts';

const tag = 'Temporary accounts';

/** Temporary accounts (Drawings 8, 9) and the customer's aggregation (Drawings 7, 10). */
export function accountRoutes(app: GatewayApp): void {
  app.openapi(
    jsonRoute({
      method: 'get',
      path: '/v1/accounts',
      tag: 'Customers',
      summary: 'Usual and temporary accounts with balances (account aggregation)',
      security: 'customer',
      response: Aggregation,
    }),
    async (c) => {
      const principal = await customerPrincipal(c);
      const { bank } = c.get('gateway');
      const body = await bank.read(async (reader) => {
        const usual = await reader.listUsualAccounts(principal.customerId);
        const temporary = await reader.listTemporaryAccounts(principal.customerId, { limit: 100 });
        const temporaryAccounts = [];
        for (const account of temporary) {
          temporaryAccounts.push(await accountView(reader, account, principal.customerId));
        }
        return {
          object: 'aggregation' as const,
          usualAccounts: usual.map((account) => ({
            object: 'usual_account' as const,
            id: account.id,
            name: account.name,
            currency: account.currency,
            balanceMinor: account.balanceMinor,
          })),
          temporaryAccounts,
        };
      });
      return c.json(body, 200);
    },
  );

  app.openapi(
    jsonRoute({
      method: 'post',
      path: '/v1/temporary-accounts',
      tag,
      summary: 'Create a temporary account (from an invoice, payee + amount, or by the seller)',
      security: 'any',
      body: CreateTemporaryAccountRequest,
      response: TemporaryAccount,
      status: 201,
    }),
    async (c) => {
      const principal = await anyPrincipal(c);
      const input = c.req.valid('json');
      const gateway = c.get('gateway');
      const idempotency = await idempotencyOf(c);
      // The signature check is CPU work off the main thread: do it before the transaction, so
      // a batch of commits never waits on it. A failure is raised inside the unit, after the
      // idempotency lookup, so a retry of an earlier success still gets its stored answer.
      const claims =
        'invoice' in input
          ? await gateway.invoices.verifySignature(input.invoice).then(
              (value) => ({ ok: true as const, value }),
              (error: unknown) => ({ ok: false as const, error }),
            )
          : undefined;
      const result = await gateway.bank.mutate(principal.customerId, idempotency, async (unit) => {
        if (claims && !claims.ok) throw claims.error;
        const account = await createFromRequest(c, unit, principal, input, claims?.value);
        return { status: 201, body: await accountView(unit.tx, account, principal.customerId) };
      });
      return answer(c, result);
    },
  );

  app.openapi(
    jsonRoute({
      method: 'get',
      path: '/v1/temporary-accounts',
      tag,
      summary: "List the caller's temporary accounts",
      security: 'any',
      query: z.object({
        status: z.enum(['awaiting_funds', 'funded', 'dissolved']).optional(),
        limit: QueryInteger(1, 100).optional(),
      }),
      response: TemporaryAccountList,
    }),
    async (c) => {
      const principal = await anyPrincipal(c);
      const query = c.req.valid('query');
      const body = await c.get('gateway').bank.read(async (reader) => {
        const accounts = await reader.listTemporaryAccounts(principal.customerId, {
          limit: query.limit ?? 20,
          status: query.status,
        });
        const data = [];
        for (const account of accounts) data.push(await accountView(reader, account, principal.customerId));
        return { object: 'list' as const, data };
      });
      return c.json(body, 200);
    },
  );

  app.openapi(
    jsonRoute({
      method: 'get',
      path: '/v1/temporary-accounts/{code}',
      tag,
      summary: 'Temporary account status (Drawing 9)',
      security: 'any',
      params: CodeParam,
      response: TemporaryAccount,
    }),
    async (c) => {
      const principal = await anyPrincipal(c);
      const { code } = c.req.valid('param');
      const { bank } = c.get('gateway');
      // One statement, its own snapshot (one round trip on PostgreSQL, not two); the parties'
      // names are cached and, when not, each read on its own: they are not the account's state.
      const account = await bank.lookup((reader) => bank.partyAccount(reader, principal, code));
      const names = { getCustomer: (id: string) => bank.lookup((reader) => reader.getCustomer(id)) };
      return c.json(await accountView(names, account, principal.customerId), 200);
    },
  );

  app.openapi(
    jsonRoute({
      method: 'get',
      path: '/v1/temporary-accounts/{code}/events',
      tag,
      summary: "The account's ordered event history",
      security: 'any',
      params: CodeParam,
      query: z.object({
        // An account's sequence numbers are 32-bit (PostgreSQL INTEGER): beyond, there is nothing.
        after: QueryInteger(0, 2_147_483_647).optional(),
        limit: QueryInteger(1, 500).optional(),
      }),
      response: EventList,
    }),
    async (c) => {
      const principal = await anyPrincipal(c);
      const { code } = c.req.valid('param');
      const query = c.req.valid('query');
      const { bank } = c.get('gateway');
      const body = await bank.read(async (reader) => {
        await bank.partyAccount(reader, principal, code);
        const events = await reader.listEvents(code, query.after ?? 0, query.limit ?? 100);
        return { object: 'list' as const, data: events.map(eventView) };
      });
      return c.json(body, 200);
    },
  );

  command(app, 'lock', 'Set your own lock (share 0..1, default full)', LockRequest, (unit, p, code, body) => {
    const share =
      body.share === undefined ? { ok: true as const, value: lockPpmFull } : parseLockShare(body.share);
    if (!share.ok) throw share.error;
    return unit.bank.lock(unit, p, code, share.value);
  });
  command(app, 'unlock', 'Release your own lock', EmptyRequest, (unit, p, code) =>
    unit.bank.lock(unit, p, code, 0),
  );
  command(
    app,
    'deposit',
    'Pay in from your usual account',
    DepositRequest,
    (unit, p, code, body) => unit.bank.deposit(unit, p, code, body),
    true,
  );
  command(
    app,
    'withdraw',
    'Move money out to your usual account (move rule applies)',
    WithdrawRequest,
    (unit, p, code, body) => unit.bank.withdraw(unit, p, code, body),
    true,
  );
  command(app, 'ship', 'Seller: mark the goods shipped', ShipRequest, (unit, p, code, body) =>
    unit.bank.markShipped(unit, p, code, body),
  );
  command(app, 'accept', 'Buyer: accept the goods and release the lock', EmptyRequest, (unit, p, code) =>
    unit.bank.accept(unit, p, code),
  );
  command(
    app,
    'reject',
    'Buyer: report a problem (the money stays held)',
    RejectRequest,
    (unit, p, code, body) => unit.bank.reject(unit, p, code, body.reason),
  );
  command(app, 'dissolve', 'Close an empty temporary account', EmptyRequest, (unit, p, code) =>
    unit.bank.dissolve(unit, p, code),
  );
  command(
    app,
    'cancel',
    'Seller: cancel a deal not shipped, paid up or not (it takes no more money; what was paid in goes back to who paid it, the creation fee with it)',
    EmptyRequest,
    (unit, p, code) => unit.bank.cancelDeal(unit, p, code),
  );

  app.openapi(
    jsonRoute({
      method: 'post',
      path: '/v1/temporary-accounts/{code}/check-funds',
      tag,
      summary: 'Seller: check the balance covers the deal (steps 115-118); the buyer is told',
      security: 'any',
      params: CodeParam,
      body: EmptyRequest,
      response: FundsCheck,
    }),
    async (c) => {
      const principal = await anyPrincipal(c);
      const { code } = c.req.valid('param');
      const { bank } = c.get('gateway');
      const result = await bank.mutate(
        principal.customerId,
        await idempotencyOf(c),
        async (unit) => {
          const { account } = await bank.checkFunds(unit, principal, code);
          const shortfallMinor = missingMinor(account);
          return {
            status: 200,
            body: {
              object: 'funds_check' as const,
              sufficient: shortfallMinor === 0,
              balanceMinor: account.balanceMinor,
              requiredMinor: account.requiredMinor,
              shortfallMinor,
              account: await accountView(unit.tx, account, principal.customerId),
            },
          };
        },
        { account: code },
      );
      return answer(c, result);
    },
  );
}

type BankUnit = Unit & { bank: import('../../service/bank.ts').Bank };

/** One POST command on an account: auth, validation, idempotency, the command, the view. */
function command<S extends z.ZodType>(
  app: GatewayApp,
  name: string,
  summary: string,
  schema: S,
  run: (
    unit: BankUnit,
    principal: Principal,
    code: string,
    body: z.infer<S>,
  ) => Promise<{ account: import('@lockstep/core').TemporaryAccount }>,
  /** The command moves money to or from the caller's usual accounts (which it then reads). */
  movesMoney = false,
): void {
  app.openapi(
    jsonRoute({
      method: 'post',
      path: `/v1/temporary-accounts/{code}/${name}`,
      tag,
      summary,
      security: 'any',
      params: CodeParam,
      body: schema,
      response: TemporaryAccount,
    }),
    async (c) => {
      const principal = await anyPrincipal(c as unknown as Context<GatewayEnv>);
      const { code } = c.req.valid('param') as { code: string };
      const body = c.req.valid('json' as never) as z.infer<S>;
      const { bank } = c.get('gateway');
      const result = await bank.mutate(
        principal.customerId,
        await idempotencyOf(c as unknown as Context<GatewayEnv>),
        async (unit) => {
          const { account } = await run({ ...unit, bank }, principal, code, body);
          return { status: 200, body: await accountView(unit.tx, account, principal.customerId) };
        },
        { account: code, usualAccountsOf: movesMoney ? principal.customerId : undefined },
      );
      return answer(c as unknown as Context<GatewayEnv>, result) as never;
    },
  );
}

/**
 * A release group must be one the request names, checked before any user ID is looked up, so
 * the answer cannot tell whether a user ID exists.
 */
function checkGroupsNamed(input: {
  releasePolicy?: { kind: string; group?: string };
  buyerGroup?: string;
  sellerGroup?: string;
  members?: Array<{ group?: string }>;
}): void {
  if (input.releasePolicy?.kind !== 'group') return;
  const named = [input.buyerGroup, input.sellerGroup, ...(input.members ?? []).map((member) => member.group)];
  if (!named.includes(input.releasePolicy.group)) {
    throw new LockstepError('unknown_group', `No party is in group "${input.releasePolicy.group}".`);
  }
}

async function customerIdOf(reader: StoreReader, userId: string): Promise<string> {
  const customer = await reader.getCustomerByUserId(userId);
  if (!customer) throw new LockstepError('unknown_party', `No customer has the user ID "${userId}".`);
  return customer.id;
}

/** Turns the three request shapes of account creation into one call of the bank. */
async function createFromRequest(
  c: Context<GatewayEnv>,
  unit: Unit,
  principal: Principal,
  input: z.infer<typeof CreateTemporaryAccountRequest>,
  claims: InvoiceClaims | undefined,
) {
  const { bank, invoices } = c.get('gateway');
  const { tx } = unit;
  let buyerId: string;
  let sellerId: string;
  let currency: CurrencyCode;
  let requiredMinor: number;
  let invoiceId: string | null = null;
  let fundFrom: string | undefined;
  let payLater = false;

  if ('invoice' in input) {
    // Step 103: the buyer presents the seller's signed invoice.
    if (principal.kind !== 'customer') {
      throw new LockstepError('role_not_allowed', 'The buyer presents an invoice, with a customer session.');
    }
    if (!claims) throw new LockstepError('invoice_invalid', 'This invoice is not a valid signed invoice.');
    const invoice = await invoices.verifyForPayment(tx, claims, unit.now);
    buyerId = principal.customerId;
    sellerId = invoice.merchantId;
    currency = invoice.currency;
    requiredMinor = invoice.amountMinor;
    invoiceId = invoice.id;
    fundFrom = input.fundFrom;
    payLater = input.payLater === true;
  } else if ('payeeUserId' in input) {
    // Drawing 8: the buyer enters the payee's ID and the amount (a customer, never a merchant
    // key: a leaked secret key must not pay the merchant's money to anyone).
    if (principal.kind !== 'customer') {
      throw new LockstepError('role_not_allowed', 'A buyer pays with a customer session, not an API key.');
    }
    checkGroupsNamed(input);
    buyerId = principal.customerId;
    sellerId = await customerIdOf(tx, input.payeeUserId);
    currency = input.currency;
    requiredMinor = input.amountMinor;
    fundFrom = input.fundFrom;
    payLater = input.payLater === true;
  } else {
    // [0035]: the seller (its API key) creates the account and the buyer pays in (a plain deal:
    // the domain refuses members, groups and other policies here).
    if (principal.kind !== 'merchant') {
      throw new LockstepError(
        'role_not_allowed',
        'A seller creates an account for its buyer with its secret API key.',
      );
    }
    sellerId = principal.customerId;
    buyerId = await customerIdOf(tx, input.buyerUserId);
    currency = input.currency;
    requiredMinor = input.amountMinor;
    if (input.invoiceId) {
      const invoice = await tx.getInvoice(input.invoiceId);
      if (!invoice || invoice.merchantId !== principal.customerId) {
        throw new LockstepError('not_found', 'No such invoice of yours.');
      }
      if (invoice.currency !== currency || invoice.amountMinor !== requiredMinor) {
        throw new LockstepError('conflict', 'The amount and currency must match the invoice.');
      }
      // As for a buyer presenting it: an expired invoice pays for nothing (helper-31's audit).
      if (Date.parse(invoice.expiresAt) <= Date.parse(unit.now)) {
        throw new LockstepError('invoice_expired', 'This invoice has expired.');
      }
      invoiceId = invoice.id;
    }
  }
  if (buyerId === sellerId) {
    throw new LockstepError('invalid_parties', 'Buyer and seller must be different customers.');
  }
  const parties: PartySpec[] = [
    { customerId: buyerId, role: 'buyer', group: input.buyerGroup ?? null },
    { customerId: sellerId, role: 'seller', group: input.sellerGroup ?? null },
  ];
  for (const member of input.members ?? []) {
    parties.push({
      customerId: await customerIdOf(tx, member.userId),
      role: 'member',
      group: member.group ?? null,
    });
  }
  return bank.createTemporaryAccount(unit, principal, {
    currency,
    requiredMinor,
    parties,
    mode: input.mode,
    releasePolicy: input.releasePolicy,
    invoiceId,
    fundFromAccountId: fundFrom,
    payLater,
  });
}

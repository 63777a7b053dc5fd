import { z } from '@hono/zod-openapi';
import { accountEventTypes, amountMinorMax, currencies, errorCodes } from '@lockstep/core';

/**
 * The wire contract, written once: these schemas validate requests, describe responses and
 * generate `/openapi.json`. The SDK imports the inferred types (`import type`) from here.
 * Request objects are strict: unknown fields are refused.
 */

const currencyCodes = Object.keys(currencies) as [keyof typeof currencies, ...(keyof typeof currencies)[]];

export const Currency = z.enum(currencyCodes).openapi({ example: 'JPY' });

export const AmountMinor = z
  .number()
  .int()
  .positive()
  .max(amountMinorMax)
  .openapi({ description: 'Integer amount in minor units of the currency.', example: 10500 });

export const LockShare = z
  // The range is the domain's to check (parseLockShare): a share out of [0, 1] is
  // invalid_lock_share as a number too, not validation_failed (helper-40's review).
  .union([z.string().max(16), z.number().openapi({ minimum: 0, maximum: 1 })])
  .openapi({ description: 'A share from 0 to 1 with at most 6 decimals.', example: '1' });

/**
 * A whole number in a query string, in decimal digits only: `z.coerce.number()` also took
 * `0x10`, `1e1`, ` 5` and `5.0` (helper-102), which no client means as a count.
 */
export const QueryInteger = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,10}$/, 'A whole number in decimal digits.')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .openapi({ type: 'integer', minimum: min, maximum: max });

const Text = (max: number) => z.string().trim().min(1).max(max);

/** A temporary account's code in a path. */
export const CodeParam = z.object({
  code: z
    .string()
    .max(64)
    .openapi({ param: { name: 'code', in: 'path' }, example: 'ta_...' }),
});

export const Health = z
  .object({
    ok: z.boolean(),
    store: z.enum(['sqlite', 'postgres']),
    reason: z.string().optional().openapi({ description: 'Why not, when ok is false.' }),
  })
  .openapi('Health');

export const Jwks = z
  .object({
    keys: z.array(
      z
        .object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string(), kid: z.string() })
        .catchall(z.unknown()),
    ),
  })
  .openapi('Jwks');

export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.enum(errorCodes),
      message: z.string(),
      details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
      requestId: z.string(),
    }),
  })
  .openapi('Error');

export const Customer = z
  .object({
    object: z.literal('customer'),
    id: z.string(),
    userId: z.string(),
    displayName: z.string(),
  })
  .openapi('Customer');

export const LoginRequest = z
  .strictObject({ userId: Text(64), password: z.string().min(1).max(256) })
  .openapi('LoginRequest');

export const LoginResponse = z
  .object({ object: z.literal('session'), token: z.string(), expiresAt: z.string(), customer: Customer })
  .openapi('Session');

export const UsualAccount = z
  .object({
    object: z.literal('usual_account'),
    id: z.string(),
    name: z.string(),
    currency: Currency,
    balanceMinor: z.number().int(),
  })
  .openapi('UsualAccount');

export const PartyView = z.object({
  customerId: z.string(),
  displayName: z.string(),
  role: z.enum(['buyer', 'seller', 'member']),
  lock: z.string().openapi({ description: 'Lock share from 0 to 1 as a decimal string.' }),
  lockPpm: z.number().int().min(0).max(1_000_000),
  heldMinor: z.number().int().min(0).openapi({
    description:
      'What this lock holds from the other parties now: the balance under a full lock, nothing with the lock off; a partial lock holds its share of the balance when it was set plus its share of every pay-in since, which the other parties’ withdrawals do not wear down; 0 for a lock that blocks nobody (a member outside the release group, or any lock but the buyer’s on a deal whose money goes back to who paid it in: cancelled, past its pay or ship deadline unshipped, or a dispute decided for the buyer; there the buyer’s holds only the seller’s own pay-ins).',
  }),
  group: z.string().nullable(),
});

export const ReleasePolicy = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('all_others') }),
    z.strictObject({ kind: z.literal('group'), group: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/) }),
  ])
  .openapi('ReleasePolicy');

export const TemporaryAccount = z
  .object({
    object: z.literal('temporary_account'),
    code: z.string(),
    currency: Currency,
    balanceMinor: z.number().int(),
    requiredMinor: z.number().int(),
    status: z.enum(['awaiting_funds', 'funded', 'dissolved']),
    mode: z.enum(['deal', 'fractional']),
    parties: z.array(PartyView),
    releasePolicy: ReleasePolicy,
    invoiceId: z.string().nullable(),
    shipment: z.object({ carrier: z.string(), trackingNumber: z.string(), shippedAt: z.string() }).nullable(),
    verdict: z.enum(['accepted', 'rejected']).nullable(),
    deadlines: z
      .object({
        shipBy: z.string().nullable().openapi({
          description:
            "The seller ships by then, or its lock comes off and the money goes back to who paid it in (set at the seller's lock).",
        }),
        verdictBy: z.string().nullable().openapi({
          description: 'The buyer accepts or rejects by then, or the deal is accepted (set at shipping).',
        }),
        shipMissed: z.boolean().openapi({
          description: "The ship deadline passed unshipped: the seller's lock came off for good.",
        }),
        payBy: z.string().nullable().openapi({
          description:
            "A deal awaiting funds is paid up by then, or it takes no more money, the seller's lock comes off and an empty one is dissolved (null once funded).",
        }),
        payMissed: z.boolean().openapi({
          description:
            'The pay window closed (its deadline passed unfunded, or the seller cancelled the deal): pay-ins are refused (deadline_passed, or deal_cancelled); what it holds goes back.',
        }),
        cancelled: z.boolean().openapi({
          description:
            'The seller cancelled the deal before shipping, paid up or not (POST .../cancel): payMissed is true with it, and a paid-up deal reads awaiting_funds again.',
        }),
        verdictMissed: z.boolean().openapi({
          description:
            'The verdict deadline passed without the buyer’s verdict: the bank accepted the deal (verdict "accepted"); the buyer did not release it itself.',
        }),
      })
      .openapi({
        description:
          "A deal's deadlines: each null until the deal reaches it, and always on fractional accounts. A rejected or decided deal keeps showing the dates it had; they no longer apply.",
      }),
    dispute: z
      .object({
        resolvedFor: z.enum(['buyer', 'seller']),
        resolvedAt: z.string(),
        reason: z.string().nullable(),
      })
      .nullable()
      .openapi({ description: "How the bank resolved the buyer's rejection, once it has." }),
    funding: z.object({ sufficient: z.boolean(), shortfallMinor: z.number().int() }),
    movableMinor: z
      .number()
      .int()
      .openapi({ description: 'What the caller may move out now under the move rule.' }),
    viewerRole: z.enum(['buyer', 'seller', 'member']).nullable().openapi({
      description:
        "The caller's role in the account: a shop tells an account it sells through from one naming it as the buyer.",
    }),
    mayLock: z.boolean().openapi({
      description:
        'Whether the caller may turn its lock on now (not a buyer who accepted, nor a member whose lock is off once the buyer accepted, a seller past its ship deadline, the loser of a dispute, or a seller or member of a deal whose money goes back to who paid it in: cancelled, or past its pay or ship deadline unshipped).',
    }),
    mayCancel: z.boolean().openapi({
      description:
        'Whether the caller, as the seller, may cancel the deal now (POST .../cancel): a deal not shipped, paid up or not, while no member’s lock holds its money, without a verdict or dispute, with none of the buyer’s money taken by the seller.',
    }),
    mayShip: z.boolean().openapi({
      description:
        'Whether the caller, as the seller, may mark the deal shipped now (POST .../ship): funded, not shipped, no verdict, before its ship deadline, not cancelled.',
    }),
    creationFeeDueMinor: z.number().int().openapi({
      description:
        'The bank’s creation fee not charged yet: taken with the first pay-in. 0 once the account takes no more pay-ins (dissolved, or a deal cancelled or past its pay or ship deadline unshipped).',
    }),
    amountDueMinor: z.number().int().nullable().openapi({
      description:
        'What a pay-in may still add to a deal (its amount less what it holds and what the seller took of other parties’ money; 0 once shipped or after a verdict, and on a deal cancelled or past its pay or ship deadline); null for a fractional account, which takes any.',
    }),
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('TemporaryAccount');

export const Aggregation = z
  .object({
    object: z.literal('aggregation'),
    usualAccounts: z.array(UsualAccount),
    temporaryAccounts: z.array(TemporaryAccount),
  })
  .openapi('Aggregation');

const Member = z.strictObject({
  userId: Text(64),
  group: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/)
    .optional(),
});

const CreateOptions = {
  mode: z.enum(['deal', 'fractional']).optional(),
  releasePolicy: ReleasePolicy.optional(),
  members: z.array(Member).max(14).optional(),
  buyerGroup: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/)
    .optional(),
  sellerGroup: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/)
    .optional(),
};

/**
 * Rule 7 (step 113) by the buyer's choice: open the deal now and pay in later (from a usual
 * account, or by a remittance from outside the bank). Nothing is taken at creation.
 */
const PayLater = z.boolean().optional().openapi({
  description:
    'Open the account awaiting funds: nothing is taken now; the buyer pays in later (deposit or remittance). Not with fundFrom.',
});
const payLaterAlone: [
  (input: { payLater?: boolean; fundFrom?: string }) => boolean,
  { message: string; path: string[] },
] = [
  (input) => !(input.payLater && input.fundFrom !== undefined),
  { message: 'payLater takes nothing now, so it names no account to fund from.', path: ['fundFrom'] },
];

export const CreateTemporaryAccountRequest = z
  .union([
    z
      .strictObject({
        invoice: z.string().min(10).max(8192),
        fundFrom: z.string().min(1).max(64).optional(),
        payLater: PayLater,
        ...CreateOptions,
      })
      .refine(...payLaterAlone),
    z
      .strictObject({
        payeeUserId: Text(64),
        amountMinor: AmountMinor,
        currency: Currency,
        fundFrom: z.string().min(1).max(64).optional(),
        payLater: PayLater,
        ...CreateOptions,
      })
      .refine(...payLaterAlone),
    z.strictObject({
      buyerUserId: Text(64),
      amountMinor: AmountMinor,
      currency: Currency,
      invoiceId: z.string().max(64).optional(),
      ...CreateOptions,
    }),
  ])
  .openapi('CreateTemporaryAccountRequest');

export const LockRequest = z.strictObject({ share: LockShare.optional() }).openapi('LockRequest');
export const EmptyRequest = z.strictObject({}).openapi('EmptyRequest');
export const DepositRequest = z
  .strictObject({ amountMinor: AmountMinor, fromAccountId: z.string().min(1).max(64).optional() })
  .openapi('DepositRequest');
export const WithdrawRequest = z
  .strictObject({ amountMinor: AmountMinor.optional(), toAccountId: z.string().min(1).max(64).optional() })
  .openapi('WithdrawRequest');
export const ShipRequest = z
  .strictObject({ carrier: Text(64), trackingNumber: Text(128) })
  .openapi('ShipRequest');
export const RejectRequest = z.strictObject({ reason: Text(500).optional() }).openapi('RejectRequest');

export const FundsCheck = z
  .object({
    object: z.literal('funds_check'),
    sufficient: z.boolean(),
    balanceMinor: z.number().int(),
    requiredMinor: z.number().int(),
    shortfallMinor: z.number().int(),
    account: TemporaryAccount,
  })
  .openapi('FundsCheck');

export const eventTypes = accountEventTypes;

export const Event = z
  .object({
    object: z.literal('event'),
    id: z.string(),
    type: z.enum(eventTypes),
    accountCode: z.string(),
    seq: z.number().int(),
    at: z.string(),
    actor: z.string(),
    data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  })
  .openapi('Event');

export const EventList = z.object({ object: z.literal('list'), data: z.array(Event) }).openapi('EventList');
export const TemporaryAccountList = z
  .object({ object: z.literal('list'), data: z.array(TemporaryAccount) })
  .openapi('TemporaryAccountList');

export const CreateInvoiceRequest = z
  .strictObject({
    amountMinor: AmountMinor,
    currency: Currency,
    orderReference: Text(128),
    description: Text(500),
    payeeContact: Text(200),
    expiresInSeconds: z.number().int().min(60).max(2_592_000).optional(),
  })
  .openapi('CreateInvoiceRequest');

export const Invoice = z
  .object({
    object: z.literal('invoice'),
    id: z.string(),
    merchantId: z.string(),
    payeeName: z.string(),
    amountMinor: z.number().int(),
    currency: Currency,
    creationFeeMinor: z.number().int().openapi({
      description:
        "The bank's fee the buyer pays on top of `amountMinor` when it funds the deal (at creation, or with its first pay-in), at the bank's schedule today.",
    }),
    orderReference: z.string(),
    description: z.string(),
    payeeContact: z.string(),
    createdAt: z.string(),
    expiresAt: z.string(),
    temporaryAccountCode: z.string().nullable(),
    token: z.string().optional(),
  })
  .openapi('Invoice');

export const VerifyInvoiceRequest = z
  .strictObject({ token: z.string().min(10).max(8192) })
  .openapi('VerifyInvoiceRequest');

export const WebhookEndpoint = z
  .object({
    object: z.literal('webhook_endpoint'),
    id: z.string(),
    url: z.string(),
    enabled: z.boolean(),
    createdAt: z.string(),
  })
  .openapi('WebhookEndpoint');

export const CreateWebhookEndpointRequest = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      // Credentials in a URL end up in logs and error texts (helper-49's review); deliveries are
      // signed, so an endpoint verifies them instead.
      // zod runs a refinement also after `url()` refused the text: one that is no URL is left
      // to that refusal (`new URL` threw, and "not a url" was a 500: helper-102).
      .refine((text) => {
        if (!URL.canParse(text)) return true;
        const url = new URL(text);
        return url.username === '' && url.password === '';
      }, 'must not carry a user name or password (verify the signature instead)'),
  })
  .openapi('CreateWebhookEndpointRequest');

export const WebhookEndpointList = z
  .object({ object: z.literal('list'), data: z.array(WebhookEndpoint) })
  .openapi('WebhookEndpointList');

export type CustomerView = z.infer<typeof Customer>;
export type UsualAccountView = z.infer<typeof UsualAccount>;
export type TemporaryAccountView = z.infer<typeof TemporaryAccount>;
export type AggregationView = z.infer<typeof Aggregation>;
export type EventView = z.infer<typeof Event>;
export type EventType = (typeof eventTypes)[number];
export type InvoiceView = z.infer<typeof Invoice>;
export type FundsCheckView = z.infer<typeof FundsCheck>;
export type WebhookEndpointView = z.infer<typeof WebhookEndpoint>;
export type ErrorResponseBody = z.infer<typeof ErrorResponse>;
export type CreateInvoiceInput = z.input<typeof CreateInvoiceRequest>;
export type CreateTemporaryAccountInput = z.input<typeof CreateTemporaryAccountRequest>;

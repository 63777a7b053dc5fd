/**
 * `@lockstep/merchant`: what a shop's backend imports. Fetch only (no Node-only imports), so it
 * runs on Node >= 22, Bun, Deno and edge runtimes. Webhook verification (which loads jose) is
 * its own entry, `@lockstep/merchant/webhooks`, so a client that only calls the API stays small.
 */
export {
  type DealTerms,
  dealMismatches,
  type EnsureFundedOptions,
  type FundingResult,
  type List,
  Lockstep,
  type LockstepOptions,
  type RequestOptions,
} from './client.ts';
export {
  ApiServerError,
  AuthenticationError,
  apiErrorFrom,
  DealMismatchError,
  type ErrorCode,
  IdempotencyError,
  InsufficientFundsError,
  InvalidRequestError,
  InvoiceError,
  LockConflictError,
  LockstepAbortedError,
  LockstepApiError,
  LockstepConfigError,
  LockstepConnectionError,
  LockstepError,
  LockstepResponseError,
  LockstepValidationError,
  NotFoundError,
  PermissionError,
  RateLimitError,
  StateConflictError,
  WebhookBodyChangedError,
  WebhookFormatError,
  WebhookKeysUnavailableError,
  WebhookSignatureError,
  WebhookTimestampError,
  WebhookUnknownKeyError,
  WebhookVerificationError,
} from './errors.ts';
export type {
  LockstepEvent,
  LockstepEventType,
  WebhookHeaders,
  WebhookVerifier,
  WebhookVerifierOptions,
} from './events.ts';
export type * from './generated/gateway-types.ts';

/**
 * `@lockstep/merchant`: what a shop's backend imports. Fetch only (no Node-only imports), so it
 * runs on Node >= 22, Bun, Deno and edge runtimes.
 */
export {
  type FundingResult,
  type List,
  Lockstep,
  type LockstepOptions,
  type RequestOptions,
} from './client.ts';
export {
  ApiServerError,
  AuthenticationError,
  type ErrorCode,
  IdempotencyError,
  InsufficientFundsError,
  InvalidRequestError,
  InvoiceError,
  LockConflictError,
  LockstepApiError,
  LockstepConfigError,
  LockstepConnectionError,
  LockstepError,
  LockstepValidationError,
  NotFoundError,
  PermissionError,
  RateLimitError,
  StateConflictError,
} from './errors.ts';
export type * from './generated/gateway-types.ts';
export {
  createWebhookVerifier,
  type LockstepEvent,
  type LockstepEventType,
  WebhookFormatError,
  type WebhookHeaders,
  WebhookSignatureError,
  WebhookTimestampError,
  WebhookUnknownKeyError,
  WebhookVerificationError,
  type WebhookVerifier,
  type WebhookVerifierOptions,
} from './webhooks.ts';

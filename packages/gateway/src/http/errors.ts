import { type ErrorCode, LockstepError } from '@lockstep/core';

/**
 * The one place that maps error codes to HTTP statuses. The SDK maps them back to typed errors;
 * `docs/api.md` lists the same table for people.
 */
export const statusOfCode: Record<ErrorCode, number> = {
  invalid_amount: 400,
  amount_out_of_range: 400,
  unknown_currency: 400,
  currency_mismatch: 409,
  invalid_lock_share: 400,
  lock_share_not_allowed: 409,
  unknown_party: 404,
  not_own_lock: 403,
  not_a_party: 404,
  role_not_allowed: 403,
  duplicate_party: 400,
  invalid_parties: 400,
  unknown_group: 400,
  locked_by_other_party: 409,
  exceeds_movable_amount: 409,
  exceeds_amount_due: 409,
  insufficient_funds: 402,
  account_dissolved: 409,
  account_not_empty: 409,
  account_awaiting_funds: 409,
  already_shipped: 409,
  not_shipped: 409,
  verdict_already_given: 409,
  deadline_passed: 409,
  deal_cancelled: 409,
  dispute_resolved: 409,
  invalid_state: 409,
  validation_failed: 400,
  malformed_json: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  unauthenticated: 401,
  invalid_credentials: 401,
  login_locked: 429,
  forbidden: 403,
  csrf_failed: 403,
  not_found: 404,
  invoice_invalid: 400,
  invoice_expired: 410,
  invoice_already_used: 409,
  idempotency_key_reused: 422,
  idempotency_key_in_use: 409,
  idempotency_key_invalid: 400,
  rate_limited: 429,
  conflict: 409,
  service_unavailable: 503,
  internal_error: 500,
};

export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    details?: Record<string, string | number | boolean | null>;
    requestId: string;
  };
}

export function errorBody(error: LockstepError, requestId: string): ErrorBody {
  return { error: { ...error.toJSON(), requestId } };
}

export function toLockstepError(error: unknown): LockstepError {
  if (error instanceof LockstepError) return error;
  return new LockstepError('internal_error', 'Something went wrong on our side.');
}

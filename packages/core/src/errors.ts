/**
 * Every failure a client can cause has one stable snake_case code from this closed union.
 * The gateway maps each code to an HTTP status in one file (`http/errors.ts`); the SDK maps
 * them back to typed errors. Add codes; never rename or reuse one.
 */
export const errorCodes = [
  // money
  'invalid_amount',
  'amount_out_of_range',
  'unknown_currency',
  'currency_mismatch',
  // lock shares
  'invalid_lock_share',
  'lock_share_not_allowed',
  // parties and authority
  'unknown_party',
  'not_own_lock',
  'not_a_party',
  'role_not_allowed',
  'duplicate_party',
  'invalid_parties',
  'unknown_group',
  // the move rule and balances
  'locked_by_other_party',
  'exceeds_movable_amount',
  'exceeds_amount_due',
  'insufficient_funds',
  'account_dissolved',
  'account_not_empty',
  'account_awaiting_funds',
  'already_shipped',
  'not_shipped',
  'verdict_already_given',
  'deadline_passed',
  'deal_cancelled',
  'dispute_resolved',
  'invalid_state',
  // transport-level and platform failures (used by the gateway and the SDK)
  'validation_failed',
  'malformed_json',
  'unsupported_media_type',
  'payload_too_large',
  'unauthenticated',
  'invalid_credentials',
  'login_locked',
  'forbidden',
  'csrf_failed',
  'not_found',
  'invoice_invalid',
  'invoice_expired',
  'invoice_already_used',
  'idempotency_key_reused',
  'idempotency_key_in_use',
  'idempotency_key_invalid',
  'rate_limited',
  'conflict',
  'service_unavailable',
  'internal_error',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

/** Structured details that help a client act on an error; never secrets. */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | null>>;

/**
 * The one error base of Lockstep. `code` is machine-readable and stable; `message` is for
 * people. Domain functions return these (they never throw them); the layers around the domain
 * may throw them to abort a transaction.
 */
export class LockstepError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails) {
    super(message);
    this.name = 'LockstepError';
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: ErrorDetails } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isLockstepError(value: unknown): value is LockstepError {
  return value instanceof LockstepError;
}

/** A result of a domain command: the value, or a typed error with a stable code. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: LockstepError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: ErrorCode, message: string, details?: ErrorDetails): Result<T> {
  return { ok: false, error: new LockstepError(code, message, details) };
}

/**
 * A refusal not (yet) raised as an error: what a check found, for callers that only ask whether
 * something is allowed. A view answering "may this party cancel?" on every read builds no Error
 * (its stack trace cost 8% of a lock's CPU in the storage-free bench); a command that acts on the
 * refusal raises it with `failWith`.
 */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: ErrorDetails;
}

export function refusal(code: ErrorCode, message: string, details?: ErrorDetails): Refusal {
  return details === undefined ? { code, message } : { code, message, details };
}

export function failWith<T = never>(refused: Refusal): Result<T> {
  return fail(refused.code, refused.message, refused.details);
}

/** Unwraps a result, throwing its error. For layers that abort a transaction on failure. */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw result.error;
}

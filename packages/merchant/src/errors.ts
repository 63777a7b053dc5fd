import type { ErrorResponse } from './generated/gateway-types.ts';

/** Every stable error code the gateway can answer with. */
export type ErrorCode = ErrorResponse['error']['code'];

/**
 * The root of every error the SDK throws. `code` is stable and machine-readable: branch on it
 * (or on the subclass), never on `message`.
 */
export class LockstepError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The SDK was set up wrongly (missing or malformed API key, bad base URL). Thrown at construction. */
export class LockstepConfigError extends LockstepError {}

/** A call was refused before any request was sent (e.g. an amount that is not an integer). */
export class LockstepValidationError extends LockstepError {
  readonly param: string;

  constructor(code: 'invalid_amount' | 'invalid_param', param: string, message: string) {
    super(code, message);
    this.param = param;
  }
}

/**
 * `ensureFunded` with `expect`: the temporary account is not the plain deal the shop expected
 * (another invoice, amount or currency, more parties, a fractional or group account). Nothing
 * was locked. Any bank customer can open an account naming the shop as payee, for any amount:
 * such an account is no payment for the order.
 */
export class DealMismatchError extends LockstepError {
  /** What differs, e.g. `requiredMinor: expected 10500, got 1`. */
  readonly mismatches: readonly string[];

  constructor(code: string, mismatches: string[]) {
    super('deal_mismatch', `Temporary account ${code} is not the deal expected: ${mismatches.join('; ')}.`);
    this.mismatches = mismatches;
  }
}

/**
 * The gateway could not be reached (after the retries), did not answer in time, or the
 * connection broke while its answer was read. A POST may have been applied: send it again with
 * the same `idempotencyKey` (the SDK's own, when you passed none) to learn its outcome.
 */
export class LockstepConnectionError extends LockstepError {
  /** The Idempotency-Key the call was sent with (POSTs; undefined for a GET). */
  readonly idempotencyKey: string | undefined;

  constructor(
    message: string,
    options: { cause?: unknown; code?: 'connection_failed' | 'timeout'; idempotencyKey?: string } = {},
  ) {
    super(options.code ?? 'connection_failed', message, { cause: options.cause });
    this.idempotencyKey = options.idempotencyKey;
  }
}

/**
 * The call was aborted by the `signal` the caller passed. The request may have reached the
 * gateway already: send it again with the same Idempotency-Key (`idempotencyKey`) to learn its
 * outcome.
 */
export class LockstepAbortedError extends LockstepError {
  /** The Idempotency-Key the call was sent with (POSTs; undefined for a GET). */
  readonly idempotencyKey: string | undefined;

  constructor(options: { cause?: unknown; idempotencyKey?: string } = {}) {
    super('aborted', 'The call was aborted by its signal.', { cause: options.cause });
    this.idempotencyKey = options.idempotencyKey;
  }
}

/**
 * A 2xx answer whose body is not a JSON object of the kind asked for: the base URL points at a
 * web page, or a proxy (a captive portal) answered instead of the gateway. The call may have
 * reached the gateway: check `baseUrl`, then send it again with the same Idempotency-Key to
 * learn its outcome.
 */
export class LockstepResponseError extends LockstepError {
  readonly status: number;
  /** `X-Request-Id`, if the answer carried one. */
  readonly requestId: string | undefined;

  constructor(
    status: number,
    requestId: string | undefined,
    options: { cause?: unknown; message?: string } = {},
  ) {
    super(
      'invalid_response',
      options.message ?? `The answer (HTTP ${status}) is not JSON: is baseUrl the gateway's?`,
      { cause: options.cause },
    );
    this.status = status;
    this.requestId = requestId;
  }
}

type ErrorBody = Omit<ErrorResponse['error'], 'requestId'> & { requestId?: string };

/** The gateway answered with an error. Subclasses group the codes into families. */
export class LockstepApiError extends LockstepError {
  declare readonly code: ErrorCode;
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The gateway's request id (`X-Request-Id`): quote it when asking the bank for help. */
  readonly requestId: string | undefined;
  readonly details: Readonly<Record<string, string | number | boolean | null>> | undefined;

  constructor(body: ErrorBody, status: number, requestId: string | undefined) {
    super(body.code, body.message);
    this.status = status;
    this.requestId = requestId ?? body.requestId;
    this.details = body.details;
  }
}

/** 400/413/415: the request itself is wrong (validation, malformed JSON, amount). */
export class InvalidRequestError extends LockstepApiError {}
/** 401: the API key is unknown or revoked. */
export class AuthenticationError extends LockstepApiError {}
/** 403: the key is valid but may not do this (e.g. not this party's lock). */
export class PermissionError extends LockstepApiError {}
/** 404: no such object, or one the merchant is not a party to. */
export class NotFoundError extends LockstepApiError {}
/** 402: the paying account does not hold the amount. */
export class InsufficientFundsError extends LockstepApiError {}
/**
 * 409 from the move rule: another party's lock is on, or the amount exceeds what the locks let
 * out. Never retried automatically: it changes only when another party acts.
 */
export class LockConflictError extends LockstepApiError {}
/** 409: the account's state does not allow this (dissolved, not shipped, already shipped...). */
export class StateConflictError extends LockstepApiError {}
/** Invoice problems: invalid signature, expired, already used. */
export class InvoiceError extends LockstepApiError {}
/** The Idempotency-Key was reused with another request, is in use, or is malformed. */
export class IdempotencyError extends LockstepApiError {}
/** 429: too many requests (retried automatically, honouring Retry-After, before this is thrown). */
export class RateLimitError extends LockstepApiError {}
/** 5xx: the gateway failed (retried automatically before this is thrown). */
export class ApiServerError extends LockstepApiError {}

const lockCodes = new Set<ErrorCode>(['locked_by_other_party', 'exceeds_movable_amount']);
const invoiceCodes = new Set<ErrorCode>(['invoice_invalid', 'invoice_expired', 'invoice_already_used']);
const idempotencyCodes = new Set<ErrorCode>([
  'idempotency_key_reused',
  'idempotency_key_in_use',
  'idempotency_key_invalid',
]);

/** A code for an error answer without a Lockstep body (a proxy's page, say), from its status. */
function fallbackCode(status: number): ErrorCode {
  const byStatus: Record<number, ErrorCode> = {
    401: 'unauthenticated',
    402: 'insufficient_funds',
    403: 'forbidden',
    404: 'not_found',
    409: 'conflict',
    413: 'payload_too_large',
    415: 'unsupported_media_type',
    429: 'rate_limited',
    503: 'service_unavailable',
  };
  return byStatus[status] ?? (status >= 500 ? 'internal_error' : 'validation_failed');
}

/**
 * Maps a gateway error answer (its JSON body and HTTP status) to its typed error, as the SDK's
 * calls throw it; exported for code that calls the gateway itself (the mock's buyer does).
 */
export function apiErrorFrom(body: unknown, status: number, requestId: string | undefined): LockstepApiError {
  const error =
    typeof body === 'object' &&
    body !== null &&
    'error' in body &&
    typeof body.error === 'object' &&
    body.error
      ? (body.error as ErrorBody)
      : {
          code: fallbackCode(status),
          message: `The gateway answered HTTP ${status} without an error body.`,
        };
  const ErrorClass = (() => {
    if (invoiceCodes.has(error.code)) return InvoiceError;
    if (idempotencyCodes.has(error.code)) return IdempotencyError;
    if (lockCodes.has(error.code)) return LockConflictError;
    if (status === 401) return AuthenticationError;
    if (status === 402) return InsufficientFundsError;
    if (status === 403) return PermissionError;
    if (status === 404) return NotFoundError;
    if (status === 409) return StateConflictError;
    if (status === 429) return RateLimitError;
    if (status >= 500) return ApiServerError;
    return InvalidRequestError;
  })();
  return new ErrorClass(error, status, requestId);
}

// --- webhook verification (here, so the main entry can export them without loading jose) ---

/** The delivery could not be verified; subclasses say why. Answer such a request with 400. */
export class WebhookVerificationError extends LockstepError {}
/** The `Lockstep-Signature` header is missing or malformed, or the body is not an event. */
export class WebhookFormatError extends WebhookVerificationError {
  constructor(message: string) {
    super('webhook_malformed', message);
  }
}
/** The signature does not match the body: it was changed after signing, or not signed by the bank. */
export class WebhookSignatureError extends WebhookVerificationError {
  constructor(message = "The webhook signature is not the bank's.", code = 'webhook_signature_invalid') {
    super(code, message);
  }
}
/** The body differs from the one the bank signed (changed on the way): a signature error too. */
export class WebhookBodyChangedError extends WebhookSignatureError {
  constructor() {
    super('The webhook body was changed after the bank signed it.', 'webhook_body_changed');
  }
}

/** The signature's timestamp is outside the tolerance: a replay, or a badly wrong clock. */
export class WebhookTimestampError extends WebhookVerificationError {
  readonly ageSeconds: number;
  constructor(ageSeconds: number, toleranceSeconds: number) {
    super(
      'webhook_timestamp_out_of_tolerance',
      `The webhook was signed ${Math.round(Math.abs(ageSeconds))} s ${ageSeconds >= 0 ? 'ago' : 'in the future'}; the tolerance is ${toleranceSeconds} s.`,
    );
    this.ageSeconds = ageSeconds;
  }
}
/**
 * The gateway's published keys (its JWKS) could not be fetched: nothing is known about the
 * signature, which is not a forgery. Any non-2xx answer makes the gateway deliver it again.
 */
export class WebhookKeysUnavailableError extends WebhookVerificationError {
  constructor(options: { cause?: unknown } = {}) {
    super(
      'webhook_keys_unavailable',
      "The gateway's signing keys could not be fetched; the delivery could not be checked.",
      options,
    );
  }
}
/** The signing key is not among the gateway's published keys, even after a refresh. */
export class WebhookUnknownKeyError extends WebhookVerificationError {
  constructor(kid: string | undefined) {
    super('webhook_unknown_key', `No published gateway key has kid ${String(kid)}.`);
  }
}

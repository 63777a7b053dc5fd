import { base64url, compactVerify, createRemoteJWKSet, customFetch, errors as joseErrors } from 'jose';
import { LockstepError } from './errors.ts';
import type { Event } from './generated/gateway-types.ts';

/**
 * Webhook verification (fetch and Web Crypto only: Node, Bun, Deno, edge runtimes).
 *
 * The gateway signs each delivery as a JWS with a detached payload (RFC 7515 Appendix F) in
 * `Lockstep-Signature: <protected>..<signature>`; the protected header carries `kid`, `typ` and
 * `iat`. Verification rebuilds the JWS around the raw body, checks it against the gateway's
 * JWKS (fetched, cached, refreshed when an unknown `kid` shows up) and refuses a timestamp
 * outside the tolerance, so a captured delivery cannot be replayed later.
 */

/** An event as delivered: a discriminated union on `type`. */
export type LockstepEvent = { [T in Event['type']]: Omit<Event, 'type'> & { type: T } }[Event['type']];
export type LockstepEventType = Event['type'];

export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

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
  constructor(message = 'The webhook signature does not match its body.') {
    super('webhook_signature_invalid', message);
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
/** The signing key is not among the gateway's published keys, even after a refresh. */
export class WebhookUnknownKeyError extends WebhookVerificationError {
  constructor(kid: string | undefined) {
    super('webhook_unknown_key', `No published gateway key has kid ${String(kid)}.`);
  }
}

export interface WebhookVerifierOptions {
  /** The gateway's base URL; keys come from `<baseUrl>/.well-known/jwks.json`. */
  baseUrl: string;
  /** Accepted distance between the signature's `iat` and now (default 300 s). */
  toleranceSeconds?: number;
  /** Minimum time between two JWKS fetches (default 5 s); an unknown kid refetches after it. */
  jwksCooldownMs?: number;
  /** How long fetched keys are used before a refetch (default 10 minutes). */
  jwksCacheMs?: number;
  /** The clock, for tests. */
  now?: () => Date;
  fetch?: typeof fetch;
}

const webhookType = 'lockstep-webhook+jws';

export function createWebhookVerifier(options: WebhookVerifierOptions) {
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  const now = options.now ?? (() => new Date());
  const jwksUrl = new URL('/.well-known/jwks.json', options.baseUrl);
  const fetchImpl = options.fetch;
  const jwks = createRemoteJWKSet(jwksUrl, {
    cooldownDuration: options.jwksCooldownMs ?? 5_000,
    cacheMaxAge: options.jwksCacheMs ?? 600_000,
    ...(fetchImpl ? { [customFetch]: (url: string, init: RequestInit) => fetchImpl(url, init) } : {}),
  });

  return {
    /**
     * Verifies a delivery and returns its event. Pass the body exactly as received (before any
     * JSON parsing) and the request headers.
     */
    async verify(rawBody: string | Uint8Array, headers: WebhookHeaders): Promise<LockstepEvent> {
      const signature = header(headers, 'lockstep-signature');
      const parts = signature?.split('.');
      if (!signature || parts?.length !== 3 || parts[1] !== '' || !parts[0] || !parts[2]) {
        throw new WebhookFormatError(
          'Missing or malformed Lockstep-Signature header (expected <protected>..<signature>).',
        );
      }
      const bytes = typeof rawBody === 'string' ? new TextEncoder().encode(rawBody) : rawBody;
      const jws = `${parts[0]}.${base64url.encode(bytes)}.${parts[2]}`;
      let protectedHeader: { kid?: string; typ?: string; iat?: unknown };
      try {
        ({ protectedHeader } = await compactVerify(jws, jwks, { algorithms: ['EdDSA'] }));
      } catch (error) {
        if (error instanceof joseErrors.JWKSNoMatchingKey) throw new WebhookUnknownKeyError(kidOf(parts[0]));
        if (error instanceof joseErrors.JWSSignatureVerificationFailed) throw new WebhookSignatureError();
        if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JOSEAlgNotAllowed) {
          throw new WebhookFormatError(
            `The webhook signature is not a valid JWS: ${(error as Error).message}`,
          );
        }
        throw error;
      }
      if (protectedHeader.typ !== webhookType) {
        throw new WebhookFormatError(
          `The signature's typ is ${String(protectedHeader.typ)}, not ${webhookType}.`,
        );
      }
      if (typeof protectedHeader.iat !== 'number')
        throw new WebhookFormatError('The signature carries no iat.');
      const ageSeconds = now().getTime() / 1000 - protectedHeader.iat;
      if (Math.abs(ageSeconds) > toleranceSeconds)
        throw new WebhookTimestampError(ageSeconds, toleranceSeconds);
      let event: LockstepEvent;
      try {
        event = JSON.parse(typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody));
      } catch {
        throw new WebhookFormatError('The webhook body is not JSON.');
      }
      if (event?.object !== 'event' || typeof event.id !== 'string' || typeof event.type !== 'string') {
        throw new WebhookFormatError('The webhook body is not a Lockstep event.');
      }
      const eventId = header(headers, 'lockstep-event-id');
      if (eventId !== undefined && eventId !== event.id) {
        throw new WebhookFormatError('Lockstep-Event-Id does not match the body.');
      }
      return event;
    },
  };
}

export type WebhookVerifier = ReturnType<typeof createWebhookVerifier>;

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}

function kidOf(protectedPart: string): string | undefined {
  try {
    return JSON.parse(new TextDecoder().decode(base64url.decode(protectedPart))).kid;
  } catch {
    return undefined;
  }
}

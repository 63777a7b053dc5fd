import { base64url, compactVerify, createRemoteJWKSet, customFetch, errors as joseErrors } from 'jose';
import {
  LockstepConfigError,
  WebhookBodyChangedError,
  WebhookFormatError,
  WebhookKeysUnavailableError,
  WebhookSignatureError,
  WebhookTimestampError,
  WebhookUnknownKeyError,
} from './errors.ts';

export {
  WebhookBodyChangedError,
  WebhookFormatError,
  WebhookKeysUnavailableError,
  WebhookSignatureError,
  WebhookTimestampError,
  WebhookUnknownKeyError,
  WebhookVerificationError,
} from './errors.ts';

import type { LockstepEvent, WebhookHeaders, WebhookVerifier, WebhookVerifierOptions } from './events.ts';

/**
 * Webhook verification (fetch and Web Crypto only: Node, Bun, Deno, edge runtimes).
 *
 * The gateway signs each delivery as a JWS with a detached payload (RFC 7515 Appendix F) in
 * `Lockstep-Signature: <protected>..<signature>`; the protected header carries `kid`, `typ` and
 * `iat`. Verification rebuilds the JWS around the raw body, checks it against the gateway's
 * JWKS (fetched, cached, refreshed when an unknown `kid` shows up) and refuses a timestamp
 * outside the tolerance, so a captured delivery cannot be replayed later.
 */

export type {
  LockstepEvent,
  LockstepEventType,
  WebhookHeaders,
  WebhookVerifier,
  WebhookVerifierOptions,
} from './events.ts';

const webhookType = 'lockstep-webhook+jws';

export function createWebhookVerifier(options: WebhookVerifierOptions): WebhookVerifier {
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  // NaN (an unset variable read as a number) would turn replay protection off: refused.
  if (typeof toleranceSeconds !== 'number' || !Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) {
    throw new LockstepConfigError(
      'invalid_option',
      `toleranceSeconds must be a finite number of seconds, 0 or more; got ${String(toleranceSeconds)}.`,
    );
  }
  const now = options.now ?? (() => new Date());
  // Relative to the base URL, so a gateway mounted under a path keeps it.
  const jwksUrl = new URL('.well-known/jwks.json', withTrailingSlash(options.baseUrl));
  const fetchImpl = options.fetch;
  const cooldownMs = options.jwksCooldownMs ?? 5_000;
  /** When the key set was last fetched, on the verifier's clock (`now`). */
  let fetchedAtMs = Number.NEGATIVE_INFINITY;
  const remote = createRemoteJWKSet(jwksUrl, {
    cooldownDuration: cooldownMs,
    cacheMaxAge: options.jwksCacheMs ?? 600_000,
    [customFetch]: (url: string, init: RequestInit) => {
      fetchedAtMs = now().getTime();
      return (fetchImpl ?? fetch)(url, init);
    },
  });

  // A key set that cannot be fetched (an error status, not JSON, no answer) says nothing about
  // the signature: reported as such, not as a forgery (helper-41's review).
  const jwks = async (
    protectedHeader: Parameters<typeof remote>[0],
    token: Parameters<typeof remote>[1],
  ): Promise<CryptoKey> => {
    try {
      try {
        return await remote(protectedHeader, token);
      } catch (error) {
        // An unknown key is looked up again once the cooldown has passed on the verifier's own
        // clock too: a test's clock (the mock's `advanceTime`) moves months in a moment, past
        // keys the bank published since (helper-106). With the real clock, jose has done so.
        if (!(error instanceof joseErrors.JWKSNoMatchingKey) || now().getTime() - fetchedAtMs < cooldownMs) {
          throw error;
        }
        await remote.reload();
        return await remote(protectedHeader, token);
      }
    } catch (error) {
      if (
        error instanceof joseErrors.JWKSNoMatchingKey ||
        error instanceof joseErrors.JWKSMultipleMatchingKeys
      ) {
        throw error;
      }
      throw new WebhookKeysUnavailableError({ cause: error });
    }
  };

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
      const claimed = decodeHeader(parts[0]);
      if (!claimed || typeof claimed.kid !== 'string' || claimed.alg !== 'EdDSA') {
        throw new WebhookFormatError('The signature header must name an EdDSA key (alg, kid).');
      }
      const jws = `${parts[0]}.${base64url.encode(bytes)}.${parts[2]}`;
      let protectedHeader: { kid?: string; typ?: string; iat?: unknown };
      try {
        ({ protectedHeader } = await compactVerify(jws, jwks, { algorithms: ['EdDSA'] }));
      } catch (error) {
        if (error instanceof WebhookKeysUnavailableError) throw error;
        if (error instanceof joseErrors.JWKSNoMatchingKey) throw new WebhookUnknownKeyError(claimed.kid);
        if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JOSEAlgNotAllowed) {
          throw new WebhookFormatError(
            `The webhook signature is not a valid JWS: ${(error as Error).message}`,
          );
        }
        if (error instanceof joseErrors.JOSEError) {
          // The signed header carries the body's digest: when it does not match the body we got,
          // the body was changed on the way; otherwise the signature itself is not the bank's.
          if (typeof claimed.dig === 'string' && claimed.dig !== (await sha256Base64url(bytes))) {
            throw new WebhookBodyChangedError();
          }
          throw new WebhookSignatureError();
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

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}

function decodeHeader(protectedPart: string): { kid?: unknown; alg?: unknown; dig?: unknown } | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(base64url.decode(protectedPart)));
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

async function sha256Base64url(bytes: Uint8Array): Promise<string> {
  return base64url.encode(
    new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as BufferSource)),
  );
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

const verifiers = new WeakMap<object, Map<string, WebhookVerifier>>();
const defaultFetchKey = {};

/**
 * Verifies one delivery with a verifier cached per gateway and options (keys fetched once and
 * reused). `createWebhookVerifier` gives the same with a verifier you keep yourself.
 */
export function verifyWebhook(
  rawBody: string | Uint8Array,
  headers: WebhookHeaders,
  options: WebhookVerifierOptions,
): Promise<LockstepEvent> {
  const byFetch = options.fetch ?? defaultFetchKey;
  let cache = verifiers.get(byFetch);
  if (!cache) {
    cache = new Map();
    verifiers.set(byFetch, cache);
  }
  const key = JSON.stringify([
    options.baseUrl,
    options.toleranceSeconds,
    options.jwksCooldownMs,
    options.jwksCacheMs,
    options.now ? 'custom-clock' : '',
  ]);
  let verifier = options.now ? undefined : cache.get(key);
  if (!verifier) {
    verifier = createWebhookVerifier(options);
    if (!options.now) cache.set(key, verifier);
  }
  return verifier.verify(rawBody, headers);
}

import type { Event } from './generated/gateway-types.ts';

/** An event as delivered: a discriminated union on `type`. */
export type LockstepEvent = { [T in Event['type']]: Omit<Event, 'type'> & { type: T } }[Event['type']];
export type LockstepEventType = Event['type'];

export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

/** Verifies a delivery and returns its event (see `createWebhookVerifier`). */
export interface WebhookVerifier {
  verify(rawBody: string | Uint8Array, headers: WebhookHeaders): Promise<LockstepEvent>;
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

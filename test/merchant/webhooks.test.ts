import {
  LockstepConfigError,
  WebhookBodyChangedError,
  WebhookFormatError,
  WebhookKeysUnavailableError,
  WebhookSignatureError,
  WebhookTimestampError,
  WebhookUnknownKeyError,
} from '@lockstep/merchant';
import { createWebhookVerifier, verifyWebhook } from '@lockstep/merchant/webhooks';
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRing } from '../../packages/gateway/src/service/keys.ts';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';

/**
 * Webhook verification against deliveries signed by the gateway's own signer (its KeyRing),
 * with the gateway's JWKS served by msw.
 */
const baseUrl = 'https://gateway.hooks.test';
let ring: KeyRing;
let jwksFetches = 0;
const server = setupServer(
  http.get(`${baseUrl}/.well-known/jwks.json`, () => {
    jwksFetches++;
    return HttpResponse.json(ring.publicJwks());
  }),
);

beforeAll(async () => {
  ring = new KeyRing(await openSqliteStore({ path: ':memory:' }), { issuer: baseUrl });
  await ring.load();
  server.listen();
});
afterAll(() => server.close());

const event = {
  object: 'event',
  id: 'evt_1',
  type: 'deal.accepted',
  accountCode: 'TA-1',
  seq: 8,
  at: '2026-11-25T10:00:00.000Z',
  actor: 'cus_buyer',
  data: {},
};

async function delivery(body = JSON.stringify(event), signer = ring) {
  return {
    body,
    headers: new Headers({
      'lockstep-signature': await signer.signWebhook(body),
      'lockstep-event-id': 'evt_1',
    }),
  };
}

const verifier = (options: Partial<Parameters<typeof createWebhookVerifier>[0]> = {}) =>
  createWebhookVerifier({ baseUrl, jwksCooldownMs: 0, ...options });

describe('verifyWebhook', () => {
  it('a genuine delivery while the key set cannot be fetched is "keys unavailable", not a forgery', async () => {
    // A JWKS outage was reported as "not signed by the bank" (helper-41's review).
    const { body, headers } = await delivery();
    const jwksUrl = `${baseUrl}/.well-known/jwks.json`;
    const outages = [
      () => HttpResponse.json({ error: { code: 'service_unavailable' } }, { status: 503 }),
      () => HttpResponse.text('<html>maintenance</html>'),
      () => HttpResponse.error(),
    ];
    try {
      for (const answer of outages) {
        server.use(http.get(jwksUrl, answer));
        const error = await verifier()
          .verify(body, headers)
          .catch((caught) => caught);
        expect(error).toBeInstanceOf(WebhookKeysUnavailableError);
        expect(error).not.toBeInstanceOf(WebhookSignatureError);
        expect(error.code).toBe('webhook_keys_unavailable');
      }
    } finally {
      server.resetHandlers();
    }
    // Once the keys are back, the same delivery verifies.
    await expect(verifier().verify(body, headers)).resolves.toEqual(event);
  });

  it('refuses a tolerance that is not a finite number of seconds (NaN from an unset variable checked nothing)', () => {
    for (const toleranceSeconds of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      expect(() => verifier({ toleranceSeconds })).toThrow(LockstepConfigError);
    }
  });

  it('returns the typed event of a valid delivery (string, bytes or a plain header object)', async () => {
    const { body, headers } = await delivery();
    const verified = await verifier().verify(body, headers);
    expect(verified).toEqual(event);
    if (verified.type === 'deal.accepted') expect(verified.accountCode).toBe('TA-1');
    await expect(
      verifier().verify(new TextEncoder().encode(body), Object.fromEntries(headers)),
    ).resolves.toEqual(event);
    // The one-call form, with a verifier cached per gateway.
    await expect(verifyWebhook(body, headers, { baseUrl })).resolves.toEqual(event);
  });

  it('refuses a body changed after signing', async () => {
    const { body, headers } = await delivery();
    const tampered = body.replace('"seq":8', '"seq":9');
    const error = await verifier()
      .verify(tampered, headers)
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(WebhookBodyChangedError);
    expect(error).toBeInstanceOf(WebhookSignatureError);
    expect(error.code).toBe('webhook_body_changed');
  });

  it("refuses a signature that is not the bank's over an unchanged body", async () => {
    const { body, headers } = await delivery();
    const [head, , signature] = String(headers.get('lockstep-signature')).split('.');
    const forged = `${head}..${(signature as string).slice(0, -4)}AAAA`;
    const error = await verifier()
      .verify(body, { 'lockstep-signature': forged })
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(WebhookSignatureError);
    expect(error).not.toBeInstanceOf(WebhookBodyChangedError);
  });

  it('refuses a header without a kid (after a rotation two keys are published)', async () => {
    await ring.rotate();
    const { body, headers } = await delivery();
    const [head, , signature] = String(headers.get('lockstep-signature')).split('.');
    const decoded = JSON.parse(Buffer.from(head as string, 'base64url').toString());
    delete decoded.kid;
    const noKid = `${Buffer.from(JSON.stringify(decoded)).toString('base64url')}..${signature}`;
    await expect(verifier().verify(body, { 'lockstep-signature': noKid })).rejects.toBeInstanceOf(
      WebhookFormatError,
    );
  });

  it('refuses a stale or future timestamp (a replay)', async () => {
    const { body, headers } = await delivery();
    const later = new Date(Date.now() + 301_000);
    const stale = await verifier({ now: () => later })
      .verify(body, headers)
      .catch((error) => error);
    expect(stale).toBeInstanceOf(WebhookTimestampError);
    expect(stale.code).toBe('webhook_timestamp_out_of_tolerance');
    const earlier = new Date(Date.now() - 400_000);
    await expect(verifier({ now: () => earlier }).verify(body, headers)).rejects.toBeInstanceOf(
      WebhookTimestampError,
    );
    // Within a custom tolerance it passes.
    await expect(
      verifier({ now: () => later, toleranceSeconds: 600 }).verify(body, headers),
    ).resolves.toEqual(event);
  });

  it('refuses a delivery signed by a key the gateway never published', async () => {
    const stranger = new KeyRing(await openSqliteStore({ path: ':memory:' }), { issuer: baseUrl });
    await stranger.load();
    const { body, headers } = await delivery(undefined, stranger);
    await expect(verifier().verify(body, headers)).rejects.toBeInstanceOf(WebhookUnknownKeyError);
  });

  it('follows a key rotation: an unknown kid refetches the JWKS; the old key keeps verifying', async () => {
    const shared = verifier({ jwksCooldownMs: 0 });
    const before = await delivery();
    await expect(shared.verify(before.body, before.headers)).resolves.toEqual(event);
    const fetchesBefore = jwksFetches;
    await ring.rotate();
    const after = await delivery();
    expect(after.headers.get('lockstep-signature')).not.toBe(before.headers.get('lockstep-signature'));
    await expect(shared.verify(after.body, after.headers)).resolves.toEqual(event);
    expect(jwksFetches).toBeGreaterThan(fetchesBefore);
    await expect(shared.verify(before.body, before.headers)).resolves.toEqual(event);
  });

  it('refuses a missing or malformed signature header and a mismatched event id', async () => {
    const { body, headers } = await delivery();
    await expect(verifier().verify(body, new Headers())).rejects.toBeInstanceOf(WebhookFormatError);
    await expect(verifier().verify(body, { 'lockstep-signature': 'abc' })).rejects.toBeInstanceOf(
      WebhookFormatError,
    );
    const full = `${headers.get('lockstep-signature')?.replace('..', '.eyJ4IjoxfQ.')}`;
    await expect(verifier().verify(body, { 'lockstep-signature': full })).rejects.toBeInstanceOf(
      WebhookFormatError,
    );
    const mismatched = new Headers(headers);
    mismatched.set('lockstep-event-id', 'evt_other');
    await expect(verifier().verify(body, mismatched)).rejects.toBeInstanceOf(WebhookFormatError);
  });
});

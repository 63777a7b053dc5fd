import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventBus } from '../../packages/gateway/src/service/event-bus.ts';
import type { KeyRing } from '../../packages/gateway/src/service/keys.ts';
import { WebhookWorker } from '../../packages/gateway/src/service/webhooks.ts';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';
import type { Store } from '../../packages/gateway/src/storage/store.ts';
import { runDeal, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { receiver, waitFor } from '../support/receiver.ts';

/**
 * Webhooks end to end with a real HTTP receiver on localhost. Signatures are checked with an
 * implementation independent of the gateway's (node:crypto, not jose).
 */
/** Verifies `Lockstep-Signature` (detached JWS, EdDSA) with node:crypto and the published JWKS. */
function independentVerify(
  jwks: { keys: Array<Record<string, string>> },
  body: string,
  signatureHeader: string,
  toleranceSeconds = 300,
  nowSeconds = Math.floor(Date.now() / 1000),
): { ok: boolean; reason?: string } {
  const [protectedPart, payloadPart, signaturePart] = signatureHeader.split('.');
  if (!protectedPart || payloadPart !== '' || !signaturePart) return { ok: false, reason: 'malformed' };
  const header = JSON.parse(Buffer.from(protectedPart, 'base64url').toString('utf8'));
  if (header.alg !== 'EdDSA') return { ok: false, reason: 'alg' };
  const jwk = jwks.keys.find((key) => key.kid === header.kid);
  if (!jwk) return { ok: false, reason: 'kid' };
  const signingInput = `${protectedPart}.${Buffer.from(body, 'utf8').toString('base64url')}`;
  const key = createPublicKey({ key: jwk as never, format: 'jwk' });
  const valid = verifySignature(
    null,
    Buffer.from(signingInput),
    key,
    Buffer.from(signaturePart, 'base64url'),
  );
  if (!valid) return { ok: false, reason: 'signature' };
  if (Math.abs(nowSeconds - Number(header.iat)) > toleranceSeconds) return { ok: false, reason: 'stale' };
  return { ok: true };
}

describe('webhooks', () => {
  let gateway: TestGateway | undefined;
  let hooks: Awaited<ReturnType<typeof receiver>> | undefined;
  afterEach(async () => {
    await hooks?.close();
    await gateway?.close();
    gateway = undefined;
    hooks = undefined;
  });

  async function setup(
    answer: Parameters<typeof receiver>[0],
    webhooks?: Parameters<typeof startTestGateway>[0] extends infer O
      ? O extends { webhooks?: infer W }
        ? W
        : never
      : never,
  ) {
    gateway = await startTestGateway(webhooks ? { webhooks } : {});
    hooks = await receiver(answer);
    const endpoint = await gateway.request('POST', '/v1/webhook-endpoints', {
      token: gateway.seed.secretKey,
      body: { url: hooks.url },
    });
    expect(endpoint.status).toBe(201);
    return { gateway, hooks, endpointId: endpoint.body.id as string };
  }

  it('delivers every event of a deal in order, signed so an independent verifier accepts it', async () => {
    const { gateway, hooks } = await setup(() => 200);
    const code = await runDeal(gateway);
    const history = await gateway.request('GET', `/v1/temporary-accounts/${code}/events`, {
      token: gateway.seed.secretKey,
    });
    const expected = history.body.data.map((event: { id: string }) => event.id);
    await waitFor(() => hooks.deliveries.length >= expected.length);
    const events = hooks.deliveries.map((delivery) => JSON.parse(delivery.body));
    expect(events.map((event) => event.id)).toEqual(expected);
    expect(events.map((event) => event.seq)).toEqual(expected.map((_: string, index: number) => index + 1));
    expect(events.at(-1).type).toBe('account.dissolved');
    const jwks = (await gateway.request('GET', '/.well-known/jwks.json')).body;
    for (const delivery of hooks.deliveries) {
      expect(delivery.headers['lockstep-event-id']).toBe(JSON.parse(delivery.body).id);
      expect(independentVerify(jwks, delivery.body, String(delivery.headers['lockstep-signature']))).toEqual({
        ok: true,
      });
    }
    // A body changed after signing fails verification.
    const tampered = hooks.deliveries[0]!.body.replace('"seq":1', '"seq":9');
    expect(
      independentVerify(jwks, tampered, String(hooks.deliveries[0]!.headers['lockstep-signature'])).reason,
    ).toBe('signature');
  });

  it('a receiver that fails and drops connections still gets every event exactly once, in order', async () => {
    const { gateway, hooks } = await setup((_, index) =>
      index % 3 === 0 ? 500 : index % 3 === 1 ? 'drop' : 200,
    );
    const code = await runDeal(gateway);
    const history = await gateway.request('GET', `/v1/temporary-accounts/${code}/events`, {
      token: gateway.seed.secretKey,
    });
    const expected: string[] = history.body.data.map((event: { id: string }) => event.id);
    const accepted = () => hooks.deliveries.filter((delivery) => delivery.status === 200);
    await waitFor(() => accepted().length >= expected.length, 20_000);
    const acceptedIds = accepted().map((delivery) => JSON.parse(delivery.body).id);
    expect(acceptedIds).toEqual(expected);
    expect(hooks.deliveries.some((delivery) => delivery.status === 500)).toBe(true);
    expect(hooks.deliveries.some((delivery) => delivery.status === 0)).toBe(true);
    // Retries of one event carry the same event id: a replay is detectable by it.
    const attemptsPerEvent = new Map<string, Set<string>>();
    for (const delivery of hooks.deliveries) {
      const eventId = String(delivery.headers['lockstep-event-id']);
      const set = attemptsPerEvent.get(eventId) ?? new Set();
      set.add(String(delivery.headers['lockstep-delivery-id']));
      attemptsPerEvent.set(eventId, set);
    }
    for (const deliveryIds of attemptsPerEvent.values()) expect(deliveryIds.size).toBe(1);
  }, 30_000);

  it('a delivery replayed after the tolerance window is refused by the verifier', async () => {
    const { gateway, hooks } = await setup(() => 200);
    await runDeal(gateway);
    await waitFor(() => hooks.deliveries.length > 0);
    const jwks = (await gateway.request('GET', '/.well-known/jwks.json')).body;
    const first = hooks.deliveries[0]!;
    const signature = String(first.headers['lockstep-signature']);
    expect(independentVerify(jwks, first.body, signature).ok).toBe(true);
    const later = Math.floor(Date.now() / 1000) + 301;
    expect(independentVerify(jwks, first.body, signature, 300, later)).toEqual({
      ok: false,
      reason: 'stale',
    });
  });

  it('a disabled endpoint gets nothing new', async () => {
    const { gateway, hooks, endpointId } = await setup(() => 200);
    const disabled = await gateway.request('POST', `/v1/webhook-endpoints/${endpointId}/disable`, {
      token: gateway.seed.secretKey,
      body: {},
    });
    expect(disabled.body.enabled).toBe(false);
    await runDeal(gateway);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(hooks.deliveries).toEqual([]);
  });

  it('an event given up on stops holding back the later events of its account', async () => {
    // The receiver refuses the first event for good; with a short give-up time, the rest flow.
    const { gateway, hooks } = await setup((delivery) => (JSON.parse(delivery.body).seq === 1 ? 500 : 200), {
      pollIntervalMs: 50,
      backoffBaseMs: 20,
      backoffMaxMs: 50,
      giveUpAfterMs: 300,
    });
    const code = await runDeal(gateway);
    const history = await gateway.request('GET', `/v1/temporary-accounts/${code}/events`, {
      token: gateway.seed.secretKey,
    });
    const later = history.body.data.slice(1).map((event: { id: string }) => event.id);
    const accepted = () =>
      hooks.deliveries
        .filter((delivery) => delivery.status === 200)
        .map((delivery) => JSON.parse(delivery.body).id);
    await waitFor(() => accepted().length >= later.length, 20_000);
    expect(accepted()).toEqual(later);
  }, 30_000);
  it('wakes the worker only for units that queued deliveries, and then at once, not at the next poll', async () => {
    gateway = await startTestGateway({ webhooks: { pollIntervalMs: 600_000 } });
    const worker = gateway.gateway.webhooks!;
    let nudges = 0;
    const nudge = worker.nudge.bind(worker);
    worker.nudge = () => {
      nudges++;
      nudge();
    };
    // No endpoint anywhere: a whole deal queues nothing, so the worker runs no claims.
    await runDeal(gateway);
    expect(nudges).toBe(0);
    hooks = await receiver(() => 200);
    const endpoint = await gateway.request('POST', '/v1/webhook-endpoints', {
      token: gateway.seed.secretKey,
      body: { url: hooks.url },
    });
    expect(endpoint.status).toBe(201);
    const code = await runDeal(gateway);
    const history = await gateway.request('GET', `/v1/temporary-accounts/${code}/events`, {
      token: gateway.seed.secretKey,
    });
    // The poll is ten minutes away: only the units' own wake-ups can deliver these.
    await waitFor(() => hooks!.deliveries.length >= history.body.data.length, 5_000);
    expect(hooks.deliveries.map((delivery) => JSON.parse(delivery.body).id)).toEqual(
      history.body.data.map((event: { id: string }) => event.id),
    );
    expect(nudges).toBeGreaterThan(0);
  });

  it('sweeps parked deliveries when it starts, then once per interval, not on every pass', async () => {
    // The sweep itself is in the store contract; this is when the worker asks for it.
    let nowMs = Date.parse('2026-11-24T10:00:00.000Z');
    const swept: string[] = [];
    let passes = 0;
    const tx = {
      unparkOutbox: async (at: string) => {
        swept.push(at);
        return 0;
      },
      claimDueOutbox: async () => {
        passes++;
        return [];
      },
    };
    const store = { kind: 'postgres', transaction: async (work: (t: unknown) => unknown) => work(tx) };
    const worker = new WebhookWorker({
      store: store as unknown as Store,
      keys: {} as KeyRing,
      bus: new EventBus(),
      log: pino({ level: 'silent' }),
      now: () => new Date(nowMs),
      pollIntervalMs: 600_000,
      unparkIntervalMs: 60_000,
    });
    const pass = async (advanceMs: number) => {
      nowMs += advanceMs;
      const before = passes;
      worker.nudge();
      await waitFor(() => passes > before);
    };
    worker.start();
    await waitFor(() => passes === 1);
    await pass(30_000);
    await pass(29_999);
    await pass(1);
    await pass(1_000);
    await worker.stop();
    expect(swept).toEqual(['2026-11-24T10:00:00.000Z', '2026-11-24T10:01:00.000Z']);
  });
});

describe('webhook URLs with credentials', () => {
  it('are refused at registration, and an older one never puts its password in the stored outcome', async () => {
    // Credentials in a URL reached the log and the delivery's stored error (helper-49's review).
    const dir = mkdtempSync(path.join(tmpdir(), 'lockstep-hook-creds-'));
    const file = path.join(dir, 'lockstep.sqlite');
    const gateway = await startTestGateway({ store: await openSqliteStore({ path: file }) });
    try {
      const refused = await gateway.request('POST', '/v1/webhook-endpoints', {
        token: gateway.seed.secretKey,
        body: { url: 'https://shop:hunter2@hooks.example/lockstep' },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 'validation_failed', details: { field: 'url' } });
      const listed = await gateway.request('GET', '/v1/webhook-endpoints', { token: gateway.seed.secretKey });
      expect(listed.body.data).toEqual([]);
      // One registered before the refusal: fetch will not send credentials, and says why.
      await gateway.gateway.store.transaction((tx) =>
        tx.insertWebhookEndpoint({
          id: 'whe_legacy',
          merchantId: gateway.seed.sellerId,
          url: 'http://shop:hunter2@127.0.0.1:9/lockstep',
          enabled: true,
          createdAt: new Date().toISOString(),
        }),
      );
      await runDeal(gateway);
      const outcomes = () =>
        new DatabaseSync(file, { readOnly: true })
          .prepare('SELECT last_error FROM webhook_outbox WHERE last_error IS NOT NULL')
          .all()
          .map((row) => String(row.last_error));
      await vi.waitFor(() => expect(outcomes().length).toBeGreaterThan(0), { timeout: 10_000 });
      expect(outcomes().join('\n')).not.toContain('hunter2');
    } finally {
      await gateway.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

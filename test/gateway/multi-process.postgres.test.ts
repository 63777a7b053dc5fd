import { noCommission } from '@lockstep/core';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../packages/gateway/src/gateway.ts';
import { openPostgresStore } from '../../packages/gateway/src/storage/postgres.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { createTestDatabase, pgAvailable } from '../support/postgres.ts';
import { receiver, waitFor } from '../support/receiver.ts';
import { readEvents } from '../support/sse.ts';

/**
 * Two gateways on one PostgreSQL database, each with its own connection pool, listener and
 * webhook worker, as two processes behind a load balancer would be. (The bank workload runs
 * real separate processes and kills them; this proves the shared-state features one by one.)
 */
describe.runIf(pgAvailable())('several gateway processes on one PostgreSQL database', () => {
  let drop: () => Promise<void>;
  let databaseUrl: string;
  let a: TestGateway;
  let b: Gateway;
  let hooks: Awaited<ReturnType<typeof receiver>>;

  beforeAll(async () => {
    const database = await createTestDatabase();
    drop = database.drop;
    databaseUrl = database.url;
    a = await startTestGateway({
      store: await openPostgresStore({ connectionString: database.url }),
      webhooks: { pollIntervalMs: 50, backoffBaseMs: 50, backoffMaxMs: 200 },
    });
    b = await createGateway({
      store: await openPostgresStore({ connectionString: database.url }),
      publicUrl: a.url,
      commission: noCommission,
      log: pino({ level: 'silent' }),
      webhooks: { pollIntervalMs: 50, backoffBaseMs: 50, backoffMaxMs: 200 },
      keyRefreshMs: 0,
      // Long enough that only the revocation notice can end a cached key within a test.
      apiKeyCacheMs: 60_000,
      allowPrivateWebhookUrls: true,
    });
    hooks = await receiver(() => 200);
  });
  afterAll(async () => {
    await hooks?.close();
    await b?.close();
    await a?.close();
    await drop?.();
  });

  /** The demo buyer's token and a new deal of theirs with the demo shop, made through A. */
  async function buyersDeal(amountMinor: number): Promise<{ buyer: string; code: string }> {
    const buyer = await a.buyerToken();
    const created = await a.request('POST', '/v1/temporary-accounts', {
      token: buyer,
      body: { payeeUserId: 'ibm-shop', amountMinor, currency: 'JPY' },
    });
    expect(created.status).toBe(201);
    return { buyer, code: created.body.code as string };
  }

  async function viaB(method: string, path: string, token: string, body?: unknown, key?: string) {
    const response = await b.app.request(path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(key ? { 'idempotency-key': key } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  }

  it('a session opened through one process works through the other, and logout ends it for both', async () => {
    const token = await a.buyerToken();
    expect((await viaB('GET', '/v1/accounts', token)).status).toBe(200);
    expect((await a.request('DELETE', '/v1/sessions/current', { token })).status).toBe(204);
    expect((await viaB('GET', '/v1/accounts', token)).status).toBe(401);
  });

  it('a change made through one process reaches a live stream served by the other', async () => {
    const { buyer, code } = await buyersDeal(700);
    const stream = await b.app.request(`/v1/temporary-accounts/${code}/stream`, {
      headers: { authorization: `Bearer ${buyer}` },
    });
    expect(stream.status).toBe(200);
    const events = await readEvents(stream, 7, async () => {
      const locked = await a.request('POST', `/v1/temporary-accounts/${code}/lock`, {
        token: a.seed.secretKey,
        body: {},
      });
      expect(locked.status).toBe(200);
      const shipped = await a.request('POST', `/v1/temporary-accounts/${code}/ship`, {
        token: a.seed.secretKey,
        body: { carrier: 'Sagawa', trackingNumber: 'S-1' },
      });
      expect(shipped.status).toBe(200);
    });
    expect(events.map((event) => event.event)).toEqual([
      'account.created',
      'account.deposited',
      'account.funded',
      'lock.changed',
      'deadline.set',
      'account.shipped',
      'deadline.set',
    ]);
  });

  /** Runs `select` (e.g. `SELECT pid`) over the processes' listener connections: how many rows. */
  async function listeners(select: string): Promise<number | null> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (
        await client.query(
          `${select} FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = 'lockstep listener'`,
        )
      ).rowCount;
    } finally {
      await client.end();
    }
  }

  /** b's answer to `key` once it stops being 200, or 200 after `timeoutMs`. */
  async function refusedByB(key: string, timeoutMs = 5_000): Promise<number> {
    const started = Date.now();
    for (;;) {
      const { status } = await viaB('GET', '/v1/webhook-endpoints', key);
      if (status !== 200 || Date.now() - started > timeoutMs) return status;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  it('an API key revoked through one process is refused by the other at once, not when its cache expires', async () => {
    const { key, record } = await a.admin.createApiKey(a.seed.sellerId, 'secret');
    expect((await viaB('GET', '/v1/webhook-endpoints', key)).status).toBe(200);
    expect((await a.request('GET', '/v1/webhook-endpoints', { token: key })).status).toBe(200);
    await a.admin.revokeApiKey(a.seed.sellerId, record.id);
    // The revoking process refuses it on the next request; the other on the notice.
    expect((await a.request('GET', '/v1/webhook-endpoints', { token: key })).status).toBe(401);
    expect(await refusedByB(key)).toBe(401);
  });

  it('a revocation made while a process was not listening still reaches its cache', async () => {
    const { key, record } = await a.admin.createApiKey(a.seed.sellerId, 'secret');
    expect((await viaB('GET', '/v1/webhook-endpoints', key)).status).toBe(200);
    // Every listener connection drops (each reconnects after 500 ms); the revocation commits
    // meanwhile, so its notice reaches no process.
    expect(await listeners('SELECT pg_terminate_backend(pid)')).toBe(2);
    await a.admin.revokeApiKey(a.seed.sellerId, record.id);
    expect(await refusedByB(key)).toBe(401);
  });

  it('after its listener reconnects, a process still serves live streams opened then', async () => {
    // A reconnect tells the live streams to catch up (notices may have been missed); that
    // used to shut every stream the process opened afterwards at once, for good: a client got
    // its catch-up and a closed stream, reconnect after reconnect.
    const { buyer, code } = await buyersDeal(500);
    expect(await listeners('SELECT pg_terminate_backend(pid)')).toBe(2);
    // Each listener reconnects 500 ms later and resyncs.
    for (let waitedMs = 0; (await listeners('SELECT pid')) !== 2; waitedMs += 50) {
      if (waitedMs > 10_000) throw new Error('the listeners did not reconnect');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stream = await b.app.request(`/v1/temporary-accounts/${code}/stream`, {
      headers: { authorization: `Bearer ${buyer}` },
    });
    expect(stream.status).toBe(200);
    // The catch-up (created, deposited, funded), then the lock made through the other process.
    const events = await readEvents(stream, 4, async () => {
      const locked = await a.request('POST', `/v1/temporary-accounts/${code}/lock`, {
        token: a.seed.secretKey,
        body: {},
      });
      expect(locked.status).toBe(200);
    });
    expect(events.map((event) => event.event)).toEqual([
      'account.created',
      'account.deposited',
      'account.funded',
      'lock.changed',
    ]);
  });

  it('one Idempotency-Key sent to both processes at once applies once', async () => {
    const buyer = await a.buyerToken();
    const body = { payeeUserId: 'ibm-shop', amountMinor: 300, currency: 'JPY' };
    const before = (await viaB('GET', '/v1/accounts', buyer)).body;
    const answers = await Promise.all([
      a.request('POST', '/v1/temporary-accounts', {
        token: buyer,
        body,
        headers: { 'idempotency-key': 'both-1' },
      }),
      viaB('POST', '/v1/temporary-accounts', buyer, body, 'both-1'),
      a.request('POST', '/v1/temporary-accounts', {
        token: buyer,
        body,
        headers: { 'idempotency-key': 'both-1' },
      }),
      viaB('POST', '/v1/temporary-accounts', buyer, body, 'both-1'),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([201, 201, 201, 201]);
    expect(new Set(answers.map((answer) => answer.body.code)).size).toBe(1);
    const after = (await viaB('GET', '/v1/accounts', buyer)).body;
    const usual = (view: any) => view.usualAccounts[0].balanceMinor as number;
    expect(usual(before) - usual(after)).toBe(300);
  });

  it('an invoice signed with a key one process just rotated in verifies in the other', async () => {
    await a.gateway.keys.rotate();
    const issued = await a.request('POST', '/v1/invoices', {
      token: a.seed.secretKey,
      body: {
        amountMinor: 900,
        currency: 'JPY',
        orderReference: 'rot-1',
        description: 'x',
        payeeContact: 'y',
      },
    });
    expect(issued.status).toBe(201);
    const verified = await b.app.request('/v1/invoices/verify', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: issued.body.token }),
    });
    expect(verified.status).toBe(200);
  });

  it('a key one process rotated in is published by the other (webhooks it signs verify anywhere)', async () => {
    await a.gateway.keys.rotate();
    const kid = a.gateway.keys.activeKid;
    const jwks = await (await b.app.request('/.well-known/jwks.json')).json();
    expect(jwks.keys.map((key: { kid: string }) => key.kid)).toContain(kid);
  });

  it('with a webhook worker in each process, every event is delivered exactly once', async () => {
    const endpoint = await a.request('POST', '/v1/webhook-endpoints', {
      token: a.seed.secretKey,
      body: { url: hooks.url },
    });
    expect(endpoint.status).toBe(201);
    const buyer = await a.buyerToken();
    const codes: string[] = [];
    for (let round = 0; round < 6; round++) {
      const created = await a.request('POST', '/v1/temporary-accounts', {
        token: buyer,
        body: { payeeUserId: 'ibm-shop', amountMinor: 100 + round, currency: 'JPY' },
      });
      const code = created.body.code as string;
      codes.push(code);
      // Alternate the processes so both workers wake up for new events.
      const locked =
        round % 2 === 0
          ? await viaB('POST', `/v1/temporary-accounts/${code}/lock`, a.seed.secretKey, {})
          : await a.request('POST', `/v1/temporary-accounts/${code}/lock`, {
              token: a.seed.secretKey,
              body: {},
            });
      expect(locked.status).toBe(200);
    }
    let expected = 0;
    for (const code of codes) {
      const history = await a.request('GET', `/v1/temporary-accounts/${code}/events`, {
        token: a.seed.secretKey,
      });
      expected += history.body.data.length;
    }
    await waitFor(() => hooks.deliveries.length >= expected, 20_000);
    // Give a second worker every chance to deliver something twice.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const ids = hooks.deliveries.map((delivery) => JSON.parse(delivery.body).id as string);
    expect(ids).toHaveLength(expected);
    expect(new Set(ids).size).toBe(expected);
  }, 40_000);
});

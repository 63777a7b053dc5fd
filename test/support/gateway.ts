import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { type CommissionSchedule, noCommission } from '@lockstep/core';
import pino from 'pino';
import { expect } from 'vitest';
import { createGateway, type Gateway, type GatewayOptions } from '../../packages/gateway/src/gateway.ts';
import { type DemoSeed, demoLogins, seedDemo } from '../../packages/gateway/src/seed.ts';
import { Admin } from '../../packages/gateway/src/service/admin.ts';
import { openPostgresStore } from '../../packages/gateway/src/storage/postgres.ts';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';
import type { Store } from '../../packages/gateway/src/storage/store.ts';
import { createTestDatabase } from './postgres.ts';

/**
 * A real gateway for tests: the real app on a real store (a fresh SQLite file, or a store the
 * caller opens), seeded with the demo bank. `request()` goes through `app.request()` (no
 * network); `listen: true` also serves it on a localhost port for SDK, webhook and browser tests.
 */
export interface TestGateway {
  gateway: Gateway;
  admin: Admin;
  seed: DemoSeed;
  /** Base URL when listening, else 'http://gateway.test'. */
  url: string;
  request(
    method: string,
    pathname: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string>; rawBody?: string },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  login(userId: string, password: string): Promise<string>;
  buyerToken(): Promise<string>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  commission?: CommissionSchedule;
  now?: () => Date;
  listen?: boolean;
  store?: Store;
  allowedOrigins?: string[];
  webhooks?: GatewayOptions['webhooks'];
  loginPolicy?: GatewayOptions['loginPolicy'];
  trustedProxyHops?: number;
  housekeeping?: GatewayOptions['housekeeping'];
  deadlines?: GatewayOptions['deadlines'];
}

export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lockstep-test-'));
  let dropDatabase: (() => Promise<void>) | undefined;
  let store = options.store;
  if (!store && process.env.LOCKSTEP_TEST_STORE === 'postgres') {
    // The vitest project "postgres" runs the HTTP suites again on a fresh PostgreSQL database.
    const database = await createTestDatabase();
    dropDatabase = database.drop;
    store = await openPostgresStore({ connectionString: database.url });
  }
  store ??= await openSqliteStore({ path: path.join(dir, 'lockstep.sqlite') });
  let server: ServerType | undefined;
  let url = 'http://gateway.test';
  if (options.listen) {
    // Listen first so the gateway's public URL (its invoices' issuer) is the real one.
    const port = await freePort();
    url = `http://localhost:${port}`;
  }
  const gateway = await createGateway({
    store,
    publicUrl: url,
    commission: options.commission ?? noCommission,
    // Test receivers listen on localhost.
    allowPrivateWebhookUrls: true,
    now: options.now,
    log: pino({ level: 'silent' }),
    webhooks: options.webhooks ?? { pollIntervalMs: 100, backoffBaseMs: 50, backoffMaxMs: 500 },
    loginPolicy: options.loginPolicy,
    trustedProxyHops: options.trustedProxyHops,
    housekeeping: options.housekeeping,
    deadlines: options.deadlines,
  });
  if (options.listen) {
    const port = Number(new URL(url).port);
    await new Promise<void>((resolve) => {
      server = serve({ fetch: gateway.app.fetch, port, hostname: '127.0.0.1' }, () => resolve());
    });
  }
  const admin = new Admin(gateway.bank);
  const seed = await seedDemo(admin, { allowedOrigins: options.allowedOrigins ?? ['http://localhost:3000'] });

  const request: TestGateway['request'] = async (method, pathname, requestOptions = {}) => {
    const headers: Record<string, string> = { ...requestOptions.headers };
    if (requestOptions.token) headers.authorization = `Bearer ${requestOptions.token}`;
    let body: string | undefined = requestOptions.rawBody;
    if (requestOptions.body !== undefined) {
      body = JSON.stringify(requestOptions.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await gateway.app.request(pathname, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (pages, scripts): keep the text.
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };

  const login = async (userId: string, password: string) => {
    const response = await request('POST', '/v1/sessions', { body: { userId, password } });
    if (response.status !== 201) throw new Error(`login failed: ${JSON.stringify(response.body)}`);
    return response.body.token as string;
  };

  return {
    gateway,
    admin,
    seed,
    url,
    request,
    login,
    buyerToken: () => login(demoLogins.buyer.userId, demoLogins.buyer.password),
    async close() {
      if (server) {
        const closing = new Promise<void>((resolve) => server?.close(() => resolve()));
        (server as unknown as { closeAllConnections(): void }).closeAllConnections();
        await closing;
      }
      await gateway.close();
      await dropDatabase?.();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** A JPY invoice of the demo shop's (201 checked); the invoice as the API answers it. */
export async function issueInvoice(gateway: TestGateway, amountMinor: number, orderReference: string) {
  const response = await gateway.request('POST', '/v1/invoices', {
    token: gateway.seed.secretKey,
    body: {
      amountMinor,
      currency: 'JPY',
      orderReference,
      description: 'Sencha, 100 g',
      payeeContact: 'tea@shop.test',
    },
  });
  expect(response.status).toBe(201);
  return response.body as { token: string; creationFeeMinor: number };
}

/** The demo buyer's first usual account's balance. */
export async function buyerBalanceMinor(gateway: TestGateway): Promise<number> {
  const token = await gateway.buyerToken();
  return (await gateway.request('GET', '/v1/accounts', { token })).body.usualAccounts[0].balanceMinor;
}

/** A whole deal through the HTTP API; returns the account code. */
export async function runDeal(gateway: TestGateway): Promise<string> {
  const buyer = await gateway.buyerToken();
  const seller = gateway.seed.secretKey;
  const created = await gateway.request('POST', '/v1/temporary-accounts', {
    token: buyer,
    body: { payeeUserId: 'ibm-shop', amountMinor: 4_800, currency: 'JPY' },
  });
  expect(created.status).toBe(201);
  const code = created.body.code as string;
  for (const [token, action, body] of [
    [seller, 'lock', {}],
    [seller, 'ship', { carrier: 'Yamato', trackingNumber: 'T-1' }],
    [buyer, 'accept', {}],
    [seller, 'withdraw', {}],
  ] as const) {
    const response = await gateway.request('POST', `/v1/temporary-accounts/${code}/${action}`, {
      token,
      body,
    });
    expect(response.status, `${action}: ${JSON.stringify(response.body)}`).toBe(200);
  }
  return code;
}

/**
 * The example shop's webhook handling against a real gateway (helper-44's review): a shop's
 * process started on a port, the gateway's deliveries signed as in production.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { afterEach } from 'vitest';
import { createShop } from '../../examples/shop/src/shop.ts';
import { freePort, type TestGateway } from '../support/gateway.ts';
import { waitFor } from '../support/receiver.ts';

export const adminAuth = `Basic ${Buffer.from('admin:admin').toString('base64')}`;

/** A proxy in front of the gateway that can fail chosen requests with 503 (a transient outage). */
export async function flakyProxy(target: string) {
  let failNext: { match: (method: string, url: string) => boolean; count: number } | undefined;
  const failed: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (failNext && failNext.count > 0 && failNext.match(req.method ?? '', req.url ?? '')) {
        failNext.count--;
        failed.push(`${req.method} ${req.url}`);
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: { code: 'service_unavailable', message: 'store unreachable', requestId: 'req_x' },
          }),
        );
        return;
      }
      const t = new URL(target);
      const upstream = httpRequest(
        {
          host: t.hostname,
          port: t.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: t.host },
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    failed,
    fail(match: (method: string, url: string) => boolean, count: number) {
      failNext = { match, count };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ShopHandle {
  shop: ReturnType<typeof createShop>;
  url: string;
  server: ServerType;
  webhookLog: Array<{ type: string; id: string; status: number }>;
  stop(): Promise<void>;
}

/** Runs the example shop on a localhost port (optionally a given one and a given database). */
export async function startShop(
  gw: TestGateway,
  options: { gatewayUrl?: string; port?: number; databasePath?: string; register?: boolean } = {},
): Promise<ShopHandle & { databasePath: string; port: number }> {
  const port = options.port ?? (await freePort());
  const url = `http://localhost:${port}`;
  const databasePath =
    options.databasePath ?? path.join(mkdtempSync(path.join(tmpdir(), 'shop-test-')), 'orders.sqlite');
  const shop = createShop({
    gatewayUrl: options.gatewayUrl ?? gw.url,
    secretKey: gw.seed.secretKey,
    publishableKey: gw.seed.publishableKey,
    publicUrl: url,
    databasePath,
    adminPassword: 'admin',
  });
  const webhookLog: ShopHandle['webhookLog'] = [];
  const fetchWithLog = async (request: Request) => {
    const isHook = new URL(request.url).pathname === '/webhooks/lockstep';
    const body = isHook ? await request.clone().text() : '';
    const response = await shop.app.fetch(request);
    if (isHook) {
      let parsed: { type?: string; id?: string } = {};
      try {
        parsed = JSON.parse(body);
      } catch {}
      webhookLog.push({ type: String(parsed.type), id: String(parsed.id), status: response.status });
    }
    return response;
  };
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: fetchWithLog, port, hostname: '127.0.0.1' }, () => resolve(s));
  });
  if (options.register !== false) await shop.registerWebhook();
  return {
    shop,
    url,
    server,
    port,
    databasePath,
    webhookLog,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections(): void }).closeAllConnections();
      });
      await shop.close();
    },
  };
}

/** The shop's checkout: an order and its invoice. */
export async function checkout(handle: { shop: ReturnType<typeof createShop>; url: string }, item = 'tea') {
  const response = await handle.shop.app.request(`${handle.url}/checkout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `item=${item}`,
  });
  if (response.status !== 303) throw new Error(`checkout: ${response.status}`);
  const orderId = String(response.headers.get('location')).split('/')[2] as string;
  return handle.shop.orders.get(orderId)!;
}

/** The buyer (mizuta) pays the order's invoice through the gateway API; returns the account code. */
export async function buyerPays(gw: TestGateway, invoiceToken: string): Promise<string> {
  const buyer = await gw.buyerToken();
  const created = await gw.request('POST', '/v1/temporary-accounts', {
    token: buyer,
    body: { invoice: invoiceToken },
  });
  if (created.status !== 201) throw new Error(`pay: ${JSON.stringify(created.body)}`);
  return created.body.code as string;
}

export async function adminPost(
  handle: { shop: ReturnType<typeof createShop>; url: string },
  pathname: string,
  form = '',
) {
  return handle.shop.app.request(`${handle.url}${pathname}`, {
    method: 'POST',
    headers: {
      authorization: adminAuth,
      origin: handle.url,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: form,
  });
}

export async function orderReaches(
  handle: { shop: ReturnType<typeof createShop> },
  orderId: string,
  status: string,
  timeoutMs = 10_000,
) {
  try {
    await waitFor(() => handle.shop.orders.get(orderId)?.status === status, timeoutMs);
  } catch {
    throw new Error(
      `order ${orderId} never reached ${status}; it is ${handle.shop.orders.get(orderId)?.status}`,
    );
  }
}

export async function account(gw: TestGateway, code: string) {
  return (await gw.request('GET', `/v1/temporary-accounts/${code}`, { token: gw.seed.secretKey })).body;
}

export async function events(gw: TestGateway, code: string) {
  return (
    await gw.request('GET', `/v1/temporary-accounts/${code}/events?limit=100`, { token: gw.seed.secretKey })
  ).body.data as Array<{ id: string; type: string; seq: number; data: Record<string, unknown> }>;
}

/**
 * What a test started, closed after it (last first): call once at a test file's top level, and
 * give the returned function each server, shop or proxy as it starts.
 */
export function closedAfterEach(): (close: () => Promise<unknown>) => void {
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    while (closers.length > 0)
      await closers
        .pop()?.()
        .catch(() => undefined);
  });
  return (close) => {
    closers.push(close);
  };
}

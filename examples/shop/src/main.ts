import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { createShop } from './shop.ts';

/**
 * Starts the example shop. Configuration (all required but the port):
 *   LOCKSTEP_GATEWAY_URL, LOCKSTEP_SECRET_KEY, LOCKSTEP_PUBLISHABLE_KEY, SHOP_PORT (3000),
 *   SHOP_PUBLIC_URL (http://localhost:<port>), SHOP_DATA_DIR (.data/shop), SHOP_ADMIN_PASSWORD.
 */
function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required (pnpm start at the repository root sets it for you).`);
    process.exit(2);
  }
  return value;
}

const port = Number(process.env.SHOP_PORT ?? 3000);
const dataDir = path.resolve(process.env.SHOP_DATA_DIR ?? '.data/shop');
mkdirSync(dataDir, { recursive: true });
const shop = createShop({
  gatewayUrl: required('LOCKSTEP_GATEWAY_URL'),
  secretKey: required('LOCKSTEP_SECRET_KEY'),
  publishableKey: required('LOCKSTEP_PUBLISHABLE_KEY'),
  publicUrl: process.env.SHOP_PUBLIC_URL ?? `http://localhost:${port}`,
  databasePath: path.join(dataDir, 'orders.sqlite'),
  adminPassword: process.env.SHOP_ADMIN_PASSWORD ?? 'admin',
});
await shop.registerWebhook();
const server = serve({ fetch: shop.app.fetch, port, hostname: '127.0.0.1' }, () => {
  console.log(`Example shop listening on http://localhost:${port}`);
});
const stop = () => {
  // No new connections, idle ones closed; the requests in progress finish and are answered
  // (webhooks included), then the order book closes (after 10 s at most) and the process exits
  // once the last connection has closed (helper-106: exiting as the book closed cut answers
  // not yet written), or 2 s later.
  server.close(() => process.exit(0));
  void shop.close().then(() => {
    (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
    setTimeout(() => process.exit(0), 2_000).unref();
  });
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

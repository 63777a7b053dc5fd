import { type ServerType, serve } from '@hono/node-server';
import pino from 'pino';
import { ConfigError, type GatewayConfig, loadConfig } from './config.ts';
import { createGateway, type Gateway, type GatewayOptions } from './gateway.ts';
import { seedDemo } from './seed.ts';
import { Admin } from './service/admin.ts';
import { KeySealingError } from './service/keys.ts';
import { openStore } from './storage/open.ts';

/**
 * `pnpm gateway`: starts the bank gateway on the embedded store (or PostgreSQL with
 * DATABASE_URL), prints its URL, and shuts down gracefully on SIGINT/SIGTERM: stop accepting,
 * let requests in flight finish (up to LOCKSTEP_SHUTDOWN_GRACE_MS), then close the store.
 */
export async function startGateway(config: GatewayConfig) {
  const gateway = await openGateway(config);
  let seed: Awaited<ReturnType<typeof seedDemo>> | undefined;
  if (config.seedDemo) {
    seed = await seedDemo(new Admin(gateway.bank), {
      allowedOrigins: config.demo.origins,
      buyerBalanceMinor: config.demo.buyerBalanceMinor,
    });
  }
  const server = await listen(gateway, config);
  return { gateway, server, seed };
}

/**
 * The configured store and the gateway on it (the admin CLI's too). If the gateway cannot start
 * (signing keys it cannot open, say), the store is closed again and the error thrown.
 */
export async function openGateway(
  config: GatewayConfig,
  overrides: Partial<Pick<GatewayOptions, 'webhooks' | 'housekeeping' | 'deadlines'>> = {},
): Promise<Gateway> {
  const store = await openStore(config);
  try {
    return await createGateway({
      ...overrides,
      store,
      publicUrl: config.publicUrl,
      commission: config.commission,
      allowPrivateWebhookUrls: config.allowPrivateWebhooks,
      trustedProxyHops: config.trustedProxyHops,
      idempotencyRetentionMs: config.idempotencyRetentionMs,
      deadlinePolicy: config.deadlinePolicy,
      keyEncryptionKey: config.keyEncryptionKey,
      previousKeyEncryptionKey: config.previousKeyEncryptionKey,
      log: pino({ level: config.logLevel }),
    });
  } catch (error) {
    await store.close();
    throw error;
  }
}

function listen(gateway: Gateway, config: GatewayConfig): Promise<ServerType> {
  return new Promise((resolve) => {
    const server = serve({ fetch: gateway.app.fetch, port: config.port, hostname: config.host }, () =>
      resolve(server),
    );
  });
}

export async function stopGateway(gateway: Gateway, server: ServerType, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const http = server as unknown as { closeIdleConnections?: () => void; closeAllConnections?: () => void };
  http.closeIdleConnections?.();
  const timer = setTimeout(() => http.closeAllConnections?.(), graceMs);
  // Live streams never end on their own: close them now, they reconnect with Last-Event-ID.
  gateway.bus.closeStreams();
  await closed;
  clearTimeout(timer);
  await gateway.close();
}

/** `pnpm gateway`: configuration from the environment, the URL printed, graceful shutdown. */
export async function runFromCommandLine(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  let started: Awaited<ReturnType<typeof startGateway>>;
  try {
    started = await startGateway(config);
  } catch (error) {
    if (error instanceof KeySealingError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const { gateway, server, seed } = started;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  console.log(`Lockstep gateway listening on http://localhost:${port} (store: ${gateway.store.kind})`);
  if (seed) console.log(JSON.stringify({ demoSeed: seed }));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    gateway.log.info({ signal }, 'shutting down');
    await stopGateway(gateway, server, config.shutdownGraceMs);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

if (import.meta.main) await runFromCommandLine();

import type { CommissionSchedule, DeadlinePolicy } from '@lockstep/core';
import pino, { type Logger } from 'pino';
import { createApp } from './http/app.ts';
import { Auth, defaultLoginPolicy, type LoginPolicy } from './service/auth.ts';
import { Bank } from './service/bank.ts';
import { DeadlineSweep, type DeadlineSweepOptions } from './service/deadline-sweep.ts';
import { publicOnlyFetch } from './service/egress.ts';
import { EventBus } from './service/event-bus.ts';
import {
  defaultIdempotencyRetentionMs,
  Housekeeping,
  type HousekeepingOptions,
} from './service/housekeeping.ts';
import { Invoices } from './service/invoices.ts';
import { KeyRing } from './service/keys.ts';
import { WebhookWorker, type WebhookWorkerOptions } from './service/webhooks.ts';
import type { Store } from './storage/store.ts';

export interface GatewayOptions {
  store: Store;
  /** The gateway's public URL; the `iss` of its invoices and the base of its pages. */
  publicUrl: string;
  commission: CommissionSchedule;
  loginPolicy?: LoginPolicy;
  /**
   * Reverse proxies in front of the gateway that append the client's address to
   * X-Forwarded-For (`LOCKSTEP_TRUSTED_PROXY_HOPS`, default 0: the socket's peer is the client).
   */
  trustedProxyHops?: number;
  /**
   * How long a stored answer serves retries with its Idempotency-Key (default 7 days,
   * `LOCKSTEP_IDEMPOTENCY_RETENTION_HOURS`); housekeeping deletes older ones.
   */
  idempotencyRetentionMs?: number;
  now?: () => Date;
  log?: Logger;
  /**
   * Let webhook endpoints point at loopback, private or link-local addresses (local development
   * and tests). Off by default: a merchant must not make the bank call into its own network.
   */
  allowPrivateWebhookUrls?: boolean;
  /** How often the signing keys are reloaded from the store (another process may rotate). */
  keyRefreshMs?: number;
  /** Seals the private signing keys at rest (32 bytes; `LOCKSTEP_KEY_ENCRYPTION_KEY`). */
  keyEncryptionKey?: Uint8Array;
  /** The key-encryption key being replaced (`LOCKSTEP_PREVIOUS_KEY_ENCRYPTION_KEY`). */
  previousKeyEncryptionKey?: Uint8Array;
  /**
   * How long an API key lookup is reused (default 5 s). A revocation through any process ends
   * it at once; this bounds a revocation notice that was lost.
   */
  apiKeyCacheMs?: number;
  /** The level of the default logger when no `log` is given (default LOG_LEVEL or info). */
  logLevel?: string;
  /** How long a seller has to ship and a buyer to give a verdict (default 14 days each). */
  deadlinePolicy?: DeadlinePolicy;
  /** The sweep that applies passed deadlines to deals nobody touches, or false for none here. */
  deadlines?: false | Partial<Pick<DeadlineSweepOptions, 'intervalMs' | 'firstDelayMs' | 'batchSize'>>;
  /** Upkeep of the store (expired sessions), or false to run none in this process. */
  housekeeping?:
    | false
    | Partial<
        Pick<
          HousekeepingOptions,
          | 'intervalMs'
          | 'firstDelayMs'
          | 'batchSize'
          | 'pauseMs'
          | 'loginFailuresKeptMs'
          | 'sourceWindowMs'
          | 'idempotencyKeptMs'
        >
      >;
  /** Webhook delivery settings, or false to run no delivery worker in this process. */
  webhooks?:
    | false
    | Partial<
        Pick<
          WebhookWorkerOptions,
          'pollIntervalMs' | 'backoffBaseMs' | 'backoffMaxMs' | 'attemptTimeoutMs' | 'giveUpAfterMs'
        >
      >;
}

/** Everything a running gateway is made of, wired once. */
export interface Gateway {
  store: Store;
  trustedProxyHops: number;
  allowPrivateWebhookUrls: boolean;
  publicUrl: string;
  bank: Bank;
  auth: Auth;
  keys: KeyRing;
  invoices: Invoices;
  bus: EventBus;
  webhooks: WebhookWorker | undefined;
  housekeeping: Housekeeping | undefined;
  deadlineSweep: DeadlineSweep | undefined;
  log: Logger;
  app: ReturnType<typeof createApp>;
  /**
   * Set when the gateway is stopping: every answer then closes its connection, and /healthz
   * answers 503, so clients and load balancers go elsewhere (main.ts stopGateway).
   */
  draining: boolean;
  /**
   * Set when a stop's pre-stop delay begins (`LOCKSTEP_SHUTDOWN_DELAY_MS`, main.ts): /healthz
   * answers 503 so a load balancer takes the process out of rotation, while every request is
   * still served as usual (keep-alive too) until the drain (`draining`) begins.
   */
  leaving: boolean;
  /**
   * While a stop is still accepting the connections the kernel queued (main.ts stopGateway),
   * answers wait for this before they are sent: an answer saying `Connection: close` sends its
   * client to connect again at once, and a connection completed as the listener closes is reset.
   * Null when answers go out at once.
   */
  answersHeld: Promise<void> | null;
  close(): Promise<void>;
}

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const log = options.log ?? pino({ level: options.logLevel ?? process.env.LOG_LEVEL ?? 'info' });
  const bus = new EventBus();
  const bank = new Bank({
    store: options.store,
    commission: options.commission,
    deadlines: options.deadlinePolicy,
    now: options.now,
    onCommitted: ({ events, outboxQueued }) => {
      bus.publish(events);
      if (outboxQueued) bus.announceOutbox();
    },
  });
  // Changes made through other gateway processes reach this process's streams and worker too.
  // After a gap (the listener reconnected, or too many at once), live streams are closed:
  // clients reconnect with Last-Event-ID and catch up from the store; the events not passed on
  // may have queued deliveries, so the worker is woken as for those passed on.
  const stopForeign = options.store.onForeignEvents?.(
    (events) => {
      bus.publish(events);
      bus.announceOutbox();
    },
    () => {
      bus.resyncStreams();
      bus.announceOutbox();
    },
  );
  const keys = new KeyRing(options.store, {
    issuer: options.publicUrl,
    now: options.now,
    refreshMs: options.keyRefreshMs,
    keyEncryptionKey: options.keyEncryptionKey,
    previousKeyEncryptionKey: options.previousKeyEncryptionKey,
    onUnusableKey: (kid, error) =>
      log.error(
        { kid, err: error },
        'a signing key in the store cannot be used by this process; it is neither published nor signed with here',
      ),
  });
  await keys.load();
  const gateway: Gateway = {
    store: options.store,
    trustedProxyHops: options.trustedProxyHops ?? 0,
    allowPrivateWebhookUrls: options.allowPrivateWebhookUrls ?? false,
    publicUrl: options.publicUrl,
    bank,
    auth: new Auth(options.store, {
      policy: options.loginPolicy,
      now: options.now,
      keyCacheTtlMs: options.apiKeyCacheMs,
    }),
    keys,
    invoices: new Invoices(keys, options.now),
    bus,
    webhooks: undefined,
    housekeeping: undefined,
    deadlineSweep: undefined,
    log,
    app: undefined as unknown as ReturnType<typeof createApp>,
    draining: false,
    leaving: false,
    answersHeld: null,
    async close() {
      stopForeign?.();
      bus.closeStreams();
      await gateway.webhooks?.stop();
      await gateway.housekeeping?.stop();
      await gateway.deadlineSweep?.stop();
      await options.store.close();
    },
  };
  if (options.webhooks !== false) {
    gateway.webhooks = new WebhookWorker({
      store: options.store,
      keys,
      bus,
      log,
      now: options.now,
      // Public hosts only, checked at every connection (not just at registration), unless
      // local development allows private webhook URLs.
      fetch: gateway.allowPrivateWebhookUrls ? globalThis.fetch : publicOnlyFetch(),
      // Parked deliveries are swept at start, then every minute on a shared store (a process of
      // an older release may run beside this one during a rolling deploy) and every 10 minutes
      // on the embedded one (an older process may still be finishing deliveries as this one
      // starts; a sweep of a 160k backlog holds the event loop ~135 ms).
      unparkIntervalMs: options.store.kind === 'sqlite' ? 600_000 : 60_000,
      ...options.webhooks,
    });
    gateway.webhooks.start();
  }
  if (options.housekeeping !== false) {
    gateway.housekeeping = new Housekeeping({
      store: options.store,
      log,
      now: options.now,
      loginFailuresKeptMs: (options.loginPolicy ?? defaultLoginPolicy).lockMs,
      sourceWindowMs: (options.loginPolicy ?? defaultLoginPolicy).lockMs,
      idempotencyKeptMs: options.idempotencyRetentionMs ?? defaultIdempotencyRetentionMs,
      ...options.housekeeping,
    });
    gateway.housekeeping.start();
  }
  if (options.deadlines !== false) {
    gateway.deadlineSweep = new DeadlineSweep({
      store: options.store,
      bank,
      log,
      now: options.now,
      ...options.deadlines,
    });
    gateway.deadlineSweep.start();
  }
  gateway.app = createApp(gateway);
  return gateway;
}

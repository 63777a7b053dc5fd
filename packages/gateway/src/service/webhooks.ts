import type { Logger } from 'pino';
import { eventView } from '../http/views.ts';
import type { OutboxRecord, Store, StoreReader } from '../storage/store.ts';
import type { EventBus } from './event-bus.ts';
import type { KeyRing } from './keys.ts';

/**
 * Delivers webhooks from the transactional outbox (step 114). Commands write outbox rows in the
 * same transaction as their events, so nothing acknowledged is lost; this worker claims due rows
 * with a lease (so two workers, even in two processes, never deliver one row at the same time),
 * POSTs the signed event, and on failure retries with capped, jittered exponential backoff.
 * The store hands out an endpoint's events for one account strictly in `seq` order.
 */
export interface WebhookWorkerOptions {
  store: Store;
  keys: KeyRing;
  bus: EventBus;
  log: Logger;
  /** How often to look for due retries and for events committed by other processes. */
  pollIntervalMs?: number;
  /** First retry delay; doubles per attempt up to `backoffMaxMs`. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** After this long since the first attempt, a delivery is given up (and recorded). */
  giveUpAfterMs?: number;
  attemptTimeoutMs?: number;
  concurrencyMax?: number;
  /** How long a claimed delivery is leased to this worker. */
  leaseMs?: number;
  /**
   * How often (and at start) to sweep parked deliveries (`Store.unparkOutbox`): a process of an
   * older release queues deliveries unparked and finishes them without unparking the next.
   */
  unparkIntervalMs?: number;
  now?: () => Date;
  fetch?: typeof fetch;
}

export class WebhookWorker {
  private readonly options: Required<Omit<WebhookWorkerOptions, 'now' | 'fetch'>> & {
    now: () => Date;
    fetch: typeof fetch;
  };
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private pass: Promise<void> | undefined;
  private again = false;
  private unsubscribe: (() => void) | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** When parked deliveries were last swept (never yet: the first pass sweeps). */
  private unparkedAtMs = Number.NEGATIVE_INFINITY;

  /**
   * Attempts that span at least `giveUpAfterMs` whatever the jitter (each wait is at least half
   * its backoff): a delivery is retried for the whole window from its own first attempt.
   */
  private readonly attemptsToGiveUp: number;

  constructor(options: WebhookWorkerOptions) {
    this.options = {
      pollIntervalMs: 1_000,
      backoffBaseMs: 1_000,
      backoffMaxMs: 60 * 60 * 1_000,
      giveUpAfterMs: 3 * 24 * 60 * 60 * 1_000,
      attemptTimeoutMs: 10_000,
      concurrencyMax: 16,
      leaseMs: 60_000,
      unparkIntervalMs: 60_000,
      ...options,
      now: options.now ?? (() => new Date()),
      fetch: options.fetch ?? globalThis.fetch,
    };
    const { backoffBaseMs, backoffMaxMs, giveUpAfterMs } = this.options;
    let waitedMs = 0;
    let attempts = 1;
    while (waitedMs < giveUpAfterMs && attempts < 100_000) {
      waitedMs += Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(attempts - 1, 30)) / 2;
      attempts++;
    }
    this.attemptsToGiveUp = attempts;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // Wake at once when deliveries are queued; poll for retries and other processes.
    this.unsubscribe = this.options.bus.onOutbox(() => this.nudge());
    this.timer = setInterval(() => this.nudge(), this.options.pollIntervalMs);
    this.timer.unref();
    this.nudge();
  }

  /** Stops claiming and waits for deliveries in flight. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await this.pass;
    await Promise.allSettled([...this.inFlight]);
  }

  nudge(): void {
    if (!this.running) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = this.runPass().finally(() => {
      this.pass = undefined;
      if (this.again && this.running) {
        this.again = false;
        this.nudge();
      }
    });
  }

  private async runPass(): Promise<void> {
    const { store, leaseMs, concurrencyMax, unparkIntervalMs, log } = this.options;
    try {
      const startedAt = this.options.now();
      if (startedAt.getTime() - this.unparkedAtMs >= unparkIntervalMs) {
        this.unparkedAtMs = startedAt.getTime();
        const unparked = await store.transaction((tx) => tx.unparkOutbox(startedAt.toISOString()));
        if (unparked > 0) {
          log.warn({ unparked }, 'parked webhook deliveries had nothing before them; they are due again');
        }
      }
      for (;;) {
        const capacity = concurrencyMax - this.inFlight.size;
        if (!this.running || capacity <= 0) return;
        const now = this.options.now();
        const claimed = await store.transaction((tx) =>
          tx.claimDueOutbox(now.toISOString(), new Date(now.getTime() + leaseMs).toISOString(), capacity),
        );
        if (claimed.length === 0) return;
        for (const delivery of claimed) {
          const job = this.deliver(delivery)
            .catch((error: unknown) =>
              log.error({ err: error, deliveryId: delivery.id }, 'webhook delivery crashed'),
            )
            .finally(() => {
              this.inFlight.delete(job);
              // The next event of this account may now be due.
              this.nudge();
            });
          this.inFlight.add(job);
        }
        if (claimed.length < capacity) return;
      }
    } catch (error) {
      if (this.running) log.error({ err: error }, 'webhook claim failed');
    }
  }

  /** One attempt; any unexpected error counts as a failed attempt (retried with backoff). */
  private async deliver(delivery: OutboxRecord): Promise<void> {
    try {
      await this.attempt(delivery);
    } catch (error) {
      await this.failed(delivery, error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    }
  }

  private async attempt(delivery: OutboxRecord): Promise<void> {
    const { store, keys, log, attemptTimeoutMs } = this.options;
    const loaded = await store.read(async (reader: StoreReader) => {
      const event = await reader.getEvent(delivery.eventId);
      const endpoint = event ? await endpointById(reader, event.accountCode, delivery.endpointId) : null;
      return { event, endpoint };
    });
    if (!loaded.event || !loaded.endpoint) {
      await store.transaction((tx) =>
        tx.markOutboxDelivered(delivery.id, this.options.now().toISOString(), delivery.nextAttemptAt),
      );
      return;
    }
    if (!loaded.endpoint.enabled) {
      // A disabled endpoint gets nothing new: finish the row so it holds nothing back.
      await store.transaction((tx) =>
        tx.markOutboxGivenUp(
          delivery.id,
          this.options.now().toISOString(),
          'endpoint disabled',
          delivery.nextAttemptAt,
        ),
      );
      return;
    }
    const body = JSON.stringify(eventView(loaded.event));
    let outcome: string | null;
    try {
      const response = await this.options.fetch(loaded.endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Lockstep-Webhooks/1',
          'lockstep-signature': await keys.signWebhook(body),
          'lockstep-event-id': loaded.event.id,
          'lockstep-delivery-id': delivery.id,
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(attemptTimeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      outcome = response.ok ? null : `HTTP ${response.status}`;
    } catch (error) {
      // An error's text may quote the URL; credentials in one (an endpoint registered before
      // they were refused) stay out of the log and the stored outcome.
      outcome = (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).replace(
        /\/\/[^/\s]*@/g,
        '//',
      );
    }
    if (outcome === null) {
      await store.transaction((tx) =>
        tx.markOutboxDelivered(delivery.id, this.options.now().toISOString(), delivery.nextAttemptAt),
      );
      return;
    }
    log.warn(
      { deliveryId: delivery.id, attempt: delivery.attemptCount + 1, outcome },
      'webhook delivery failed',
    );
    await this.failed(delivery, outcome);
  }

  private async failed(delivery: OutboxRecord, reason: string): Promise<void> {
    const { store, backoffBaseMs, backoffMaxMs, giveUpAfterMs, log } = this.options;
    const now = this.options.now();
    const delayMs = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(delivery.attemptCount, 30));
    // Full jitter in the upper half, so receivers recovering together are not hit in lockstep.
    const jitteredMs = delayMs / 2 + Math.random() * (delayMs / 2);
    const event = await store.read((reader) => reader.getEvent(delivery.eventId));
    const ageMs = event ? now.getTime() - Date.parse(event.at) : 0;
    // Given up once the event is older than the window AND the delivery itself was tried for
    // that long: one queued behind a failing delivery of its account waited, untried, and got a
    // single attempt once that one was given up (helper-44's review).
    if (ageMs > giveUpAfterMs && delivery.attemptCount + 1 >= this.attemptsToGiveUp) {
      log.error({ deliveryId: delivery.id, reason }, 'webhook delivery given up');
      // Finished, not delivered: later events of the account flow again (the row keeps why).
      await store.transaction((tx) =>
        tx.markOutboxGivenUp(delivery.id, now.toISOString(), reason, delivery.nextAttemptAt),
      );
      return;
    }
    await store.transaction((tx) =>
      tx.markOutboxFailed(
        delivery.id,
        reason,
        new Date(now.getTime() + jitteredMs).toISOString(),
        delivery.nextAttemptAt,
      ),
    );
  }
}

async function endpointById(reader: StoreReader, accountCode: string, endpointId: string) {
  const account = await reader.getTemporaryAccount(accountCode);
  for (const party of account?.parties ?? []) {
    const endpoint = (await reader.listWebhookEndpoints(party.customerId)).find(
      (candidate) => candidate.id === endpointId,
    );
    if (endpoint) return endpoint;
  }
  return null;
}

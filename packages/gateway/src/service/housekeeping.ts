import type { Logger } from 'pino';
import type { Store } from '../storage/store.ts';

export interface HousekeepingOptions {
  store: Store;
  log: Logger;
  now?: () => Date;
  /** Between two sweeps (default 10 minutes). */
  intervalMs?: number;
  /** From start to the first sweep (default 30 s: start-up is not slowed). */
  firstDelayMs?: number;
  /** Rows deleted per statement (default 1,000): no statement holds the store long. */
  batchSize?: number;
}

/**
 * The store's upkeep: rows nothing else removes. Expired sessions go (each login leaves one;
 * an expired session is already refused, its row is only kept). Runs once shortly after start,
 * then every `intervalMs`, in batches, each its own transaction. Processes sharing a store may
 * each run it: a row deleted twice is deleted once.
 */
export class Housekeeping {
  private readonly options: Required<Omit<HousekeepingOptions, 'now'>> & { now: () => Date };
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;
  private stopped = false;

  constructor(options: HousekeepingOptions) {
    this.options = {
      intervalMs: 600_000,
      firstDelayMs: 30_000,
      batchSize: 1_000,
      ...options,
      now: options.now ?? (() => new Date()),
    };
  }

  start(): void {
    if (this.timer || this.stopped) return;
    const next = (delayMs: number) => {
      this.timer = setTimeout(() => {
        this.sweeping = this.sweep()
          .catch((error: unknown) => this.options.log.error({ err: error }, 'housekeeping sweep failed'))
          .finally(() => {
            this.sweeping = undefined;
            if (!this.stopped) next(this.options.intervalMs);
          });
      }, delayMs);
      this.timer.unref();
    };
    next(this.options.firstDelayMs);
  }

  /** Stops the timer and waits for a sweep in progress (it ends after its current batch). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sweeping;
  }

  /** One sweep now: the number of rows it deleted. */
  async sweep(): Promise<{ expiredSessions: number }> {
    const { store, batchSize, log } = this.options;
    const nowIso = this.options.now().toISOString();
    let expiredSessions = 0;
    for (;;) {
      const deleted = await store.transaction((tx) => tx.deleteExpiredSessions(nowIso, batchSize));
      expiredSessions += deleted;
      if (deleted < batchSize || this.stopped) break;
    }
    if (expiredSessions > 0) log.info({ expiredSessions }, 'housekeeping: expired sessions deleted');
    return { expiredSessions };
  }
}

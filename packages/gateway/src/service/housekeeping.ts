import type { Logger } from 'pino';
import type { Store, StoreTx } from '../storage/store.ts';
import { Periodic } from './periodic.ts';

export interface HousekeepingOptions {
  store: Store;
  log: Logger;
  now?: () => Date;
  /** Between two sweeps (default 10 minutes). */
  intervalMs?: number;
  /** From start to the first sweep (default 30 s: start-up is not slowed). */
  firstDelayMs?: number;
  /**
   * Rows deleted per statement: 200 on the embedded store, where a statement runs on the event
   * loop inside the commit that answers waiting requests (1,000 rows held it ~20 ms), 1,000 on
   * PostgreSQL.
   */
  batchSize?: number;
  /** Between two statements of a sweep (default 20 ms), so a backlog never holds the store. */
  pauseMs?: number;
  /**
   * Failed-login counts per source untouched this long, and not locked any more, are deleted
   * (default 15 minutes: the login policy's `lockMs`).
   */
  loginFailuresKeptMs?: number;
  /** How long a source's window over all user IDs lasts (the login policy's `lockMs`). */
  sourceWindowMs?: number;
  /** Stored answers for Idempotency-Key retries older than this are deleted (default 7 days). */
  idempotencyKeptMs?: number;
}

export const defaultIdempotencyRetentionMs = 7 * 24 * 60 * 60 * 1000;

/**
 * The store's upkeep: rows nothing else removes. Expired sessions go (each login leaves one;
 * an expired session is already refused, its row is only kept), and so do failed-login counts
 * per source that are old and no longer lock anything, sources' windows over all user IDs
 * that are over, and stored answers for Idempotency-Key retries past their retention. Runs
 * once shortly after start, then every `intervalMs`, in batches, each its own transaction,
 * with a pause between them.
 * Processes sharing a store may each run it: a row deleted twice is deleted once.
 */
export class Housekeeping {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly batchSize: number;
  private readonly pauseMs: number;
  private readonly loginFailuresKeptMs: number;
  private readonly sourceWindowMs: number;
  private readonly idempotencyKeptMs: number;
  private readonly periodic: Periodic;

  constructor(options: HousekeepingOptions) {
    this.store = options.store;
    this.log = options.log;
    this.now = options.now ?? (() => new Date());
    this.periodic = new Periodic(() => this.sweep(), {
      intervalMs: whole('intervalMs', options.intervalMs ?? 600_000, 1),
      firstDelayMs: whole('firstDelayMs', options.firstDelayMs ?? 30_000, 0),
      onError: (error) => this.log.error({ err: error }, 'housekeeping sweep failed'),
    });
    this.batchSize = whole(
      'batchSize',
      options.batchSize ?? (options.store.kind === 'sqlite' ? 200 : 1_000),
      1,
    );
    this.pauseMs = whole('pauseMs', options.pauseMs ?? 20, 0);
    this.loginFailuresKeptMs = whole('loginFailuresKeptMs', options.loginFailuresKeptMs ?? 900_000, 0);
    this.sourceWindowMs = whole('sourceWindowMs', options.sourceWindowMs ?? 900_000, 0);
    this.idempotencyKeptMs = whole(
      'idempotencyKeptMs',
      options.idempotencyKeptMs ?? defaultIdempotencyRetentionMs,
      0,
    );
  }

  start(): void {
    this.periodic.start();
  }

  /** Stops the timer and waits for a sweep in progress (it ends after its current batch). */
  async stop(): Promise<void> {
    await this.periodic.stop();
  }

  private get stopped(): boolean {
    return this.periodic.isStopped;
  }

  /** One sweep now: the number of rows it deleted, per kind. */
  async sweep(): Promise<{
    expiredSessions: number;
    staleLoginFailures: number;
    staleSourceWindows: number;
    expiredIdempotency: number;
  }> {
    const now = this.now();
    const nowIso = now.toISOString();
    const expiredSessions = await this.inBatches((tx) => tx.deleteExpiredSessions(nowIso, this.batchSize));
    const before = new Date(now.getTime() - this.loginFailuresKeptMs).toISOString();
    const staleLoginFailures = this.stopped
      ? 0
      : await this.inBatches((tx) => tx.deleteStaleSourceFailures(before, nowIso, this.batchSize));
    // Windows that started a whole window ago are over (a new attempt would start a new one).
    const windowsBefore = new Date(now.getTime() - this.sourceWindowMs).toISOString();
    const staleSourceWindows = this.stopped
      ? 0
      : await this.inBatches((tx) => tx.deleteStaleSourceWindows(windowsBefore, this.batchSize));
    const idempotencyBefore = new Date(now.getTime() - this.idempotencyKeptMs).toISOString();
    const expiredIdempotency = this.stopped
      ? 0
      : await this.inBatches((tx) => tx.deleteIdempotencyBefore(idempotencyBefore, this.batchSize));
    const deleted = { expiredSessions, staleLoginFailures, staleSourceWindows, expiredIdempotency };
    if (Object.values(deleted).some((count) => count > 0)) {
      this.log.info(deleted, 'housekeeping: rows deleted');
    }
    return deleted;
  }

  /** Runs one batch statement until it deletes less than a batch, pausing between batches. */
  private async inBatches(deleteBatch: (tx: StoreTx) => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await this.store.transaction(deleteBatch);
      total += deleted;
      if (deleted < this.batchSize || this.stopped) break;
      await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
      if (this.stopped) break;
    }
    return total;
  }
}

function whole(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`housekeeping ${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

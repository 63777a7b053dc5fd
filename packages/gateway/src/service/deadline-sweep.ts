import { LockstepError } from '@lockstep/core';
import type { Logger } from 'pino';
import type { Store } from '../storage/store.ts';
import type { Bank } from './bank.ts';
import { Periodic } from './periodic.ts';

export interface DeadlineSweepOptions {
  store: Store;
  bank: Bank;
  log: Logger;
  now?: () => Date;
  /** Between two sweeps (default 60 s): how late a passed deadline may be applied at most. */
  intervalMs?: number;
  /** From start to the first sweep (default 5 s). */
  firstDelayMs?: number;
  /** Deals read per batch (default 100). */
  batchSize?: number;
}

/**
 * Applies the deadlines of deals nobody touches (@lockstep/core deadlines.ts): a command on a
 * deal applies its passed deadline itself, this finds the rest, so the seller's lock comes off
 * a deal never shipped, and a silent buyer's deal is accepted, within `intervalMs` of the
 * deadline, with the events and webhooks of any command. Processes sharing a store may each
 * run it: a deal is changed once (its version is checked), the other process moves on.
 */
export class DeadlineSweep {
  private readonly store: Store;
  private readonly bank: Bank;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly batchSize: number;
  private readonly periodic: Periodic;

  constructor(options: DeadlineSweepOptions) {
    this.store = options.store;
    this.bank = options.bank;
    this.log = options.log;
    this.now = options.now ?? (() => new Date());
    this.batchSize = options.batchSize ?? 100;
    this.periodic = new Periodic(() => this.sweep(), {
      intervalMs: options.intervalMs ?? 60_000,
      firstDelayMs: options.firstDelayMs ?? 5_000,
      onError: (error) => this.log.error({ err: error }, 'deadline sweep failed'),
    });
  }

  start(): void {
    this.periodic.start();
  }

  /** Stops the timer and waits for a sweep in progress (it ends after its current deal). */
  async stop(): Promise<void> {
    await this.periodic.stop();
  }

  private get stopped(): boolean {
    return this.periodic.isStopped;
  }

  /**
   * One sweep now, through every deal due at its start (paged, so deals that fail do not hold
   * up the rest): how many had a deadline applied, and how many only got their next deadline
   * written (deals from before deadlines, or written by an older release).
   */
  async sweep(): Promise<{ passed: number; rescheduled: number }> {
    const counts = { passed: 0, rescheduled: 0 };
    const now = this.now().toISOString();
    let after: { at: string; code: string } | undefined;
    for (;;) {
      const due = await this.store.read((reader) => reader.listAccountsDue(now, this.batchSize, after));
      for (const deal of due) {
        if (this.stopped) return counts;
        try {
          const outcome = await this.bank.passDeadlinesOf(deal.code);
          if (outcome !== 'gone') counts[outcome]++;
        } catch (error) {
          // Another process changed the deal meanwhile: it is seen again at the next sweep if
          // still due. Anything else is logged, and the sweep goes on with the next deal.
          if (!(error instanceof LockstepError && error.code === 'conflict')) {
            this.log.error({ err: error, code: deal.code }, 'a deadline could not be applied');
          }
        }
      }
      after = due.at(-1);
      if (due.length < this.batchSize || this.stopped) break;
    }
    if (counts.passed > 0 || counts.rescheduled > 0) this.log.info(counts, 'deadlines: deals changed');
    return counts;
  }
}

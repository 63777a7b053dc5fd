import { createHash } from 'node:crypto';
import { LockstepError } from '@lockstep/core';
import type { Store, StoreTx } from '../storage/store.ts';

/**
 * Who may try a password, and how often. Failures are counted three ways (helper-32's audit: a
 * single per-customer lock let any stranger lock any buyer out for 15 minutes, again and
 * again, from one machine):
 *
 * - per customer **and client source**: `failuresBeforeLock` failures in a row from one source
 *   lock the login for that source only; the customer logs in from elsewhere as usual;
 * - per customer over all sources: `failuresBeforeAccountLock` (default 20) failures in a row
 *   lock it for everyone but the sources the customer logged in from before (for
 *   `knownSourceMs`, default 90 days), which stops guessing spread over many sources without
 *   letting a stranger shut the customer out at home (helper-34's review);
 * - per source over all user IDs: `sourceFailuresPerWindow` (default 30) failures per `lockMs`,
 *   then `rate_limited` before any password is checked (guessing one password for many IDs).
 *
 * A user ID that does not exist is counted the same way, in the same table, so that neither
 * the answers nor the locks tell whether an ID exists, whichever process answers. A count
 * untouched for the lock period starts again.
 */
export interface LoginLimits {
  failuresBeforeLock: number;
  failuresBeforeAccountLock: number;
  sourceFailuresPerWindow: number;
  lockMs: number;
  knownSourceMs: number;
}

/** One login attempt's counts: where this customer (or unknown ID) and source stand. */
export interface AttemptCounts {
  /**
   * Counts the attempt, or throws `login_locked` (counting nothing) when a lock that applies
   * is on. From a source the customer logged in from before (`known`), the account-wide count
   * and lock do not apply: `overall` is 0.
   */
  reserve(now: string): Promise<{ fromSource: number; overall: number; known: boolean }>;
  /** Locks the source's login, the whole login, or both, until `until`. */
  lock(which: { source: boolean; overall: boolean }, until: string): Promise<void>;
  /**
   * After a good password (inside the login's transaction): the source's count starts again and
   * the source is known until `knownUntil`; the account-wide count starts again too, unless the
   * login came from a known source (strangers stay locked out while their lock lasts).
   */
  clear(tx: StoreTx | undefined, now: string, knownUntil: string, known: boolean): Promise<void>;
}

export function loginLocked(lockedUntil: string, nowMs: number): LockstepError {
  return new LockstepError('login_locked', 'Too many failed logins. Try again later.', {
    retryAfterSeconds: Math.max(1, Math.ceil((Date.parse(lockedUntil) - nowMs) / 1000)),
  });
}

/** Known sources remembered per customer: the latest this many (helper-36). */
const knownSourcesKept = 20;

/** The row that holds a subject's account-wide count (no client source is written so). */
const overallSource = '*';

/**
 * The counts of a customer, or of a user ID that does not exist, in the store: every gateway
 * process sees the same, and both kinds are counted by the same statements, so the answers do
 * not tell them apart (helper-35's review: unknown IDs counted per process in memory answered
 * differently behind a load balancer). `subject` is the customer's ID, or for an unknown user
 * ID a SHA-256 of it as looked up (`unknownSubject`). A count, per source or account-wide,
 * untouched for `keptMs` starts again.
 */
export function storedCounts(store: Store, subject: string, source: string, keptMs: number): AttemptCounts {
  return {
    reserve: (now) =>
      // One transaction: a lock found on either count rolls the other's increment back.
      store.transaction(async (tx) => {
        const staleBefore = new Date(Date.parse(now) - keptMs).toISOString();
        const fromSource = await tx.reserveSourceAttempt(subject, source, now, staleBefore);
        if ('lockedUntil' in fromSource) throw loginLocked(fromSource.lockedUntil, Date.parse(now));
        if (fromSource.known) return { fromSource: fromSource.attempt, overall: 0, known: true };
        const overall = await tx.reserveSourceAttempt(subject, overallSource, now, staleBefore);
        if ('lockedUntil' in overall) throw loginLocked(overall.lockedUntil, Date.parse(now));
        return { fromSource: fromSource.attempt, overall: overall.attempt, known: false };
      }),
    lock: (which, until) =>
      store.transaction(async (tx) => {
        if (which.source) await tx.settleSourceAttempts(subject, source, { lockedUntil: until });
        if (which.overall) await tx.settleSourceAttempts(subject, overallSource, { lockedUntil: until });
      }),
    async clear(tx, now, knownUntil, known) {
      if (!tx) throw new Error('storedCounts.clear runs inside the login transaction');
      await tx.settleSourceAttempts(subject, source, { knownUntil });
      await tx.forgetKnownSourcesBeyond(subject, knownSourcesKept, now);
      // A lock that ends now: the next failure counts from 1 (strangers' lock stays when the
      // good password came from a known source).
      if (!known) {
        await tx.settleSourceAttempts(subject, overallSource, { lockedUntil: new Date(0).toISOString() });
      }
    },
  };
}

/** The subject under which a user ID that does not exist is counted. */
export function unknownSubject(userId: string): string {
  return `unknown:${createHash('sha256').update(userId).digest('base64url')}`;
}

/**
 * Failed logins per client source over all user IDs, per window of `windowMs`: one source
 * trying one password against many IDs is refused at once (`rate_limited`), before any hash.
 * In memory, per process: it slows a sprayer, while the stored counts are what lock.
 */
export class SourceThrottle {
  private readonly windows = new Map<string, { failures: number; startedMs: number }>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxEntries: number;

  constructor(maxFailures: number, windowMs: number, maxEntries = 50_000) {
    this.maxFailures = maxFailures;
    this.windowMs = windowMs;
    this.maxEntries = maxEntries;
  }

  /**
   * Counts an attempt from the source, or throws `rate_limited` while it has used up its
   * failures for this window. Counted before the password is checked, so a burst cannot get
   * past the limit; `succeeded` gives the attempt back.
   */
  admit(source: string, nowMs: number): void {
    let window = this.windows.get(source);
    if (window && nowMs - window.startedMs < this.windowMs && window.failures >= this.maxFailures) {
      throw new LockstepError('rate_limited', 'Too many failed logins from here; try again later.', {
        retryAfterSeconds: Math.max(1, Math.ceil((window.startedMs + this.windowMs - nowMs) / 1000)),
      });
    }
    if (!window || nowMs - window.startedMs >= this.windowMs) {
      this.windows.delete(source);
      if (this.windows.size >= this.maxEntries) {
        for (const oldest of [...this.windows.keys()].slice(0, Math.ceil(this.maxEntries / 5))) {
          this.windows.delete(oldest);
        }
      }
      window = { failures: 0, startedMs: nowMs };
      this.windows.set(source, window);
    }
    window.failures++;
  }

  /** The attempt `admit` counted was not a failure (a good password, or refused unchecked). */
  succeeded(source: string): void {
    const window = this.windows.get(source);
    if (window && window.failures > 0) window.failures--;
  }
}

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
 *   then `rate_limited` before any password is checked (guessing one password for many IDs);
 *   an IPv6 /64's /48 gets 4 times that (`SourceThrottle`).
 *
 * All three are counted in the store, so every gateway process sharing it sees the same counts.
 * A user ID that does not exist is counted the same way, in the same table, so that neither
 * the answers nor the locks tell whether an ID exists, whichever process answers. A count
 * untouched for the lock period starts again; a source's window over all IDs is fixed (it
 * starts with its first failure and lasts `lockMs`).
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
 * Counted in the store, so every gateway process sharing it counts the same window (it was
 * per process: behind a load balancer of N processes a source had N times the failures).
 *
 * An IPv6 source (a /64, see http/client-source.ts) is counted in its /48 too, with
 * `networkFactor` times the failures: whoever holds a /48 has 65,536 /64s to rotate through,
 * and now gets no more guesses over all IDs than `networkFactor` sources do.
 */
export class SourceThrottle {
  private readonly store: Store;
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly networkFactor: number;

  constructor(store: Store, maxFailures: number, windowMs: number, networkFactor = 4) {
    this.store = store;
    this.maxFailures = maxFailures;
    this.windowMs = windowMs;
    this.networkFactor = networkFactor;
  }

  /**
   * Counts an attempt from the source, or throws `rate_limited` (counting nothing) while its
   * window, or its network's, is full. Counted before the password is checked, so a burst
   * cannot get past the limit. The answer gives the attempt back (a good password, or a login
   * refused before its check); giving back never throws.
   */
  async admit(source: string, now: Date): Promise<() => Promise<void>> {
    const nowIso = now.toISOString();
    const expiredBy = new Date(now.getTime() - this.windowMs).toISOString();
    const windows = sourceWindows(source, this.maxFailures, this.networkFactor);
    const counted = await this.store.transaction(async (tx) => {
      const started: string[] = [];
      let fullUntilMs = 0;
      for (const window of windows) {
        const reserved = await tx.reserveSourceWindow(window.key, nowIso, expiredBy, window.max);
        if (reserved.counted) started.push(reserved.windowStartedAt);
        else fullUntilMs = Math.max(fullUntilMs, Date.parse(reserved.windowStartedAt) + this.windowMs);
      }
      // A full window rolls back what the others counted: a refused attempt counts nowhere.
      if (fullUntilMs > 0) {
        throw new LockstepError('rate_limited', 'Too many failed logins from here; try again later.', {
          retryAfterSeconds: Math.max(1, Math.ceil((fullUntilMs - now.getTime()) / 1000)),
        });
      }
      return started;
    });
    return async () => {
      try {
        await this.store.transaction(async (tx) => {
          for (const [index, window] of windows.entries()) {
            await tx.releaseSourceWindow(window.key, counted[index] as string);
          }
        });
      } catch {
        // Not given back (the store failed meanwhile): the source keeps one failure too many.
      }
    };
  }
}

/** The windows an attempt from `source` counts in: its own, and an IPv6 /64's /48. */
export function sourceWindows(
  source: string,
  maxFailures: number,
  networkFactor: number,
): Array<{ key: string; max: number }> {
  const windows = [{ key: source, max: maxFailures }];
  const slash64 = /^((?:[0-9a-f]{1,4}:){2}[0-9a-f]{1,4}):[0-9a-f]{1,4}::\/64$/.exec(source);
  if (slash64) windows.push({ key: `${slash64[1]}::/48`, max: maxFailures * networkFactor });
  return windows;
}

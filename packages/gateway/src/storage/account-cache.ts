import type { TemporaryAccount } from '@lockstep/core';

/**
 * The embedded store's latest committed temporary accounts, parsed, for reads: a status read
 * that finds its account here runs no SQL and parses no JSON (a fifth of its CPU, profiled).
 * Commands do not use it; they read inside their write transaction.
 *
 * Each read batch pins its snapshot at its start, with SQLite's data_version as its event-loop
 * turn read it before (it moves when another connection commits: the operator CLI; one read
 * per turn, shared with the API-key cache). An entry is the account as the snapshot of every
 * read batch since its fill holds it, but for a commit of another process inside that turn:
 * - another process committed since the last batch (data_version moved): the cache empties,
 *   and this batch fills nothing;
 * - the writer's connection reports every row it writes (a temporary trigger); those entries go
 *   when its transaction commits (until then the committed state is still the latest, so a
 *   read may keep it meanwhile);
 * - a batch fills an entry only while no commit of this process has landed since it began
 *   (a later commit may have changed what its older snapshot holds).
 * Another process's commit landing between the turn's read of data_version and a snapshot:
 * that batch may answer a hit older than its snapshot, or fill one, and the next turn's batch
 * empties the cache (helper-74's review: reading data_version afresh for every batch closed
 * this at ~7 us per status read, all of the cache's gain). Within a turn too, the API-key cache
 * sees a revocation by the CLI late.
 *
 * Entries are frozen, deeply: every reader shares them, and a change would be a bug that
 * must fail loudly rather than show one buyer another request's edit.
 */
export class AccountCache {
  private readonly entries = new Map<string, TemporaryAccount>();
  /** Rows the open write transaction wrote: their entries go when it commits. */
  private readonly written = new Set<string>();
  /** The commits counted when the running read batch began; -1: it fills nothing. */
  private readFrom = -1;
  private foreign: number | undefined;
  /** Entries kept at most (0: none); the least recently read go first. */
  private readonly limit: number;
  /** The store's count of its own commits. */
  private readonly commits: () => number;

  constructor(limit: number, commits: () => number) {
    this.limit = limit;
    this.commits = commits;
  }

  /**
   * A read batch began, its snapshot pinned; `foreign` is data_version as the turn read it.
   * Says whether another process committed since the last batch.
   */
  beginRead(foreign: number): boolean {
    if (foreign !== this.foreign) {
      this.entries.clear();
      this.foreign = foreign;
      this.readFrom = -1;
      return true;
    }
    this.readFrom = this.commits();
    return false;
  }

  get(code: string): TemporaryAccount | undefined {
    const account = this.entries.get(code);
    if (account !== undefined) {
      this.entries.delete(code);
      this.entries.set(code, account);
    }
    return account;
  }

  /** A read batch's account, as its snapshot holds it; returned frozen either way. */
  offer(account: TemporaryAccount): TemporaryAccount {
    deepFreeze(account);
    if (this.limit <= 0 || this.readFrom < 0 || this.commits() !== this.readFrom) return account;
    this.entries.delete(account.code);
    if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(account.code, account);
    return account;
  }

  /** The writer's connection wrote this account's row (called by SQLite, inside the statement). */
  wrote(code: string): void {
    this.written.add(code);
  }

  /** The write transaction committed (what it wrote goes) or rolled back (nothing changed). */
  ended(): void {
    for (const code of this.written) this.entries.delete(code);
    this.written.clear();
  }

  /** Every entry goes (a commit's outcome is unknown); rows being written still go at the end. */
  clear(): void {
    this.entries.clear();
  }
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}

import type { TemporaryAccount } from '@lockstep/core';

/**
 * The embedded store's latest committed temporary accounts, parsed, for reads: a status read
 * that finds its account here runs no SQL and parses no JSON (a fifth of its CPU, profiled).
 * Commands do not use it; they read inside their write transaction.
 *
 * An entry is always the account's latest committed state:
 * - the writer's connection reports every row it writes (a temporary trigger); those entries go
 *   when its transaction commits (until then the committed state is still the latest, so a
 *   read may keep it meanwhile);
 * - a read batch fills an entry only while no commit has landed since the batch began: its
 *   snapshot is then the latest committed state (a snapshot taken before a later commit could
 *   hold an older one);
 * - another process's commit (the operator CLI resolving a dispute) empties the cache at the
 *   next read that sees SQLite's data_version move (read once per event-loop turn).
 * So a hit is also what the read batch's own snapshot holds: entries only go stale by a commit,
 * which removes them before anything can read them again.
 *
 * Entries are frozen, deeply: every reader shares them, and a change would be a bug that
 * must fail loudly rather than show one buyer another request's edit.
 */
export class AccountCache {
  private readonly entries = new Map<string, TemporaryAccount>();
  /** Rows the open write transaction wrote: their entries go when it commits. */
  private readonly written = new Set<string>();
  /** The commits counted when the running read batch began. */
  private readFrom = -1;
  private foreign: number | undefined;

  /** Entries kept at most; the least recently read go first. */
  private readonly limit: number;
  /** The store's count of its own commits. */
  private readonly commits: () => number;
  /** SQLite's data_version: moves when another connection commits. */
  private readonly foreignCommits: () => number;

  constructor(limit: number, commits: () => number, foreignCommits: () => number) {
    this.limit = limit;
    this.commits = commits;
    this.foreignCommits = foreignCommits;
  }

  /** A read batch begins: fills are valid until the next commit. */
  beginRead(): void {
    this.readFrom = this.commits();
  }

  get(code: string): TemporaryAccount | undefined {
    const foreign = this.foreignCommits();
    if (foreign !== this.foreign) {
      this.entries.clear();
      this.foreign = foreign;
      return undefined;
    }
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
    if (this.commits() !== this.readFrom || this.foreignCommits() !== this.foreign) return account;
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

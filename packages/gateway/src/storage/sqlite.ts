import { promises as fs, realpathSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import {
  type AccountEvent,
  type CurrencyCode,
  type LedgerAccountKey,
  LockstepError,
  nextDeadline,
  type TemporaryAccount,
} from '@lockstep/core';
import { newSortableId } from '../ids.ts';
import { AccountCache } from './account-cache.ts';
import { QuietFeeds } from './quiet-feeds.ts';
import {
  apiKeyOf,
  customerOf,
  endpointOf,
  eventOf,
  idempotencyOf,
  invoiceOf,
  merchantOf,
  outboxColumns,
  outboxOf,
  outboxValues,
  type Row,
  sessionOf,
  signingKeyOf,
  usualOf,
  waitsBehindUnfinished,
} from './rows.ts';
import { sqliteMigrations } from './sqlite-schema.ts';
import type {
  ApiKeyRecord,
  CustomerRecord,
  IdempotencyRecord,
  InvoiceRecord,
  JournalEntryInput,
  JournalEntryRecord,
  LedgerBalance,
  MerchantRecord,
  NewOutboxRecord,
  SessionRecord,
  SigningKeyRecord,
  Store,
  StoredEvent,
  StoreHealth,
  StoreReader,
  StoreTx,
  UsualAccountRecord,
  WebhookEndpointRecord,
} from './store.ts';

/**
 * The embedded store on `node:sqlite`: WAL and group commit. Every write goes through
 * `transaction()`, which queues units of work; one drain loop runs all queued units in one
 * `BEGIN IMMEDIATE … COMMIT`, each inside its own savepoint (so a failing unit rolls back only
 * itself), and settles their promises only after the COMMIT is durable — one sync for the
 * whole batch, and no answer before its data is on disk.
 *
 * Durability (default `sync: 'async'`): the connection runs `synchronous=NORMAL`, so COMMIT
 * only writes the WAL frames, and the store itself `fdatasync`s the WAL file on libuv's thread
 * pool before it settles the batch. That is the durability of `synchronous=FULL` (the commit
 * frame is on stable storage before anyone hears of it; NORMAL still syncs the WAL before and
 * the database after every checkpoint), but the event loop keeps parsing and running the next
 * batch while the disk works. `sync: 'full'` leaves the syncing to SQLite (FULL, blocking).
 *
 * Reads of a file database use a second, read-only connection, so they never see the
 * uncommitted writes of an open batch; several queued reads share one snapshot, and a read
 * that could see a commit not yet synced waits for that sync before it answers, so nothing
 * is shown that a power cut could take back.
 */
export interface SqliteStoreOptions {
  /** A file path, or ':memory:' for tests. */
  path: string;
  /** Group concurrent transactions into one commit (default true). */
  groupCommit?: boolean;
  /** Units per batch at most. */
  batchUnitsMax?: number;
  /**
   * How long a batch waits for another process's write lock on the file (the CLI, say) before
   * it is refused (default 5 s). The wait is timers, not SQLite's busy handler, so the event
   * loop keeps serving meanwhile.
   */
  busyTimeoutMs?: number;
  /** Who syncs commits to disk: the store, off the event loop (default), or SQLite (FULL). */
  sync?: 'async' | 'full';
  /** Replaces the WAL sync (fault injection in tests); resolves once commits are durable. */
  syncWal?: () => Promise<void>;
  /**
   * Replaces the WAL sync made for another process's commits before they are read or passed
   * on (tests); by default an fdatasync of the WAL file on the store's long-lived descriptor.
   */
  syncForeignWal?: () => Promise<void>;
  /**
   * Who checkpoints the WAL into the database file: a worker thread with its own connection
   * (default), or SQLite itself inside the COMMIT that crosses 1000 frames (on the event loop).
   */
  checkpoint?: 'worker' | 'inline';
  /** With the worker: commits between two checkpoint requests (default 32). */
  checkpointEveryCommits?: number;
  /**
   * With the worker: WAL frames (pages) from which the writer restarts the WAL (default 4096,
   * 16 MB): it copies the last frames itself, which costs it two syncs, so not every round.
   */
  checkpointRestartFrames?: number;
  /** With the worker: after it was lost, how long SQLite checkpoints before a new one starts (60 s). */
  checkpointRearmMs?: number;
  /** Temporary accounts kept parsed for reads (default 2048; see `AccountCache`). */
  cachedAccounts?: number;
  /** How often to look for another process's commits, for `onForeignEvents` (default 250 ms). */
  foreignPollMs?: number;
}

/** The foreign-events watch (`onForeignEvents`): its next look's timer, and whether it ended. */
interface ForeignWatch {
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
}

/** A unit (write or read) that ran, with its outcome, waiting to be answered. */
interface Settled {
  unit: { resolve: (value: unknown) => void; reject: (error: unknown) => void };
  outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
}

interface Pending<T> {
  work: (tx: StoreTx) => Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
  /** When it was queued (`performance.now()`): it waits for a locked file this long at most. */
  queuedAtMs: number;
}

interface PendingRead<T> {
  work: (reader: StoreReader) => Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  return new SqliteStore(options);
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly writer: DatabaseSync;
  private readonly reader: DatabaseSync | undefined;
  private readonly writeOps: SqliteOps;
  private readonly readControl:
    | { begin: StatementSync; pin: StatementSync; commit: StatementSync }
    | undefined;
  private readonly control: Record<
    'begin' | 'savepoint' | 'release' | 'rollbackTo' | 'commit',
    StatementSync
  >;
  private readonly readOps: SqliteOps;
  private readonly groupCommit: boolean;
  private readonly batchUnitsMax: number;
  private writeQueue: Pending<unknown>[] = [];
  private readQueue: PendingRead<unknown>[] = [];
  private writing = false;
  /** Set when a commit's outcome became unknown: no more writes until the store is reopened. */
  private failed: LockstepError | undefined;
  private readonly failureListeners: Array<(error: Error) => void> = [];
  private reading = false;
  private closed = false;
  private readonly keyRevokedListeners = new Set<() => void>();
  /** A unit of the open batch revoked an API key (set by `writeOps`). */
  private keyRevokedPending = false;
  private idle: Promise<void> = Promise.resolve();
  /** Batches committed (COMMIT returned) and batches known durable, counted alike. */
  private committedBatches = 0;
  private durableBatches = 0;
  /** Committed batches waiting for a sync, oldest first. */
  private awaitingSync: Array<{ batch: number; settled: Settled[] }> = [];
  /** Reads waiting for a sync: each resolves once `durableBatches` reaches its batch. */
  private durabilityWaiters: Array<{ batch: number; resolve: () => void; reject: (error: unknown) => void }> =
    [];
  private syncing: Promise<void> | undefined;
  /** The open write transaction's units (ran, not yet committed), while a sync runs. */
  private open: Settled[] | undefined;
  private readonly syncWal: (() => Promise<void>) | undefined;
  private readonly closeSync: (() => Promise<void>) | undefined;
  private checkpointer: Checkpointer | undefined;
  /** After the worker was lost: the timer that starts a new one. */
  private rearm: NodeJS.Timeout | undefined;
  private readonly busyTimeoutMs: number;
  /** While another process holds the write lock: retries so far, and the retry timer. */
  private busy: { attempt: number; timer: NodeJS.Timeout | undefined } | undefined;
  private readonly checkpointTailStatement: StatementSync;
  private readonly dataVersionStatement: StatementSync;
  /** `foreignCommits` of the current event-loop turn, once read. */
  private dataVersion: number | undefined;
  /** Committed temporary accounts for reads (with a reader connection only). */
  private readonly accounts: AccountCache | undefined;
  private readonly foreignPollMs: number;
  /** Syncs the WAL for another process's commits (every file store). */
  private readonly syncForeignWal: (() => Promise<void>) | undefined;
  /** That sync while it runs: every read batch until it ends may hold what it covers. */
  private foreignSync: Promise<void> | undefined;
  private readonly foreignListeners = new Set<(events: StoredEvent[]) => void>();
  private readonly resyncListeners = new Set<() => void>();
  /** While someone listens for other processes' events: the next look's timer. */
  private foreignWatch: ForeignWatch | undefined;

  constructor(options: SqliteStoreOptions) {
    this.groupCommit = options.groupCommit ?? true;
    this.foreignPollMs = options.foreignPollMs ?? 250;
    this.batchUnitsMax = options.batchUnitsMax ?? 256;
    this.writer = new DatabaseSync(options.path);
    const ownSync = options.path !== ':memory:' && (options.sync ?? 'async') === 'async';
    if (options.path !== ':memory:') {
      const mode = this.writer.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode?: string };
      if (mode?.journal_mode !== 'wal') {
        this.writer.close();
        throw new Error(`SQLite refused WAL mode for ${options.path} (got ${String(mode?.journal_mode)}).`);
      }
    }
    if (options.path !== ':memory:') {
      // SQLite keeps the WAL beside the real file when the path is a symbolic link.
      const syncer = walSyncer(`${realpathSync(options.path)}-wal`);
      if (ownSync) this.syncWal = options.syncWal ?? syncer.sync;
      // Through the same long-lived descriptor, whatever this store's own mode: the operator
      // CLI may run in another (its own default syncs after COMMIT), and a write-back error
      // on the file is reported to a descriptor opened before it, not to a new one.
      this.syncForeignWal = options.syncForeignWal ?? syncer.sync;
      this.closeSync = syncer.close;
    }
    this.writer.exec(`
      PRAGMA synchronous = ${ownSync ? 'NORMAL' : 'FULL'};
      PRAGMA foreign_keys = ON;
      PRAGMA busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))};
    `);
    migrate(this.writer);
    // From here on a locked file answers at once (SQLITE_BUSY) and `drainWrites` waits on
    // timers: SQLite's busy handler would sleep on the event loop.
    this.writer.exec('PRAGMA busy_timeout = 0');
    this.busyTimeoutMs = Math.max(0, options.busyTimeoutMs ?? 5000);
    this.writeOps = new SqliteOps(this.writer, true, () => {
      this.keyRevokedPending = true;
    });
    // Transaction control as prepared statements: parsed once, not once per unit of work.
    this.checkpointTailStatement = this.writer.prepare('PRAGMA wal_checkpoint(PASSIVE)');
    // Changes on the writer's connection only when another connection commits.
    this.dataVersionStatement = this.writer.prepare('PRAGMA data_version');
    this.control = {
      begin: this.writer.prepare('BEGIN IMMEDIATE'),
      savepoint: this.writer.prepare('SAVEPOINT unit'),
      release: this.writer.prepare('RELEASE unit'),
      rollbackTo: this.writer.prepare('ROLLBACK TO unit'),
      commit: this.writer.prepare('COMMIT'),
    };
    if (options.path !== ':memory:') {
      this.reader = new DatabaseSync(options.path, { readOnly: true });
      this.reader.exec('PRAGMA busy_timeout = 5000;');
      this.readControl = {
        begin: this.reader.prepare('BEGIN'),
        // Any read of the file starts the snapshot (BEGIN alone does not).
        pin: this.reader.prepare('SELECT 1 FROM temporary_accounts LIMIT 1'),
        commit: this.reader.prepare('COMMIT'),
      };
      const accounts = new AccountCache(options.cachedAccounts ?? 2048, () => this.committedBatches);
      // Every row the writer's connection writes, whichever statement writes it. TEMP: this
      // connection's own, never stored in the file.
      this.writer.function('lockstep_account_written', (code) => {
        accounts.wrote(String(code));
        return null;
      });
      this.writer.exec(`
        CREATE TEMP TRIGGER lockstep_account_inserted AFTER INSERT ON main.temporary_accounts
          BEGIN SELECT lockstep_account_written(new.code); END;
        CREATE TEMP TRIGGER lockstep_account_updated AFTER UPDATE ON main.temporary_accounts
          BEGIN SELECT lockstep_account_written(old.code), lockstep_account_written(new.code); END;
        CREATE TEMP TRIGGER lockstep_account_deleted AFTER DELETE ON main.temporary_accounts
          BEGIN SELECT lockstep_account_written(old.code); END;
      `);
      this.accounts = accounts;
      this.readOps = new SqliteOps(
        this.reader,
        false,
        undefined,
        new QuietFeeds<number>((a, b) => a - b),
        accounts,
      );
    } else {
      this.readOps = this.writeOps;
    }
    // A WAL that a burst (or a long reader) grew is cut back to 64 MB when it restarts.
    if (options.path !== ':memory:') this.writer.exec('PRAGMA journal_size_limit = 67108864;');
    if (options.path !== ':memory:' && (options.checkpoint ?? 'worker') === 'worker') {
      // A checkpoint copies ~1000 pages into the file and syncs it: ~8 ms here, which SQLite
      // would spend inside every ~25th COMMIT, stalling every request. A worker does it instead.
      this.startCheckpoints(realpathSync(options.path), options);
    }
  }

  /**
   * Starts the checkpoint worker and turns SQLite's own checkpoints off. If the worker cannot
   * start, SQLite keeps checkpointing inside COMMIT (slower, never unbounded). If it is lost
   * later (it died, or is not keeping up because a reader holds the WAL), SQLite checkpoints
   * inline again and a new worker takes over after `checkpointRearmMs`.
   */
  private startCheckpoints(path: string, options: SqliteStoreOptions): void {
    const lost = () => {
      if (this.closed) return;
      this.writer.exec('PRAGMA wal_autocheckpoint = 1000');
      this.checkpointer = undefined;
      this.rearm = setTimeout(() => {
        this.rearm = undefined;
        if (!this.closed) this.startCheckpoints(path, options);
      }, options.checkpointRearmMs ?? 60_000);
      this.rearm.unref();
    };
    try {
      this.checkpointer = new Checkpointer(
        path,
        options.checkpointEveryCommits ?? 32,
        options.checkpointRestartFrames ?? 4096,
        lost,
      );
      this.writer.exec('PRAGMA wal_autocheckpoint = 0');
    } catch {
      this.checkpointer = undefined;
    }
  }

  onKeyRevoked(listener: () => void): () => void {
    this.keyRevokedListeners.add(listener);
    return () => this.keyRevokedListeners.delete(listener);
  }

  /**
   * Events another process committed to the file (the operator CLI remitting or resolving a
   * dispute beside the running gateway), so this process's live streams and webhook worker see
   * them: every `foreignPollMs` the writer's data_version says whether another connection
   * committed; if one did, the events past the last position examined are read (once durable)
   * and passed on, this process's own among them (a stream skips what it sent). If none did,
   * everything up to the end is this process's own, and the examined position moves there.
   * More than 5,000 at once: the streams resync from the store instead.
   */
  onForeignEvents(listener: (events: StoredEvent[]) => void, onResync?: () => void): () => void {
    this.foreignListeners.add(listener);
    if (onResync) this.resyncListeners.add(onResync);
    // One connection only (':memory:'): no other process can write.
    if (this.reader && !this.foreignWatch && !this.closed) {
      const watch: ForeignWatch = { timer: undefined, stopped: false };
      const look = async (examined: { position: number; version: number }) => {
        const next = await this.examineForeign(examined);
        if (watch.stopped) return;
        watch.timer = setTimeout(() => void look(next), this.foreignPollMs);
        watch.timer.unref();
      };
      this.foreignWatch = watch;
      // Where the watch starts: the committed feed's end (the reader's: the writer's would
      // count an open transaction's events, whose positions a rollback frees for the next
      // insert, another process's too). The first look reads everything after it, whatever
      // data_version says: an end and a version cannot be read together, and a commit between
      // the two reads would otherwise be missed for good. (It may pass this process's own
      // events of that moment on: streams skip what they sent.)
      void look({ position: this.readOps.feedEnd(), version: Number.NaN });
    }
    return () => {
      this.foreignListeners.delete(listener);
      if (onResync) this.resyncListeners.delete(onResync);
      if (this.foreignListeners.size === 0) this.stopForeignWatch();
    };
  }

  private stopForeignWatch(): void {
    if (!this.foreignWatch) return;
    this.foreignWatch.stopped = true;
    clearTimeout(this.foreignWatch.timer);
    this.foreignWatch = undefined;
  }

  /** One look for other processes' commits (see `onForeignEvents`): where the next one starts. */
  private async examineForeign(examined: {
    position: number;
    version: number;
  }): Promise<{ position: number; version: number }> {
    const pageSize = 500;
    const pagesMax = 10;
    try {
      // The end first, then the version: unchanged, no other connection committed before the
      // end was read, so every event up to it is this process's own or examined already.
      const end = await this.read(async (reader) => (reader as SqliteOps).feedEnd());
      const version = this.dataVersionNow();
      if (version === examined.version) return { position: end, version };
      // Another process committed, and may not have synced yet (the CLI syncs after its
      // COMMIT): its events are passed on once they are on disk.
      await this.syncForeign();
      let position = examined.position;
      for (let page = 0; page < pagesMax; page++) {
        const rows = await this.read(async (reader) => (reader as SqliteOps).feedAfter(position, pageSize));
        if (rows.length > 0) {
          position = rows.at(-1)?.position as number;
          const events = rows.map((row) => row.event);
          for (const listener of this.foreignListeners) tell(() => listener(events));
        }
        if (rows.length < pageSize) return { position, version };
      }
      for (const listener of this.resyncListeners) tell(listener);
      return { position: Math.max(position, end), version };
    } catch {
      // The store closed or failed: the next look starts again from what was examined.
      return examined;
    }
  }

  /**
   * The file's commits by other connections (SQLite's data_version): the operator CLI revoking a
   * key beside a running gateway is seen at the next request, not when a cache expires
   * (helper-43's review: it kept working for up to 5 s).
   *
   * Read once per event-loop turn: the PRAGMA takes SQLite's shared-memory read lock (file-lock
   * system calls), ~7 us, a fifth of a status read's CPU (profiled). Requests read from their
   * sockets in one turn share it; a commit landing during that turn is seen from the next one.
   */
  foreignCommits(): number {
    if (this.dataVersion === undefined) {
      this.dataVersion = this.dataVersionNow();
      setImmediate(() => {
        this.dataVersion = undefined;
      });
    }
    return this.dataVersion;
  }

  /**
   * Syncs the WAL file for other processes' commits seen so far (see `syncForeignWal`). A
   * failure is the file's, so it is this store's too: it stops taking writes, as after its own
   * failed sync, and reads are refused.
   */
  private syncForeign(): Promise<void> {
    if (!this.syncForeignWal) return Promise.resolve();
    const sync: Promise<void> = this.syncForeignWal().then(
      () => {
        if (this.foreignSync === sync) this.foreignSync = undefined;
      },
      (error: unknown) => {
        if (this.foreignSync === sync) this.foreignSync = undefined;
        if (!this.failed) this.syncFailed(error);
        throw error;
      },
    );
    this.foreignSync = sync;
    return sync;
  }

  /** SQLite's data_version on the writer's connection, read now. */
  private dataVersionNow(): number {
    return Number((this.dataVersionStatement.get() as { data_version: number }).data_version);
  }

  async health(): Promise<StoreHealth> {
    if (this.failed) return { ok: false, reason: this.failed.message, permanent: true };
    if (this.closed) return { ok: false, reason: 'The store is closed.', permanent: true };
    return { ok: true };
  }

  onFailure(listener: (error: Error) => void): void {
    this.failureListeners.push(listener);
  }

  /** Stops taking writes for good (a commit or a sync failed) and says so, once. */
  private fail(failure: LockstepError): void {
    const first = this.failed === undefined;
    this.failed = failure;
    if (first) for (const listener of this.failureListeners.splice(0)) listener(failure);
  }

  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('The store is closed.'));
    return new Promise<T>((resolve, reject) => {
      this.writeQueue.push({ work, resolve, reject, queuedAtMs: performance.now() } as Pending<unknown>);
      this.scheduleDrain();
    });
  }

  /** Starts a drain on the next macrotask, so requests arriving together join one batch. */
  private scheduleDrain(): void {
    if (this.writing || this.busy?.timer) return;
    this.writing = true;
    setImmediate(() => {
      this.idle = this.drainWrites();
    });
  }

  /** A `read` (a snapshot costs nothing extra here) held to one call, as on PostgreSQL. */
  lookup<T>(work: (reader: StoreReader) => Promise<T>): Promise<T> {
    return this.read((reader) => {
      let calls = 0;
      const once = new Proxy(reader, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (calls++ > 0) throw new Error('A lookup makes one store call; use read() for more.');
            return value.apply(target, args);
          };
        },
      });
      return work(once);
    });
  }

  read<T>(work: (reader: StoreReader) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('The store is closed.'));
    if (!this.reader) {
      // ':memory:' has one connection: read through the write queue so no batch is half seen.
      return this.transaction((tx) => work(tx));
    }
    return new Promise<T>((resolve, reject) => {
      this.readQueue.push({ work, resolve, reject } as PendingRead<unknown>);
      if (!this.reading) {
        this.reading = true;
        // The check phase after I/O: reads of requests parsed together share one snapshot.
        setImmediate(() => void this.drainReads());
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.stopForeignWatch();
    while (this.writing || this.reading || this.syncing || this.open || this.busy?.timer) {
      await this.idle;
      await this.syncing;
      if (this.open && !this.writing && !this.syncing) this.commitOpen();
      // Waiting for a locked file: sleep, do not spin.
      if (this.busy?.timer) await new Promise((resolve) => setTimeout(resolve, 5));
      else await new Promise((resolve) => setImmediate(resolve));
    }
    this.closed = true;
    clearTimeout(this.rearm);
    await this.foreignSync?.catch(() => {});
    await this.checkpointer?.close();
    await this.closeSync?.();
    this.reader?.close();
    this.writer.close();
  }

  /**
   * Runs queued units inside the open write transaction (BEGIN if none), each in its own
   * savepoint. Never rejects: every unit taken off the queue is settled, now or at its COMMIT.
   * The transaction commits at once unless a WAL sync is running; then it stays open, takes
   * the units of later macrotasks too, and commits when that sync ends (`commitOpen`), so the
   * event loop does the SQL work while the disk syncs and one COMMIT covers them all.
   * - BEGIN finds the file locked by another process: the units wait on timers (see
   *   `waitForLock`) and each is refused with `service_unavailable` once it has waited
   *   `busyTimeoutMs`; any other BEGIN failure refuses the batch at once. Nothing was written.
   * - SQLite abandons the whole transaction mid-batch (disk full, I/O error): every unit of
   *   the transaction is refused the same way.
   * - COMMIT fails: the outcome is unknown (the commit frame may be in the WAL already), so the
   *   units get `service_unavailable` and the store stops taking writes until it is reopened,
   *   rather than risk applying a retried command twice.
   */
  private async drainWrites(): Promise<void> {
    try {
      while (this.writeQueue.length > 0) {
        const room = this.groupCommit ? this.batchUnitsMax - (this.open?.length ?? 0) : 1;
        const batch = this.writeQueue.splice(0, Math.max(1, room));
        if (this.failed) {
          // Units left open by a sync that failed while this drain was scheduled go too.
          if (this.open) this.rollbackOpen(this.failed);
          for (const unit of batch) unit.reject(this.failed);
          continue;
        }
        const control = this.control;
        if (!this.open) {
          if (this.checkpointer?.takeTail()) this.checkpointTail();
          try {
            control.begin.run();
            this.busy = undefined;
          } catch (error) {
            if (isBusy(error)) {
              this.waitForLock(batch, error);
              return;
            }
            this.busy = undefined;
            const refusal = unavailable('The database file is busy or failing; nothing was written.', error);
            for (const unit of batch) unit.reject(refusal);
            continue;
          }
          this.open = [];
        }
        const open = this.open;
        let abandoned: unknown;
        for (const unit of batch) {
          if (abandoned !== undefined) {
            open.push({ unit, outcome: { ok: false, error: abandoned } });
            continue;
          }
          try {
            control.savepoint.run();
            const value = await unit.work(this.writeOps);
            control.release.run();
            open.push({ unit, outcome: { ok: true, value } });
          } catch (error) {
            try {
              control.rollbackTo.run();
              control.release.run();
              open.push({ unit, outcome: { ok: false, error } });
            } catch (rollbackError) {
              // SQLite rolled the whole transaction back itself: it cannot commit.
              abandoned = unavailable(
                'The database failed during this request; nothing was written.',
                rollbackError,
              );
              open.push({ unit, outcome: { ok: false, error: abandoned } });
            }
          }
          if (abandoned === undefined && !this.writer.isTransaction) {
            abandoned = unavailable('The database abandoned the transaction; nothing was written.');
          }
        }
        if (abandoned !== undefined) {
          this.rollbackOpen(abandoned);
          continue;
        }
        if (!this.syncing || open.length >= this.batchUnitsMax || !this.groupCommit) this.commitOpen();
      }
    } catch (error) {
      // Unreachable by design; never leave a unit waiting.
      for (const unit of this.writeQueue.splice(0)) unit.reject(error);
    } finally {
      this.writing = false;
      if (this.failed && this.open) this.rollbackOpen(this.failed);
    }
  }

  /**
   * Copies the few frames committed while the worker checkpointed, between two transactions,
   * so the WAL is wholly checkpointed when the next one begins and SQLite restarts it from
   * the top instead of growing the file (the worker alone is always a few commits behind).
   */
  private checkpointTail(): void {
    try {
      this.checkpointTailStatement.get();
    } catch {
      // Busy (the CLI checkpoints) or failing: the next round tries again.
    }
  }

  /**
   * Another connection holds the write lock: puts the batch back, refuses the queued units
   * that have waited `busyTimeoutMs` since they were queued, and retries on a timer (1, 2, 4 …
   * 50 ms) for the rest. Nothing of a refused unit was written.
   */
  private waitForLock(batch: Pending<unknown>[], error: unknown): void {
    this.writeQueue.unshift(...batch);
    const nowMs = performance.now();
    const expired = this.writeQueue.filter((unit) => nowMs - unit.queuedAtMs >= this.busyTimeoutMs);
    if (expired.length > 0) {
      this.writeQueue = this.writeQueue.filter((unit) => nowMs - unit.queuedAtMs < this.busyTimeoutMs);
      const refusal = unavailable(
        'The database file is busy (another process holds it); nothing was written.',
        error,
      );
      for (const unit of expired) unit.reject(refusal);
    }
    if (this.writeQueue.length === 0) {
      this.busy = undefined;
      return;
    }
    this.busy ??= { attempt: 0, timer: undefined };
    const busy = this.busy;
    const delayMs = Math.min(50, 2 ** busy.attempt++);
    busy.timer = setTimeout(() => {
      busy.timer = undefined;
      this.scheduleDrain();
    }, delayMs);
  }

  /** Commits the open transaction; its units are answered once a later sync finishes. */
  private commitOpen(): void {
    const open = this.open;
    if (!open) return;
    if (this.failed) {
      // A sync failed meanwhile: these units may stand on commits the disk lost.
      this.rollbackOpen(this.failed);
      return;
    }
    this.open = undefined;
    try {
      this.control.commit.run();
    } catch (error) {
      // The commit frame may be in the WAL: count it, so reads that could see it wait for a
      // sync that will never come and are refused with the rest.
      this.committedBatches++;
      this.accounts?.clear();
      this.fail(
        unavailable(
          'A commit failed; its outcome is unknown. The gateway takes no more writes until it is restarted; retry with the same Idempotency-Key.',
          error,
        ),
      );
      this.rollbackQuietly();
      for (const { unit } of open) unit.reject(this.failed);
      return;
    }
    this.committedBatches++;
    this.accounts?.ended();
    this.checkpointer?.committed();
    if (this.keyRevokedPending) {
      // Visible to readers from now on (durable only later): caches drop the old row now, and
      // the revoking unit is answered after this. A unit rolled back meanwhile costs a re-read.
      this.keyRevokedPending = false;
      for (const listener of this.keyRevokedListeners) listener();
    }
    if (this.syncWal) {
      // Answered once a sync that began after this COMMIT has finished.
      this.awaitingSync.push({ batch: this.committedBatches, settled: open });
      this.startSync();
    } else {
      this.durableBatches = this.committedBatches;
      settle(open);
    }
  }

  private rollbackOpen(reason: unknown): void {
    const open = this.open ?? [];
    this.open = undefined;
    this.rollbackQuietly();
    for (const { unit } of open) unit.reject(reason);
  }

  private rollbackQuietly(): void {
    try {
      if (this.writer.isTransaction) this.writer.exec('ROLLBACK');
    } catch {
      // Nothing left to roll back.
    }
    this.accounts?.ended();
  }

  /** Syncs the WAL unless a sync is running; a running one restarts itself when it ends. */
  private startSync(): void {
    if (this.syncing || !this.syncWal) return;
    const upTo = this.committedBatches;
    const syncWal = this.syncWal;
    this.syncing = (async () => {
      let failure: { error: unknown } | undefined;
      try {
        await syncWal();
      } catch (error) {
        failure = { error };
      }
      this.syncing = undefined;
      if (failure) {
        this.syncFailed(failure.error);
        return;
      }
      this.durableBatches = upTo;
      while (this.awaitingSync.length > 0 && (this.awaitingSync[0]?.batch ?? 0) <= upTo) {
        settle((this.awaitingSync.shift() as { settled: Settled[] }).settled);
      }
      this.durabilityWaiters = this.durabilityWaiters.filter((waiter) => {
        if (waiter.batch > upTo) return true;
        waiter.resolve();
        return false;
      });
      // Units that ran while the disk synced: one COMMIT for all of them, and the next sync.
      if (this.open && !this.writing) this.commitOpen();
      if (this.committedBatches > upTo) this.startSync();
    })();
  }

  /**
   * A failed sync leaves every unsynced commit's fate unknown (the kernel may have dropped the
   * pages): refuse those units and every later write, as after a failed COMMIT.
   */
  private syncFailed(error: unknown): void {
    this.fail(
      unavailable(
        'Writing to disk failed; the outcome of recent commands is unknown. The gateway takes no more writes until it is restarted; retry with the same Idempotency-Key.',
        error,
      ),
    );
    for (const { settled } of this.awaitingSync.splice(0)) {
      for (const { unit } of settled) unit.reject(this.failed);
    }
    // Units that ran on top of those commits cannot stand either.
    if (!this.writing) this.rollbackOpen(this.failed);
    for (const waiter of this.durabilityWaiters.splice(0)) waiter.reject(this.failed);
  }

  private untilDurable(batch: number): Promise<void> {
    if (this.durableBatches >= batch) return Promise.resolve();
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => this.durabilityWaiters.push({ batch, resolve, reject }));
  }

  private async drainReads(): Promise<void> {
    try {
      while (this.readQueue.length > 0) {
        const batch = this.readQueue.splice(0, this.batchUnitsMax);
        // One snapshot for the batch: every read inside sees one committed state.
        const control = this.readControl as {
          begin: StatementSync;
          pin: StatementSync;
          commit: StatementSync;
        };
        const ran: Settled[] = [];
        let seen = 0;
        try {
          control.begin.run();
          if (this.accounts) {
            // The snapshot now, and whether another process committed since the last batch, as
            // this event-loop turn read it (before the snapshot: the value requests of the turn
            // share, ~7 us to read; see AccountCache for the bounds this gives).
            control.pin.get();
            // One did: its commits may not be on disk yet (the CLI syncs after its COMMIT), and
            // these reads may show them. They answer once the WAL file is synced, and so do the
            // batches after them while that sync runs (they see the same commits).
            if (this.accounts.beginRead(this.foreignCommits())) void this.syncForeign().catch(() => {});
          }
        } catch (error) {
          // The snapshot could not begin (an I/O error, a WAL being recovered by another
          // process): this batch is refused, and the next one begins afresh.
          try {
            if (this.reader?.isTransaction) this.reader.exec('ROLLBACK');
          } catch {
            // Nothing to roll back.
          }
          const refusal = unavailable('The database could not be read just now; retry shortly.', error);
          for (const unit of batch) unit.reject(refusal);
          continue;
        }
        const foreignSynced = this.foreignSync;
        try {
          for (const unit of batch) {
            try {
              ran.push({ unit, outcome: { ok: true, value: await unit.work(this.readOps) } });
            } catch (error) {
              ran.push({ unit, outcome: { ok: false, error } });
            }
          }
        } finally {
          // Every commit this snapshot may contain must be durable before its reads answer.
          // Counted at its end: a commit can land while the units await, and the snapshot
          // (taken at its first read) may hold it.
          seen = this.committedBatches;
          control.commit.run();
        }
        if (this.durableBatches >= seen && !foreignSynced) settle(ran);
        else
          Promise.all([
            this.untilDurable(seen),
            foreignSynced?.catch((error: unknown) => {
              throw unavailable('Writing to disk failed; nothing could be read.', error);
            }),
          ]).then(
            () => settle(ran),
            (error) => {
              for (const unit of batch) unit.reject(error);
            },
          );
      }
    } finally {
      this.reading = false;
    }
  }
}

function settle(settled: Settled[]): void {
  for (const { unit, outcome } of settled) {
    if (outcome.ok) unit.resolve(outcome.value);
    else unit.reject(outcome.error);
  }
}

/**
 * `fdatasync` of the WAL file on the thread pool. Linux syncs the file (its inode), not the
 * descriptor, so one descriptor kept open covers every write of the connection. SQLite deletes
 * a WAL only when the last connection to the database closes, and ours stays open as long as
 * this descriptor, so the file synced is the file written; at most once a second the store
 * still checks that the file has not been unlinked (and then reopens it).
 */
/**
 * Checkpoints from a worker thread on its own connection (PASSIVE: it never waits for, nor
 * blocks, the writer or readers), requested every `everyCommits` commits, one at a time. Its
 * connection runs synchronous=FULL, so a checkpoint syncs the WAL before and the file after.
 * The worker repeats its pass until the frames committed meanwhile are few. Once the WAL is
 * `restartFrames` long, the writer copies those few itself between two transactions
 * (`takeTail`), so the WAL is wholly checkpointed when the next transaction begins and SQLite
 * restarts it from the top. No new request goes out before the writer has taken that tail, so
 * the two never collide. A worker that has not answered for `4 × everyCommits` commits (still
 * starting, or starved of CPU) is lagging: the writer then checkpoints itself between two
 * transactions, once per that many commits, so the WAL stays bounded (a checkpoint the worker
 * is running meanwhile makes the writer's a no-op).
 */
class Checkpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<unknown>;
  private readonly everyCommits: number;
  private readonly restartFrames: number;
  private readonly onGone: () => void;
  private commits = 0;
  /** Commits since the worker last answered (or started). */
  private unanswered = 0;
  private running = false;
  private gone = false;
  private failures = 0;
  /** A checkpoint finished: the writer copies the tail before its next transaction. */
  private tail = false;

  constructor(path: string, everyCommits: number, restartFrames: number, onGone: () => void) {
    this.everyCommits = everyCommits;
    this.restartFrames = restartFrames;
    this.onGone = onGone;
    this.worker = new Worker(checkpointWorkerSource, { eval: true, workerData: { path } });
    this.worker.unref();
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.on('message', (message: { ok: boolean; log?: number }) => {
      this.running = false;
      this.unanswered = 0;
      if (!message.ok) {
        // Three failed rounds in a row: SQLite takes over.
        if (++this.failures >= 3) this.stop();
        return;
      }
      this.failures = 0;
      const log = message.log ?? 0;
      // The tail costs the writer two syncs (about 3 ms here): only once the WAL is long.
      this.tail = log >= this.restartFrames;
      // A WAL past ~400 MB means restarts keep failing (a reader that never lets go, say).
      if (log > 100_000) this.stop();
    });
    this.worker.on('error', () => this.lose());
    this.worker.on('exit', () => this.lose());
  }

  /** The worker is gone (or being stopped): hand checkpoints back, once. */
  private lose(): void {
    if (this.gone) return;
    this.gone = true;
    this.onGone();
  }

  /**
   * True once per finished round (the writer should copy the tail now), and once per
   * `4 × everyCommits` commits while the worker lags (the writer checkpoints in its place).
   */
  takeTail(): boolean {
    const lagging = !this.gone && this.unanswered >= 4 * this.everyCommits;
    if (lagging) this.unanswered = 0;
    const tail = this.tail || lagging;
    this.tail = false;
    return tail;
  }

  committed(): void {
    this.commits++;
    this.unanswered++;
    if (this.gone || this.running || this.tail || this.commits < this.everyCommits) return;
    this.commits = 0;
    this.running = true;
    this.worker.postMessage('checkpoint');
  }

  /** Stops the worker and hands checkpoints back to SQLite. */
  private stop(): void {
    this.lose();
    this.worker.postMessage('close');
  }

  async close(): Promise<void> {
    if (!this.gone) {
      this.gone = true;
      this.worker.postMessage('close');
    }
    // Keep the process up until the worker has closed its connection.
    this.worker.ref();
    await this.exited;
  }
}

/**
 * Statements whose plans matter at scale, exported so the tests check the plans of exactly
 * what runs (test/gateway/store.sqlite.test.ts).
 */
export const sqliteStatements = {
  /** Up to `limit` expired sessions, found through their expiry index. */
  deleteExpiredSessions: `DELETE FROM sessions WHERE token_hash IN (
    SELECT token_hash FROM sessions WHERE expires_at <= ? LIMIT ?)`,
  reserveSourceAttempt: `INSERT INTO login_source_failures (customer_id, source, failures, locked_until, updated_at)
    VALUES (?1, ?2, 1, NULL, ?3)
    ON CONFLICT (customer_id, source) DO UPDATE SET
      failures = CASE WHEN login_source_failures.locked_until IS NULL AND login_source_failures.updated_at >= ?4
        THEN login_source_failures.failures + 1 ELSE 1 END,
      locked_until = NULL, updated_at = excluded.updated_at
    WHERE login_source_failures.locked_until IS NULL OR login_source_failures.locked_until <= excluded.updated_at
    RETURNING failures, known_until`,
  forgetKnownSourcesBeyond: `DELETE FROM login_source_failures
    WHERE customer_id = ?1 AND source <> '*' AND known_until IS NOT NULL
      AND (locked_until IS NULL OR locked_until <= ?2)
      AND source NOT IN (SELECT source FROM login_source_failures
        WHERE customer_id = ?1 AND source <> '*' AND known_until IS NOT NULL
        ORDER BY known_until DESC LIMIT ?3)`,
  deleteStaleSourceFailures: `DELETE FROM login_source_failures WHERE (customer_id, source) IN (
    SELECT customer_id, source FROM login_source_failures
    WHERE updated_at < ? AND (locked_until IS NULL OR locked_until <= ?)
      AND (known_until IS NULL OR known_until <= ?) LIMIT ?)`,
  /** Counts an attempt in the source's window (a new window once it ran out), up to a maximum. */
  reserveSourceWindow: `INSERT INTO login_source_windows (source, failures, window_started_at) VALUES (?1, 1, ?2)
    ON CONFLICT (source) DO UPDATE SET
      failures = CASE WHEN login_source_windows.window_started_at <= ?3 THEN 1
        ELSE login_source_windows.failures + 1 END,
      window_started_at = CASE WHEN login_source_windows.window_started_at <= ?3
        THEN excluded.window_started_at ELSE login_source_windows.window_started_at END
    WHERE login_source_windows.window_started_at <= ?3 OR login_source_windows.failures < ?4
    RETURNING window_started_at`,
  /** Deals whose next deadline passed, earliest first, from the partial index on it. */
  listAccountsDue: `SELECT next_deadline_at, code FROM temporary_accounts
    WHERE next_deadline_at IS NOT NULL AND next_deadline_at <= ?1 AND (next_deadline_at, code) > (?2, ?3)
    ORDER BY next_deadline_at, code LIMIT ?4`,
  /**
   * API answers past their retention, oldest first, by their age index. An operator's top-up
   * reference (scope `operator`, the slip number) is kept for good: a slip applies once, ever.
   */
  deleteIdempotencyBefore: `DELETE FROM idempotency WHERE rowid IN (
    SELECT rowid FROM idempotency WHERE scope <> 'operator' AND created_at < ?1
    ORDER BY created_at LIMIT ?2)`,
  deleteStaleSourceWindows: `DELETE FROM login_source_windows WHERE source IN (
    SELECT source FROM login_source_windows WHERE window_started_at < ? LIMIT ?)`,
  /** Only the first unfinished delivery of its endpoint and account, in the ready index's order. */
  claimDueOutbox: `SELECT o.* FROM webhook_outbox o
    WHERE o.delivered_at IS NULL AND o.parked = 0 AND o.next_attempt_at <= ?
      AND o.seq = (
        SELECT min(e.seq) FROM webhook_outbox e
        WHERE e.endpoint_id = o.endpoint_id AND e.account_code = o.account_code
          AND e.delivered_at IS NULL)
    ORDER BY o.next_attempt_at, o.endpoint_id, o.account_code, o.seq
    LIMIT ?`,
  /**
   * A customer's newest accounts of one status, from the parties' copy of it (the account's own
   * is checked too: a copy that lagged could hide an account, never show a wrong one).
   */
  listAccountsByStatus: `SELECT t.state FROM temporary_account_parties p
    JOIN temporary_accounts t ON t.code = p.code
    WHERE p.customer_id = ?1 AND p.status = ?2 AND t.status = ?2
    ORDER BY p.created_at DESC, p.code LIMIT ?3`,
  /** A customer of few accounts: its accounts' events (CROSS JOIN keeps parties first). */
  feedByAccount: `SELECT e.* FROM temporary_account_parties p CROSS JOIN account_events e
    WHERE p.customer_id = ? AND e.code = p.code AND e.position > ?
    ORDER BY e.position LIMIT ?`,
  /** A customer of many accounts: the feed in order from the cursor, its own events only. */
  feedInOrder: `SELECT e.* FROM account_events e
    WHERE e.position > ? AND EXISTS (
      SELECT 1 FROM temporary_account_parties p WHERE p.customer_id = ? AND p.code = e.code)
    ORDER BY e.position LIMIT ?`,
};

/** Up to this many accounts, a customer's feed is read account by account (listEventsForCustomer). */
const feedByAccountPartiesMax = 1000;

/**
 * The checkpoint worker (CommonJS, evaluated): one connection; per request, PASSIVE passes
 * until a pass finds few new frames (at most 8 passes).
 */
const checkpointWorkerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path);
db.exec('PRAGMA busy_timeout = 5000');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    let result = checkpoint.get();
    for (let passes = 1; passes < 8; passes++) {
      const next = checkpoint.get();
      const appended = next.log - result.log;
      result = next;
      if (next.busy || appended <= 64) break;
    }
    parentPort.postMessage({ ok: true, log: result.log });
  } catch (error) {
    parentPort.postMessage({ ok: false, error: String(error) });
  }
});
`;

/** SQLITE_BUSY (or an extended code of it): another connection holds the lock. */
function isBusy(error: unknown): boolean {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && (code & 0xff) === 5;
}

/** A listener's failure is its own: the others are still told, and the watch goes on. */
function tell(listener: () => void): void {
  try {
    listener();
  } catch {
    // Nothing to undo here.
  }
}

function walSyncer(walPath: string): { sync: () => Promise<void>; close: () => Promise<void> } {
  // The opening itself, so two syncs that start together share one descriptor.
  let handle: Promise<fs.FileHandle> | undefined;
  let checkedAtMs = 0;
  return {
    sync: async () => {
      for (let attempt = 0; attempt < 2; attempt++) {
        handle ??= fs.open(walPath, 'r+');
        const opened = handle;
        const file = await opened.catch((error: unknown) => {
          if (handle === opened) handle = undefined;
          throw error;
        });
        await file.datasync();
        const nowMs = Date.now();
        if (nowMs - checkedAtMs < 1000) return;
        if ((await file.stat()).nlink > 0) {
          checkedAtMs = nowMs;
          return;
        }
        if (handle === opened) handle = undefined;
        await file.close();
      }
      throw new Error(`${walPath} keeps being unlinked; commits cannot be made durable.`);
    },
    close: async () => {
      const opened = handle;
      handle = undefined;
      await (await opened?.catch(() => undefined))?.close();
    },
  };
}

function migrate(db: DatabaseSync): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL
  ) STRICT`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map(
      (row) => row.version,
    ),
  );
  for (const migration of sqliteMigrations) {
    if (applied.has(migration.version)) continue;
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        new Date().toISOString(),
      );
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }
}

/** The SQL of every operation, over one connection, with prepared statements cached. */
class SqliteOps implements StoreTx {
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();

  /**
   * The writer's statements run only inside the batch's transaction: should SQLite abandon
   * it (disk full, I/O error) and a unit go on writing, its statements would otherwise commit
   * on their own, unsynced, while the unit is told nothing was written.
   */
  private readonly inTransactionOnly: boolean;

  /** Told when this unit revoked an API key (the store announces it after the commit). */
  private readonly keyRevoked: (() => void) | undefined;

  /**
   * The reader's record of feed stretches without a customer's events (see `QuietFeeds`): only
   * the read-only reader keeps one, and records only inside a read transaction, whose snapshot
   * holds committed events only, the same for the walk and for the end it records.
   */
  private readonly quietFeeds: QuietFeeds<number> | undefined;

  /** The reader's committed accounts (see `AccountCache`). */
  private readonly accounts: AccountCache | undefined;

  constructor(
    db: DatabaseSync,
    inTransactionOnly = false,
    keyRevoked?: () => void,
    quietFeeds?: QuietFeeds<number>,
    accounts?: AccountCache,
  ) {
    this.db = db;
    this.inTransactionOnly = inTransactionOnly;
    this.keyRevoked = keyRevoked;
    this.quietFeeds = quietFeeds;
    this.accounts = accounts;
  }

  private sql(text: string): StatementSync {
    if (this.inTransactionOnly && !this.db.isTransaction) {
      throw unavailable('The database abandoned the transaction; nothing was written.');
    }
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  private one(text: string, ...params: Array<string | number | null>): Row | undefined {
    return this.sql(text).get(...params) as Row | undefined;
  }

  private all(text: string, ...params: Array<string | number | null>): Row[] {
    return this.sql(text).all(...params) as Row[];
  }

  private run(text: string, ...params: Array<string | number | null>): number {
    return Number(this.sql(text).run(...params).changes);
  }

  // --- customers and merchants ------------------------------------------------------------

  async getCustomer(id: string) {
    const row = this.one('SELECT * FROM customers WHERE id = ?', id);
    return row ? customerOf(row) : null;
  }

  async getCustomerByUserId(userId: string) {
    const row = this.one('SELECT * FROM customers WHERE user_id = ?', userId);
    return row ? customerOf(row) : null;
  }

  async insertCustomer(record: CustomerRecord) {
    try {
      this.run(
        `INSERT INTO customers (id, user_id, display_name, password_hash, failed_login_count,
           login_locked_until, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        record.id,
        record.userId,
        record.displayName,
        record.passwordHash,
        record.failedLoginCount,
        record.loginLockedUntil,
        record.createdAt,
      );
    } catch (error) {
      throw uniqueToConflict(error, 'That user ID is taken.');
    }
  }

  async reserveSourceAttempt(customerId: string, source: string, now: string, staleBefore: string) {
    const row = this.one(sqliteStatements.reserveSourceAttempt, customerId, source, now, staleBefore);
    if (row)
      return {
        attempt: Number(row.failures),
        known: row.known_until != null && String(row.known_until) > now,
      };
    const locked = this.one(
      'SELECT locked_until FROM login_source_failures WHERE customer_id = ? AND source = ?',
      customerId,
      source,
    );
    return { lockedUntil: String(locked?.locked_until ?? now) };
  }

  async settleSourceAttempts(
    customerId: string,
    source: string,
    outcome: { lockedUntil: string } | { knownUntil: string },
  ) {
    if ('lockedUntil' in outcome) {
      this.run(
        'UPDATE login_source_failures SET failures = 0, locked_until = ? WHERE customer_id = ? AND source = ?',
        outcome.lockedUntil,
        customerId,
        source,
      );
    } else {
      this.run(
        'UPDATE login_source_failures SET failures = 0, locked_until = NULL, known_until = ? WHERE customer_id = ? AND source = ?',
        outcome.knownUntil,
        customerId,
        source,
      );
    }
  }

  async forgetKnownSourcesBeyond(subject: string, keep: number, now: string) {
    return this.run(sqliteStatements.forgetKnownSourcesBeyond, subject, now, keep);
  }

  async deleteStaleSourceFailures(before: string, now: string, limit: number) {
    return this.run(sqliteStatements.deleteStaleSourceFailures, before, now, now, limit);
  }

  async reserveSourceWindow(source: string, now: string, expiredBy: string, max: number) {
    const row = this.one(sqliteStatements.reserveSourceWindow, source, now, expiredBy, max);
    if (row) return { counted: true, windowStartedAt: String(row.window_started_at) };
    const full = this.one('SELECT window_started_at FROM login_source_windows WHERE source = ?', source);
    return { counted: false, windowStartedAt: String(full?.window_started_at ?? now) };
  }

  async releaseSourceWindow(source: string, windowStartedAt: string) {
    this.run(
      'UPDATE login_source_windows SET failures = failures - 1 WHERE source = ? AND window_started_at = ? AND failures > 0',
      source,
      windowStartedAt,
    );
  }

  async deleteStaleSourceWindows(before: string, limit: number) {
    return this.run(sqliteStatements.deleteStaleSourceWindows, before, limit);
  }

  async getMerchant(customerId: string) {
    const row = this.one('SELECT * FROM merchants WHERE customer_id = ?', customerId);
    return row ? merchantOf(row) : null;
  }

  /** The one writer already serializes merchant:update runs. */
  async getMerchantForUpdate(customerId: string) {
    return this.getMerchant(customerId);
  }

  async listMerchants() {
    return this.all('SELECT * FROM merchants ORDER BY created_at').map(merchantOf);
  }

  async insertMerchant(record: MerchantRecord) {
    const inserted = this.run(
      `INSERT INTO merchants (customer_id, name, allowed_origins, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (customer_id) DO NOTHING`,
      record.customerId,
      record.name,
      JSON.stringify(record.allowedOrigins),
      record.createdAt,
    );
    return inserted === 1;
  }

  async upsertMerchant(record: MerchantRecord) {
    this.run(
      `INSERT INTO merchants (customer_id, name, allowed_origins, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, allowed_origins = excluded.allowed_origins`,
      record.customerId,
      record.name,
      JSON.stringify(record.allowedOrigins),
      record.createdAt,
    );
  }

  // --- usual accounts ---------------------------------------------------------------------

  async getUsualAccount(id: string) {
    const row = this.one(
      `SELECT u.*, l.balance_minor FROM usual_accounts u
       JOIN ledger_accounts l ON l.ledger_key = 'usual:' || u.id WHERE u.id = ?`,
      id,
    );
    return row ? usualOf(row) : null;
  }

  async listUsualAccounts(ownerId: string) {
    return this.all(
      `SELECT u.*, l.balance_minor FROM usual_accounts u
       JOIN ledger_accounts l ON l.ledger_key = 'usual:' || u.id
       WHERE u.owner_id = ? ORDER BY u.created_at, u.id`,
      ownerId,
    ).map(usualOf);
  }

  async insertUsualAccount(record: UsualAccountRecord) {
    this.run(
      'INSERT INTO usual_accounts (id, owner_id, currency, name, created_at) VALUES (?, ?, ?, ?, ?)',
      record.id,
      record.ownerId,
      record.currency,
      record.name,
      record.createdAt,
    );
    this.run(
      'INSERT INTO ledger_accounts (ledger_key, currency, balance_minor) VALUES (?, ?, 0)',
      `usual:${record.id}`,
      record.currency,
    );
  }

  // --- keys and sessions ------------------------------------------------------------------

  async getApiKeyByHash(keyHash: string) {
    const row = this.one('SELECT * FROM api_keys WHERE key_hash = ?', keyHash);
    return row ? apiKeyOf(row) : null;
  }

  async listApiKeys(merchantId: string) {
    return this.all('SELECT * FROM api_keys WHERE merchant_id = ? ORDER BY created_at', merchantId).map(
      apiKeyOf,
    );
  }

  async insertApiKey(record: ApiKeyRecord) {
    this.run(
      `INSERT INTO api_keys (id, merchant_id, kind, prefix, key_hash, created_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      record.id,
      record.merchantId,
      record.kind,
      record.prefix,
      record.keyHash,
      record.createdAt,
      record.revokedAt,
    );
  }

  async revokeApiKey(id: string, merchantId: string, at: string) {
    const revoked =
      this.run(
        'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND merchant_id = ? AND revoked_at IS NULL',
        at,
        id,
        merchantId,
      ) > 0;
    if (revoked) this.keyRevoked?.();
    return revoked;
  }

  async getSession(tokenHash: string) {
    const row = this.one('SELECT * FROM sessions WHERE token_hash = ?', tokenHash);
    return row ? sessionOf(row) : null;
  }

  async insertSession(record: SessionRecord) {
    this.run(
      `INSERT INTO sessions (token_hash, customer_id, csrf_token_hash, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?)`,
      record.tokenHash,
      record.customerId,
      record.csrfTokenHash,
      record.createdAt,
      record.expiresAt,
    );
  }

  async deleteSession(tokenHash: string) {
    this.run('DELETE FROM sessions WHERE token_hash = ?', tokenHash);
  }

  async deleteExpiredSessions(now: string, limit: number) {
    return this.run(sqliteStatements.deleteExpiredSessions, now, limit);
  }

  // --- invoices and signing keys ----------------------------------------------------------

  async getInvoice(id: string) {
    const row = this.one('SELECT * FROM invoices WHERE id = ?', id);
    return row ? invoiceOf(row) : null;
  }

  async insertInvoice(record: InvoiceRecord) {
    this.run(
      `INSERT INTO invoices (id, merchant_id, amount_minor, currency, order_reference, description,
         payee_contact, created_at, expires_at, token, temporary_account_code)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      record.id,
      record.merchantId,
      record.amountMinor,
      record.currency,
      record.orderReference,
      record.description,
      record.payeeContact,
      record.createdAt,
      record.expiresAt,
      record.token,
      record.temporaryAccountCode,
    );
  }

  async claimInvoice(id: string, temporaryAccountCode: string) {
    return (
      this.run(
        'UPDATE invoices SET temporary_account_code = ? WHERE id = ? AND temporary_account_code IS NULL',
        temporaryAccountCode,
        id,
      ) > 0
    );
  }

  async listSigningKeys() {
    return this.all('SELECT * FROM signing_keys ORDER BY created_at').map(signingKeyOf);
  }

  /** A key's dates only ever come closer: a rotation racing a revocation cannot undo it. */
  async upsertSigningKey(record: SigningKeyRecord) {
    this.run(
      `INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, created_at, retires_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (kid) DO UPDATE SET retires_at = MIN(signing_keys.retires_at, excluded.retires_at),
         expires_at = MIN(signing_keys.expires_at, excluded.expires_at)`,
      record.kid,
      record.alg,
      JSON.stringify(record.publicJwk),
      JSON.stringify(record.privateJwk),
      record.createdAt,
      record.retiresAt,
      record.expiresAt,
    );
  }

  async sealSigningKey(kid: string, plain: Record<string, unknown>, sealed: Record<string, unknown>) {
    return (
      this.run(
        'UPDATE signing_keys SET private_jwk = ? WHERE kid = ? AND private_jwk = ?',
        JSON.stringify(sealed),
        kid,
        JSON.stringify(plain),
      ) === 1
    );
  }

  // --- temporary accounts and events ------------------------------------------------------

  async getTemporaryAccount(code: string) {
    const cached = this.accounts?.get(code);
    if (cached) return cached;
    const row = this.one('SELECT state FROM temporary_accounts WHERE code = ?', code);
    if (!row) return null;
    const account = JSON.parse(String(row.state)) as TemporaryAccount;
    return this.accounts ? this.accounts.offer(account) : account;
  }

  async listTemporaryAccounts(
    customerId: string,
    options: { limit: number; status?: TemporaryAccount['status'] },
  ) {
    const rows = options.status
      ? this.all(sqliteStatements.listAccountsByStatus, customerId, options.status, options.limit)
      : this.all(
          `SELECT t.state FROM temporary_account_parties p JOIN temporary_accounts t ON t.code = p.code
           WHERE p.customer_id = ? ORDER BY p.created_at DESC, p.code LIMIT ?`,
          customerId,
          options.limit,
        );
    return rows.map((row) => JSON.parse(String(row.state)) as TemporaryAccount);
  }

  async listAccountsDue(now: string, limit: number, after?: { at: string; code: string }) {
    return this.all(sqliteStatements.listAccountsDue, now, after?.at ?? '', after?.code ?? '', limit).map(
      (row) => ({ at: String(row.next_deadline_at), code: String(row.code) }),
    );
  }

  async insertTemporaryAccount(account: TemporaryAccount) {
    try {
      this.run(
        'INSERT INTO temporary_accounts (code, status, version, state, created_at, next_deadline_at) VALUES (?, ?, ?, ?, ?, ?)',
        account.code,
        account.status,
        account.version,
        JSON.stringify(account),
        account.createdAt,
        nextDeadline(account),
      );
    } catch (error) {
      throw uniqueToConflict(error, 'That temporary account code was used before.');
    }
    for (const party of account.parties) {
      // The account's status is copied here, and by a trigger whenever it changes.
      this.run(
        'INSERT INTO temporary_account_parties (code, customer_id, created_at, status) VALUES (?, ?, ?, ?)',
        account.code,
        party.customerId,
        account.createdAt,
        account.status,
      );
    }
    this.run(
      'INSERT INTO ledger_accounts (ledger_key, currency, balance_minor) VALUES (?, ?, 0)',
      `temporary:${account.code}`,
      account.currency,
    );
  }

  async updateTemporaryAccount(account: TemporaryAccount, expectedVersion: number) {
    const changed = this.run(
      'UPDATE temporary_accounts SET status = ?, version = ?, state = ?, next_deadline_at = ? WHERE code = ? AND version = ?',
      account.status,
      account.version,
      JSON.stringify(account),
      nextDeadline(account),
      account.code,
      expectedVersion,
    );
    if (changed !== 1) {
      throw new LockstepError('conflict', 'The temporary account changed meanwhile; retry.');
    }
  }

  async appendEvents(events: AccountEvent[]) {
    const stored: StoredEvent[] = [];
    for (const event of events) {
      const withId: StoredEvent = { ...event, id: newSortableId('evt') };
      this.run(
        'INSERT INTO account_events (id, code, seq, type, at, actor, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
        withId.id,
        event.accountCode,
        event.seq,
        event.type,
        event.at,
        event.actor,
        JSON.stringify(event.data),
      );
      stored.push(withId);
    }
    return stored;
  }

  async listEvents(code: string, afterSeq: number, limit: number) {
    return this.all(
      'SELECT * FROM account_events WHERE code = ? AND seq > ? ORDER BY seq LIMIT ?',
      code,
      afterSeq,
      limit,
    ).map(eventOf);
  }

  /** The last position in the event feed (0: none). */
  feedEnd(): number {
    return Number(this.one('SELECT max(position) AS end FROM account_events')?.end ?? 0);
  }

  /** The feed's events after `position`, in order, with their positions. */
  feedAfter(position: number, limit: number): Array<{ position: number; event: StoredEvent }> {
    return this.all(
      'SELECT * FROM account_events WHERE position > ? ORDER BY position LIMIT ?',
      position,
      limit,
    ).map((row) => ({ position: Number(row.position), event: eventOf(row) }));
  }

  async getEvent(id: string) {
    const row = this.one('SELECT * FROM account_events WHERE id = ?', id);
    return row ? eventOf(row) : null;
  }

  async listEventsForCustomer(customerId: string, options: { afterId?: string; limit: number }) {
    let afterPosition = 0;
    if (options.afterId) {
      // Only the customer's own events are cursors: a foreign id is "no such event" too.
      const row = this.one(
        `SELECT position FROM account_events e WHERE id = ? AND EXISTS (
           SELECT 1 FROM temporary_account_parties p WHERE p.customer_id = ? AND p.code = e.code)`,
        options.afterId,
        customerId,
      );
      if (!row) throw new LockstepError('not_found', 'No such event to list after.');
      afterPosition = Number(row.position);
    }
    // Two plans, as PostgreSQL's planner picks from its statistics (this runs on the event loop,
    // so a poll must not scan a large history): a customer party to few accounts reads their
    // events by account and sorts them; one party to many walks the feed from the cursor and
    // stops at `limit` of its own. One plan for both took 126 ms (by account, a merchant of
    // 200k accounts) or 181 ms (in feed order, one of 10) per poll on 1M events; each takes
    // under 0.5 ms chosen so.
    const partiesCounted = Number(
      this.one(
        'SELECT count(*) AS n FROM (SELECT 1 FROM temporary_account_parties WHERE customer_id = ? LIMIT ?)',
        customerId,
        feedByAccountPartiesMax,
      )?.n,
    );
    if (partiesCounted < feedByAccountPartiesMax) {
      return this.all(sqliteStatements.feedByAccount, customerId, afterPosition, options.limit).map(eventOf);
    }
    // In feed order, from past the range this reader last found without the customer's events.
    const quiet = this.quietFeeds?.skip(customerId, afterPosition);
    const rows = this.all(
      sqliteStatements.feedInOrder,
      quiet?.to ?? afterPosition,
      customerId,
      options.limit,
    );
    if (this.quietFeeds && rows.length < options.limit && this.db.isTransaction) {
      // The walk reached the end of what this snapshot holds: none of the customer's events lie
      // between its last one here (or the cursor) and that end.
      const end = this.feedEnd();
      const last = rows.length > 0 ? Number(rows.at(-1)?.position) : (quiet?.from ?? afterPosition);
      this.quietFeeds.record(customerId, last, end);
    }
    return rows.map(eventOf);
  }

  // --- ledger -----------------------------------------------------------------------------

  async postJournal(entry: JournalEntryInput) {
    const sums = new Map<string, number>();
    for (const transfer of entry.transfers) {
      if (!Number.isSafeInteger(transfer.amountMinor) || transfer.amountMinor <= 0) {
        throw new Error(
          `postJournal: a transfer amount must be a positive integer, got ${transfer.amountMinor}`,
        );
      }
    }
    this.run('SAVEPOINT journal');
    try {
      this.run(
        'INSERT INTO journal_entries (id, kind, reference, at) VALUES (?, ?, ?, ?)',
        entry.id,
        entry.kind,
        entry.reference,
        entry.at,
      );
      let leg = 0;
      for (const transfer of entry.transfers) {
        for (const [key, amount] of [
          [transfer.from, -transfer.amountMinor],
          [transfer.to, transfer.amountMinor],
        ] as Array<[LedgerAccountKey, number]>) {
          this.moveBalance(key, transfer.currency, amount);
          this.run(
            'INSERT INTO postings (entry_id, leg, ledger_key, amount_minor, currency) VALUES (?, ?, ?, ?, ?)',
            entry.id,
            leg++,
            key,
            amount,
            transfer.currency,
          );
          sums.set(transfer.currency, (sums.get(transfer.currency) ?? 0) + amount);
        }
      }
      // Double entry by construction; asserted anyway (two paths, one invariant).
      for (const [currency, sum] of sums) {
        if (sum !== 0) throw new Error(`postJournal: entry ${entry.id} does not balance in ${currency}`);
      }
      this.run('RELEASE journal');
    } catch (error) {
      this.run('ROLLBACK TO journal');
      this.run('RELEASE journal');
      throw error;
    }
  }

  private moveBalance(key: LedgerAccountKey, currency: CurrencyCode, amountMinor: number): void {
    const kind = key.slice(0, key.indexOf(':'));
    if (kind === 'fees' || kind === 'external') {
      this.run(
        'INSERT INTO ledger_accounts (ledger_key, currency, balance_minor) VALUES (?, ?, 0) ON CONFLICT DO NOTHING',
        key,
        currency,
      );
    }
    // One statement on the common path: the move happens only if the currency matches, the
    // result stays an exact integer and (except for the outside world) does not go negative.
    const moved = this.one(
      `UPDATE ledger_accounts SET balance_minor = balance_minor + ?
       WHERE ledger_key = ? AND currency = ?
         AND abs(balance_minor + ?) <= 9007199254740991 AND (? OR balance_minor + ? >= 0)
       RETURNING balance_minor`,
      amountMinor,
      key,
      currency,
      amountMinor,
      kind === 'external' ? 1 : 0,
      amountMinor,
    );
    if (moved) return;
    // Refused: say why (this path reads, it never writes).
    const row = this.one('SELECT currency, balance_minor FROM ledger_accounts WHERE ledger_key = ?', key);
    if (!row) throw new LockstepError('not_found', `No ledger account ${key}.`);
    if (row.currency !== currency) {
      throw new LockstepError('currency_mismatch', `${key} is in ${String(row.currency)}, not ${currency}.`);
    }
    const next = Number(row.balance_minor) + amountMinor;
    if (!Number.isSafeInteger(next)) {
      // Balances stay exact integers: refuse a move past 2^53 - 1 rather than round it.
      throw new LockstepError(
        'amount_out_of_range',
        `${key} would exceed the largest balance the bank keeps.`,
      );
    }
    throw new LockstepError('insufficient_funds', 'Not enough money in the account.', {
      availableMinor: Number(row.balance_minor),
      requestedMinor: -amountMinor,
    });
  }

  async getBalance(ledgerKey: LedgerAccountKey) {
    const row = this.one('SELECT balance_minor FROM ledger_accounts WHERE ledger_key = ?', ledgerKey);
    return row ? Number(row.balance_minor) : 0;
  }

  async listBalances(): Promise<LedgerBalance[]> {
    return this.all('SELECT * FROM ledger_accounts ORDER BY ledger_key').map((row) => ({
      ledgerKey: String(row.ledger_key) as LedgerAccountKey,
      currency: String(row.currency) as CurrencyCode,
      balanceMinor: Number(row.balance_minor),
    }));
  }

  async listJournal(options: { afterId?: string; limit: number }): Promise<JournalEntryRecord[]> {
    let afterPosition = 0;
    if (options.afterId) {
      const row = this.one('SELECT position FROM journal_entries WHERE id = ?', options.afterId);
      afterPosition = row ? Number(row.position) : 0;
    }
    const entries = this.all(
      'SELECT * FROM journal_entries WHERE position > ? ORDER BY position LIMIT ?',
      afterPosition,
      options.limit,
    );
    return entries.map((row) => ({
      id: String(row.id),
      kind: String(row.kind),
      reference: row.reference === null ? null : String(row.reference),
      at: String(row.at),
      postings: this.all('SELECT * FROM postings WHERE entry_id = ? ORDER BY leg', String(row.id)).map(
        (posting) => ({
          entryId: String(posting.entry_id),
          ledgerKey: String(posting.ledger_key) as LedgerAccountKey,
          amountMinor: Number(posting.amount_minor),
          currency: String(posting.currency) as CurrencyCode,
        }),
      ),
    }));
  }

  // --- webhooks ---------------------------------------------------------------------------

  async listWebhookEndpoints(merchantId: string) {
    return this.all(
      'SELECT * FROM webhook_endpoints WHERE merchant_id = ? ORDER BY created_at, id',
      merchantId,
    ).map(endpointOf);
  }

  async listWebhookEndpointsOf(merchantIds: string[]) {
    return merchantIds.flatMap((merchantId) =>
      this.all(
        'SELECT * FROM webhook_endpoints WHERE merchant_id = ? ORDER BY created_at, id',
        merchantId,
      ).map(endpointOf),
    );
  }

  async insertWebhookEndpoint(record: WebhookEndpointRecord) {
    this.run(
      'INSERT INTO webhook_endpoints (id, merchant_id, url, enabled, created_at) VALUES (?, ?, ?, ?, ?)',
      record.id,
      record.merchantId,
      record.url,
      record.enabled ? 1 : 0,
      record.createdAt,
    );
  }

  async setWebhookEndpointEnabled(id: string, merchantId: string, enabled: boolean) {
    return (
      this.run(
        'UPDATE webhook_endpoints SET enabled = ? WHERE id = ? AND merchant_id = ?',
        enabled ? 1 : 0,
        id,
        merchantId,
      ) > 0
    );
  }

  async insertOutbox(records: NewOutboxRecord[]) {
    for (const record of records) {
      // Parked behind an unfinished earlier delivery (one probe of the pending index; the
      // records before this one are in the table already).
      this.run(
        `INSERT INTO webhook_outbox (${outboxColumns}, parked)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
           ?8 IS NULL AND EXISTS (
             SELECT 1 FROM webhook_outbox e
             WHERE e.endpoint_id = ?2 AND e.account_code = ?4 AND e.seq < ?5 AND e.delivered_at IS NULL))`,
        ...outboxValues(record),
      );
    }
  }

  async getOutbox(id: string) {
    const row = this.one('SELECT * FROM webhook_outbox WHERE id = ?', id);
    return row ? outboxOf(row) : null;
  }

  /** Only the first unfinished delivery of its endpoint and account (whatever is parked). */
  async claimDueOutbox(now: string, leaseUntil: string, limit: number) {
    const rows = this.all(sqliteStatements.claimDueOutbox, now, limit);
    for (const row of rows) {
      this.run('UPDATE webhook_outbox SET next_attempt_at = ? WHERE id = ?', leaseUntil, String(row.id));
    }
    return rows.map((row) => ({ ...outboxOf(row), nextAttemptAt: leaseUntil }));
  }

  async markOutboxDelivered(id: string, at: string, lease?: string) {
    this.finishOutbox(id, at, null, lease);
  }

  async markOutboxGivenUp(id: string, at: string, reason: string, lease?: string) {
    this.finishOutbox(id, at, `given up: ${reason}`.slice(0, 500), lease);
  }

  /** Marks a delivery finished, then unparks the next one of its endpoint and account. */
  private finishOutbox(id: string, at: string, lastError: string | null, lease: string | undefined) {
    const finished = this.one(
      `UPDATE webhook_outbox SET delivered_at = ?, attempt_count = attempt_count + 1, last_error = ?
       WHERE id = ? AND (? IS NULL OR next_attempt_at = ?)
       RETURNING endpoint_id, account_code`,
      at,
      lastError,
      id,
      lease ?? null,
      lease ?? null,
    );
    if (!finished) return;
    this.run(
      `UPDATE webhook_outbox SET parked = 0, next_attempt_at = max(next_attempt_at, ?)
       WHERE id = (SELECT id FROM webhook_outbox
                   WHERE endpoint_id = ? AND account_code = ? AND delivered_at IS NULL
                   ORDER BY seq LIMIT 1)
         AND parked = 1`,
      at,
      String(finished.endpoint_id),
      String(finished.account_code),
    );
  }

  async unparkOutbox(at: string) {
    // Parks what an older release queued unparked behind an unfinished delivery, then unparks
    // what nothing holds back any more. A later next_attempt_at is kept: an older process's
    // lease, or a retry's backoff.
    this.run(
      `UPDATE webhook_outbox SET parked = 1
       WHERE delivered_at IS NULL AND parked = 0 AND ${waitsBehindUnfinished('webhook_outbox')}`,
    );
    return this.run(
      `UPDATE webhook_outbox SET parked = 0, next_attempt_at = max(next_attempt_at, ?)
       WHERE delivered_at IS NULL AND parked = 1 AND NOT ${waitsBehindUnfinished('webhook_outbox')}`,
      at,
    );
  }

  async markOutboxFailed(id: string, error: string, nextAttemptAt: string, lease?: string) {
    this.run(
      `UPDATE webhook_outbox SET attempt_count = attempt_count + 1, last_error = ?, next_attempt_at = ?
       WHERE id = ? AND (? IS NULL OR next_attempt_at = ?)`,
      error.slice(0, 500),
      nextAttemptAt,
      id,
      lease ?? null,
      lease ?? null,
    );
  }

  // --- idempotency ------------------------------------------------------------------------

  async getIdempotency(scope: string, key: string) {
    const row = this.one('SELECT * FROM idempotency WHERE scope = ? AND key = ?', scope, key);
    return row ? idempotencyOf(row) : null;
  }

  async putIdempotency(record: IdempotencyRecord) {
    try {
      this.run(
        `INSERT INTO idempotency (scope, key, request_hash, status_code, response_body, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
        record.scope,
        record.key,
        record.requestHash,
        record.statusCode,
        record.responseBody,
        record.createdAt,
      );
    } catch (error) {
      throw uniqueToConflict(
        error,
        'This Idempotency-Key is being used by another request.',
        'idempotency_key_in_use',
      );
    }
  }
  async deleteIdempotencyBefore(before: string, limit: number) {
    return this.run(sqliteStatements.deleteIdempotencyBefore, before, limit);
  }
}

function uniqueToConflict(
  error: unknown,
  message: string,
  code: 'conflict' | 'idempotency_key_in_use' = 'conflict',
): unknown {
  if (error instanceof Error && /UNIQUE constraint|PRIMARY KEY/i.test(error.message)) {
    return new LockstepError(code, message);
  }
  return error;
}

function unavailable(message: string, cause?: unknown): LockstepError {
  const error = new LockstepError('service_unavailable', message);
  if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause });
  return error;
}

import { createHash, randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  type AccountEvent,
  type CurrencyCode,
  type LedgerAccountKey,
  LockstepError,
  nextDeadline,
  type TemporaryAccount,
} from '@lockstep/core';
import pg from 'pg';
import { newSortableId } from '../ids.ts';
import { postgresMigrations } from './postgres-schema.ts';
import { QuietFeeds } from './quiet-feeds.ts';
import {
  apiKeyOf,
  customerOf,
  endpointOf,
  eventOf,
  idempotencyOf,
  invoiceOf,
  merchantOf,
  outboxOf,
  type Row,
  sessionOf,
  signingKeyOf,
  usualOf,
  waitsBehindUnfinished,
} from './rows.ts';
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
 * The PostgreSQL store, for production and for several gateway processes sharing one database.
 *
 * Concurrency (READ COMMITTED, pessimistic, in a consistent order):
 * - a command first takes a transaction-scoped advisory lock on its idempotency key, so two
 *   requests with one key run one after the other and the second sees the first's record;
 * - it then locks the temporary account row (`SELECT ... FOR UPDATE`), so commands on one
 *   account are serialized across processes;
 * - a journal entry locks its ledger rows in ledger-key order, so two entries never wait on
 *   each other in opposite orders, and moves the balances in the same socket write as COMMIT,
 *   guarded in SQL (a refusal is explained from the locked rows): a busy usual account stays
 *   locked for the server's last statements and COMMIT only, never across a round trip.
 * Anything that still fails with 40001/40P01, or loses its connection before COMMIT, is rolled
 * back by the server and retried a bounded number of times. A connection lost once COMMIT was
 * sent leaves the outcome unknown (unless the server had already refused a statement): the
 * caller gets `service_unavailable` and retries with its idempotency key. Statements are
 * pipelined (see `PgOps`): a command on an account takes two round trips, a deposit or
 * withdrawal too (its usual accounts are read with the account). Reads use
 * REPEATABLE READ READ ONLY snapshots on the primary (never a replica). Events committed by
 * one process are announced with NOTIFY so other processes' live streams see them
 * (`onForeignEvents`); so are revoked API keys, so their caches drop them (`onKeyRevoked`).
 */
export interface PostgresStoreOptions {
  connectionString: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Attempts of one transaction on serialization failures, deadlocks and lost connections. */
  attemptsMax?: number;
  /** Listen for other processes' events (default true). */
  listen?: boolean;
  /**
   * How long a unit of work waits for the database's next answer (default 20 s). Past it the
   * connection is cut and the caller told to retry (503): a stalled network or a proxy that
   * stopped forwarding otherwise held the request, and a pooled connection, for as long as the
   * kernel kept the socket (minutes; helper-49's review). No retry starts after that long
   * either. A long unit (reconcile) is fine as long as answers keep coming. The server's own
   * limits come first: a statement runs at most 3/4 of it and waits for a lock at most 1/4.
   */
  answerTimeoutMs?: number;
}

/** How long `/healthz` waits for the database's answer. */
const healthTimeoutMs = 2_000;

function answerTimeoutMs(options: PostgresStoreOptions): number {
  return options.answerTimeoutMs ?? 20_000;
}

/**
 * The server's own limits for a pooled connection (see the pool's options). A lock wait stays
 * above PostgreSQL's deadlock_timeout (1 s), so a deadlock is found (40P01, retried) before
 * the wait is given up (55P03).
 */
function sessionLimits(options: PostgresStoreOptions): string[] {
  const answerMs = answerTimeoutMs(options);
  return [
    `SET statement_timeout = ${Math.round((answerMs * 3) / 4)}`,
    `SET lock_timeout = ${Math.max(1_000, Math.round(answerMs / 4))}`,
    'SET idle_in_transaction_session_timeout = 60000',
  ];
}

const eventChannel = 'lockstep_events';
const keyRevokedChannel = 'lockstep_key_revoked';
/** Advisory lock id for migrations (any constant; "lockstep" in ASCII). */
const migrationLockId = 0x6c6f636b73746570n;
/** NOTIFY payloads must stay under 8000 bytes. */
const notifyPayloadMax = 7_000;
const retryableCodes = new Set(['40001', '40P01']);
/**
 * Whether a gateway has run on this database (its migrations table is there), or undefined when
 * it cannot be reached (the open says why). The operator CLI asks before it opens the store,
 * which would set an empty database up: pointed at a mistyped database name, `reconcile` made
 * one and reported it balanced (helper-105's review).
 */
export async function hasLockstepSchema(connectionString: string): Promise<boolean | undefined> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    // Its own tables, not only the migrations table, a name other tools use too (helper-107).
    const { rows } = await client.query(
      "SELECT to_regclass('schema_migrations') IS NOT NULL AND to_regclass('journal_entries') IS NOT NULL AS present",
    );
    return rows[0]?.present === true;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A statement cancelled (statement_timeout, pg_cancel_backend) or a lock not had in time
 * (lock_timeout): the transaction was rolled back, nothing of it landed. Answered 503, safe to
 * retry, not 500 (helper-47's review).
 */
const abandonedCodes = new Set(['57014', '55P03']);

export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const store = new PostgresStore(options);
  try {
    await store.migrate();
    if (options.listen ?? true) await store.startListening();
  } catch (error) {
    // Nobody gets this store: end its pool and its listener's retry loop.
    await store.close();
    throw error;
  }
  return store;
}

type ForeignListener = (events: StoredEvent[]) => void;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  private readonly options: PostgresStoreOptions;
  /** This process's name in NOTIFY payloads (it skips its own). */
  readonly origin = randomUUID();
  private readonly foreignListeners = new Set<ForeignListener>();
  /** Ledger keys of fee and external accounts known to exist (they are never deleted). */
  readonly knownLedgerKeys = new Set<string>();
  /** Feed stretches walked without a customer's events (see `QuietFeeds`), in feed order. */
  readonly quietFeeds = new QuietFeeds<FeedPoint>(compareFeedPoints);
  /**
   * The server those stretches were found on (`pg_postmaster_start_time`): transaction ids are
   * unique only within one server's history, so stretches found on another prove nothing.
   */
  feedServer: string | undefined;
  private listener: pg.Client | undefined;
  private listenRetry: NodeJS.Timeout | undefined;
  private listenHealth: NodeJS.Timeout | undefined;
  private listenedBefore = false;
  private readonly resyncListeners = new Set<() => void>();
  private readonly keyRevokedListeners = new Set<() => void>();
  private closed = false;
  private readonly unsettled = new UnsettledCommits();

  constructor(options: PostgresStoreOptions) {
    this.options = options;
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      // The server answers within these, rolling the unit back (57014, 55P03: 503, nothing
      // landed), well before the client gives up on it (answerTimeoutMs): only a connection
      // that stopped carrying answers is cut, never a unit waiting on a lock (helper-55's
      // review: a cut unit's writes, already in the server's socket buffer, could commit after
      // its caller was told the outcome is unknown). A client gone mid-transaction releases
      // its locks after a minute.

      // Statements go out without waiting for the previous answer: a command's writes travel
      // together (see PgOps), which saves round trips and socket writes, not server work.
      pipeline: true,
    });
    // An idle connection cut by the server must not crash the process; the pool drops it.
    this.pool.on('error', () => {});
    // Set once per connection, before anything it runs (its queue keeps the order): with SET,
    // not as startup parameters, which PgBouncer refuses in every pool mode (helper-57).
    const limits = sessionLimits(options);
    this.pool.on('connect', (client) => {
      for (const statement of limits) client.query(statement).catch(() => {});
    });
  }

  async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      // An index build or a fill may take longer than a request may, and wait for locks.
      await client.query('SET statement_timeout = 0; SET lock_timeout = 0');
      await client.query('SELECT pg_advisory_lock($1)', [migrationLockId.toString()]);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
      const { rows } = await client.query('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((row) => Number(row.version)));
      for (const migration of postgresMigrations) {
        if (applied.has(migration.version)) continue;
        // A fill commits as it goes (and can run again); it is recorded once it has finished.
        if (migration.fill) await migration.fill(client);
        await client.query('BEGIN');
        try {
          if (migration.sql) await client.query(migration.sql);
          await client.query(
            'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
            [migration.version, migration.name, new Date().toISOString()],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [migrationLockId.toString()]).catch(() => {});
      // Closed, not pooled: its session has no time limits.
      client.release(true);
    }
  }

  async transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    this.assertOpen();
    const attemptsMax = this.options.attemptsMax ?? 5;
    const deadlineMs = this.unitDeadline();
    for (let attempt = 1; ; attempt++) {
      const client = await this.connect(deadlineMs);
      const unwatch = watchAnswers(client, this.answerTimeoutMs());
      const ops = new PgOps(client, this, true);
      let commitSent = false;
      let landed = false;
      try {
        const value = await work(ops);
        if (!ops.begun) {
          // The unit wrote nothing (and read nothing): there is no transaction to commit.
          client.release();
          return value;
        }
        // The NOTIFYs and COMMIT go out behind the unit's writes, in the same socket write as
        // the last of them. A statement the server refused aborted the transaction, so the
        // COMMIT behind it answers ROLLBACK and `settle` reports the refusal.
        ops.notify(this.notifications(ops.appendedEventIds));
        commitSent = true;
        const committed = await client.query('COMMIT');
        if (committed.command !== 'COMMIT') {
          // Rolled back: a statement was refused; `settle` throws that refusal.
          await ops.settle();
          throw new Error(`COMMIT answered ${committed.command}`);
        }
        landed = true;
        client.release();
        // This process's caches now; other processes' when the NOTIFY reaches them.
        if (ops.keyRevoked) this.announceKeyRevoked();
        for (const key of ops.openedLedgerKeys) this.knownLedgerKeys.add(key);
        const failed = await ops.cause();
        if (failed !== undefined) {
          // Only a statement the client could not even send fails without aborting the
          // transaction (none can today: every value is a primitive). Then the rest committed:
          // never report that as a failure the caller may retry.
          throw new Error(
            `The unit committed although one of its statements failed to send: ${String(failed)}`,
          );
        }
        return value;
      } catch (thrown) {
        if (landed) throw thrown;
        // A pipelined statement that failed earlier is the cause, not the "transaction is
        // aborted" answers of the statements behind it.
        const cause = await ops.cause();
        const error = cause ?? thrown;
        const lost = isConnectionError(thrown) || isConnectionError(error);
        if (lost) {
          client.release(error as Error);
        } else {
          if (ops.begun) await client.query('ROLLBACK').catch(() => {});
          client.release();
        }
        // The server refused a statement before COMMIT: the transaction was aborted there, so
        // nothing of it landed, whatever happened to the connection afterwards.
        const refused = cause !== undefined && !isConnectionError(cause);
        if (commitSent && lost && !refused) {
          // It may have committed, and this process skips its own notice: drop cached keys now
          // (dropping them is always safe; a retry finds the key revoked and announces nothing),
          // and have the live streams catch up from the store, where its events may be
          // (helper-47's review: a stream of the account never got them).
          if (ops.keyRevoked) this.announceKeyRevoked();
          if (ops.appendedEventIds.length > 0) this.resync();
          // It may also commit later than this (its writes can wait in the server's buffer):
          // its own NOTIFY, skipped as this process's, is then heard after all.
          this.unsettled.expect(ops.appendedEventIds, ops.revocationId);
          throw new LockstepError(
            'service_unavailable',
            'The database connection was lost while committing; the outcome is unknown. Retry with the same Idempotency-Key.',
          );
        }
        const broken = lost && !refused;
        const retryable = broken || retryableCodes.has(pgCode(error) ?? '');
        if (retryable && attempt < attemptsMax && !this.closed && performance.now() < deadlineMs) {
          await sleep(Math.min(200, 5 * 2 ** attempt) * Math.random());
          continue;
        }
        if (broken || retryable) {
          throw new LockstepError('service_unavailable', 'The database is unavailable; retry shortly.');
        }
        if (abandonedCodes.has(pgCode(error) ?? '')) throw gaveUp();
        throw error;
      } finally {
        unwatch();
      }
    }
  }

  private answerTimeoutMs(): number {
    return answerTimeoutMs(this.options);
  }

  /** Retries of a unit start only until then; a connection is waited for until then. */
  private unitDeadline(): number {
    return performance.now() + this.answerTimeoutMs();
  }

  async health(): Promise<StoreHealth> {
    if (this.closed) return { ok: false, reason: 'The store is closed.', permanent: true };
    const deadlineMs = performance.now() + healthTimeoutMs;
    // On the listener's own connection when there is one: a pool busy with requests is a
    // healthy database (helper-55's review: /healthz said 503 under load).
    const listener = this.listener;
    if (listener) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('No answer in time.')), healthTimeoutMs);
      });
      try {
        await Promise.race([listener.query('SELECT 1'), late]);
        return { ok: true };
      } catch {
        return { ok: false, reason: 'The database did not answer.', permanent: false };
      } finally {
        clearTimeout(timer);
      }
    }
    try {
      const client = await this.connect(deadlineMs);
      const unwatch = watchAnswers(client, Math.max(0, deadlineMs - performance.now()));
      try {
        await client.query('SELECT 1');
        client.release();
      } catch (error) {
        client.release(error as Error);
        throw error;
      } finally {
        unwatch();
      }
      return { ok: true };
    } catch {
      return { ok: false, reason: 'The database did not answer.', permanent: false };
    }
  }

  read<T>(work: (reader: StoreReader) => Promise<T>): Promise<T> {
    return this.reading(work, true);
  }

  /** One statement is its own snapshot: no BEGIN and COMMIT, so one round trip, not two. */
  lookup<T>(work: (reader: StoreReader) => Promise<T>): Promise<T> {
    return this.reading(work, false);
  }

  private async reading<T>(work: (reader: StoreReader) => Promise<T>, snapshot: boolean): Promise<T> {
    this.assertOpen();
    const attemptsMax = this.options.attemptsMax ?? 5;
    const deadlineMs = this.unitDeadline();
    for (let attempt = 1; ; attempt++) {
      const client = await this.connect(deadlineMs);
      const unwatch = watchAnswers(client, this.answerTimeoutMs());
      const ops = new PgOps(client, this, false, snapshot ? 'snapshot' : 'single');
      try {
        // BEGIN travels with the first read; the reads' answers count only if it succeeded.
        if (snapshot) ops.beginSnapshot();
        const value = await work(ops);
        await ops.settle();
        if (snapshot) await client.query('COMMIT');
        client.release();
        return value;
      } catch (thrown) {
        // The statement that failed first, not the ones aborted behind it.
        const error = (await ops.cause()) ?? thrown;
        const broken = isConnectionError(error);
        if (broken) client.release(error as Error);
        else {
          if (snapshot) await client.query('ROLLBACK').catch(() => {});
          client.release();
        }
        if (broken && attempt < attemptsMax && !this.closed && performance.now() < deadlineMs) {
          await sleep(Math.min(200, 5 * 2 ** attempt) * Math.random());
          continue;
        }
        if (broken)
          throw new LockstepError('service_unavailable', 'The database is unavailable; retry shortly.');
        if (abandonedCodes.has(pgCode(error) ?? '')) throw gaveUp();
        throw error;
      } finally {
        unwatch();
      }
    }
  }

  onKeyRevoked(listener: () => void): () => void {
    this.keyRevokedListeners.add(listener);
    return () => this.keyRevokedListeners.delete(listener);
  }

  private announceKeyRevoked(): void {
    for (const listener of this.keyRevokedListeners) listener();
  }

  /** Events committed through *other* processes sharing the database (LISTEN/NOTIFY). */
  onForeignEvents(listener: ForeignListener, onResync?: () => void): () => void {
    this.foreignListeners.add(listener);
    if (onResync) this.resyncListeners.add(onResync);
    return () => {
      this.foreignListeners.delete(listener);
      if (onResync) this.resyncListeners.delete(onResync);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.listenRetry);
    clearInterval(this.listenHealth);
    await this.listener?.end().catch(() => {});
    await this.pool.end();
  }

  async startListening(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      keepAlive: true,
      query_timeout: 5_000,
      // How operators (and the tests) tell it apart in pg_stat_activity.
      application_name: 'lockstep listener',
    });
    const retry = () => {
      if (this.closed || this.listener !== client) return;
      this.listener = undefined;
      clearInterval(this.listenHealth);
      client.end().catch(() => {});
      this.listenRetry = setTimeout(() => void this.startListening().catch(() => {}), 500);
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (message) => {
      if (message.channel === eventChannel && message.payload) void this.deliverForeign(message.payload);
      // A revocation through another process (this one's announced itself after its commit,
      // unless the commit's outcome was unknown then).
      if (message.channel === keyRevokedChannel) {
        // `origin/revocation` (a process of before names only its origin).
        const [origin, revocation] = (message.payload ?? '').split('/');
        if (origin !== this.origin || this.unsettled.revocationLanded(revocation)) this.announceKeyRevoked();
      }
    });
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${eventChannel}; LISTEN ${keyRevokedChannel}`);
    } catch (error) {
      retry();
      throw error;
    }
    // A half-open connection raises nothing: probe it, and reconnect when it stops answering.
    clearInterval(this.listenHealth);
    this.listenHealth = setInterval(() => {
      client.query('SELECT 1').catch(retry);
    }, 10_000);
    this.listenHealth.unref();
    // Notifications sent while no listener was connected are lost: tell the live streams to
    // catch up from the store (they resume from their last event).
    if (this.listenedBefore) {
      this.resync();
      this.announceKeyRevoked();
    }
    this.listenedBefore = true;
  }

  private async deliverForeign(payload: string): Promise<void> {
    let parsed: { origin: string; ids: string[] };
    try {
      parsed = JSON.parse(payload);
    } catch {
      return;
    }
    // This process's own events were published when they committed, except those of a unit
    // whose outcome was unknown then.
    const ids = parsed.origin === this.origin ? this.unsettled.landed(parsed.ids) : parsed.ids;
    if (ids.length === 0 || this.foreignListeners.size === 0) return;
    try {
      const events = await this.read(async (reader) => (reader as PgOps).getEvents(ids));
      for (const listener of this.foreignListeners) listener(events);
    } catch {
      // The events could not be read (a busy pool, a lost connection): the live streams are
      // told to catch up from the store, as after a missed notice, or they would wait for ever
      // for an event already committed (helper-47's review).
      this.resync();
    }
  }

  /** Live streams catch up from the store (they resume from their last event). */
  private resync(): void {
    for (const listener of this.resyncListeners) listener();
  }

  /** NOTIFY payloads (each under 8000 bytes) naming the events a transaction appended. */
  private notifications(ids: string[]): string[] {
    const payloads: string[] = [];
    let batch: string[] = [];
    let size = 0;
    for (const id of ids) {
      if (size + id.length + 3 > notifyPayloadMax && batch.length > 0) {
        payloads.push(JSON.stringify({ origin: this.origin, ids: batch }));
        batch = [];
        size = 0;
      }
      batch.push(id);
      size += id.length + 3;
    }
    if (batch.length > 0) payloads.push(JSON.stringify({ origin: this.origin, ids: batch }));
    return payloads;
  }

  /** A pooled connection, or 503 if none comes by `deadlineMs` (performance.now() time). */
  private async connect(deadlineMs = Number.POSITIVE_INFINITY): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    const connecting = this.pool.connect();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      client = await Promise.race([
        connecting,
        new Promise<never>((_, reject) => {
          if (!Number.isFinite(deadlineMs)) return;
          timer = setTimeout(
            () => {
              // Given back whenever it comes, unused.
              connecting.then(
                (late) => late.release(),
                () => {},
              );
              reject(new Error('No connection in time.'));
            },
            Math.max(0, deadlineMs - performance.now()),
          );
        }),
      ]);
    } catch {
      throw new LockstepError('service_unavailable', 'The database is unavailable; retry shortly.');
    } finally {
      clearTimeout(timer);
    }
    // While checked out, a client's socket error (reset, failover, FATAL between queries) is
    // also emitted as an 'error' event, which would crash the process with no listener. The
    // running query rejects as well, and the retry path handles that; the listener is removed
    // again when the client goes back to the pool.
    const ignore = () => {};
    client.on('error', ignore);
    const release = client.release.bind(client);
    client.release = ((error?: Error | boolean) => {
      client.removeListener('error', ignore);
      client.release = release;
      return release(error);
    }) as typeof client.release;
    return client;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('The store is closed.');
  }
}

/** The SQL of every operation over one pooled connection, with named prepared statements. */
class PgOps implements StoreTx {
  private readonly client: pg.PoolClient;
  private readonly store: PostgresStore;
  /** True inside a write transaction: reads of rows about to change take row locks. */
  private readonly writing: boolean;
  readonly appendedEventIds: string[] = [];
  /** The unit revoked an API key (announced to every process once it commits). */
  keyRevoked = false;
  /** The name of this unit's revocation notice, once it revoked a key. */
  revocationId: string | undefined;
  /** True once BEGIN was sent (write transactions only). */
  begun = false;
  /** Fee and external ledger accounts opened here; known to exist once the commit lands. */
  readonly openedLedgerKeys: string[] = [];
  /**
   * Statements sent without waiting for their answer (the client pipelines): writes whose
   * result the unit does not need. Their answers arrive in order before any later statement's.
   */
  private readonly inFlight: Promise<void>[] = [];
  /** The failure first on the wire among them (it aborted the transaction). */
  private failure: { error: unknown; index: number } | undefined;
  private corked = false;
  /** What `prefetchUsualAccounts` asked for, until read once or the ledger moves. */
  private usualAccounts: { ownerId: string; rows: Promise<pg.QueryResult<Row>> } | undefined;
  /** Statements sent so far (their order on the wire). */
  private sent = 0;
  /** What `prefetchAccount` asked for; the account row serves the first read of it only. */
  private prefetched:
    | {
        code: string;
        account: Promise<pg.QueryResult<Row>> | undefined;
        /** The account's parties, known once its prefetched row was read. */
        partyIds: Set<string> | undefined;
        endpoints: Promise<pg.QueryResult<Row>>;
      }
    | undefined;

  /**
   * A `lookup`: outside any transaction, so it may make one statement only. A second call
   * fails even while the first is in flight; that first statement is tracked, so the failed
   * lookup gives its client back to the pool only once the statement has answered.
   */
  private readonly single: boolean;

  constructor(
    client: pg.PoolClient,
    store: PostgresStore,
    writing: boolean,
    reads: 'snapshot' | 'single' = 'snapshot',
  ) {
    this.client = client;
    this.store = store;
    this.writing = writing;
    this.single = !writing && reads === 'single';
  }

  private async query(text: string, values: unknown[] = []): Promise<pg.QueryResult<Row>> {
    if (this.single && this.sent > 0) {
      throw new Error('A lookup makes one store call; use read() for more.');
    }
    this.begin();
    const index = this.sent++;
    let result: pg.QueryResult<Row>;
    try {
      const sending = this.send(text, values);
      if (this.single) this.inFlight.push(sending.then(noop, noop));
      result = await sending;
    } catch (error) {
      // Ranked with the pipelined ones: a read that failed on its own is the cause of the
      // "transaction is aborted" answers of the statements sent behind it.
      this.failed(error, index);
      throw error;
    }
    // Everything sent before this statement has answered by now.
    if (this.inFlight.length > 0) await Promise.all(this.inFlight);
    if (this.failure) throw this.failure.error;
    return result;
  }

  private send(text: string, values: unknown[]): Promise<pg.QueryResult<Row>> {
    this.cork();
    return this.client.query({ name: statementName(text), text, values });
  }

  /**
   * A write whose answer the unit does not wait for: it goes out with the statements sent in
   * the same tick. Only the server can refuse it (a refusal aborts the transaction, so the
   * COMMIT behind it cannot commit); `failure` turns that refusal into the error reported.
   */
  private write(
    text: string,
    values: unknown[],
    failure?: (error: unknown) => unknown | Promise<unknown>,
  ): void {
    this.begin();
    const sent = this.send(text, values);
    this.pipelined(
      failure
        ? sent.catch(async (error: unknown) => {
            throw await failure(error);
          })
        : sent,
    );
  }

  /**
   * Sends the account's locking read and its parties' webhook endpoints now, behind the
   * idempotency lookup, so a command's reads take one round trip. Not awaited here: a unit
   * that fails first leaves them handled.
   */
  prefetchAccount(code: string): void {
    if (!this.writing || this.prefetched) return;
    this.begin();
    const account = this.send('SELECT state FROM temporary_accounts WHERE code = $1 FOR UPDATE', [code]);
    const endpoints = this.send(
      `SELECT * FROM webhook_endpoints
       WHERE merchant_id IN (SELECT customer_id FROM temporary_account_parties WHERE code = $1)
       ORDER BY merchant_id, created_at, id`,
      [code],
    );
    for (const sent of [account, endpoints]) this.pipelined(sent);
    this.prefetched = { code, account, partyIds: undefined, endpoints };
  }

  /**
   * Sends the read of a customer's usual accounts now, with the account's (see
   * `prefetchAccount`); the first `listUsualAccounts` of that customer takes its answer,
   * unless the unit posted to the ledger meanwhile.
   */
  prefetchUsualAccounts(ownerId: string): void {
    if (!this.writing || this.usualAccounts) return;
    this.begin();
    const rows = this.send(listUsualAccountsSql, [ownerId]);
    this.pipelined(rows);
    this.usualAccounts = { ownerId, rows };
  }

  /** Tracks a statement nobody awaits (its failure is kept, never unhandled). */
  private pipelined(sent: Promise<unknown>): void {
    // Handlers may run out of wire order (a mapped failure takes an extra step): keep the
    // earliest statement's failure, not the first handler's.
    const index = this.sent++;
    const settled = sent.then(
      () => {},
      (error: unknown) => this.failed(error, index),
    );
    this.inFlight.push(settled);
  }

  private failed(error: unknown, index: number): void {
    if (!this.failure || index < this.failure.index) this.failure = { error, index };
  }

  /** Waits for the pipelined statements and throws the failure first on the wire, if any. */
  async settle(): Promise<void> {
    await this.cause();
    if (this.failure) throw this.failure.error;
  }

  /** After a failure: the first pipelined statement that failed, if one did. */
  async cause(): Promise<unknown> {
    await Promise.all(this.inFlight);
    return this.failure?.error;
  }

  /** Statements issued in one tick leave in one socket write. */
  private cork(): void {
    if (this.corked) return;
    const stream = (this.client as unknown as { connection?: { stream?: Partial<Socket> } }).connection
      ?.stream;
    if (!stream?.cork || !stream.uncork) return;
    stream.cork();
    this.corked = true;
    process.nextTick(() => {
      this.corked = false;
      stream.uncork?.();
    });
  }

  /** A read-only snapshot, sent in the same socket write as the first read. */
  beginSnapshot(): void {
    this.cork();
    this.pipelined(this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'));
  }

  /** A write transaction begins with its first statement, in the same socket write. */
  private begin(): void {
    if (!this.writing || this.begun) return;
    this.begun = true;
    this.cork();
    this.pipelined(this.client.query('BEGIN'));
  }

  /** Announces the unit's events to other processes when (and only if) it commits. */
  notify(payloads: string[]): void {
    for (const payload of payloads) this.write('SELECT pg_notify($1, $2)', [eventChannel, payload]);
  }

  private async one(text: string, values: unknown[] = []): Promise<Row | undefined> {
    return (await this.query(text, values)).rows[0];
  }

  private async all(text: string, values: unknown[] = []): Promise<Row[]> {
    return (await this.query(text, values)).rows;
  }

  private async run(text: string, values: unknown[] = []): Promise<number> {
    return (await this.query(text, values)).rowCount ?? 0;
  }

  // --- customers and merchants ------------------------------------------------------------

  async getCustomer(id: string) {
    const row = await this.one('SELECT * FROM customers WHERE id = $1', [id]);
    return row ? customerOf(row) : null;
  }

  async getCustomerByUserId(userId: string) {
    const row = await this.one('SELECT * FROM customers WHERE user_id = $1', [userId]);
    return row ? customerOf(row) : null;
  }

  async insertCustomer(record: CustomerRecord) {
    const inserted = await this.run(
      `INSERT INTO customers (id, user_id, display_name, password_hash, failed_login_count,
         login_locked_until, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [
        record.id,
        record.userId,
        record.displayName,
        record.passwordHash,
        record.failedLoginCount,
        record.loginLockedUntil,
        record.createdAt,
      ],
    );
    if (inserted === 0) throw new LockstepError('conflict', 'That user ID is taken.');
  }

  async reserveSourceAttempt(customerId: string, source: string, now: string, staleBefore: string) {
    const row = await this.one(postgresStatements.reserveSourceAttempt, [
      customerId,
      source,
      now,
      staleBefore,
    ]);
    if (row)
      return {
        attempt: Number(row.failures),
        known: row.known_until != null && String(row.known_until) > now,
      };
    const locked = await this.one(
      'SELECT locked_until FROM login_source_failures WHERE customer_id = $1 AND source = $2',
      [customerId, source],
    );
    return { lockedUntil: String(locked?.locked_until ?? now) };
  }

  async settleSourceAttempts(
    customerId: string,
    source: string,
    outcome: { lockedUntil: string } | { knownUntil: string },
  ) {
    if ('lockedUntil' in outcome) {
      await this.run(
        'UPDATE login_source_failures SET failures = 0, locked_until = $1 WHERE customer_id = $2 AND source = $3',
        [outcome.lockedUntil, customerId, source],
      );
    } else {
      await this.run(
        'UPDATE login_source_failures SET failures = 0, locked_until = NULL, known_until = $1 WHERE customer_id = $2 AND source = $3',
        [outcome.knownUntil, customerId, source],
      );
    }
  }

  async forgetKnownSourcesBeyond(subject: string, keep: number, now: string) {
    return this.run(postgresStatements.forgetKnownSourcesBeyond, [subject, now, keep]);
  }

  async deleteStaleSourceFailures(before: string, now: string, limit: number) {
    return this.run(postgresStatements.deleteStaleSourceFailures, [before, now, limit]);
  }

  async reserveSourceWindow(source: string, now: string, expiredBy: string, max: number) {
    const row = await this.one(postgresStatements.reserveSourceWindow, [source, now, expiredBy, max]);
    if (row) return { counted: true, windowStartedAt: String(row.window_started_at) };
    const full = await this.one('SELECT window_started_at FROM login_source_windows WHERE source = $1', [
      source,
    ]);
    return { counted: false, windowStartedAt: String(full?.window_started_at ?? now) };
  }

  async releaseSourceWindow(source: string, windowStartedAt: string) {
    await this.run(
      'UPDATE login_source_windows SET failures = failures - 1 WHERE source = $1 AND window_started_at = $2 AND failures > 0',
      [source, windowStartedAt],
    );
  }

  async deleteStaleSourceWindows(before: string, limit: number) {
    return this.run(postgresStatements.deleteStaleSourceWindows, [before, limit]);
  }

  async getMerchant(customerId: string) {
    const row = await this.one('SELECT * FROM merchants WHERE customer_id = $1', [customerId]);
    return row ? merchantOf(row) : null;
  }

  async getMerchantForUpdate(customerId: string) {
    const row = await this.one('SELECT * FROM merchants WHERE customer_id = $1 FOR UPDATE', [customerId]);
    return row ? merchantOf(row) : null;
  }

  async listMerchants() {
    return (await this.all('SELECT * FROM merchants ORDER BY created_at, customer_id')).map(merchantOf);
  }

  async insertMerchant(record: MerchantRecord) {
    const inserted = await this.run(
      `INSERT INTO merchants (customer_id, name, allowed_origins, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (customer_id) DO NOTHING`,
      [record.customerId, record.name, JSON.stringify(record.allowedOrigins), record.createdAt],
    );
    return inserted === 1;
  }

  async upsertMerchant(record: MerchantRecord) {
    await this.run(
      `INSERT INTO merchants (customer_id, name, allowed_origins, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, allowed_origins = excluded.allowed_origins`,
      [record.customerId, record.name, JSON.stringify(record.allowedOrigins), record.createdAt],
    );
  }

  // --- usual accounts ---------------------------------------------------------------------

  async getUsualAccount(id: string) {
    const row = await this.one(
      `SELECT u.*, l.balance_minor FROM usual_accounts u
       JOIN ledger_accounts l ON l.ledger_key = 'usual:' || u.id WHERE u.id = $1`,
      [id],
    );
    return row ? usualOf(row) : null;
  }

  async lockUsualBalance(usualAccountId: string) {
    this.usualAccounts = undefined;
    const row = await this.one('SELECT balance_minor FROM ledger_accounts WHERE ledger_key = $1 FOR UPDATE', [
      `usual:${usualAccountId}`,
    ]);
    return Number(row?.balance_minor ?? 0);
  }

  async listUsualAccounts(ownerId: string) {
    const prefetched = this.usualAccounts?.ownerId === ownerId ? this.usualAccounts.rows : undefined;
    this.usualAccounts = undefined;
    return (prefetched ? (await prefetched).rows : await this.all(listUsualAccountsSql, [ownerId])).map(
      usualOf,
    );
  }

  async insertUsualAccount(record: UsualAccountRecord) {
    this.usualAccounts = undefined;
    await this.run(
      'INSERT INTO usual_accounts (id, owner_id, currency, name, created_at) VALUES ($1, $2, $3, $4, $5)',
      [record.id, record.ownerId, record.currency, record.name, record.createdAt],
    );
    await this.run('INSERT INTO ledger_accounts (ledger_key, currency, balance_minor) VALUES ($1, $2, 0)', [
      `usual:${record.id}`,
      record.currency,
    ]);
  }

  // --- keys and sessions ------------------------------------------------------------------

  async getApiKeyByHash(keyHash: string) {
    const row = await this.one('SELECT * FROM api_keys WHERE key_hash = $1', [keyHash]);
    return row ? apiKeyOf(row) : null;
  }

  async listApiKeys(merchantId: string) {
    return (
      await this.all('SELECT * FROM api_keys WHERE merchant_id = $1 ORDER BY created_at, id', [merchantId])
    ).map(apiKeyOf);
  }

  async insertApiKey(record: ApiKeyRecord) {
    await this.run(
      `INSERT INTO api_keys (id, merchant_id, kind, prefix, key_hash, created_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        record.id,
        record.merchantId,
        record.kind,
        record.prefix,
        record.keyHash,
        record.createdAt,
        record.revokedAt,
      ],
    );
  }

  async revokeApiKey(id: string, merchantId: string, at: string) {
    const revoked =
      (await this.run(
        'UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND merchant_id = $3 AND revoked_at IS NULL',
        [at, id, merchantId],
      )) > 0;
    if (revoked && !this.keyRevoked) {
      // Delivered at COMMIT, and only if the unit commits. Named, so that this process knows
      // which of its own revocations it hears (one whose outcome was unknown: UnsettledCommits).
      this.revocationId = randomUUID();
      this.write('SELECT pg_notify($1, $2)', [
        keyRevokedChannel,
        `${this.store.origin}/${this.revocationId}`,
      ]);
      this.keyRevoked = true;
    }
    return revoked;
  }

  async getSession(tokenHash: string) {
    const row = await this.one('SELECT * FROM sessions WHERE token_hash = $1', [tokenHash]);
    return row ? sessionOf(row) : null;
  }

  async insertSession(record: SessionRecord) {
    await this.run(
      `INSERT INTO sessions (token_hash, customer_id, csrf_token_hash, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5)`,
      [record.tokenHash, record.customerId, record.csrfTokenHash, record.createdAt, record.expiresAt],
    );
  }

  async deleteSession(tokenHash: string) {
    await this.run('DELETE FROM sessions WHERE token_hash = $1', [tokenHash]);
  }

  async deleteExpiredSessions(now: string, limit: number) {
    return this.run(postgresStatements.deleteExpiredSessions, [now, limit]);
  }

  // --- invoices and signing keys ----------------------------------------------------------

  async getInvoice(id: string) {
    const row = await this.one('SELECT * FROM invoices WHERE id = $1', [id]);
    return row ? invoiceOf(row) : null;
  }

  async insertInvoice(record: InvoiceRecord) {
    await this.run(
      `INSERT INTO invoices (id, merchant_id, amount_minor, currency, order_reference, description,
         payee_contact, created_at, expires_at, token, temporary_account_code)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
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
      ],
    );
  }

  async claimInvoice(id: string, temporaryAccountCode: string) {
    return (
      (await this.run(
        'UPDATE invoices SET temporary_account_code = $1 WHERE id = $2 AND temporary_account_code IS NULL',
        [temporaryAccountCode, id],
      )) > 0
    );
  }

  async listSigningKeys() {
    return (await this.all('SELECT * FROM signing_keys ORDER BY created_at, kid')).map(signingKeyOf);
  }

  /** A key's dates only ever come closer: a rotation racing a revocation cannot undo it. */
  async upsertSigningKey(record: SigningKeyRecord) {
    await this.run(
      `INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, created_at, retires_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (kid) DO UPDATE SET retires_at = LEAST(signing_keys.retires_at, excluded.retires_at),
         expires_at = LEAST(signing_keys.expires_at, excluded.expires_at)`,
      [
        record.kid,
        record.alg,
        JSON.stringify(record.publicJwk),
        JSON.stringify(record.privateJwk),
        record.createdAt,
        record.retiresAt,
        record.expiresAt,
      ],
    );
  }

  async sealSigningKey(kid: string, plain: Record<string, unknown>, sealed: Record<string, unknown>) {
    return (
      (await this.run('UPDATE signing_keys SET private_jwk = $1 WHERE kid = $2 AND private_jwk = $3', [
        JSON.stringify(sealed),
        kid,
        JSON.stringify(plain),
      ])) === 1
    );
  }

  // --- temporary accounts and events ------------------------------------------------------

  async getTemporaryAccount(code: string) {
    const prefetched = this.prefetched?.code === code ? this.prefetched.account : undefined;
    if (prefetched && this.prefetched) {
      const fetched = this.prefetched;
      fetched.account = undefined;
      const row = (await prefetched).rows[0];
      if (!row) return null;
      const account = JSON.parse(String(row.state)) as TemporaryAccount;
      // The endpoints were fetched for the parties in the table, which are these (parties
      // are fixed when the account is created).
      fetched.partyIds = new Set(account.parties.map((party) => party.customerId));
      return account;
    }
    // In a write transaction the account is about to change: lock it, so commands on one
    // account run one after the other across every gateway process.
    const row = await this.one(
      this.writing
        ? 'SELECT state FROM temporary_accounts WHERE code = $1 FOR UPDATE'
        : 'SELECT state FROM temporary_accounts WHERE code = $1',
      [code],
    );
    return row ? (JSON.parse(String(row.state)) as TemporaryAccount) : null;
  }

  async listTemporaryAccounts(
    customerId: string,
    options: { limit: number; status?: TemporaryAccount['status'] },
  ) {
    const rows = options.status
      ? await this.all(postgresStatements.listAccountsByStatus, [customerId, options.status, options.limit])
      : await this.all(
          `SELECT t.state FROM temporary_account_parties p JOIN temporary_accounts t ON t.code = p.code
           WHERE p.customer_id = $1 ORDER BY p.created_at DESC, p.code LIMIT $2`,
          [customerId, options.limit],
        );
    return rows.map((row) => JSON.parse(String(row.state)) as TemporaryAccount);
  }

  async listAccountsDue(now: string, limit: number, after?: { at: string; code: string }) {
    const rows = await this.all(postgresStatements.listAccountsDue, [
      now,
      after?.at ?? '',
      after?.code ?? '',
      limit,
    ]);
    return rows.map((row) => ({ at: String(row.next_deadline_at), code: String(row.code) }));
  }

  async insertTemporaryAccount(account: TemporaryAccount) {
    const inserted = await this.run(
      `INSERT INTO temporary_accounts (code, status, version, state, created_at, next_deadline_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (code) DO NOTHING`,
      [
        account.code,
        account.status,
        account.version,
        JSON.stringify(account),
        account.createdAt,
        nextDeadline(account),
      ],
    );
    if (inserted === 0) throw new LockstepError('conflict', 'That temporary account code was used before.');
    // The account's status is copied here, and by a trigger whenever it changes.
    await this.run(
      `INSERT INTO temporary_account_parties (code, customer_id, created_at, status)
       SELECT $1, customer_id, $3, $4 FROM unnest($2::text[]) AS customer_id`,
      [account.code, account.parties.map((party) => party.customerId), account.createdAt, account.status],
    );
    await this.run('INSERT INTO ledger_accounts (ledger_key, currency, balance_minor) VALUES ($1, $2, 0)', [
      `temporary:${account.code}`,
      account.currency,
    ]);
  }

  async updateTemporaryAccount(account: TemporaryAccount, expectedVersion: number) {
    // A read of the account after this must see this state, not the prefetched one.
    if (this.prefetched?.code === account.code) this.prefetched.account = undefined;
    // The version guard is checked by the server: no row matched means a division by zero,
    // which aborts the transaction. So the write need not be answered before COMMIT is sent.
    this.write(
      `WITH updated AS (
         UPDATE temporary_accounts SET status = $1, version = $2, state = $3, next_deadline_at = $6
         WHERE code = $4 AND version = $5 RETURNING 1)
       SELECT 1 / (SELECT count(*)::int FROM updated) AS updated`,
      [
        account.status,
        account.version,
        JSON.stringify(account),
        account.code,
        expectedVersion,
        nextDeadline(account),
      ],
      (error) =>
        pgCode(error) === '22012'
          ? new LockstepError('conflict', 'The temporary account changed meanwhile; retry.')
          : error,
    );
  }

  async appendEvents(events: AccountEvent[]) {
    if (events.length === 0) return [];
    const stored: StoredEvent[] = events.map((event) => ({ ...event, id: newSortableId('evt') }));
    this.write(
      `INSERT INTO account_events (id, code, seq, type, at, actor, data)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[])`,
      [
        stored.map((event) => event.id),
        stored.map((event) => event.accountCode),
        stored.map((event) => event.seq),
        stored.map((event) => event.type),
        stored.map((event) => event.at),
        stored.map((event) => event.actor),
        stored.map((event) => JSON.stringify(event.data)),
      ],
    );
    this.appendedEventIds.push(...stored.map((event) => event.id));
    return stored;
  }

  async listEvents(code: string, afterSeq: number, limit: number) {
    return (
      await this.all('SELECT * FROM account_events WHERE code = $1 AND seq > $2 ORDER BY seq LIMIT $3', [
        code,
        afterSeq,
        limit,
      ])
    ).map(eventOf);
  }

  async getEvent(id: string) {
    const row = await this.one('SELECT * FROM account_events WHERE id = $1', [id]);
    return row ? eventOf(row) : null;
  }

  /** Events by id, in the order they were written (for LISTEN/NOTIFY fan-out). */
  async getEvents(ids: string[]): Promise<StoredEvent[]> {
    return (
      await this.all('SELECT * FROM account_events WHERE id = ANY($1::text[]) ORDER BY position', [ids])
    ).map(eventOf);
  }

  /**
   * The feed is ordered by (transaction id, position) and shows only events of transactions
   * older than the oldest one still running: a later commit can then never slip in before a
   * cursor a client already holds (positions alone are handed out before commit, out of order).
   */
  async listEventsForCustomer(customerId: string, options: { afterId?: string; limit: number }) {
    let after: { txId: string; position: string } = { txId: '0', position: '0' };
    if (options.afterId) {
      // Only the customer's own events are cursors: a foreign id is "no such event" too.
      const row = await this.one(
        `SELECT tx_id::text AS tx_id, position FROM account_events
         WHERE id = $1 AND code IN (SELECT code FROM temporary_account_parties WHERE customer_id = $2)`,
        [options.afterId, customerId],
      );
      if (!row) throw new LockstepError('not_found', 'No such event to list after.');
      after = { txId: String(row.tx_id), position: String(row.position) };
    }
    // From past the stretch this process last walked without the customer's events, if the
    // cursor lies in it; the walk also returns the horizon it stopped at and the server's start.
    const cursor: FeedPoint = { txId: BigInt(after.txId), position: BigInt(after.position) };
    const walk = (from: FeedPoint) =>
      this.all(postgresStatements.customerFeed, [
        from.txId.toString(),
        from.position.toString(),
        customerId,
        options.limit,
      ]);
    const feeds = this.store.quietFeeds;
    let quiet = feeds.skip(customerId, cursor);
    let rows = await walk(quiet?.to ?? cursor);
    const server = String(rows[0]?.server_started);
    if (server !== this.store.feedServer) {
      // Another server than the one the stretches were found on (a promoted replica, a restored
      // backup): it may hand out again transaction ids the old one used, so stretches found
      // there prove nothing here. Forget them, and walk again from the cursor if one was used.
      if (this.store.feedServer !== undefined) feeds.clear();
      this.store.feedServer = server;
      if (quiet) {
        quiet = undefined;
        rows = await walk(cursor);
      }
    }
    const events = rows.filter((row) => row.id !== null);
    const sameServer = String(rows[0]?.server_started) === this.store.feedServer;
    if (events.length < options.limit && rows[0]?.horizon != null && sameServer) {
      // It walked every event before the horizon: none of the customer's lie between its last
      // one here (or the cursor) and the horizon, and none can be added there any more.
      const last = events.at(-1);
      feeds.record(
        customerId,
        last
          ? { txId: BigInt(String(last.tx_text)), position: BigInt(String(last.position)) }
          : (quiet?.from ?? cursor),
        { txId: BigInt(String(rows[0].horizon)), position: 0n },
      );
    }
    return events.map(eventOf);
  }

  // --- ledger -----------------------------------------------------------------------------

  async postJournal(entry: JournalEntryInput) {
    const deltas = new Map<string, { currency: CurrencyCode; amountMinor: number }>();
    const legs: Array<{ key: LedgerAccountKey; amountMinor: number; currency: CurrencyCode }> = [];
    const sums = new Map<string, number>();
    for (const transfer of entry.transfers) {
      if (!Number.isSafeInteger(transfer.amountMinor) || transfer.amountMinor <= 0) {
        throw new Error(
          `postJournal: a transfer amount must be a positive integer, got ${transfer.amountMinor}`,
        );
      }
      for (const [key, amountMinor] of [
        [transfer.from, -transfer.amountMinor],
        [transfer.to, transfer.amountMinor],
      ] as Array<[LedgerAccountKey, number]>) {
        legs.push({ key, amountMinor, currency: transfer.currency });
        const delta = deltas.get(key);
        if (delta && delta.currency !== transfer.currency) {
          throw new LockstepError('currency_mismatch', `${key} cannot move two currencies in one entry.`);
        }
        deltas.set(key, {
          currency: transfer.currency,
          amountMinor: (delta?.amountMinor ?? 0) + amountMinor,
        });
        sums.set(transfer.currency, (sums.get(transfer.currency) ?? 0) + amountMinor);
      }
    }
    for (const [currency, sum] of sums) {
      if (sum !== 0) throw new Error(`postJournal: entry ${entry.id} does not balance in ${currency}`);
    }
    for (const [key, delta] of deltas) {
      // A per-account total past 2^53 - 1 cannot be bound exactly (nor, past 2^63, at all).
      if (!Number.isSafeInteger(delta.amountMinor)) {
        throw new LockstepError(
          'amount_out_of_range',
          `${key} would exceed the largest balance the bank keeps.`,
        );
      }
    }
    const keys = [...deltas.keys()].sort();
    // Fee and external accounts open on first use.
    const toOpen = keys.filter(
      (key) => /^(fees|external):/.test(key) && !this.store.knownLedgerKeys.has(key),
    );
    if (toOpen.length > 0) {
      this.write(
        `INSERT INTO ledger_accounts (ledger_key, currency, balance_minor)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING`,
        [toOpen, toOpen.map((key) => deltas.get(key)?.currency), toOpen.map(() => 0)],
      );
    }
    // Nothing here waits for an answer, so a busy account's row is locked only while the
    // server runs this unit's last statements and COMMIT, never across a round trip:
    // 1. every touched ledger row is locked in ledger-key order (two entries never wait on each
    //    other in opposite orders); the rows are kept to explain a refusal;
    // 2. one statement writes the entry, its postings and the balances, and aborts the
    //    transaction (a division by zero) unless every row exists in the entry's currency and
    //    stays within what `ledgerRefusal` allows; the refusal is then explained from the rows.
    this.begin();
    const locked = this.send(
      'SELECT ledger_key, currency, balance_minor FROM ledger_accounts WHERE ledger_key = ANY($1::text[]) ORDER BY ledger_key FOR UPDATE',
      [keys],
    );
    this.pipelined(locked);
    this.openedLedgerKeys.push(...toOpen);
    this.usualAccounts = undefined;
    this.write(
      `WITH moves AS (
         SELECT * FROM unnest($8::text[], $9::bigint[], $10::text[]) AS d(key, delta, currency)),
       moved AS (
         UPDATE ledger_accounts l SET balance_minor = l.balance_minor + d.delta FROM moves d
         WHERE l.ledger_key = d.key AND l.currency = d.currency
           AND l.balance_minor + d.delta BETWEEN -9007199254740991 AND 9007199254740991
           AND (l.balance_minor + d.delta >= 0 OR l.ledger_key LIKE 'external:%')
         RETURNING 1),
       entry AS (
         INSERT INTO journal_entries (id, kind, reference, at) VALUES ($1, $2, $3, $4)),
       legs AS (
         INSERT INTO postings (entry_id, leg, ledger_key, amount_minor, currency)
         SELECT $1, leg - 1, key, amount, currency
         FROM unnest($5::text[], $6::bigint[], $7::text[]) WITH ORDINALITY AS t(key, amount, currency, leg))
       SELECT 1 / ((SELECT count(*) FROM moved) = $11)::int AS moved`,
      [
        entry.id,
        entry.kind,
        entry.reference,
        entry.at,
        legs.map((leg) => leg.key),
        legs.map((leg) => leg.amountMinor),
        legs.map((leg) => leg.currency),
        keys,
        keys.map((key) => deltas.get(key)?.amountMinor),
        keys.map((key) => deltas.get(key)?.currency),
        keys.length,
      ],
      async (error) => {
        if (pgCode(error) !== '22012') return error;
        const rows = (await locked).rows;
        return (
          ledgerRefusal(keys, deltas, new Map(rows.map((row) => [String(row.ledger_key), row]))) ??
          new Error(`postJournal: entry ${entry.id} was refused by the ledger guard but passes its checks`)
        );
      },
    );
  }

  async getBalance(ledgerKey: LedgerAccountKey) {
    const row = await this.one('SELECT balance_minor FROM ledger_accounts WHERE ledger_key = $1', [
      ledgerKey,
    ]);
    return row ? Number(row.balance_minor) : 0;
  }

  async listBalances(): Promise<LedgerBalance[]> {
    return (await this.all('SELECT * FROM ledger_accounts ORDER BY ledger_key')).map((row) => ({
      ledgerKey: String(row.ledger_key) as LedgerAccountKey,
      currency: String(row.currency) as CurrencyCode,
      balanceMinor: Number(row.balance_minor),
    }));
  }

  async listJournal(options: { afterId?: string; limit: number }): Promise<JournalEntryRecord[]> {
    let afterPosition = '0';
    if (options.afterId) {
      const row = await this.one('SELECT position FROM journal_entries WHERE id = $1', [options.afterId]);
      afterPosition = row ? String(row.position) : '0';
    }
    const entries = await this.all(
      'SELECT * FROM journal_entries WHERE position > $1 ORDER BY position LIMIT $2',
      [afterPosition, options.limit],
    );
    const postings = await this.all(
      'SELECT * FROM postings WHERE entry_id = ANY($1::text[]) ORDER BY entry_id, leg',
      [entries.map((row) => String(row.id))],
    );
    const byEntry = new Map<string, JournalEntryRecord['postings']>();
    for (const posting of postings) {
      const list = byEntry.get(String(posting.entry_id)) ?? [];
      list.push({
        entryId: String(posting.entry_id),
        ledgerKey: String(posting.ledger_key) as LedgerAccountKey,
        amountMinor: Number(posting.amount_minor),
        currency: String(posting.currency) as CurrencyCode,
      });
      byEntry.set(String(posting.entry_id), list);
    }
    return entries.map((row) => ({
      id: String(row.id),
      kind: String(row.kind),
      reference: row.reference === null ? null : String(row.reference),
      at: String(row.at),
      postings: byEntry.get(String(row.id)) ?? [],
    }));
  }

  // --- webhooks ---------------------------------------------------------------------------

  async listWebhookEndpoints(merchantId: string) {
    return (
      await this.all('SELECT * FROM webhook_endpoints WHERE merchant_id = $1 ORDER BY created_at, id', [
        merchantId,
      ])
    ).map(endpointOf);
  }

  async listWebhookEndpointsOf(merchantIds: string[]) {
    const parties = this.prefetched?.partyIds;
    if (this.prefetched && parties) {
      const asked = new Set(merchantIds);
      if (parties.size === asked.size && [...asked].every((id) => parties.has(id))) {
        return (await this.prefetched.endpoints).rows.map(endpointOf);
      }
    }
    return (
      await this.all(
        'SELECT * FROM webhook_endpoints WHERE merchant_id = ANY($1::text[]) ORDER BY merchant_id, created_at, id',
        [merchantIds],
      )
    ).map(endpointOf);
  }

  async insertWebhookEndpoint(record: WebhookEndpointRecord) {
    await this.run(
      'INSERT INTO webhook_endpoints (id, merchant_id, url, enabled, created_at) VALUES ($1, $2, $3, $4, $5)',
      [record.id, record.merchantId, record.url, record.enabled, record.createdAt],
    );
  }

  async setWebhookEndpointEnabled(id: string, merchantId: string, enabled: boolean) {
    return (
      (await this.run('UPDATE webhook_endpoints SET enabled = $1 WHERE id = $2 AND merchant_id = $3', [
        enabled,
        id,
        merchantId,
      ])) > 0
    );
  }

  async insertOutbox(records: NewOutboxRecord[]) {
    if (records.length === 0) return;
    // Parked behind an unfinished earlier delivery: one in the table (the statement cannot see
    // its own rows) or one before it in `records`. The command holds its account's row lock, and
    // finishing a delivery takes it too, so the two never miss each other (see finishOutbox).
    const behind = records.map((record, index) =>
      records.some(
        (other, before) =>
          before < index &&
          other.endpointId === record.endpointId &&
          other.accountCode === record.accountCode &&
          other.seq < record.seq &&
          other.deliveredAt === null,
      ),
    );
    this.write(
      `INSERT INTO webhook_outbox (id, endpoint_id, event_id, account_code, seq, attempt_count,
         next_attempt_at, delivered_at, last_error, parked)
       SELECT r.id, r.endpoint_id, r.event_id, r.account_code, r.seq, r.attempt_count,
         r.next_attempt_at, r.delivered_at, r.last_error,
         r.delivered_at IS NULL AND (r.behind OR ${waitsBehindUnfinished('r')})
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[],
         $7::text[], $8::text[], $9::text[], $10::boolean[])
         AS r(id, endpoint_id, event_id, account_code, seq, attempt_count, next_attempt_at,
              delivered_at, last_error, behind)`,
      [
        records.map((record) => record.id),
        records.map((record) => record.endpointId),
        records.map((record) => record.eventId),
        records.map((record) => record.accountCode),
        records.map((record) => record.seq),
        records.map((record) => record.attemptCount),
        records.map((record) => record.nextAttemptAt),
        records.map((record) => record.deliveredAt),
        records.map((record) => record.lastError),
        behind,
      ],
    );
  }

  async getOutbox(id: string) {
    const row = await this.one('SELECT * FROM webhook_outbox WHERE id = $1', [id]);
    return row ? outboxOf(row) : null;
  }

  /**
   * Several workers in several processes: SKIP LOCKED hands each due delivery to one of them.
   * Only the first unfinished delivery of its endpoint and account is taken (the order holds
   * whatever is parked), checked row by row as the ready index is walked in the claim's order:
   * written as NOT EXISTS, the planner may hash every unfinished delivery instead (130 ms).
   */
  async claimDueOutbox(now: string, leaseUntil: string, limit: number) {
    const rows = await this.all(postgresStatements.claimDueOutbox, [now, leaseUntil, limit]);
    return rows
      .map(outboxOf)
      .sort(
        (a, b) =>
          a.endpointId.localeCompare(b.endpointId) ||
          a.accountCode.localeCompare(b.accountCode) ||
          a.seq - b.seq,
      );
  }

  async markOutboxDelivered(id: string, at: string, lease?: string) {
    this.finishOutbox(id, at, null, lease);
  }

  async markOutboxGivenUp(id: string, at: string, reason: string, lease?: string) {
    this.finishOutbox(id, at, `given up: ${reason}`.slice(0, 500), lease);
  }

  /**
   * Marks a delivery finished, then unparks the next one of its endpoint and account. First
   * it takes the account's row lock, as a command does before it queues deliveries: otherwise a
   * command could park a delivery behind this one (not yet seen finished) while this promotes
   * nothing (that delivery not yet seen at all), and it would wait forever. Three statements,
   * one round trip (sent with the COMMIT).
   */
  private finishOutbox(id: string, at: string, lastError: string | null, lease: string | undefined) {
    this.write(
      `SELECT 1 FROM temporary_accounts
       WHERE code = (SELECT account_code FROM webhook_outbox WHERE id = $1) FOR UPDATE`,
      [id],
    );
    this.write(
      `UPDATE webhook_outbox SET delivered_at = $1, attempt_count = attempt_count + 1, last_error = $2
       WHERE id = $3 AND ($4::text IS NULL OR next_attempt_at = $4)`,
      [at, lastError, id, lease ?? null],
    );
    this.write(
      `UPDATE webhook_outbox SET parked = false, next_attempt_at = GREATEST(next_attempt_at, $1)
       WHERE id = (SELECT n.id FROM webhook_outbox f JOIN webhook_outbox n
                     ON n.endpoint_id = f.endpoint_id AND n.account_code = f.account_code
                   WHERE f.id = $2 AND f.delivered_at IS NOT NULL AND n.delivered_at IS NULL
                   ORDER BY n.seq LIMIT 1)
         AND parked`,
      [at, id],
    );
  }

  async unparkOutbox(at: string) {
    // Parks what an older release queued unparked behind an unfinished delivery, then unparks
    // what nothing holds back any more (a fresh snapshot: it sees finishes made in between). A
    // later next_attempt_at is kept: an older process's lease, or a retry's backoff.
    this.write(
      `UPDATE webhook_outbox o SET parked = true
       WHERE o.delivered_at IS NULL AND NOT o.parked AND ${waitsBehindUnfinished('o')}`,
      [],
    );
    return this.run(
      `UPDATE webhook_outbox o SET parked = false, next_attempt_at = GREATEST(o.next_attempt_at, $1)
       WHERE o.delivered_at IS NULL AND o.parked AND NOT ${waitsBehindUnfinished('o')}`,
      [at],
    );
  }

  async markOutboxFailed(id: string, error: string, nextAttemptAt: string, lease?: string) {
    await this.run(
      `UPDATE webhook_outbox SET attempt_count = attempt_count + 1, last_error = $1, next_attempt_at = $2
       WHERE id = $3 AND ($4::text IS NULL OR next_attempt_at = $4)`,
      [error.slice(0, 500), nextAttemptAt, id, lease ?? null],
    );
  }

  // --- idempotency ------------------------------------------------------------------------

  async getIdempotency(scope: string, key: string) {
    if (this.writing) {
      // Two requests with one key: the second waits here until the first commits or rolls
      // back, then reads its record (READ COMMITTED sees it) and replays it.
      this.write('SELECT pg_advisory_xact_lock($1::bigint)', [advisoryKey(`${scope} ${key}`)]);
    }
    const row = await this.one('SELECT * FROM idempotency WHERE scope = $1 AND key = $2', [scope, key]);
    return row ? idempotencyOf(row) : null;
  }

  async putIdempotency(record: IdempotencyRecord) {
    if (!this.writing) throw new Error('putIdempotency needs a write transaction');
    this.write(
      `INSERT INTO idempotency (scope, key, request_hash, status_code, response_body, created_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        record.scope,
        record.key,
        record.requestHash,
        Math.trunc(record.statusCode),
        record.responseBody,
        record.createdAt,
      ],
      (error) =>
        pgCode(error) === '23505'
          ? new LockstepError(
              'idempotency_key_in_use',
              'This Idempotency-Key is being used by another request.',
            )
          : error,
    );
  }
  async deleteIdempotencyBefore(before: string, limit: number) {
    return this.run(postgresStatements.deleteIdempotencyBefore, [before, limit]);
  }
}

/**
 * Why the ledger refuses to move `deltas` given the locked rows of `keys`, or undefined if it
 * would not: a missing row, another currency, a balance past 2^53 - 1 (balances stay exact
 * integers, never rounded), or a balance below zero on any account but an external one.
 */
function ledgerRefusal(
  keys: string[],
  deltas: Map<string, { currency: CurrencyCode; amountMinor: number }>,
  byKey: Map<string, Row>,
): LockstepError | undefined {
  for (const key of keys) {
    const row = byKey.get(key);
    const delta = deltas.get(key) as { currency: CurrencyCode; amountMinor: number };
    if (!row) return new LockstepError('not_found', `No ledger account ${key}.`);
    if (row.currency !== delta.currency) {
      return new LockstepError(
        'currency_mismatch',
        `${key} is in ${String(row.currency)}, not ${delta.currency}.`,
      );
    }
    const balanceMinor = Number(row.balance_minor);
    if (!Number.isSafeInteger(balanceMinor + delta.amountMinor)) {
      return new LockstepError(
        'amount_out_of_range',
        `${key} would exceed the largest balance the bank keeps.`,
      );
    }
    if (balanceMinor + delta.amountMinor < 0 && !key.startsWith('external:')) {
      return new LockstepError('insufficient_funds', 'Not enough money in the account.', {
        availableMinor: balanceMinor,
        requestedMinor: -delta.amountMinor,
      });
    }
  }
  return undefined;
}

/** A signed 64-bit advisory lock key from SHA-256 (decimal text, bound as a bigint). */
function advisoryKey(text: string): string {
  return BigInt.asIntN(
    64,
    BigInt(`0x${createHash('sha256').update(text).digest('hex').slice(0, 16)}`),
  ).toString();
}

/**
 * Statements whose plans matter at scale, exported so the tests check the plans of exactly
 * what runs (test/gateway/store.postgres.test.ts).
 */
export const postgresStatements = {
  /**
   * A customer's feed after ($1, $2) in (transaction, position) order, $4 at most, with the
   * horizon it shows events up to and the server's start (every row carries them; one row of
   * them alone when there are no events).
   */
  customerFeed: `SELECT h.horizon::text AS horizon, h.server_started, e.*
    FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon,
                 pg_postmaster_start_time()::text AS server_started) h
    LEFT JOIN LATERAL (
      SELECT e.*, e.tx_id::text AS tx_text FROM account_events e
      WHERE (e.tx_id, e.position) > ($1::xid8, $2::bigint)
        AND e.tx_id < h.horizon
        AND e.code IN (SELECT code FROM temporary_account_parties WHERE customer_id = $3)
      ORDER BY e.tx_id, e.position LIMIT $4) e ON true
    ORDER BY e.tx_id, e.position`,
  /** Up to $2 sessions expired at $1, found through their expiry index. */
  deleteExpiredSessions: `DELETE FROM sessions WHERE token_hash IN (
    SELECT token_hash FROM sessions WHERE expires_at <= $1 LIMIT $2)`,
  reserveSourceAttempt: `INSERT INTO login_source_failures (customer_id, source, failures, locked_until, updated_at)
    VALUES ($1, $2, 1, NULL, $3)
    ON CONFLICT (customer_id, source) DO UPDATE SET
      failures = CASE WHEN login_source_failures.locked_until IS NULL AND login_source_failures.updated_at >= $4
        THEN login_source_failures.failures + 1 ELSE 1 END,
      locked_until = NULL, updated_at = excluded.updated_at
    WHERE login_source_failures.locked_until IS NULL OR login_source_failures.locked_until <= excluded.updated_at
    RETURNING failures, known_until`,
  forgetKnownSourcesBeyond: `DELETE FROM login_source_failures
    WHERE customer_id = $1 AND source <> '*' AND known_until IS NOT NULL
      AND (locked_until IS NULL OR locked_until <= $2)
      AND source NOT IN (SELECT source FROM login_source_failures
        WHERE customer_id = $1 AND source <> '*' AND known_until IS NOT NULL
        ORDER BY known_until DESC LIMIT $3)`,
  deleteStaleSourceFailures: `DELETE FROM login_source_failures WHERE (customer_id, source) IN (
    SELECT customer_id, source FROM login_source_failures
    WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until <= $2)
      AND (known_until IS NULL OR known_until <= $2) LIMIT $3)`,
  /** Counts an attempt in the source's window (a new window once it ran out), up to a maximum. */
  reserveSourceWindow: `INSERT INTO login_source_windows (source, failures, window_started_at) VALUES ($1, 1, $2)
    ON CONFLICT (source) DO UPDATE SET
      failures = CASE WHEN login_source_windows.window_started_at <= $3 THEN 1
        ELSE login_source_windows.failures + 1 END,
      window_started_at = CASE WHEN login_source_windows.window_started_at <= $3
        THEN excluded.window_started_at ELSE login_source_windows.window_started_at END
    WHERE login_source_windows.window_started_at <= $3 OR login_source_windows.failures < $4
    RETURNING window_started_at`,
  /** Deals whose next deadline passed, earliest first, from the partial index on it. */
  listAccountsDue: `SELECT next_deadline_at, code FROM temporary_accounts
    WHERE next_deadline_at IS NOT NULL AND next_deadline_at <= $1 AND (next_deadline_at, code) > ($2, $3)
    ORDER BY next_deadline_at, code LIMIT $4`,
  /** API answers past their retention (an operator's top-up references are kept for good). */
  deleteIdempotencyBefore: `DELETE FROM idempotency WHERE (scope, key) IN (
    SELECT scope, key FROM idempotency WHERE scope <> 'operator' AND created_at < $1
    ORDER BY created_at LIMIT $2)`,
  deleteStaleSourceWindows: `DELETE FROM login_source_windows WHERE source IN (
    SELECT source FROM login_source_windows WHERE window_started_at < $1 LIMIT $2)`,
  /**
   * A customer's newest accounts of one status, from the parties' copy of it (the account's own
   * is checked too: a copy that lagged could hide an account, never show a wrong one).
   */
  listAccountsByStatus: `SELECT t.state FROM temporary_account_parties p
    JOIN temporary_accounts t ON t.code = p.code
    WHERE p.customer_id = $1 AND p.status = $2 AND t.status = $2
    ORDER BY p.created_at DESC, p.code LIMIT $3`,
  /** $1 now, $2 lease until, $3 limit. */
  claimDueOutbox: `WITH due AS (
      SELECT o.id FROM webhook_outbox o
      WHERE o.delivered_at IS NULL AND NOT o.parked AND o.next_attempt_at <= $1
        AND o.seq = (
          SELECT min(e.seq) FROM webhook_outbox e
          WHERE e.endpoint_id = o.endpoint_id AND e.account_code = o.account_code
            AND e.delivered_at IS NULL)
      ORDER BY o.next_attempt_at, o.endpoint_id, o.account_code, o.seq
      LIMIT $3
      FOR UPDATE OF o SKIP LOCKED)
    UPDATE webhook_outbox w SET next_attempt_at = $2 FROM due WHERE w.id = due.id
    RETURNING w.*`,
};

const listUsualAccountsSql = `SELECT u.*, l.balance_minor FROM usual_accounts u
  JOIN ledger_accounts l ON l.ledger_key = 'usual:' || u.id
  WHERE u.owner_id = $1 ORDER BY u.created_at, u.id`;

const noop = () => {};

/** A place in the PostgreSQL feed's order: (transaction id, position). */
interface FeedPoint {
  txId: bigint;
  position: bigint;
}

function compareFeedPoints(a: FeedPoint, b: FeedPoint): number {
  if (a.txId !== b.txId) return a.txId < b.txId ? -1 : 1;
  return a.position === b.position ? 0 : a.position < b.position ? -1 : 1;
}

const statementNames = new Map<string, string>();

function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `ls_${statementNames.size}`;
    statementNames.set(text, name);
  }
  return name;
}

function gaveUp(): LockstepError {
  return new LockstepError(
    'service_unavailable',
    'The database gave up on this request in time; nothing of it was written. Retry shortly.',
  );
}

function pgCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

/**
 * What units of this process whose commit outcome was unknown wrote: if one commits after all,
 * its NOTIFY (which carries this process's origin, and is otherwise skipped) is heard. Bounded:
 * past `max` ids the oldest are forgotten (their streams had a resync at the time).
 */
export class UnsettledCommits {
  private readonly eventIds = new Set<string>();
  private readonly revocations = new Set<string>();
  private readonly max: number;

  constructor(max = 10_000) {
    this.max = max;
  }

  expect(eventIds: string[], revocationId: string | undefined): void {
    for (const id of eventIds) remember(this.eventIds, id, this.max);
    if (revocationId) remember(this.revocations, revocationId, this.max);
  }

  /** The ids among `ids` that were awaited, now forgotten. */
  landed(ids: string[]): string[] {
    return ids.filter((id) => this.eventIds.delete(id));
  }

  /** Whether this revocation notice was awaited (it counts once). */
  revocationLanded(revocationId: string | undefined): boolean {
    return revocationId !== undefined && this.revocations.delete(revocationId);
  }
}

/** Adds `item`, forgetting the oldest past `max`. */
function remember(set: Set<string>, item: string, max: number): void {
  if (set.size >= max) set.delete(set.values().next().value as string);
  set.add(item);
}

/**
 * Cuts the client's connection when `idleMs` pass without a byte from the server while a unit
 * holds it (a unit awaits only the store, so it is waiting for an answer): every statement in
 * flight then fails as on a lost connection, which the unit's retry and outcome-unknown
 * handling already covers, and the pool drops the connection. Returns the stop function.
 */
function watchAnswers(client: pg.PoolClient, idleMs: number): () => void {
  const stream = (client as unknown as { connection?: { stream?: Socket } }).connection?.stream;
  if (!stream) return () => {};
  const timer = setTimeout(() => {
    stream.destroy(new Error(`Connection terminated: the database did not answer for ${idleMs} ms.`));
  }, idleMs);
  const answered = () => timer.refresh();
  stream.on('data', answered);
  return () => {
    clearTimeout(timer);
    stream.removeListener('data', answered);
  };
}

/** The connection is gone (killed backend, server restart, network): the server rolled back. */
function isConnectionError(error: unknown): boolean {
  const code = pgCode(error);
  if (code && /^(08|57P0[123])/.test(code)) return true;
  const message = error instanceof Error ? error.message : '';
  return (
    /Connection terminated|connection (is )?closed|Client has encountered a connection error|ECONNRESET|ECONNREFUSED|EPIPE|not queryable/i.test(
      message,
    ) || ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(code ?? '')
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Versioned migrations of the PostgreSQL store: the same tables as the embedded store
 * (`sqlite-schema.ts`), in PostgreSQL's types. Each step runs once, in order, in its own
 * transaction (or, a `fill`, in batches that commit one by one), under an advisory lock so
 * several gateway processes starting together migrate once. Never edit a released step: add one.
 *
 * Timestamps stay ISO-8601 text (as the records carry them), so both stores compare them the
 * same way. Money is BIGINT minor units.
 */
export const postgresMigrations: Array<PostgresMigration> = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE customers (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        failed_login_count INTEGER NOT NULL DEFAULT 0,
        login_locked_until TEXT,
        created_at TEXT NOT NULL
      );

      CREATE TABLE merchants (
        customer_id TEXT PRIMARY KEY REFERENCES customers(id),
        name TEXT NOT NULL,
        allowed_origins TEXT NOT NULL,
        created_at TEXT NOT NULL
      );

      CREATE TABLE usual_accounts (
        id TEXT PRIMARY KEY,
        owner_id TEXT NOT NULL REFERENCES customers(id),
        currency TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX usual_accounts_owner ON usual_accounts(owner_id);

      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        merchant_id TEXT NOT NULL REFERENCES merchants(customer_id),
        kind TEXT NOT NULL CHECK (kind IN ('secret', 'publishable')),
        prefix TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
      );

      CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL REFERENCES customers(id),
        csrf_token_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
      );

      CREATE TABLE invoices (
        id TEXT PRIMARY KEY,
        merchant_id TEXT NOT NULL REFERENCES merchants(customer_id),
        amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
        currency TEXT NOT NULL,
        order_reference TEXT NOT NULL,
        description TEXT NOT NULL,
        payee_contact TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        token TEXT NOT NULL,
        temporary_account_code TEXT UNIQUE
      );

      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        private_jwk TEXT NOT NULL,
        created_at TEXT NOT NULL,
        retires_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
      );

      -- Rows are never deleted: a dissolved account stays for audit, so a code is never reused.
      CREATE TABLE temporary_accounts (
        code TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        version INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL
      );

      CREATE TABLE temporary_account_parties (
        code TEXT NOT NULL REFERENCES temporary_accounts(code),
        customer_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (customer_id, code)
      );

      -- tx_id orders the feed: positions are handed out before commit, so a reader only returns
      -- events of transactions older than every one still running (see listEventsForCustomer).
      CREATE TABLE account_events (
        position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tx_id XID8 NOT NULL DEFAULT pg_current_xact_id(),
        id TEXT NOT NULL UNIQUE,
        code TEXT NOT NULL REFERENCES temporary_accounts(code),
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (code, seq)
      );
      CREATE INDEX account_events_feed ON account_events(tx_id, position);

      CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        merchant_id TEXT NOT NULL REFERENCES merchants(customer_id),
        url TEXT NOT NULL,
        enabled BOOLEAN NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints(merchant_id);

      CREATE TABLE webhook_outbox (
        id TEXT PRIMARY KEY,
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id),
        event_id TEXT NOT NULL,
        account_code TEXT NOT NULL,
        seq INTEGER NOT NULL,
        attempt_count INTEGER NOT NULL,
        next_attempt_at TEXT NOT NULL,
        delivered_at TEXT,
        last_error TEXT,
        UNIQUE (endpoint_id, event_id)
      );
      CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at) WHERE delivered_at IS NULL;
      CREATE INDEX webhook_outbox_order ON webhook_outbox(endpoint_id, account_code, seq);

      CREATE TABLE idempotency (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status_code INTEGER NOT NULL,
        response_body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (scope, key)
      );

      -- The ledger: balances are a cache of the postings, checked by reconciliation.
      CREATE TABLE ledger_accounts (
        ledger_key TEXT PRIMARY KEY,
        currency TEXT NOT NULL,
        balance_minor BIGINT NOT NULL,
        CHECK (balance_minor >= 0 OR ledger_key LIKE 'external:%')
      );

      CREATE TABLE journal_entries (
        position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        reference TEXT,
        at TEXT NOT NULL
      );

      CREATE TABLE postings (
        entry_id TEXT NOT NULL REFERENCES journal_entries(id),
        leg INTEGER NOT NULL,
        ledger_key TEXT NOT NULL REFERENCES ledger_accounts(ledger_key),
        amount_minor BIGINT NOT NULL CHECK (amount_minor <> 0),
        currency TEXT NOT NULL,
        PRIMARY KEY (entry_id, leg)
      );

      -- History is append-only: refuse to change or remove it.
      CREATE FUNCTION lockstep_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '% rows are immutable', TG_TABLE_NAME; END $$;
      CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
        FOR EACH ROW EXECUTE FUNCTION lockstep_refuse_change();
      CREATE TRIGGER postings_immutable BEFORE UPDATE OR DELETE ON postings
        FOR EACH ROW EXECUTE FUNCTION lockstep_refuse_change();
      CREATE TRIGGER temporary_accounts_no_delete BEFORE DELETE ON temporary_accounts
        FOR EACH ROW EXECUTE FUNCTION lockstep_refuse_change();
    `,
  },
  {
    version: 2,
    name: 'parties by account',
    // A command reads the webhook endpoints of its account's parties by the account's code; the
    // primary key leads with the customer, so without this every command scanned every party.
    sql: createIndex('temporary_account_parties_code', 'temporary_account_parties(code)'),
  },
  {
    version: 3,
    name: "a customer's accounts, newest first",
    // Account lists read a customer's newest accounts: without this every list read and sorted
    // all of the customer's accounts (90 ms for a merchant of 200k).
    sql: createIndex(
      'temporary_account_parties_recent',
      'temporary_account_parties(customer_id, created_at DESC, code)',
    ),
  },
  // Webhook deliveries behind an unfinished one of their account wait parked, outside the index
  // a claim walks: a claim walked a dead endpoint's whole backlog (95-130 ms per claim at 160k).
  // See store.ts, OutboxRecord.parked. Five steps, each its own transaction, so no lock that
  // blocks commands queuing deliveries is held for long; the indexes may be built CONCURRENTLY
  // beforehand (docs/postgres.md). An older release ignores the flag and still delivers in order.
  {
    version: 4,
    name: 'webhook deliveries may wait parked',
    sql: 'ALTER TABLE webhook_outbox ADD COLUMN IF NOT EXISTS parked BOOLEAN NOT NULL DEFAULT false;',
  },
  {
    version: 5,
    name: 'unfinished webhook deliveries in account order',
    sql: createIndex(
      'webhook_outbox_pending',
      'webhook_outbox(endpoint_id, account_code, seq) WHERE delivered_at IS NULL',
    ),
  },
  {
    version: 6,
    name: 'webhook deliveries a claim may take',
    // The claim's whole order, so a claim stops at its limit (with 40k deliveries due at one
    // time, an index of next_attempt_at alone sorted them all: 160-280 ms, now 0.8 ms).
    sql: createIndex(
      'webhook_outbox_ready',
      'webhook_outbox(next_attempt_at, endpoint_id, account_code, seq) WHERE delivered_at IS NULL AND NOT parked',
    ),
  },
  {
    version: 7,
    name: 'park the deliveries waiting now',
    // Row locks only on the rows it parks: commands queuing deliveries are not held up.
    sql: `
      UPDATE webhook_outbox o SET parked = true
      WHERE o.delivered_at IS NULL AND NOT o.parked AND EXISTS (
        SELECT 1 FROM webhook_outbox e
        WHERE e.endpoint_id = o.endpoint_id AND e.account_code = o.account_code
          AND e.seq < o.seq AND e.delivered_at IS NULL);
    `,
  },
  {
    version: 8,
    name: 'drop the indexes of all deliveries',
    // An older release's claim now reads webhook_outbox_pending (unfinished deliveries only).
    sql: 'DROP INDEX IF EXISTS webhook_outbox_order; DROP INDEX IF EXISTS webhook_outbox_due;',
  },
  // A customer's accounts by status: listing by a status rare among a customer's accounts (a
  // merchant's shipping queue, status=funded, among 200k dissolved deals) walked all of them.
  // Each party row carries its account's status, kept by triggers, so a release that knows
  // nothing of the column (in a rolling deploy) keeps it right too.
  {
    version: 9,
    name: "parties carry their account's status",
    sql: "ALTER TABLE temporary_account_parties ADD COLUMN IF NOT EXISTS status TEXT NOT NULL DEFAULT '';",
  },
  {
    version: 10,
    name: "keep the parties' status",
    sql: `
      CREATE OR REPLACE FUNCTION lockstep_parties_status() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE temporary_account_parties SET status = NEW.status WHERE code = NEW.code;
          RETURN NULL;
        END $$;
      DROP TRIGGER IF EXISTS temporary_accounts_status ON temporary_accounts;
      CREATE TRIGGER temporary_accounts_status AFTER UPDATE OF status ON temporary_accounts
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
        EXECUTE FUNCTION lockstep_parties_status();
      CREATE OR REPLACE FUNCTION lockstep_party_status() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.status = '' THEN
            SELECT status INTO NEW.status FROM temporary_accounts WHERE code = NEW.code;
          END IF;
          RETURN NEW;
        END $$;
      DROP TRIGGER IF EXISTS temporary_account_parties_status ON temporary_account_parties;
      CREATE TRIGGER temporary_account_parties_status BEFORE INSERT ON temporary_account_parties
        FOR EACH ROW EXECUTE FUNCTION lockstep_party_status();
    `,
  },
  {
    version: 11,
    name: "fill the parties' status",
    // In batches, each committed: as one statement it held every row it had filled until the
    // end, so a status change on such an account waited for the whole fill (11 s at 900k rows).
    fill: fillPartyStatus,
  },
  {
    version: 12,
    name: "a customer's accounts by status, newest first",
    sql: createIndex(
      'temporary_account_parties_status',
      'temporary_account_parties(customer_id, status, created_at DESC, code)',
    ),
  },
  {
    version: 13,
    name: 'sessions by expiry',
    // The housekeeping sweep deletes expired sessions every 10 minutes without reading every
    // live one.
    sql: createIndex('sessions_expiry', 'sessions(expires_at)'),
  },
  {
    version: 14,
    name: 'login failures per source',
    // Failed logins counted per customer and client source (service/auth.ts): a stranger who
    // guesses wrong locks the login for their own source, not for the customer everywhere.
    sql: `
      CREATE TABLE login_source_failures (
        customer_id TEXT NOT NULL,
        source TEXT NOT NULL,
        failures INTEGER NOT NULL,
        locked_until TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (customer_id, source)
      );
      CREATE INDEX login_source_failures_age ON login_source_failures(updated_at);
    `,
  },
  {
    version: 15,
    name: 'known login sources',
    // Where the customer logged in before: the account-wide lock does not shut them out there.
    sql: `ALTER TABLE login_source_failures ADD COLUMN IF NOT EXISTS known_until TEXT;`,
  },
  {
    version: 16,
    name: 'failed logins per source over all user IDs',
    // The source throttle (service/login-guard.ts) was counted in each process's memory; in the
    // store, every gateway process sharing it counts the same window.
    sql: `
      CREATE TABLE login_source_windows (
        source TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        window_started_at TEXT NOT NULL
      );
      CREATE INDEX login_source_windows_age ON login_source_windows(window_started_at);
    `,
  },
  {
    version: 17,
    name: 'stored answers by age',
    // Housekeeping deletes answers past their retention (7 days by default), oldest first; an
    // operator's top-up references (the slip numbers) are kept for good.
    sql: createIndex('idempotency_age', "idempotency(created_at) WHERE scope <> 'operator'"),
  },
  {
    version: 18,
    name: 'deal deadlines',
    // When each deal next needs the bank to act on a deadline (@lockstep/core deadlines.ts), so
    // the sweep finds the deals whose deadline passed without reading the others. Adding a
    // nullable column rewrites nothing.
    sql: 'ALTER TABLE temporary_accounts ADD COLUMN IF NOT EXISTS next_deadline_at TEXT;',
  },
  {
    version: 19,
    name: 'open deals due once for their deadlines',
    // Every open account is due at once: the sweep gives a deal from before deadlines its
    // deadlines from then, and clears the others. In batches, each committed.
    fill: fillDeadlinesDue,
  },
  {
    version: 20,
    name: 'deals by next deadline',
    sql: createIndex(
      'temporary_accounts_deadline',
      'temporary_accounts(next_deadline_at, code) WHERE next_deadline_at IS NOT NULL',
    ),
  },
  {
    version: 21,
    name: 'deals awaiting funds due for their pay deadline',
    // Deals awaiting their money had no deadline before the pay deadline: each is due once, so
    // the sweep gives it its payBy from then (helper-83's review), also one due later for a ship
    // clock the earlier rule started on a part payment (helper-84's review). In batches.
    fill: (client) => fillDeadlinesDue(client, 5_000, 'awaiting'),
  },
  {
    version: 22,
    name: 'accepted deals a member lock holds due for their verdict deadline',
    // A deal the buyer accepted now waits on its verdict deadline while a member's lock is on
    // (the deadline takes it off: helper-94); one stored before had no deadline indexed
    // (helper-95). Every open account without one is due once; the sweep clears the others.
    fill: fillDeadlinesDue,
  },
  {
    version: 23,
    name: 'shipped deals taken back below their amount due for their verdict deadline',
    // A shipped deal the buyer took part of back was stored awaiting funds, which no deadline
    // waits on (helper-100); the bank now takes it as funded, and its verdict deadline applies.
    // Such a deal has no deadline indexed: every open account without one is due once.
    fill: fillDeadlinesDue,
  },
];

/**
 * An index migration. IF NOT EXISTS: on a large database an operator may build the index
 * CONCURRENTLY beforehand. A CONCURRENTLY build that failed leaves an invalid index of that
 * name, which PostgreSQL keeps updating but never reads: the migration refuses it rather than
 * take it.
 */
function createIndex(name: string, on: string): string {
  return `
    CREATE INDEX IF NOT EXISTS ${name} ON ${on};
    DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = '${name}'::regclass AND NOT indisvalid) THEN
        RAISE EXCEPTION 'index ${name} is invalid (a failed CREATE INDEX CONCURRENTLY?): drop it, then start the gateway again';
      END IF;
    END $$;
  `;
}

export interface PostgresMigration {
  version: number;
  name: string;
  /** Run in one transaction. */
  sql?: string;
  /** Run outside a transaction, committing as it goes; it must be safe to run again. */
  fill?: (client: Queryable) => Promise<void>;
}

/** What a fill needs of a connection. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

/**
 * Copies each account's status to its party rows still without one (''), `batchSize` rows of
 * the parties' key order per statement, each its own transaction. Only rows never set: a status
 * a trigger wrote meanwhile is newer than the statement's snapshot, and the recheck on the
 * locked row skips it. A batch that deadlocks with a command (both lock party rows) is retried.
 * Safe to run again: after a crash the next start goes on.
 */
export async function fillPartyStatus(client: Queryable, batchSize = 5_000): Promise<void> {
  let after = { customerId: '', code: '' };
  for (;;) {
    const { rows } = await retryDeadlocks(() =>
      client.query(
        `WITH batch AS (
           SELECT customer_id, code FROM temporary_account_parties
           WHERE (customer_id, code) > ($1, $2) ORDER BY customer_id, code LIMIT $3),
         filled AS (
           UPDATE temporary_account_parties p SET status = t.status
           FROM batch b JOIN temporary_accounts t ON t.code = b.code
           WHERE p.customer_id = b.customer_id AND p.code = b.code AND p.status = '')
         SELECT customer_id, code FROM batch ORDER BY customer_id DESC, code DESC LIMIT 1`,
        [after.customerId, after.code, batchSize],
      ),
    );
    const last = rows[0];
    if (!last) return;
    after = { customerId: String(last.customer_id), code: String(last.code) };
  }
}

/**
 * Marks every open account due now (migration 19), or (`awaiting`) every one awaiting funds not
 * due before now (migration 21), `batchSize` rows per committed batch. Safe to run again.
 */
export async function fillDeadlinesDue(
  client: Queryable,
  batchSize = 5_000,
  which: 'open' | 'awaiting' = 'open',
): Promise<void> {
  const now = new Date().toISOString();
  const due =
    which === 'open'
      ? `t.status <> 'dissolved' AND t.next_deadline_at IS NULL`
      : `t.status = 'awaiting_funds' AND (t.next_deadline_at IS NULL OR t.next_deadline_at > $3)`;
  let after = '';
  for (;;) {
    const { rows } = await retryDeadlocks(() =>
      client.query(
        `WITH batch AS (
           SELECT code FROM temporary_accounts WHERE code > $1 ORDER BY code LIMIT $2),
         marked AS (
           UPDATE temporary_accounts t SET next_deadline_at = $3
           FROM batch b WHERE t.code = b.code AND ${due})
         SELECT code FROM batch ORDER BY code DESC LIMIT 1`,
        [after, batchSize, now],
      ),
    );
    const last = rows[0];
    if (!last) return;
    after = String(last.code);
  }
}

async function retryDeadlocks<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if ((error as { code?: string }).code !== '40P01' || attempt >= 5) throw error;
    }
  }
}

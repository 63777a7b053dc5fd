/**
 * Versioned migrations of the embedded store. Each step runs once, in order, inside a
 * transaction; `schema_migrations` records what ran. Never edit a released step: add one.
 */
export const sqliteMigrations: Array<{ version: number; name: string; sql: string }> = [
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
      ) STRICT;

      CREATE TABLE merchants (
        customer_id TEXT PRIMARY KEY REFERENCES customers(id),
        name TEXT NOT NULL,
        allowed_origins TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE usual_accounts (
        id TEXT PRIMARY KEY,
        owner_id TEXT NOT NULL REFERENCES customers(id),
        currency TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX usual_accounts_owner ON usual_accounts(owner_id);

      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        merchant_id TEXT NOT NULL REFERENCES merchants(customer_id),
        kind TEXT NOT NULL CHECK (kind IN ('secret', 'publishable')),
        prefix TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
      ) STRICT;

      CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL REFERENCES customers(id),
        csrf_token_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE invoices (
        id TEXT PRIMARY KEY,
        merchant_id TEXT NOT NULL REFERENCES merchants(customer_id),
        amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
        currency TEXT NOT NULL,
        order_reference TEXT NOT NULL,
        description TEXT NOT NULL,
        payee_contact TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        token TEXT NOT NULL,
        temporary_account_code TEXT UNIQUE
      ) STRICT;

      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        private_jwk TEXT NOT NULL,
        created_at TEXT NOT NULL,
        retires_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
      ) STRICT;

      -- Rows are never deleted: a dissolved account stays for audit, so a code is never reused.
      CREATE TABLE temporary_accounts (
        code TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        version INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE temporary_account_parties (
        code TEXT NOT NULL REFERENCES temporary_accounts(code),
        customer_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (customer_id, code)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE account_events (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        code TEXT NOT NULL REFERENCES temporary_accounts(code),
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (code, seq)
      ) STRICT;

      CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        merchant_id TEXT NOT NULL REFERENCES merchants(customer_id),
        url TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;
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
      ) STRICT;
      CREATE INDEX webhook_outbox_due ON webhook_outbox(delivered_at, next_attempt_at);
      CREATE INDEX webhook_outbox_order ON webhook_outbox(endpoint_id, account_code, seq);

      CREATE TABLE idempotency (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status_code INTEGER NOT NULL,
        response_body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (scope, key)
      ) STRICT, WITHOUT ROWID;

      -- The ledger: balances are a cache of the postings, checked by reconciliation.
      CREATE TABLE ledger_accounts (
        ledger_key TEXT PRIMARY KEY,
        currency TEXT NOT NULL,
        balance_minor INTEGER NOT NULL,
        CHECK (balance_minor >= 0 OR ledger_key LIKE 'external:%')
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE journal_entries (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        reference TEXT,
        at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE postings (
        entry_id TEXT NOT NULL REFERENCES journal_entries(id),
        leg INTEGER NOT NULL,
        ledger_key TEXT NOT NULL REFERENCES ledger_accounts(ledger_key),
        amount_minor INTEGER NOT NULL CHECK (amount_minor <> 0),
        currency TEXT NOT NULL,
        PRIMARY KEY (entry_id, leg)
      ) STRICT, WITHOUT ROWID;

      -- History is append-only: refuse to change or remove it.
      CREATE TRIGGER journal_entries_immutable BEFORE UPDATE ON journal_entries
        BEGIN SELECT RAISE(ABORT, 'journal entries are immutable'); END;
      CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
        BEGIN SELECT RAISE(ABORT, 'journal entries are immutable'); END;
      CREATE TRIGGER postings_immutable BEFORE UPDATE ON postings
        BEGIN SELECT RAISE(ABORT, 'postings are immutable'); END;
      CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings
        BEGIN SELECT RAISE(ABORT, 'postings are immutable'); END;
      CREATE TRIGGER temporary_accounts_no_delete BEFORE DELETE ON temporary_accounts
        BEGIN SELECT RAISE(ABORT, 'temporary accounts are kept for audit'); END;
    `,
  },
  {
    version: 2,
    name: 'idempotency rows in insertion order',
    // A WITHOUT ROWID table keeps each stored answer (often a kilobyte) inside its random key's
    // B-tree page; as a rowid table the answers append and only the small key index is random.
    sql: `
      CREATE TABLE idempotency_v2 (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status_code INTEGER NOT NULL,
        response_body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (scope, key)
      ) STRICT;
      INSERT INTO idempotency_v2 (scope, key, request_hash, status_code, response_body, created_at)
        SELECT scope, key, request_hash, status_code, response_body, created_at FROM idempotency;
      DROP TABLE idempotency;
      ALTER TABLE idempotency_v2 RENAME TO idempotency;
    `,
  },
  {
    version: 3,
    name: "a customer's accounts, newest first",
    // Account lists read a customer's newest accounts: without this every list read and sorted
    // all of the customer's accounts (46 ms for a merchant of 200k, on the event loop).
    sql: `
      CREATE INDEX temporary_account_parties_recent
        ON temporary_account_parties(customer_id, created_at DESC, code);
    `,
  },
  {
    version: 4,
    name: 'webhook deliveries parked behind an unfinished one',
    // A claim walked every due delivery stuck behind an unfinished one of its account (a dead
    // endpoint's backlog: 100 ms per claim at 160k, inside the write batch). Such deliveries now
    // wait parked (store.ts, OutboxRecord.parked), outside the index a claim walks, which holds
    // the claim's whole order so a claim stops at its limit. The order index keeps only
    // unfinished deliveries (an older release's claim reads that one instead of the due index).
    sql: `
      ALTER TABLE webhook_outbox ADD COLUMN parked INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX webhook_outbox_pending ON webhook_outbox(endpoint_id, account_code, seq)
        WHERE delivered_at IS NULL;
      CREATE INDEX webhook_outbox_ready
        ON webhook_outbox(next_attempt_at, endpoint_id, account_code, seq)
        WHERE delivered_at IS NULL AND parked = 0;
      DROP INDEX webhook_outbox_order;
      DROP INDEX webhook_outbox_due;
      UPDATE webhook_outbox SET parked = 1
      WHERE delivered_at IS NULL AND EXISTS (
        SELECT 1 FROM webhook_outbox e
        WHERE e.endpoint_id = webhook_outbox.endpoint_id AND e.account_code = webhook_outbox.account_code
          AND e.seq < webhook_outbox.seq AND e.delivered_at IS NULL);
    `,
  },
  {
    version: 5,
    name: "a customer's accounts by status",
    // Listing by a status rare among a customer's accounts (a merchant's shipping queue,
    // status=funded, among 200k dissolved deals) walked all of them: 51 ms on the event loop.
    // Each party row now carries its account's status, copied by a trigger when it changes.
    sql: `
      ALTER TABLE temporary_account_parties ADD COLUMN status TEXT NOT NULL DEFAULT '';
      UPDATE temporary_account_parties
        SET status = (SELECT t.status FROM temporary_accounts t WHERE t.code = temporary_account_parties.code);
      CREATE INDEX temporary_account_parties_code ON temporary_account_parties(code);
      CREATE INDEX temporary_account_parties_status
        ON temporary_account_parties(customer_id, status, created_at DESC, code);
      CREATE TRIGGER temporary_accounts_status AFTER UPDATE OF status ON temporary_accounts
        WHEN old.status IS NOT new.status
        BEGIN UPDATE temporary_account_parties SET status = new.status WHERE code = new.code; END;
    `,
  },
  {
    version: 6,
    name: "party rows written without their account's status",
    // A release from before version 5 (after a rollback) writes party rows without a status;
    // this fills such a row from its account as it is written, and fills those written since.
    sql: `
      CREATE TRIGGER temporary_account_parties_status AFTER INSERT ON temporary_account_parties
        WHEN new.status = ''
        BEGIN
          UPDATE temporary_account_parties
            SET status = (SELECT t.status FROM temporary_accounts t WHERE t.code = new.code)
            WHERE customer_id = new.customer_id AND code = new.code;
        END;
      UPDATE temporary_account_parties
        SET status = (SELECT t.status FROM temporary_accounts t WHERE t.code = temporary_account_parties.code)
        WHERE status = '';
    `,
  },
  {
    version: 7,
    name: 'sessions by expiry',
    // The housekeeping sweep deletes expired sessions every 10 minutes: without this it read
    // every live session each time, on the event loop.
    sql: `CREATE INDEX sessions_expiry ON sessions(expires_at);`,
  },
  {
    version: 8,
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
      ) WITHOUT ROWID;
      CREATE INDEX login_source_failures_age ON login_source_failures(updated_at);
    `,
  },
  {
    version: 9,
    name: 'known login sources',
    // Where the customer logged in before: the account-wide lock does not shut them out there.
    sql: `ALTER TABLE login_source_failures ADD COLUMN known_until TEXT;`,
  },
  {
    version: 10,
    name: 'failed logins per source over all user IDs',
    // The source throttle (service/login-guard.ts) was counted in each process's memory; in the
    // store, every gateway process sharing it counts the same window.
    sql: `
      CREATE TABLE login_source_windows (
        source TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        window_started_at TEXT NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX login_source_windows_age ON login_source_windows(window_started_at);
    `,
  },
  {
    version: 11,
    name: 'stored answers by age',
    // Housekeeping deletes answers past their retention (7 days by default), oldest first; an
    // operator's top-up references (the slip numbers) are kept for good.
    sql: `CREATE INDEX idempotency_age ON idempotency(created_at) WHERE scope <> 'operator';`,
  },
  {
    version: 12,
    name: 'deal deadlines',
    // When each deal next needs the bank to act on a deadline (@lockstep/core deadlines.ts), so
    // the sweep finds the deals whose deadline passed without reading the others.
    // Every open account is due at once: the sweep gives a deal from before deadlines its
    // deadlines from then, and clears the others.
    sql: `
      ALTER TABLE temporary_accounts ADD COLUMN next_deadline_at TEXT;
      UPDATE temporary_accounts SET next_deadline_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE status <> 'dissolved';
      CREATE INDEX temporary_accounts_deadline ON temporary_accounts(next_deadline_at, code)
        WHERE next_deadline_at IS NOT NULL;
    `,
  },
  {
    version: 13,
    name: 'deals awaiting funds due for their pay deadline',
    // Deals awaiting their money had no deadline before the pay deadline: each is due once, so
    // the sweep gives it its payBy from then (helper-83's review), also one due later for a ship
    // clock the earlier rule started on a part payment (helper-84's review).
    sql: `
      UPDATE temporary_accounts SET next_deadline_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE status = 'awaiting_funds'
          AND (next_deadline_at IS NULL OR next_deadline_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
    `,
  },
  {
    version: 14,
    name: 'accepted deals a member lock holds due for their verdict deadline',
    // A deal the buyer accepted now waits on its verdict deadline while a member's lock is on
    // (the deadline takes it off: helper-94); one stored before had no deadline indexed
    // (helper-95). Every open account without one is due once; the sweep clears the others.
    sql: `
      UPDATE temporary_accounts SET next_deadline_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE status <> 'dissolved' AND next_deadline_at IS NULL;
    `,
  },
  {
    version: 15,
    name: 'shipped deals taken back below their amount due for their verdict deadline',
    // A shipped deal the buyer took part of back was stored awaiting funds, which no deadline
    // waits on (helper-100); the bank now takes it as funded, and its verdict deadline applies.
    // Such a deal has no deadline indexed: every open account without one is due once.
    sql: `
      UPDATE temporary_accounts SET next_deadline_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE status <> 'dissolved' AND next_deadline_at IS NULL;
    `,
  },
];

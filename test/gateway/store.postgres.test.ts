import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openPostgresStore, postgresStatements } from '../../packages/gateway/src/storage/postgres.ts';
import { fillPartyStatus, postgresMigrations } from '../../packages/gateway/src/storage/postgres-schema.ts';
import { outboxColumns, outboxValues } from '../../packages/gateway/src/storage/rows.ts';
import { startTestGateway } from '../support/gateway.ts';
import { createTestDatabase, pgAvailable } from '../support/postgres.ts';
import { feedAccount, feedCustomer, feedEvent } from './fixtures/feed-records.ts';
import { storeContract } from './store-contract.ts';
import { expectFirstReleaseRowsUpgraded, firstReleaseRows } from './upgrade-fixtures.ts';

/** Runs `work` on a connection of its own, as another process would. */
async function olderReleaseSql<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

// The same contract suite as the embedded store, on a fresh PostgreSQL database per run.
if (pgAvailable()) {
  let drop: (() => Promise<void>) | undefined;
  let url = '';
  storeContract(
    'postgres',
    async () => {
      const database = await createTestDatabase();
      drop = database.drop;
      url = database.url;
      return openPostgresStore({ connectionString: database.url });
    },
    async () => drop?.(),
    {
      olderRelease: {
        claim: (now, leaseUntil) =>
          olderReleaseSql(url, async (client) =>
            (
              await client.query(
                `WITH due AS (
                   SELECT o.id FROM webhook_outbox o
                   WHERE o.delivered_at IS NULL AND o.next_attempt_at <= $1
                     AND NOT EXISTS (
                       SELECT 1 FROM webhook_outbox earlier
                       WHERE earlier.endpoint_id = o.endpoint_id AND earlier.account_code = o.account_code
                         AND earlier.seq < o.seq AND earlier.delivered_at IS NULL)
                   ORDER BY o.next_attempt_at, o.endpoint_id, o.account_code, o.seq
                   LIMIT 100
                   FOR UPDATE OF o SKIP LOCKED)
                 UPDATE webhook_outbox w SET next_attempt_at = $2 FROM due WHERE w.id = due.id
                 RETURNING w.id`,
                [now, leaseUntil],
              )
            ).rows.map((row) => String(row.id)),
          ),
        insert: (record) =>
          olderReleaseSql(url, async (client) => {
            await client.query(
              `INSERT INTO webhook_outbox (${outboxColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
              outboxValues(record),
            );
          }),
        finish: (deliveryId, at) =>
          olderReleaseSql(url, async (client) => {
            await client.query(
              `UPDATE webhook_outbox SET delivered_at = $1, attempt_count = attempt_count + 1, last_error = NULL
               WHERE id = $2`,
              [at, deliveryId],
            );
          }),
      },
    },
  );

  describe('postgres schema', () => {
    const databases: Array<Awaited<ReturnType<typeof createTestDatabase>>> = [];
    const clients: pg.Client[] = [];
    afterAll(async () => {
      for (const client of clients) await client.end();
      for (const database of databases) await database.drop();
    });

    /** A fresh database as the first release left it, and a client on it. */
    async function firstRelease() {
      const database = await createTestDatabase();
      databases.push(database);
      const client = new pg.Client({ connectionString: database.url });
      clients.push(client);
      await client.connect();
      await client.query(`CREATE TABLE schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
      await client.query((postgresMigrations[0] as { sql: string }).sql);
      await client.query(
        "INSERT INTO schema_migrations VALUES (1, 'initial schema', '2026-11-24T00:00:00.000Z')",
      );
      await client.query(firstReleaseRows('true'));
      return { url: database.url, client };
    }

    /** The plan of one statement, as text. */
    async function explain(client: pg.Client, statement: string) {
      const plan = await client.query(`EXPLAIN ${statement}`);
      return plan.rows.map((row) => row['QUERY PLAN']).join('\n');
    }

    async function upgradeAndExplain(url: string, client: pg.Client) {
      const store = await openPostgresStore({ connectionString: url, listen: false });
      await expectFirstReleaseRowsUpgraded(store);
      await store.close();
      const applied = await client.query('SELECT version FROM schema_migrations ORDER BY version');
      expect(applied.rows.map((row) => row.version)).toEqual(postgresMigrations.map((m) => m.version));
      // The endpoints of an account's parties are looked up by the account's code on every
      // command: that must not scan every party of every account.
      await client.query('SET enable_seqscan = off');
      // A customer's newest accounts come from an index in order, not all read and sorted (on
      // empty tables the planner needs telling that sorting is dear; without an index in that
      // order it sorts anyway).
      await client.query('SET enable_sort = off');
      await client.query('SET enable_bitmapscan = off');
      const list = await explain(
        client,
        `SELECT t.state FROM temporary_account_parties p JOIN temporary_accounts t ON t.code = p.code
         WHERE p.customer_id = 'cus_x' ORDER BY p.created_at DESC, p.code LIMIT 20`,
      );
      expect(list).toMatch(/temporary_account_parties_recent/);
      expect(list).not.toMatch(/Sort/);
      // A merchant's funded deals among its many dissolved ones, with statistics: the case the
      // index is for (on a few rows filtering the newest-first index costs the same). In a
      // transaction rolled back after the plan: rows and statistics alike.
      // Migration 12 builds the status index right after migration 11's fill rewrote those rows,
      // so PostgreSQL may mark it usable only by transactions newer than every one running at
      // the time (pg_index.indcheckxmin), anywhere in the cluster: other tests' included. Wait
      // for those to end (helper-30 traced the pkey-and-sort plans to this).
      for (let attempt = 0; ; attempt++) {
        const usable = await client.query(`
          SELECT NOT i.indcheckxmin
              OR (pg_snapshot_xmin(pg_current_snapshot())::text::numeric % 4294967296)
                 > i.xmin::text::numeric AS usable
          FROM pg_index i WHERE i.indexrelid = 'temporary_account_parties_status'::regclass`);
        if (usable.rows[0]?.usable || attempt >= 600) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await client.query(`
        BEGIN;
        INSERT INTO temporary_accounts (code, status, version, state, created_at)
          SELECT 'ta_plan_' || i, CASE WHEN i <= 3 THEN 'funded' ELSE 'dissolved' END, 1, '{}',
                 '2026-11-24T00:00:00.000Z'
          FROM generate_series(1, 2000) AS i;
        INSERT INTO temporary_account_parties (code, customer_id, created_at, status)
          SELECT code, 'cus_x', created_at, status FROM temporary_accounts WHERE code LIKE 'ta_plan_%';
        ANALYZE temporary_accounts;
        ANALYZE temporary_account_parties;
      `);
      await client.query(`PREPARE by_status(text, text, int) AS ${postgresStatements.listAccountsByStatus}`);
      const byStatus = await explain(client, "EXECUTE by_status('cus_x', 'funded', 20)");
      await client.query('DEALLOCATE by_status');
      await client.query('ROLLBACK');
      expect(byStatus).toMatch(/temporary_account_parties_status/);
      expect(byStatus).not.toMatch(/Sort/);
      // The webhook claim walks only deliveries it may take, in its own order, to its limit,
      // checking each one's place with one probe (never hashing every unfinished delivery).
      await client.query('SET enable_hashjoin = off');
      await client.query(`PREPARE claim(text, text, int) AS ${postgresStatements.claimDueOutbox}`);
      const claim = await explain(
        client,
        "EXECUTE claim('2026-11-24T10:00:00.000Z', '2026-11-24T10:01:00.000Z', 16)",
      );
      await client.query('DEALLOCATE claim');
      expect(claim).toMatch(/Index Scan using webhook_outbox_ready on webhook_outbox o/);
      expect(claim).toMatch(/Index Only Scan using webhook_outbox_pending/);
      expect(claim).not.toMatch(/Sort|Hash/);
      // The housekeeping sweep finds expired sessions by their expiry.
      await client.query(`PREPARE expired(text, int) AS ${postgresStatements.deleteExpiredSessions}`);
      const expired = await explain(client, "EXECUTE expired('2026-11-24T10:00:00.000Z', 1000)");
      await client.query('DEALLOCATE expired');
      expect(expired).toMatch(/Index (Only )?Scan using sessions_expiry on sessions/);
      // ... and answers past their retention by their age.
      await client.query(`PREPARE old_answers(text, int) AS ${postgresStatements.deleteIdempotencyBefore}`);
      const oldAnswers = await explain(client, "EXECUTE old_answers('2026-11-24T10:00:00.000Z', 1000)");
      await client.query('DEALLOCATE old_answers');
      expect(oldAnswers).toMatch(/Index Scan using idempotency_age on idempotency/);
      return explain(
        client,
        `SELECT * FROM webhook_endpoints
         WHERE merchant_id IN (SELECT customer_id FROM temporary_account_parties WHERE code = 'ta_x')`,
      );
    }

    it("upgrades a database at the first version to the latest, and finds a command's parties by index", async () => {
      const { url, client } = await firstRelease();
      expect(await upgradeAndExplain(url, client)).toMatch(/temporary_account_parties_code/);
    });

    it("keeps the parties' status right when a release that knows nothing of it writes", async () => {
      const { url, client } = await firstRelease();
      await upgradeAndExplain(url, client);
      // An older process in a rolling deploy: its statements name no party status.
      await client.query(
        `INSERT INTO temporary_accounts (code, status, version, state, created_at)
         VALUES ('ta_old', 'awaiting_funds', 1, '{"code":"ta_old"}', '2026-11-24T00:00:03.000Z');
         INSERT INTO temporary_account_parties (code, customer_id, created_at)
         VALUES ('ta_old', 'cus_shop', '2026-11-24T00:00:03.000Z')`,
      );
      const store = await openPostgresStore({ connectionString: url, listen: false });
      const listed = (status: 'funded' | 'awaiting_funds') =>
        store.read(async (reader) =>
          (await reader.listTemporaryAccounts('cus_shop', { limit: 10, status })).map(
            (account) => account.code,
          ),
        );
      expect(await listed('awaiting_funds')).toEqual(['ta_old']);
      await client.query(
        "UPDATE temporary_accounts SET status = 'funded', version = 2 WHERE code = 'ta_old'",
      );
      expect(await listed('funded')).toEqual(['ta_old', 'ta_1']);
      expect(await listed('awaiting_funds')).toEqual([]);
      // The fill, in batches of one row: every row still without a status gets its account's.
      await client.query("UPDATE temporary_account_parties SET status = ''");
      await fillPartyStatus(client, 1);
      expect(await listed('funded')).toEqual(['ta_old', 'ta_1']);
      const empty = await client.query(
        "SELECT count(*)::int AS n FROM temporary_account_parties WHERE status = ''",
      );
      expect(empty.rows[0].n).toBe(0);
      await store.close();
    });

    it('takes an index the operator built CONCURRENTLY before the upgrade', async () => {
      const { url, client } = await firstRelease();
      await client.query(
        'CREATE INDEX CONCURRENTLY temporary_account_parties_code ON temporary_account_parties(code)',
      );
      expect(await upgradeAndExplain(url, client)).toMatch(/temporary_account_parties_code/);
    });

    it('refuses an invalid index left by a failed CONCURRENTLY build, and upgrades once it is dropped', async () => {
      const { url, client } = await firstRelease();
      await client.query(
        'CREATE INDEX CONCURRENTLY temporary_account_parties_code ON temporary_account_parties(code)',
      );
      // What a CONCURRENTLY build that failed half-way leaves behind (marked by hand: the test
      // user is a superuser).
      await client.query(
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'temporary_account_parties_code'::regclass",
      );
      await expect(openPostgresStore({ connectionString: url, listen: false })).rejects.toThrow(
        /temporary_account_parties_code is invalid/,
      );
      const applied = await client.query('SELECT version FROM schema_migrations ORDER BY version');
      expect(applied.rows.map((row) => row.version)).toEqual([1]);
      await client.query('DROP INDEX temporary_account_parties_code');
      expect(await upgradeAndExplain(url, client)).toMatch(/temporary_account_parties_code/);
    });
  });

  describe('operator commands racing', () => {
    it('two merchant:create runs for one customer: one creates it, the other is refused, two live keys; updates keep each other’s change', async () => {
      // Checked, then upserted: both runs passed the check on READ COMMITTED, the second
      // overwrote the first's name and origins, and four live keys were minted.
      const database = await createTestDatabase();
      const test = await startTestGateway({
        store: await openPostgresStore({ connectionString: database.url }),
      });
      try {
        const customer = await test.admin.createCustomer({
          userId: 'racer',
          displayName: 'Racer',
          password: 'racer-pass-123456',
        });
        const results = await Promise.allSettled(
          ['https://one.example', 'https://two.example'].map((origin) =>
            test.admin.createMerchant(customer.id, { name: origin, allowedOrigins: [origin] }),
          ),
        );
        expect(results.map((result) => result.status).sort()).toEqual(['fulfilled', 'rejected']);
        const refused = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
        expect(refused.reason).toMatchObject({ code: 'conflict' });
        const keys = await test.admin.listApiKeys(customer.id);
        expect(keys.filter((key) => key.revokedAt === null)).toHaveLength(2);
        const merchant = await test.admin.getMerchant(customer.id);
        expect(merchant?.allowedOrigins).toEqual([merchant?.name]);
        // merchant:update runs that change different things: neither writes back the other's
        // stale half.
        for (let round = 0; round < 5; round++) {
          await Promise.all([
            test.admin.updateMerchant(customer.id, { name: `Shop ${round}` }),
            test.admin.updateMerchant(customer.id, { allowedOrigins: [`https://r${round}.example`] }),
          ]);
          expect(await test.admin.getMerchant(customer.id)).toMatchObject({
            name: `Shop ${round}`,
            allowedOrigins: [`https://r${round}.example`],
          });
        }
      } finally {
        await test.close();
        await database.drop();
      }
    });
  });

  describe('checkouts and the merchant row', () => {
    it('a buyer pays an invoice while another transaction holds the shop’s row (no checkout waits on it)', async () => {
      // Locking the row in every write unit (for merchant:update) made each checkout of a shop
      // wait for the one before it (helper-63's review).
      const database = await createTestDatabase();
      const test = await startTestGateway({
        store: await openPostgresStore({ connectionString: database.url }),
      });
      const other = new pg.Client({ connectionString: database.url });
      try {
        const invoice = await test.request('POST', '/v1/invoices', {
          token: test.seed.secretKey,
          body: {
            amountMinor: 500,
            currency: 'JPY',
            orderReference: 'row-1',
            description: 'Tea',
            payeeContact: 'shop@example.com',
          },
        });
        const buyer = await test.buyerToken();
        await other.connect();
        await other.query('BEGIN');
        await other.query('SELECT * FROM merchants WHERE customer_id = $1 FOR UPDATE', [test.seed.sellerId]);
        const paying = test.request('POST', '/v1/temporary-accounts', {
          token: buyer,
          body: { invoice: invoice.body.token },
        });
        // Answered while the row is still held (a wait would last until the COMMIT below).
        const answer = await Promise.race([
          paying,
          new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 10_000)),
        ]);
        await other.query('COMMIT');
        expect(answer).toMatchObject({ status: 201 });
      } finally {
        await other.end().catch(() => {});
        await test.close();
        await database.drop();
      }
    });
  });

  describe('quiet feed stretches', () => {
    it('are forgotten when the server changes (a promoted replica may hand out transaction ids again)', async () => {
      const database = await createTestDatabase();
      const store = await openPostgresStore({ connectionString: database.url, listen: false });
      try {
        await store.transaction(async (tx) => {
          for (const id of ['cus_quiet', 'cus_other']) await tx.insertCustomer(feedCustomer(id));
          await tx.insertTemporaryAccount(feedAccount('ta_quiet', ['cus_other', 'cus_quiet']));
        });
        const [first] = await store.transaction((tx) => tx.appendEvents([feedEvent('ta_quiet', 1)]));
        const poll = (afterId?: string) =>
          store.read(async (reader) =>
            (await reader.listEventsForCustomer('cus_quiet', { afterId, limit: 10 })).map((item) => item.id),
          );
        // The feed shows a transaction's events once every older write transaction on the server
        // has ended; other tests (and other databases) on the same server may hold it back a while.
        await expect.poll(() => poll(), { timeout: 15_000 }).toEqual([first?.id]);
        const server = store.feedServer;
        expect(server).toMatch(/^\d{4}-/);
        // A stretch from after the first event to far beyond anything written yet: what one found
        // on a server that had used more transaction ids would look like from here.
        const { rows } = await store.pool.query(
          'SELECT tx_id::text AS tx, position FROM account_events WHERE id = $1',
          [first?.id],
        );
        const from = { txId: BigInt(rows[0].tx), position: BigInt(rows[0].position) };
        const beyond = { txId: from.txId + 1_000_000n, position: 0n };
        const [second] = await store.transaction((tx) => tx.appendEvents([feedEvent('ta_quiet', 2)]));
        // On the same server such a stretch would be trusted (which is why it must never be
        // recorded past the horizon): the event is skipped.
        store.quietFeeds.record('cus_quiet', from, beyond);
        expect(await poll(first?.id)).toEqual([]);
        // Found on another server, it is forgotten and the walk done again from the cursor.
        store.quietFeeds.record('cus_quiet', from, beyond);
        store.feedServer = 'a server this process read from before';
        await expect.poll(() => poll(first?.id), { timeout: 15_000 }).toEqual([second?.id]);
        expect(store.feedServer).toBe(server);
        expect(store.quietFeeds.skip('cus_quiet', from)).toBeUndefined();
      } finally {
        await store.close();
        await database.drop();
      }
    });
  });
} else {
  describe.skip('store contract: postgres (PostgreSQL not reachable)', () => {});
}

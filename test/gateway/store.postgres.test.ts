import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../packages/gateway/src/storage/postgres.ts';
import { postgresMigrations } from '../../packages/gateway/src/storage/postgres-schema.ts';
import { createTestDatabase, pgAvailable } from '../support/postgres.ts';
import { storeContract } from './store-contract.ts';

// The same contract suite as the embedded store, on a fresh PostgreSQL database per run.
if (pgAvailable()) {
  let drop: (() => Promise<void>) | undefined;
  storeContract(
    'postgres',
    async () => {
      const database = await createTestDatabase();
      drop = database.drop;
      return openPostgresStore({ connectionString: database.url });
    },
    async () => drop?.(),
  );

  describe('postgres schema', () => {
    let database: Awaited<ReturnType<typeof createTestDatabase>>;
    let client: pg.Client;
    beforeAll(async () => {
      database = await createTestDatabase();
      client = new pg.Client({ connectionString: database.url });
      await client.connect();
    });
    afterAll(async () => {
      await client?.end();
      await database?.drop();
    });

    it("upgrades a database at the first version to the latest, and finds a command's parties by index", async () => {
      // A database as the first release left it.
      await client.query(`CREATE TABLE schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
      await client.query((postgresMigrations[0] as { sql: string }).sql);
      await client.query(
        "INSERT INTO schema_migrations VALUES (1, 'initial schema', '2026-11-24T00:00:00.000Z')",
      );
      // The operator built migration 2's index beforehand, without blocking writes.
      await client.query(
        'CREATE INDEX CONCURRENTLY temporary_account_parties_code ON temporary_account_parties(code)',
      );
      const store = await openPostgresStore({ connectionString: database.url, listen: false });
      await store.close();
      const applied = await client.query('SELECT version FROM schema_migrations ORDER BY version');
      expect(applied.rows.map((row) => row.version)).toEqual(postgresMigrations.map((m) => m.version));
      // The endpoints of an account's parties are looked up by the account's code on every
      // command: that must not scan every party of every account.
      await client.query('SET enable_seqscan = off');
      const plan = await client.query(
        `EXPLAIN SELECT * FROM webhook_endpoints
         WHERE merchant_id IN (SELECT customer_id FROM temporary_account_parties WHERE code = 'ta_x')`,
      );
      const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n');
      expect(text).toMatch(/temporary_account_parties_code/);
    });
  });
} else {
  describe.skip('store contract: postgres (PostgreSQL not reachable)', () => {});
}

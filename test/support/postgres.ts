import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * PostgreSQL for tests: each run creates its own database and drops it afterwards. Without a
 * reachable server, PostgreSQL tests skip with one clear line — except under CI=true, where
 * they must run (and so fail loudly).
 */
export const adminUrl =
  process.env.LOCKSTEP_TEST_PG_URL ??
  process.env.DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';

let available: boolean | undefined;

export function pgAvailable(): boolean {
  if (available !== undefined) return available;
  try {
    execFileSync('psql', [adminUrl, '-qtAc', 'SELECT 1'], { stdio: 'pipe', timeout: 5_000 });
    available = true;
  } catch {
    available = false;
  }
  if (!available) {
    if (process.env.CI === 'true') {
      throw new Error(
        `PostgreSQL is not reachable at ${adminUrl}, and CI=true requires the PostgreSQL tests.`,
      );
    }
    console.warn(`PostgreSQL not reachable at ${adminUrl}: skipping the PostgreSQL tests.`);
  }
  return available;
}

export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `lockstep_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

import { describe } from 'vitest';
import { openPostgresStore } from '../../packages/gateway/src/storage/postgres.ts';
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
} else {
  describe.skip('store contract: postgres (PostgreSQL not reachable)', () => {});
}

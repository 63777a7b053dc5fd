import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Store } from './store.ts';

/**
 * Opens the configured store: PostgreSQL when a `DATABASE_URL` is given (production, several
 * gateway processes), otherwise the embedded SQLite file in the data folder.
 */
export async function openStore(options: {
  databaseUrl?: string;
  dataDir: string;
  sqliteSync?: 'async' | 'full';
  sqliteCheckpoint?: 'worker' | 'inline';
  pgPoolSize?: number;
  pgAnswerTimeoutMs?: number;
}): Promise<Store> {
  if (options.databaseUrl) {
    const { openPostgresStore } = await import('./postgres.ts');
    return openPostgresStore({
      connectionString: options.databaseUrl,
      poolSize: options.pgPoolSize,
      answerTimeoutMs: options.pgAnswerTimeoutMs,
    });
  }
  mkdirSync(options.dataDir, { recursive: true });
  const { openSqliteStore } = await import('./sqlite.ts');
  return openSqliteStore({
    path: path.join(options.dataDir, 'lockstep.sqlite'),
    sync: options.sqliteSync,
    checkpoint: options.sqliteCheckpoint,
  });
}

import { describe, expect, it } from 'vitest';
import { createTestDatabase, pgAvailable } from '../support/postgres.ts';
import { runWorkload } from './workload.ts';

/**
 * The bank workload under crashes (issue 7): a short run here; `pnpm soak -- --minutes N` runs
 * it longer. SQLite allows one writer process, so on SQLite one gateway process is stopped and
 * restarted; on PostgreSQL three processes share the database and one stops every few seconds,
 * alternately killed and drained.
 */
describe('bank workload with gateway processes killed (SIGKILL) and stopped (SIGTERM)', () => {
  it('keeps every invariant on the embedded SQLite store', async () => {
    const report = await runWorkload({
      durationMs: 20_000,
      processes: 1,
      clients: 12,
      killEveryMs: 4_000,
      minStops: 3,
    });
    console.log(JSON.stringify({ ...report, violations: report.violations.length }));
    expect(report.violations).toEqual([]);
    expect(report.killsSurvived + report.gracefulStops).toBeGreaterThanOrEqual(3);
    expect(report.gracefulStops).toBeGreaterThanOrEqual(1);
    expect(report.operationsAcknowledged).toBeGreaterThan(200);
    expect(report.totalMinorAtEnd).toBe(report.totalMinorAtStart);
  }, 120_000);

  const pg = pgAvailable();
  it.runIf(pg)(
    'keeps every invariant on PostgreSQL with three gateway processes',
    async () => {
      const database = await createTestDatabase();
      try {
        const report = await runWorkload({
          durationMs: 25_000,
          processes: 3,
          clients: 16,
          killEveryMs: 4_000,
          minStops: 4,
          databaseUrl: database.url,
        });
        console.log(JSON.stringify({ ...report, violations: report.violations.length }));
        expect(report.violations).toEqual([]);
        expect(report.killsSurvived + report.gracefulStops).toBeGreaterThanOrEqual(4);
        expect(report.gracefulStops).toBeGreaterThanOrEqual(2);
        expect(report.operationsAcknowledged).toBeGreaterThan(200);
      } finally {
        await database.drop();
      }
    },
    150_000,
  );
});

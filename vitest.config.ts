import { defineConfig } from 'vitest/config';
import { pgAvailable } from './test/support/postgres.ts';

/**
 * One vitest config for the whole tree: tests live under `test/` (one folder per package, plus
 * `test/e2e/`). Files run in forked processes, because several tests spawn and SIGKILL child
 * processes and open SQLite files.
 *
 * Two projects: "default" runs everything on the embedded store; "postgres" runs the HTTP
 * suites again with the gateway on PostgreSQL (the store contract and the bank workload run
 * on PostgreSQL in their own files). Without a reachable PostgreSQL it is left out with one
 * line saying so, except under CI=true, where `pgAvailable()` fails the run instead.
 */
const httpSuites = [
  'test/gateway/http-*.test.ts',
  'test/gateway/authz-matrix.test.ts',
  'test/gateway/webhooks.test.ts',
];

export default defineConfig({
  test: {
    environment: 'node',
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Long whole-system tests and CPU-heavy property tests share 2 cores: two files at a time.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'default', include: ['test/**/*.test.ts'] } },
      ...(pgAvailable()
        ? [
            {
              extends: true,
              test: { name: 'postgres', include: httpSuites, env: { LOCKSTEP_TEST_STORE: 'postgres' } },
            },
          ]
        : []),
    ],
  },
});

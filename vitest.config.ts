import { defineConfig } from 'vitest/config';

/**
 * One vitest config for the whole tree: tests live under `test/` (one folder per package, plus
 * `test/e2e/`). Files run in forked processes, because several tests spawn and SIGKILL child
 * processes and open SQLite files.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Long whole-system tests and CPU-heavy property tests share 2 cores: two files at a time.
    maxWorkers: 2,
  },
});

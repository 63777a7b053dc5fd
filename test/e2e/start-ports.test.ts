import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * `pnpm start` refuses ports it could never serve the demo on before it starts anything
 * (helper-89: PORT=4190, a port browsers and Node's fetch refuse, started the gateway and then
 * the shop failed with "bad port").
 */
const root = path.resolve(import.meta.dirname, '../..');

function start(env: Record<string, string>) {
  const demoDir = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-ports-')), 'demo');
  const run = spawnSync(
    process.execPath,
    ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', 'scripts/start.ts'],
    {
      cwd: root,
      env: { ...process.env, LOCKSTEP_DEMO_DIR: demoDir, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  return { ...run, demoCreated: existsSync(demoDir) };
}

describe('pnpm start and its ports', () => {
  it.each([
    [
      { PORT: '4190' },
      /^PORT=4190 is a port browsers and Node's fetch refuse to connect to: choose another\./,
    ],
    [{ SHOP_PORT: '6000' }, /^SHOP_PORT=6000 is a port browsers/],
    [{ PORT: 'http' }, /^PORT is a TCP port number \(1-65535\), not http\./],
    [{ PORT: '3001', SHOP_PORT: '3001' }, /^PORT and SHOP_PORT are both 3001/],
  ])('%o is refused before anything starts', (env, message) => {
    const run = start(env);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
    expect(run.demoCreated).toBe(false);
  });
});

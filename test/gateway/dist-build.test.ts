import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AssetName, buildAsset } from '../../packages/gateway/src/http/pages/assets.ts';
import { buildGateway } from '../support/gateway-build.ts';
import { nodeFlags, startGatewayProcess } from '../support/gateway-process.ts';

/**
 * The gateway's production build (`pnpm --filter @lockstep/gateway build`): one bundle with its
 * dependencies and the browser assets inside, run from a folder outside the repository (so it
 * can reach no workspace module, nor esbuild). The merchant SDK's contract suite also runs
 * against it (test/merchant/contract-gateway.test.ts).
 */
describe('the built gateway (dist/bin.js, dist/cli.js)', () => {
  let dist: string;
  beforeAll(() => {
    dist = buildGateway();
  }, 60_000);
  afterAll(() => rmSync(dist, { recursive: true, force: true }));

  it('starts once, answers /healthz, and serves the assets built with it, equal to the source run', async () => {
    const gateway = await startGatewayProcess({}, path.join(dist, 'bin.js'));
    try {
      // main.ts runs itself only as the entry module: inside the bundle, bin.js runs it, once.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(gateway.stdoutLines.filter((line) => line.includes('listening on'))).toHaveLength(1);
      const health = await fetch(`${gateway.url}/healthz`);
      expect(await health.json()).toEqual({ ok: true, store: 'sqlite' });
      const routes: Array<[string, AssetName]> = [
        ['/checkout.js', 'checkout.js'],
        ['/widget/frame.js', 'frame.js'],
        ['/widget/frame.css', 'frame.css'],
        ['/bank/assets/bank.js', 'bank.js'],
        ['/bank/assets/bank.css', 'bank.css'],
      ];
      for (const [route, name] of routes) {
        const response = await fetch(`${gateway.url}${route}`);
        const fromSource = await buildAsset(name);
        expect(response.status, route).toBe(200);
        expect(response.headers.get('etag'), route).toBe(fromSource.etag);
        expect(response.headers.get('content-type'), route).toBe(fromSource.contentType);
        expect(await response.text(), route).toBe(fromSource.body);
      }
      // The bundle holds no path into the repository it was built in (a source file read at run
      // time would fail on another machine).
      const repository = path.resolve(import.meta.dirname, '../..');
      for (const file of readdirSync(dist).filter((name) => name.endsWith('.js'))) {
        expect(readFileSync(path.join(dist, file), 'utf8').includes(repository), file).toBe(false);
      }
    } finally {
      await gateway.stop();
    }
  });

  it('refuses to build into a folder holding anything (the build empties its folder first)', () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'lockstep-dist-busy-'));
    try {
      writeFileSync(path.join(folder, 'lockstep.sqlite'), 'data');
      const run = spawnSync(
        process.execPath,
        [...nodeFlags, 'packages/gateway/scripts/build.ts', '--out-dir', folder],
        { cwd: path.resolve(import.meta.dirname, '../..'), encoding: 'utf8' },
      );
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('is not empty');
      expect(readdirSync(folder)).toEqual(['lockstep.sqlite']);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('runs the operator CLI', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-dist-cli-'));
    try {
      const cli = (...args: string[]) =>
        execFileSync(process.execPath, [...nodeFlags, path.join(dist, 'cli.js'), ...args], {
          env: { ...process.env, LOCKSTEP_DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
          encoding: 'utf8',
        });
      const seed = JSON.parse(cli('seed-demo'));
      cli('top-up', '--account', seed.buyerAccountId, '--amount-minor', '500', '--reference', 'slip-dist-1');
      const books = JSON.parse(cli('reconcile'));
      expect(books).toMatchObject({ balanced: true });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

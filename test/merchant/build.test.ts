import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildAsset } from '../../packages/gateway/src/http/pages/assets.ts';
import { root } from '../support/gateway-process.ts';

/** The published build: ESM + CJS from tsup, declarations from tsc; both module systems load it. */
const pkg = path.join(root, 'packages/merchant');
const dist = path.join(pkg, 'dist-test');

describe('the built SDK', () => {
  afterAll(() => rmSync(dist, { recursive: true, force: true }));

  it('builds ESM, CJS and .d.ts, and both formats load', async () => {
    execFileSync(
      process.execPath,
      [
        '--experimental-strip-types',
        '--disable-warning=ExperimentalWarning',
        path.join(pkg, 'node_modules/tsup/dist/cli-default.js'),
        '--out-dir',
        dist,
      ],
      {
        cwd: pkg,
        stdio: 'pipe',
      },
    );
    execFileSync(
      process.execPath,
      [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', dist],
      { cwd: pkg, stdio: 'pipe' },
    );
    execFileSync(process.execPath, [path.join(pkg, 'scripts/cjs-declarations.mjs'), dist], {
      cwd: pkg,
      stdio: 'pipe',
    });
    // CommonJS declarations for the require conditions, pointing at each other (TS1479 under
    // node16 resolution with the ESM .d.ts: helper-56's review).
    const cjsTypes = readFileSync(path.join(dist, 'index.d.cts'), 'utf8');
    expect(cjsTypes).toContain("from './client.cts'");
    expect(cjsTypes).not.toMatch(/from '\.\/[^']+\.ts'/);
    for (const file of [
      'index.js',
      'index.cjs',
      'webhooks.js',
      'webhooks.cjs',
      'testing.js',
      'index.d.ts',
      'webhooks.d.ts',
    ]) {
      expect(existsSync(path.join(dist, file)), file).toBe(true);
    }
    const esm = await import(pathToFileURL(path.join(dist, 'index.js')).href);
    const cjs = createRequire(import.meta.url)(path.join(dist, 'index.cjs'));
    for (const loaded of [esm, cjs]) {
      expect(typeof loaded.Lockstep).toBe('function');
      expect(() => new loaded.Lockstep({ apiKey: 'pk_x', baseUrl: 'https://x.test' })).toThrow(/publishable/);
    }
    const webhooks = await import(pathToFileURL(path.join(dist, 'webhooks.js')).href);
    expect(typeof webhooks.createWebhookVerifier).toBe('function');
    // One set of error classes per format: instanceof works across the entries.
    const webhooksCjs = createRequire(import.meta.url)(path.join(dist, 'webhooks.cjs'));
    expect(webhooks.WebhookVerificationError).toBe(esm.WebhookVerificationError);
    expect(webhooksCjs.WebhookVerificationError).toBe(cjs.WebhookVerificationError);
    expect(new webhooksCjs.WebhookSignatureError()).toBeInstanceOf(cjs.LockstepError);
    // The mock gateway, built, in both formats: it bundles the gateway (node:sqlite, pino's
    // require calls, paths from import.meta) and did not load at all (helper-56's review).
    expect(existsSync(path.join(dist, 'testing.cjs'))).toBe(true);
    const testingEsm = await import(pathToFileURL(path.join(dist, 'testing.js')).href);
    const testingCjs = createRequire(import.meta.url)(path.join(dist, 'testing.cjs'));
    for (const testing of [testingEsm, testingCjs]) {
      const mock = await testing.createMockGateway();
      try {
        expect(mock.secretKey).toMatch(/^sk_/);
        expect(await mock.merchantBalanceMinor()).toBe(0);
        // It serves the widget's and bank pages' assets as the gateway does, bundled at build
        // time (built, it has neither esbuild nor the sources: each answered 500, helper-69).
        for (const name of ['checkout.js', 'frame.css'] as const) {
          const route = name === 'checkout.js' ? '/checkout.js' : '/widget/frame.css';
          const response = await mock.gateway.app.request(route);
          expect(response.status, route).toBe(200);
          expect(await response.text(), route).toBe((await buildAsset(name)).body);
        }
      } finally {
        await mock.close();
      }
    }
  }, 120_000);
});

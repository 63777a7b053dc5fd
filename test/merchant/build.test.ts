import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
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
  it("installed as published, the mock's buyer throws the main entry's error classes, in ESM and CJS", async () => {
    // The testing entry imports the SDK by its name rather than bundling a second copy of its
    // error classes; here it meets the published manifest (publishConfig), as a shop installs it.
    expect(existsSync(path.join(dist, 'testing.cjs')), 'built by the test above').toBe(true);
    const shop = mkdtempSync(path.join(tmpdir(), 'lockstep-installed-'));
    try {
      const installed = path.join(shop, 'node_modules/@lockstep/merchant');
      mkdirSync(installed, { recursive: true });
      cpSync(dist, path.join(installed, 'dist'), { recursive: true });
      const manifest = JSON.parse(readFileSync(path.join(pkg, 'package.json'), 'utf8'));
      const { publishConfig, ...rest } = manifest;
      writeFileSync(path.join(installed, 'package.json'), JSON.stringify({ ...rest, ...publishConfig }));
      for (const dependency of ['ky', 'jose', 'msw']) {
        symlinkSync(path.join(pkg, 'node_modules', dependency), path.join(shop, 'node_modules', dependency));
      }
      const entry = path.join(shop, 'entry.mjs');
      writeFileSync(entry, '');
      const esm = {
        main: await import(pathToFileURL(path.join(installed, 'dist/index.js')).href),
        testing: await import(pathToFileURL(path.join(installed, 'dist/testing.js')).href),
      };
      const require = createRequire(entry);
      const cjs = { main: require('@lockstep/merchant'), testing: require('@lockstep/merchant/testing') };
      for (const { main, testing } of [esm, cjs]) {
        const mock = await testing.createMockGateway({ buyerBalanceMinor: 1_000 });
        try {
          const invoice = {
            amountMinor: 5_000,
            currency: 'JPY',
            orderReference: 'o-1',
            description: 'Tea',
            payeeContact: 'a@b.c',
          };
          // No msw here: the invoice is made through the in-memory app the handlers serve.
          const response = await mock.gateway.app.request('/v1/invoices', {
            method: 'POST',
            headers: { authorization: `Bearer ${mock.secretKey}`, 'content-type': 'application/json' },
            body: JSON.stringify(invoice),
          });
          const { token } = await response.json();
          const refused = await mock.buyer.pay(token).catch((error: unknown) => error);
          expect(refused).toBeInstanceOf(main.InsufficientFundsError);
          expect(refused).toBeInstanceOf(main.LockstepApiError);
          expect(refused).toMatchObject({ code: 'insufficient_funds', status: 402 });
        } finally {
          await mock.close();
        }
      }
    } finally {
      rmSync(shop, { recursive: true, force: true });
    }
  }, 120_000);
});

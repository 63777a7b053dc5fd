import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineConfig } from 'tsup';

/**
 * The mock gateway serves the widget's and bank pages' assets as the gateway does. Built, it
 * cannot bundle them at run time (esbuild and the sources are not in the package: every asset
 * answered 500, helper-69's review), so they are bundled here, as the gateway's own build does
 * (packages/gateway/scripts/build.ts), and defined into the testing entry. Loaded by Node (type
 * stripping), not by tsup's config bundler; tsup runs in this package's folder.
 */
async function prebuiltAssets(): Promise<string> {
  const assets = await import(
    pathToFileURL(path.resolve('..', 'gateway', 'src', 'http', 'pages', 'assets.ts')).href
  );
  return JSON.stringify(await assets.buildAllAssets());
}

/**
 * ESM + CJS builds. The main and webhooks entries keep `ky` and `jose` as dependencies and
 * carry nothing Node-only. The testing entry bundles the gateway it runs in memory (so a shop
 * installs nothing else) and leaves `msw` to the shop's own copy (a peer dependency).
 * Declarations come from `tsc -p tsconfig.build.json` (TypeScript 7 has no JS API for tsup's dts).
 */
export default defineConfig(async () => [
  {
    entry: { index: 'src/index.ts', webhooks: 'src/webhooks.ts' },
    format: ['esm', 'cjs'],
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    clean: true,
    external: ['ky', 'jose'],
    // Shared code (the error classes) in shared chunks for CommonJS too: a WebhookVerificationError
    // from the webhooks entry is then a LockstepError of the main entry (helper-56's review).
    splitting: true,
  },
  {
    entry: { testing: 'src/testing/index.ts' },
    format: ['esm', 'cjs'],
    platform: 'node',
    target: 'node22',
    // No source maps: they carried the whole gateway's source, 5.8 MB of the 8.9 MB package.
    sourcemap: false,
    // The SDK itself too (the buyer's errors are its classes): the shop has it, one copy.
    external: ['msw', 'esbuild', '@lockstep/merchant'],
    noExternal: [/^(?!msw$|esbuild$|@lockstep\/merchant$)/],
    define: { __LOCKSTEP_PREBUILT_ASSETS__: await prebuiltAssets() },
    // `node:sqlite` exists only with its prefix: tsup's default turned it into a package
    // 'sqlite' nobody has (helper-56's review: the packed mock did not load).
    removeNodeProtocol: false,
    // CommonJS code bundled into the ESM build (pino) calls require: give it Node's.
    banner: (context) =>
      context.format === 'esm'
        ? {
            js: "import { createRequire as __lockstepCreateRequire } from 'node:module'; const require = __lockstepCreateRequire(import.meta.url);",
          }
        : undefined,
  },
]);

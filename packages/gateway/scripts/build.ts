import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { build } from 'tsup';
import { assetNames, buildAllAssets } from '../src/http/pages/assets.ts';

/**
 * The gateway's production build (`pnpm --filter @lockstep/gateway build`): `dist/bin.js` (the
 * gateway) and `dist/cli.js` (the operator CLI), each one ES module with its dependencies inside
 * and the browser assets (checkout widget, bank pages) bundled beforehand. Run as
 * `pnpm gateway:dist` / `node --experimental-sqlite dist/bin.js`. A start then strips no
 * TypeScript, resolves no modules and bundles no asset: ~300 ms to a first answer against ~650 ms
 * from source (`pnpm bench` measures both).
 */
const root = path.resolve(import.meta.dirname, '..');
// `--out-dir <dir>` builds elsewhere (the tests build into a temporary folder). That folder must
// be empty or new: the build empties `dist` first, and must not empty a folder holding anything
// else (a deployment's data, say: helper-69's review).
const outFlag = process.argv.indexOf('--out-dir');
const outDir = outFlag > 0 ? path.resolve(process.argv[outFlag + 1] as string) : path.join(root, 'dist');
if (outFlag > 0 && existsSync(outDir) && readdirSync(outDir).length > 0) {
  console.error(`--out-dir ${outDir} is not empty; give an empty or new folder.`);
  process.exit(2);
}
const assets = await buildAllAssets();

await build({
  entry: { bin: path.join(root, 'src', 'bin.ts'), cli: path.join(root, 'src', 'cli.ts') },
  outDir,
  format: ['esm'],
  platform: 'node',
  target: 'node22',
  splitting: true,
  clean: outFlag < 0,
  // Maps for `node --enable-source-maps` when a stack needs reading; not loaded by default. They
  // carry the sources, so a moved build still shows each frame's line; its file paths are the
  // build machine's.
  sourcemap: true,
  silent: true,
  // Every dependency inside, but esbuild (only the source run bundles assets) and pg's
  // optional native binding.
  noExternal: [/^(?!esbuild$|pg-native$)/],
  external: ['esbuild', 'pg-native'],
  // `node:sqlite` exists only with its prefix.
  removeNodeProtocol: false,
  define: {
    __LOCKSTEP_PREBUILT_ASSETS__: JSON.stringify(assets),
    // main.ts runs itself when it is the entry module; inside the bundle, bin.js runs it.
    'import.meta.main': 'false',
  },
  // CommonJS dependencies bundled into ES modules (pg, pino) call require: give them Node's.
  banner: {
    js: "import { createRequire as __lockstepCreateRequire } from 'node:module'; const require = __lockstepCreateRequire(import.meta.url);",
  },
});
console.log(`built ${path.join(outDir, 'bin.js')} and cli.js (${assetNames.length} browser assets inside)`);

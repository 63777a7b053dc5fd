import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The browser assets the gateway serves: the checkout loader (`/checkout.js`), the checkout
 * iframe's script and style, and the bank pages' script and style. They are TypeScript in
 * `packages/checkout/src` and `./client`; the gateway run from source bundles and minifies them
 * once, on first use, with esbuild (the same bundler tsup uses), and keeps them in memory with an
 * ETag. The gateway's build (`scripts/build.ts`) bundles them beforehand into the program itself.
 */
export interface Asset {
  body: string;
  contentType: string;
  etag: string;
}

/**
 * Where each asset's source is (under `packages/checkout/src`, or `./client`), resolved when
 * first asked for: the SDK's mock gateway bundles this module into a CommonJS build, where
 * `import.meta` is empty, and must load all the same (helper-56's review: it did not).
 */
const sources = {
  'checkout.js': { dir: 'checkout', file: 'loader.ts', kind: 'script' },
  'frame.js': { dir: 'checkout', file: 'frame.ts', kind: 'script' },
  'frame.css': { dir: 'checkout', file: 'frame.css', kind: 'style' },
  'bank.js': { dir: 'client', file: 'bank.ts', kind: 'script' },
  'bank.css': { dir: 'client', file: 'bank.css', kind: 'style' },
} as const;

function entryOf(source: (typeof sources)[AssetName]): string {
  const here = import.meta.dirname;
  return source.dir === 'checkout'
    ? path.resolve(here, '../../../../checkout/src', source.file)
    : path.resolve(here, 'client', source.file);
}

export type AssetName = keyof typeof sources;
export const assetNames = Object.keys(sources) as AssetName[];

/** Set by the gateway's build (esbuild's define): every asset, bundled at build time. */
declare const __LOCKSTEP_PREBUILT_ASSETS__: Record<AssetName, Asset> | undefined;

const cache = new Map<AssetName, Promise<Asset>>();

export function asset(name: AssetName): Promise<Asset> {
  let pending = cache.get(name);
  if (!pending) {
    pending =
      typeof __LOCKSTEP_PREBUILT_ASSETS__ === 'undefined'
        ? buildAsset(name)
        : Promise.resolve(__LOCKSTEP_PREBUILT_ASSETS__[name]);
    cache.set(name, pending);
    pending.catch(() => cache.delete(name));
  }
  return pending;
}

/** Every asset, bundled from source: what the builds define as `__LOCKSTEP_PREBUILT_ASSETS__`. */
export async function buildAllAssets(): Promise<Record<AssetName, Asset>> {
  const built = await Promise.all(assetNames.map(async (name) => [name, await buildAsset(name)] as const));
  return Object.fromEntries(built) as Record<AssetName, Asset>;
}

/** Bundles and minifies one asset from its source. */
export async function buildAsset(name: AssetName): Promise<Asset> {
  const source = { ...sources[name], entry: entryOf(sources[name]) };
  const { build: esbuild } = await import('esbuild');
  let body: string;
  if (source.kind === 'style') {
    const result = await esbuild({
      stdin: {
        contents: readFileSync(source.entry, 'utf8'),
        loader: 'css',
        resolveDir: path.dirname(source.entry),
      },
      minify: true,
      write: false,
      logLevel: 'silent',
    });
    body = result.outputFiles[0]?.text ?? '';
  } else {
    const result = await esbuild({
      entryPoints: [source.entry],
      bundle: true,
      minify: true,
      format: 'iife',
      target: ['es2022'],
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    });
    body = result.outputFiles[0]?.text ?? '';
  }
  const { createHash } = await import('node:crypto');
  return {
    body,
    contentType: source.kind === 'style' ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  };
}

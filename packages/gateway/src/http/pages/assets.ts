import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The browser assets the gateway serves: the checkout loader (`/checkout.js`), the checkout
 * iframe's script and style, and the bank pages' script and style. They are TypeScript in
 * `packages/checkout/src` and `./client`; the gateway bundles and minifies them once, on first
 * use, with esbuild (the same bundler tsup uses), and keeps them in memory with an ETag.
 */
export interface Asset {
  body: string;
  contentType: string;
  etag: string;
}

const checkoutSrc = path.resolve(import.meta.dirname, '../../../../checkout/src');
const clientSrc = path.resolve(import.meta.dirname, 'client');

const sources = {
  'checkout.js': { entry: path.join(checkoutSrc, 'loader.ts'), kind: 'script' },
  'frame.js': { entry: path.join(checkoutSrc, 'frame.ts'), kind: 'script' },
  'frame.css': { entry: path.join(checkoutSrc, 'frame.css'), kind: 'style' },
  'bank.js': { entry: path.join(clientSrc, 'bank.ts'), kind: 'script' },
  'bank.css': { entry: path.join(clientSrc, 'bank.css'), kind: 'style' },
} as const;

export type AssetName = keyof typeof sources;

const cache = new Map<AssetName, Promise<Asset>>();

export function asset(name: AssetName): Promise<Asset> {
  let pending = cache.get(name);
  if (!pending) {
    pending = build(name);
    cache.set(name, pending);
    pending.catch(() => cache.delete(name));
  }
  return pending;
}

async function build(name: AssetName): Promise<Asset> {
  const source = sources[name];
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

import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/**
 * Minified + gzip sizes of what a buyer's browser downloads: the loader (`/checkout.js`, on the
 * shop's page) and the iframe page (its HTML shell is tiny; its script and style are counted).
 * Prints a table, then one JSON line last.
 */
const root = path.resolve(import.meta.dirname, '..');

async function bundle(entry: string, loader: 'ts' | 'css'): Promise<string> {
  const result = await build({
    entryPoints: [path.join(root, entry)],
    bundle: loader === 'ts',
    minify: true,
    format: loader === 'ts' ? 'iife' : undefined,
    target: ['es2022'],
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]?.text ?? '';
}

const loader = await bundle('src/loader.ts', 'ts');
const frame = `${await bundle('src/frame.ts', 'ts')}\n${await bundle('src/frame.css', 'css')}`;
const sizes = {
  checkoutLoader: gzipSync(loader, { level: 9 }).length,
  checkoutFrame: gzipSync(frame, { level: 9 }).length,
};
console.log(
  `checkoutLoader ${String(loader.length).padStart(8)} B min  ${String(sizes.checkoutLoader).padStart(7)} B gzip`,
);
console.log(
  `checkoutFrame  ${String(frame.length).padStart(8)} B min  ${String(sizes.checkoutFrame).padStart(7)} B gzip`,
);
console.log(JSON.stringify(sizes));

import { defineConfig } from 'tsup';

/**
 * The loader as an IIFE (what `/checkout.js` serves; a plain script tag) and as ESM (for shops
 * that bundle and call `mount()`), plus the iframe's script as an IIFE. The gateway serves the
 * same sources bundled the same way (esbuild) at runtime; this build is for publishing.
 */
export default defineConfig([
  {
    entry: { checkout: 'src/loader.ts' },
    format: ['iife', 'esm'],
    globalName: 'LockstepCheckout',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    clean: true,
  },
  {
    entry: { frame: 'src/frame.ts' },
    format: ['iife'],
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
  },
]);

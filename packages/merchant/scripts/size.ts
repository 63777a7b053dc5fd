import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/**
 * Minified + gzip sizes of the SDK's entries as a shop's bundler ships them (ky and jose
 * included, since they ship too). Code behind a dynamic `import()` would be a separate chunk
 * loaded on first use, so it would not count in an entry that does not load it upfront (the
 * entries have none today). Prints a table, then one JSON line last.
 */
const root = path.resolve(import.meta.dirname, '..');
const entries = { merchantClient: 'src/index.ts', merchantWebhooks: 'src/webhooks.ts' };
const sizes: Record<string, number> = {};
for (const [name, entry] of Object.entries(entries)) {
  // One build per entry, as a shop that imports only that entry would bundle it.
  const result = await build({
    entryPoints: { [name]: path.join(root, entry) },
    bundle: true,
    splitting: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    outdir: path.join(root, 'dist-size'),
    write: false,
    logLevel: 'silent',
  });
  const files = new Map(result.outputFiles.map((file) => [path.basename(file.path), file.text]));
  const code = upfront(files, `${name}.js`)
    .map((file) => files.get(file) ?? '')
    .join('\n');
  sizes[name] = gzipSync(code, { level: 9 }).length;
  console.log(
    `${name.padEnd(20)} ${String(code.length).padStart(8)} B min  ${String(sizes[name]).padStart(7)} B gzip`,
  );
}

/** The entry file plus every chunk it imports statically (not via `import()`). */
function upfront(files: Map<string, string>, file: string, seen = new Set<string>()): string[] {
  if (seen.has(file)) return [];
  seen.add(file);
  const code = files.get(file) ?? '';
  // `import … from "./chunk.js"` and a bare `import "./chunk.js"` both load it upfront.
  const imports = [...code.matchAll(/(?:from|import)\s*["']\.\/([\w.-]+\.js)["']/g)];
  return [file, ...imports.flatMap((match) => upfront(files, match[1] as string, seen))];
}

console.log(JSON.stringify(sizes));

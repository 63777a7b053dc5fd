import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * CommonJS twins of the declarations (`x.d.cts` beside `x.d.ts`), for the `require` conditions:
 * in a `"type": "module"` package a `.d.ts` declares an ES module, and TypeScript's node16
 * resolution refused it to CommonJS code (TS1479; helper-56's review). Relative specifiers are
 * rewritten to the twins (`./client.ts` -> `./client.cts`, `./index.js` -> `./index.cjs`).
 */
const dist = path.resolve(process.argv[2] ?? 'dist');

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) walk(file);
    else if (name.endsWith('.d.ts')) {
      const text = readFileSync(file, 'utf8').replace(
        /(from\s+|import\()(['"])(\.{1,2}\/[^'"]+?)\.(ts|js)\2/g,
        (_, lead, quote, stem, ext) => `${lead}${quote}${stem}.${ext === 'ts' ? 'cts' : 'cjs'}${quote}`,
      );
      writeFileSync(file.replace(/\.d\.ts$/, '.d.cts'), text);
    }
  }
}

walk(dist);

import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The Node flags of the root `pnpm gateway` script: one place for how the gateway process is
 * started, so `pnpm start` and `pnpm bench` run the same process users run. They include a
 * young generation of 3 x 4 MB (`--max-semi-space-size=4`): the default 3 x 16 MB let the heap
 * grow past 230 MB under load; this keeps the gateway's peak RSS near 150 MB. And an old
 * generation grown to 2x its live size at most before a full collection
 * (`--heap-growing-percent=100`): V8's own factor, up to 4x, let promoted garbage take the
 * heap from 14 to 57 MB in `pnpm bench` (peak RSS 162-169 MB in three runs, 140-144 with the
 * flag at 100 or 50); the extra full collections mark concurrently, off the event loop.
 */
export function gatewayNodeFlags(): string[] {
  const manifest = JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'package.json'), 'utf8'));
  // Everything between `node` and the script path (flags may take separate values).
  const tokens = (manifest.scripts.gateway as string).trim().split(/\s+/);
  const script = tokens.findIndex((token) => token.endsWith('.ts'));
  if (tokens[0] !== 'node' || script < 1) {
    throw new Error('The root "gateway" script must read: node <flags> <path to bin.ts>.');
  }
  return tokens.slice(1, script);
}

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
  return gatewayLaunch().flags;
}

/**
 * The environment the root `gateway` script sets before `node` starts (its leading
 * `NAME=VALUE` words): glibc's `MALLOC_MMAP_THRESHOLD_=32768` gives every allocation of 32 KB
 * or more its own mapping, returned to the system when freed. Without it glibc's dynamic
 * threshold grows to 32 MB and the freed buffers of V8's compiler threads and of the WAL stay
 * in malloc's arenas: 12-18 MB of the peak RSS under load (helper-96's measurements, November
 * 29 2026). glibc reads it once at process start, so it cannot be set from inside the process.
 */
export function gatewayEnv(): Record<string, string> {
  return gatewayLaunch().env;
}

function gatewayLaunch(): { env: Record<string, string>; flags: string[] } {
  const manifest = JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'package.json'), 'utf8'));
  const tokens = (manifest.scripts.gateway as string).trim().split(/\s+/);
  const env: Record<string, string> = {};
  let first = 0;
  for (; first < tokens.length; first++) {
    const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(tokens[first] as string);
    if (!assignment) break;
    env[assignment[1] as string] = assignment[2] as string;
  }
  // Everything between `node` and the script path (flags may take separate values).
  const script = tokens.findIndex((token) => token.endsWith('.ts'));
  if (tokens[first] !== 'node' || script <= first) {
    throw new Error('The root "gateway" script must read: [NAME=VALUE ...] node <flags> <path to bin.ts>.');
  }
  return { env, flags: tokens.slice(first + 1, script) };
}

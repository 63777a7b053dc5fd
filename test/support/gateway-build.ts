import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nodeFlags, root } from './gateway-process.ts';

/**
 * The gateway's production build (`packages/gateway/scripts/build.ts`) into a fresh temporary
 * folder outside the repository, so what runs from it cannot reach the workspace's modules.
 * Returns the folder (with `bin.js` and `cli.js`).
 */
export function buildGateway(): string {
  const outDir = mkdtempSync(path.join(tmpdir(), 'lockstep-gateway-dist-'));
  execFileSync(process.execPath, [...nodeFlags, 'packages/gateway/scripts/build.ts', '--out-dir', outDir], {
    cwd: root,
    stdio: 'pipe',
  });
  return outDir;
}

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { DemoSeed } from '../../packages/gateway/src/seed.ts';

export const root = path.resolve(import.meta.dirname, '../..');
export const nodeFlags = [
  '--experimental-strip-types',
  '--experimental-sqlite',
  '--disable-warning=ExperimentalWarning',
];

/**
 * A real gateway process (`packages/gateway/src/main.ts`, as `pnpm gateway` runs it) on a free
 * localhost port with a fresh data folder and the demo bank seeded. Resolves once it listens.
 */
export async function startGatewayProcess(
  env: Record<string, string> = {},
  /** Another entry, e.g. a built `dist/bin.js`. */
  script = 'packages/gateway/src/bin.ts',
): Promise<{
  url: string;
  seed: DemoSeed;
  child: ChildProcess;
  /** Every line the process printed. */
  stdoutLines: string[];
  stop(): Promise<void>;
}> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-process-'));
  const stdoutLines: string[] = [];
  const child = spawn(process.execPath, [...nodeFlags, script], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      LOCKSTEP_DATA_DIR: dataDir,
      LOCKSTEP_SEED_DEMO: '1',
      LOG_LEVEL: 'error',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const { url, seed } = await new Promise<{ url: string; seed: DemoSeed }>((resolve, reject) => {
    let url: string | undefined;
    let seed: DemoSeed | undefined;
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      stdoutLines.push(line);
      const match = /listening on (http:\/\/localhost:\d+)/.exec(line);
      if (match) url = match[1];
      if (line.startsWith('{"demoSeed"')) seed = JSON.parse(line).demoSeed;
      if (url && seed) resolve({ url, seed });
    });
    child.once('exit', (code) => reject(new Error(`gateway exited (${code}) before listening`)));
  });
  return {
    url,
    seed,
    child,
    stdoutLines,
    async stop() {
      // Not yet exited: neither an exit code nor a signal (a process a signal ended has no exit
      // code, and waiting for its exit then waited for ever).
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

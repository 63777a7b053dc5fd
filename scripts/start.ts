import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { gatewayEnv, gatewayNodeFlags } from './node-flags.ts';

/**
 * `pnpm start`: the whole demo on the embedded store. Starts the gateway with a freshly seeded
 * demo bank (the demo's data folder is reset on every start, because the merchant's secret key
 * exists only once, at creation), then the example shop with that merchant's keys. Prints the
 * URLs and the demo logins; Ctrl-C stops both.
 */
const root = path.resolve(import.meta.dirname, '..');
const gatewayPort = Number(process.env.PORT ?? 4000);
const shopPort = Number(process.env.SHOP_PORT ?? 3000);
const gatewayUrl = `http://localhost:${gatewayPort}`;
const shopUrl = `http://localhost:${shopPort}`;
const dataDir = path.resolve(process.env.LOCKSTEP_DEMO_DIR ?? path.join(root, '.data', 'demo'));
const nodeFlags = [
  '--experimental-strip-types',
  '--experimental-sqlite',
  '--disable-warning=ExperimentalWarning',
];

/**
 * The Fetch standard's "bad ports": browsers, and Node's fetch (the shop's calls to the gateway),
 * refuse to connect to them. `PORT=4190 pnpm start` started the gateway and then the shop failed
 * with "bad port" (helper-89); said before anything starts instead.
 */
const badPorts = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104,
  109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515,
  526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049,
  3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);
for (const [name, port] of [
  ['PORT', gatewayPort],
  ['SHOP_PORT', shopPort],
] as const) {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    console.error(`${name} is a TCP port number (1-65535), not ${process.env[name]}.`);
    process.exit(2);
  }
  if (badPorts.has(port)) {
    console.error(
      `${name}=${port} is a port browsers and Node's fetch refuse to connect to: choose another.`,
    );
    process.exit(2);
  }
}
if (gatewayPort === shopPort) {
  console.error(`PORT and SHOP_PORT are both ${gatewayPort}: the gateway and the shop need one each.`);
  process.exit(2);
}

rmSync(dataDir, { recursive: true, force: true });
const children: ChildProcess[] = [];

function start(name: string, script: string, env: Record<string, string>): ChildProcess {
  const gateway = script.endsWith('gateway/src/bin.ts');
  const child = spawn(process.execPath, [...(gateway ? gatewayNodeFlags() : nodeFlags), script], {
    cwd: root,
    env: { ...process.env, ...(gateway ? gatewayEnv() : {}), ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal ?? code}); stopping.`);
      void stop(1);
    }
  });
  return child;
}

let stopping = false;
async function stop(exitCode = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  process.exit(exitCode);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

const gateway = start('gateway', 'packages/gateway/src/bin.ts', {
  PORT: String(gatewayPort),
  // The address the demo's pages use (required with DATABASE_URL, which passes through).
  LOCKSTEP_PUBLIC_URL: process.env.LOCKSTEP_PUBLIC_URL ?? gatewayUrl,
  LOCKSTEP_DATA_DIR: path.join(dataDir, 'gateway'),
  LOCKSTEP_SEED_DEMO: '1',
  LOCKSTEP_DEMO_ORIGINS: shopUrl,
  // The demo shop receives its webhooks on localhost.
  LOCKSTEP_ALLOW_PRIVATE_WEBHOOKS: '1',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
});

const seed = await new Promise<{ secretKey: string; publishableKey: string }>((resolve, reject) => {
  const lines = createInterface({ input: gateway.stdout as NodeJS.ReadableStream });
  lines.on('line', (line) => {
    if (line.startsWith('{"demoSeed"')) resolve(JSON.parse(line).demoSeed);
    else console.log(`[gateway] ${line}`);
  });
  gateway.once('exit', () => reject(new Error('The gateway stopped before it was ready.')));
});

const shop = start('shop', 'examples/shop/src/main.ts', {
  LOCKSTEP_GATEWAY_URL: gatewayUrl,
  LOCKSTEP_SECRET_KEY: seed.secretKey,
  LOCKSTEP_PUBLISHABLE_KEY: seed.publishableKey,
  SHOP_PORT: String(shopPort),
  SHOP_DATA_DIR: path.join(dataDir, 'shop'),
});
createInterface({ input: shop.stdout as NodeJS.ReadableStream }).on('line', (line) => {
  console.log(`[shop] ${line}`);
  if (line.includes('listening')) {
    console.log(`
Lockstep demo is running.
  Shop:          ${shopUrl}            (admin: ${shopUrl}/admin, user admin / admin)
  Bank (gateway): ${gatewayUrl}/bank   (API: ${gatewayUrl}/openapi.json)
  Buyer logins:  mizuta / mizuta-demo-pass (¥100,000), tanaka / tanaka-demo-pass (¥50,000)
  Seller login:  ibm-shop / ibm-demo-pass
  Operator CLI:  LOCKSTEP_DATA_DIR=${cliDataDir()} pnpm lockstep-admin reconcile
Press Ctrl-C to stop.`);
  }
});

/** The gateway's data folder as the operator types it: relative inside this folder, else absolute. */
function cliDataDir(): string {
  const folder = path.join(dataDir, 'gateway');
  const relative = path.relative(process.cwd(), folder);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : folder;
}

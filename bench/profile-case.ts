import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { gatewayEnv, gatewayNodeFlags } from '../scripts/node-flags.ts';
import { measureCpu } from './cpu.ts';

/**
 * Profiling aid (not part of `pnpm bench`): starts one gateway on the embedded store with
 * `--cpu-prof`, loads one case (or several, `lock,status`, in turn) for a few seconds and stops it, leaving the profile in
 * `--prof-dir`. Usage: node ... bench/profile-case.ts <lock|deposit|status|create> [seconds] [prof-dir]
 * A prof-dir of `-` runs without the profiler (a quick A/B figure); with `DATABASE_URL` set the
 * gateway runs on that (empty) PostgreSQL database. `RUNS=N` loads the same gateway N times in a
 * row (sustained load: the data grows), printing each run's figures and the gateway's RSS.
 * The gateway runs with the root `gateway` script's Node flags, as users run it. Each run prints
 * the gateway's CPU per request (bench/cpu.ts), steadier than req/s for an A/B on a busy machine.
 * `GATEWAY=dist` runs the production build (`pnpm --filter @lockstep/gateway build`), as the
 * bench does; RSS is printed with its anonymous and file-backed parts.
 */
const [kindList = 'lock', secondsText = '5', profDir = '/tmp/prof-case'] = process.argv.slice(2);
/** Several kinds (`lock,status`) load one after another on the same gateway, each RUNS times. */
const kinds = kindList.split(',');
const root = path.resolve(import.meta.dirname, '..');
const child = spawn(
  process.execPath,
  [
    ...gatewayNodeFlags(),
    ...(profDir === '-' ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`]),
    process.env.GATEWAY === 'dist' ? 'packages/gateway/dist/bin.js' : 'packages/gateway/src/bin.ts',
  ],
  {
    cwd: root,
    env: {
      ...process.env,
      // `BENCH_PLAIN_MALLOC=1` leaves glibc's malloc settings out, for an A/B (bench/run.ts).
      ...(process.env.BENCH_PLAIN_MALLOC === '1' ? {} : gatewayEnv()),
      PORT: '0',
      LOG_LEVEL: 'warn',
      LOCKSTEP_SEED_DEMO: '1',
      LOCKSTEP_PUBLIC_URL: 'http://localhost:4000',
      LOCKSTEP_DEMO_BUYER_BALANCE_MINOR: String(10 ** 12),
      LOCKSTEP_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'lockstep-prof-')),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const lines: string[] = [];
const url = await new Promise<string>((resolve) => {
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    const match = /listening on (http:\/\/localhost:\d+)/.exec(line);
    if (match) setTimeout(() => resolve(match[1] as string), 100);
  });
});
const seed = JSON.parse(lines.find((line) => line.startsWith('{"demoSeed"')) as string).demoSeed;
const post = async (pathname: string, token: string, body: unknown) =>
  (
    await fetch(url + pathname, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  ).json();
const session = await post('/v1/sessions', '', { userId: 'mizuta', password: 'mizuta-demo-pass' });
const codes: string[] = [];
for (let index = 0; index < 100; index++) {
  codes.push(
    (
      await post('/v1/temporary-accounts', session.token, {
        payeeUserId: 'ibm-shop',
        amountMinor: 1_000_000,
        currency: 'JPY',
        // A deal takes no pay-in beyond its amount; these are paid into without end.
        mode: kinds.includes('deposit') ? 'fractional' : 'deal',
      })
    ).code,
  );
}
const invoices: string[] = [];
// Each invoice creates one account: a run takes 4,000 fresh ones (and ends when they are used).
const invoicesPerRun = 4000;
const runs = Number(process.env.RUNS ?? 1);
if (kinds.includes('create')) {
  for (let index = 0; index < invoicesPerRun * runs; index++) {
    invoices.push(
      (
        await post('/v1/invoices', seed.secretKey, {
          amountMinor: 1000,
          currency: 'JPY',
          orderReference: `p-${index}`,
          description: 'profile',
          payeeContact: 'p@example.com',
        })
      ).token,
    );
  }
}
let turn = 0;
let key = 0;
/** Accounts whose lock the last lock/unlock request turned on. */
const lockedNow = new Set<string>();
let invoice = 0;
for (let step = 0; step < runs * kinds.length; step++) {
  const kind = kinds[step % kinds.length] as string;
  const run = Math.floor(step / kinds.length) + 1;
  const { result, cpu } = await measureCpu(
    child.pid,
    () =>
      autocannon({
        url,
        connections: Number(process.env.CONNECTIONS ?? 50),
        ...(kind === 'create'
          ? { amount: invoicesPerRun, sampleInt: 20 }
          : { duration: Number(secondsText) }),
        requests: [
          {
            method: kind === 'status' ? 'GET' : 'POST',
            setupRequest: (request: any) => {
              const code = codes[turn++ % codes.length];
              if (kind === 'create') {
                request.path = '/v1/temporary-accounts';
                request.headers = {
                  authorization: `Bearer ${session.token}`,
                  'content-type': 'application/json',
                  'idempotency-key': `p-${key++}`,
                };
                request.body = JSON.stringify({ invoice: invoices[invoice++] });
                return request;
              }
              // Each account's lock turns on, then off: a lock set to what it is would change
              // nothing (no write), and this case would not measure commands. (Decided as sent: a
              // lock outrun by its unlock, 100 requests later, is rare at 50 connections.)
              let action: string = kind;
              if (kind === 'lock') {
                action = lockedNow.delete(code as string) ? 'unlock' : 'lock';
                if (action === 'lock') lockedNow.add(code as string);
              }
              request.path =
                kind === 'status'
                  ? `/v1/temporary-accounts/${code}`
                  : `/v1/temporary-accounts/${code}/${action}`;
              request.headers = {
                authorization: `Bearer ${kind === 'deposit' ? session.token : seed.secretKey}`,
                'content-type': 'application/json',
                'idempotency-key': `p-${key++}`,
              };
              request.body = kind === 'deposit' ? '{"amountMinor":1}' : kind === 'status' ? undefined : '{}';
              return request;
            },
          },
        ],
      }),
    (loaded) => loaded.requests.total,
  );
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const memoryMb = (field: string) =>
    Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]) / 1024);
  console.log(
    `${runs > 1 ? `run ${run}/${runs} ` : ''}${kind}: ${Math.round(result.duration > 0 ? result.requests.total / result.duration : result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non2xx ${result.non2xx}, errors ${result.errors}, server CPU ${Math.round(cpu.serverUs)} µs/req${process.env.DATABASE_URL ? ` (PostgreSQL ${Math.round(cpu.postgresUs)}, load generator ${Math.round(cpu.loadGeneratorUs)})` : ''}, RSS ${memoryMb('VmRSS')} MB (anon ${memoryMb('RssAnon')}, file ${memoryMb('RssFile')}, shm ${memoryMb('RssShmem')}; peak ${memoryMb('VmHWM')})`,
  );
}
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));

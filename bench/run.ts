import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { gatewayEnv, gatewayNodeFlags } from '../scripts/node-flags.ts';
import { type CpuPerRequest, machineUsPerSecond, measureCpu } from './cpu.ts';

/**
 * `pnpm bench`: one run that measures the machine's HTTP limits and the gateway beside them,
 * interleaving cases over several rounds and quoting medians of per-round ratios, so a busy
 * machine moves both sides of a ratio together. After every load it checks that no request
 * failed and that money is conserved; a run with any failure is reported as failed, not fast.
 *
 * Options: --rounds N (3), --seconds S (5 per case), --connections C (50), --skip-pg,
 * --warmup S (2: each load runs this long once before the rounds, checked but not reported).
 */
const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const rounds = option('rounds', 3);
const seconds = option('seconds', 5);
const connections = option('connections', 50);
const skipPg = args.includes('--skip-pg');
const warmupSeconds = option('warmup', 2);
const nodeFlags = [
  '--experimental-strip-types',
  '--experimental-sqlite',
  '--disable-warning=ExperimentalWarning',
];
const budgets = JSON.parse(readFileSync(path.join(import.meta.dirname, 'budgets.json'), 'utf8'));
/**
 * The gateway and the hello-world servers beside it run with the `pnpm gateway` flags and
 * environment (`BENCH_PLAIN_MALLOC=1` leaves glibc's malloc settings out, for an A/B).
 */
const serveFlags = gatewayNodeFlags();
const serveEnv = process.env.BENCH_PLAIN_MALLOC === '1' ? {} : gatewayEnv();

interface Load {
  requestsPerSecond: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  total: number;
  /** What each request cost in CPU, and who paid (bench/cpu.ts). */
  cpu: CpuPerRequest;
}

const failures: string[] = [];

// ---------------------------------------------------------------------------------------------
// Processes

interface Server {
  child: ChildProcess;
  url: string;
  startMs: number;
  stdoutLines: string[];
}

async function startProcess(script: string, env: Record<string, string>, ready: RegExp): Promise<Server> {
  const started = performance.now();
  const child = spawn(process.execPath, [...serveFlags, script], {
    cwd: root,
    env: { ...process.env, ...serveEnv, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stdoutLines: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      stdoutLines.push(line);
      const match = ready.exec(line);
      if (match) resolve(`http://127.0.0.1:${match[1]}`);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { child, url, startMs: performance.now() - started, stdoutLines };
}

/** A memory figure of a process from /proc (`VmRSS`, `VmHWM`), in MB; NaN once it is gone. */
function memoryMb(child: ChildProcess, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(
      readFileSync(`/proc/${child.pid}/status`, 'utf8'),
    );
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * The largest resident set of a process while the loads run, sampled every 50 ms. VmHWM (the
 * lifetime peak) also holds the start-up and the setup's password hash (scrypt takes 32 MiB
 * outside the heap for a moment); both figures are reported, the target is for "under load".
 */
function rssSampler(child: ChildProcess): { stop: () => number; byCase: Record<string, number> } {
  let peakMb = 0;
  const byCase: Record<string, number> = {};
  const sample = () => {
    const rssMb = memoryMb(child, 'VmRSS');
    if (Number.isNaN(rssMb)) return;
    peakMb = Math.max(peakMb, rssMb);
    byCase[currentCase] = Math.max(byCase[currentCase] ?? 0, Math.round(rssMb));
  };
  sample();
  const timer = setInterval(sample, 50);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peakMb;
    },
    byCase,
  };
}

/** The case being loaded, so a peak of memory can be told to the case that reached it. */
let currentCase = 'setup';

async function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    server.child.once('exit', () => resolve());
    server.child.kill('SIGTERM');
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers for setup (plain fetch; the load itself is autocannon)

async function call(
  base: string,
  method: string,
  pathname: string,
  token: string | undefined,
  body?: unknown,
): Promise<any> {
  const response = await fetch(base + pathname, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(method === 'POST' ? { 'idempotency-key': uniqueKey() } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${pathname}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

let keyCounter = 0;
const uniqueKey = () => `bench-${process.pid}-${Date.now()}-${keyCounter++}`;

async function load(
  server: Server,
  pathname: string,
  requests: autocannon.Request[] | undefined,
  extra: Partial<autocannon.Options> = {},
): Promise<Load> {
  const options: Partial<autocannon.Options> = {
    url: server.url + pathname,
    connections,
    duration: seconds,
    requests,
    ...extra,
  };
  // A fixed number of requests (`amount`) replaces the duration. autocannon notices the end
  // only at its next sample tick (1 s by default), which quantised such runs to whole
  // seconds (create-from-invoice read 1,329 req/s = 4,000 in "3.01 s" every time): sample
  // every 20 ms instead.
  if (extra.amount !== undefined) {
    delete options.duration;
    options.sampleInt = 20;
  }
  const { result, cpu } = await measureCpu(
    server.child.pid,
    () => autocannon(options as autocannon.Options),
    (done) => done.requests.total,
  );
  return {
    // Completed requests over the measured time (autocannon's per-second average rounds short
    // fixed-count runs to whole seconds).
    requestsPerSecond:
      result.duration > 0 ? result.requests.total / result.duration : result.requests.average,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    total: result.requests.total,
    cpu,
  };
}

// ---------------------------------------------------------------------------------------------
// Gateway scenario

interface GatewayContext {
  server: Server;
  secretKey: string;
  buyerToken: string;
  /** Accounts whose seller lock the lock/unlock case toggles (and the status case reads). */
  accounts: string[];
  /** Accounts with the seller's lock off, for deposits and the buyer's withdrawals. */
  moneyAccounts: string[];
  dataDir: string;
  databaseUrl?: string;
}

/** An empty compile cache, so the measured start is a cold one (see the warm restart below). */
const compileCacheDir = mkdtempSync(path.join(tmpdir(), 'lockstep-bench-ncc-'));

/**
 * The gateway the bench runs is its production build (`pnpm --filter @lockstep/gateway build`,
 * built here into a temporary folder): what a bank deploys. Its start strips no TypeScript and
 * resolves no modules; the start from source (`pnpm gateway`) is measured beside it.
 */
const distDir = mkdtempSync(path.join(tmpdir(), 'lockstep-bench-dist-'));
execFileSync(process.execPath, [...nodeFlags, 'packages/gateway/scripts/build.ts', '--out-dir', distDir], {
  cwd: root,
  stdio: 'ignore',
});
const gatewayScript = path.join(distDir, 'bin.js');

async function startGateway(databaseUrl?: string): Promise<GatewayContext> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-bench-'));
  const env = {
    ...process.env,
    LOCKSTEP_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  // Seed with the operator CLI first, so the start measured below is a plain restart of a
  // gateway with existing data (not the one-off demo seeding and its password hashing).
  const admin = (...cliArgs: string[]) =>
    execFileSync(process.execPath, [...nodeFlags, 'packages/gateway/src/cli.ts', ...cliArgs], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
  const seed = JSON.parse(admin('seed-demo'));
  admin('top-up', '--account', seed.buyerAccountId, '--amount-minor', String(10 ** 12));
  const server = await startProcess(
    gatewayScript,
    {
      PORT: '0',
      LOCKSTEP_DATA_DIR: dataDir,
      LOCKSTEP_PUBLIC_URL: 'http://localhost:4000',
      NODE_COMPILE_CACHE: databaseUrl
        ? mkdtempSync(path.join(tmpdir(), 'lockstep-bench-ncc-pg-'))
        : compileCacheDir,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    },
    /listening on http:\/\/localhost:(\d+)/,
  );
  // Start time: from spawn to the first answered request.
  const firstAnswerStarted = performance.now();
  await call(server.url, 'GET', '/healthz', undefined);
  server.startMs += performance.now() - firstAnswerStarted;
  const session = await call(server.url, 'POST', '/v1/sessions', undefined, {
    userId: 'mizuta',
    password: 'mizuta-demo-pass',
  });
  const create = async (mode: 'deal' | 'fractional') =>
    (
      await call(server.url, 'POST', '/v1/temporary-accounts', session.token, {
        payeeUserId: 'ibm-shop',
        amountMinor: 1_000_000,
        currency: 'JPY',
        mode,
      })
    ).code as string;
  const accounts: string[] = [];
  const moneyAccounts: string[] = [];
  for (let index = 0; index < 200; index++) {
    accounts.push(await create('deal'));
    // Fractional mode: a deal takes no pay-in beyond its amount, and these are paid into
    // without end.
    moneyAccounts.push(await create('fractional'));
  }
  return {
    server,
    secretKey: seed.secretKey,
    buyerToken: session.token,
    accounts,
    moneyAccounts,
    dataDir,
    databaseUrl,
  };
}

/**
 * A request list cycling over the accounts, each request with a fresh idempotency key. For
 * lock/unlock each connection locks an account and then unlocks that same account (its own
 * context), so every command really changes the lock.
 */
function commandRequests(
  context: GatewayContext,
  kind: 'lock' | 'deposit' | 'withdraw',
): autocannon.Request[] {
  let turn = 0;
  const pool = kind === 'lock' ? context.accounts : context.moneyAccounts;
  // Accounts a connection has locked and not yet seen unlocked: never picked by another, whose
  // lock would then set a lock that is on (a no-op since locks set to what they are change
  // nothing) and make the case faster than the commands it claims to measure.
  const held = new Set<string>();
  const pick = () => {
    for (let tries = 0; tries < pool.length; tries++) {
      const account = pool[turn++ % pool.length] as string;
      if (!held.has(account)) return account;
    }
    // Every account held (more connections than accounts, or unlocks lost to timeouts, whose
    // answers never come): one is shared, and its lock may be a no-op, rather than no load.
    return pool[turn++ % pool.length] as string;
  };
  const token = kind === 'lock' ? context.secretKey : context.buyerToken;
  const bodyOf = (action: string) =>
    action === 'deposit' || action === 'withdraw' ? JSON.stringify({ amountMinor: 1 }) : '{}';
  const actions = kind === 'lock' ? ['lock', 'unlock'] : [kind];
  return actions.map((action) => ({
    method: 'POST' as const,
    setupRequest: (request: any, connection: any) => {
      const account = action === 'unlock' ? (connection.account ?? pick()) : pick();
      if (kind === 'lock') connection.account = account;
      if (action === 'lock') held.add(account);
      request.path = `/v1/temporary-accounts/${account}/${action}`;
      request.headers = {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        'idempotency-key': uniqueKey(),
      };
      request.body = bodyOf(action);
      return request;
    },
    ...(action === 'unlock'
      ? { onResponse: (_status: number, _body: string, connection: any) => held.delete(connection.account) }
      : {}),
  }));
}

/**
 * Status reads need no per-request data, so they go out as a fixed list (one request per
 * account, cycled by each connection) with no per-request callback in the load generator:
 * like the hello-world case, the client's own cost per request stays small.
 */
function statusRequests(context: GatewayContext): autocannon.Request[] {
  return context.accounts.map((account) => ({
    method: 'GET' as const,
    path: `/v1/temporary-accounts/${account}`,
    headers: { authorization: `Bearer ${context.secretKey}` },
  }));
}

async function invoiceRequests(context: GatewayContext, count: number): Promise<autocannon.Request[]> {
  const tokens: string[] = [];
  const batch = 50;
  for (let start = 0; start < count; start += batch) {
    const created = await Promise.all(
      Array.from({ length: Math.min(batch, count - start) }, (_, index) =>
        call(context.server.url, 'POST', '/v1/invoices', context.secretKey, {
          amountMinor: 1000,
          currency: 'JPY',
          orderReference: `bench-${start + index}`,
          description: 'bench',
          payeeContact: 'bench@example.com',
        }),
      ),
    );
    tokens.push(...created.map((invoice) => invoice.token));
  }
  let turn = 0;
  return [
    {
      method: 'POST',
      setupRequest: (request: any) => {
        const token = tokens[turn++];
        if (!token) return request;
        request.path = '/v1/temporary-accounts';
        request.headers = {
          'content-type': 'application/json',
          authorization: `Bearer ${context.buyerToken}`,
          'idempotency-key': uniqueKey(),
        };
        request.body = JSON.stringify({ invoice: token });
        return request;
      },
    },
  ];
}

/** Whole deals per second: invoice, create, lock, ship, release, withdraw, by 20 workers. */
async function dealsPerSecond(context: GatewayContext): Promise<{ perSecond: number; failed: number }> {
  const base = context.server.url;
  const until = performance.now() + seconds * 1000;
  let deals = 0;
  let failed = 0;
  const worker = async () => {
    while (performance.now() < until) {
      try {
        const invoice = await call(base, 'POST', '/v1/invoices', context.secretKey, {
          amountMinor: 1000,
          currency: 'JPY',
          orderReference: uniqueKey(),
          description: 'deal',
          payeeContact: 'bench@example.com',
        });
        const account = await call(base, 'POST', '/v1/temporary-accounts', context.buyerToken, {
          invoice: invoice.token,
        });
        const code = account.code;
        await call(base, 'POST', `/v1/temporary-accounts/${code}/lock`, context.secretKey, {});
        await call(base, 'POST', `/v1/temporary-accounts/${code}/ship`, context.secretKey, {
          carrier: 'Yamato',
          trackingNumber: 'T1',
        });
        await call(base, 'POST', `/v1/temporary-accounts/${code}/accept`, context.buyerToken, {});
        await call(base, 'POST', `/v1/temporary-accounts/${code}/withdraw`, context.secretKey, {});
        deals++;
      } catch (error) {
        failed++;
        if (failed < 3) console.error(String(error));
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: 20 }, worker));
  return { perSecond: deals / ((performance.now() - started) / 1000), failed };
}

function reconcile(context: GatewayContext): boolean {
  try {
    execFileSync(process.execPath, [...nodeFlags, 'packages/gateway/src/cli.ts', 'reconcile'], {
      cwd: root,
      env: {
        ...process.env,
        LOCKSTEP_DATA_DIR: context.dataDir,
        LOG_LEVEL: 'silent',
        ...(context.databaseUrl ? { DATABASE_URL: context.databaseUrl } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return true;
  } catch (error) {
    console.error('reconciliation failed:', (error as { stdout?: Buffer }).stdout?.toString());
    return false;
  }
}

function check(name: string, result: Load): Load {
  // Each load as it ends, so a run's rounds can be compared (the report keeps them too).
  console.log(
    `  ${name.padEnd(32)} ${result.requestsPerSecond.toFixed(0).padStart(7)} req/s  p99 ${String(result.p99Ms).padStart(3)} ms  ${cpuLine(result.cpu)}`,
  );
  if (result.non2xx > 0 || result.errors > 0) {
    failures.push(`${name}: ${result.non2xx} non-2xx, ${result.errors} errors of ${result.total}`);
  }
  return result;
}

/** µs of CPU per request: the server, PostgreSQL, the load generator, the whole machine. */
function cpuLine(cpu: CpuPerRequest | undefined): string {
  if (!cpu) return '';
  const us = (value: number) => (Number.isFinite(value) ? value.toFixed(0) : 'n/a').padStart(5);
  return `CPU µs/req: server ${us(cpu.serverUs)}  pg ${us(cpu.postgresUs)}  load ${us(cpu.loadGeneratorUs)}  machine ${us(cpu.machineUs)} (busy ${pct(cpu.machineBusy)})`;
}

// ---------------------------------------------------------------------------------------------
// pgbench

/** pgbench's tables, once: scale 16 so its 16 clients do not all queue on a few branch rows. */
function pgbenchInit(databaseUrl: string): void {
  execFileSync('pgbench', ['-i', '-q', '-s', '16', databaseUrl], { stdio: 'ignore' });
}

/** pgbench's TPC-B-like load beside the gateway's: its rate, and its CPU per transaction. */
async function pgbench(databaseUrl: string): Promise<{ tps: number; cpu: CpuPerRequest | undefined }> {
  try {
    const { result: output, cpu } = await measureCpu(
      undefined,
      () =>
        execFileSync('pgbench', ['-c', '16', '-j', '2', '-T', String(seconds), databaseUrl], {
          encoding: 'utf8',
        }),
      (text) => Number(/number of transactions actually processed: (\d+)/.exec(text)?.[1] ?? Number.NaN),
    );
    const match = /tps = ([\d.]+)/.exec(output);
    return { tps: match ? Number(match[1]) : Number.NaN, cpu };
  } catch (error) {
    console.error('pgbench failed:', String(error));
    return { tps: Number.NaN, cpu: undefined };
  }
}

/** The database the bench connects through to create (and drop) its own. */
const postgresBase = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function postgresUrl(): Promise<string | undefined> {
  if (skipPg) return undefined;
  const name = `lockstep_bench_${process.pid}`;
  try {
    execFileSync(
      'psql',
      [postgresBase, '-q', '-c', `DROP DATABASE IF EXISTS ${name}`, '-c', `CREATE DATABASE ${name}`],
      {
        stdio: 'ignore',
      },
    );
  } catch {
    console.log('PostgreSQL not reachable: skipping the PostgreSQL part.');
    return undefined;
  }
  const url = new URL(postgresBase);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops the bench's own database (each run's is about 500 MB with pgbench's tables). */
function dropPostgres(url: string): void {
  const name = new URL(url).pathname.slice(1);
  try {
    execFileSync('psql', [postgresBase, '-q', '-c', `DROP DATABASE IF EXISTS ${name}`], { stdio: 'ignore' });
  } catch (error) {
    console.error(`could not drop the bench database ${name}:`, String(error));
  }
}

// ---------------------------------------------------------------------------------------------
// Sizes

function sizes(): Record<string, { bytes: number; budget: number }> {
  const out: Record<string, { bytes: number; budget: number }> = {};
  for (const [name, spec] of Object.entries(
    budgets.sizes as Record<string, { script: string; budgetBytes: number }>,
  )) {
    try {
      const text = execFileSync(process.execPath, [...nodeFlags, spec.script], {
        cwd: root,
        encoding: 'utf8',
      });
      const parsed = JSON.parse(text.trim().split('\n').pop() ?? '{}') as Record<string, number>;
      out[name] = { bytes: parsed[name] ?? Number.NaN, budget: spec.budgetBytes };
    } catch (error) {
      out[name] = { bytes: Number.NaN, budget: spec.budgetBytes };
      failures.push(`size of ${name}: ${String(error).split('\n')[0]}`);
    }
    // Over budget is a missed target (listed with the others), not a failed run.
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const median = (values: number[]) => {
  const sorted = [...values].filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

async function main() {
  const hello = await startProcess('bench/hello-server.ts', { PORT: '0' }, /listening (\d+)/);
  const sqlite = await startGateway();
  const coldStartMs = sqlite.server.startMs;
  await stop(sqlite.server);
  // The same cold start from source, for comparison: type stripping and module resolution.
  const fromSource = await startProcess(
    'packages/gateway/src/bin.ts',
    {
      PORT: '0',
      LOCKSTEP_DATA_DIR: sqlite.dataDir,
      LOCKSTEP_PUBLIC_URL: 'http://localhost:4000',
      NODE_COMPILE_CACHE: mkdtempSync(path.join(tmpdir(), 'lockstep-bench-ncc-src-')),
    },
    /listening on http:\/\/localhost:(\d+)/,
  );
  const sourceStarted = performance.now();
  await call(fromSource.url, 'GET', '/healthz', undefined);
  const sourceStartMs = fromSource.startMs + (performance.now() - sourceStarted);
  await stop(fromSource);
  // A restart with the compile cache the first start filled: what a redeploy or crash costs,
  // and the process the loads run on.
  const warm = await startProcess(
    gatewayScript,
    {
      PORT: '0',
      LOCKSTEP_DATA_DIR: sqlite.dataDir,
      LOCKSTEP_PUBLIC_URL: 'http://localhost:4000',
      NODE_COMPILE_CACHE: compileCacheDir,
    },
    /listening on http:\/\/localhost:(\d+)/,
  );
  const warmStarted = performance.now();
  await call(warm.url, 'GET', '/healthz', undefined);
  const warmStartMs = warm.startMs + (performance.now() - warmStarted);
  sqlite.server = warm;
  const pgUrl = await postgresUrl();
  const pg = pgUrl ? await startGateway(pgUrl) : undefined;
  // The same app with the commands' storage made free: how much of a command is storage.
  const freeServer = await startProcess('bench/storage-free-server.ts', {}, /"port":(\d+)/);
  const freeSeed = JSON.parse(freeServer.stdoutLines.at(-1) as string);
  const storageFree: GatewayContext = {
    server: freeServer,
    secretKey: freeSeed.secretKey,
    buyerToken: '',
    accounts: freeSeed.accounts,
    moneyAccounts: [],
    dataDir: '',
  };

  const perRound: Array<Record<string, Load>> = [];
  const dealRates: Record<string, number[]> = { sqlite: [], pg: [] };
  const pgbenchRounds: number[] = [];
  const pgbenchCpu: CpuPerRequest[] = [];
  if (pgUrl) pgbenchInit(pgUrl);
  const sqliteRss = rssSampler(sqlite.server.child);
  // Reported beside, not against the budget (which is the embedded default's).
  const pgRss = pg ? rssSampler(pg.server.child) : undefined;
  /**
   * Every load once, in a round's order: the machine's limits, then per store its commands,
   * reads and creates, each followed by `afterStore` (a round's whole deals and money check).
   * The warm-up runs the same loads for `--warmup` seconds each (500 creates) and drops them.
   */
  async function runLoads(
    warmUp: boolean,
    afterStore: (prefix: string, context: GatewayContext) => Promise<void>,
  ): Promise<Record<string, Load>> {
    const row: Record<string, Load> = {};
    const run = async (
      key: string,
      name: string,
      server: Server,
      requests: autocannon.Request[] | undefined,
      extra: Partial<autocannon.Options> = {},
      pathname = '',
    ) => {
      currentCase = warmUp ? 'warm-up' : key.replace(/^(sqlite|pg)\./, '');
      const brief = warmUp && extra.amount === undefined ? { duration: warmupSeconds } : {};
      row[key] = check(
        warmUp ? `warm-up ${name}` : name,
        await load(server, pathname, requests, { ...extra, ...brief }),
      );
    };
    await run('hello', 'hello', hello, undefined, {}, '/');
    await run(
      'json',
      'json',
      hello,
      undefined,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ amountMinor: 1 }),
      },
      '/json',
    );
    await run(
      'storageFree',
      'lock/unlock, storage free',
      storageFree.server,
      commandRequests(storageFree, 'lock'),
    );
    for (const [prefix, context] of [
      ['sqlite', sqlite],
      ['pg', pg],
    ] as const) {
      if (!context) continue;
      await run(`${prefix}.lock`, `${prefix} lock/unlock`, context.server, commandRequests(context, 'lock'));
      await run(
        `${prefix}.deposit`,
        `${prefix} deposit`,
        context.server,
        commandRequests(context, 'deposit'),
      );
      await run(
        `${prefix}.withdraw`,
        `${prefix} withdraw`,
        context.server,
        commandRequests(context, 'withdraw'),
      );
      await run(`${prefix}.status`, `${prefix} status`, context.server, statusRequests(context));
      const invoiceCount = warmUp ? 500 : 4000;
      await run(
        `${prefix}.create`,
        `${prefix} create-from-invoice`,
        context.server,
        await invoiceRequests(context, invoiceCount),
        { amount: invoiceCount },
      );
      await afterStore(prefix, context);
    }
    return row;
  }

  if (warmupSeconds > 0) {
    // A gateway runs warm in service: its first seconds under a new load run unoptimised code
    // (a status read cost 122 µs of CPU in a fresh process's first 4 s and 54-59 µs after).
    // Every server, the hello-world one too, gets the same warm-up; errors still fail the run.
    console.log(`warm-up (${warmupSeconds} s per load, not reported)`);
    await runLoads(true, async (prefix, context) => {
      if (!reconcile(context)) failures.push(`${prefix}: money not conserved after the warm-up`);
    });
  }
  for (let round = 1; round <= rounds; round++) {
    console.log(`round ${round}/${rounds}`);
    const row = await runLoads(false, async (prefix, context) => {
      currentCase = 'deals';
      const deals = await dealsPerSecond(context);
      currentCase = 'between';
      if (deals.failed > 0) failures.push(`${prefix} full deals: ${deals.failed} failed in round ${round}`);
      dealRates[prefix]?.push(deals.perSecond);
      if (!reconcile(context)) failures.push(`${prefix}: money not conserved after round ${round}`);
    });
    if (pgUrl) {
      const measured = await pgbench(pgUrl);
      pgbenchRounds.push(measured.tps);
      if (measured.cpu) pgbenchCpu.push(measured.cpu);
      console.log(
        `  ${'pgbench'.padEnd(32)} ${measured.tps.toFixed(0).padStart(7)} tps    ${' '.repeat(8)}  ${cpuLine(measured.cpu)}`,
      );
    }
    perRound.push(row);
  }

  const moneyConserved = reconcile(sqlite) && (!pg || reconcile(pg));
  const rssMb = sqliteRss.stop();
  const pgRssMb = pgRss?.stop() ?? Number.NaN;
  const lifetimeRssMb = memoryMb(sqlite.server.child, 'VmHWM');
  await stop(hello);
  await stop(storageFree.server);
  await stop(sqlite.server);
  if (pg) await stop(pg.server);
  if (pgUrl) dropPostgres(pgUrl);
  rmSync(sqlite.dataDir, { recursive: true, force: true });
  rmSync(compileCacheDir, { recursive: true, force: true });
  rmSync(distDir, { recursive: true, force: true });

  // The durable commands of the target (lock/unlock, deposit, withdraw): per round the slowest
  // of them against the baseline, then the median over rounds. p99: the worst over rounds.
  const commandKeys = ['lock', 'deposit', 'withdraw'];
  const ratio = (prefix: string, keys: string[], base: 'hello' | 'json') =>
    median(
      perRound.map((row) =>
        Math.min(
          ...keys.map(
            (key) =>
              (row[`${prefix}.${key}`]?.requestsPerSecond ?? Number.NaN) /
              (row[base]?.requestsPerSecond ?? Number.NaN),
          ),
        ),
      ),
    );
  const abs = (key: string, field: 'requestsPerSecond' | 'p99Ms') =>
    median(perRound.map((row) => row[key]?.[field] ?? Number.NaN));
  const worst = (keys: string[]) =>
    Math.max(...perRound.flatMap((row) => keys.map((key) => row[key]?.p99Ms ?? Number.NaN)));
  const pgRatio = median(
    perRound.map(
      (row, index) =>
        Math.min(...commandKeys.map((key) => row[`pg.${key}`]?.requestsPerSecond ?? Number.NaN)) /
        (pgbenchRounds[index] ?? Number.NaN),
    ),
  );
  const deals = { perSecond: median(dealRates.sqlite as number[]) };
  const pgDeals = pg ? { perSecond: median(dealRates.pg as number[]) } : undefined;
  const tps = median(pgbenchRounds);
  // Per case, the median over rounds of each CPU figure (µs per request).
  const cpuFields = ['serverUs', 'postgresUs', 'loadGeneratorUs', 'machineUs', 'machineBusy'] as const;
  const medianCpu = (samples: CpuPerRequest[]): CpuPerRequest =>
    Object.fromEntries(
      cpuFields.map((field) => [field, median(samples.map((sample) => sample[field]))]),
    ) as unknown as CpuPerRequest;
  const cpuUsPerRequest: Record<string, CpuPerRequest> = {};
  for (const key of Object.keys(perRound[0] ?? {})) {
    cpuUsPerRequest[key] = medianCpu(perRound.flatMap((row) => (row[key] ? [row[key].cpu] : [])));
  }
  if (pgbenchCpu.length > 0) cpuUsPerRequest.pgbench = medianCpu(pgbenchCpu);

  const report = {
    machine: {
      rounds,
      secondsPerCase: seconds,
      warmupSecondsPerCase: warmupSeconds,
      connections,
      node: process.version,
    },
    helloRps: abs('hello', 'requestsPerSecond'),
    jsonPostRps: abs('json', 'requestsPerSecond'),
    /** Lock/unlock with the commands' storage free (bench/storage-free-server.ts); reported only. */
    storageFree: {
      lockUnlockRps: abs('storageFree', 'requestsPerSecond'),
      toHelloRatio: median(
        perRound.map(
          (row) =>
            (row.storageFree?.requestsPerSecond ?? Number.NaN) / (row.hello?.requestsPerSecond ?? Number.NaN),
        ),
      ),
    },
    sqlite: {
      lockUnlockRps: abs('sqlite.lock', 'requestsPerSecond'),
      depositRps: abs('sqlite.deposit', 'requestsPerSecond'),
      withdrawRps: abs('sqlite.withdraw', 'requestsPerSecond'),
      createFromInvoiceRps: abs('sqlite.create', 'requestsPerSecond'),
      statusRps: abs('sqlite.status', 'requestsPerSecond'),
      dealsPerSecond: deals.perSecond,
    },
    postgres: pg
      ? {
          lockUnlockRps: abs('pg.lock', 'requestsPerSecond'),
          depositRps: abs('pg.deposit', 'requestsPerSecond'),
          withdrawRps: abs('pg.withdraw', 'requestsPerSecond'),
          createFromInvoiceRps: abs('pg.create', 'requestsPerSecond'),
          statusRps: abs('pg.status', 'requestsPerSecond'),
          dealsPerSecond: pgDeals?.perSecond,
          pgbenchTps: tps,
          commandsToPgbenchRatio: pgRatio,
          gatewayPeakRssMb: pgRssMb,
        }
      : null,
    commandsToHelloRatio: ratio('sqlite', commandKeys, 'hello'),
    commandsToJsonRatio: ratio('sqlite', commandKeys, 'json'),
    readsToHelloRatio: ratio('sqlite', ['status'], 'hello'),
    commandsP99Ms: worst(commandKeys.map((key) => `sqlite.${key}`)),
    readsP99Ms: worst(['sqlite.status']),
    gatewayPeakRssMb: rssMb,
    gatewayLifetimePeakRssMb: lifetimeRssMb,
    gatewayPeakRssMbByCase: sqliteRss.byCase,
    gatewayStartToFirstAnswerMs: coldStartMs,
    gatewayWarmRestartMs: warmStartMs,
    gatewayStartFromSourceMs: sourceStartMs,
    sizes: sizes(),
    /**
     * µs of CPU per request (per transaction for pgbench) by case, median over rounds: the
     * server, PostgreSQL, the load generator, the whole machine (bench/cpu.ts).
     */
    cpuUsPerRequest,
    machineCpuUsPerSecond: machineUsPerSecond,
    moneyConserved,
    perRound,
    failures,
    ok: failures.length === 0 && moneyConserved,
    targets: {} as Record<string, { value: number; target: string; met: boolean }>,
  };
  // Every target of the performance issue, met or missed, in the report (a run with failures is
  // "failed"; a run that only misses targets is "ok, targets missed").
  const goal = budgets.targets;
  const checkTarget = (name: string, value: number, op: '>=' | '<=' | '<', bound: number) => {
    const met = op === '>=' ? value >= bound : op === '<=' ? value <= bound : value < bound;
    report.targets[name] = { value, target: `${op} ${bound}`, met: Number.isFinite(value) && met };
  };
  checkTarget('commandsToHelloRatio', report.commandsToHelloRatio, '>=', goal.commandsToHelloRatioMin);
  checkTarget('commandsToJsonRatio', report.commandsToJsonRatio, '>=', goal.commandsToJsonRatioMin);
  checkTarget('readsToHelloRatio', report.readsToHelloRatio, '>=', goal.readsToHelloRatioMin);
  checkTarget('commandsP99Ms', report.commandsP99Ms, '<', goal.commandsP99MsMax);
  checkTarget('readsP99Ms', report.readsP99Ms, '<', goal.readsP99MsMax);
  if (report.postgres) {
    checkTarget(
      'pgCommandsToPgbenchRatio',
      report.postgres.commandsToPgbenchRatio,
      '>=',
      goal.pgCommandsToPgbenchRatioMin,
    );
  }
  checkTarget('gatewayRssMb', report.gatewayPeakRssMb, '<=', goal.gatewayRssMbMax);
  checkTarget('startMs', report.gatewayStartToFirstAnswerMs, '<=', goal.startMsMax);
  for (const [name, size] of Object.entries(report.sizes))
    checkTarget(`size.${name}`, size.bytes, '<=', size.budget);
  const targetList = Object.values(report.targets);
  const targetsMet = targetList.filter((target) => target.met).length;

  const targets = budgets.targets;
  const rows: Array<[string, string, string]> = [
    ['Hono GET hello-world', `${report.helloRps.toFixed(0)} req/s`, '100%'],
    [
      'Hono POST JSON, no database',
      `${report.jsonPostRps.toFixed(0)} req/s`,
      pct(report.jsonPostRps / report.helloRps),
    ],
    [
      'lock/unlock, storage free',
      `${report.storageFree.lockUnlockRps.toFixed(0)} req/s`,
      pct(report.storageFree.toHelloRatio),
    ],
    [
      'lock/unlock (sqlite)',
      `${report.sqlite.lockUnlockRps.toFixed(0)} req/s`,
      pct(report.sqlite.lockUnlockRps / report.helloRps),
    ],
    [
      'deposit (sqlite)',
      `${report.sqlite.depositRps.toFixed(0)} req/s`,
      pct(report.sqlite.depositRps / report.helloRps),
    ],
    [
      'withdraw (sqlite)',
      `${report.sqlite.withdrawRps.toFixed(0)} req/s`,
      pct(report.sqlite.withdrawRps / report.helloRps),
    ],
    [
      'create from invoice (sqlite)',
      `${report.sqlite.createFromInvoiceRps.toFixed(0)} req/s`,
      pct(report.sqlite.createFromInvoiceRps / report.helloRps),
    ],
    [
      'status read (sqlite)',
      `${report.sqlite.statusRps.toFixed(0)} req/s`,
      pct(report.sqlite.statusRps / report.helloRps),
    ],
    ['full deals (sqlite)', `${report.sqlite.dealsPerSecond.toFixed(0)} deals/s`, ''],
  ];
  if (report.postgres) {
    rows.push(
      [
        'lock/unlock (pg)',
        `${report.postgres.lockUnlockRps.toFixed(0)} req/s`,
        pct(report.postgres.lockUnlockRps / report.helloRps),
      ],
      ['deposit (pg)', `${report.postgres.depositRps.toFixed(0)} req/s`, ''],
      ['withdraw (pg)', `${report.postgres.withdrawRps.toFixed(0)} req/s`, ''],
      ['status read (pg)', `${report.postgres.statusRps.toFixed(0)} req/s`, ''],
      ['full deals (pg)', `${(report.postgres.dealsPerSecond ?? 0).toFixed(0)} deals/s`, ''],
      ['gateway peak RSS under load (pg)', `${report.postgres.gatewayPeakRssMb.toFixed(0)} MB`, ''],
      [
        'pgbench -c 16 -j 2 -s 16 TPC-B-like',
        `${report.postgres.pgbenchTps.toFixed(0)} tps`,
        `commands/pgbench ${report.postgres.commandsToPgbenchRatio.toFixed(2)}x`,
      ],
    );
  }
  console.log(`${'\ncase'.padEnd(42) + 'absolute'.padEnd(20)}share of hello`);
  for (const [name, value, share] of rows) console.log(name.padEnd(41) + value.padEnd(20) + share);
  console.log('\nCPU per request, µs (median of rounds; pgbench: per transaction)');
  console.log(
    `${'case'.padEnd(22)}${['server', 'pg', 'load gen', 'machine', 'busy'].map((h) => h.padStart(10)).join('')}`,
  );
  for (const [key, cpu] of Object.entries(report.cpuUsPerRequest)) {
    const us = (value: number) => (Number.isFinite(value) ? value.toFixed(0) : 'n/a').padStart(10);
    console.log(
      `${key.padEnd(22)}${us(cpu.serverUs)}${us(cpu.postgresUs)}${us(cpu.loadGeneratorUs)}${us(cpu.machineUs)}${pct(cpu.machineBusy).padStart(10)}`,
    );
  }
  const pgLockCpu = report.cpuUsPerRequest['pg.lock'];
  if (pgLockCpu && report.postgres) {
    // At pgbench's rate with every core busy, each transaction has this much of the machine.
    console.log(
      `at pgbench's ${report.postgres.pgbenchTps.toFixed(0)} tps the machine has ${(machineUsPerSecond / report.postgres.pgbenchTps).toFixed(0)} µs of CPU per transaction; a lock/unlock on PostgreSQL took ${pgLockCpu.machineUs.toFixed(0)} µs (gateway ${pgLockCpu.serverUs.toFixed(0)}, PostgreSQL ${pgLockCpu.postgresUs.toFixed(0)}, load generator ${pgLockCpu.loadGeneratorUs.toFixed(0)})`,
    );
  }
  console.log(`
commands/hello ${pct(report.commandsToHelloRatio)} (target >= ${pct(targets.commandsToHelloRatioMin)}), commands/json ${pct(report.commandsToJsonRatio)} (target >= ${pct(targets.commandsToJsonRatioMin)})
lock/unlock with free storage (no disk, no SQL) ${pct(report.storageFree.toHelloRatio)} of hello
reads/hello ${pct(report.readsToHelloRatio)} (target >= ${pct(targets.readsToHelloRatioMin)})
commands p99 ${report.commandsP99Ms} ms (target < ${targets.commandsP99MsMax}), reads p99 ${report.readsP99Ms} ms (target < ${targets.readsP99MsMax})
gateway peak RSS under load ${report.gatewayPeakRssMb.toFixed(0)} MB (budget ${targets.gatewayRssMbMax}; lifetime peak with start-up and setup ${report.gatewayLifetimePeakRssMb.toFixed(0)} MB; peak by case ${Object.entries(
    report.gatewayPeakRssMbByCase,
  )
    .map(([name, mb]) => `${name} ${mb}`)
    .join(
      ', ',
    )}), start to first answer ${report.gatewayStartToFirstAnswerMs.toFixed(0)} ms cold (budget ${targets.startMsMax}), ${report.gatewayWarmRestartMs.toFixed(0)} ms warm restart, ${report.gatewayStartFromSourceMs.toFixed(0)} ms cold from source
sizes: ${Object.entries(report.sizes)
    .map(([name, size]) => `${name} ${size.bytes} B / ${size.budget} B`)
    .join(', ')}
money conserved: ${report.moneyConserved}`);
  if (failures.length > 0) console.log(`FAILED:\n  ${failures.join('\n  ')}`);

  const outDir = path.join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const outFile = path.join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${outFile}`);
  const missed = Object.entries(report.targets)
    .filter(([, target]) => !target.met)
    .map(([name]) => name);
  console.log(
    `targets met: ${targetsMet} of ${targetList.length}${missed.length ? ` (missed: ${missed.join(', ')})` : ''}`,
  );
  console.log(
    report.ok ? `bench: ok (no failures)${missed.length ? ', targets missed' : ''}` : 'bench: FAILED',
  );
  process.exit(report.ok ? 0 : 1);
}

function pct(value: number): string {
  return Number.isFinite(value) ? `${(value * 100).toFixed(0)}%` : 'n/a';
}

await main();

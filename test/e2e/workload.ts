import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { lockPpmFull, movableMinor, type TemporaryAccount } from '@lockstep/core';
import { reconcile } from '../../packages/gateway/src/service/admin.ts';
import { openStore } from '../../packages/gateway/src/storage/open.ts';
import type { StoredEvent } from '../../packages/gateway/src/storage/store.ts';

/**
 * A bank workload in the spirit of Jepsen's: concurrent clients move money through the HTTP API
 * of several gateway processes sharing one store while a nemesis stops a process every few
 * seconds, alternately with SIGKILL and with SIGTERM (a graceful drain, which must exit 0), and
 * (on PostgreSQL) cuts the database connections, then restarts it.
 * Every mutating request carries an idempotency key and is retried with the same key until it
 * gets a definitive answer, so every operation ends acknowledged (2xx) or refused (4xx).
 * Each refusal is judged as it comes (`rightRefusals`: a wrong one changes nothing, so the
 * ledger could not show it); afterwards one consistent read checks the invariants of the
 * ledger and of the move rule.
 */
export interface WorkloadOptions {
  durationMs: number;
  processes: number;
  clients: number;
  killEveryMs: number;
  /**
   * Stops the nemesis makes however slow the machine: the run goes on past `durationMs` until
   * it has made them (a loaded machine's slow drains and restarts fit fewer into the duration).
   */
  minStops?: number;
  databaseUrl?: string;
  log?: (line: string) => void;
}

export interface WorkloadReport {
  store: 'sqlite' | 'postgres';
  operationsAcknowledged: number;
  operationsRefused: number;
  /** Refusals by operation, status and error code (`withdraw 409 locked_by_other_party`). */
  refusals: Record<string, number>;
  retries: number;
  killsSurvived: number;
  /** Stops by SIGTERM (drained, exit 0), between the kills. */
  gracefulStops: number;
  connectionCuts: number;
  /** Requests the client gave up on after `clientTimeoutMs` (retried with the same key). */
  clientTimeouts: number;
  /** The slowest answers (over 2 s), to tell a stall from a cut when a run fails. */
  slowAnswers: string[];
  violations: string[];
  totalMinorAtStart: number;
  totalMinorAtEnd: number;
}

type Operation = 'create' | 'deposit' | 'lock' | 'unlock' | 'withdraw' | 'list' | 'status';

const clientTimeoutMs = 30_000;
const root = path.resolve(import.meta.dirname, '../..');
const nodeFlags = [
  '--experimental-strip-types',
  '--experimental-sqlite',
  '--disable-warning=ExperimentalWarning',
];

interface GatewayProcess {
  index: number;
  port: number;
  child: ChildProcess | undefined;
  up: boolean;
  /** Between its SIGTERM and its exit: requests in flight to it must be answered in full. */
  draining: boolean;
}

export async function runWorkload(options: WorkloadOptions): Promise<WorkloadReport> {
  const log = options.log ?? (() => {});
  const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-workload-'));
  const env = {
    ...process.env,
    LOCKSTEP_DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    LOCKSTEP_PUBLIC_URL: 'http://localhost:4000',
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
  };
  const admin = (...args: string[]) =>
    execFileSync(process.execPath, [...nodeFlags, 'packages/gateway/src/cli.ts', ...args], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
  const seed = JSON.parse(admin('seed-demo')) as {
    buyerAccountId: string;
    sellerAccountId: string;
    sellerId: string;
    secretKey: string;
  };
  // More money for the buyer so the workload is not starved; the second buyer has ¥50,000.
  admin('top-up', '--account', seed.buyerAccountId, '--amount-minor', '10000000');

  const processes: GatewayProcess[] = [];
  for (let index = 0; index < options.processes; index++) {
    processes.push({ index, port: 0, child: undefined, up: false, draining: false });
  }
  const start = async (gateway: GatewayProcess) => {
    const child = spawn(process.execPath, [...nodeFlags, 'packages/gateway/src/bin.ts'], {
      cwd: root,
      env: { ...env, PORT: String(gateway.port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    gateway.child = child;
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      lines.on('line', (line) => {
        const match = /listening on http:\/\/localhost:(\d+)/.exec(line);
        if (match) {
          gateway.port = Number(match[1]);
          gateway.up = true;
          resolve();
        }
      });
      child.once('exit', () => {
        gateway.up = false;
        reject(new Error('gateway exited before listening'));
      });
    });
    child.once('exit', () => {
      gateway.up = false;
    });
  };
  await Promise.all(processes.map(start));

  const report: WorkloadReport = {
    store: options.databaseUrl ? 'postgres' : 'sqlite',
    operationsAcknowledged: 0,
    operationsRefused: 0,
    refusals: {},
    retries: 0,
    killsSurvived: 0,
    gracefulStops: 0,
    connectionCuts: 0,
    clientTimeouts: 0,
    slowAnswers: [],
    violations: [],
    totalMinorAtStart: 0,
    totalMinorAtEnd: 0,
  };

  /** Every acknowledged mutation: its idempotency record must exist with the same answer. */
  const acknowledged: Array<{ scope: string; key: string; body: unknown }> = [];
  const scopeOf = new Map<string, string>([[seed.secretKey, seed.sellerId]]);
  /** Sends one request to some live process, retrying with the same key until definitive. */
  let keyCounter = 0;
  const send = async (method: string, pathname: string, token: string, body?: unknown) => {
    const key = `wl-${process.pid}-${keyCounter++}`;
    // Bounded in time as well as in attempts: 400 attempts of up to 30 s each was hours.
    const giveUpAt = Date.now() + 120_000;
    for (let attempt = 0; attempt < 400 && Date.now() < giveUpAt; attempt++) {
      const live = processes.filter((gateway) => gateway.up);
      const target = live[Math.floor(Math.random() * live.length)];
      if (!target) {
        await sleep(50);
        continue;
      }
      const sentAt = Date.now();
      const drainingWhenSent = target.draining;
      try {
        const response = await fetch(`http://127.0.0.1:${target.port}${pathname}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body !== undefined ? { 'content-type': 'application/json', 'idempotency-key': key } : {}),
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
          // Longer than the gateway's own bound on a unit (20 s: a lock wait alone may take 5 s
          // before its 503) and than a drain's grace (10 s): a timeout is then a hung gateway,
          // not a slow answer. With 5 s, one CI run under the whole suite's load failed with a
          // TimeoutError on a draining gateway; that run's neighbours answered creates and
          // pay-ins on the two buyers' contended usual accounts in 2-4 s (slowAnswers).
          signal: AbortSignal.timeout(clientTimeoutMs),
        });
        const text = await response.text();
        const tookMs = Date.now() - sentAt;
        if (tookMs > 2_000) {
          report.slowAnswers.push(
            `${method} ${pathname} ${response.status} in ${tookMs} ms${drainingWhenSent ? ' (draining)' : ''}`,
          );
        }
        if (target.draining && response.status >= 500) {
          report.violations.push(`a draining gateway answered ${response.status} to ${method} ${pathname}`);
        }
        if (response.status >= 500 || response.status === 429) {
          report.retries++;
          await sleep(20);
          continue;
        }
        if (response.status === 409 && text.includes('idempotency_key_in_use')) {
          report.retries++;
          await sleep(20);
          continue;
        }
        const parsed = text ? JSON.parse(text) : null;
        if (body !== undefined && response.status < 300 && scopeOf.has(token)) {
          acknowledged.push({ scope: scopeOf.get(token) as string, key, body: parsed });
        }
        return { status: response.status, body: parsed };
      } catch (error) {
        // A draining gateway refuses new connections (fine: the client goes elsewhere) but must
        // never cut a request it had taken (helper-57: the stop check proved only the exit code).
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? String(error);
        if ((error as Error).name === 'TimeoutError') {
          report.clientTimeouts++;
          // 30 s without an answer is a hung gateway, draining or not.
          if (!target.draining) {
            report.violations.push(`a gateway did not answer ${method} ${pathname} in ${clientTimeoutMs} ms`);
          }
        }
        if (target.draining && cause !== 'ECONNREFUSED') {
          report.violations.push(
            `a draining gateway cut ${method} ${pathname}: ${cause} after ${Date.now() - sentAt} ms (sent ${drainingWhenSent ? 'during' : 'before'} the stop)`,
          );
        }
        report.retries++;
        await sleep(20);
      }
    }
    throw new Error(`${method} ${pathname}: no definitive answer after retries`);
  };

  const login = async (userId: string, password: string) => {
    const response = await send('POST', '/v1/sessions', '', { userId, password });
    if (response.status !== 201) throw new Error(`login ${userId}: ${JSON.stringify(response.body)}`);
    scopeOf.set(response.body.token, response.body.customer.id);
    return response.body.token as string;
  };
  const buyers = [await login('mizuta', 'mizuta-demo-pass'), await login('tanaka', 'tanaka-demo-pass')];
  const seller = seed.secretKey;

  const store = await openStore({ databaseUrl: options.databaseUrl, dataDir });
  report.totalMinorAtStart = (await store.read(reconcile)).perCurrency.reduce(
    (sum, row) => sum + row.totalMinor,
    0,
  );
  await store.close();

  const codes: string[] = [];
  /** Each account's buyer (the seller is a party to all) and whether it is fractional. */
  const accountsMade = new Map<string, { buyer: string; fractional: boolean }>();
  const until = Date.now() + options.durationMs;
  let nemesisDone = false;
  const client = async (clientIndex: number) => {
    const buyer = buyers[clientIndex % buyers.length] as string;
    while (Date.now() < until || !nemesisDone) {
      const roll = Math.random();
      const code = codes[Math.floor(Math.random() * codes.length)];
      let result: { status: number; body: any };
      let operation: Operation;
      let caller = buyer;
      let partial = false;
      if (roll < 0.15 || !code) {
        operation = 'create';
        result = await send('POST', '/v1/temporary-accounts', buyer, {
          payeeUserId: 'ibm-shop',
          amountMinor: 1 + Math.floor(Math.random() * 5000),
          currency: 'JPY',
          ...(Math.random() < 0.3 ? { mode: 'fractional' } : {}),
        });
        if (result.status === 201) {
          codes.push(result.body.code);
          accountsMade.set(result.body.code, { buyer, fractional: result.body.mode === 'fractional' });
        }
      } else if (roll < 0.3) {
        operation = 'deposit';
        result = await send('POST', `/v1/temporary-accounts/${code}/deposit`, buyer, {
          amountMinor: 1 + Math.floor(Math.random() * 500),
        });
      } else if (roll < 0.5) {
        const who = Math.random() < 0.5 ? seller : buyer;
        const action = Math.random() < 0.5 ? 'lock' : 'unlock';
        operation = action;
        caller = who;
        result = await send('POST', `/v1/temporary-accounts/${code}/${action}`, who, {});
      } else if (roll < 0.55) {
        // Shares that round (a third, a seventh) as well as a half: holds are kept exact.
        const share = ['0.5', '0.333334', '0.142857', '0.25', '0.9'][Math.floor(Math.random() * 5)];
        operation = 'lock';
        caller = seller;
        partial = true;
        result = await send('POST', `/v1/temporary-accounts/${code}/lock`, seller, { share });
      } else if (roll < 0.75) {
        const who = Math.random() < 0.5 ? seller : buyer;
        operation = 'withdraw';
        caller = who;
        result = await send('POST', `/v1/temporary-accounts/${code}/withdraw`, who, {
          ...(Math.random() < 0.5 ? { amountMinor: 1 + Math.floor(Math.random() * 300) } : {}),
        });
      } else if (roll < 0.9) {
        operation = 'list';
        result = await send('GET', '/v1/accounts', buyer);
      } else {
        operation = 'status';
        caller = seller;
        result = await send('GET', `/v1/temporary-accounts/${code}`, seller);
      }
      // Creates and lists name no account (`code` was drawn before the roll chose them).
      const named = operation === 'create' || operation === 'list' ? undefined : code;
      const made = named === undefined ? undefined : accountsMade.get(named);
      const wrong = wrongAnswer(operation, result, {
        party: made === undefined || caller === seller || caller === made.buyer,
        fractional: made?.fractional ?? false,
        partial,
      });
      if (wrong) report.violations.push(`${operation} ${named ?? ''}: ${wrong}`);
      if (result.status < 300) report.operationsAcknowledged++;
      else if (result.status < 500) {
        report.operationsRefused++;
        const refusal = `${operation} ${result.status} ${result.body?.error?.code}`;
        report.refusals[refusal] = (report.refusals[refusal] ?? 0) + 1;
      }
    }
  };

  const nemesis = async () => {
    // Kills on a fixed cadence from the start: a slow restart (a loaded machine) shortens the
    // next pause instead of pushing every later kill out of the run.
    let nextKillMs = Date.now() + options.killEveryMs;
    const stops = () => report.killsSurvived + report.gracefulStops;
    // A minimum not reached a minute past the duration is reported by the test, not waited for
    // (a gateway that exited by itself leaves none to stop: helper-106).
    const more = () =>
      Date.now() < until + 60_000 &&
      (stops() < (options.minStops ?? 0) ||
        (nextKillMs < until - options.killEveryMs / 2 && Date.now() < until));
    while (more()) {
      await sleep(Math.max(0, nextKillMs - Date.now()));
      nextKillMs += options.killEveryMs;
      if (!more()) break;
      const running = processes.filter((gateway) => gateway.child && gateway.up);
      const victim = running[Math.floor(Math.random() * running.length)];
      if (!victim?.child) continue;
      victim.up = false;
      // Every other stop is a graceful one (SIGTERM: the gateway drains its keep-alive clients
      // under load, then exits 0); the others are a crash.
      const graceful = stops() % 2 === 1;
      // The signal too, when it ended by one (a graceful stop once "exited with null" in a full
      // run, alone: which signal ended it says where to look).
      const exited = new Promise<number | string | null>((resolve) =>
        victim.child?.once('exit', (code, signal) => resolve(code ?? signal)),
      );
      victim.draining = graceful;
      victim.child.kill(graceful ? 'SIGTERM' : 'SIGKILL');
      // A drain ends within the shutdown grace (10 s by default); a hung one is a violation.
      const code = await Promise.race([exited, sleep(35_000).then(() => 'still running')]);
      if (code === 'still running') {
        report.violations.push(
          `a gateway stopped by ${graceful ? 'SIGTERM' : 'SIGKILL'} was still running after 35 s`,
        );
        victim.child.kill('SIGKILL');
        await exited;
      } else if (graceful && code !== 0) {
        report.violations.push(`a gateway stopped by SIGTERM exited with ${code}`);
      }
      victim.draining = false;
      if (options.databaseUrl) {
        cutConnections(options.databaseUrl);
        report.connectionCuts++;
      }
      log(`${graceful ? 'stopped' : 'killed'} gateway ${victim.index}`);
      await sleep(200);
      await start(victim);
      if (graceful) report.gracefulStops++;
      else report.killsSurvived++;
    }
  };

  await Promise.all([
    nemesis().finally(() => (nemesisDone = true)),
    ...Array.from({ length: options.clients }, (_, index) => client(index)),
  ]);
  for (const gateway of processes) {
    if (gateway.child && gateway.up) {
      await new Promise<void>((resolve) => {
        gateway.child?.once('exit', () => resolve());
        gateway.child?.kill('SIGTERM');
        // A drain that does not end within its grace is reported, and the process killed.
        setTimeout(() => {
          if (gateway.child?.exitCode === null && gateway.child.signalCode === null) {
            report.violations.push(`gateway ${gateway.index} still running 35 s after its final SIGTERM`);
            gateway.child.kill('SIGKILL');
          }
        }, 35_000).unref();
      });
    }
  }

  // One consistent read of the whole bank.
  const checkStore = await openStore({ databaseUrl: options.databaseUrl, dataDir });
  try {
    await checkStore.read(async (reader) => {
      const books = await reconcile(reader);
      report.totalMinorAtEnd = books.perCurrency.reduce((sum, row) => sum + row.totalMinor, 0);
      if (report.totalMinorAtEnd !== report.totalMinorAtStart) {
        report.violations.push(
          `money not conserved: ${report.totalMinorAtStart} -> ${report.totalMinorAtEnd}`,
        );
      }
      for (const account of books.negativeAccounts)
        report.violations.push(`negative balance ${account.ledgerKey}`);
      for (const entry of books.unbalancedEntries)
        report.violations.push(`unbalanced journal entry ${entry}`);
      for (const code of books.temporaryMismatches)
        report.violations.push(`ledger/domain mismatch on ${code}`);
      for (const key of books.ledgerMismatches)
        report.violations.push(`balance is not the sum of its postings: ${key}`);
      for (const ack of acknowledged) {
        const record = await reader.getIdempotency(ack.scope, ack.key);
        if (!record) report.violations.push(`acknowledged request ${ack.key} left no record`);
        else if (JSON.stringify(JSON.parse(record.responseBody)) !== JSON.stringify(ack.body)) {
          report.violations.push(`acknowledged request ${ack.key} answered differently than recorded`);
        }
      }
      for (const code of codes) {
        const account = await reader.getTemporaryAccount(code);
        if (!account) {
          report.violations.push(`acknowledged account ${code} missing`);
          continue;
        }
        const events = await reader.listEvents(code, 0, 100_000);
        report.violations.push(...replayMoveRule(account, events));
      }
    });
  } finally {
    await checkStore.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return report;
}

/** What an operation's caller and account were, to judge its refusal. */
interface Asked {
  /** The caller is a party to the account (or the operation names none). */
  party: boolean;
  fractional: boolean;
  /** A partial lock share was asked for. */
  partial: boolean;
}

/**
 * The refusals this workload's operations may rightly get, and when; any other refusal, and a
 * stranger's success, is a wrong answer (a refusal changes nothing, so the ledger checks alone
 * cannot see one). Money runs short, locks hold, deals fill up and dissolve: those are right.
 */
const rightRefusals: Record<Operation, Record<string, (asked: Asked) => boolean>> = {
  create: { insufficient_funds: () => true },
  deposit: {
    account_dissolved: () => true,
    exceeds_amount_due: (asked) => !asked.fractional,
    insufficient_funds: () => true,
  },
  lock: {
    account_dissolved: () => true,
    lock_share_not_allowed: (asked) => asked.partial && !asked.fractional,
  },
  unlock: { account_dissolved: () => true },
  withdraw: {
    account_dissolved: () => true,
    insufficient_funds: () => true,
    locked_by_other_party: () => true,
    exceeds_movable_amount: () => true,
  },
  list: {},
  status: {},
};

function wrongAnswer(
  operation: Operation,
  result: { status: number; body: any },
  asked: Asked,
): string | undefined {
  if (result.status >= 500) return undefined;
  const code = result.body?.error?.code as string | undefined;
  // A stranger learns nothing of an account, not even that it exists.
  if (!asked.party) return code === 'not_found' ? undefined : `a stranger got ${result.status} ${code ?? ''}`;
  if (result.status < 300) return undefined;
  const right = code === undefined ? undefined : rightRefusals[operation][code];
  return right?.(asked) ? undefined : `refused ${result.status} ${code} (${JSON.stringify(asked)})`;
}

/**
 * Replays an account's history and checks it: sequence numbers gap-free, the balance the events
 * describe equals the stored one, and no withdrawal took more than the other parties' locks
 * allowed at that moment.
 */
function replayMoveRule(account: TemporaryAccount, events: StoredEvent[]): string[] {
  const violations: string[] = [];
  const locks = new Map<string, number>();
  // What each partial lock holds (rule 4, replayed on its own here), exactly, in millionths of a
  // minor unit: its share of the balance when set, plus its share of each pay-in, at most the
  // balance; the others' withdrawals do not wear it down. Rounded up once, when read.
  const held = new Map<string, bigint>();
  const micro = BigInt(lockPpmFull);
  const share = (amountMinor: number, ppm: number) => BigInt(amountMinor) * BigInt(ppm);
  const atMostBalance = (heldMicro: bigint) =>
    heldMicro < BigInt(balanceMinor) * micro ? heldMicro : BigInt(balanceMinor) * micro;
  let creator: string | undefined;
  let balanceMinor = 0;
  let expectedSeq = 1;
  for (const event of events) {
    if (event.seq !== expectedSeq)
      violations.push(`${account.code}: seq ${event.seq} where ${expectedSeq} expected`);
    expectedSeq = event.seq + 1;
    if (event.type === 'account.created') {
      creator = String(event.data.createdBy);
      for (const party of account.parties)
        locks.set(party.customerId, party.customerId === creator ? lockPpmFull : 0);
    } else if (event.type === 'account.deposited') {
      const amountMinor = Number(event.data.amountMinor);
      balanceMinor += amountMinor;
      for (const [customerId, heldMicro] of held) {
        held.set(customerId, atMostBalance(heldMicro + share(amountMinor, locks.get(customerId) ?? 0)));
      }
    } else if (event.type === 'lock.changed') {
      // Set again or higher, a partial lock never holds less than it held; lower, no more.
      const customerId = String(event.data.customerId);
      const ppm = Number(event.data.lockPpm);
      const previous = locks.get(customerId) ?? 0;
      const before = previous === lockPpmFull ? BigInt(balanceMinor) * micro : (held.get(customerId) ?? 0n);
      const now = share(balanceMinor, ppm);
      locks.set(customerId, ppm);
      if (ppm > 0 && ppm < lockPpmFull) {
        held.set(
          customerId,
          ppm > previous
            ? before > now
              ? before
              : now
            : ppm < previous
              ? before < now
                ? before
                : now
              : before,
        );
      } else held.delete(customerId);
    } else if (event.type === 'account.withdrawn') {
      const taker = String(event.data.customerId);
      const snapshot: TemporaryAccount = {
        ...account,
        status: 'funded',
        balanceMinor,
        parties: account.parties.map(({ heldMinor: _final, ...party }) => ({
          ...party,
          lockPpm: locks.get(party.customerId) ?? 0,
          ...(held.has(party.customerId)
            ? { heldMinor: Number(((held.get(party.customerId) as bigint) + micro - 1n) / micro) }
            : {}),
        })),
      };
      const allowed = movableMinor(snapshot, taker);
      const amount = Number(event.data.amountMinor);
      if (amount > allowed) {
        violations.push(
          `${account.code}: ${taker} withdrew ${amount} while locks allowed ${allowed} (seq ${event.seq})`,
        );
      }
      balanceMinor -= amount;
      // The taker's own partial lock gives up its share of what it took.
      for (const [customerId, heldMicro] of held) {
        const given = customerId === taker ? share(amount, locks.get(customerId) ?? 0) : 0n;
        held.set(customerId, atMostBalance(heldMicro > given ? heldMicro - given : 0n));
      }
    }
  }
  if (balanceMinor !== account.balanceMinor) {
    violations.push(
      `${account.code}: events describe balance ${balanceMinor}, stored ${account.balanceMinor}`,
    );
  }
  // The holds replayed from the events are the ones stored, to the millionth of a minor unit.
  for (const party of account.parties) {
    const replayed = held.get(party.customerId);
    if (replayed === undefined) continue;
    const stored =
      party.heldMinor === undefined
        ? undefined
        : BigInt(party.heldMinor) * micro - BigInt(party.heldRoundingMicroMinor ?? 0);
    if (stored !== replayed) {
      violations.push(`${account.code}: ${party.customerId} holds ${stored} µ-minor, events say ${replayed}`);
    }
  }
  return violations;
}

function cutConnections(databaseUrl: string): void {
  const name = new URL(databaseUrl).pathname.slice(1);
  try {
    execFileSync(
      'psql',
      [
        databaseUrl,
        '-q',
        '-c',
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name.replace(/'/g, "''")}' AND pid <> pg_backend_pid()`,
      ],
      { stdio: 'ignore' },
    );
  } catch {
    // The cut itself is best effort; the workload's checks are what matter.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

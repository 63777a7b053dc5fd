import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * Where a load's CPU goes, per request: the server under load, PostgreSQL's processes, the load
 * generator (this process: autocannon runs in it, or the pgbench child it waited for), and the
 * whole machine. A ratio says how fast the gateway is next to the machine's limits; this says
 * what each request costs, and who pays, which a slower or busier machine changes far less.
 * Read from Linux /proc; elsewhere every figure is NaN.
 */
export interface CpuPerRequest {
  /** µs of CPU of the server process (gateway, hello-world server) per request. */
  serverUs: number;
  /**
   * µs of CPU of all PostgreSQL processes on this machine (backends, and the postmaster's ended
   * children) per request; NaN when none is visible.
   */
  postgresUs: number;
  /** µs of CPU of the load generator per request. */
  loadGeneratorUs: number;
  /** µs of busy CPU of the whole machine per request (all of the above, and anything else). */
  machineUs: number;
  /** The machine's busy share over the load, of all its cores (1 = every core busy). */
  machineBusy: number;
}

interface Snapshot {
  server: number;
  postgres: number;
  self: number;
  children: number;
  machineBusy: number;
  machineTotal: number;
}

const usPerTick = (() => {
  try {
    return 1e6 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  } catch {
    return 1e6 / 100;
  }
})();

/** utime, stime, cutime, cstime of a process, in µs (NaN if it is gone or there is no /proc). */
function processTimes(pid: number | string): [number, number] {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = (index: number) => Number(fields[index]) * usPerTick;
    return [ticks(11) + ticks(12), ticks(13) + ticks(14)];
  } catch {
    return [Number.NaN, Number.NaN];
  }
}

/**
 * Every PostgreSQL process's own CPU plus what its exited children used (the postmaster's
 * count holds its ended backends: pgbench's, and any the pool closed).
 */
function postgresUs(): number {
  let total = 0;
  let found = false;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return Number.NaN;
  }
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const [own, children] = processTimes(pid);
    if (Number.isNaN(own)) continue;
    total += own + children;
    found = true;
  }
  // None visible (a remote server, another container): unknown, not free.
  return found ? total : Number.NaN;
}

function machineTicks(): { busy: number; total: number } {
  try {
    const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/) ?? [];
    const numbers = values.map(Number);
    const total = numbers.slice(0, 8).reduce((sum, value) => sum + value, 0);
    const idle = (numbers[3] ?? 0) + (numbers[4] ?? 0);
    return { busy: (total - idle) * usPerTick, total: total * usPerTick };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

function snapshot(serverPid: number | undefined): Snapshot {
  const [self, children] = processTimes(process.pid);
  const machine = machineTicks();
  return {
    server: serverPid === undefined ? 0 : (processTimes(serverPid)[0] as number),
    postgres: postgresUs(),
    self: self as number,
    children: children as number,
    machineBusy: machine.busy,
    machineTotal: machine.total,
  };
}

/**
 * Runs `work` (one load) and divides the CPU it took by the requests it made. `serverPid` is
 * the process under load (none for pgbench, whose CPU is the load generator's as a waited child).
 */
export async function measureCpu<T>(
  serverPid: number | undefined,
  work: () => Promise<T> | T,
  requests: (result: T) => number,
): Promise<{ result: T; cpu: CpuPerRequest }> {
  const before = snapshot(serverPid);
  const result = await work();
  const after = snapshot(serverPid);
  const count = requests(result);
  const per = (value: number) => (count > 0 ? value / count : Number.NaN);
  const machineSpan = after.machineTotal - before.machineTotal;
  return {
    result,
    cpu: {
      serverUs: per(after.server - before.server),
      postgresUs: per(after.postgres - before.postgres),
      loadGeneratorUs: per(after.self - before.self + (after.children - before.children)),
      machineUs: per(after.machineBusy - before.machineBusy),
      machineBusy: machineSpan > 0 ? (after.machineBusy - before.machineBusy) / machineSpan : Number.NaN,
    },
  };
}

/** The µs of CPU the whole machine has per second: what one request per µs of it would cost. */
export const machineUsPerSecond = availableParallelism() * 1e6;

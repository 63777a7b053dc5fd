import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { type AddressInfo, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../packages/gateway/src/config.ts';
import { startGateway, stopGateway } from '../../packages/gateway/src/main.ts';
import { demoLogins } from '../../packages/gateway/src/seed.ts';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';
import { startTestGateway } from '../support/gateway.ts';
import { startGatewayProcess } from '../support/gateway-process.ts';

describe('stopping the gateway', () => {
  it('drains keep-alive clients on SIGTERM: each finishes its request and is told to go, none is cut', async () => {
    // http.Server.close cut connections idle at the signal, racing requests their clients were
    // sending on them: resets, some of them for commands that had committed (helper-49's review).
    const gateway = await startGatewayProcess({ LOCKSTEP_SHUTDOWN_GRACE_MS: '20000' });
    const exited = new Promise<number | null>((resolve) =>
      gateway.child.once('exit', (code) => resolve(code)),
    );
    try {
      const post = (pathname: string, token: string, body: unknown) =>
        fetch(`${gateway.url}${pathname}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify(body),
        });
      const session = await (
        await post('/v1/sessions', '', {
          userId: demoLogins.buyer.userId,
          password: demoLogins.buyer.password,
        })
      ).json();
      const creating = await post('/v1/temporary-accounts', session.token, {
        payeeUserId: demoLogins.seller.userId,
        amountMinor: 100,
        currency: 'JPY',
      });
      const created = await creating.json();
      expect(creating.status, JSON.stringify(created)).toBe(201);
      let signalled = false;
      let signalledAt = 0;
      let stop = false;
      // When each answer or failure came, in ms after the signal: a failure names its moment.
      const afterSignal: Array<{
        status?: number;
        connection?: string | null;
        error?: string;
        atMs?: number;
      }> = [];
      const client = async (index: number) => {
        while (!stop) {
          const sentAfterSignal = signalled;
          try {
            const response = await post(
              `/v1/temporary-accounts/${created.code}/${index % 2 ? 'lock' : 'unlock'}`,
              gateway.seed.secretKey,
              {},
            );
            await response.text();
            if (sentAfterSignal)
              afterSignal.push({ status: response.status, connection: response.headers.get('connection') });
          } catch (error) {
            const code = String((error as { cause?: { code?: string } }).cause?.code ?? error);
            afterSignal.push({ error: code, atMs: Date.now() - signalledAt });
            if (code === 'ECONNREFUSED') return; // the listener is closed: the client goes elsewhere
          }
        }
      };
      // 24 clients: a probe of 24 saw a reset as the listener closed in 2 of 15 stops (old drain).
      const clients = Array.from({ length: 24 }, (_, index) => client(index));
      await new Promise((resolve) => setTimeout(resolve, 500));
      signalled = true;
      signalledAt = Date.now();
      gateway.child.kill('SIGTERM');
      // Long before the 20 s grace: every connection is closed once it has had its answer.
      const code = await Promise.race([
        exited,
        new Promise((resolve) => setTimeout(() => resolve('running'), 10_000)),
      ]);
      stop = true;
      await Promise.all(clients);
      expect(code).toBe(0);
      expect(afterSignal.filter((entry) => entry.error && entry.error !== 'ECONNREFUSED')).toEqual([]);
      // Answered in full; those the drain saw tell the client to close (a request the signal
      // overtook may still have been answered before the drain began).
      const answered = afterSignal.filter((entry) => entry.status !== undefined);
      expect(answered.every((entry) => entry.status === 200)).toBe(true);
      expect(answered.filter((entry) => entry.connection === 'close').length).toBeGreaterThan(0);
    } finally {
      gateway.child.kill('SIGKILL');
      await gateway.stop();
    }
  }, 60_000);
});

describe('a stop right after the start', () => {
  it('a SIGTERM sent as soon as the gateway says it listens drains it (exit 0), never kills it', async () => {
    // The handlers were installed after the "listening" line: a supervisor that signalled on
    // reading it found none, and the default action killed the process (exit by signal, no
    // drain): 15 of 36 stops in a probe, the workload's "exited with null".
    for (let attempt = 0; attempt < 8; attempt++) {
      const gateway = await startGatewayProcess();
      const exited = new Promise<string>((resolve) =>
        gateway.child.once('exit', (code, signal) => resolve(`${code}/${signal}`)),
      );
      gateway.child.kill('SIGTERM');
      expect(await exited).toBe('0/null');
      await gateway.stop();
    }
  }, 120_000);
});

/** A gateway in this process on a fresh data folder, and its port. */
async function inProcessGateway(prefix: string) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const config = loadConfig({
    PORT: '0',
    LOG_LEVEL: 'silent',
    LOCKSTEP_DATA_DIR: dir,
    LOCKSTEP_PUBLIC_URL: 'http://localhost:4000',
  });
  const { gateway, server } = await startGateway(config);
  return { gateway, server, dir, port: (server.address() as AddressInfo).port };
}

/** A client in another process (it sends while this one is blocked); its output so far. */
function clientProcess(script: string) {
  const client = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  client.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  const ended = once(client, 'exit');
  return {
    client,
    output: () => output,
    /** What the client printed last (a JSON line), once it exited or after 10 s. */
    outcome: async () => {
      await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      return JSON.parse(output.trim().split('\n').pop() as string);
    },
  };
}

/**
 * A gateway in this process and a client process running `script`; once the client printed
 * `ready`, `drive` blocks the loop and begins the stop (through `stop`). Answers what the client
 * printed last, once the stop has ended; cleans up either way.
 */
async function stopWhileBlocked(
  prefix: string,
  script: (port: number) => string,
  ready: string,
  drive: (context: { client: ReturnType<typeof clientProcess>['client']; stop: () => void }) => Promise<void>,
): Promise<unknown> {
  const { gateway, server, dir, port } = await inProcessGateway(prefix);
  const { client, output, outcome } = clientProcess(script(port));
  let stopped: Promise<void> | undefined;
  try {
    while (!output().includes(ready)) await new Promise((resolve) => setTimeout(resolve, 10));
    await drive({
      client,
      stop: () => {
        stopped = stopGateway(gateway, server, 20_000);
      },
    });
    const last = await outcome();
    await stopped;
    return last;
  } finally {
    client.kill('SIGKILL');
    if (!stopped) await stopGateway(gateway, server, 1_000);
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('stopping a loaded gateway', () => {
  it('answers a request that reached an idle keep-alive connection before the gateway read it', async () => {
    // The drain closed connections still idle 0.5 s after the signal. A loaded gateway (the
    // full suite, the PostgreSQL workload) had not yet read requests its clients had sent on
    // them: it closed them unread, and the clients got ECONNRESET. Here the gateway's event
    // loop is blocked while the request arrives, past the 0.5 s: its timers then run first.
    // The client is another process: it sends while this one (the gateway) is blocked.
    const outcome = await stopWhileBlocked(
      'lockstep-loaded-stop-',
      (port) =>
        `const socket = require('node:net').connect(${port}, '127.0.0.1');
        const request = 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: keep-alive\\r\\n\\r\\n';
        let received = '';
        socket.on('connect', () => socket.write(request));
        socket.on('data', (chunk) => { received += chunk; if (received.includes('}')) process.stdout.write('answered\\n'); });
        process.stdin.once('data', () => { received = ''; socket.write(request); });
        socket.on('error', (error) => { console.log(JSON.stringify({ error: error.code })); process.exit(0); });
        socket.on('close', () => { console.log(JSON.stringify({ answer: received.split('\\r\\n')[0], connection: /connection: close/i.test(received) })); process.exit(0); });`,
      'answered',
      async ({ client, stop }) => {
        stop();
        await new Promise((resolve) => setTimeout(resolve, 100)); // the drain has begun
        client.stdin?.write('go\n');
        // Busy for 1 s after the event loop's poll (in its check phase): the request arrives
        // meanwhile, and the next turn runs the drain's timers, now due, before it reads it.
        await new Promise<void>((resolve) =>
          setImmediate(() => {
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_000);
            resolve();
          }),
        );
      },
    );
    expect(outcome).toEqual({ answer: 'HTTP/1.1 503 Service Unavailable', connection: true });
  }, 60_000);
});

describe('connections not yet accepted when the stop begins', () => {
  it('a connection the kernel completed while the event loop was busy is answered, not reset', async () => {
    // Closing the listener resets the connections in its accept queue: a loaded gateway reset
    // requests its clients had sent (seven ECONNRESET at once in a CI run of the drain test).
    // The client is another process: it connects and sends while this one is blocked.
    const outcome = await stopWhileBlocked(
      'lockstep-backlog-stop-',
      (port) =>
        `process.stdin.once('data', () => {
          const socket = require('node:net').connect(${port}, '127.0.0.1');
          let received = '';
          socket.on('connect', () => socket.write('GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
          socket.on('data', (chunk) => { received += chunk; });
          socket.on('error', (error) => { console.log(JSON.stringify({ error: error.code })); process.exit(0); });
          socket.on('close', () => { console.log(JSON.stringify({ answer: received.split('\\r\\n')[0], connection: /connection: close/i.test(received) })); process.exit(0); });
        });
        process.stdout.write('ready\\n');`,
      'ready',
      // Busy for 1 s while the client connects and sends; the stop begins as the loop frees.
      ({ client, stop }) =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            client.stdin?.write('go\n');
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_000);
            stop();
            resolve();
          }),
        ),
    );
    expect(outcome).toEqual({ answer: 'HTTP/1.1 503 Service Unavailable', connection: true });
  }, 60_000);

  it('a saturated gateway accepts every connection queued at the signal: none of their requests is reset', async () => {
    // Sixty clients each open a new connection per request: the gateway falls behind and the
    // kernel queues ~58 completed connections. The drain gave them two loop turns and then
    // closed the listener, which reset them: 276 requests sent before the signal reset in six
    // stops (a probe), the PostgreSQL workload's "a draining gateway cut ... ECONNRESET (sent
    // before the stop)". Two stops: the clients stop sending at the signal (as a load balancer
    // does), then no request of theirs may fail; or they keep connecting, then none sent before
    // the signal may be reset (one sent after it may find the listener closing: refused, or
    // rarely reset).
    const resetBeforeSignal: string[] = [];
    const failedWhenStoppingAtSignal: string[] = [];
    const exitCodes: unknown[] = [];
    let answered = 0;
    for (const clientsAtSignal of ['stop', 'keep connecting'] as const) {
      const gateway = await startGatewayProcess({ LOCKSTEP_SHUTDOWN_GRACE_MS: '20000' });
      const exited = new Promise((resolve) => gateway.child.once('exit', resolve));
      try {
        const { port } = new URL(gateway.url);
        // A status read: authenticated and read from the store, so the gateway falls behind.
        const session = await (
          await fetch(`${gateway.url}/v1/sessions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ userId: demoLogins.buyer.userId, password: demoLogins.buyer.password }),
          })
        ).json();
        const created = await (
          await fetch(`${gateway.url}/v1/temporary-accounts`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}` },
            body: JSON.stringify({
              payeeUserId: demoLogins.seller.userId,
              amountMinor: 100,
              currency: 'JPY',
            }),
          })
        ).json();
        let signalledAt: number | undefined;
        let done = false;
        const client = async () => {
          while (!done && (clientsAtSignal === 'keep connecting' || signalledAt === undefined)) {
            const sentBeforeSignal = signalledAt === undefined;
            const sentAt = performance.now();
            try {
              await freshConnectionGet(
                Number(port),
                `/v1/temporary-accounts/${created.code}`,
                gateway.seed.secretKey,
              );
              answered++;
            } catch (error) {
              const code = (error as { code?: string }).code;
              if (clientsAtSignal === 'stop') failedWhenStoppingAtSignal.push(String(code));
              if (code === 'ECONNREFUSED') return; // the listener is closed: the client goes elsewhere
              if (sentBeforeSignal) {
                resetBeforeSignal.push(
                  `${code} sent ${Math.round(sentAt - (signalledAt ?? 0))} ms after the signal`,
                );
              }
            }
          }
        };
        const clients = Array.from({ length: 60 }, client);
        await new Promise((resolve) => setTimeout(resolve, 500));
        signalledAt = performance.now();
        gateway.child.kill('SIGTERM');
        exitCodes.push(await exited);
        done = true;
        await Promise.all(clients);
      } finally {
        gateway.child.kill('SIGKILL');
        await gateway.stop();
      }
    }
    expect(exitCodes).toEqual([0, 0]);
    expect(answered).toBeGreaterThan(100);
    expect(failedWhenStoppingAtSignal).toEqual([]);
    expect(resetBeforeSignal).toEqual([]);
  }, 120_000);
});

/** One GET on a connection of its own (no keep-alive agent): a new connection per request. */
function freshConnectionGet(port: number, pathname: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const options = {
      host: '127.0.0.1',
      port,
      path: pathname,
      agent: false,
      headers: { authorization: `Bearer ${token}` },
    };
    const request = httpRequest(options, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

describe('answers in the works when the stop begins', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const login = JSON.stringify({ userId: demoLogins.buyer.userId, password: demoLogins.buyer.password });
  const loginHead = `POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${login.length}\r\n\r\n`;
  async function rawSocket(port: number) {
    const socket = createConnection(port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk;
    });
    return { socket, received: () => received };
  }

  it('an answer begun before the signal and given after it says Connection: close (helper-69)', async () => {
    // It said keep-alive, and the drain then closed the connection under the client's next request.
    const gateway = await startGatewayProcess({ LOCKSTEP_SHUTDOWN_GRACE_MS: '20000' });
    try {
      const { socket, received } = await rawSocket(Number(new URL(gateway.url).port));
      socket.write(loginHead + login.slice(0, 5)); // the request has begun; its body is on its way
      await sleep(300);
      gateway.child.kill('SIGTERM');
      await sleep(300);
      socket.write(login.slice(5));
      while (!received().includes('\r\n\r\n')) await sleep(20);
      expect(received().split('\r\n')[0]).toBe('HTTP/1.1 201 Created');
      expect(received()).toMatch(/\r\nconnection: close\r\n/i);
    } finally {
      gateway.child.kill('SIGKILL');
      await gateway.stop();
    }
  }, 60_000);

  /** A gateway on `dataDir` with the demo buyer's session and a deal of ¥100 (buyer's lock on). */
  async function withDeal(dataDir: string) {
    const gateway = await startGatewayProcess({
      LOCKSTEP_DATA_DIR: dataDir,
      LOCKSTEP_SHUTDOWN_GRACE_MS: '20000',
    });
    const post = async (pathname: string, body: unknown, token?: string) =>
      (
        await fetch(`${gateway.url}${pathname}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'idempotency-key': crypto.randomUUID(),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify(body),
        })
      ).json();
    const { token } = await post('/v1/sessions', JSON.parse(login));
    const { code } = await post(
      '/v1/temporary-accounts',
      { payeeUserId: demoLogins.seller.userId, amountMinor: 100, currency: 'JPY' },
      token,
    );
    return { gateway, token: token as string, code: code as string };
  }

  /** The buyer's lock on `code`, read from a gateway started again on `dataDir`. */
  async function buyerLockAfterRestart(dataDir: string, code: string): Promise<string> {
    const again = await startGatewayProcess({ LOCKSTEP_DATA_DIR: dataDir });
    try {
      const { token } = await (
        await fetch(`${again.url}/v1/sessions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: login,
        })
      ).json();
      const account = await (
        await fetch(`${again.url}/v1/temporary-accounts/${code}`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json();
      return account.parties.find((party: { role: string }) => party.role === 'buyer').lock;
    } finally {
      await again.stop();
    }
  }

  const unlockRequest = (code: string, token: string) =>
    `POST /v1/temporary-accounts/${code}/unlock HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nIdempotency-Key: pipelined-unlock\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`;

  it('a pair pipelined just before the signal: the unlock behind the login runs only if its answer is sent (helper-70)', async () => {
    // The drain said close on the answer being given (the login), the connection closed after
    // it, and the unlock queued behind it, already committed, was never answered.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-pipelined-before-'));
    try {
      const { gateway, token, code } = await withDeal(dataDir);
      const { socket, received } = await rawSocket(Number(new URL(gateway.url).port));
      socket.write(`${loginHead}${login}${unlockRequest(code, token)}`);
      await sleep(5); // the login (a password hash) is still being answered
      gateway.child.kill('SIGTERM');
      await once(socket, 'close');
      await gateway.stop();
      const answers = received().match(/HTTP\/1\.1 \d+/g);
      const lock = await buyerLockAfterRestart(dataDir, code);
      // Both had begun before the signal (the usual case): both answered. On a loaded machine
      // both may arrive after it (then the unlock is refused and not run), or both be answered
      // before it. Whatever the timing, the unlock ran only if its answer was sent.
      if (answers?.length === 2) {
        expect(answers).toEqual(['HTTP/1.1 201', 'HTTP/1.1 200']);
        expect(lock).toBe('0');
      } else {
        expect(answers).toEqual(['HTTP/1.1 201']);
        expect(lock).toBe('1');
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a live stream opened during the stop says Connection: close (helper-70)', async () => {
    // Hono's streamSSE says keep-alive itself, overriding the drain's close: the connection
    // stayed open after the stream ended, until the drain closed it.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-stream-stop-'));
    try {
      const { gateway, token, code } = await withDeal(dataDir);
      const { socket, received } = await rawSocket(Number(new URL(gateway.url).port));
      gateway.child.kill('SIGTERM');
      await sleep(200);
      socket.write(
        `GET /v1/temporary-accounts/${code}/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`,
      );
      while (!received().includes('\r\n\r\n')) await sleep(20);
      expect(received().split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
      expect(received()).toMatch(/\r\nconnection: close\r\n/i);
      await gateway.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a request pipelined behind another during the stop is not run: its answer could not be sent (helper-69)', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-pipelined-'));
    try {
      const { gateway, token, code } = await withDeal(dataDir);
      const { socket, received } = await rawSocket(Number(new URL(gateway.url).port));
      gateway.child.kill('SIGTERM');
      await sleep(200);
      // Two requests in one write: the second waits for the first's answer, which closes the
      // connection (the gateway is stopping).
      socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n${unlockRequest(code, token)}`);
      await once(socket, 'close');
      expect(received().match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 503']);
      await gateway.stop();
      // Started again on the same data: the buyer's lock is still on.
      expect(await buyerLockAfterRestart(dataDir, code)).toBe('1');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('stopping with clients that never finish', () => {
  /** SIGTERM with `attach`'s client connected: how the gateway exited, within 20 s of a 30 s grace. */
  async function stopWith(attach: (url: string, port: number) => Promise<() => void>) {
    const gateway = await startGatewayProcess({ LOCKSTEP_SHUTDOWN_GRACE_MS: '30000' });
    const exited = new Promise<number | null>((resolve) =>
      gateway.child.once('exit', (code) => resolve(code)),
    );
    const detach = await attach(gateway.url, Number(new URL(gateway.url).port));
    try {
      gateway.child.kill('SIGTERM');
      return await Promise.race([
        exited,
        new Promise((resolve) => setTimeout(() => resolve('running'), 20_000)),
      ]);
    } finally {
      detach();
      gateway.child.kill('SIGKILL');
      await gateway.stop();
    }
  }

  async function rawSocket(port: number) {
    const socket = createConnection(port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    return socket;
  }

  it('a request that never finishes is cut at the grace counted from the signal, however long the accepting takes', async () => {
    // The grace is the operator's promise (LOCKSTEP_SHUTDOWN_GRACE_MS, set within the
    // supervisor's kill timeout): what has not finished by then is cut, and the process exits.
    // Its timer once started after the accepting of queued connections (helper-72's review: a
    // 3 s grace ended at 4.0-5.2 s). Since the listen backlog goes to 0 first, the accepting
    // here ends in a few loop turns, so this holds on that code too: it guards the grace as a
    // whole (nothing else tested that a request in flight is cut at it), not that ordering.
    const graceMs = 1_500;
    const gateway = await startGatewayProcess({ LOCKSTEP_SHUTDOWN_GRACE_MS: String(graceMs) });
    const exited = new Promise<number | null>((resolve) =>
      gateway.child.once('exit', (code) => resolve(code)),
    );
    const port = Number(new URL(gateway.url).port);
    // A command whose body never comes in full: in flight until the grace cuts it.
    const stuck = await rawSocket(port);
    stuck.write(
      `POST /v1/temporary-accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nAuthorization: Bearer ${gateway.seed.secretKey}\r\n\r\n{`,
    );
    // Clients that keep opening connections, so the accepting goes on as long as it may.
    let connecting = true;
    const clients = Array.from({ length: 30 }, async () => {
      while (connecting) {
        await freshConnectionGet(port, '/healthz', '').catch(() => {});
      }
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const signalledAt = performance.now();
      gateway.child.kill('SIGTERM');
      const code = await exited;
      const stopMs = performance.now() - signalledAt;
      expect(code).toBe(0);
      // The grace, then closing the store and exiting: well under a second more.
      expect(stopMs).toBeGreaterThanOrEqual(graceMs - 50);
      expect(stopMs).toBeLessThan(graceMs + 1_000);
    } finally {
      connecting = false;
      stuck.destroy();
      await Promise.all(clients);
      gateway.child.kill('SIGKILL');
      await gateway.stop();
    }
  }, 60_000);

  it('a connection that never sent a request does not hold the stop to its grace (helper-67)', async () => {
    // Nothing closed it until the grace ran out: 30 s here, 10 s by default (docker stop's own).
    const code = await stopWith(async (_url, port) => {
      const socket = await rawSocket(port);
      return () => socket.destroy();
    });
    expect(code).toBe(0);
  }, 60_000);

  it('a kept-alive connection sending its next request a byte at a time does not hold the stop to its grace', async () => {
    // Node's header timeout stops with server.close(), and closeIdleConnections skips a
    // connection with a partial request: it lived until the grace ran out (30 s here).
    const code = await stopWith(async (_url, port) => {
      const socket = await rawSocket(port);
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk;
      });
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      while (!received.includes('"ok":true')) await new Promise((resolve) => setTimeout(resolve, 20));
      const next = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`;
      let sent = 0;
      const drip = setInterval(() => {
        if (sent < next.length && !socket.destroyed) socket.write(next[sent++] as string);
      }, 250);
      return () => {
        clearInterval(drip);
        socket.destroy();
      };
    });
    expect(code).toBe(0);
  }, 60_000);

  it('a live stream reopened on its connection during the stop is closed at once (helper-67)', async () => {
    // The stream ended at the signal; the client reopened it on the kept-alive connection (as
    // EventSource does), and the new stream lived until the grace ran out.
    const code = await stopWith(async (url, port) => {
      const post = async (pathname: string, body: unknown, token?: string) =>
        (
          await fetch(`${url}${pathname}`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            },
            body: JSON.stringify(body),
          })
        ).json();
      const { token } = await post('/v1/sessions', {
        userId: demoLogins.buyer.userId,
        password: demoLogins.buyer.password,
      });
      const { code } = await post(
        '/v1/temporary-accounts',
        { payeeUserId: demoLogins.seller.userId, amountMinor: 100, currency: 'JPY' },
        token,
      );
      const request = `GET /v1/temporary-accounts/${code}/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`;
      const socket = await rawSocket(port);
      let received = '';
      let reopened = false;
      socket.on('data', (chunk) => {
        received += chunk;
        if (!reopened && received.includes('\r\n0\r\n\r\n')) {
          reopened = true;
          socket.write(request);
        }
      });
      socket.write(request);
      while (!received.includes('account.created')) await new Promise((resolve) => setTimeout(resolve, 20));
      return () => socket.destroy();
    });
    expect(code).toBe(0);
  }, 60_000);
});

describe('health', () => {
  it('/healthz answers 503 once the embedded store stopped taking writes (a failed sync)', async () => {
    // It answered 200 while every command and read was refused until a restart (helper-49).
    const dir = mkdtempSync(path.join(tmpdir(), 'lockstep-health-'));
    let failing = false;
    const store = await openSqliteStore({
      path: path.join(dir, 'lockstep.sqlite'),
      syncWal: async () => {
        if (failing)
          throw Object.assign(new Error('ENOSPC: no space left on device, fdatasync'), { code: 'ENOSPC' });
      },
    });
    const failures: string[] = [];
    store.onFailure?.((error) => failures.push(error.message));
    const gateway = await startTestGateway({ store });
    try {
      expect((await gateway.request('GET', '/healthz')).body).toEqual({ ok: true, store: 'sqlite' });
      const token = await gateway.buyerToken();
      failing = true;
      const refused = await gateway.request('POST', '/v1/temporary-accounts', {
        token,
        body: { payeeUserId: demoLogins.seller.userId, amountMinor: 100, currency: 'JPY' },
      });
      expect(refused.status).toBe(503);
      const health = await gateway.request('GET', '/healthz');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({
        ok: false,
        store: 'sqlite',
        reason: expect.stringMatching(/restarted/),
      });
      expect(health.headers.get('cache-control')).toBe('no-store');
      // Told once, however many units the failure refuses.
      await gateway.request('POST', '/v1/sessions', {
        body: { userId: demoLogins.buyer.userId, password: demoLogins.buyer.password },
      });
      expect(failures).toHaveLength(1);
    } finally {
      await gateway.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('/healthz answers 503 while the gateway is stopping', async () => {
    const gateway = await startTestGateway();
    try {
      gateway.gateway.draining = true;
      const health = await gateway.request('GET', '/healthz');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ ok: false, reason: 'The gateway is stopping.' });
    } finally {
      await gateway.close();
    }
  });
});

describe('the pre-stop delay (LOCKSTEP_SHUTDOWN_DELAY_MS)', () => {
  /** One request on a kept-alive connection of `agent`: its status and `Connection` header. */
  function keptAlive(agent: Agent, port: number, method: string, pathname: string, token: string) {
    return new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method,
          path: pathname,
          agent,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        },
        (response) => {
          response.resume();
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, connection: response.headers.connection }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(method === 'POST' ? '{}' : undefined);
    });
  }

  it('/healthz says 503 while every request is still served, kept alive, on old and new connections; then it drains', async () => {
    // Behind a load balancer, a gateway that drains at the signal refuses (or, rarely, resets)
    // connections the balancer still sends it: the delay takes it out of rotation first.
    const gateway = await startGatewayProcess({
      LOCKSTEP_SHUTDOWN_DELAY_MS: '2000',
      LOCKSTEP_SHUTDOWN_GRACE_MS: '20000',
    });
    const exited = new Promise<number | null>((resolve) =>
      gateway.child.once('exit', (code) => resolve(code)),
    );
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const port = Number(new URL(gateway.url).port);
    const key = gateway.seed.secretKey;
    try {
      const before = await keptAlive(agent, port, 'GET', '/healthz', '');
      expect(before.status).toBe(200);
      gateway.child.kill('SIGTERM');
      let health = 200;
      while (health === 200) health = (await keptAlive(agent, port, 'GET', '/healthz', '')).status;
      expect(health).toBe(503);
      // Commands and reads are served as before: kept alive, not told to go.
      const listed = await keptAlive(agent, port, 'GET', '/v1/temporary-accounts', key);
      expect(listed).toEqual({ status: 200, connection: 'keep-alive' });
      expect(await freshConnectionGet(port, '/v1/temporary-accounts', key)).toBe(200);
      expect(await freshConnectionGet(port, '/healthz', '')).toBe(503);
      // Then the drain, and a clean exit (the idle kept-alive connection closed by the client).
      agent.destroy();
      expect(await exited).toBe(0);
    } finally {
      agent.destroy();
      gateway.child.kill('SIGKILL');
      await gateway.stop();
    }
  }, 60_000);

  it('a second signal ends the delay: the drain begins at once', async () => {
    const gateway = await startGatewayProcess({ LOCKSTEP_SHUTDOWN_DELAY_MS: '120000' });
    const exited = new Promise<number | null>((resolve) =>
      gateway.child.once('exit', (code) => resolve(code)),
    );
    const port = Number(new URL(gateway.url).port);
    try {
      gateway.child.kill('SIGTERM');
      let health = 200;
      while (health === 200) health = await freshConnectionGet(port, '/healthz', '');
      expect(health).toBe(503);
      gateway.child.kill('SIGTERM');
      // Two minutes of delay otherwise: the test's own timeout would end it first.
      expect(await exited).toBe(0);
    } finally {
      gateway.child.kill('SIGKILL');
      await gateway.stop();
    }
  }, 60_000);

  it('is 0 (drain at once) unless set, and at most two minutes', () => {
    expect(loadConfig({}).shutdownDelayMs).toBe(0);
    expect(loadConfig({ LOCKSTEP_SHUTDOWN_DELAY_MS: '15000' }).shutdownDelayMs).toBe(15_000);
    expect(() => loadConfig({ LOCKSTEP_SHUTDOWN_DELAY_MS: '120001' })).toThrow(/LOCKSTEP_SHUTDOWN_DELAY_MS/);
  });
});

import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import pino from 'pino';
import { ConfigError, type GatewayConfig, loadConfig } from './config.ts';
import { createGateway, type Gateway, type GatewayOptions } from './gateway.ts';
import { seedDemo } from './seed.ts';
import { Admin } from './service/admin.ts';
import { KeySealingError } from './service/keys.ts';
import { openStore } from './storage/open.ts';

/**
 * `pnpm gateway`: starts the bank gateway on the embedded store (or PostgreSQL with
 * DATABASE_URL), prints its URL, and shuts down gracefully on SIGINT/SIGTERM: stop accepting,
 * let requests in flight finish (up to LOCKSTEP_SHUTDOWN_GRACE_MS), then close the store; with
 * LOCKSTEP_SHUTDOWN_DELAY_MS, /healthz answers 503 that long first while requests are served.
 */
export async function startGateway(config: GatewayConfig) {
  const gateway = await openGateway(config);
  let seed: Awaited<ReturnType<typeof seedDemo>> | undefined;
  if (config.seedDemo) {
    seed = await seedDemo(new Admin(gateway.bank), {
      allowedOrigins: config.demo.origins,
      buyerBalanceMinor: config.demo.buyerBalanceMinor,
    });
  }
  let server: ServerType;
  try {
    server = await listen(gateway, config);
  } catch (error) {
    await gateway.close();
    throw error;
  }
  return { gateway, server, seed };
}

/**
 * The configured store and the gateway on it (the admin CLI's too). If the gateway cannot start
 * (signing keys it cannot open, say), the store is closed again and the error thrown.
 */
export async function openGateway(
  config: GatewayConfig,
  overrides: Partial<Pick<GatewayOptions, 'webhooks' | 'housekeeping' | 'deadlines' | 'keyRefreshMs'>> = {},
): Promise<Gateway> {
  const store = await openStore(config);
  try {
    return await createGateway({
      ...overrides,
      store,
      publicUrl: config.publicUrl,
      commission: config.commission,
      allowPrivateWebhookUrls: config.allowPrivateWebhooks,
      trustedProxyHops: config.trustedProxyHops,
      idempotencyRetentionMs: config.idempotencyRetentionMs,
      deadlinePolicy: config.deadlinePolicy,
      keyEncryptionKey: config.keyEncryptionKey,
      previousKeyEncryptionKey: config.previousKeyEncryptionKey,
      log: pino({ level: config.logLevel }),
    });
  } catch (error) {
    await store.close();
    throw error;
  }
}

/**
 * One line for a store that cannot be opened at start (a data folder it cannot write, a
 * PostgreSQL server it cannot reach), naming the file or the server but never the URL's
 * password; undefined for anything else (a bug, whose stack is worth printing).
 */
export function startFailure(
  error: unknown,
  config: Pick<GatewayConfig, 'databaseUrl' | 'dataDir'>,
): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  // System errors (EACCES, ECONNREFUSED...), SQLite's, PostgreSQL's SQLSTATEs, pg's connect timeout.
  const known =
    (typeof code === 'string' && /^(E[A-Z]+|ERR_SQLITE_ERROR|[0-9A-Z]{5})$/.test(code)) ||
    (config.databaseUrl !== undefined &&
      /timeout exceeded when trying to connect|Connection terminated/.test(error.message));
  if (!known) return undefined;
  if (!config.databaseUrl) {
    const file = path.resolve(config.dataDir, 'lockstep.sqlite');
    return `Cannot open the SQLite database ${file} (LOCKSTEP_DATA_DIR): ${error.message}`;
  }
  let server = 'given in DATABASE_URL';
  let message = error.message;
  try {
    const url = new URL(config.databaseUrl);
    // Only user, host, port and database: the query may carry a password too (?password=...).
    server = `${url.username ? `${url.username}@` : ''}${url.host}${url.pathname}`;
    // pg's messages do not repeat the password; should one ever, it is masked.
    if (url.password) {
      message = message.replaceAll(url.password, '***');
      message = message.replaceAll(decodeURIComponent(url.password), '***');
    }
  } catch {
    // An unparsable URL (or password): name no more of it.
  }
  return `Cannot open the PostgreSQL database ${server} (DATABASE_URL): ${message}`;
}

/** The port could not be had (in use, not allowed): said in one line, as a store that cannot open. */
export class ListenError extends Error {}

/**
 * Each server's open connections. http.Server's closeIdleConnections does not count as idle a
 * connection that never sent a request, nor one partway through sending the headers of its
 * next, and the header timeout that would end a slow sender stops with server.close(): a client
 * that connected and said nothing, or sent its next request a byte at a time, held a stop to its
 * whole grace (helper-67's review). The drain closes them itself (`waitingForRequest`).
 */
const openConnections = new WeakMap<object, Set<Socket>>();

/**
 * Each connection's newest response. Node runs a request pipelined behind another at once and
 * queues its response; the connection closes after the first response that says
 * `Connection: close`, dropping those queued behind it. So a drain says it on the newest only
 * (helper-70's review: said on the one being answered, a committed unlock behind it was never
 * answered).
 */
const newestResponse = new WeakMap<Socket, ServerResponse>();

/** How long a drain goes on accepting queued connections before it closes the listener. */
const acceptQueueDrainMs = 2_000;

/**
 * No request of this connection is being answered: Node's http.Server gives a socket its
 * response (`_httpMessage`) when a request's headers are complete and takes it back when the
 * answer is finished, handing it the next pipelined request's at once. Closing such a
 * connection loses nothing: no request of it has reached the gateway.
 */
function waitingForRequest(socket: Socket): boolean {
  const response = answering(socket);
  return !response || response.writableFinished === true;
}

/** The answer this connection is giving now, if any (see `waitingForRequest`). */
function answering(socket: Socket): ServerResponse | null | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
}

function listen(gateway: Gateway, config: GatewayConfig): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: gateway.app.fetch, port: config.port, hostname: config.host }, () =>
      resolve(server),
    );
    const open = new Set<Socket>();
    openConnections.set(server, open);
    server.on('connection', (socket: Socket) => {
      open.add(socket);
      socket.once('close', () => open.delete(socket));
    });
    server.on('request', (request: { socket: Socket }, response: ServerResponse) =>
      newestResponse.set(request.socket, response),
    );
    server.once('error', (error: Error) =>
      reject(
        new ListenError(`Cannot listen on ${config.host}:${config.port} (HOST, PORT): ${error.message}`, {
          cause: error,
        }),
      ),
    );
  });
}

/**
 * Stops taking work and waits for what is in flight (up to `graceMs`), then closes the store.
 * New connections are refused once those the kernel had queued are accepted (see below); until
 * then answers are held, so that no client is sent to connect again while the listener closes. Open
 * keep-alive connections are drained, not cut: every answer from now on says
 * `Connection: close` (and /healthz 503), so each client finishes the request it sent and
 * reconnects elsewhere. A connection left idle is closed by the server's
 * keep-alive timeout, the one its `Keep-Alive: timeout=` header told the client: a client that
 * honours it (undici, browsers) no longer sends on it by then; a second after that timeout,
 * every connection with no request being answered is closed (one that never sent a request, or
 * is still sending the headers of its next). Closing idle connections sooner
 * raced requests their clients were sending on them: http.Server.close cut them at once, some
 * for commands that had committed (helper-49's review), and a 0.5 s wait still reset requests
 * a loaded gateway had not read yet (ECONNRESET under the full suite and the PostgreSQL
 * workload). Whatever is still open at `graceMs` is cut.
 */
export async function stopGateway(gateway: Gateway, server: ServerType, graceMs: number): Promise<void> {
  // Until the listener is closed, answers are held (http/app.ts): each answer from now on says
  // `Connection: close`, and its client connects again at once; a connection completed while
  // the listener closes is reset, request and all (a client's ECONNRESET 28-35 ms after the
  // signal, 2 in 15 stops of 24 clients, and CI at d193fc9). Held, a client reconnects only
  // once the listener is closed, and is refused (ECONNREFUSED: it was never let in).
  let releaseAnswers = () => {};
  gateway.answersHeld = new Promise<void>((resolve) => {
    releaseAnswers = resolve;
  });
  gateway.draining = true;
  // Answers already being worked on say `Connection: close` too (those begun from now on say it
  // from the start, http/app.ts): one that promised keep-alive after the signal had its client's
  // next request cut by the closing below (helper-69's review). Only each connection's newest,
  // so that none queued behind it is dropped (`newestResponse`).
  for (const socket of openConnections.get(server) ?? []) {
    const response = newestResponse.get(socket);
    if (response && !response.headersSent) response.setHeader('Connection', 'close');
  }
  const http = server as unknown as {
    closeIdleConnections?: () => void;
    closeAllConnections?: () => void;
    /** Node's TCP handle of the listener (internal: used only if it is there, see below). */
    _handle?: { listen?: (backlog: number) => number };
  };
  const closeIdle = http.closeIdleConnections;
  // The grace and the idle close count from the signal, whatever the accepting below takes
  // (helper-72's review: started after it, a stop could outlast its grace by 2 s).
  // Past the keep-alive timeout, a connection still idle was told it would be closed by then
  // (its clients no longer send on it); one with no request being answered never sent one, or
  // is still sending the headers of its next: all closed, so that a client that says nothing,
  // or says it a byte at a time, does not hold the stop to its whole grace (helper-67).
  const keepAliveMs = (server as unknown as { keepAliveTimeout?: number }).keepAliveTimeout ?? 5_000;
  const idle = setTimeout(
    () => {
      closeIdle?.call(server);
      for (const socket of openConnections.get(server) ?? []) {
        if (waitingForRequest(socket)) socket.destroy();
      }
    },
    Math.min(keepAliveMs + 1_000, graceMs),
  );
  // At the grace, held answers go first (a loop turn to write them), then whatever is left is
  // cut: cut while held, a command that had committed went unanswered (helper-92's review).
  const timer = setTimeout(() => {
    releaseAnswers();
    setImmediate(() => http.closeAllConnections?.());
  }, graceMs);
  // Closing the listener makes the kernel reset every connection still in its accept queue,
  // after their clients sent their requests. A saturated gateway has many there (58 with 60
  // clients each opening a connection per request), and Node 24's libuv accepts one connection
  // per poll of the event loop (helper-72), so the two loop turns the drain used to give them
  // saved at most two: the rest were reset, requests sent up to 42 ms before the signal (the
  // PostgreSQL workload's "a draining gateway cut ... ECONNRESET (sent before the stop)").
  // First the backlog goes to 0: on Linux the kernel then drops new connection attempts while
  // some are queued (the client's TCP retries a second later and is refused, unambiguously),
  // instead of queueing more behind them (helper-72: resets of clients that kept connecting
  // went from 424 in 4 stops to 1). Node has no public call for it; a Node without the handle's
  // `listen` skips it. Then the loop turns (a poll between two check phases) until one accepts
  // nothing, which means none was waiting, for 2 s at most: those accepted are answered with
  // `Connection: close`.
  if (typeof http._handle?.listen === 'function') http._handle.listen(0);
  let accepted = 0;
  const count = () => {
    accepted++;
  };
  server.on('connection', count);
  // Half the grace at most, so that answers held meanwhile have the rest to be sent.
  const acceptUntilMs = performance.now() + Math.min(acceptQueueDrainMs, graceMs / 2);
  for (let before = -1; accepted !== before && performance.now() < acceptUntilMs; ) {
    before = accepted;
    for (let phase = 0; phase < 2; phase++) await new Promise((resolve) => setImmediate(resolve));
  }
  server.off('connection', count);
  // This once, http.Server.close must not cut idle connections (it calls this): shadowed.
  http.closeIdleConnections = () => {};
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  delete http.closeIdleConnections;
  gateway.answersHeld = null;
  releaseAnswers();
  // Live streams never end on their own: close them now, they reconnect with Last-Event-ID.
  gateway.bus.closeStreams();
  await closed;
  clearTimeout(idle);
  clearTimeout(timer);
  await gateway.close();
}

/** `pnpm gateway`: configuration from the environment, the URL printed, graceful shutdown. */
export async function runFromCommandLine(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  // Processes sharing a database must share the address buyers and shops reach: it is every
  // invoice's issuer, and the default (http://localhost:<PORT>) differs per process, so an
  // invoice issued through one was refused by the others (helper-59's review).
  if (config.databaseUrl !== undefined && !config.publicUrlGiven) {
    console.error(
      'LOCKSTEP_PUBLIC_URL is required with DATABASE_URL: every gateway process on the database must be given the same public address (the issuer of its invoices).',
    );
    process.exit(2);
  }
  let started: Awaited<ReturnType<typeof startGateway>>;
  try {
    started = await startGateway(config);
  } catch (error) {
    if (error instanceof KeySealingError) {
      console.error(error.message);
      process.exit(2);
    }
    if (error instanceof ListenError) {
      console.error(error.message);
      process.exit(1);
    }
    const failure = startFailure(error, config);
    if (failure) {
      console.error(failure);
      process.exit(1);
    }
    throw error;
  }
  const { gateway, server, seed } = started;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  let stopping = false;
  // The worst reason given wins: a store failure during a SIGTERM's drain still exits 1.
  let exitCode = 0;
  // A second signal, or a store failure, during the pre-stop delay ends it: drain now.
  let endDelay = () => {};
  const stop = async (signal: string, code = 0) => {
    exitCode = Math.max(exitCode, code);
    if (stopping) {
      endDelay();
      return;
    }
    stopping = true;
    if (config.shutdownDelayMs > 0 && code === 0) {
      // Behind a load balancer the listener may still be in rotation when the signal comes: new
      // connections to a draining gateway are refused, or (rarely) reset as the listener closes.
      // /healthz says 503 first, for the balancer to stop sending, while requests still run.
      gateway.leaving = true;
      gateway.log.info(
        { signal, delayMs: config.shutdownDelayMs },
        'stopping: /healthz answers 503 before the drain',
      );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, config.shutdownDelayMs);
        endDelay = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    gateway.log.info({ signal }, 'shutting down');
    await stopGateway(gateway, server, config.shutdownGraceMs);
    process.exit(exitCode);
  };
  // Before the gateway says it listens: a supervisor (or test) that signals as soon as it reads
  // that line found no handler yet, and the default action killed the process undrained
  // ("exited with null" in the workload; a trivial script loses this race 13 times in 20).
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // An embedded store that stopped taking writes (a failed commit or sync: the disk was full,
  // say) does not recover in this process: say so once, stop, and let the supervisor restart
  // it (helper-49's review: it kept answering 503 with /healthz ok, until someone noticed).
  gateway.store.onFailure?.((error) => {
    // With SQLite's own reason (SQLITE_FULL: "database or disk is full"), which the answer's
    // message leaves out: the line said only that an outcome was unknown (helper-105).
    const cause = (error as { cause?: unknown }).cause;
    gateway.log.fatal(
      {
        error: error.message,
        ...(cause instanceof Error
          ? { cause: cause.message, causeCode: (cause as { code?: unknown }).code }
          : {}),
      },
      'the store failed; stopping so that the gateway is restarted',
    );
    void stop('store failure', 1);
  });
  if (!config.commissionGiven && !config.seedDemo) {
    // A bank's own gateway charging the demo bank's fees by omission (helper-105).
    gateway.log.warn(
      { commission: config.commission },
      "LOCKSTEP_COMMISSION is unset: charging the demo bank's fees (¥100 / $0.50 per account, 1% of withdrawals)",
    );
  }
  console.log(`Lockstep gateway listening on http://localhost:${port} (store: ${gateway.store.kind})`);
  if (seed) console.log(JSON.stringify({ demoSeed: seed }));
}

if (import.meta.main) await runFromCommandLine();

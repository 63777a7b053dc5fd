/**
 * A 2xx answer whose body stalls after the headers (a gateway or proxy that stops sending
 * mid-body): the SDK's `timeoutMs` bounds the body read too. It used to cover only the wait for
 * the headers, so the call hung for ever on `response.text()`. A body read that fails (stalled or
 * cut off) is retried with the same Idempotency-Key, within `maxRetries`, and the error of the
 * last attempt carries that key (helper-67's review).
 *
 * A real node:http server (not msw), so the body really arrives in part over a socket.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Lockstep, LockstepAbortedError, LockstepConnectionError, LockstepError } from '@lockstep/merchant';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const apiKey = 'sk_test_0123456789abcdef';

describe('a 2xx body that stalls after the headers', () => {
  let server: Server;
  let baseUrl: string;
  /** Every request the server got, with a promise settled when its connection closes. */
  const requests: Array<{ method: string; path: string; key: string | undefined; closed: Promise<unknown> }> =
    [];

  beforeAll(async () => {
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      requests.push({
        method: request.method ?? '',
        path: request.url ?? '',
        key: request.headers['idempotency-key'] as string | undefined,
        closed: once(response, 'close'),
      });
      // Headers and the first part of a JSON body, then nothing: the socket stays open.
      response.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req_stall' });
      response.write('{"object":"temporary_account","code":"TA-1","balanceMinor":');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
  });

  it('rejects with the timeout error (LockstepConnectionError, code timeout) within timeoutMs', {
    timeout: 5_000,
  }, async () => {
    requests.length = 0;
    const lockstep = new Lockstep({ apiKey, baseUrl, timeoutMs: 300, maxRetries: 0 });
    for (const call of [
      () => lockstep.temporaryAccounts.retrieve('TA-1'),
      () => lockstep.temporaryAccounts.lock('TA-1'),
    ]) {
      const error = await call().catch((caught) => caught);
      expect(error).toBeInstanceOf(LockstepConnectionError);
      expect(error).toBeInstanceOf(LockstepError);
      expect(error).toMatchObject({ code: 'timeout' });
    }
    // One attempt each (maxRetries 0), and the SDK hung up on both: the stalled read was
    // aborted, not left holding the socket.
    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'GET /v1/temporary-accounts/TA-1',
      'POST /v1/temporary-accounts/TA-1/lock',
    ]);
    await Promise.all(requests.map((request) => request.closed));
  });

  it('retries a stalled body read with the same key within maxRetries; the timeout carries the key', {
    timeout: 5_000,
  }, async () => {
    requests.length = 0;
    const lockstep = new Lockstep({ apiKey, baseUrl, timeoutMs: 300, maxRetries: 1, backoffLimitMs: 10 });
    const error = await lockstep.temporaryAccounts.lock('TA-1').catch((caught) => caught);
    expect(error).toBeInstanceOf(LockstepConnectionError);
    expect(error).toMatchObject({ code: 'timeout' });
    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'POST /v1/temporary-accounts/TA-1/lock',
      'POST /v1/temporary-accounts/TA-1/lock',
    ]);
    expect(requests[0]?.key).toMatch(/^sdk_/);
    expect(requests[1]?.key).toBe(requests[0]?.key);
    // The SDK's own key, given out so that the caller can send the call again with it.
    expect(error.idempotencyKey).toBe(requests[0]?.key);
    await Promise.all(requests.map((request) => request.closed));
  });

  it("the caller's signal still aborts a stalled body read (LockstepAbortedError)", {
    timeout: 5_000,
  }, async () => {
    const lockstep = new Lockstep({ apiKey, baseUrl, timeoutMs: 30_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const error = await lockstep.temporaryAccounts
      .retrieve('TA-1', { signal: controller.signal })
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(LockstepAbortedError);
    expect(error).toMatchObject({ code: 'aborted', idempotencyKey: undefined });
  });

  it('an aborted POST carries the key it was sent with (LockstepAbortedError.idempotencyKey)', {
    timeout: 5_000,
  }, async () => {
    requests.length = 0;
    const lockstep = new Lockstep({ apiKey, baseUrl, timeoutMs: 30_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const error = await lockstep.temporaryAccounts
      .lock('TA-1', {}, { signal: controller.signal })
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(LockstepAbortedError);
    expect(requests).toHaveLength(1);
    expect(error.idempotencyKey).toMatch(/^sdk_/);
    expect(error.idempotencyKey).toBe(requests[0]?.key);
  });
});

describe('a 2xx body cut off by the connection', () => {
  const body = JSON.stringify({ object: 'temporary_account', code: 'TA-1', parties: [] });
  /**
   * A server whose answers 0..cut-1 are cut off mid-body (headers and part of a body, then the
   * socket is destroyed: undici's `TypeError: terminated`), later ones served whole; `first`
   * answers the first request instead, if given.
   */
  async function cutting(cut: number, first?: (response: ServerResponse) => void) {
    const seen: Array<{ line: string; key: string | undefined }> = [];
    let count = 0;
    const server = createServer((request, response) => {
      seen.push({
        line: `${request.method} ${request.url}`,
        key: request.headers['idempotency-key'] as string | undefined,
      });
      count++;
      if (first && count === 1) return first(response);
      if (count - (first ? 1 : 0) <= cut) {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
        response.write(body.slice(0, 20), () => response.socket?.destroy());
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(body);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      seen,
      client: (options: { maxRetries?: number } = {}) =>
        new Lockstep({
          apiKey,
          baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          timeoutMs: 3_000,
          backoffLimitMs: 10,
          ...options,
        }),
      close: () => {
        server.closeAllConnections();
        server.close();
      },
    };
  }

  it('is retried with the same Idempotency-Key: cut once, served next, the call succeeds', async () => {
    const gateway = await cutting(1);
    try {
      await expect(gateway.client().temporaryAccounts.lock('TA-1')).resolves.toMatchObject({
        object: 'temporary_account',
        code: 'TA-1',
      });
      expect(gateway.seen.map((request) => request.line)).toEqual([
        'POST /v1/temporary-accounts/TA-1/lock',
        'POST /v1/temporary-accounts/TA-1/lock',
      ]);
      expect(gateway.seen[0]?.key).toMatch(/^sdk_/);
      expect(gateway.seen[1]?.key).toBe(gateway.seen[0]?.key);
    } finally {
      gateway.close();
    }
  });

  it('a GET cut once is retried too', async () => {
    const gateway = await cutting(1);
    try {
      await expect(gateway.client().temporaryAccounts.retrieve('TA-1')).resolves.toMatchObject({
        code: 'TA-1',
      });
      expect(gateway.seen.map((request) => `${request.line} ${request.key ?? '-'}`)).toEqual([
        'GET /v1/temporary-accounts/TA-1 -',
        'GET /v1/temporary-accounts/TA-1 -',
      ]);
    } finally {
      gateway.close();
    }
  });

  it('cut on every attempt: LockstepConnectionError (connection_failed, not a bare TypeError) with the key sent', async () => {
    const gateway = await cutting(Number.POSITIVE_INFINITY);
    try {
      const lockstep = gateway.client();
      const error = await lockstep.temporaryAccounts.lock('TA-1').catch((caught) => caught);
      expect(error).toBeInstanceOf(LockstepConnectionError);
      expect(error).toBeInstanceOf(LockstepError);
      expect(error).toMatchObject({ code: 'connection_failed' });
      expect(error.message).toMatch(/same idempotencyKey/);
      // 1 + maxRetries (2) attempts, all with one key: the one the error gives the caller.
      expect(gateway.seen).toHaveLength(3);
      expect(new Set(gateway.seen.map((request) => request.key)).size).toBe(1);
      expect(gateway.seen[0]?.key).toMatch(/^sdk_/);
      expect(error.idempotencyKey).toBe(gateway.seen[0]?.key);

      // The caller's own key, likewise; a GET has none.
      gateway.seen.length = 0;
      const own = await lockstep.temporaryAccounts
        .lock('TA-1', {}, { idempotencyKey: 'lock-TA-1' })
        .catch((caught) => caught);
      expect(own).toMatchObject({ code: 'connection_failed', idempotencyKey: 'lock-TA-1' });
      expect(gateway.seen.map((request) => request.key)).toEqual(['lock-TA-1', 'lock-TA-1', 'lock-TA-1']);
      const get = await lockstep.temporaryAccounts.retrieve('TA-1').catch((caught) => caught);
      expect(get).toBeInstanceOf(LockstepConnectionError);
      expect(get).toMatchObject({ code: 'connection_failed', idempotencyKey: undefined });
    } finally {
      gateway.close();
    }
  });

  it('shares one budget with the retries before the headers: a 503 then a cut body is the end under maxRetries 1', async () => {
    const gateway = await cutting(Number.POSITIVE_INFINITY, (response) => {
      response.writeHead(503, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'service_unavailable', message: 'busy' } }));
    });
    try {
      const error = await gateway
        .client({ maxRetries: 1 })
        .temporaryAccounts.lock('TA-1')
        .catch((caught) => caught);
      expect(error).toMatchObject({ code: 'connection_failed' });
      expect(gateway.seen).toHaveLength(2);
      expect(error.idempotencyKey).toBe(gateway.seen[0]?.key);
      expect(gateway.seen[1]?.key).toBe(gateway.seen[0]?.key);

      // maxRetries 0: one attempt, no retry of the body read either.
      gateway.seen.length = 0;
      const once = await gateway
        .client({ maxRetries: 0 })
        .temporaryAccounts.retrieve('TA-1')
        .catch((caught) => caught);
      expect(once).toMatchObject({ code: 'connection_failed' });
      expect(gateway.seen).toHaveLength(1);
    } finally {
      gateway.close();
    }
  });
});

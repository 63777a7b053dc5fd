/**
 * A 2xx answer whose body stalls after the headers (a gateway or proxy that stops sending
 * mid-body): the SDK's `timeoutMs` bounds the body read too. It used to cover only the wait for
 * the headers, so the call hung for ever on `response.text()`.
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
  const requests: Array<{ method: string; path: string; closed: Promise<unknown> }> = [];

  beforeAll(async () => {
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      requests.push({
        method: request.method ?? '',
        path: request.url ?? '',
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
    const lockstep = new Lockstep({ apiKey, baseUrl, timeoutMs: 300 });
    for (const call of [
      () => lockstep.temporaryAccounts.retrieve('TA-1'),
      () => lockstep.temporaryAccounts.lock('TA-1'),
    ]) {
      const error = await call().catch((caught) => caught);
      expect(error).toBeInstanceOf(LockstepConnectionError);
      expect(error).toBeInstanceOf(LockstepError);
      expect(error).toMatchObject({ code: 'timeout' });
    }
    // One attempt each (the headers came: nothing to retry), and the SDK hung up on both: the
    // stalled read was aborted, not left holding the socket.
    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'GET /v1/temporary-accounts/TA-1',
      'POST /v1/temporary-accounts/TA-1/lock',
    ]);
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
    expect(error).toMatchObject({ code: 'aborted' });
  });
});

describe('a 2xx body cut off by the connection', () => {
  it('rejects with LockstepConnectionError (connection_failed), not a bare TypeError', async () => {
    // Headers and part of a body, then the socket is destroyed: undici's `TypeError: terminated`
    // reached the caller, though every error the SDK throws extends LockstepError.
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      response.write('{"object":"temporary_account","code":"TA-1",', () => response.socket?.destroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const lockstep = new Lockstep({
        apiKey,
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        timeoutMs: 3_000,
      });
      for (const call of [
        () => lockstep.temporaryAccounts.retrieve('TA-1'),
        () => lockstep.temporaryAccounts.lock('TA-1', {}, { idempotencyKey: 'lock-TA-1' }),
      ]) {
        const error = await call().catch((caught) => caught);
        expect(error).toBeInstanceOf(LockstepConnectionError);
        expect(error).toMatchObject({ code: 'connection_failed' });
        expect(error.message).toMatch(/same idempotencyKey/);
      }
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

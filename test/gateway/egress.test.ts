import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPrivateHost, publicOnlyFetch } from '../../packages/gateway/src/service/egress.ts';

/**
 * Webhooks go to public hosts only, checked at the address each connection is made to: a name
 * that resolves to a private address (or is re-pointed there after registration) is refused
 * before a byte is sent.
 */
let server: Server;
let port: number;
const received: Array<{ method: string; body: string; signature: string | undefined }> = [];
let hang = false;

beforeAll(async () => {
  server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      received.push({
        method: request.method ?? '',
        body,
        signature: request.headers['lockstep-signature'] as string | undefined,
      });
      if (hang) return;
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

/** A resolver that answers every name with the given addresses. */
const resolvesTo =
  (...addresses: string[]) =>
  (
    _hostname: string,
    _options: unknown,
    callback: (error: null, addresses: Array<{ address: string; family: number }>) => void,
  ) =>
    callback(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );

const post = (fetcher: typeof fetch, url: string, signal?: AbortSignal) =>
  fetcher(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'lockstep-signature': 'sig' },
    body: '{"hello":"world"}',
    redirect: 'manual',
    signal,
  });

describe('outgoing webhook calls', () => {
  it('refuse a name that resolves to a private address, sending nothing', async () => {
    const before = received.length;
    for (const addresses of [
      ['127.0.0.1'],
      ['10.1.2.3'],
      ['169.254.169.254'],
      ['::1'],
      ['93.184.216.34', '192.168.1.5'],
    ]) {
      const fetcher = publicOnlyFetch({ resolve: resolvesTo(...addresses) });
      await expect(post(fetcher, `http://hooks.shop.example:${port}/lockstep`)).rejects.toThrow(
        /private address/,
      );
    }
    expect(received.length).toBe(before);
  });

  it('refuse private IP literals without connecting', async () => {
    const before = received.length;
    await expect(post(publicOnlyFetch(), `http://127.0.0.1:${port}/x`)).rejects.toThrow(/private address/);
    await expect(post(publicOnlyFetch(), `http://[::1]:${port}/x`)).rejects.toThrow(/private address/);
    expect(received.length).toBe(before);
  });

  it('deliver to an allowed address: method, body and headers arrive, the status comes back', async () => {
    // The receiver is local, so the test declares 127.0.0.1 public for this one client.
    const fetcher = publicOnlyFetch({
      resolve: resolvesTo('127.0.0.1'),
      isPrivateAddress: (address) => address !== '127.0.0.1' && isPrivateHost(address),
    });
    const response = await post(fetcher, `http://hooks.shop.example:${port}/lockstep`);
    expect(response.status).toBe(204);
    expect(response.ok).toBe(true);
    expect(received.at(-1)).toEqual({ method: 'POST', body: '{"hello":"world"}', signature: 'sig' });
  });

  it('give up on a receiver that does not answer in time', async () => {
    hang = true;
    try {
      const fetcher = publicOnlyFetch({
        resolve: resolvesTo('127.0.0.1'),
        isPrivateAddress: () => false,
      });
      await expect(
        post(fetcher, `http://hooks.shop.example:${port}/slow`, AbortSignal.timeout(200)),
      ).rejects.toThrow();
    } finally {
      hang = false;
    }
  });
});

import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * What a client sees on a real socket (not `app.request()`): the body-size guard for declared
 * and chunked bodies, the request id header, and plain JSON answers.
 */
let gateway: TestGateway;
let buyer: string;
let code: string;

beforeAll(async () => {
  gateway = await startTestGateway({ listen: true });
  buyer = await gateway.buyerToken();
  const created = await gateway.request('POST', '/v1/temporary-accounts', {
    token: buyer,
    body: { payeeUserId: 'ibm-shop', amountMinor: 5_000, currency: 'JPY' },
  });
  code = created.body.code;
  // Room for the pay-ins below: a deal takes no more than its amount.
  const taken = await gateway.request('POST', `/v1/temporary-accounts/${code}/withdraw`, {
    token: buyer,
    body: { amountMinor: 1_000 },
  });
  expect(taken.status).toBe(200);
});
afterAll(() => gateway.close());

/** One raw HTTP/1.1 request; `chunks` are written one by one (chunked unless a length is set). */
function send(
  pathname: string,
  options: { chunks: string[]; headers?: Record<string, string>; method?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }> {
  const url = new URL(pathname, gateway.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'POST',
        // A fresh connection each: a refused body leaves its connection unusable.
        agent: false,
        headers: { authorization: `Bearer ${buyer}`, 'content-type': 'application/json', ...options.headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }),
        );
      },
    );
    req.on('error', reject);
    for (const chunk of options.chunks) req.write(chunk);
    req.end();
  });
}

async function balance() {
  return gateway.gateway.store.read((reader) => reader.getBalance(`temporary:${code}`));
}

describe('request bodies on the wire', () => {
  it('a declared length over the limit is refused with 413 before the body is read', async () => {
    const before = await balance();
    const body = JSON.stringify({ amountMinor: 1, pad: 'x'.repeat(70_000) });
    const answer = await send(`/v1/temporary-accounts/${code}/deposit`, {
      chunks: [body],
      headers: { 'content-length': String(Buffer.byteLength(body)), 'idempotency-key': 'wire-1' },
    });
    expect(answer.status).toBe(413);
    expect(answer.body.error.code).toBe('payload_too_large');
    expect(await balance()).toBe(before);
  });

  it('a chunked body over the limit is refused with 413', async () => {
    const before = await balance();
    const answer = await send(`/v1/temporary-accounts/${code}/deposit`, {
      chunks: ['{"amountMinor":1,"pad":"', 'x'.repeat(40_000), 'x'.repeat(40_000), '"}'],
      headers: { 'idempotency-key': 'wire-2' },
    });
    expect(answer.status).toBe(413);
    expect(answer.body.error.code).toBe('payload_too_large');
    expect(await balance()).toBe(before);
  });

  it('a chunked body under the limit is read, validated and applied once', async () => {
    const before = await balance();
    const chunks = ['{"amount', 'Minor":', '250}'];
    const first = await send(`/v1/temporary-accounts/${code}/deposit`, {
      chunks,
      headers: { 'idempotency-key': 'wire-3' },
    });
    expect(first.status).toBe(200);
    const replay = await send(`/v1/temporary-accounts/${code}/deposit`, {
      chunks: [chunks.join('')],
      headers: { 'idempotency-key': 'wire-3', 'content-length': String(chunks.join('').length) },
    });
    expect(replay.status).toBe(200);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(await balance()).toBe(before + 250);
  });

  it('malformed JSON with a declared length is malformed_json and changes nothing', async () => {
    const before = await balance();
    const answer = await send(`/v1/temporary-accounts/${code}/deposit`, {
      chunks: ['{"amountMinor":'],
      headers: { 'content-length': '15', 'idempotency-key': 'wire-4' },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('malformed_json');
    expect(await balance()).toBe(before);
  });

  it('a caller without credentials is refused before its body is read', async () => {
    const answer = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = httpRequest(
        new URL(`/v1/temporary-accounts/${code}/deposit`, gateway.url),
        {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': '1000' },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        },
      );
      req.on('error', () => {});
      // Only the start of the declared body, and the request is never finished.
      req.write('{"amountMinor":');
      setTimeout(() => reject(new Error('no answer while the body was still owed')), 3000).unref();
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('unauthenticated');
  });

  it("the bank's form posts have the same size limit", async () => {
    const answer = await send('/bank/login', {
      chunks: ['userId=a&password=b'],
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': String(100 * 1024 * 1024),
      },
    });
    expect(answer.status).toBe(413);
    expect(answer.body.error.code).toBe('payload_too_large');
  });

  it('every answer carries its request id, echoed when the client sent a valid one', async () => {
    const own = await send(`/v1/temporary-accounts/${code}`, {
      method: 'GET',
      chunks: [],
      headers: { 'x-request-id': 'shop-trace-42' },
    });
    expect(own.status).toBe(200);
    expect(own.headers['x-request-id']).toBe('shop-trace-42');
    expect(own.headers['content-type']).toMatch(/^application\/json/);
    const failed = await send('/v1/temporary-accounts/ta_nope', { method: 'GET', chunks: [] });
    expect(failed.status).toBe(404);
    expect(failed.headers['x-request-id']).toMatch(/^req_/);
    expect(failed.body.error.requestId).toBe(failed.headers['x-request-id']);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { readEvents } from '../support/sse.ts';

/** The Server-Sent Events stream of a temporary account, over a real socket. */
let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({ listen: true });
});
afterAll(() => gateway.close());

/** The demo buyer's token and a new deal of theirs with the demo shop (¥1,000). */
async function buyersDeal(): Promise<{ buyer: string; code: string }> {
  const buyer = await gateway.buyerToken();
  const created = await gateway.request('POST', '/v1/temporary-accounts', {
    token: buyer,
    body: { payeeUserId: 'ibm-shop', amountMinor: 1_000, currency: 'JPY' },
  });
  return { buyer, code: created.body.code };
}

describe('live event stream', () => {
  it('sends the history, then each change as it commits, and resumes after Last-Event-ID', async () => {
    const { buyer, code } = await buyersDeal();
    const response = await fetch(`${gateway.url}/v1/temporary-accounts/${code}/stream`, {
      headers: { authorization: `Bearer ${buyer}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = await readEvents(response, 7, async () => {
      await gateway.request('POST', `/v1/temporary-accounts/${code}/lock`, {
        token: gateway.seed.secretKey,
        body: {},
      });
      await gateway.request('POST', `/v1/temporary-accounts/${code}/ship`, {
        token: gateway.seed.secretKey,
        body: { carrier: 'Yamato', trackingNumber: 'T-7' },
      });
    });
    expect(events.map((event) => event.event)).toEqual([
      'account.created',
      'account.deposited',
      'account.funded',
      'lock.changed',
      'deadline.set',
      'account.shipped',
      'deadline.set',
    ]);
    expect(events.map((event) => Number(event.id))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(events[5]?.data).toMatchObject({ type: 'account.shipped', data: { trackingNumber: 'T-7' } });

    const resumed = await fetch(`${gateway.url}/v1/temporary-accounts/${code}/stream`, {
      headers: { authorization: `Bearer ${gateway.seed.secretKey}`, 'last-event-id': '3' },
    });
    const rest = await readEvents(resumed, 4);
    expect(rest.map((event) => Number(event.id))).toEqual([4, 5, 6, 7]);
  });

  it('goes on from the last event when Last-Event-ID is past it (it held back every new event)', async () => {
    const { buyer, code } = await buyersDeal();
    // Three events exist; a client says it saw ten (helper-44's review).
    const response = await fetch(`${gateway.url}/v1/temporary-accounts/${code}/stream`, {
      headers: { authorization: `Bearer ${buyer}`, 'last-event-id': '10' },
    });
    const events = await readEvents(response, 2, async () => {
      await gateway.request('POST', `/v1/temporary-accounts/${code}/lock`, {
        token: gateway.seed.secretKey,
        body: {},
      });
    });
    expect(events.map((event) => [Number(event.id), event.event])).toEqual([
      [4, 'lock.changed'],
      [5, 'deadline.set'],
    ]);
  });

  it('sends nothing committed after its session logged out, and ends', async () => {
    // The credentials were re-checked only every 15 s: events committed in between still
    // reached a logged-out session's stream (helper-59's review, through another process too).
    const { buyer, code } = await buyersDeal();
    const response = await fetch(`${gateway.url}/v1/temporary-accounts/${code}/stream`, {
      headers: { authorization: `Bearer ${buyer}` },
    });
    const events = await readEvents(response, 4, async () => {
      expect((await gateway.request('DELETE', '/v1/sessions/current', { token: buyer })).status).toBe(204);
      await gateway.request('POST', `/v1/temporary-accounts/${code}/lock`, {
        token: gateway.seed.secretKey,
        body: {},
      });
    });
    // The history it was entitled to, then the end of the stream: no lock.changed.
    expect(events.map((event) => event.event)).toEqual([
      'account.created',
      'account.deposited',
      'account.funded',
    ]);
  });

  it('refuses strangers and anonymous callers', async () => {
    const { buyer, code } = await buyersDeal();
    const stranger = await gateway.login('tanaka', 'tanaka-demo-pass');
    const refused = await fetch(`${gateway.url}/v1/temporary-accounts/${code}/stream`, {
      headers: { authorization: `Bearer ${stranger}` },
    });
    expect(refused.status).toBe(404);
    const anonymous = await fetch(`${gateway.url}/v1/temporary-accounts/${code}/stream`);
    expect(anonymous.status).toBe(401);
    // A token in the URL (it would be logged by every proxy on the way) is refused, even the
    // party's own, and even beside a good header.
    const inUrl = await fetch(`${gateway.url}/v1/temporary-accounts/${code}/stream?access_token=${buyer}`, {
      headers: { authorization: `Bearer ${buyer}` },
    });
    expect(inUrl.status).toBe(401);
    expect(((await inUrl.json()) as { error: { message: string } }).error.message).toMatch(
      /Authorization header/,
    );
  });
});

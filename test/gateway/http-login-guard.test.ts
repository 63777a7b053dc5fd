import { noCommission } from '@lockstep/core';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../../packages/gateway/src/gateway.ts';
import { normalizeAddress, withoutPort } from '../../packages/gateway/src/http/client-source.ts';
import { demoLogins } from '../../packages/gateway/src/seed.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * Failed logins lock per client source, not per customer (helper-32's audit: five wrong
 * passwords from anyone locked any buyer out for 15 minutes). Behind one trusted proxy, the
 * source is the X-Forwarded-For entry the proxy appended. Small limits keep the test short:
 * 3 failures per source, 7 over all sources, 10 per source over all user IDs, per 15 minutes.
 */
const lockMs = 15 * 60_000;
const policy = {
  failuresBeforeLock: 3,
  failuresBeforeAccountLock: 7,
  sourceFailuresPerWindow: 10,
  lockMs,
  sessionTtlMs: 60 * 60_000,
};
let clock = new Date('2026-11-26T10:00:00.000Z');
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({
    now: () => clock,
    trustedProxyHops: 1,
    loginPolicy: policy,
  });
});
afterAll(() => gateway.close());

/** Lets the lock period (and the source window) run out, for the next test. */
function laterBy(ms: number) {
  clock = new Date(clock.getTime() + ms);
}

async function login(userId: string, password: string, forwardedFor: string) {
  const response = await gateway.request('POST', '/v1/sessions', {
    body: { userId, password },
    headers: { 'x-forwarded-for': forwardedFor },
  });
  return response.status === 201 ? 'ok' : (response.body.error.code as string);
}

const { buyer } = demoLogins;

/** Another gateway process on the same store (as behind a load balancer). */
function secondGateway() {
  return createGateway({
    store: gateway.gateway.store,
    publicUrl: gateway.url,
    commission: noCommission,
    now: () => clock,
    log: pino({ level: 'silent' }),
    webhooks: false,
    housekeeping: false,
    trustedProxyHops: 1,
    loginPolicy: policy,
  });
}

describe('login guard', () => {
  it("a stranger's wrong passwords lock the login for the stranger's source only", async () => {
    const stranger = '203.0.113.7';
    const answers = [];
    for (let attempt = 1; attempt <= 3; attempt++) answers.push(await login(buyer.userId, 'guess', stranger));
    answers.push(await login(buyer.userId, buyer.password, stranger));
    expect(answers).toEqual([
      'invalid_credentials',
      'invalid_credentials',
      'invalid_credentials',
      'login_locked',
    ]);
    // Claiming the buyer's address in front of the proxy's entry changes nothing.
    expect(await login(buyer.userId, buyer.password, `198.51.100.2, ${stranger}`)).toBe('login_locked');
    // The buyer, from their own address, logs in as usual; so does everyone else.
    expect(await login(buyer.userId, buyer.password, '198.51.100.2')).toBe('ok');
    expect(await login(buyer.userId, buyer.password, '192.0.2.40')).toBe('ok');
    laterBy(lockMs + 1_000);
    expect(await login(buyer.userId, buyer.password, stranger)).toBe('ok');
  }, 30_000);

  it('guessing spread over many sources locks the login, but not where the customer logged in before', async () => {
    // The buyer logged in from 198.51.100.2 in the test above: that source is known.
    const answers = [];
    for (const [index, source] of ['203.0.113.1', '203.0.113.2', '203.0.113.3'].entries()) {
      for (let attempt = 1; attempt <= (index < 2 ? 3 : 1); attempt++) {
        answers.push(await login(buyer.userId, `guess-${index}-${attempt}`, source));
      }
    }
    expect(answers).toEqual(Array(7).fill('invalid_credentials'));
    // Locked for every other source, the buyer's new phone included ...
    expect(await login(buyer.userId, buyer.password, '192.0.2.200')).toBe('login_locked');
    // ... but not at home, where the buyer logged in before (helper-34's review: one stranger,
    // a few sources, shut the customer out everywhere).
    expect(await login(buyer.userId, buyer.password, '198.51.100.2')).toBe('ok');
    // A success at home does not lift the lock for the strangers.
    expect(await login(buyer.userId, buyer.password, '203.0.113.4')).toBe('login_locked');
    laterBy(lockMs + 1_000);
    expect(await login(buyer.userId, buyer.password, '192.0.2.200')).toBe('ok');
  }, 30_000);

  it('a source that stays quiet for the lock period starts counting again, known ID or not', async () => {
    const run = async (userId: string, source: string) => {
      const answers = [];
      for (let attempt = 1; attempt <= 2; attempt++) answers.push(await login(userId, 'guess', source));
      laterBy(lockMs + 1_000);
      for (let attempt = 1; attempt <= 3; attempt++) answers.push(await login(userId, 'guess', source));
      answers.push(await login(userId, 'guess', source));
      return answers;
    };
    await gateway.admin.createCustomer({
      userId: 'quiet-known',
      displayName: 'Quiet',
      password: 'quiet-pass',
    });
    const known = await run('quiet-known', '203.0.113.60');
    const unknown = await run('nobody-quiet', '203.0.113.61');
    expect(known).toEqual([
      'invalid_credentials',
      'invalid_credentials',
      'invalid_credentials',
      'invalid_credentials',
      'invalid_credentials',
      'login_locked',
    ]);
    expect(unknown).toEqual(known);
    // IDs are counted as looked up: another case is another ID, known or not.
    expect(await login(demoLogins.buyer2.userId.toUpperCase(), 'guess', '203.0.113.60')).toBe(
      'invalid_credentials',
    );
    expect(await login('NOBODY-QUIET', 'guess', '203.0.113.61')).toBe('invalid_credentials');
    laterBy(lockMs + 1_000);
  }, 30_000);

  it('one source trying many user IDs is refused before any password check, and only that source', async () => {
    // The proxy writes the client's port too: the address is what counts.
    const sprayer = '203.0.113.99:40001';
    const answers = [];
    for (let index = 0; index < 10; index++)
      answers.push(await login(`user-${index}`, 'Summer2026!', sprayer));
    expect(answers).toEqual(Array(10).fill('invalid_credentials'));
    const refused = await gateway.request('POST', '/v1/sessions', {
      body: { userId: buyer.userId, password: buyer.password },
      headers: { 'x-forwarded-for': sprayer },
    });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limited');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await login(buyer.userId, buyer.password, '203.0.113.99:40002')).toBe('rate_limited');
    expect(await login(buyer.userId, buyer.password, '198.51.100.2:51515')).toBe('ok');
    expect(await login(buyer.userId, buyer.password, '[2001:db8::5]:443')).toBe('ok');
    laterBy(lockMs + 1_000);
    expect(await login(buyer.userId, buyer.password, sprayer)).toBe('ok');
  }, 30_000);

  it('an unknown user ID answers exactly as a known one does, source by source', async () => {
    const run = async (userId: string) => {
      const answers = [];
      for (let attempt = 1; attempt <= 4; attempt++)
        answers.push(await login(userId, 'guess', '203.0.113.50'));
      answers.push(await login(userId, 'guess', '203.0.113.51'));
      return answers;
    };
    const known = await run(demoLogins.buyer2.userId);
    const unknown = await run('nobody-at-all');
    expect(unknown).toEqual(known);
    expect(known).toEqual([
      'invalid_credentials',
      'invalid_credentials',
      'invalid_credentials',
      'login_locked',
      'invalid_credentials',
    ]);
    laterBy(lockMs + 1_000);
  }, 30_000);

  it('two gateway processes on one store answer an unknown ID exactly as a known one', async () => {
    // helper-35's review: unknown IDs were counted in each process's memory, so behind a load
    // balancer an unknown ID took more guesses before its lock than a customer did.
    const other = await secondGateway();
    const alternate = async (userId: string, source: string) => {
      const answers = [];
      for (let attempt = 0; attempt < 4; attempt++) {
        const app = attempt % 2 === 0 ? gateway.gateway.app : other.app;
        const response = await app.request('/v1/sessions', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': source },
          body: JSON.stringify({ userId, password: 'guess' }),
        });
        answers.push(((await response.json()) as { error: { code: string } }).error.code);
      }
      return answers;
    };
    await gateway.admin.createCustomer({ userId: 'two-procs', displayName: 'Two', password: 'two-pass' });
    const known = await alternate('two-procs', '203.0.113.70');
    const unknown = await alternate('nobody-two-procs', '203.0.113.71');
    expect(known).toEqual([
      'invalid_credentials',
      'invalid_credentials',
      'invalid_credentials',
      'login_locked',
    ]);
    expect(unknown).toEqual(known);
    laterBy(lockMs + 1_000);
  }, 30_000);

  it("two gateway processes on one store count a source's failures over all user IDs together", async () => {
    // The window was counted in each process's memory: behind a load balancer of two, a
    // sprayer had twice the guesses.
    const other = await secondGateway();
    const sprayer = '203.0.113.120';
    const answers = [];
    for (let attempt = 0; attempt < 12; attempt++) {
      const app = attempt % 2 === 0 ? gateway.gateway.app : other.app;
      const response = await app.request('/v1/sessions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': sprayer },
        body: JSON.stringify({ userId: `spray-${attempt}`, password: 'Autumn2026!' }),
      });
      answers.push(((await response.json()) as { error: { code: string } }).error.code);
    }
    expect(answers).toEqual([...Array(10).fill('invalid_credentials'), 'rate_limited', 'rate_limited']);
    laterBy(lockMs + 1_000);
  }, 30_000);

  it("an IPv6 /48 gets four sources' failures over all user IDs, however many /64s it rotates through", async () => {
    const answers = [];
    // 40 failures, each from a fresh /64 of 2001:db8:4800::/48 and for a fresh user ID.
    for (let index = 0; index < 41; index++) {
      answers.push(await login(`v6-spray-${index}`, 'Autumn2026!', `2001:db8:4800:${index.toString(16)}::1`));
    }
    expect(answers).toEqual([...Array(40).fill('invalid_credentials'), 'rate_limited']);
    // The customer at home in the same /48 is refused too (as behind one IPv4 NAT); the next
    // /48 is not.
    expect(await login(buyer.userId, buyer.password, '2001:db8:4800:ffff::7')).toBe('rate_limited');
    expect(await login(buyer.userId, buyer.password, '2001:db8:4801:1::7')).toBe('ok');
    laterBy(lockMs + 1_000);
    expect(await login(buyer.userId, buyer.password, '2001:db8:4800:ffff::7')).toBe('ok');
  }, 60_000);

  it('a good password from a source forgets that source’s failures', async () => {
    const source = '198.51.100.77';
    expect(await login(buyer.userId, 'typo', source)).toBe('invalid_credentials');
    expect(await login(buyer.userId, 'typo', source)).toBe('invalid_credentials');
    expect(await login(buyer.userId, buyer.password, source)).toBe('ok');
    expect(await login(buyer.userId, 'typo', source)).toBe('invalid_credentials');
    expect(await login(buyer.userId, 'typo', source)).toBe('invalid_credentials');
    expect(await login(buyer.userId, buyer.password, source)).toBe('ok');
  }, 30_000);
});

describe('without a trusted proxy', () => {
  it('ignores X-Forwarded-For: a client cannot pick a fresh source per guess', async () => {
    const direct = await startTestGateway({
      loginPolicy: { failuresBeforeLock: 3, lockMs, sessionTtlMs: 60 * 60_000 },
    });
    try {
      const answers = [];
      for (let attempt = 1; attempt <= 4; attempt++) {
        const response = await direct.request('POST', '/v1/sessions', {
          body: { userId: buyer.userId, password: attempt === 4 ? buyer.password : 'guess' },
          headers: { 'x-forwarded-for': `203.0.113.${attempt}` },
        });
        answers.push(response.status === 201 ? 'ok' : response.body.error.code);
      }
      expect(answers).toEqual([
        'invalid_credentials',
        'invalid_credentials',
        'invalid_credentials',
        'login_locked',
      ]);
    } finally {
      await direct.close();
    }
  }, 30_000);
});

describe('client addresses', () => {
  it('count IPv4-mapped IPv6 as IPv4 and IPv6 per /64', () => {
    expect(normalizeAddress('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(normalizeAddress('203.0.113.7')).toBe('203.0.113.7');
    expect(normalizeAddress('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(normalizeAddress('2001:DB8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(normalizeAddress('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(normalizeAddress('::1')).toBe('0:0:0:0::/64');
    // Other spellings of the same addresses (helper-43's review): a mapped IPv4 in hex, an IPv4
    // tail, and groups written with leading zeros count as those addresses.
    expect(normalizeAddress('::ffff:cb00:7107')).toBe('203.0.113.7');
    expect(normalizeAddress('::FFFF:CB00:7107')).toBe('203.0.113.7');
    expect(normalizeAddress('2001:db8::1:2:3:1.2.3.4')).toBe('2001:db8:0:1::/64');
    expect(normalizeAddress('2001:0db8:0000:0001::9')).toBe('2001:db8:0:1::/64');
    expect(withoutPort('203.0.113.5:4000')).toBe('203.0.113.5');
    expect(withoutPort('[2001:db8::5]:443')).toBe('2001:db8::5');
    expect(withoutPort('[2001:db8::5]')).toBe('2001:db8::5');
    expect(withoutPort('2001:db8::5')).toBe('2001:db8::5');
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { noCommission } from '@lockstep/core';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGateway, type GatewayOptions } from '../../packages/gateway/src/gateway.ts';
import { sha256Hex } from '../../packages/gateway/src/ids.ts';
import { demoLogins, seedDemo } from '../../packages/gateway/src/seed.ts';
import { Admin } from '../../packages/gateway/src/service/admin.ts';
import { Housekeeping } from '../../packages/gateway/src/service/housekeeping.ts';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** A gateway on a fresh embedded store, its clock in the test's hands, the demo seeded. */
async function start(housekeeping: GatewayOptions['housekeeping'], log = pino({ level: 'silent' })) {
  const folder = mkdtempSync(path.join(tmpdir(), 'lockstep-housekeeping-'));
  folders.push(folder);
  const clock = { nowMs: Date.parse('2026-11-26T09:00:00.000Z') };
  const store = await openSqliteStore({ path: path.join(folder, 'lockstep.sqlite') });
  const gateway = await createGateway({
    store,
    publicUrl: 'http://localhost:4000',
    commission: noCommission,
    now: () => new Date(clock.nowMs),
    webhooks: false,
    log,
    housekeeping,
  });
  const seed = await seedDemo(new Admin(gateway.bank), { allowedOrigins: [] });
  const login = async () => {
    const response = await gateway.app.request('/v1/sessions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() },
      body: JSON.stringify({ userId: demoLogins.buyer.userId, password: demoLogins.buyer.password }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { token: string }).token;
  };
  const stored = (token: string) => store.read((reader) => reader.getSession(sha256Hex(token)));
  return { gateway, store, clock, login, stored, seed };
}

/** Sessions last 12 hours. */
const pastExpiryMs = 13 * 60 * 60 * 1000;

describe('housekeeping', () => {
  it('deletes every expired session in batches and keeps the live ones, which still work', async () => {
    const { gateway, clock, login, stored } = await start({ firstDelayMs: 1e9, batchSize: 2, pauseMs: 0 });
    try {
      const old = [];
      for (let index = 0; index < 5; index++) old.push(await login());
      clock.nowMs += pastExpiryMs;
      const live = await login();
      // Five expired sessions in batches of two: 2 + 2 + 1.
      expect(await gateway.housekeeping?.sweep()).toMatchObject({ expiredSessions: 5 });
      expect(await Promise.all(old.map(stored))).toEqual([null, null, null, null, null]);
      expect((await stored(live))?.expiresAt).toBe(new Date(clock.nowMs + 12 * 60 * 60 * 1000).toISOString());
      expect(await gateway.housekeeping?.sweep()).toMatchObject({ expiredSessions: 0 });
      const me = await gateway.app.request('/v1/me', { headers: { authorization: `Bearer ${live}` } });
      expect(me.status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it('forgets failed-login counts once they are old, but never one that still locks', async () => {
    const { gateway, clock } = await start({
      firstDelayMs: 1e9,
      batchSize: 1,
      pauseMs: 0,
      loginFailuresKeptMs: 60_000,
    });
    const attempt = async (userId: string, password: string) => {
      const response = await gateway.app.request('/v1/sessions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId, password }),
      });
      return response.status === 201
        ? 'ok'
        : ((await response.json()) as { error: { code: string } }).error.code;
    };
    try {
      // Two failures for the buyer, five (a lock, 15 minutes) for the second buyer.
      for (let index = 0; index < 2; index++) await attempt(demoLogins.buyer.userId, 'typo');
      for (let index = 0; index < 5; index++) await attempt(demoLogins.buyer2.userId, 'guess');
      clock.nowMs += 2 * 60_000;
      // The buyer's two counts (this source, account-wide) and the second buyer's account-wide
      // count go; the second buyer's locked count for this source stays.
      // The source's window over all user IDs (15 minutes from 09:00) is not over: it stays.
      expect(await gateway.housekeeping?.sweep()).toMatchObject({
        staleLoginFailures: 3,
        staleSourceWindows: 0,
      });
      // The locked count stays, so the lock holds; the forgotten one starts again from zero:
      // four more failures and the right password still gets in (2 + 4 would have locked).
      expect(await attempt(demoLogins.buyer2.userId, demoLogins.buyer2.password)).toBe('login_locked');
      for (let index = 0; index < 4; index++) await attempt(demoLogins.buyer.userId, 'typo');
      expect(await attempt(demoLogins.buyer.userId, demoLogins.buyer.password)).toBe('ok');
      clock.nowMs += 16 * 60_000;
      // The lock ran out: it goes, and so does the buyer's reset account-wide count; the buyer's
      // source, now known (a good password came from it), stays.
      // ... and the source's window is over now: it goes too.
      expect(await gateway.housekeeping?.sweep()).toMatchObject({
        staleLoginFailures: 2,
        staleSourceWindows: 1,
      });
      expect(await attempt(demoLogins.buyer2.userId, demoLogins.buyer2.password)).toBe('ok');
    } finally {
      await gateway.close();
    }
  }, 30_000);

  it('forgets stored answers after their retention: a retry within it replays, after it runs anew', async () => {
    const { gateway, clock, seed } = await start({ firstDelayMs: 1e9, batchSize: 1, pauseMs: 0 });
    const dayMs = 24 * 60 * 60 * 1000;
    const createInvoice = async () => {
      const response = await gateway.app.request('/v1/invoices', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${seed.secretKey}`,
          'idempotency-key': 'order-7-invoice',
        },
        body: JSON.stringify({
          amountMinor: 1200,
          currency: 'JPY',
          orderReference: 'order-7',
          description: 'Teapot',
          payeeContact: 'shop@example.com',
        }),
      });
      expect(response.status).toBe(201);
      return {
        id: ((await response.json()) as { id: string }).id,
        replayed: response.headers.get('idempotent-replayed') === 'true',
      };
    };
    const admin = new Admin(gateway.bank);
    const balance = async () =>
      (await gateway.store.read((reader) => reader.getUsualAccount(seed.buyerAccountId)))?.balanceMinor;
    try {
      await admin.topUp(seed.buyerAccountId, 500, 'slip-0001');
      const balanceAfterSlip = await balance();
      const first = await createInvoice();
      clock.nowMs += 6 * dayMs;
      // Six days on (the default retention is seven): kept, and a retry gets the same invoice.
      expect(await gateway.housekeeping?.sweep()).toMatchObject({ expiredIdempotency: 0 });
      expect(await createInvoice()).toEqual({ id: first.id, replayed: true });
      clock.nowMs += 2 * dayMs;
      // The invoice's answer goes; the operator's top-up slips stay (the seed's two and this one).
      expect(await gateway.housekeeping?.sweep()).toMatchObject({ expiredIdempotency: 1 });
      // A slip run again after the retention still applies once only.
      await admin.topUp(seed.buyerAccountId, 500, 'slip-0001');
      expect(await balance()).toBe(balanceAfterSlip);
      // Forgotten: the same key now makes a new invoice (docs/api.md says so).
      const later = await createInvoice();
      expect(later.replayed).toBe(false);
      expect(later.id).not.toBe(first.id);
    } finally {
      await gateway.close();
    }
  });

  it('sweeps on its own timer', async () => {
    const { gateway, clock, login, stored } = await start({ firstDelayMs: 10, intervalMs: 20, pauseMs: 0 });
    try {
      const token = await login();
      clock.nowMs += pastExpiryMs;
      await vi.waitFor(async () => expect(await stored(token)).toBeNull(), { timeout: 10_000, interval: 20 });
    } finally {
      await gateway.close();
    }
  });

  it('closing the gateway mid-sweep stops it after its batch, quietly, and it does not start again', async () => {
    const errors: unknown[] = [];
    const log = pino({ level: 'silent' });
    const capturing = Object.assign(Object.create(log), { error: (...args: unknown[]) => errors.push(args) });
    const { gateway, store, clock, login } = await start(
      { firstDelayMs: 1e9, batchSize: 1, pauseMs: 60 },
      capturing,
    );
    for (let index = 0; index < 10; index++) await login();
    clock.nowMs += pastExpiryMs;
    const sweep = gateway.housekeeping?.sweep() as Promise<{ expiredSessions: number }>;
    await new Promise((resolve) => setTimeout(resolve, 45));
    await gateway.close();
    const { expiredSessions } = await sweep;
    expect(expiredSessions).toBeGreaterThanOrEqual(1);
    expect(expiredSessions).toBeLessThan(10);
    expect(errors).toEqual([]);
    // The store is closed and nothing is scheduled that would touch it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors).toEqual([]);
    await expect(store.read((reader) => reader.getSession('x'))).rejects.toThrow(/closed/);
  });

  it('refuses settings that would spin or never end', async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    const log = pino({ level: 'silent' });
    expect(() => new Housekeeping({ store, log, batchSize: 0 })).toThrow(/batchSize/);
    expect(() => new Housekeeping({ store, log, intervalMs: 0 })).toThrow(/intervalMs/);
    expect(() => new Housekeeping({ store, log, pauseMs: 1.5 })).toThrow(/pauseMs/);
    expect(() => new Housekeeping({ store, log, intervalMs: undefined })).not.toThrow();
    await store.close();
  });
});

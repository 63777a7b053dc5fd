import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
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
      let stop = false;
      const afterSignal: Array<{ status?: number; connection?: string | null; error?: string }> = [];
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
            afterSignal.push({ error: code });
            if (code === 'ECONNREFUSED') return; // the listener is closed: the client goes elsewhere
          }
        }
      };
      const clients = Array.from({ length: 12 }, (_, index) => client(index));
      await new Promise((resolve) => setTimeout(resolve, 500));
      signalled = true;
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

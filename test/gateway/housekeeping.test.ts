import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { noCommission } from '@lockstep/core';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../packages/gateway/src/gateway.ts';
import { sha256Hex } from '../../packages/gateway/src/ids.ts';
import { demoLogins, seedDemo } from '../../packages/gateway/src/seed.ts';
import { Admin } from '../../packages/gateway/src/service/admin.ts';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';

describe('housekeeping', () => {
  it('deletes expired sessions in batches, on its own timer, and keeps live ones', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'lockstep-housekeeping-'));
    let nowMs = Date.parse('2026-11-26T09:00:00.000Z');
    const store = await openSqliteStore({ path: path.join(folder, 'lockstep.sqlite') });
    const gateway = await createGateway({
      store,
      publicUrl: 'http://localhost:4000',
      commission: noCommission,
      now: () => new Date(nowMs),
      webhooks: false,
      log: pino({ level: 'silent' }),
      housekeeping: { firstDelayMs: 20, intervalMs: 50, batchSize: 2 },
    });
    try {
      await seedDemo(new Admin(gateway.bank), { allowedOrigins: [] });
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
      const old = [await login(), await login(), await login(), await login(), await login()];
      // Sessions last 12 hours: 13 hours on, those five have expired; one made now has not.
      nowMs += 13 * 60 * 60 * 1000;
      const live = await login();
      for (let attempt = 0; attempt < 100; attempt++) {
        if ((await Promise.all(old.map(stored))).every((session) => session === null)) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await Promise.all(old.map(stored))).toEqual([null, null, null, null, null]);
      expect((await stored(live))?.expiresAt).toBe(new Date(nowMs + 12 * 60 * 60 * 1000).toISOString());
      // A sweep on demand finds nothing more; the live session still works.
      expect(await gateway.housekeeping?.sweep()).toEqual({ expiredSessions: 0 });
      const me = await gateway.app.request('/v1/me', { headers: { authorization: `Bearer ${live}` } });
      expect(me.status).toBe(200);
    } finally {
      await gateway.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

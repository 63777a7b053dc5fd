import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Auth } from '../../packages/gateway/src/service/auth.ts';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';
import type { ApiKeyRecord, Store, StoreReader } from '../../packages/gateway/src/storage/store.ts';
import { startTestGateway } from '../support/gateway.ts';

/**
 * The key cache against a store whose lookups the test answers by hand, to order a lookup and a
 * revocation exactly (the HTTP suites prove revocation end to end on both stores).
 */
describe('API key cache', () => {
  it('does not keep a lookup that began before a revocation announced while it ran', async () => {
    const live: ApiKeyRecord = {
      id: 'key_1',
      merchantId: 'cus_shop',
      kind: 'secret',
      prefix: 'sk_test',
      keyHash: 'unused',
      createdAt: '2026-11-24T00:00:00.000Z',
      revokedAt: null,
    };
    let stored = live;
    let revoked: (() => void) | undefined;
    let answer: (() => void) | undefined;
    const store = {
      kind: 'postgres',
      onKeyRevoked(listener: () => void) {
        revoked = listener;
        return () => {};
      },
      // Reads the row at once, answers when the test says so.
      async lookup<T>(work: (reader: StoreReader) => Promise<T>): Promise<T> {
        const row = stored;
        await new Promise<void>((resolve) => {
          answer = resolve;
        });
        return work({ getApiKeyByHash: async () => row } as unknown as StoreReader);
      },
    };
    const auth = new Auth(store as unknown as Store, { keyCacheTtlMs: 60_000 });
    const before = auth.secretKey('sk_test_key');
    await Promise.resolve();
    // The revocation commits and is announced while that lookup is on its way back.
    stored = { ...live, revokedAt: '2026-11-24T00:00:01.000Z' };
    revoked?.();
    answer?.();
    // It began before the revocation: it may still answer with what it read...
    expect(await before).toMatchObject({ kind: 'merchant', customerId: 'cus_shop' });
    // ...but the next request reads the store again and is refused.
    const after = auth.secretKey('sk_test_key').catch((error: unknown) => error);
    await Promise.resolve();
    answer?.();
    expect(await after).toMatchObject({ code: 'unauthenticated' });
  });
});

describe('API key revoked by the operator CLI (another process) on the embedded store', () => {
  it('is refused at once by the running gateway (it worked for up to 5 s: helper-43)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lockstep-revoke-'));
    const file = path.join(dir, 'lockstep.sqlite');
    const store = await openSqliteStore({ path: file });
    const gateway = await startTestGateway({ store });
    try {
      const key = await gateway.admin.createApiKey(gateway.seed.sellerId, 'secret');
      // The shop uses its key: the gateway has now looked it up (and cached it).
      const first = await gateway.request('GET', '/v1/events', { token: key.key });
      expect(first.status).toBe(200);

      // `pnpm lockstep-admin key:revoke` = another process with its own store handle on the file.
      const cli = await openSqliteStore({ path: file });
      try {
        const revoked = await cli.transaction((tx) =>
          tx.revokeApiKey(key.record.id, gateway.seed.sellerId, new Date().toISOString()),
        );
        expect(revoked).toBe(true);
      } finally {
        await cli.close();
      }
      const row = await gateway.gateway.store.read((reader) => reader.getApiKeyByHash(key.record.keyHash));
      expect(row?.revokedAt).not.toBeNull();

      const after = await gateway.request('GET', '/v1/events', { token: key.key });
      expect({ status: after.status, code: after.body?.error?.code }).toEqual({
        status: 401,
        code: 'unauthenticated',
      });
    } finally {
      await gateway.close();
    }
  });
});

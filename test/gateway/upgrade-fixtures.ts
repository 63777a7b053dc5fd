import { expect } from 'vitest';
import type { Store } from '../../packages/gateway/src/storage/store.ts';

/**
 * Rows as the first release left them, written in its schema. Webhook deliveries: dlv_3 waits
 * behind the unfinished dlv_2 of the same endpoint and account; dlv_4 is the first of another
 * account. Accounts of the shop: ta_1 funded, ta_2 dissolved. `enabled` is how the store spells
 * true (1 or true).
 */
export function firstReleaseRows(enabled: '1' | 'true'): string {
  return `INSERT INTO customers (id, user_id, display_name, password_hash, created_at)
      VALUES ('cus_shop', 'shop', 'Shop', 'x', '2026-11-24T00:00:00.000Z');
    INSERT INTO merchants VALUES ('cus_shop', 'Shop', '[]', '2026-11-24T00:00:00.000Z');
    INSERT INTO webhook_endpoints VALUES ('whe_1', 'cus_shop', 'http://hook.test', ${enabled}, '2026-11-24T00:00:00.000Z');
    INSERT INTO webhook_outbox (id, endpoint_id, event_id, account_code, seq, attempt_count,
      next_attempt_at, delivered_at, last_error) VALUES
      ('dlv_1', 'whe_1', 'evt_1', 'ta_1', 1, 1, '2026-11-24T00:00:00.000Z', '2026-11-24T00:00:00.000Z', NULL),
      ('dlv_2', 'whe_1', 'evt_2', 'ta_1', 2, 3, '2026-11-24T01:00:00.000Z', NULL, 'HTTP 500'),
      ('dlv_3', 'whe_1', 'evt_3', 'ta_1', 3, 0, '2026-11-24T00:00:00.000Z', NULL, NULL),
      ('dlv_4', 'whe_1', 'evt_4', 'ta_2', 1, 0, '2026-11-24T00:00:00.000Z', NULL, NULL);
    INSERT INTO temporary_accounts (code, status, version, state, created_at) VALUES
      ('ta_1', 'funded', 2, '{"code":"ta_1"}', '2026-11-24T00:00:01.000Z'),
      ('ta_2', 'dissolved', 5, '{"code":"ta_2"}', '2026-11-24T00:00:02.000Z');
    INSERT INTO temporary_account_parties (code, customer_id, created_at) VALUES
      ('ta_1', 'cus_shop', '2026-11-24T00:00:01.000Z'),
      ('ta_2', 'cus_shop', '2026-11-24T00:00:02.000Z');`;
}

/**
 * After the upgrade: only what waits behind an unfinished delivery is parked, and the shop's
 * accounts are listed by their status.
 */
export async function expectFirstReleaseRowsUpgraded(store: Store): Promise<void> {
  const parked = await store.read(async (reader) =>
    Promise.all(['dlv_2', 'dlv_3', 'dlv_4'].map(async (id) => (await reader.getOutbox(id))?.parked)),
  );
  expect(parked).toEqual([false, true, false]);
  const byStatus = await store.read(async (reader) =>
    Promise.all(
      (['funded', 'dissolved', 'awaiting_funds'] as const).map(async (status) =>
        (await reader.listTemporaryAccounts('cus_shop', { limit: 10, status })).map(
          (account) => account.code,
        ),
      ),
    ),
  );
  expect(byStatus).toEqual([['ta_1'], ['ta_2'], []]);
}
